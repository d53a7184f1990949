"""The finished-plan view (``rmnlora.ui.plan_view.render_plan``) driven with AppTest over real plans.

Two plans are made once for the module, through the app's own background runner: the clean
brief (completed) and the dirty exports (blocked at harmonize). Every assertion compares the page
with the run's typed results, never with numbers written into the test.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from rmnlora.planner.background import PlanRunner, RunView
from rmnlora.planner.services import PlannerServices
from rmnlora.planner.state import results_of
from rmnlora.schemas.brief import load_brief
from rmnlora.schemas.feedback import decode_creative_prompt
from rmnlora.storage import Feedback
from rmnlora.ui import app_state
from tests.support.planner_fixtures import BASE_BRIEF, dirty_copy, make_exports, planner_settings, write_brief

TENANT = "acme"
BRAND = str(BASE_BRIEF["brand"])


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlanRunner]:
    root = tmp_path_factory.mktemp("plan-view")
    services = PlannerServices(planner_settings(root / "rmn"))
    plans = PlanRunner(services.settings, services)
    yield plans
    services.db.dispose()


@pytest.fixture(scope="module")
def plans(runner: PlanRunner, tmp_path_factory: pytest.TempPathFactory) -> dict[str, RunView]:
    """A completed and a blocked plan, each planned once in the runner's background thread."""
    root = tmp_path_factory.mktemp("plan-view-briefs")
    exports = make_exports(root / "exports")
    clean = load_brief(write_brief(root / "clean", exports, tenant=TENANT))
    walmart_only = [dict(BASE_BRIEF["retailers"][0], min_spend=0)]
    dirty_data = dirty_copy(exports, root / "dirty-data", share=0.6)
    dirty = load_brief(write_brief(root / "dirty", dirty_data, tenant=TENANT, retailers=walmart_only))
    views = {}
    for name, brief in (("clean", clean), ("dirty", dirty)):
        run_id = runner.start(brief, tenant_id=TENANT, run_id=f"run-view-{name}")
        runner.wait(run_id, timeout=300)
        views[name] = runner.view(run_id, tenant_id=TENANT)
    assert views["clean"].status == "completed", views["clean"].error
    assert views["dirty"].status == "blocked", views["dirty"].error
    return views


def _page(view: object, tenant_id: str, brand_id: str | None) -> None:
    """The AppTest script: its source runs alone (no module imports, annotations evaluated)."""
    from rmnlora.planner.background import RunView
    from rmnlora.ui.plan_view import render_plan

    assert isinstance(view, RunView)
    render_plan(view, tenant_id=tenant_id, brand_id=brand_id)


def _app(runner: PlanRunner, view: RunView, brand_id: str | None = BRAND) -> AppTest:
    at = AppTest.from_function(_page, args=(view, TENANT, brand_id), default_timeout=60)
    at.session_state[app_state.DATABASE_KEY] = runner.database
    at.run()
    assert not at.exception, at.exception
    broken = [e.value for e in at.error if "could not be shown" in e.value or "could not be read" in e.value]
    assert not broken, broken  # no section fell back to its guard
    return at


def _table(at: AppTest, column: str) -> Any:
    """The first dataframe on the page with ``column`` (the page has several)."""
    return next(df.value for df in at.dataframe if column in df.value.columns)


def _rows(runner: PlanRunner) -> list[Feedback]:
    with runner.database.get_session(tenant_id=TENANT) as session:
        query = select(Feedback).where(Feedback.tenant_id == TENANT, Feedback.brand_id == BRAND)
        return list(session.exec(query))


def _with(view: RunView, **values: Any) -> RunView:
    """The view with some state replaced (deep-copied, so the module's plans stay as planned)."""
    changed = copy.deepcopy(view.values)
    changed.update(values)
    return RunView(view.run_id, view.tenant_id, view.status, changed)


