"""The planner graph end to end on the example exports: every gate path, durability, planted problems."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph.types import Command
from sqlmodel import select

from rmnlora.planner import phases as planner_phases
from rmnlora.planner.graph import build_planner_graph
from rmnlora.planner.services import PlannerServices
from rmnlora.schemas.brief import load_brief
from rmnlora.storage.models import PlanRun
from tests.support.planner_fixtures import (
    BASE_BRIEF,
    dirty_copy,
    make_exports,
    planner_settings,
    reflection_logs,
    write_brief,
)


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_exports(tmp_path_factory.mktemp("exports"))


@pytest.fixture
def services(tmp_path: Path) -> Iterator[PlannerServices]:
    """Fresh embedded defaults per test (database, memory, checkpoints): no test recalls another's plans."""
    fresh = PlannerServices(planner_settings(tmp_path / "rmn"))
    yield fresh
    fresh.db.dispose()


def _start(brief_path: Path, run_id: str, out: Path) -> dict[str, Any]:
    brief = load_brief(brief_path)
    return {
        "run_id": run_id,
        "tenant_id": brief.tenant,
        "brief": brief.model_dump(mode="json"),
        "out_dir": str(out / run_id),
    }


def _config(run_id: str) -> Any:
    return {"configurable": {"thread_id": run_id}}


def _decisions(state: dict[str, Any]) -> list[tuple[str, str]]:
    return [(r["phase"], r["decision"]) for r in state["reflections"]]


def test_clean_brief_proceeds_through_every_gate(
    exports: Path, services: PlannerServices, tmp_path: Path
) -> None:
    graph = build_planner_graph(services.settings, services=services)
    brief = write_brief(tmp_path, exports, tenant="clean")
    state = graph.invoke(_start(brief, "run-clean", tmp_path), _config("run-clean"))

    assert state["status"] == "completed"
    assert _decisions(state) == [
        (p, "proceed") for p in ("harmonize", "optimize", "measure", "create", "govern")
    ]
    allocation = state["results"]["optimize"]["allocation"]
    assert allocation["status"] == "optimal"
    assert abs(allocation["total_spend"] - 400000) < 1.0
    assert allocation["roas"] >= 3.0
    assert state["results"]["measure"]["design"]["feasible"]
    # No model configured: copy is labelled template copy and the gate says the model is unconfigured.
    assert {c["source"] for c in state["results"]["create"]["copies"]} == {"template"}
    assert "model" in state["reflections"][3]["rationale"]

    report = Path(state["report"]["markdown"]).read_text()
    for section in (
        "## Data quality",
        "## Allocation",
        "## Experiment",
        "## Creative and governance",
        "## Reflection trail",
        "### Scenarios",
        "### Weekly flighting",
    ):
        assert section in report
    scenarios = state["results"]["optimize"]["scenarios"]["rows"]
    assert scenarios[0]["label"] == "fixed budget" and scenarios[0]["spend"] == allocation["total_spend"]
    assert "| fixed budget (chosen) | optimal |" in report and "| ROAS floor as target |" in report
    flight = state["results"]["optimize"]["flighting"]
    assert flight["status"] == "optimal" and flight["kkt_gap"] < 1e-6
    for line in allocation["lines"]:  # the weeks time each line's allocated total, they do not change it
        weekly = sum(c["spend"] for c in flight["cells"] if c["line_id"] == line["id"])
        assert abs(weekly - line["spend"]) <= 1e-6 * allocation["total_spend"]
    html = Path(state["report"]["html"]).read_text()
    assert "data:image/png;base64," in html  # plots inlined: the HTML stands alone
    assert "<strong>completed</strong>" in html and "**" not in html
    assert json.loads(Path(state["report"]["json"]).read_text())["status"] == "completed"

    with services.db.get_session(tenant_id="clean") as session:
        run = session.get(PlanRun, "run-clean")
        assert (
            run is not None and run.status == "completed" and run.report_path == state["report"]["markdown"]
        )
    assert sorted(log.phase for log in reflection_logs(services.db, "clean", "run-clean")) == sorted(
        ["harmonize", "optimize", "measure", "create", "govern"]
    )


