"""The runtime over a real loopback socket: tenants, access rules, validation, metrics, HTTP chat model."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langchain_core.messages import HumanMessage

from rmnlora.adapters.chat_model import RmnChatModel, RuntimeCallError
from rmnlora.adapters.registry import AdapterRegistry
from rmnlora.adapters.service import InferenceService
from rmnlora.adapters.tiny import build_tiny_model
from rmnlora.config import load_settings
from rmnlora.serving.app import create_app
from rmnlora.storage.models import Brand
from tests.support.adapter_helpers import make_lora, serve

ADMIN = "test-admin-token-7Hq2Zx9Lp4Wm"


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from rmnlora.storage import init_db

    root = tmp_path_factory.mktemp("runtime")
    database = init_db(f"sqlite:///{root / 'rmn.db'}", secret_key="test-secret-passphrase")
    registry = AdapterRegistry(database, root / "adapters")

    def build() -> Any:
        return build_tiny_model(0)[0]

    registry.register("retailer", "walmart", make_lora(build, root / "l1", seed=1, rank=4))
    registry.register("task", "creative", make_lora(build, root / "l2", seed=2, rank=4))
    settings = load_settings(data_dir=root, runtime={"admin_token": ADMIN, "max_wait_ms": 200})
    model, tokenizer = build_tiny_model(0)
    service = InferenceService(
        model, tokenizer, registry, max_batch_size=8, max_wait_ms=200, default_max_new_tokens=6
    )
    app = create_app(settings, database=database, engine=service)
    for base_url in serve(app):
        with httpx.Client(base_url=base_url, timeout=60) as client:
            keys = {}
            for tenant in ("acme", "globex"):
                reply = client.post(
                    "/tenants/register",
                    json={"tenant_id": tenant, "name": tenant.title()},
                    headers={"X-Admin-Token": ADMIN},
                )
                assert reply.status_code == 201, reply.text
                keys[tenant] = reply.json()["api_key"]
            registry.register(
                "brand", "oatly", make_lora(build, root / "l3", seed=3, rank=8), owner_tenant_id="acme"
            )
            with database.get_session() as session:  # globex's brand, with no adapter trained yet
                session.add(Brand(id="globex-soda", tenant_id="globex", name="Globex Soda"))
            yield {"url": base_url, "client": client, "keys": keys, "service": service, "database": database}
    database.dispose()


def _post(rt: dict[str, Any], tenant: str, body: dict[str, Any]) -> httpx.Response:
    return rt["client"].post("/inference", json=body, headers={"X-API-Key": rt["keys"][tenant]})  # type: ignore[no-any-return]


def test_inference_composes_the_tenants_adapters(runtime: dict[str, Any]) -> None:
    reply = _post(
        runtime, "acme", {"retailer": "walmart", "brand": "oatly", "task": "creative", "prompt": "Headline?"}
    )
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["components"] == {"retailer": "walmart", "brand": "oatly", "task": "creative"}
    assert body["missing"] == [] and 0 < body["tokens"] <= 6
    partial = _post(runtime, "globex", {"retailer": "walmart", "brand": "globex-soda", "prompt": "Headline?"})
    assert partial.status_code == 200 and partial.json()["missing"] == ["brand"]
    assert "missing (composed without): brand" in partial.json()["note"]


def test_cross_tenant_brand_is_403(runtime: dict[str, Any]) -> None:
    reply = _post(runtime, "globex", {"retailer": "walmart", "brand": "oatly", "prompt": "x"})
    assert reply.status_code == 403 and "oatly" in reply.json()["detail"]
    # a brand nobody has gets the same answer: another tenant's brand ids cannot be found out
    nobody = _post(runtime, "globex", {"retailer": "walmart", "brand": "no-such-brand", "prompt": "x"})
    assert nobody.status_code == 403
    assert nobody.json()["detail"].replace("no-such-brand", "oatly") == reply.json()["detail"]
    listed = runtime["client"].get("/adapters", headers={"X-API-Key": runtime["keys"]["globex"]}).json()
    assert {a["name"] for a in listed} == {"walmart", "creative"}
    own = runtime["client"].get("/adapters", headers={"X-API-Key": runtime["keys"]["acme"]}).json()
    assert {a["name"] for a in own} == {"walmart", "creative", "oatly"}
    assert all("/" not in a["base_model"] for a in own)  # no server paths in answers
    bogus = runtime["client"].get("/adapters?kind=bogus", headers={"X-API-Key": runtime["keys"]["acme"]})
    assert bogus.status_code == 422
    (problem,) = bogus.json()["detail"]  # the documented shape: a list with loc, msg and type
    assert problem["loc"] == ["query", "kind"] and problem["type"] and "retailer" in problem["msg"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"retailer": "walmart"}, "exactly one of 'prompt'"),
        ({"prompt": "a", "messages": [{"role": "user", "content": "b"}]}, "exactly one of 'prompt'"),
        ({"prompt": "a", "brand": "../etc"}, "brand"),
        ({"prompt": "a", "max_new_tokens": 0}, "max_new_tokens"),
        ({"messages": [{"role": "robot", "content": "b"}]}, "role"),
        ({"prompt": "a", "colour": "red"}, "colour"),
        # one tenant's 60,000-character chat turn would hold every tenant's batch for tens of seconds
        ({"messages": [{"role": "user", "content": "x" * 60_000}]}, "at most 16000 characters"),
        ({"messages": [{"role": "user", "content": "x" * 9_000}] * 2}, "the limit is 16,000"),
        ({"prompt": "a", "max_new_tokens": 600}, "over this server's cap of 512"),
        # found by schemathesis: a denormal temperature turned the logits into inf and sampling into a 500
        ({"prompt": "a", "temperature": 5e-324}, "0 (greedy) or at least 0.01"),
    ],
)
def test_bad_requests_are_4xx_with_a_message(
    runtime: dict[str, Any], body: dict[str, Any], fragment: str
) -> None:
    reply = _post(runtime, "acme", body)
    assert reply.status_code == 422
    assert fragment in reply.text


def test_auth_and_admin_rules(runtime: dict[str, Any]) -> None:
    client = runtime["client"]
    assert client.post("/inference", json={"prompt": "x"}).status_code == 401
    assert (
        client.post("/inference", json={"prompt": "x"}, headers={"X-API-Key": "rmn_wrong"}).status_code == 401
    )
    assert client.post("/tenants/register", json={"tenant_id": "evil", "name": "E"}).status_code == 403
    again = client.post(
        "/tenants/register", json={"tenant_id": "acme", "name": "A"}, headers={"X-Admin-Token": ADMIN}
    )
    assert again.status_code == 409
    bad = client.post(
        "/tenants/register", json={"tenant_id": "Bad Id", "name": "A"}, headers={"X-Admin-Token": ADMIN}
    )
    assert bad.status_code == 422
    from rmnlora.storage import Tenant

    with runtime["database"].get_session() as session:
        stored = session.get(Tenant, "acme")
        assert stored is not None and runtime["keys"]["acme"] not in stored.api_key_hash


def test_health_docs_and_metrics(runtime: dict[str, Any]) -> None:
    client = runtime["client"]
    health = client.get("/health")
    assert health.status_code == 200 and health.json()["status"] == "ok" and health.json()["device"] == "cpu"
    assert "/inference" in client.get("/openapi.json").json()["paths"]
    _post(runtime, "acme", {"prompt": "hello"})
    metrics = client.get("/metrics").text
    assert 'rmn_inference_requests_total{outcome="ok"}' in metrics
    assert "rmn_inference_latency_seconds_count" in metrics
    assert 'rmn_batches_by_path{path="single"}' in metrics


def test_concurrent_requests_share_batches_and_match_single_runs(runtime: dict[str, Any]) -> None:
    bodies = [
        {
            "retailer": "walmart",
            "brand": "oatly" if i % 2 else None,
            "task": "creative",
            "prompt": f"Line {i} " * (i + 1),
        }
        for i in range(6)
    ]
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        replies = list(pool.map(lambda body: _post(runtime, "acme", body), bodies))
    assert all(r.status_code == 200 for r in replies)
    assert max(r.json()["timings_ms"]["batch_size"] for r in replies) >= 2
    assert {r.json()["batch_path"] for r in replies} <= {"single", "grouped"}
    for body, reply in zip(bodies, replies, strict=True):
        alone = _post(runtime, "acme", body).json()
        assert alone["text"] == reply.json()["text"] and alone["adapter"] == reply.json()["adapter"]


def test_chat_model_over_http_matches_in_process(runtime: dict[str, Any]) -> None:
    remote = RmnChatModel(
        tenant="acme",
        retailer="walmart",
        brand="oatly",
        task="creative",
        runtime_url=runtime["url"],
        api_key=runtime["keys"]["acme"],
    )
    local = RmnChatModel(
        tenant="acme", retailer="walmart", brand="oatly", task="creative", service=runtime["service"]
    )
    question = [HumanMessage("Write a headline for oat milk.")]
    assert remote.invoke(question).content == local.invoke(question).content
    refused = RmnChatModel(
        tenant="globex", brand="oatly", runtime_url=runtime["url"], api_key=runtime["keys"]["globex"]
    )
    with pytest.raises(RuntimeCallError, match="403"):
        refused.invoke(question)


def test_serve_command_is_registered() -> None:
    from typer.testing import CliRunner

    from rmnlora.cli import app

    result = CliRunner().invoke(app, ["serve", "--help"])
    assert result.exit_code == 0 and "--port" in result.output


def test_missing_admin_token_disables_registration(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from rmnlora.storage import init_db

    database = init_db(f"sqlite:///{tmp_path / 'rmn.db'}", secret_key="k")
    model, tokenizer = build_tiny_model(0)
    service = InferenceService(model, tokenizer, AdapterRegistry(database, tmp_path / "a"))
    app = create_app(
        load_settings(data_dir=tmp_path, runtime={"admin_token": None}), database=database, engine=service
    )
    with TestClient(app) as client:
        reply = client.post(
            "/tenants/register", json={"tenant_id": "x", "name": "X"}, headers={"X-Admin-Token": "any"}
        )
    assert reply.status_code == 503 and "admin_token" in reply.json()["detail"]
    database.dispose()


def test_a_tenant_registered_while_the_runtime_runs_gets_its_shipped_brand_adapter(tmp_path: Path) -> None:
    from rmnlora.storage import init_db

    database = init_db(f"sqlite:///{tmp_path / 'rmn.db'}", secret_key="test-secret-passphrase")
    registry = AdapterRegistry(database, tmp_path / "adapters")
    model, tokenizer = build_tiny_model(0)
    service = InferenceService(model, tokenizer, registry, shipped_adapters=True)
    assert "brand/acme-snacks" not in service.register_shipped()  # no tenant acme yet
    app = create_app(
        load_settings(data_dir=tmp_path, runtime={"admin_token": ADMIN}), database=database, engine=service
    )
    try:
        for base_url in serve(app):
            with httpx.Client(base_url=base_url, timeout=60) as client:
                reply = client.post(
                    "/tenants/register",
                    json={"tenant_id": "acme", "name": "Acme"},
                    headers={"X-Admin-Token": ADMIN},
                )
                assert reply.status_code == 201, reply.text
        resolution = registry.resolve("acme", retailer="kroger", brand="acme-snacks", task="creative")
        assert set(resolution.components) == {"retailer", "brand", "task"}
        assert resolution.components["brand"].owner_tenant_id == "acme"
    finally:
        service.close()
        database.dispose()