def test_allocation_table_holds_each_line_at_the_spend_the_result_holds(
    runner: PlanRunner, plans: dict[str, RunView]
) -> None:
    view = plans["clean"]
    allocation = results_of(view.values).optimize.allocation  # type: ignore[union-attr]
    assert allocation is not None
    at = _app(runner, view)
    assert "Completed" in at.success[0].value
    table = _table(at, "spend")
    shown = {(r.retailer, r.line): r.spend for r in table.itertuples()}
    assert shown == {(line.retailer, line.placement): round(line.spend) for line in allocation.lines}
    intervals = {
        (row["retailer"], row["line"]): (row["predicted low"], row["predicted high"])
        for _, row in table.iterrows()
    }
    assert intervals == {
        (line.retailer, line.placement): tuple(round(x) for x in line.outcome_interval or ())
        for line in allocation.lines
    }
    assert table["current spend"].notna().all()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Total spend"] == f"{allocation.total_spend:,.0f} USD"
    assert metrics["ROAS"] == f"{allocation.roas:.2f}"
    # Interactive charts: spend by line, response curves, power by lift and by duration.
    assert len(at.get("vega_lite_chart")) == 4


def test_experiment_shows_the_designs_power_and_market_assignment(
    runner: PlanRunner, plans: dict[str, RunView]
) -> None:
    view = plans["clean"]
    design = results_of(view.values).measure.design  # type: ignore[union-attr]
    assert design is not None and design.power is not None and design.simulated_power is not None
    at = _app(runner, view)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Design"] == design.kind
    assert metrics["Power"] == f"{design.power:.2f}"
    assert metrics["Simulated power"] == f"{design.simulated_power:.2f}"
    assert metrics["Duration"] == f"{design.duration_days} days"
    markets = _table(at, "treatment")
    assert sorted(markets["treatment"]) == sorted(design.treatment_markets)
    assert sorted(markets["control"]) == sorted(design.control_markets)


def test_copy_rows_show_their_governance_verdict_and_violations(
    runner: PlanRunner, plans: dict[str, RunView]
) -> None:
    view = plans["clean"]
    governed = results_of(view.values).govern
    assert governed is not None and all(c.passed for c in governed.copies)
    at = _app(runner, view)
    rows = _table(at, "governance")
    assert list(zip(rows["retailer"], rows["format"], rows["governance"], strict=True)) == [
        (c.retailer, c.ad_format, "passed") for c in governed.copies
    ]

    # One copy with a critical violation (as governance would store it): FAILED, with its rule and fix.
    results = copy.deepcopy(view.values["results"])
    first = results["govern"]["copies"][0]
    first["passed"] = False
    first["chosen"]["governance"] = {
        "passed": False,
        "violations": [
            {
                "rule_id": "baseline.superlative",
                "kind": "forbidden_phrase",
                "severity": "critical",
                "pack": "baseline",
                "field": "headline",
                "span": [0, 4],
                "matched": "Best",
                "message": "unsubstantiated superlative",
                "suggestion": "remove 'Best' or substantiate it",
            }
        ],
    }
    at = _app(runner, _with(view, results=results))
    assert list(_table(at, "governance")["governance"])[0] == "FAILED"
    violation = _table(at, "rule").iloc[0]
    assert (violation["rule"], violation["severity"], violation["span"]) == (
        "baseline.superlative",
        "critical",
        "0–4",
    )
    assert violation["suggestion"] == "remove 'Best' or substantiate it"


