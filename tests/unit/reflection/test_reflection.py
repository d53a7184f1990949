"""Reflection: assessors on planted conditions, bias detectors both ways, decisions, ReflectionLog rows."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import select

from rmnlora.config import load_settings
from rmnlora.reflection import (
    BiasType,
    ComponentStatus,
    CreateSignals,
    GovernSignals,
    HarmonizeSignals,
    LineSignals,
    MeasureSignals,
    MemoryRef,
    OptimizeSignals,
    Phase,
    ReflectionEngine,
    Violation,
    bias,
)
from rmnlora.storage.models import ReflectionLog, Tenant

ENGINE = ReflectionEngine(
    default_threshold=0.8,
    thresholds={"harmonize": 0.7, "optimize": 0.7, "measure": 0.6, "create": 0.6, "govern": 0.7},
    max_revisions=2,
)


def clean_harmonize(**kw: Any) -> HarmonizeSignals:
    base: dict[str, Any] = dict(
        rows_in=10_000,
        rows_quarantined=80,
        quarantine_reasons={"bad_check_digit": 80},
        coverage_days=90,
        retailers_expected=["walmart", "target"],
        retailers_with_data=["walmart", "target"],
    )
    return HarmonizeSignals(**{**base, **kw})


def line(name: str, **kw: Any) -> LineSignals:
    base: dict[str, Any] = dict(
        planned_spend=25_000,
        current_spend=25_000,
        observed_max_spend=30_000,
        predicted_return=100_000,
        marginal_roas=2.5,
        fit_r2=0.85,
        data_points=80,
        history_roas=4.0,
        recent_roas=4.1,
    )
    return LineSignals(name=name, **{**base, **kw})


def clean_lines() -> list[LineSignals]:
    return [
        line(
            "walmart/search",
            planned_spend=40_000,
            current_spend=30_000,
            observed_max_spend=45_000,
            predicted_return=168_000,
            data_points=90,
            history_roas=4.3,
        ),
        line(
            "target/display",
            planned_spend=35_000,
            current_spend=40_000,
            observed_max_spend=50_000,
            predicted_return=140_000,
            data_points=60,
            history_roas=4.2,
        ),
        line(
            "kroger/onsite",
            planned_spend=25_000,
            current_spend=30_000,
            observed_max_spend=35_000,
            predicted_return=95_000,
            data_points=120,
            history_roas=3.7,
        ),
    ]


def clean_optimize(**kw: Any) -> OptimizeSignals:
    base: dict[str, Any] = dict(
        solver_status="optimal",
        lines=clean_lines(),
        budget=100_000,
        roas_floor=3.0,
        predicted_roas=4.03,
        binding_constraints=["total_budget"],
    )
    return OptimizeSignals(**{**base, **kw})


def clean_measure(**kw: Any) -> MeasureSignals:
    base: dict[str, Any] = dict(
        power=0.86,
        mde=0.04,
        expected_lift=0.05,
        simulated_power=0.84,
        simulations=2000,
        duration_days=28,
        max_duration_days=42,
    )
    return MeasureSignals(**{**base, **kw})


def reflect(phase: str, signals: Any, **kw: Any) -> Any:
    return ENGINE.reflect(phase, signals, session_id="s-1", **kw).decision


# --------------------------------------------------------------------------- harmonize


def test_sixty_percent_quarantined_is_a_critical_risk_and_blocks() -> None:
    decision = reflect(
        "harmonize", clean_harmonize(rows_quarantined=6_000, quarantine_reasons={"bad_date": 6_000})
    )
    assert decision.decision == "block"
    critical = [r for r in decision.risks if r.severity == "critical"]
    assert len(critical) == 1
    assert critical[0].triggered_by["quarantine_rate"] == pytest.approx(0.6)
    assert critical[0].triggered_by["top_reason"] == "bad_date"
    assert "critical risk" in decision.rationale


def test_clean_harmonize_proceeds_with_confidence_from_factors() -> None:
    decision = reflect("harmonize", clean_harmonize())
    assert decision.decision == "proceed"
    assert decision.confidence >= decision.threshold == 0.7
    names = {f.name for f in decision.factors}
    assert {"quarantine_rate", "coverage_days", "retailer_coverage"} <= names
    assert decision.signals["rows_in"] == 10_000


def test_harmonize_escalates_on_missing_retailer_with_spend_and_flags_survivorship() -> None:
    decision = reflect(
        "harmonize",
        clean_harmonize(
            retailers_with_data=["walmart"], current_spend_by_retailer={"walmart": 5.0, "target": 5.0}
        ),
    )
    assert decision.decision == "escalate"
    assert [b.type for b in decision.biases] == [BiasType.SURVIVORSHIP]
    assert decision.biases[0].evidence["missing_current_spend_share"] == pytest.approx(0.5)


def test_unmapped_columns_ask_for_mapping_proposals() -> None:
    decision = reflect(
        "harmonize",
        clean_harmonize(unmapped_columns=["promo_flag", "store_cluster", "x", "y"], coverage_days=30),
    )
    factor = next(f for f in decision.factors if f.name == "unmapped_columns")
    assert factor.score == pytest.approx(0.6)
    assert any("unmapped" in r.factor for r in decision.risks)


# --------------------------------------------------------------------------- optimize


def extrapolated_plan() -> OptimizeSignals:
    # Within observed spend these lines return 3.0 x 60k + 2.5 x 40k... the floor is met only above it.
    lines = [
        line(
            "walmart/search",
            planned_spend=60_000,
            observed_max_spend=20_000,
            predicted_return=240_000,
            marginal_roas=3.0,
        ),
        line(
            "target/display",
            planned_spend=40_000,
            observed_max_spend=38_000,
            predicted_return=120_000,
            marginal_roas=2.9,
        ),
    ]
    return OptimizeSignals(
        solver_status="optimal", lines=lines, budget=100_000, roas_floor=3.2, predicted_roas=3.6
    )


def test_roas_floor_met_only_by_extrapolation_is_a_risk_and_revises() -> None:
    decision = reflect("optimize", extrapolated_plan())
    risk = next(r for r in decision.risks if r.factor == "ROAS floor met only by extrapolation")
    assert risk.severity == "high"
    assert risk.triggered_by["roas_within_observed"] < risk.triggered_by["roas_floor"] == 3.2
    assert decision.decision == "revise"
    assert decision.changes["cap_at_observed"] == ["walmart/search"]


def test_extrapolation_risk_escalates_once_revisions_are_used_up() -> None:
    decision = reflect("optimize", extrapolated_plan(), revisions_used=2)
    assert decision.decision == "escalate"
    assert decision.changes == {}
    assert "revisions exhausted" in decision.rationale


def test_plan_inside_observed_range_has_no_extrapolation_risk_and_proceeds() -> None:
    decision = reflect("optimize", clean_optimize())
    assert decision.decision == "proceed", decision.rationale
    assert not any("extrapolation" in r.factor for r in decision.risks)
    assert decision.biases == []
    frames = {f.frame: f.conclusion for f in decision.alternate_frames}
    assert any("still met" in c for c in frames.values())


def test_infeasible_constraints_revise_by_relaxing_the_named_constraint() -> None:
    decision = reflect(
        "optimize", clean_optimize(solver_status="infeasible", relaxable_constraints=["roas_floor"])
    )
    assert decision.decision == "revise"
    assert decision.changes == {"relax": "roas_floor"}


def test_solver_error_blocks_even_with_good_lines() -> None:
    assert reflect("optimize", clean_optimize(solver_status="solver_error")).decision == "block"


def test_poor_fits_on_funded_lines_ask_for_exploration() -> None:
    lines = clean_lines()
    lines[0] = lines[0].model_copy(update={"fit_r2": 0.1})
    decision = reflect("optimize", clean_optimize(lines=lines))
    assert decision.decision == "revise"
    assert decision.changes["explore_lines"] == ["walmart/search"]


# --------------------------------------------------------------------------- measure


def test_underpowered_design_revises_with_a_longer_duration() -> None:
    decision = reflect("measure", clean_measure(power=0.45, mde=0.08, simulated_power=0.47))
    assert decision.decision == "revise"
    # MDE scales with 1/sqrt(n): twice the MDE needs four times the duration, capped by the flight.
    assert "units_factor" in decision.changes or decision.changes["duration_days"] <= 42
    risk = next(r for r in decision.risks if r.factor.startswith("underpowered"))
    assert risk.triggered_by["power"] == 0.45


def test_underpowered_design_with_room_in_the_flight_extends_duration() -> None:
    decision = reflect("measure", clean_measure(power=0.7, mde=0.055, duration_days=21, max_duration_days=60))
    assert decision.decision == "revise"
    assert decision.changes["duration_days"] == 26  # ceil(21 * (0.055 / 0.05) ** 2)


def test_well_powered_design_proceeds() -> None:
    assert reflect("measure", clean_measure()).decision == "proceed"


def test_power_disagreeing_with_simulation_asks_for_more_simulations() -> None:
    decision = reflect("measure", clean_measure(simulated_power=0.6, simulations=200))
    assert decision.changes.get("simulations") == 2000


# --------------------------------------------------------------------------- create / govern and components


def test_critical_policy_violation_blocks() -> None:
    signals = GovernSignals(
        violations=[Violation(rule="unapproved_health_claim", severity="critical")],
        candidates=3,
        formats_expected=2,
        formats_covered=2,
    )
    decision = reflect("govern", signals)
    assert decision.decision == "block"


def test_high_violation_revises_by_regenerating_the_offending_format() -> None:
    signals = CreateSignals(
        violations=[Violation(rule="max_length", severity="high", target="walmart/sponsored_products")],
        candidates=3,
        formats_expected=2,
        formats_covered=2,
    )
    decision = reflect("create", signals)
    assert decision.decision == "revise"
    assert decision.changes == {"regenerate": ["walmart/sponsored_products"], "avoid_rules": ["max_length"]}


def test_template_fallback_lowers_confidence_and_is_named() -> None:
    with_model = reflect("create", CreateSignals(candidates=3, formats_expected=2, formats_covered=2))
    fallback = reflect(
        "create",
        CreateSignals(
            candidates=3,
            formats_expected=2,
            formats_covered=2,
            template_fallback_used=True,
            model_available=False,
        ),
    )
    assert fallback.decision == "proceed"
    assert fallback.confidence < with_model.confidence
    assert "template copy" in fallback.rationale


def test_component_down_lowers_confidence_and_is_in_the_rationale() -> None:
    ok = reflect("govern", GovernSignals(candidates=3))
    down = reflect(
        "govern",
        GovernSignals(
            candidates=3,
            clean_room_checked=False,
            components=[ComponentStatus(name="clean_room", status="down", detail="connection refused")],
        ),
    )
    assert down.confidence < ok.confidence
    assert "clean_room is down: connection refused" in down.rationale
    assert any(r.factor == "clean-room aggregation thresholds not verified" for r in down.risks)


def test_overspend_blocks_in_govern() -> None:
    assert reflect("govern", GovernSignals(candidates=3, budget_within_brief=False)).decision == "block"


def test_wrong_signal_type_for_phase_is_an_error() -> None:
    with pytest.raises(TypeError, match="needs MeasureSignals"):
        ENGINE.reflect("measure", clean_harmonize(), session_id="s")


def test_signals_as_mapping_are_validated_with_field_names() -> None:
    with pytest.raises(ValueError, match="rows_quarantined"):
        ENGINE.reflect(
            "harmonize", {"rows_in": 5, "rows_quarantined": 9, "coverage_days": 10}, session_id="s"
        )


# --------------------------------------------------------------------------- memory in the assessor


def test_similar_past_failure_raises_a_risk() -> None:
    failed = MemoryRef(
        scenario_id="old-1",
        summary="same brand, same retailers, floor missed",
        outcome="failure",
        similarity=0.93,
    )
    succeeded = MemoryRef(scenario_id="old-2", summary="similar", outcome="success", similarity=0.95)
    decision = reflect("optimize", clean_optimize(), memory_refs=[failed, succeeded])
    risk = next(r for r in decision.risks if "old-1" in r.factor)
    assert risk.severity == "high" and risk.triggered_by["similarity"] == 0.93
    assert decision.decision == "escalate"
    assert [m.scenario_id for m in decision.memory_refs] == ["old-1", "old-2"]
    only_success = reflect("optimize", clean_optimize(), memory_refs=[succeeded])
    assert only_success.decision == "proceed" and only_success.memory_refs[0].outcome == "success"


# --------------------------------------------------------------------------- bias detectors both ways


def test_recency_detector() -> None:
    stale = [line("a", recent_roas=2.0, history_roas=4.0), line("b")]
    assert bias.detect_recency(stale) is not None
    flag = bias.detect_recency(stale)
    assert flag is not None and flag.evidence["relative_gap"] == pytest.approx(0.5)
    assert bias.detect_recency([line("a", recent_roas=3.8, history_roas=4.0), line("b")]) is None


def test_anchoring_detector() -> None:
    anchored = [
        line("a", planned_spend=50, current_spend=50, marginal_roas=5.0),
        line("b", planned_spend=50, current_spend=50, marginal_roas=1.5),
    ]
    flag = bias.detect_anchoring(anchored)
    assert flag is not None and flag.evidence["marginal_roas_ratio"] == pytest.approx(5.0 / 1.5, rel=1e-3)
    moved = [
        line("a", planned_spend=80, current_spend=50, marginal_roas=5.0),
        line("b", planned_spend=20, current_spend=50, marginal_roas=1.5),
    ]
    assert bias.detect_anchoring(moved) is None
    equalised = [
        line("a", planned_spend=50, current_spend=50, marginal_roas=2.5),
        line("b", planned_spend=50, current_spend=50, marginal_roas=2.4),
    ]
    assert bias.detect_anchoring(equalised) is None


def test_availability_detector() -> None:
    by_volume = [
        line("a", planned_spend=60, data_points=300, history_roas=2.0),
        line("b", planned_spend=30, data_points=100, history_roas=3.0),
        line("c", planned_spend=10, data_points=20, history_roas=5.0),
    ]
    assert bias.detect_availability(by_volume) is not None
    by_return = [
        line("a", planned_spend=10, data_points=300, history_roas=2.0),
        line("b", planned_spend=30, data_points=100, history_roas=3.0),
        line("c", planned_spend=60, data_points=20, history_roas=5.0),
    ]
    assert bias.detect_availability(by_return) is None


def test_sunk_cost_detector() -> None:
    flag = bias.detect_sunk_cost([line("a", marginal_roas=1.2), line("b", marginal_roas=3.5)], roas_floor=2.0)
    assert flag is not None and flag.evidence["lines"] == "a" and flag.evidence["worst_marginal_roas"] == 1.2
    # A new line (no current spend) under the floor is exploration, not sunk cost.
    assert bias.detect_sunk_cost([line("a", marginal_roas=1.2, current_spend=0)], roas_floor=2.0) is None
    assert bias.detect_sunk_cost([line("a", marginal_roas=2.5)], roas_floor=2.0) is None


def test_overconfidence_detector() -> None:
    thin = [line("a", planned_spend=50, data_points=4, fit_r2=0.6), line("b", planned_spend=50)]
    assert bias.detect_overconfidence(thin) is not None
    assert bias.detect_overconfidence(thin, exploration_share=0.4) is None
    assert bias.detect_overconfidence([line("a"), line("b")]) is None


def test_survivorship_detector() -> None:
    assert bias.detect_survivorship(["a", "b"], ["a"], {"a": 1.0, "b": 3.0}) is not None
    assert bias.detect_survivorship(["a", "b"], ["b", "a"]) is None


def test_confirmation_detector() -> None:
    flag = bias.detect_confirmation(0.12, 0.04)
    assert flag is not None and flag.type == BiasType.CONFIRMATION
    assert bias.detect_confirmation(0.06, 0.04) is None
    assert bias.detect_confirmation(0.12, None) is None


def test_planted_sunk_cost_in_an_allocation_revises_away_from_the_line() -> None:
    lines = clean_lines()
    lines[2] = lines[2].model_copy(update={"marginal_roas": 1.1})
    decision = reflect("optimize", clean_optimize(lines=lines))
    assert BiasType.SUNK_COST in [b.type for b in decision.biases]
    assert decision.decision == "revise"
    assert decision.changes["reallocate_from"] == ["kroger/onsite"]


# --------------------------------------------------------------------------- seed interface and storage


def test_seed_interface_critical_risk_blocks_regardless_of_confidence() -> None:
    engine = ReflectionEngine(default_threshold=0.8)
    ctx = engine.create_context(Phase.OPTIMIZE, "session_123")
    engine.set_confidence(ctx, 0.99, "hand-set", supporting=["history"], contradicting=[])
    assert engine.should_proceed(ctx)
    engine.assess_risk(ctx, "retailer API outage", "critical", 0.9, "no delivery", "wait")
    engine.check_bias(ctx, BiasType.AVAILABILITY, "recent fluctuations")
    engine.add_alternate_frame(ctx, "cost vs benefit", "not worth it")
    decision = engine.make_decision(ctx, {"allocation": {"a": 1}}, "manual review")
    assert decision.decision == "block" and not engine.should_proceed(ctx)
    assert "confidence source: manual" in decision.rationale
    assert decision.data == {"allocation": {"a": 1}}


def test_unknown_phase_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown reflection phase 'forecasting'.*harmonize.*budgeting"):
        ENGINE.create_context("forecasting", "s")


def test_the_seed_example_runs_as_written(sqlite_db: Any) -> None:
    """The seed's integration snippet, word for word (its task name 'budgeting' is the optimize phase)."""
    with sqlite_db.get_session() as session:
        session.add(Tenant(id="seed", name="seed"))
    decision_data, rationale = {"allocation": {"walmart": 1.0}}, "budget within plan"
    engine = ReflectionEngine(default_threshold=0.8)
    context = engine.create_context("budgeting", "session_123")
    engine.set_confidence(context, 0.9, "history supports the split")
    with sqlite_db.get_session(tenant_id="seed") as db_session:
        if engine.should_proceed(context):
            engine.make_decision(context, decision_data, rationale)
            engine.save_to_database(context, db_session)
    with sqlite_db.get_session(tenant_id="seed") as session:
        row = session.exec(select(ReflectionLog).where(ReflectionLog.session_id == "session_123")).one()
    assert (row.phase, row.decision, row.tenant_id) == ("optimize", "proceed", "seed")
    assert rationale in row.rationale


