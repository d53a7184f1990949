"""The planner on the LangGraph API server: ``langgraph dev`` (in-memory server) started from the
repository's ``langgraph.json`` on loopback, driven by the official ``langgraph-sdk`` client
through a reflection escalation, resumed once with approve and once with reject."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_sync_client
from sqlmodel import select

from rmnlora.schemas.brief import load_brief
from rmnlora.storage import open_db
from rmnlora.storage.models import PlanRun, ReflectionLog
from tests.support.loopback import free_port, wait_healthy
from tests.support.planner_fixtures import BASE_BRIEF, make_exports, planner_settings, write_brief

ROOT = Path(__file__).resolve().parents[2]
OVERLAY = Path(sys.prefix) / "langgraph-overlay"  # langgraph-api's own jsonschema-rs (Makefile)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    assert OVERLAY.is_dir(), f"{OVERLAY} is missing: run `make install`"
    data_dir = tmp_path_factory.mktemp("langgraph") / "rmn"
    port = free_port()
    env = {
        **os.environ,
        "RMN_DATA_DIR": str(data_dir),
        "RMN_MODEL__ENABLED": "false",
        "PYTHONPATH": os.pathsep.join([str(OVERLAY), str(ROOT)]),
        "LANGSMITH_TRACING": "false",
        "LANGGRAPH_CLI_NO_ANALYTICS": "1",
    }
    env.pop("RMN_CONFIG", None)
    log = (data_dir.parent / "langgraph-dev.log").open("w")
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "langgraph"), "dev", "--no-browser", "--no-reload"]
        + ["--host", "127.0.0.1", "--port", str(port), "--config", str(ROOT / "langgraph.json")],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url + "/ok", process, data_dir.parent / "langgraph-dev.log", 180, "langgraph dev")
        yield {"url": url, "data_dir": data_dir, "exports": make_exports(data_dir.parent / "exports")}
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _infeasible_brief(server: dict[str, Any], tenant: str) -> dict[str, Any]:
    retailers = [dict(r, min_spend=200000) for r in BASE_BRIEF["retailers"]]  # 600k of minimums, 400k budget
    path = write_brief(server["data_dir"].parent, server["exports"], tenant=tenant, retailers=retailers)
    return load_brief(path).model_dump(mode="json")


def _rows(server: dict[str, Any], tenant: str, run_id: str) -> tuple[list[PlanRun], list[ReflectionLog]]:
    database = open_db(planner_settings(server["data_dir"]))
    try:
        with database.get_session(tenant_id=tenant) as session:
            runs = list(session.exec(select(PlanRun).where(PlanRun.id == run_id)).all())
            logs = list(session.exec(select(ReflectionLog).where(ReflectionLog.run_id == run_id)).all())
            return runs, logs
    finally:
        database.dispose()


def _escalate(server: dict[str, Any], tenant: str) -> tuple[Any, str, list[Any]]:
    """Start a run that the optimizer's gate escalates; the streamed updates up to the pause."""
    client = get_sync_client(url=server["url"])
    thread_id = client.threads.create()["thread_id"]
    updates = [
        part
        for part in client.runs.stream(
            thread_id, "planner", input={"brief": _infeasible_brief(server, tenant)}, stream_mode="updates"
        )
    ]
    return client, thread_id, updates


def _check_paused(client: Any, thread_id: str, updates: list[Any]) -> None:
    nodes = [name for part in updates if part.event == "updates" for name in part.data]
    assert nodes[:3] == ["intake", "harmonize", "reflect_harmonize"]
    assert "reflect_optimize" in nodes and "__interrupt__" in nodes
    question = next(p.data["__interrupt__"][0]["value"] for p in updates if "__interrupt__" in (p.data or {}))
    assert question["phase"] == "optimize" and "approve" in question["question"]
    state = client.threads.get_state(thread_id)
    assert state["next"] == ["human_review"]
    assert [i["value"]["phase"] for task in state["tasks"] for i in task["interrupts"]] == ["optimize"]


def test_an_escalated_run_streams_pauses_and_continues_when_approved(server: dict[str, Any]) -> None:
    client, thread_id, updates = _escalate(server, "lg")
    _check_paused(client, thread_id, updates)
    final = client.runs.wait(thread_id, "planner", command={"resume": {"action": "approve", "note": "ok"}})
    assert isinstance(final, dict)
    assert final["human"]["action"] == "approve" and "measure" in final["results"]
    assert final["status"] in ("completed", "blocked") and Path(final["report"]["markdown"]).is_file()
    runs, logs = _rows(server, "lg", final["run_id"])
    assert len(runs) == 1 and runs[0].status == final["status"]
    # Resuming re-ran nothing already done: one log row per verdict in the state, none twice.
    assert len(logs) == len(final["reflections"])
    assert sorted((log.phase, log.decision) for log in logs) == sorted(
        (r["phase"], r["decision"]) for r in final["reflections"]
    )


def test_an_escalated_run_rejected_through_the_sdk_is_blocked_with_the_reason(server: dict[str, Any]) -> None:
    client, thread_id, updates = _escalate(server, "lg")
    _check_paused(client, thread_id, updates)
    final = client.runs.wait(
        thread_id, "planner", command={"resume": {"action": "reject", "note": "budget too small"}}
    )
    assert isinstance(final, dict)
    assert final["status"] == "blocked" and final["human"]["action"] == "reject"
    assert any("budget too small" in reason for reason in final["blocked_reasons"])
    assert "measure" not in final["results"]
    runs, logs = _rows(server, "lg", final["run_id"])
    assert len(runs) == 1 and runs[0].status == "blocked" and len(logs) == len(final["reflections"])


def test_the_feedback_api_is_mounted_beside_the_graph(server: dict[str, Any]) -> None:
    reply = httpx.get(server["url"] + "/feedback/stats", timeout=10)
    assert reply.status_code == 401 and "API key" in reply.json()["detail"]
    paths = httpx.get(server["url"] + "/openapi.json", timeout=10).json()["paths"]
    assert (
        "/threads/{thread_id}/runs/stream" in paths and "/feedback/preference-pair" in paths
    )  # one document