def test_dirty_data_blocks_at_the_harmonize_gate(
    exports: Path, services: PlannerServices, tmp_path: Path
) -> None:
    dirty = dirty_copy(exports, tmp_path / "dirty", share=0.6)
    walmart_only = [dict(BASE_BRIEF["retailers"][0], min_spend=0)]
    brief = write_brief(tmp_path, dirty, tenant="dirty", retailers=walmart_only)
    graph = build_planner_graph(services.settings, services=services)
    state = graph.invoke(_start(brief, "run-dirty", tmp_path), _config("run-dirty"))

    assert state["status"] == "blocked"
    assert _decisions(state) == [("harmonize", "block")]
    assert "optimize" not in state["results"]
    assert any("quarantine" in reason for reason in state["blocked_reasons"])
    assert Path(state["report"]["markdown"]).is_file()


def test_infeasible_budget_escalates_and_a_rejection_blocks(
    exports: Path, services: PlannerServices, tmp_path: Path
) -> None:
    retailers = [dict(r, min_spend=200000) for r in BASE_BRIEF["retailers"]]  # 600k of minimums, 400k budget
    brief = write_brief(tmp_path, exports, tenant="infeasible", retailers=retailers)
    graph = build_planner_graph(services.settings, services=services)
    state = graph.invoke(_start(brief, "run-infeasible", tmp_path), _config("run-infeasible"))

    snapshot = graph.get_state(_config("run-infeasible"))
    assert snapshot.next == ("human_review",)
    assert _decisions(state)[-1] == ("optimize", "escalate")
    assert state["results"]["optimize"]["allocation"]["status"] == "infeasible"
    assert state["results"]["optimize"]["allocation"]["infeasibility"]["conflicts"]
    question = snapshot.tasks[0].interrupts[0].value
    assert question["phase"] == "optimize"

    final = graph.invoke(
        Command(resume={"action": "reject", "note": "budget too small"}), _config("run-infeasible")
    )
    assert final["status"] == "blocked"
    assert final["human"]["action"] == "reject"
    assert any("budget too small" in reason for reason in final["blocked_reasons"])


def test_escalation_approved_by_a_person_continues(
    exports: Path, services: PlannerServices, tmp_path: Path
) -> None:
    retailers = [dict(r, min_spend=200000) for r in BASE_BRIEF["retailers"]]
    brief = write_brief(tmp_path, exports, tenant="approved", retailers=retailers)
    graph = build_planner_graph(services.settings, services=services)
    graph.invoke(_start(brief, "run-approved", tmp_path), _config("run-approved"))
    final = graph.invoke(
        Command(resume={"action": "approve", "note": "raise budget later"}), _config("run-approved")
    )

    assert final["human"]["action"] == "approve"
    assert [phase for phase, _ in _decisions(final)][:3] == ["harmonize", "optimize", "measure"]
    assert "measure" in final["results"]  # the person's approval moved the plan past the optimizer
    # ...but an infeasible brief has no allocation within its budget: governance stops it there.
    assert _decisions(final)[-1] == ("govern", "block")
    assert final["status"] == "blocked"
    assert any("budget" in reason for reason in final["blocked_reasons"])
    assert (
        "Reviewer: approve at optimize (raise budget later)" in Path(final["report"]["markdown"]).read_text()
    )


def test_brand_term_violating_policy_blocks_at_governance(
    exports: Path, services: PlannerServices, tmp_path: Path
) -> None:
    creative = dict(BASE_BRIEF["creative"], key_message="Gluten-free crunch, better than Nature Valley")
    brief = write_brief(tmp_path, exports, tenant="policy", creative=creative)
    graph = build_planner_graph(services.settings, services=services)
    state = graph.invoke(_start(brief, "run-policy", tmp_path), _config("run-policy"))

    assert state["status"] == "blocked", _decisions(state)
    blocking = [r for r in state["reflections"] if r["decision"] == "block"]
    assert blocking and blocking[0]["phase"] in {"create", "govern"}
    violations = {
        v["rule_id"]
        for copy in state["results"]["create"]["copies"]
        for v in copy["candidates"][0]["governance"]["violations"]
    }
    assert {"acme:competitor_brands", "acme:false_claims"} <= violations


def test_underpowered_design_is_revised_then_escalated(
    exports: Path, services: PlannerServices, tmp_path: Path
) -> None:
    measurement = {"expected_lift": 0.002, "design": "geo"}
    brief = write_brief(tmp_path, exports, tenant="underpowered", measurement=measurement)
    graph = build_planner_graph(services.settings, services=services)
    state = graph.invoke(_start(brief, "run-underpowered", tmp_path), _config("run-underpowered"))

    measure_decisions = [d for p, d in _decisions(state) if p == "measure"]
    assert measure_decisions[-1] == "escalate"
    assert graph.get_state(_config("run-underpowered")).next == ("human_review",)
    assert len(measure_decisions) <= services.settings.reflection.max_revisions + 1


