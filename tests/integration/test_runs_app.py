"""The Plans and Plan pages driven with AppTest: the tenant's own runs only, and a review answered."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from streamlit.testing.v1 import AppTest

from rmnlora.planner.background import PlanRunner
from rmnlora.planner.services import PlannerServices
from rmnlora.schemas.brief import load_brief
from rmnlora.ui import app_state
from tests.support.paths import REPO_ROOT
from tests.support.planner_fixtures import BASE_BRIEF, make_exports, planner_settings, write_brief

APP = str(REPO_ROOT / "rmnlora" / "ui" / "streamlit_app.py")
INFEASIBLE = [dict(r, min_spend=200000) for r in BASE_BRIEF["retailers"]]  # pauses at the optimize gate


@pytest.fixture(scope="module")
def paused(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PlanRunner, dict[str, str]]]:
    """One paused run for acme and one for globex, in one store."""
    root = tmp_path_factory.mktemp("runs-app")
    exports = make_exports(root / "exports")
    settings = planner_settings(root / "rmn")
    runner = PlanRunner(settings, PlannerServices(settings))
    runs = {}
    for tenant, brand in (("acme", "acme-snacks"), ("globex", "globex-soap")):
        brief = load_brief(write_brief(root, exports, tenant=tenant, brand=brand, retailers=INFEASIBLE))
        runs[tenant] = runner.start(brief, tenant_id=tenant)
        runner.wait(runs[tenant], 300)
    yield runner, runs
    runner.database.dispose()


def _app(runner: PlanRunner, page: str, run_id: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state[app_state.DATABASE_KEY] = runner.database
    at.session_state[app_state.SETTINGS_KEY] = runner.settings
    at.session_state[app_state.RUNNER_KEY] = runner
    at.session_state[app_state.TENANT_KEY] = "acme"
    at.session_state[app_state.BRAND_KEY] = "acme-snacks"
    if run_id:
        at.session_state[app_state.RUN_KEY] = run_id
    at.run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def _links(at: AppTest) -> list[str]:
    return [str(link.proto.label) for link in at.get("page_link")]


def test_plans_lists_only_the_tenants_runs_with_their_live_status(paused: tuple[PlanRunner, dict]) -> None:
    runner, runs = paused
    at = _app(runner, "views/runs.py")
    labels = [label for label in _links(at) if "·" in label]
    assert labels == [f"acme-acme · awaiting review · {runs['acme']}"]
    assert not any(runs["globex"] in label for label in _links(at))
    at.multiselect(key="runs_status").set_value(["completed"]).run()
    assert "0 of 1 plans" in [c.value for c in at.caption]


def test_another_tenants_run_cannot_be_opened(paused: tuple[PlanRunner, dict]) -> None:
    runner, runs = paused
    at = _app(runner, "views/run.py", runs["globex"])
    assert any("no run" in e.value for e in at.error)
    assert not at.get("form")


def test_a_paused_run_shows_the_question_and_a_rejection_ends_it(paused: tuple[PlanRunner, dict]) -> None:
    runner, runs = paused
    at = _app(runner, "views/run.py", runs["acme"])
    assert [h.value for h in at.subheader if "Review needed" in h.value] == [
        "Review needed at the optimize gate"
    ]
    assert "waiting for your review" in at.caption[0].value
    answer = at.radio[0]
    assert answer.options == [
        "Approve: continue the plan",
        "Reject: stop the plan",
        "Edit: re-run this step with changes",
    ]
    at.number_input[0].set_value(50)  # bootstrap: offered with its bounds, ignored unless editing
    answer.set_value("reject")
    at.text_area[0].input("budget is fixed this quarter")
    at.button[0].click().run()  # Send answer
    assert not at.exception, at.exception
    runner.wait(runs["acme"], 300)
    view = runner.view(runs["acme"], tenant_id="acme")
    assert view.status == "blocked"
    assert any("budget is fixed this quarter" in reason for reason in view.values["blocked_reasons"])
