"""`rmn plan`, `rmn runs`, `rmn graph` as a user runs them: exit codes, JSON, resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.planner_fixtures import BASE_BRIEF, dirty_copy, make_exports, write_brief

RMN = str(Path(sys.executable).parent / "rmn")


def rmn(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RMN_DATA_DIR": str(data_dir), "RMN_MODEL__ENABLED": "false"}
    return subprocess.run([RMN, *args], capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_exports(tmp_path_factory.mktemp("exports"))


def test_bad_brief_is_exit_2_naming_the_field(tmp_path: Path) -> None:
    brief = tmp_path / "brief.yaml"
    brief.write_text("name: x\nbrand: y\nbudget: -1\n")
    result = rmn("plan", str(brief), data_dir=tmp_path)
    assert result.returncode == 2
    assert "budget" in result.stderr


def test_escalation_pauses_then_resume_rejects(exports: Path, tmp_path: Path) -> None:
    retailers = [dict(r, min_spend=200000) for r in BASE_BRIEF["retailers"]]
    brief = write_brief(tmp_path, exports, tenant="cli", retailers=retailers)
    paused = rmn("plan", str(brief), "--json", "--run-id", "run-cli", data_dir=tmp_path / "rmn")
    assert paused.returncode == 3, paused.stderr
    outcome = json.loads(paused.stdout)
    assert outcome["status"] == "awaiting_review"
    assert outcome["interrupt"][0]["phase"] == "optimize"

    taken = rmn("plan", str(brief), "--run-id", "run-cli", data_dir=tmp_path / "rmn")
    assert taken.returncode == 2 and "is taken" in taken.stderr

    not_both = rmn("plan", "--resume", "run-cli", data_dir=tmp_path / "rmn")
    assert not_both.returncode == 2 and "--approve or --reject" in not_both.stderr

    rejected = rmn(
        "plan", "--resume", "run-cli", "--reject", "--note", "too small", "--json", data_dir=tmp_path / "rmn"
    )
    assert rejected.returncode == 4, rejected.stderr
    final = json.loads(rejected.stdout)
    assert final["status"] == "blocked"
    assert Path(final["report"]["html"]).is_file()

    runs = json.loads(rmn("runs", "list", "--json", data_dir=tmp_path / "rmn").stdout)
    assert [(r["id"], r["status"]) for r in runs] == [("run-cli", "blocked")]
    shown = json.loads(rmn("runs", "show", "run-cli", "--json", data_dir=tmp_path / "rmn").stdout)
    assert [log["phase"] for log in shown["reflections"]] == ["harmonize", "optimize"]


def test_blocked_plan_is_exit_4_with_progress_on_stderr(exports: Path, tmp_path: Path) -> None:
    dirty = dirty_copy(exports, tmp_path / "dirty")
    brief = write_brief(
        tmp_path, dirty, tenant="cli2", retailers=[dict(BASE_BRIEF["retailers"][0], min_spend=0)]
    )
    result = rmn("plan", str(brief), data_dir=tmp_path / "rmn")
    assert result.returncode == 4
    assert "harmonize gate: block" in result.stderr
    assert "risk [critical]" in result.stderr  # severities are printed, not eaten as markup
    assert "plan blocked" in result.stderr


def test_graph_mermaid_lists_every_node(tmp_path: Path) -> None:
    result = rmn("graph", "--mermaid", data_dir=tmp_path)
    assert result.returncode == 0
    for node in ("intake", "harmonize", "reflect_optimize", "human_review", "finalize", "blocked"):
        assert node in result.stdout
