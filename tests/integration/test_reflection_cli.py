"""`rmn reflect` and `rmn memory`: JSON on stdout, clear errors, the configured ChromaDB folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rmnlora.cli import app

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RMN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("RMN_CONFIG", raising=False)
    return tmp_path


def test_reflect_prints_one_json_decision(env: Path) -> None:
    signals = env / "measure.json"
    signals.write_text(
        json.dumps(
            {"power": 0.5, "mde": 0.08, "expected_lift": 0.05, "duration_days": 21, "max_duration_days": 60}
        )
    )
    result = runner.invoke(app, ["reflect", "measure", str(signals), "--json"])
    assert result.exit_code == 0, result.output
    decision = json.loads(result.stdout)
    assert decision["decision"] == "revise" and decision["changes"] == {"duration_days": 54}
    assert decision["threshold"] == 0.6


def test_reflect_names_bad_fields_and_unknown_phases(env: Path) -> None:
    bad = env / "bad.json"
    bad.write_text(json.dumps({"power": 2}))
    result = runner.invoke(app, ["reflect", "measure", str(bad)])
    assert result.exit_code == 1 and "'power'" in result.stderr and "'mde': Field required" in result.stderr
    result = runner.invoke(app, ["reflect", "forecasting", str(bad)])
    assert result.exit_code == 1 and "unknown reflection phase 'forecasting'" in result.stderr


def test_memory_store_then_recall_in_the_data_dir(env: Path) -> None:
    stored = runner.invoke(
        app,
        [
            "memory",
            "store",
            "--tenant",
            "acme",
            "--id",
            "r1",
            "--outcome",
            "failure",
            "--json",
            "brand Crunchy; chips at Walmart; ROAS floor 3",
        ],
    )
    assert stored.exit_code == 0, stored.output
    assert (env / "data" / "chroma").is_dir()
    recalled = runner.invoke(app, ["memory", "recall", "--tenant", "acme", "--json", "Crunchy chips Walmart"])
    payload = json.loads(recalled.stdout)
    assert [r["scenario_id"] for r in payload["refs"]] == ["r1"] and payload["refs"][0][
        "outcome"
    ] == "failure"
    other = runner.invoke(app, ["memory", "recall", "--tenant", "globex", "--json", "Crunchy chips Walmart"])
    assert json.loads(other.stdout)["refs"] == []


def test_memory_health_reports_an_unreachable_server(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RMN_MEMORY__CHROMA_HOST", "127.0.0.1")
    monkeypatch.setenv("RMN_MEMORY__CHROMA_PORT", "9")
    result = runner.invoke(app, ["memory", "health"])
    assert result.exit_code == 1 and "127.0.0.1:9 is unreachable" in result.stderr
