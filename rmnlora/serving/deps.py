"""Every FastAPI dependency of the HTTP API in one module, so a route's signature says what it needs.

The app factories keep the settings, the database, the inference service and the metrics on
``app.state`` (the lifespan fills in a missing database or service at startup); the getters here
read them per request and answer 503 until they exist. Tenants come from ``X-API-Key`` (or
``Authorization: Bearer``) and tenant registration needs the admin token in ``X-Admin-Token``.

The feedback router is given the callable that returns its database (``rmn serve`` and the
feedback-only app each pass their own), which is why the tenant checks are also offered as
factories over such a callable.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Header, HTTPException, Query, Request, status
from pydantic import BaseModel, BeforeValidator
from starlette.concurrency import run_in_threadpool

from rmnlora.adapters.service import InferenceService
from rmnlora.config import Settings
from rmnlora.serving.metrics import Metrics
from rmnlora.storage.database import Database
from rmnlora.storage.tenants import tenant_for_api_key


def _iso_date(value: object) -> object:
    """Only 'YYYY-MM-DD': pydantic would read '0' as 1970-01-01 (a Unix timestamp)."""
    if isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError(f"{value!r} is not a date: write YYYY-MM-DD, e.g. 2026-11-30")
    return value


IsoDate = Annotated[
    dt.date | None,
    BeforeValidator(_iso_date),
    Query(description="A day, YYYY-MM-DD (inclusive).", examples=["2026-11-30"]),
]


class ErrorBody(BaseModel):
    """Every error this API answers: one message that says what is wrong."""

    detail: str


def error(description: str) -> dict[str, Any]:
    """An OpenAPI ``responses`` entry for an error answered as ``{"detail": "..."}``."""
    return {"model": ErrorBody, "description": description}


# Statuses every tenant route can answer (the API key check and the database dependency).
TENANT_ERRORS: dict[int | str, dict[str, Any]] = {
    401: error("No API key, or an unknown one (X-API-Key or Authorization: Bearer)."),
    503: error("The database or the model is not ready yet."),
}
# ... and the admin route (the X-Admin-Token check).
ADMIN_ERRORS: dict[int | str, dict[str, Any]] = {
    403: error("Wrong or missing X-Admin-Token."),
    503: error("No runtime.admin_token is configured, or the database is not ready."),
}


# The app-state getters are ``async`` so FastAPI calls them on the event loop: a plain ``def``
# dependency is run in a worker thread, a hop that cost more than the rest of a feedback write.
# A FastAPI dependency that returns the Database (sync or async; routers are given one).
DatabaseProvider = Callable[..., Database | Awaitable[Database]]


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_database(request: Request) -> Database:
    database: Database | None = getattr(request.app.state, "database", None)
    if database is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "database not initialised yet")
    return database


async def get_service(request: Request) -> InferenceService:
    service: InferenceService | None = getattr(request.app.state, "service", None)
    if service is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "model not loaded yet")
    return service


async def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_database)]
ServiceDep = Annotated[InferenceService, Depends(get_service)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]


def presented_key(x_api_key: str | None, authorization: str | None) -> str | None:
    """The tenant key a caller sent: ``X-API-Key``, else an ``Authorization: Bearer`` token."""
    if x_api_key is None and authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return x_api_key


def tenant_dependency(get_database: DatabaseProvider) -> Callable[..., str]:
    """A dependency returning the caller's tenant id from ``X-API-Key`` (or ``Authorization: Bearer``)."""

    def require_tenant(
        x_api_key: Annotated[str | None, Header()] = None,
        authorization: Annotated[str | None, Header()] = None,
        database: Database = Depends(get_database),
    ) -> str:
        api_key = presented_key(x_api_key, authorization)
        if not api_key:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "missing API key: send it in the X-API-Key header"
            )
        with database.get_session() as session:
            tenant = tenant_for_api_key(session, api_key)
        if tenant is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid API key")
        return tenant.id

    return require_tenant


TenantId = Annotated[str, Depends(tenant_dependency(get_database))]


def require_admin(settings: SettingsDep, x_admin_token: Annotated[str | None, Header()] = None) -> None:
    """Accept only the configured admin token (``X-Admin-Token``); 503 when none is configured."""
    admin_token = settings.runtime.admin_token
    if not admin_token:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "tenant registration is disabled: no runtime.admin_token configured",
        )
    if x_admin_token is None or not hmac.compare_digest(x_admin_token, admin_token):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "admin token required in X-Admin-Token")


def require_admin_key(
    settings: SettingsDep,
    x_admin_token: Annotated[str | None, Header()] = None,
    authorization: Annotated[str | None, Header()] = None,
) -> None:
    """:func:`require_admin`, also accepting the token as ``Authorization: Bearer`` (what vLLM's
    adapter-loading clients send)."""
    require_admin(settings, x_admin_token or presented_key(None, authorization))


AdminKey = Annotated[None, Depends(require_admin_key)]


class _TtlCache:
    def __init__(self, ttl_s: float, limit: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.limit = limit
        self._entries: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        entry = self._entries.get(key)
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]

    def put(self, key: str, tenant_id: str) -> None:
        with self._lock:
            if len(self._entries) >= self.limit:
                self._entries.clear()
            self._entries[key] = (tenant_id, time.monotonic() + self.ttl_s)


def cached_tenant_dependency(
    get_database: DatabaseProvider, ttl_s: float = 5.0
) -> Callable[..., Awaitable[str]]:
    """Like ``tenant_dependency`` (same headers, same 401s), remembering accepted keys for ``ttl_s``.

    Why: resolving the key is a database round trip on every request, the largest single cost of a
    feedback write. Only successful checks are cached, keyed by the key's SHA-256: a rotated or
    revoked key stops working within ``ttl_s``; an unknown key is always checked again.
    """
    check = tenant_dependency(get_database)
    cache = _TtlCache(ttl_s)

    async def require_tenant(
        x_api_key: Annotated[str | None, Header()] = None,
        authorization: Annotated[str | None, Header()] = None,
        database: Database = Depends(get_database),
    ) -> str:
        presented = presented_key(x_api_key, authorization)
        digest = hashlib.sha256(presented.encode()).hexdigest() if presented else None
        if digest is not None and ttl_s > 0:
            hit = cache.get(digest)
            if hit is not None:
                return hit
        tenant_id = await run_in_threadpool(check, x_api_key, authorization, database)
        if digest is not None:
            cache.put(digest, tenant_id)
        return tenant_id

    return require_tenant
