"""Clean-room client against a small clean-room server of our own on loopback (uvicorn + httpx)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, Header, HTTPException, Request

from rmnlora.config import load_settings
from rmnlora.schemas.clean_room import CleanRoomPolicy, CleanRoomQuery
from rmnlora.storage import init_db
from rmnlora.storage.models import Retailer
from rmnlora.tools.clean_room import AsyncCleanRoomClient, CleanRoomClient, CleanRoomConfig, clean_room_config

API_KEY = "cr-test-key"


@dataclass
class ServerScript:
    """What the server does with each next request: 'ok', '500', '503', 'slow', '400', 'leaky'."""

    actions: list[str] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    slow_s: float = 1.0


def _app(script: ServerScript) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/aggregates")
    async def aggregates(request: Request, authorization: str = Header(default="")) -> dict[str, Any]:
        body = await request.json()
        script.requests.append(body)
        if authorization != f"Bearer {API_KEY}":
            raise HTTPException(status_code=401, detail="bad key")
        action = script.actions.pop(0) if script.actions else "ok"
        if action in ("500", "503", "400"):
            raise HTTPException(status_code=int(action), detail=f"scripted {action}")
        if action == "slow":
            await asyncio.sleep(script.slow_s)
        cells = [
            {"dimensions": {"market": "M1"}, "metrics": {"spend": 1200.0}, "cell_size": 500},
            {"dimensions": {"market": "M2"}, "metrics": {"spend": 300.0}, "cell_size": 120},
            {"dimensions": {"market": "M3"}, "metrics": {"spend": 15.0}, "cell_size": 8},
        ]
        threshold = int(body["min_cell_size"])
        if action == "leaky":  # a server that forgets to suppress: the client must do it
            return {"query_id": "q-leaky", "rows": cells, "suppressed_cells": 0}
        kept = [c for c in cells if c["cell_size"] >= threshold]
        return {"query_id": "q-1", "rows": kept, "suppressed_cells": len(cells) - len(kept)}

    return app


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, ServerScript]]:
    script = ServerScript()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    uv = uvicorn.Server(uvicorn.Config(_app(script), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started:
        assert time.monotonic() < deadline, "clean-room test server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", script
    uv.should_exit = True
    thread.join(timeout=5)


@pytest.fixture
def script(server: tuple[str, ServerScript]) -> ServerScript:
    server[1].actions.clear()
    server[1].requests.clear()
    return server[1]


def _config(endpoint: str, **overrides: Any) -> CleanRoomConfig:
    values: dict[str, Any] = {
        "retailer": "walmart",
        "endpoint": endpoint,
        "api_key": API_KEY,
        "timeout_s": 0.5,
        "max_retries": 2,
        "min_aggregation": 50,
        "backoff_s": 0.01,
    }
    return CleanRoomConfig(**{**values, **overrides})


QUERY = CleanRoomQuery(
    retailer="walmart", dimensions=["market"], metrics=["spend"], date_from="2026-01-01", date_to="2026-01-31"
)


def test_aggregates_with_small_cells_suppressed_and_counted(server, script) -> None:  # type: ignore[no-untyped-def]
    with CleanRoomClient(_config(server[0])) as client:
        result = client.query(QUERY)
    assert result.status == "ok" and result.attempts == 1
    assert [row.dimensions["market"] for row in result.rows] == ["M1", "M2"]
    assert result.suppressed_cells == 1 and result.min_aggregation == 50
    assert script.requests[0]["min_cell_size"] == 50


def test_client_suppresses_when_the_server_does_not(server, script) -> None:  # type: ignore[no-untyped-def]
    script.actions.append("leaky")
    policy = CleanRoomPolicy(min_aggregation=150)
    with CleanRoomClient(_config(server[0], policy=policy)) as client:
        result = client.query(QUERY)
    assert result.ok and [row.cell_size for row in result.rows] == [500]
    assert result.suppressed_cells == 2 and result.min_aggregation == 150


def test_5xx_is_retried_then_succeeds(server, script) -> None:  # type: ignore[no-untyped-def]
    script.actions.extend(["500", "503"])
    with CleanRoomClient(_config(server[0])) as client:
        result = client.query(QUERY)
    assert result.ok and result.attempts == 3 and len(script.requests) == 3


def test_persistent_5xx_fails_after_max_retries(server, script) -> None:  # type: ignore[no-untyped-def]
    script.actions.extend(["500"] * 5)
    with CleanRoomClient(_config(server[0], max_retries=2)) as client:
        result = client.query(QUERY)
    assert result.status == "failed" and result.rows == []
    assert result.attempts == 3 and len(script.requests) == 3 and result.http_status == 500
    assert "gave up after 3 attempts" in result.detail


def test_timeout_is_retried(server, script) -> None:  # type: ignore[no-untyped-def]
    script.actions.extend(["slow"])
    script.slow_s = 1.0
    with CleanRoomClient(_config(server[0], timeout_s=0.3)) as client:
        result = client.query(QUERY)
    assert result.ok and result.attempts == 2


def test_timeouts_exhausted_fail_with_reason(server, script) -> None:  # type: ignore[no-untyped-def]
    script.actions.extend(["slow", "slow"])
    script.slow_s = 0.6
    with CleanRoomClient(_config(server[0], timeout_s=0.2, max_retries=1)) as client:
        result = client.query(QUERY)
    assert result.status == "failed" and "timeout" in result.detail and result.attempts == 2


def test_401_is_not_retried(server, script) -> None:  # type: ignore[no-untyped-def]
    with CleanRoomClient(_config(server[0], api_key="wrong")) as client:
        result = client.query(QUERY)
    assert result.status == "unauthorized" and result.http_status == 401
    assert result.attempts == 1 and len(script.requests) == 1 and result.rows == []


def test_other_4xx_is_rejected_without_retry(server, script) -> None:  # type: ignore[no-untyped-def]
    script.actions.append("400")
    with CleanRoomClient(_config(server[0])) as client:
        result = client.query(QUERY)
    assert result.status == "rejected" and result.attempts == 1 and "scripted 400" in result.detail


def test_policy_blocks_identifying_queries_before_sending(server, script) -> None:  # type: ignore[no-untyped-def]
    query = QUERY.model_copy(update={"dimensions": ["email", "market"]})
    with CleanRoomClient(_config(server[0])) as client:
        result = client.query(query)
    assert result.status == "blocked_by_policy" and "email" in result.detail
    assert script.requests == []


def test_unconfigured_is_unavailable_not_invented() -> None:
    with CleanRoomClient(_config(None, api_key=None)) as client:
        result = client.query(QUERY)
    assert result.status == "unavailable" and result.rows == [] and result.attempts == 0
    assert "missing endpoint, api_key" in result.detail


def test_connection_refused_is_retried_then_failed() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with CleanRoomClient(_config(f"http://127.0.0.1:{port}", max_retries=1)) as client:
        result = client.query(QUERY)
    assert result.status == "failed" and result.attempts == 2 and "connection error" in result.detail


def test_async_client_same_behaviour(server, script) -> None:  # type: ignore[no-untyped-def]
    script.actions.extend(["503", "slow"])
    script.slow_s = 1.0

    async def run() -> tuple[Any, Any]:
        async with AsyncCleanRoomClient(_config(server[0], timeout_s=0.3, max_retries=3)) as client:
            first = await client.query(QUERY)
        async with AsyncCleanRoomClient(_config(server[0], api_key="wrong")) as client:
            second = await client.query(QUERY)
        return first, second

    ok, unauthorized = asyncio.run(run())
    assert ok.ok and ok.attempts == 3 and ok.suppressed_cells == 1
    assert unauthorized.status == "unauthorized" and unauthorized.attempts == 1


def test_config_reads_the_encrypted_key_stored_for_the_retailer(tmp_path, server, script) -> None:  # type: ignore[no-untyped-def]
    database = init_db(f"sqlite:///{tmp_path / 'rmn.db'}", secret_key="clean-room-test-secret")
    try:
        with database.get_session() as session:
            session.add(
                Retailer(id="walmart", name="Walmart", api_endpoint=server[0], clean_room_api_key=API_KEY)
            )
        with database.engine.connect() as connection:
            stored = connection.exec_driver_sql("SELECT clean_room_api_key FROM retailer").scalar_one()
        assert API_KEY not in stored  # encrypted at rest
        settings = load_settings(None, data_dir=tmp_path)
        config = clean_room_config(settings, "walmart", database)
        assert config.endpoint == server[0] and config.api_key == API_KEY
        with CleanRoomClient(config) as client:
            assert client.query(QUERY).ok
        assert clean_room_config(settings, "amazon", database).endpoint is None
    finally:
        database.dispose()
