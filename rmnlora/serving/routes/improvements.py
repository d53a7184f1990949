"""The learning loop over HTTP: start a brand's improvement run, follow it, and see or change which
adapter version is served.

- ``POST /brands/{brand}/improvements``: 202 with the run (it trains in the background); 409 while
  another run for the brand holds its lock; 404 for a brand the tenant does not have.
- ``GET /improvements/{id}``, ``GET /brands/{brand}/improvements``: progress, figures, decision.
- ``GET /brands/{brand}/adapter-versions``: every version, which one is served, the audit events.
- ``POST /brands/{brand}/adapter-versions/{n}/promote`` and ``.../rollback``: by hand, audited.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi import Path as FastAPIPath
from pydantic import BaseModel, Field
from sqlmodel import col, select

from rmnlora.adapters.service import adapters_root
from rmnlora.adapters.versions import AdapterVersions, VersionError
from rmnlora.serving.deps import TENANT_ERRORS, DatabaseDep, SettingsDep, TenantId, error
from rmnlora.storage.database import Database
from rmnlora.storage.models import Brand, ImprovementRun
from rmnlora.training.improve import ImproveConfig, ImproveError, RunInProgressError, execute, prepare

# Row ids are 64-bit in every backend: a larger number is a 422, not a driver overflow (a 500).
MAX_ROW_ID = 2**63 - 1
RowId = Annotated[int, FastAPIPath(ge=1, le=MAX_ROW_ID, description="Run id.")]

router = APIRouter(
    tags=["learning loop"],
    responses={
        **TENANT_ERRORS,
        404: error("No such brand, run or version for this tenant."),
        409: error("A run for the brand is already going, or the version cannot be promoted."),
    },
)
log = logging.getLogger(__name__)


class RunView(BaseModel):
    id: int
    brand_id: str
    task: str
    trigger: str
    status: str = Field(description="running, promoted, refused, not_enough_feedback or failed")
    progress: float
    stage: str
    current_version: int | None
    candidate_version: int | None
    reason: str
    rows: dict[str, Any]
    metrics: dict[str, Any]
    started_at: dt.datetime
    finished_at: dt.datetime | None


class ServeChange(BaseModel):
    reason: str = Field(default="", max_length=2000)
    actor: str = Field(default="api", max_length=255)


def _view(row: ImprovementRun) -> RunView:
    assert row.id is not None
    metrics = {k: v for k, v in (row.metrics or {}).items() if k != "traceback"}
    return RunView(
        id=row.id,
        brand_id=row.brand_id,
        task=row.task,
        trigger=row.trigger,
        status=row.status,
        progress=row.progress,
        stage=row.stage,
        current_version=row.current_version,
        candidate_version=row.candidate_version,
        reason=row.reason,
        rows=row.rows or {},
        metrics=metrics,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


def _own_brand(database: Database, tenant_id: str, brand_id: str) -> None:
    with database.get_session(tenant_id=tenant_id) as session:
        if session.exec(select(Brand).where(Brand.id == brand_id)).first() is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"brand {brand_id!r} not found for this tenant")


def _run_row(database: Database, tenant_id: str, run_id: int) -> ImprovementRun:
    with database.get_session(tenant_id=tenant_id) as session:
        row = session.exec(select(ImprovementRun).where(ImprovementRun.id == run_id)).first()
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"improvement run {run_id} not found")
        session.expunge(row)
        return row


@router.post("/brands/{brand_id}/improvements", response_model=RunView, status_code=status.HTTP_202_ACCEPTED)
def start_improvement(
    brand_id: str, request: Request, tenant_id: TenantId, database: DatabaseDep, settings: SettingsDep
) -> RunView:
    """Start an improvement run for the brand; it trains in the background (follow it by its id)."""
    _own_brand(database, tenant_id, brand_id)
    config: ImproveConfig = getattr(request.app.state, "improve_config", None) or ImproveConfig(
        trigger="api", actor="api"
    )
    try:
        prepared = prepare(settings, database, tenant_id=tenant_id, brand_id=brand_id, config=config)
    except RunInProgressError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    except ImproveError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    load_base = getattr(request.app.state, "improve_loader", None)
    corpus = getattr(request.app.state, "improve_corpus", None)

    def work() -> None:
        try:
            execute(prepared, load_base=load_base, corpus=corpus)
        except ImproveError as exc:  # the run row already says failed, with the reason
            log.warning("%s", exc)

    thread = threading.Thread(target=work, name=f"improve-{prepared.run_id}", daemon=True)
    request.app.state.improve_threads = [*getattr(request.app.state, "improve_threads", []), thread]
    thread.start()
    return _view(_run_row(database, tenant_id, prepared.run_id))


@router.get("/improvements/{run_id}", response_model=RunView)
def improvement(run_id: RowId, tenant_id: TenantId, database: DatabaseDep) -> RunView:
    """One run: its stage and progress while it trains, its figures and decision when done."""
    return _view(_run_row(database, tenant_id, run_id))


@router.get("/brands/{brand_id}/improvements", response_model=list[RunView])
def improvements(
    brand_id: str, tenant_id: TenantId, database: DatabaseDep, limit: Annotated[int, Query(ge=1, le=200)] = 20
) -> list[RunView]:
    """The brand's runs, newest first."""
    _own_brand(database, tenant_id, brand_id)
    with database.get_session(tenant_id=tenant_id) as session:
        rows = session.exec(
            select(ImprovementRun)
            .where(ImprovementRun.brand_id == brand_id)
            .order_by(col(ImprovementRun.id).desc())
            .limit(limit)
        ).all()
        return [_view(r) for r in rows]


