"""LangChain tools: every agent is callable through its typed schema with plain JSON arguments."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langchain_core.tools import StructuredTool

from rmnlora.config import load_settings
from rmnlora.schemas.tools import TOOL_SCHEMAS
from rmnlora.tools.agent_tools import build_agent_tools


@pytest.fixture(scope="module")
def tools() -> dict[str, StructuredTool]:
    return {t.name: t for t in build_agent_tools(load_settings())}


def test_every_registered_tool_exists_with_its_schema(tools: dict[str, StructuredTool]) -> None:
    expected = {
        "query_clean_room",
        "allocate_budget",
        "design_experiment",
        "generate_copy",
        "check_policy",
        "harmonize",
        "check_budget",
    }
    assert expected <= set(tools)
    for name, tool in tools.items():
        assert tool.args_schema is TOOL_SCHEMAS[name].input_model
        assert tool.description == TOOL_SCHEMAS[name].description


def test_check_policy_tool(tools: dict[str, StructuredTool]) -> None:
    out = tools["check_policy"].invoke(
        {
            "ad_copy": {"headline": "Cheaper than Walmart!", "cta": "Shop now"},
            "retailer": "kroger",
            "brand": "acme-snacks",
            "ad_format": "digital_display",
        }
    )
    assert out["passed"] is False
    assert {(v["kind"], v["severity"]) for v in out["violations"]} >= {
        ("competitor_mention", "critical"),
        ("required_element", "critical"),
        ("banned_term", "warning"),
    }
    assert "format:kroger/digital_display" in out["packs"]


def test_bad_tool_input_names_the_field(tools: dict[str, StructuredTool]) -> None:
    with pytest.raises(Exception, match="retailer"):
        tools["check_policy"].invoke({"ad_copy": {"headline": "x"}})


def test_generate_copy_tool_without_model_is_template(tools: dict[str, StructuredTool]) -> None:
    out = tools["generate_copy"].invoke(
        {
            "retailer": "amazon",
            "brand": "acme-snacks",
            "ad_format": "sponsored_brands",
            "product": "Acme Crunch granola bars",
            "k": 2,
        }
    )
    assert out["source"] == "template" and len(out["candidates"]) == 2
    assert all(c["source"] == "template" and c["governance"]["passed"] for c in out["candidates"])


def test_query_clean_room_tool_unconfigured_is_unavailable(tools: dict[str, StructuredTool]) -> None:
    out = tools["query_clean_room"].invoke(
        {
            "retailer": "walmart",
            "dimensions": ["market"],
            "metrics": ["spend"],
            "date_from": "2026-01-01",
            "date_to": "2026-01-31",
        }
    )
    assert out["status"] == "unavailable" and out["rows"] == []


def test_check_budget_tool(tools: dict[str, StructuredTool]) -> None:
    out = tools["check_budget"].invoke(
        {
            "budget": 1000,
            "flight_start": "2026-03-01",
            "flight_end": "2026-03-10",
            "allocation": {"walmart": 900, "amazon": 300},
        }
    )
    assert out["passed"] is False and out["violations"][0]["kind"] == "budget_over_budget"


def test_allocate_budget_tool(tools: dict[str, StructuredTool]) -> None:
    lines = [
        {"id": "w", "retailer": "walmart", "curve": {"a": 4000.0, "b": 500.0}},
        {"id": "a", "retailer": "amazon", "curve": {"a": 2000.0, "b": 500.0}},
    ]
    out = tools["allocate_budget"].invoke({"budget": 1000.0, "days": 1, "lines": lines})
    spend = {line["id"]: line["spend"] for line in out["lines"]}
    assert sum(spend.values()) == pytest.approx(1000.0, rel=1e-3)
    assert spend["w"] > spend["a"]  # the steeper curve gets more


def test_design_experiment_tool(tools: dict[str, StructuredTool]) -> None:
    from rmnlora.agents.measurement.simulate import market_levels, panel_history, simulate_panels

    rng = np.random.default_rng(3)
    levels = market_levels(12, rng)
    history = panel_history(simulate_panels(levels, 120, rng)[0], dt.date(2025, 1, 1))
    out = tools["design_experiment"].invoke(
        {"history": history.model_dump(mode="json"), "design": "geo", "flight_days": 28, "simulations": 100}
    )
    assert out["kind"] == "geo" and out["duration_days"] <= 28 and isinstance(out["feasible"], bool)


def test_harmonize_tool(tools: dict[str, StructuredTool], tmp_path: Path) -> None:
    from rmnlora.datagen.retail_exports import generate_exports

    truth = generate_exports(tmp_path / "exports", seed=1, days=5, markets=2, products=1)
    files: list[Any] = [str(p) for p in truth.retailers["kroger"].files]
    out = tools["harmonize"].invoke({"inputs": files, "retailer": "kroger", "out": str(tmp_path / "out")})
    assert out["rows_in"] == out["rows_accepted"] + out["rows_quarantined"] > 0
