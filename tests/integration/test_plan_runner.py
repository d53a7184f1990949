"""Background planner runs as the app drives them: progress, review, tenant isolation, kill and resume."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from rmnlora.planner import phases as planner_phases
from rmnlora.planner.background import PlanRunner, RunError, lock_key
from rmnlora.planner.services import PlannerServices
from rmnlora.planner.state import ReviewAnswer
from rmnlora.schemas.brief import load_brief
from rmnlora.storage.locks import acquire
from rmnlora.storage.models import PlanRun
from tests.support.planner_fixtures import (
    BASE_BRIEF,
    make_exports,
    planner_settings,
    reflection_logs,
    write_brief,
)

RMN = str(Path(sys.executable).parent / "rmn")
PHASES = ["harmonize", "optimize", "measure", "create", "govern"]


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_exports(tmp_path_factory.mktemp("exports"))


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[PlanRunner]:
    settings = planner_settings(tmp_path / "rmn")
    made = PlanRunner(settings, PlannerServices(settings))
    yield made
    made.database.dispose()


def test_a_paused_run_shows_its_progress_and_question_and_an_approval_resumes_it(
    exports: Path, runner: PlanRunner, tmp_path: Path
) -> None:
    retailers = [dict(r, min_spend=200000) for r in BASE_BRIEF["retailers"]]  # 600k of minimums, 400k budget
    brief = load_brief(write_brief(tmp_path, exports, tenant="acme", retailers=retailers))
    run_id = runner.start(brief, tenant_id="acme")
    runner.wait(run_id, 300)

    view = runner.view(run_id, tenant_id="acme")
    assert view.status == "awaiting_review"
    assert view.review is not None and view.review.phase == "optimize"
    assert "bootstrap" in view.review.revisable
    nodes = [event.node for event in view.events]
    assert nodes[:6] == [
        "started",
        "intake",
        "harmonize",
        "reflect_harmonize",
        "optimize",
        "reflect_optimize",
    ]
    assert nodes[-1] == "paused"
    gate = view.events[5].reflection
    assert gate is not None and gate.decision == "escalate" and gate.signals
    assert [run.id for run in runner.runs("acme")] == [run_id]

    with pytest.raises(RunError, match="waits for a review"):
        runner.resume(run_id, tenant_id="acme")
    runner.resume(run_id, tenant_id="acme", answer=ReviewAnswer(action="approve", note="budget rises later"))
    runner.wait(run_id, 300)
    done = runner.view(run_id, tenant_id="acme")
    assert done.status == "blocked"  # governance stops a plan with no allocation inside its budget
    assert any(e.review and e.review["note"] == "budget rises later" for e in done.events)
    with pytest.raises(RunError, match="nothing to resume"):
        runner.resume(run_id, tenant_id="acme")


def test_another_tenant_sees_none_of_the_runs(exports: Path, runner: PlanRunner, tmp_path: Path) -> None:
    retailers = [dict(r, min_spend=200000) for r in BASE_BRIEF["retailers"]]
    brief = load_brief(write_brief(tmp_path, exports, tenant="acme", retailers=retailers))
    with pytest.raises(RunError, match="signed in as 'globex'"):
        runner.start(brief, tenant_id="globex")
    run_id = runner.start(brief, tenant_id="acme")
    runner.wait(run_id, 300)
    assert runner.runs("globex") == []
    with pytest.raises(RunError, match="no run"):
        runner.view(run_id, tenant_id="globex")
    with pytest.raises(RunError, match="no run"):
        runner.resume(run_id, tenant_id="globex", answer=ReviewAnswer(action="approve"))


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the planted kill
def test_a_killed_run_is_resumed_from_the_app_and_from_the_cli_without_writing_twice(
    exports: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"measure": 0}
    real_measure = planner_phases.measure_brief

    def dying_measure(*args: Any, **kwargs: Any) -> Any:
        calls["measure"] += 1
        if calls["measure"] in (1, 2):
            raise SystemExit("killed")  # the thread dies mid-node, as with the process
        return real_measure(*args, **kwargs)

    monkeypatch.setattr(planner_phases, "measure_brief", dying_measure)
    settings = planner_settings(tmp_path / "rmn")
    runner = PlanRunner(settings, PlannerServices(settings))
    brief = load_brief(write_brief(tmp_path, exports, tenant="acme"))
    in_app, in_cli = runner.start(brief, tenant_id="acme"), None
    runner.wait(in_app, 300)
    in_cli = runner.start(brief, tenant_id="acme")
    runner.wait(in_cli, 300)
    for run_id in (in_app, in_cli):
        view = runner.view(run_id, tenant_id="acme")
        assert view.status == "interrupted", view.error
        assert view.next_nodes == ("measure",)
        # The killed process still "holds" the run: a lock whose holder has died is taken over.
        acquire(runner.database, lock_key(run_id), f"app:{socket.gethostname()}:{_dead_pid()}", 3600)

    restarted = PlanRunner(settings, PlannerServices(settings))  # the app process restarted
    restarted.resume(in_app, tenant_id="acme")
    restarted.wait(in_app, 300)
    cli = subprocess.run(
        [RMN, "plan", "--resume", in_cli],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "RMN_DATA_DIR": str(settings.data_dir), "RMN_MODEL__ENABLED": "false"},
    )
    assert cli.returncode == 0, cli.stdout + cli.stderr

    for run_id in (in_app, in_cli):
        view = restarted.view(run_id, tenant_id="acme")
        assert view.status == "completed"
        assert sorted(log.phase for log in reflection_logs(restarted.database, "acme", run_id)) == sorted(
            PHASES
        )
        with restarted.database.get_session(tenant_id="acme") as session:
            assert len(session.exec(select(PlanRun).where(PlanRun.id == run_id)).all()) == 1
        nodes = [event.node for event in view.events]
        assert nodes.count("harmonize") == 1 and nodes.count("measure") == 1
        assert "resumed" in nodes and nodes[-1] == "finalize"
