"""Schemathesis against the running API (real loopback server): every status a route answers is in
its OpenAPI schema, and no generated request, valid or not, gets a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402

from rmnlora.adapters.registry import AdapterRegistry  # noqa: E402
from rmnlora.adapters.service import InferenceService  # noqa: E402
from rmnlora.adapters.tiny import build_tiny_model  # noqa: E402
from rmnlora.config import load_settings  # noqa: E402
from rmnlora.serving.app import create_app  # noqa: E402
from rmnlora.serving.routes.feedback import create_feedback_router  # noqa: E402
from rmnlora.storage import init_db  # noqa: E402
from rmnlora.storage.models import Brand  # noqa: E402
from tests.support.adapter_helpers import serve  # noqa: E402

ADMIN = "schema-admin-token-4Kp9Qw2Zx7Lm"


@pytest.fixture(scope="module")
def running_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    import httpx

    root = tmp_path_factory.mktemp("schema")
    database = init_db(f"sqlite:///{root / 'rmn.db'}", secret_key="test-secret-passphrase")
    model, tokenizer = build_tiny_model(0)
    service = InferenceService(
        model, tokenizer, AdapterRegistry(database, root / "adapters"), default_max_new_tokens=4
    )
    app = create_app(
        load_settings(data_dir=root, runtime={"admin_token": ADMIN, "max_wait_ms": 0}),
        database=database,
        engine=service,
        extra_routers=[create_feedback_router(lambda: database)],
    )
    for base_url in serve(app):
        key = httpx.post(
            f"{base_url}/tenants/register",
            json={"tenant_id": "acme", "name": "Acme"},
            headers={"X-Admin-Token": ADMIN},
        ).json()["api_key"]
        with database.get_session() as session:
            session.add(Brand(id="acme-snacks", tenant_id="acme", name="Acme Snacks"))
        yield {"url": base_url, "key": key}
    database.dispose()


ADMIN_PATHS = {"/tenants/register", "/v1/load_lora_adapter", "/v1/unload_lora_adapter"}
# A fixed seed; the phases that apply to a schema without links (stateful needs them); every check.
CONFIG = {
    "seed": 20261202,
    "generation": {"max-examples": 12},
    "phases": {
        "examples": {"enabled": True},
        "coverage": {"enabled": True},
        "fuzzing": {"enabled": True},
        "stateful": {"enabled": False},
    },
    # Rules across fields that JSON Schema cannot say: schema-valid bodies these refuse with a 422
    # (chosen == rejected, correction == response, since after until) are refusals, not defects.
    "operations": [
        {"include-path": path, "checks": {"positive_data_acceptance": {"enabled": False}}}
        for path in ("/feedback/", "/feedback/preference-pair", "/feedback/export-dpo", "/feedback/stats")
    ],
}


@pytest.fixture(scope="module")
def api_schema(running_api: dict[str, Any]) -> Any:
    from schemathesis.config import SchemathesisConfig

    config = SchemathesisConfig.from_dict(CONFIG)
    return schemathesis.openapi.from_url(f"{running_api['url']}/openapi.json", config=config)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_every_answer_is_documented_and_none_is_a_server_error(
    case: Any, running_api: dict[str, Any]
) -> None:
    """Each operation of the runtime and the feedback API, generated cases valid and not: a 5xx, a
    status or a body the schema does not describe fails (schemathesis' default checks)."""
    admin = case.operation.path in ADMIN_PATHS
    headers = {"X-Admin-Token": ADMIN} if admin else {"X-API-Key": running_api["key"]}
    case.call_and_validate(headers=headers)


def test_the_schema_lists_the_error_statuses_of_each_route(
    api_schema: Any, running_api: dict[str, Any]
) -> None:
    import httpx

    paths = httpx.get(f"{running_api['url']}/openapi.json").json()["paths"]
    assert {"401", "403", "422", "429", "504"} <= set(paths["/inference"]["post"]["responses"])
    assert {"401", "404", "409"} <= set(paths["/feedback/"]["post"]["responses"])
    assert {"403", "409", "503"} <= set(paths["/tenants/register"]["post"]["responses"])