def test_a_run_killed_mid_way_resumes_without_writing_twice(
    exports: Path, services: PlannerServices, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"harmonize": 0, "measure": 0}
    real_harmonize, real_measure = planner_phases.harmonize_brief, planner_phases.measure_brief

    def counting_harmonize(*args: Any, **kwargs: Any) -> Any:
        calls["harmonize"] += 1
        return real_harmonize(*args, **kwargs)

    def dying_measure(*args: Any, **kwargs: Any) -> Any:
        calls["measure"] += 1
        if calls["measure"] == 1:
            raise SystemExit("killed")  # the process dies mid-node
        return real_measure(*args, **kwargs)

    monkeypatch.setattr(planner_phases, "harmonize_brief", counting_harmonize)
    monkeypatch.setattr(planner_phases, "measure_brief", dying_measure)
    brief = write_brief(tmp_path, exports, tenant="killed")
    graph = build_planner_graph(services.settings, services=services)
    with pytest.raises(SystemExit):
        graph.invoke(_start(brief, "run-killed", tmp_path), _config("run-killed"))

    # A fresh graph on the same checkpoint store, as a restarted process would build it.
    resumed = build_planner_graph(services.settings, services=services)
    final = resumed.invoke(None, _config("run-killed"))

    assert final["status"] == "completed"
    assert calls == {"harmonize": 1, "measure": 2}
    phases = [log.phase for log in reflection_logs(services.db, "killed", "run-killed")]
    assert sorted(phases) == sorted(["harmonize", "optimize", "measure", "create", "govern"])
    with services.db.get_session(tenant_id="killed") as session:
        assert len(session.exec(select(PlanRun).where(PlanRun.id == "run-killed")).all()) == 1


def test_postgres_checkpointer_and_storage(exports: Path, postgres_url: str, tmp_path: Path) -> None:
    from langgraph.checkpoint.postgres import PostgresSaver

    settings = planner_settings(tmp_path / "rmn", database={"url": postgres_url})
    services = PlannerServices(settings)
    graph = build_planner_graph(settings, services=services)
    assert isinstance(graph.checkpointer, PostgresSaver)
    dirty = dirty_copy(exports, tmp_path / "dirty", share=0.6)
    brief = write_brief(
        tmp_path, dirty, tenant="pg", retailers=[dict(BASE_BRIEF["retailers"][0], min_spend=0)]
    )
    state = graph.invoke(_start(brief, "run-pg", tmp_path), _config("run-pg"))

    assert state["status"] == "blocked"
    again = build_planner_graph(settings, services=services).get_state(_config("run-pg"))
    assert again.values["status"] == "blocked"  # the checkpoint lives in PostgreSQL
    with services.db.get_session(tenant_id="pg") as session:
        assert session.get(PlanRun, "run-pg") is not None
    assert services.db.backend == "postgresql"
    services.db.dispose()


def test_model_copy_without_trained_adapters_is_named_at_the_create_gate(
    exports: Path, services: PlannerServices, tmp_path: Path
) -> None:
    """A real in-process model (tiny, random) through the runtime: copy is model copy, and the gate
    says that no retailer/brand/task adapter was trained for it."""
    from rmnlora.adapters.registry import AdapterRegistry
    from rmnlora.adapters.service import InferenceService, adapters_root
    from rmnlora.adapters.tiny import build_tiny_model

    settings = planner_settings(tmp_path / "rmn", model={"enabled": True, "max_new_tokens": 8})
    with_model = PlannerServices(settings)
    model, tokenizer = build_tiny_model()
    service = InferenceService(
        model, tokenizer, AdapterRegistry(with_model.db, adapters_root(settings)), default_max_new_tokens=8
    )
    with_model.__dict__["inference_service"] = service  # the cached property, pre-filled with the tiny model
    brief = write_brief(tmp_path, exports, tenant="tiny")
    graph = build_planner_graph(settings, services=with_model)
    state = graph.invoke(_start(brief, "run-tiny", tmp_path), _config("run-tiny"))
    service.close()
    with_model.db.dispose()

    assert {c["source"] for c in state["results"]["create"]["copies"]} == {"model"}
    create_gate = next(r for r in state["reflections"] if r["phase"] == "create")
    assert "adapter" in create_gate["rationale"]
    assert create_gate["confidence"] < 1.0


