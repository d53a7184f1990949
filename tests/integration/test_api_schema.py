"""Schemathesis against the running API (real loopback server): every status a route answers is in
its OpenAPI schema, and no generated request, valid or not, gets a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import status_code_conformance  # noqa: E402

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


@pytest.fixture(scope="module")
def api_schema(running_api: dict[str, Any]) -> Any:
    return schemathesis.openapi.from_url(f"{running_api['url']}/openapi.json")


def _exercise(operation: Any, headers: dict[str, str], failures: list[str], calls: list[int]) -> None:
    """Generated cases for one operation over the wire; failures are collected, not raised."""
    from hypothesis import given

    @given(operation.as_strategy())
    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case: Any) -> None:
        calls[0] += 1
        case.call_and_validate(headers=headers, checks=[not_a_server_error, status_code_conformance])

    try:
        check()
    except Exception as exc:  # schemathesis raises one error naming every failed check
        inner = getattr(exc, "exceptions", None) or [exc]  # a flaky failure wraps the first one
        failures.append(
            f"{operation.label}: " + "; ".join(f"{type(e).__name__}: {str(e)[:600]}" for e in inner)
        )


def test_every_answer_is_documented_and_none_is_a_server_error(
    api_schema: Any, running_api: dict[str, Any]
) -> None:
    """Each operation, generated cases (valid and not): a 5xx, or a status the schema does not list,
    fails. Driven with Hypothesis directly (schemathesis' pytest plugin needs an older pytest)."""
    failures: list[str] = []
    calls = [0]
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 12
    for operation in operations:
        admin = operation.path == "/tenants/register"
        headers = {"X-Admin-Token": ADMIN} if admin else {"X-API-Key": running_api["key"]}
        _exercise(operation, headers, failures, calls)
    assert failures == [], "\n".join(failures[:10])
    assert calls[0] >= 5 * len(operations)  # the cases really went over the wire


def test_the_schema_lists_the_error_statuses_of_each_route(
    api_schema: Any, running_api: dict[str, Any]
) -> None:
    import httpx

    paths = httpx.get(f"{running_api['url']}/openapi.json").json()["paths"]
    assert {"401", "403", "422", "429", "504"} <= set(paths["/inference"]["post"]["responses"])
    assert {"401", "404", "409"} <= set(paths["/feedback/"]["post"]["responses"])
    assert {"403", "409", "503"} <= set(paths["/tenants/register"]["post"]["responses"])
