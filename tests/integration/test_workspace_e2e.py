"""The buyer's workspace in headless Chromium: exports uploaded to a completed plan; a run killed with
the app, resumed in the restarted app, and its escalation approved in the browser."""

from __future__ import annotations

import copy
import time
from pathlib import Path

import pytest
import yaml
from sqlmodel import select

from rmnlora.storage import init_db
from rmnlora.storage.models import PlanRun, ReflectionLog
from tests.support.browser import SECRET, Browser, needs_chromium, streamlit_server
from tests.support.browser import app_env as browser_app_env
from tests.support.loopback import free_port
from tests.support.planner_fixtures import AMAZON, BASE_BRIEF, KROGER, WALMART, make_exports

CROSSWALK = "amazon_asin_crosswalk.csv"
PLAN_WAIT_S = 240

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_exports(tmp_path_factory.mktemp("exports"))


@pytest.fixture
def app_env(tmp_path: Path) -> dict[str, str]:
    return browser_app_env(tmp_path, "acme", ("acme-snacks",))


def _brief_file(folder: Path, **changes: object) -> Path:
    """The test brief naming the exports by file name, as a buyer's YAML for uploaded files does."""
    brief = copy.deepcopy(BASE_BRIEF)
    brief.pop("tenant")
    brief.update(changes)
    path = folder / "brief.yaml"
    path.write_text(yaml.safe_dump(brief, sort_keys=False), encoding="utf-8")
    return path


def _upload_and_start(browser: Browser, exports: Path, brief: Path, shot: str) -> None:
    browser.open_page("New plan")
    browser.text_appears("1. Retailer exports")
    browser.upload([exports / name for name in (WALMART, AMAZON, CROSSWALK, KROGER)], index=0)
    browser.text_appears(f"Stored {KROGER}")
    browser.click('//*[@role="tab"][contains(., "Upload a brief YAML")]')
    browser.upload([brief], index=1)
    browser.click_button("Check the YAML brief")
    browser.text_appears("3. Check and start")
    browser.screenshot(f"{shot}-new-plan")
    browser.click_button("Start plan")


def _when_logged(data_dir: Path, node: str) -> str:
    """The run id, as soon as the run's progress log holds ``node`` (read directly: no page polling)."""
    deadline = time.monotonic() + PLAN_WAIT_S
    while time.monotonic() < deadline:
        for log in data_dir.glob("runs/*/progress.jsonl"):
            if f'"node":"{node}"' in log.read_text(encoding="utf-8", errors="replace"):
                return log.parent.name
        time.sleep(0.05)
    raise AssertionError(f"no run logged {node!r} within {PLAN_WAIT_S} s")


def _run_id(browser: Browser) -> str:
    browser.wait.until(lambda d: "run=" in d.current_url)
    return str(browser.driver.current_url.split("run=")[1].split("&")[0])


def test_exports_uploaded_in_the_browser_become_a_completed_plan(
    exports: Path, app_env: dict[str, str], tmp_path: Path
) -> None:
    brief = _brief_file(tmp_path)
    with (
        streamlit_server(app_env, tmp_path / "streamlit.log") as base,
        Browser(tmp_path / "profile") as browser,
    ):
        browser.driver.get(base)
        browser.text_appears("Training pairs ready")  # the page is drawn to the end
        browser.screenshot("home")
        _upload_and_start(browser, exports, brief, "upload")
        browser.text_appears("✓ harmonize", timeout=PLAN_WAIT_S)
        browser.text_appears("✅ completed", timeout=PLAN_WAIT_S)
        browser.text_appears("Allocation")
        browser.text_appears("govern gate")
        browser.screenshot("plan-completed")
        run_id = _run_id(browser)
        browser.open_page("Plans")
        browser.text_appears(f"acme-test · completed · {run_id}")
        browser.screenshot("plans")
        browser.click(f'//a[contains(., "{run_id}")]')
        browser.text_appears("Reflection trail")

    database = init_db(app_env["RMN_DATABASE__URL"], secret_key=SECRET, migrate=False)
    try:
        with database.get_session(tenant_id="acme") as session:
            run = session.get(PlanRun, run_id)
            assert run is not None and run.status == "completed"
            assert Path(str(run.report_path)).is_file()
    finally:
        database.dispose()


def test_a_run_killed_with_the_app_resumes_in_the_restarted_app_and_its_escalation_is_approved(
    exports: Path, app_env: dict[str, str], tmp_path: Path
) -> None:
    # An expected lift too small to measure: the measure gate revises, then asks a person.
    brief = _brief_file(tmp_path, measurement={"expected_lift": 0.002, "design": "geo"})
    port = free_port()
    with Browser(tmp_path / "profile") as browser:
        with streamlit_server(app_env, tmp_path / "streamlit.log", port) as base:
            browser.driver.get(base)
            browser.text_appears("Training pairs ready")
            _upload_and_start(browser, exports, brief, "escalation")
            run_id = _when_logged(Path(app_env["RMN_DATA_DIR"]), "reflect_harmonize")
        # the server was killed mid-run (in the optimize step, seconds before the review); start it again
        with streamlit_server(app_env, tmp_path / "streamlit.log", port) as base:
            browser.driver.get(f"{base}/run?run={run_id}")
            browser.text_appears("interrupted")
            browser.screenshot("plan-interrupted")
            browser.click_button("Resume the run")
            browser.text_appears("Review needed at the measure gate", timeout=PLAN_WAIT_S)
            browser.screenshot("plan-review")
            browser.click('//label[.//p[normalize-space()="Approve: continue the plan"]]')
            browser.fill_text_area("Note for the audit trail", "small lift accepted: directional read only")
            browser.click_button("Send answer")
            browser.text_appears("✅ completed", timeout=PLAN_WAIT_S)
            browser.text_appears("small lift accepted")

    database = init_db(app_env["RMN_DATABASE__URL"], secret_key=SECRET, migrate=False)
    try:
        with database.get_session(tenant_id="acme") as session:
            assert len(session.exec(select(PlanRun).where(PlanRun.id == run_id)).all()) == 1
            logs = session.exec(select(ReflectionLog).where(ReflectionLog.run_id == run_id)).all()
    finally:
        database.dispose()
    sessions = [log.session_id for log in logs]
    assert len(sessions) == len(set(sessions))  # no gate decision written twice
    assert {log.phase for log in logs} == {"harmonize", "optimize", "measure", "create", "govern"}
