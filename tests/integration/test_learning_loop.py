"""The learning loop end to end over real HTTP: scripted annotators answer through the REST API,
an improvement run trains on top of the served brand adapter and is promoted only because its
held-out figures rose, the runtime serves it from the next request (the answer changes and the
response names the version), and a batch with chosen and rejected swapped is refused."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from rmnlora.adapters.registry import AdapterRegistry
from rmnlora.adapters.service import InferenceService, adapters_root
from rmnlora.adapters.tiny import build_tiny_model
from rmnlora.config import load_settings
from rmnlora.serving.app import create_app
from rmnlora.serving.deps import get_database
from rmnlora.serving.routes.feedback import create_feedback_router
from rmnlora.storage import Brand
from rmnlora.training.improve import ImproveConfig
from tests.support.adapter_helpers import make_lora, serve
from tests.support.annotators import answers, names_product_within_limit, pair_for

ADMIN = "test-admin-token-7Hq2Zx9Lp4Wm"
BRAND = "acme-snacks"
# A tiny random model learns fast only with a high learning rate; the rule is the product's own.
TEST_CONFIG = ImproveConfig(
    min_pairs=8, learning_rate=1e-3, max_steps=30, epochs=2, batch_size=4, max_generations=2, trigger="api"
)


def _tiny() -> tuple[Any, Any]:
    return build_tiny_model(0)


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from rmnlora.storage import init_db

    root = tmp_path_factory.mktemp("loop")
    database = init_db(f"sqlite:///{root / 'rmn.db'}", secret_key="test-secret-passphrase")
    settings = load_settings(data_dir=root, runtime={"admin_token": ADMIN, "max_wait_ms": 0})
    registry = AdapterRegistry(database, adapters_root(settings))
    model, tokenizer = build_tiny_model(0)
    service = InferenceService(model, tokenizer, registry, max_wait_ms=0, default_max_new_tokens=12)
    app = create_app(
        settings, database=database, engine=service, extra_routers=[create_feedback_router(get_database)]
    )
    app.state.improve_config = TEST_CONFIG
    app.state.improve_loader = _tiny
    for url in serve(app):
        with httpx.Client(base_url=url, timeout=120) as admin:
            reply = admin.post(
                "/tenants/register",
                json={"tenant_id": "acme", "name": "Acme"},
                headers={"X-Admin-Token": ADMIN},
            )
            assert reply.status_code == 201, reply.text
            key = reply.json()["api_key"]
        with database.get_session(tenant_id="acme") as session:
            session.add(Brand(id=BRAND, tenant_id="acme", name="Acme Snacks"))
        v1 = make_lora(lambda: build_tiny_model(0)[0], root / "v1", seed=5, rank=4, scale=0.05)
        registry.register("brand", BRAND, v1, owner_tenant_id="acme")
        with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=120) as client:
            yield {"client": client, "app": app, "database": database}
    service.close()
    database.dispose()


def _annotate(client: httpx.Client, start: int, count: int, *, swapped: bool = False) -> None:
    for item in answers(start, count, brand=BRAND, swapped=swapped):
        reply = client.post("/feedback/preference-pair", json=item)
        assert reply.status_code == 201, reply.text


def _improve(client: httpx.Client) -> dict[str, Any]:
    started = client.post(f"/brands/{BRAND}/improvements")
    assert started.status_code == 202, started.text
    run = started.json()
    assert run["status"] == "running"
    again = client.post(f"/brands/{BRAND}/improvements")  # the lock: never two runs for one brand
    assert again.status_code == 409 and "already in progress" in again.json()["detail"]
    deadline = time.monotonic() + 900
    while run["status"] == "running":
        assert time.monotonic() < deadline, run
        time.sleep(1)
        run = client.get(f"/improvements/{run['id']}").json()
    return run


def _headline_request(index: int) -> dict[str, Any]:
    item = pair_for(index, BRAND)
    from rmnlora.schemas.feedback import decode_creative_prompt

    structured = decode_creative_prompt(item["prompt"])
    assert structured is not None
    return {"brand": BRAND, "messages": structured.messages, "max_new_tokens": 12}


def test_feedback_trains_a_better_version_that_is_served_and_a_swapped_batch_is_refused(
    loop: dict[str, Any],
) -> None:
    client = loop["client"]
    too_few = client.post(f"/brands/{BRAND}/improvements")
    assert too_few.status_code == 202
    run = client.get(f"/improvements/{too_few.json()['id']}").json()
    while run["status"] == "running":
        time.sleep(0.2)
        run = client.get(f"/improvements/{run['id']}").json()
    assert run["status"] == "not_enough_feedback"
    assert "0 new preference pairs" in run["reason"] and "8 more" in run["reason"]

    before = client.post("/inference", json=_headline_request(200))
    assert before.status_code == 200 and before.json()["components"] == {"brand": f"{BRAND}@1"}

    _annotate(client, 0, 80)  # the annotators prefer copy that names the product within the limit
    first = _improve(client)
    assert first["status"] == "promoted", first["reason"]
    current, candidate = first["metrics"]["current"], first["metrics"]["candidate"]
    assert candidate["preference_accuracy"] >= current["preference_accuracy"] + TEST_CONFIG.rule.margin
    assert first["current_version"] == 1 and first["candidate_version"] == 2
    assert first["rows"]["train_pairs"] >= 8 and first["rows"]["heldout_pairs"] >= 3

    after = client.post("/inference", json=_headline_request(200))
    assert after.json()["components"] == {"brand": f"{BRAND}@2"}  # the next request, no restart
    assert after.json()["text"] != before.json()["text"]

    _annotate(client, 80, 60, swapped=True)  # a careless batch: chosen and rejected exchanged
    second = _improve(client)
    assert second["status"] == "refused", second["reason"]
    assert "kept the current version" in second["reason"]
    assert client.post("/inference", json=_headline_request(200)).json()["components"] == {
        "brand": f"{BRAND}@2"
    }

    history = client.get(f"/brands/{BRAND}/adapter-versions").json()
    assert history["served"] == f"{BRAND}@2"
    assert [(v["version"], v["status"], v["parent_version"]) for v in history["versions"]] == [
        (1, "retired", None),
        (2, "promoted", 1),
        (3, "refused", 2),
    ]
    assert history["versions"][1]["feedback_window"][1] >= 80
    assert [e["action"] for e in history["events"]] == ["promote", "refuse"]
    runs = client.get(f"/brands/{BRAND}/improvements").json()
    assert [r["status"] for r in runs] == ["refused", "promoted", "not_enough_feedback"]

    rolled = client.post(f"/brands/{BRAND}/adapter-versions/rollback", json={"reason": "test"})
    assert rolled.status_code == 200 and rolled.json()["served"] == f"{BRAND}@1"
    assert client.post("/inference", json=_headline_request(200)).json()["components"] == {
        "brand": f"{BRAND}@1"
    }


def test_the_scripted_annotators_taste_is_what_the_test_says() -> None:
    for index in range(30):
        item = pair_for(index, BRAND)
        assert names_product_within_limit(item["good"], item["request"])
        assert not names_product_within_limit(item["bad"], item["request"])


def test_unknown_brand_is_404_and_an_unknown_run_is_404(loop: dict[str, Any]) -> None:
    client = loop["client"]
    assert client.post("/brands/globex-soap/improvements").status_code == 404
    assert client.get("/improvements/99999").status_code == 404
    assert client.get("/brands/globex-soap/adapter-versions").status_code == 404