def test_thumbs_down_with_a_correction_stores_one_feedback_row(
    runner: PlanRunner, plans: dict[str, RunView]
) -> None:
    view = plans["clean"]
    first = results_of(view.values).govern.copies[0]  # type: ignore[union-attr]
    assert not _rows(runner)
    at = _app(runner, view)
    key = f"plan_{view.run_id}_copy_0"
    correction = (
        "Headline: Acme Crunch, oat-packed\nBody: Whole-grain crunch for busy mornings.\nCTA: Shop now"
    )
    at.feedback(key=f"{key}_thumbs").set_value(0)
    at.text_area(key=f"{key}_correction").set_value(correction)
    at.button(key=f"{key}_save").click().run()
    assert not at.exception, at.exception
    assert "saved" in at.success[-1].value
    [row] = _rows(runner)
    assert (row.task, row.thumbs_up, row.feedback_type, row.correction) == (
        "creative",
        False,
        "correction",
        correction,
    )
    assert row.response is not None and first.chosen is not None
    assert first.chosen.copy_text.headline in row.response
    prompt = decode_creative_prompt(row.prompt)  # the agent's own request: `rmn improve` trains on it
    assert prompt is not None
    assert (prompt.request["retailer"], prompt.request["ad_format"]) == (first.retailer, first.ad_format)

    at.button(key=f"{key}_save").click().run()  # a second click stores nothing new
    assert "already saved" in at.info[-1].value
    assert len(_rows(runner)) == 1


def test_feedback_needs_a_brand_and_downloads_are_offered(
    runner: PlanRunner, plans: dict[str, RunView]
) -> None:
    view = plans["clean"]
    at = _app(runner, view, brand_id=None)
    assert "Choose a brand on Home to give feedback on this copy." in [i.value for i in at.info]
    assert not [b for b in at.button if str(b.key).endswith("_save")]
    downloads = {e.proto.label for e in at.get("download_button")}
    assert downloads == {
        "Download plan.json",
        "Download report.html",
        "Download report.md",
        "Download allocation.csv",
    }


def test_blocked_plan_shows_its_reasons_and_says_what_is_missing(
    runner: PlanRunner, plans: dict[str, RunView]
) -> None:
    view = plans["dirty"]
    reasons = view.values["blocked_reasons"]
    assert reasons and "optimize" not in view.values["results"]
    gone = {
        kind: str(Path(path).with_name("gone-" + Path(path).name))
        for kind, path in view.values["report"].items()
    }
    at = _app(runner, _with(view, report=gone))  # report files moved away: captions, not a traceback
    banner = at.error[0].value
    assert "Blocked" in banner and all(reason in banner for reason in reasons)
    infos = [i.value for i in at.info]
    assert "No allocation: the plan was blocked at harmonize, before the optimize step ran." in infos
    assert "No experiment design: the plan was blocked at harmonize, before the measure step ran." in infos
    assert "No ad copy: the plan was blocked at harmonize, before the create step ran." in infos
    captions = [c.value for c in at.caption]
    assert any(c.startswith("plan.json: no longer at") for c in captions)
    assert "allocation.csv: this plan has no allocation." in captions
    assert not at.get("download_button")
    trail = _table(at, "decision")
    assert list(zip(trail["phase"], trail["decision"], strict=True)) == [("harmonize", "block")]


def test_a_plan_rejected_at_create_shows_the_review_and_copy_without_a_governance_verdict(
    runner: PlanRunner, plans: dict[str, RunView]
) -> None:
    """The reviewer's answer is in the banner; the copy shows with the creative agent's own check."""
    view = plans["clean"]
    results = {k: v for k, v in view.values["results"].items() if k != "govern"}
    human = {"phase": "create", "action": "reject", "note": "off-brand tone", "at": "2025-05-01T10:00:00Z"}
    stopped = _with(
        view,
        results=results,
        reflections=view.values["reflections"][:4],
        status="blocked",
        blocked_reasons=["create: rejected by the reviewer"],
        human=human,
    )
    at = _app(runner, stopped)
    assert "create: rejected by the reviewer" in at.error[0].value
    assert any("Reviewer answer at **create**: reject: “off-brand tone”" in i.value for i in at.info)
    assert at.warning[0].value.startswith(
        "Governance did not run on this copy: the plan was blocked at create, before the govern step ran."
    )
    created = results_of(stopped.values).create
    assert created is not None
    rows = _table(at, "governance")
    assert list(zip(rows["retailer"], rows["format"], strict=True)) == [
        (c.retailer, c.ad_format) for c in created.copies
    ]
    assert "Download allocation.csv" in {e.proto.label for e in at.get("download_button")}
