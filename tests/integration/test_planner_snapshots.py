"""Snapshots (syrupy): the graph's structure and the plan for a fixed, seeded scenario."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from syrupy.assertion import SnapshotAssertion

from rmnlora.planner.graph import build_planner_graph
from rmnlora.planner.services import PlannerServices
from rmnlora.schemas.brief import load_brief
from tests.support.planner_fixtures import make_exports, planner_settings, write_brief


def test_graph_structure(snapshot: SnapshotAssertion, tmp_path: Path) -> None:
    graph = build_planner_graph(planner_settings(tmp_path), checkpointer=False)
    assert graph.get_graph().draw_mermaid(with_styles=False) == snapshot(name="mermaid")
    assert graph.get_graph(xray=True).to_json() == snapshot(name="json")


def _plan_summary(state: dict[str, Any]) -> dict[str, Any]:
    """What a buyer acts on, rounded so that noise cannot change it: spend to $1,000, since the
    curves are fitted and a new scipy or polars release moved one line by $3 across a $100 edge."""
    allocation = state["results"]["optimize"]["allocation"]
    design = state["results"]["measure"]["design"]
    return {
        "status": state["status"],
        "decisions": [(r["phase"], r["decision"]) for r in state["reflections"]],
        "spend": {line["id"]: round(line["spend"], -3) for line in allocation["lines"]},
        "binding": allocation["binding"],
        "roas": round(allocation["roas"], 2),
        "design": design["kind"],
        "treatment": sorted(design["treatment_markets"]),
        "duration_days": design["duration_days"],
        "copy": [
            (c["retailer"], c["ad_format"], c["source"], c["candidates"][0]["copy_text"]["headline"])
            for c in state["results"]["create"]["copies"]
        ],
    }


def test_seeded_plan(snapshot: SnapshotAssertion, tmp_path: Path) -> None:
    exports = make_exports(tmp_path / "exports")
    settings = planner_settings(tmp_path / "rmn")
    services = PlannerServices(settings)
    brief = load_brief(write_brief(tmp_path, exports, tenant="snapshot"))
    state = build_planner_graph(settings, services=services).invoke(
        {
            "run_id": "run-snap",
            "tenant_id": brief.tenant,
            "brief": brief.model_dump(mode="json"),
            "out_dir": str(tmp_path / "out"),
        },
        {"configurable": {"thread_id": "run-snap"}},
    )
    services.db.dispose()
    assert _plan_summary(state) == snapshot