def test_a_change_no_agent_can_apply_goes_to_a_person_in_the_first_decision() -> None:
    """Told what each phase can apply, the engine escalates instead of proposing a retry nobody can run."""
    engine = ReflectionEngine(0.8, max_revisions=2, revisable={"measure": ["design"]})
    ctx = engine.reflect("measure", clean_measure(power=0.5, mde=0.08, expected_lift=0.05), session_id="s")
    assert ctx.decision is not None and ctx.decision.decision == "escalate"
    assert "No automatic revision can apply" in ctx.decision.rationale
    assert ctx.applicable_changes() == {}


def test_decision_without_confidence_is_an_error() -> None:
    ctx = ENGINE.create_context("create", "s")
    with pytest.raises(ValueError, match="no confidence"):
        ENGINE.make_decision(ctx)


def test_thresholds_come_from_settings() -> None:
    settings = load_settings(
        reflection={"default_threshold": 0.9, "thresholds": {"measure": 0.99}, "max_revisions": 1}
    )
    engine = ReflectionEngine.from_settings(settings)
    assert engine.threshold_for("measure") == 0.99 and engine.threshold_for("create") == 0.9
    assert engine.create_context("measure", "s").max_revisions == 1
    # A design whose power was not checked by simulation (confidence ~0.988) clears 0.6, not 0.99.
    unchecked = clean_measure(simulated_power=None, simulations=0)
    assert engine.reflect("measure", unchecked, session_id="s").decision.decision == "escalate"
    assert ENGINE.reflect("measure", unchecked, session_id="s").decision.decision == "proceed"


