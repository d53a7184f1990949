"""The HTTP apps: the runtime ``rmn serve`` runs (POST /inference, GET /health, GET /adapters,
POST /tenants/register, GET /metrics (Prometheus), the OpenAI-compatible /v1 routes, OpenAPI docs
at /docs) and a feedback-only app.

Why app factories: tests start them on a loopback port with a tiny model and their own database,
``rmn serve`` with the configured base model; other areas (the feedback API) add their routers.
What the routes share lives on ``app.state`` and reaches them through :mod:`rmnlora.serving.deps`.
"""

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response, status
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from rmnlora import __version__
from rmnlora.adapters.service import InferenceService
from rmnlora.config import Settings
from rmnlora.feedback.writer import close_writer
from rmnlora.serving import errors
from rmnlora.serving.deps import DatabaseDep, MetricsDep, get_database
from rmnlora.serving.metrics import Metrics
from rmnlora.serving.routes import (
    adapters,
    improvements,
    inference,
    openai_completions,
    openai_models,
    tenants,
)
from rmnlora.serving.routes.feedback import create_feedback_router
from rmnlora.storage import open_db
from rmnlora.storage.database import Database


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the database and load the model if the factory was not given them; close the model after."""
    state = app.state
    if state.database is None:
        state.database = open_db(state.settings)
    if state.service is None:
        state.service = InferenceService.from_settings(state.settings, state.database)
    try:
        yield
    finally:
        service: InferenceService = state.service
        service.close()


def health(request: Request, response: Response) -> dict[str, Any]:
    """Model and database status; 503 when either is not usable."""
    service: InferenceService | None = request.app.state.service
    db: Database | None = request.app.state.database
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


def prometheus(request: Request, metrics: MetricsDep) -> Response:
    service: InferenceService | None = request.app.state.service
    if service is not None:
        metrics.queue_depth.set(service.engine.queue_depth)
        metrics.batches.set(service.engine.batches)
        for path, count in dict(service.engine.paths).items():
            metrics.batch_paths.labels(path=path).set(count)
        metrics.composed.set(len(service.composer.composed_names))
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)


TOKEN_LIMIT_FIELDS = {
    "InferenceRequest": ("max_new_tokens",),
    "ChatCompletionRequest": ("max_tokens", "max_completion_tokens"),
    "CompletionRequest": ("max_tokens",),
}


def document_token_cap(app: FastAPI, cap: int) -> None:
    """Write ``runtime.max_new_tokens_cap`` into the schema's token-limit fields, so what the
    OpenAPI document allows is what this server accepts (it is configuration, not a constant)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        components = document.get("components", {}).get("schemas", {})
        for model, fields in TOKEN_LIMIT_FIELDS.items():
            for name in fields:
                field = components.get(model, {}).get("properties", {}).get(name, {})
                for branch in [field, *field.get("anyOf", [])]:
                    if branch.get("type") == "integer":
                        branch["maximum"] = cap
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(
    settings: Settings,
    *,
    database: Database | None = None,
    engine: InferenceService | None = None,
    extra_routers: Sequence[APIRouter] = (),
) -> FastAPI:
    """Build the runtime app. Without ``engine`` the configured base model loads at startup."""
    app = FastAPI(
        title="rmnlora runtime",
        version=__version__,
        description="One shared base model; LoRA adapters composed per (retailer, brand, task) per request.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.database = database
    app.state.service = engine
    app.state.metrics = Metrics()
    # Registered in this order so the OpenAPI document lists the paths as it always has.
    app.include_router(inference.router)
    app.add_api_route(
        "/health",
        health,
        methods=["GET"],
        tags=["ops"],
        responses={
            503: {"description": "The model or the database is not usable (same body, status unavailable)."}
        },
    )
    app.include_router(adapters.router)
    app.include_router(tenants.router)
    app.include_router(improvements.router)
    app.add_api_route("/metrics", prometheus, methods=["GET"], tags=["ops"], include_in_schema=False)
    app.include_router(openai_completions.router)
    app.include_router(openai_models.router)
    errors.install(app)
    for router in extra_routers:
        app.include_router(router)
    document_token_cap(app, settings.runtime.max_new_tokens_cap)
    return app


@asynccontextmanager
async def feedback_lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    close_writer(app.state.database)  # commit what is queued before the process ends


def feedback_health(database: DatabaseDep) -> dict[str, object]:
    report = database.health_check()
    return {"ok": report.ok, "database": report.backend, "detail": report.detail}


def create_feedback_app(settings: Settings | None, database: Database) -> FastAPI:
    """A FastAPI app serving only the feedback routes (tests, or a feedback-only deployment)."""
    app = FastAPI(title="rmnlora feedback API", version="1", lifespan=feedback_lifespan)
    app.state.settings = settings
    app.state.database = database
    app.include_router(create_feedback_router(get_database))
    errors.install(app)
    app.add_api_route(
        "/health",
        feedback_health,
        methods=["GET"],
        name="health",
        responses={503: {"description": "The database is not usable."}},
    )
    return app
