"""Feedback REST API: the /feedback router that ``rmn serve`` and the feedback-only app mount.

Routes (tenant API key in ``X-API-Key`` or ``Authorization: Bearer``):
POST /feedback/ and POST /feedback/preference-pair (optional ``Idempotency-Key`` header:
201 when stored, 200 with the stored row on a retry, 409 if the key was used for another
body), GET /feedback/stats and GET /feedback/export-dpo (streamed JSON lines).
"""

# No `from __future__ import annotations`: the route signatures use aliases local to the factory.

import asyncio
import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Response, status
from fastapi.responses import StreamingResponse
from pydantic import ValidationError

from rmnlora.feedback import export, store
from rmnlora.feedback.writer import writer_for
from rmnlora.schemas.feedback import ExportFilter, FeedbackIn, FeedbackRecord, FeedbackStats, PreferencePairIn
from rmnlora.serving.deps import TENANT_ERRORS, DatabaseProvider, IsoDate, cached_tenant_dependency, error
from rmnlora.storage.database import Database

IdempotencyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=store.MAX_IDEMPOTENCY_KEY,
        description="Any unique string per logical request; a retry with the same key stores nothing new.",
    ),
]


def _answer(result: store.RecordResult) -> Response:
    """201 with the new row, or 200 with the stored one on a replay (serialised once, not re-validated)."""
    return Response(
        content=result.record.model_dump_json(),
        media_type="application/json",
        status_code=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        headers=None if result.created else {"Idempotent-Replayed": "true"},
    )


async def _write(
    database: Database, tenant_id: str, values: dict[str, Any], key: str | None
) -> store.RecordResult:
    """Through the group-commit writer: answered once the row's transaction has committed."""
    try:
        return await asyncio.wrap_future(writer_for(database).submit(tenant_id, values, key))
    except store.UnknownBrandError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except store.IdempotencyConflictError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    except store.InvalidIdempotencyKeyError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from exc


def _export_filter(
    brand: str | None, task: str | None, since: dt.date | None, until: dt.date | None, corrections: bool
) -> ExportFilter:
    try:
        return ExportFilter(
            brand_id=brand, task=task, since=since, until=until, include_corrections=corrections
        )
    except ValidationError as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            [{"type": e["type"], "msg": e["msg"], "loc": list(e["loc"])} for e in exc.errors()],
        ) from exc


def create_feedback_router(get_database: DatabaseProvider, *, auth_cache_s: float = 5.0) -> APIRouter:
    """The /feedback routes; ``get_database`` is a FastAPI dependency returning the Database.

    A factory rather than a module-level router because each mount brings its own database
    dependency and its own API-key cache. ``auth_cache_s``: seconds an accepted API key is
    remembered (0: check the database every time).
    """
    router = APIRouter(
        prefix="/feedback",
        tags=["feedback"],
        responses={
            **TENANT_ERRORS,
            400: error("The Idempotency-Key header is malformed."),
            404: error("No such brand for this tenant."),
            409: error("The Idempotency-Key was used for another body."),
        },
    )
    require_tenant = cached_tenant_dependency(get_database, auth_cache_s)
    Tenant = Annotated[str, Depends(require_tenant)]
    DB = Annotated[Database, Depends(get_database)]

    @router.post(
        "/",
        response_model=FeedbackRecord,
        status_code=status.HTTP_201_CREATED,
        responses={200: {"model": FeedbackRecord, "description": "A retry: the row stored the first time."}},
    )
    async def post_feedback(
        item: FeedbackIn, tenant_id: Tenant, database: DB, key: IdempotencyHeader = None
    ) -> Response:
        """Thumbs up/down, a 1-5 rating and/or a correction of one response."""
        result = await _write(database, tenant_id, store.feedback_values(item), key)
        return _answer(result)

    @router.post(
        "/preference-pair",
        response_model=FeedbackRecord,
        status_code=status.HTTP_201_CREATED,
        responses={200: {"model": FeedbackRecord, "description": "A retry: the row stored the first time."}},
    )
    async def post_preference(
        item: PreferencePairIn,
        tenant_id: Tenant,
        database: DB,
        key: IdempotencyHeader = None,
    ) -> Response:
        """Which of two responses to one prompt a person preferred."""
        result = await _write(database, tenant_id, store.preference_values(item), key)
        return _answer(result)

    @router.get("/stats", response_model=FeedbackStats)
    def get_stats(
        tenant_id: Tenant,
        database: DB,
        brand: str | None = None,
        task: str | None = None,
        since: IsoDate = None,
        until: IsoDate = None,
    ) -> FeedbackStats:
        """Volume by brand, task, type and day; ratings per task; adapter win rates."""
        return store.stats(database, tenant_id, _export_filter(brand, task, since, until, True))

    @router.get("/export-dpo", response_class=StreamingResponse)
    def export_dpo(
        tenant_id: Tenant,
        database: DB,
        brand: str | None = None,
        task: str | None = None,
        since: IsoDate = None,
        until: IsoDate = None,
        include_corrections: Annotated[bool, Query()] = True,
    ) -> StreamingResponse:
        """JSON lines ``{"prompt", "chosen", "rejected"}`` (TRL DPO format), streamed."""
        flt = _export_filter(brand, task, since, until, include_corrections)
        return StreamingResponse(
            export.iter_dpo_jsonl(database, tenant_id, flt),
            media_type="application/x-ndjson",
            headers={"Content-Disposition": 'attachment; filename="dpo.jsonl"'},
        )

    return router