def test_thin_history_lines_get_a_thompson_exploration_split(
    exports: Path, services: PlannerServices, tmp_path: Path
) -> None:
    import polars as pl

    thin = tmp_path / "thin"
    thin.mkdir()
    for name in ("walmart_campaign_performance.csv", "amazon_ads_report.jsonl", "amazon_asin_crosswalk.csv"):
        (thin / name).write_bytes((exports / name).read_bytes())
    kroger = pl.read_parquet(exports / "kroger_kpm_export.parquet")
    kroger.filter(pl.col("DAY").is_in(kroger["DAY"].unique().sort()[:3].to_list())).write_parquet(
        thin / "kroger_kpm_export.parquet"
    )
    retailers = [dict(r) for r in BASE_BRIEF["retailers"]]
    retailers[2] = dict(retailers[2], min_spend=30000, must_spend=True)
    brief = write_brief(tmp_path, thin, tenant="thin", retailers=retailers)
    graph = build_planner_graph(services.settings, services=services)
    state = graph.invoke(_start(brief, "run-thin", tmp_path), _config("run-thin"))

    optimized = state["results"]["optimize"]
    assert "kroger" in optimized["allocation"]["unmodelled_retailers"]
    exploration = optimized["exploration"]
    assert exploration["status"] == "split"
    set_aside = 400000 - optimized["problem"]["budget"]  # must_spend keeps kroger's current 175,000
    assert set_aside == pytest.approx(175000)
    assert sum(arm["spend"] for arm in exploration["arms"]) == pytest.approx(set_aside)
    assert {arm["id"].split("/")[0] for arm in exploration["arms"]} == {"kroger"}
    assert exploration["prior_mean_return"] > 0
    assert "Exploration" in Path(state["report"]["markdown"]).read_text()


def test_unknown_ad_format_is_a_named_gap_not_a_crash(
    exports: Path, services: PlannerServices, tmp_path: Path
) -> None:
    retailers = [dict(r) for r in BASE_BRIEF["retailers"]]
    retailers[0] = dict(retailers[0], formats=["billboard"])
    brief = write_brief(tmp_path, exports, tenant="fmt", retailers=retailers)
    state = build_planner_graph(services.settings, services=services).invoke(
        _start(brief, "run-fmt", tmp_path), _config("run-fmt")
    )
    copies = {(c["retailer"], c["ad_format"]): c for c in state["results"]["create"]["copies"]}
    assert copies[("walmart", "billboard")]["candidates"] == []
    assert any("billboard" in error for error in state["results"]["create"]["errors"])
    create_gate = next(r for r in state["reflections"] if r["phase"] == "create")
    assert create_gate["confidence"] < 1.0


def test_a_thread_holding_a_plan_refuses_a_second_brief(
    exports: Path, services: PlannerServices, tmp_path: Path
) -> None:
    dirty = dirty_copy(exports, tmp_path / "dirty")
    brief = write_brief(
        tmp_path, dirty, tenant="reuse", retailers=[dict(BASE_BRIEF["retailers"][0], min_spend=0)]
    )
    graph = build_planner_graph(services.settings, services=services)
    graph.invoke(_start(brief, "run-reuse", tmp_path), _config("run-reuse"))
    with pytest.raises(ValueError, match="already holds a plan"):
        graph.invoke(_start(brief, "run-reuse", tmp_path), _config("run-reuse"))


def test_an_edit_reruns_the_step_and_logs_the_new_decision(
    exports: Path, services: PlannerServices, tmp_path: Path
) -> None:
    retailers = [dict(r, min_spend=200000) for r in BASE_BRIEF["retailers"]]
    brief = write_brief(tmp_path, exports, tenant="edit", retailers=retailers)
    graph = build_planner_graph(services.settings, services=services)
    graph.invoke(_start(brief, "run-edit", tmp_path), _config("run-edit"))
    state = graph.invoke(
        Command(resume={"action": "edit", "changes": {"bootstrap": 50}}), _config("run-edit")
    )

    assert state["results"]["optimize"]["applied_changes"] == {"bootstrap": 50}
    optimize_logs = [
        log for log in reflection_logs(services.db, "edit", "run-edit") if log.phase == "optimize"
    ]
    assert len(optimize_logs) == len([d for p, d in _decisions(state) if p == "optimize"]) == 2


