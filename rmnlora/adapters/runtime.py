"""The multi-tenant runtime (FastAPI): POST /inference, GET /health, GET /adapters,
POST /tenants/register, GET /metrics (Prometheus), OpenAPI docs at /docs.

Why an app factory: tests start it on a loopback port with a tiny model and their own database,
``rmn serve`` with the configured base model; other areas (the feedback API) add their routers.
"""

# No `from __future__ import annotations` here: FastAPI must evaluate the endpoint annotations,
# which name dependency aliases local to create_app.
import time
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Response, status
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from pydantic import BaseModel, Field

from rmnlora import __version__
from rmnlora.adapters.auth import admin_dependency, tenant_dependency
from rmnlora.adapters.registry import AdapterAccessError, AdapterError
from rmnlora.adapters.service import InferenceService
from rmnlora.config import Settings
from rmnlora.schemas.inference import InferenceRequest, InferenceResponse
from rmnlora.storage.database import Database
from rmnlora.storage.tenants import InvalidTenantIdError, TenantExistsError, register_tenant


class TenantRegistration(BaseModel):
    tenant_id: str = Field(min_length=1, max_length=64, description="Lowercase id, e.g. 'acme'.")
    name: str = Field(min_length=1, max_length=255)


class TenantCredentials(BaseModel):
    tenant_id: str
    api_key: str = Field(description="Shown once; only its hash is stored.")


class AdapterView(BaseModel):
    kind: str
    name: str
    shared: bool
    owner_tenant_id: str | None
    base_model: str
    rank: int
    metrics: dict[str, Any]


class Metrics:
    """Prometheus metrics in a registry of their own (one per app, so tests can build many apps)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "rmn_inference_requests", "Inference requests by outcome", ["outcome"], registry=self.registry
        )
        self.latency = Histogram(
            "rmn_inference_latency_seconds", "End-to-end inference latency", registry=self.registry
        )
        self.tokens = Counter("rmn_generated_tokens", "Tokens generated", registry=self.registry)
        self.queue_depth = Gauge("rmn_queue_depth", "Requests waiting for a batch", registry=self.registry)
        self.batches = Gauge("rmn_batches", "Batches run by the engine", registry=self.registry)
        self.batch_paths = Gauge(
            "rmn_batches_by_path",
            "Batches run by forward path (single, grouped, peft, base, plain)",
            ["path"],
            registry=self.registry,
        )
        self.composed = Gauge(
            "rmn_composed_adapters", "Composed adapters in the cache", registry=self.registry
        )


def create_app(
    settings: Settings,
    *,
    database: Database | None = None,
    engine: InferenceService | None = None,
    extra_routers: Sequence[APIRouter] = (),
) -> FastAPI:
    """Build the runtime app. Without ``engine`` the configured base model loads at startup."""
    state: dict[str, Any] = {"database": database, "service": engine}
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        owned_service = state["service"] is None
        if state["database"] is None:
            from rmnlora.storage import open_db

            state["database"] = open_db(settings)
        if owned_service:
            state["service"] = InferenceService.from_settings(settings, state["database"])
        try:
            yield
        finally:
            service: InferenceService = state["service"]
            service.close()

    def get_database() -> Database:
        db = state["database"]
        if db is None:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "database not initialised yet")
        return db  # type: ignore[no-any-return]

    def get_service() -> InferenceService:
        service = state["service"]
        if service is None:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "model not loaded yet")
        return service  # type: ignore[no-any-return]

    require_tenant = tenant_dependency(get_database)
    require_admin = admin_dependency(settings.runtime.admin_token)
    TenantId = Annotated[str, Depends(require_tenant)]
    Service = Annotated[InferenceService, Depends(get_service)]

    app = FastAPI(
        title="rmnlora runtime",
        version=__version__,
        description="One shared base model; LoRA adapters composed per (retailer, brand, task) per request.",
        lifespan=lifespan,
    )

    @app.post("/inference", response_model=InferenceResponse, tags=["inference"])
    def inference(request: InferenceRequest, tenant_id: TenantId, service: Service) -> InferenceResponse:
        """Generate with the composed adapter; 403 for another tenant's brand."""
        started = time.perf_counter()
        try:
            response = service.infer(tenant_id, request)
        except AdapterAccessError as exc:
            metrics.requests.labels("forbidden").inc()
            raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from exc
        except FutureTimeout as exc:
            metrics.requests.labels("timeout").inc()
            raise HTTPException(status.HTTP_504_GATEWAY_TIMEOUT, "generation timed out") from exc
        except Exception as exc:
            metrics.requests.labels("error").inc()
            raise HTTPException(
                status.HTTP_500_INTERNAL_SERVER_ERROR, f"generation failed: {type(exc).__name__}: {exc}"
            ) from exc
        metrics.requests.labels("ok").inc()
        metrics.latency.observe(time.perf_counter() - started)
        metrics.tokens.inc(response.tokens)
        return response

    @app.get("/health", tags=["ops"])
    def health(response: Response) -> dict[str, Any]:
        """Model and database status; 503 when either is not usable."""
        service = state["service"]
        db = state["database"]
        report = db.health_check() if db is not None else None
        ok = service is not None and report is not None and report.ok
        if not ok:
            response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return {
            "status": "ok" if ok else "unavailable",
            "version": __version__,
            "model": service.model_name if service else None,
            "device": service.device if service else None,
            "composed_adapters": len(service.composer.composed_names) if service else 0,
            "queue_depth": service.engine.queue_depth if service else 0,
            "database": {
                "ok": report.ok if report else False,
                "backend": report.backend if report else None,
                "detail": report.detail if report else "not initialised",
            },
        }

    @app.get("/adapters", response_model=list[AdapterView], tags=["adapters"])
    def adapters(tenant_id: TenantId, service: Service, kind: str | None = None) -> list[AdapterView]:
        """Adapters this tenant may use: the shared ones and its own."""
        try:
            found = service.registry.list(tenant_id=tenant_id, kind=kind)
        except AdapterError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
        return [
            AdapterView(
                kind=a.kind,
                name=a.name,
                shared=a.shared,
                owner_tenant_id=a.owner_tenant_id,
                base_model=a.base_model,
                rank=a.rank,
                metrics=a.metrics,
            )
            for a in found
        ]

    @app.post(
        "/tenants/register",
        response_model=TenantCredentials,
        status_code=status.HTTP_201_CREATED,
        tags=["tenants"],
        dependencies=[Depends(require_admin)],
    )
    def tenants_register(body: TenantRegistration, db: Annotated[Database, Depends(get_database)]) -> Any:
        """Create a tenant (admin token required); its API key is returned once."""
        try:
            with db.get_session() as session:
                api_key = register_tenant(session, body.tenant_id, body.name)
        except TenantExistsError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
        except InvalidTenantIdError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
        return TenantCredentials(tenant_id=body.tenant_id, api_key=api_key)

    @app.get("/metrics", tags=["ops"], include_in_schema=False)
    def prometheus() -> Response:
        service = state["service"]
        if service is not None:
            metrics.queue_depth.set(service.engine.queue_depth)
            metrics.batches.set(service.engine.batches)
            for path, count in dict(service.engine.paths).items():
                metrics.batch_paths.labels(path=path).set(count)
            metrics.composed.set(len(service.composer.composed_names))
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    for router in extra_routers:
        app.include_router(router)
    return app
