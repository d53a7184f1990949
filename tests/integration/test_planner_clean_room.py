"""The govern phase queries each retailer's clean room for the brief's audiences, over loopback.

The clean room is a small server of our own that speaks the aggregates protocol (it cannot exist
here otherwise); the planner reaches it through the real client.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Header, HTTPException, Request

from rmnlora.planner.graph import build_planner_graph
from rmnlora.planner.services import PlannerServices
from rmnlora.schemas.brief import load_brief
from tests.support.loopback import serve
from tests.support.planner_fixtures import make_exports, planner_settings, write_brief

API_KEY = "cr-planner-key"
BUYERS = {"granola buyers": 1800, "lapsed snackers": 12}  # the second is below any minimum of 50


def _clean_room(seen: list[dict[str, Any]]) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/aggregates")
    async def aggregates(request: Request, authorization: str = Header(default="")) -> dict[str, Any]:
        if authorization != f"Bearer {API_KEY}":
            raise HTTPException(status_code=401, detail="bad key")
        body = await request.json()
        seen.append(body)
        audiences = body["filters"].get("audience", [])
        cells = [
            {"dimensions": {"audience": a}, "metrics": {"buyers": float(n)}, "cell_size": n}
            for a, n in BUYERS.items()
            if a in audiences
        ]
        kept = [c for c in cells if c["cell_size"] >= int(body["min_cell_size"])]
        return {"query_id": f"q-{len(seen)}", "rows": kept, "suppressed_cells": len(cells) - len(kept)}

    return app


@pytest.fixture(scope="module")
def clean_room() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []
    with serve(_clean_room(seen)) as url:
        yield url, seen


def _plan(tmp_path: Path, settings: Any, audiences: list[str]) -> dict[str, Any]:
    exports = make_exports(tmp_path / "exports")
    brief = load_brief(write_brief(tmp_path, exports, tenant="cr", audiences=audiences))
    services = PlannerServices(settings)
    graph = build_planner_graph(settings, services=services)
    state = graph.invoke(
        {"run_id": "run-cr", "brief": brief.model_dump(mode="json"), "out_dir": str(tmp_path / "out")},
        {"configurable": {"thread_id": "run-cr"}},
    )
    services.db.dispose()
    return dict(state)


def test_govern_queries_audience_reach_and_flags_an_audience_below_the_minimum(
    clean_room: tuple[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    url, seen = clean_room
    seen.clear()
    settings = planner_settings(tmp_path / "rmn", clean_room={"endpoint": url, "api_key": API_KEY})
    state = _plan(tmp_path, settings, ["granola buyers", "lapsed snackers"])

    assert sorted(q["retailer"] for q in seen) == ["amazon", "kroger", "walmart"]
    assert all(q["dimensions"] == ["audience"] and q["min_cell_size"] >= 50 for q in seen)
    check = state["results"]["govern"]["clean_room"]
    assert check["status"] == "checked"
    reach = {(a["retailer"], a["audience"]): (a["passed"], a["reach"]) for a in check["audiences"]}
    assert reach[("walmart", "granola buyers")] == (True, 1800.0)
    assert reach[("walmart", "lapsed snackers")] == (False, None)  # suppressed: too few buyers
    govern = [r for r in state["reflections"] if r["phase"] == "govern"][-1]
    assert any("clean_room:audience_reach" in risk["factor"] for risk in govern["risks"])
    assert govern["decision"] == "escalate"  # a person decides about an audience nobody can measure


def test_unconfigured_clean_room_is_reported_unchecked_and_lowers_confidence(tmp_path: Path) -> None:
    state = _plan(tmp_path, planner_settings(tmp_path / "rmn"), ["granola buyers"])
    check = state["results"]["govern"]["clean_room"]
    assert check["status"] == "unconfigured" and check["audiences"] == []
    govern = [r for r in state["reflections"] if r["phase"] == "govern"][-1]
    factors = {f["name"]: f for f in govern["factors"]}
    assert factors["clean_room_check"]["value"] == "skipped"
    assert any(r["factor"] == "clean_room unconfigured" for r in govern["risks"])
