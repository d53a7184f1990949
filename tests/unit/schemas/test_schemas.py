"""RMIS models and their Polars twins, the brief, and the tool-schema export."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from rmnlora.schemas import RMIS_EVENT_SCHEMA, BriefError, RMISEvent, load_brief, parse_brief
from rmnlora.schemas.tools import export_json_schemas

EVENT = {
    "event_id": 1,
    "event_date": dt.date(2026, 10, 1),
    "retailer": "walmart",
    "campaign_id": "c1",
    "gtin14": "036000291452",
    "impressions": 100,
    "clicks": 3,
    "spend": 5.0,
}


def test_event_model_and_polars_schema_have_the_same_columns() -> None:
    assert set(RMISEvent.model_fields) == set(RMIS_EVENT_SCHEMA)


def test_event_normalises_gtin_and_rejects_bad_rows() -> None:
    assert RMISEvent(**EVENT).gtin14 == "00036000291452"
    with pytest.raises(ValidationError, match="check digit"):
        RMISEvent(**{**EVENT, "gtin14": "036000291453"})
    with pytest.raises(ValidationError, match="exceed impressions"):
        RMISEvent(**{**EVENT, "clicks": 101})
    with pytest.raises(ValidationError, match="spend"):
        RMISEvent(**{**EVENT, "spend": -1})


BRIEF = {
    "name": "q4",
    "brand": "acme-snacks",
    "budget": 50000,
    "flight": {"start": "2026-12-01", "end": "2026-12-28"},
    "retailers": [{"name": "walmart", "data": ["data/walmart.csv"]}],
    "creative": {"product": "Acme Crunch"},
}


def test_brief_parses_with_defaults() -> None:
    brief = parse_brief(BRIEF)
    assert brief.flight.days == 28
    assert brief.objective == "attributed_sales"
    assert brief.measurement.power == 0.8


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"budget": -5}, "budget"),
        ({"flight": {"start": "2026-12-28", "end": "2026-12-01"}}, "flight"),
        ({"retailers": []}, "retailers"),
        ({"objective": "vibes"}, "objective"),
        ({"retailers": [{"name": "w", "min_spend": 10, "max_spend": 5}]}, "retailers.0"),
        ({"budgte": 5}, "budgte"),
    ],
)
def test_bad_brief_error_names_the_field(patch: dict[str, object], field: str) -> None:
    with pytest.raises(BriefError, match=f"field '{field}"):
        parse_brief({**BRIEF, **patch})


def test_brief_file_paths_resolve_relative_to_the_brief(tmp_path: Path) -> None:
    path = tmp_path / "brief.yaml"
    path.write_text(json.dumps(BRIEF))
    with pytest.raises(BriefError, match=r"files not found: retailers\.0\.data \(walmart\): .*walmart\.csv"):
        load_brief(path)  # the exports are named when the brief is read, not as "no rows" later
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "walmart.csv").write_text("x\n1\n")
    brief = load_brief(path)
    assert brief.retailers[0].data[0] == tmp_path / "data" / "walmart.csv"
    with pytest.raises(BriefError, match="not found"):
        load_brief(tmp_path / "nope.yaml")


def test_tool_schemas_export_as_json_schema() -> None:
    exported = export_json_schemas()
    assert "harmonize" in exported
    assert exported["harmonize"]["input"]["properties"]["retailer"]["type"] == "string"
    json.dumps(exported)