def _versions(settings: SettingsDep, database: Database) -> AdapterVersions:
    return AdapterVersions(database, adapters_root(settings))


@router.get("/brands/{brand_id}/adapter-versions")
def adapter_versions(
    brand_id: str, tenant_id: TenantId, database: DatabaseDep, settings: SettingsDep
) -> dict[str, Any]:
    """Every version of the brand's adapter (which one is served) and the audit trail of changes."""
    _own_brand(database, tenant_id, brand_id)
    versions = _versions(settings, database)
    try:
        history = versions.history("brand", brand_id, owner_tenant_id=tenant_id)
        events = versions.events("brand", brand_id, owner_tenant_id=tenant_id)
    except VersionError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    served = next((v.label for v in history if v.status == "promoted"), None)
    return {
        "served": served,
        "versions": [v.as_dict() for v in history],
        "events": [e.as_dict() for e in events],
    }


@router.post("/brands/{brand_id}/adapter-versions/{version}/promote")
def promote_version(
    brand_id: str,
    version: Annotated[int, FastAPIPath(ge=1, le=MAX_ROW_ID, description="Adapter version number.")],
    change: ServeChange,
    tenant_id: TenantId,
    database: DatabaseDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Serve ``version`` from the next request on (audited)."""
    _own_brand(database, tenant_id, brand_id)
    try:
        info = _versions(settings, database).promote(
            "brand", brand_id, version, owner_tenant_id=tenant_id, actor=change.actor, reason=change.reason
        )
    except VersionError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    return {"served": info.label, "version": info.as_dict()}


@router.post("/brands/{brand_id}/adapter-versions/rollback")
def rollback_version(
    brand_id: str, change: ServeChange, tenant_id: TenantId, database: DatabaseDep, settings: SettingsDep
) -> dict[str, Any]:
    """Serve the version served before the current one (audited)."""
    _own_brand(database, tenant_id, brand_id)
    try:
        info = _versions(settings, database).rollback(
            "brand", brand_id, owner_tenant_id=tenant_id, actor=change.actor, reason=change.reason
        )
    except VersionError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    return {"served": info.label, "version": info.as_dict()}