def test_a_reused_output_folder_never_plans_on_an_earlier_runs_rows(
    exports: Path, services: PlannerServices, tmp_path: Path
) -> None:
    graph = build_planner_graph(services.settings, services=services)
    first = write_brief(tmp_path / "a", exports, tenant="stale")
    graph.invoke({**_start(first, "run-a", tmp_path), "out_dir": str(tmp_path / "shared")}, _config("run-a"))
    retailers = [dict(r) for r in BASE_BRIEF["retailers"]]
    vanishing = exports / "vanishing.parquet"  # there when the brief is read, gone when harmonize runs
    vanishing.write_bytes((exports / retailers[2]["data"][0]).read_bytes())
    retailers[2] = dict(retailers[2], data=[vanishing.name], max_share=None)
    second = write_brief(tmp_path / "b", exports, tenant="stale", retailers=retailers)
    start = _start(second, "run-b", tmp_path)
    vanishing.unlink()
    state = graph.invoke({**start, "out_dir": str(tmp_path / "shared")}, _config("run-b"))

    assert "vanishing.parquet" in state["results"]["harmonize"]["errors"]["kroger"]
    assert _decisions(state)[-1] == ("harmonize", "escalate")  # a retailer with spend lost its data
    # the gate names the file, not only "no usable data"
    risks = [r["factor"] for r in state["reflections"][-1]["risks"]]
    assert any("kroger exports could not be read" in r and "vanishing.parquet" in r for r in risks), risks
    state = graph.invoke(Command(resume={"action": "approve"}), _config("run-b"))
    lines = state["results"]["optimize"]["allocation"]["lines"]
    assert lines and not any(line["retailer"] == "kroger" for line in lines)


def test_clicks_objective_is_reported_in_clicks(
    exports: Path, services: PlannerServices, tmp_path: Path
) -> None:
    brief = write_brief(tmp_path, exports, tenant="clicks", objective="clicks", constraints={})
    graph = build_planner_graph(services.settings, services=services)
    state = graph.invoke(_start(brief, "run-clicks", tmp_path), _config("run-clicks"))
    # Click curves are near-linear, so most spend lands beyond observed levels and a person must approve.
    assert _decisions(state)[-1] == ("optimize", "escalate")
    state = graph.invoke(Command(resume={"action": "approve"}), _config("run-clicks"))
    report = Path(state["report"]["markdown"]).read_text()
    line = next(text for text in report.splitlines() if text.startswith("Status: optimal"))
    assert "clicks" in line and "USD" not in line
    assert "| predicted clicks |" in report


def test_model_gibberish_is_regenerated_then_escalated_and_one_usable_candidate_proceeds(
    exports: Path, tmp_path: Path
) -> None:
    """Copy that is not ad copy never proceeds: the create gate regenerates the formats left with no
    usable candidate (bounded by max_revisions), then a person is asked, with the reason."""
    from tests.support.fake_chat import GIBBERISH, GOOD, GreedyOnlyChat

    settings = planner_settings(tmp_path / "rmn")
    gibberish = PlannerServices(settings, chat_model=GreedyOnlyChat(responses=GIBBERISH))
    brief = write_brief(tmp_path, exports, tenant="gibberish")
    graph = build_planner_graph(settings, services=gibberish)
    state = graph.invoke(_start(brief, "run-gibberish", tmp_path), _config("run-gibberish"))

    create = [r for r in state["reflections"] if r["phase"] == "create"]
    revisions = settings.reflection.max_revisions
    assert [r["decision"] for r in create] == ["revise"] * revisions + ["escalate"]
    assert create[0]["changes"]["regenerate"] == [
        "amazon/sponsored_brands",
        "kroger/sponsored_product",
        "walmart/sponsored_brands",
    ]
    assert graph.get_state(_config("run-gibberish")).next == ("human_review",)
    assert "no usable copy for walmart/sponsored_brands" in create[-1]["rationale"]
    assert "quality:chatter" in create[-1]["rationale"]
    assert "govern" not in state["results"]
    gibberish.db.dispose()

    usable = PlannerServices(settings, chat_model=GreedyOnlyChat(responses=GIBBERISH, greedy=GOOD))
    graph = build_planner_graph(settings, services=usable)
    state = graph.invoke(_start(brief, "run-one-usable", tmp_path), _config("run-one-usable"))
    create = [r for r in state["reflections"] if r["phase"] == "create"]
    assert [r["decision"] for r in create] == ["proceed"]
    for copy in state["results"]["create"]["copies"]:
        assert copy["source"] == "model"
        assert copy["candidates"][0]["copy_text"]["headline"] == "Acme Crunch for busy mornings"
    usable.db.dispose()