def test_decision_is_json_serialisable() -> None:
    decision = reflect("optimize", extrapolated_plan())
    again = type(decision).model_validate_json(decision.model_dump_json())
    assert again == decision


def test_every_decision_writes_a_reflection_log_row(db: Any) -> None:
    cases = {
        "proceed": ("harmonize", clean_harmonize()),
        "block": ("harmonize", clean_harmonize(rows_quarantined=6_000)),
        "revise": ("optimize", extrapolated_plan()),
        "escalate": ("measure", clean_measure(feasible=False, problems=["only 4 markets"])),
    }
    with db.get_session() as session:
        session.add(Tenant(id="acme", name="Acme"))
    with db.get_session(tenant_id="acme") as session:
        for expected, (phase, signals) in cases.items():
            ctx = ENGINE.reflect(phase, signals, session_id="thread-9")
            assert ctx.decision is not None and ctx.decision.decision == expected
            ENGINE.save_to_database(ctx, session, tenant_id="acme", run_id="run-1")
    with db.get_session(tenant_id="acme") as session:
        rows = session.exec(select(ReflectionLog).order_by(ReflectionLog.id)).all()
        assert [r.decision for r in rows] == list(cases)
        block = rows[1]
        assert block.phase == "harmonize" and block.run_id == "run-1" and block.session_id == "thread-9"
        assert block.risks[0]["severity"] == "critical"
        assert block.signals["signals"]["rows_quarantined"] == 6_000
        assert rows[2].signals["changes"]["cap_at_observed"] == ["walmart/search"]
        assert rows[2].alternate_frames and rows[2].alternate_frames[0]["conclusion"]
