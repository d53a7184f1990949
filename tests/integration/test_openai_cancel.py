"""A non-streamed ``/v1`` answer nobody will read stops decoding: past ``runtime.request_timeout_s``
the client gets a 504 and the rows leave the batch; a client that hangs up frees them too.

The tiny model is slowed by a forward hook (50 ms a step) so a 64-token answer takes ~3 s, long
enough to time out or hang up during; the hook also counts forward passes, which is how the tests
see that decoding stopped.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from rmnlora.adapters.registry import AdapterRegistry
from rmnlora.adapters.service import InferenceService
from rmnlora.adapters.tiny import build_tiny_model
from rmnlora.config import load_settings
from rmnlora.serving.app import create_app
from tests.support.adapter_helpers import make_lora, serve

ADMIN = "test-admin-token-Rk8Vw3Nq5Zt1"
STEP_S = 0.05


@pytest.fixture(scope="module")
def slow_runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from rmnlora.storage import init_db

    root = tmp_path_factory.mktemp("cancel")
    database = init_db(f"sqlite:///{root / 'rmn.db'}", secret_key="test-secret-passphrase")
    registry = AdapterRegistry(database, root / "adapters")
    registry.register(
        "retailer", "walmart", make_lora(lambda: build_tiny_model(0)[0], root / "l1", seed=1, rank=4)
    )
    settings = load_settings(
        data_dir=root,
        runtime={"admin_token": ADMIN, "max_new_tokens_cap": 64, "request_timeout_s": 1.0},
    )
    model, tokenizer = build_tiny_model(0)
    forwards = {"n": 0}

    def slow_step(module: Any, args: Any) -> None:
        forwards["n"] += 1
        time.sleep(STEP_S)

    model.register_forward_pre_hook(slow_step)
    service = InferenceService(model, tokenizer, registry, max_wait_ms=5)
    app = create_app(settings, database=database, engine=service)
    for base_url in serve(app):
        with httpx.Client(base_url=base_url, timeout=30) as client:
            reply = client.post(
                "/tenants/register",
                json={"tenant_id": "acme", "name": "Acme"},
                headers={"X-Admin-Token": ADMIN},
            )
            assert reply.status_code == 201, reply.text
            yield {
                "url": base_url,
                "http": client,
                "key": reply.json()["api_key"],
                "service": service,
                "forwards": forwards,
            }
    service.close()
    database.dispose()


def _ask(max_tokens: int = 64) -> dict[str, Any]:
    return {
        "model": "walmart",
        "messages": [{"role": "user", "content": "Write a headline."}],
        "max_tokens": max_tokens,
        "temperature": 0,
    }


def _decoding_stops(rt: dict[str, Any]) -> tuple[int, int]:
    """Wait until no row is active; the forward passes counted then and half a second later."""
    service = rt["service"]
    deadline = time.monotonic() + 5
    while service.engine.active_rows and time.monotonic() < deadline:
        time.sleep(0.02)
    first = rt["forwards"]["n"]
    time.sleep(0.5)
    return first, rt["forwards"]["n"]


def _outcomes(rt: dict[str, Any]) -> dict[str, float]:
    text = rt["http"].get("/metrics").text
    counts: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("rmn_inference_requests_total{"):
            label = line.split('outcome="')[1].split('"')[0]
            counts[label] = float(line.rsplit(" ", 1)[1])
    return counts


def test_a_request_past_its_deadline_is_a_504_and_its_rows_stop(slow_runtime: dict[str, Any]) -> None:
    rt = slow_runtime
    before = rt["forwards"]["n"]
    started = time.monotonic()
    reply = rt["http"].post(
        "/v1/chat/completions", json=_ask(), headers={"Authorization": f"Bearer {rt['key']}"}
    )
    waited = time.monotonic() - started
    assert reply.status_code == 504, reply.text
    error = reply.json()["error"]
    assert error["type"] == "timeout" and "timed out after 1 s" in error["message"]
    assert waited < 2.5  # answered at the deadline, not after the 64 tokens (~3.2 s)
    first, later = _decoding_stops(rt)
    assert rt["service"].engine.active_rows == 0
    assert later == first  # no forward pass after the rows were cancelled
    assert first - before < 64  # decoding stopped well before max_tokens


def test_a_client_that_hangs_up_frees_its_rows(slow_runtime: dict[str, Any]) -> None:
    rt = slow_runtime
    before = rt["forwards"]["n"]
    gone_before = _outcomes(rt).get("disconnected", 0)
    impatient = httpx.Client(base_url=rt["url"], timeout=httpx.Timeout(5, read=0.15))
    with impatient, pytest.raises(httpx.ReadTimeout):
        impatient.post(
            "/v1/completions",
            json={"model": "walmart", "prompt": "Oat milk,", "max_tokens": 64, "temperature": 0},
            headers={"Authorization": f"Bearer {rt['key']}"},
        )
    first, later = _decoding_stops(rt)
    assert later == first
    assert first - before < 64
    assert _outcomes(rt).get("disconnected", 0) == gone_before + 1


def test_an_answer_within_the_deadline_is_whole(slow_runtime: dict[str, Any]) -> None:
    rt = slow_runtime
    reply = rt["http"].post(
        "/v1/chat/completions", json=_ask(max_tokens=3), headers={"Authorization": f"Bearer {rt['key']}"}
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["usage"]["completion_tokens"] <= 3
