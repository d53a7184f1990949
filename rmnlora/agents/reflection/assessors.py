"""Assessors: from each agent's measured signals to confidence factors, risks, bias flags and changes.

Confidence is the weighted geometric mean of factor scores in [0, 1], so one very bad signal
(a 0 for a failed solver) pulls the whole phase down instead of being averaged away. Parts that
are unconfigured or down and similar past failures from memory enter as factors too, and are
named in the rationale.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rmnlora.agents.reflection import bias
from rmnlora.agents.reflection.engine import ReflectionContext, ReflectionEngine
from rmnlora.schemas.reflection import (
    FAILED_OUTCOMES,
    SIGNALS_BY_PHASE,
    BiasFlag,
    ComponentStatus,
    ConfidenceFactor,
    ContentSignals,
    GovernSignals,
    HarmonizeSignals,
    LineSignals,
    MeasureSignals,
    MemoryRef,
    OptimizeSignals,
    Phase,
    PhaseSignals,
)

MEMORY_SIMILARITY = 0.7
NEAR_DUPLICATE_SIMILARITY = 0.9


def _clip(value: float) -> float:
    return max(0.0, min(1.0, value))


def combine(factors: Sequence[ConfidenceFactor]) -> float:
    """Weighted geometric mean of the factor scores (each floored at 0.001)."""
    if not factors:
        raise ValueError("no confidence factors: an assessor must measure something")
    total = sum(f.weight for f in factors)
    log_sum = sum(f.weight * math.log(max(f.score, 0.001)) for f in factors)
    return round(_clip(math.exp(log_sum / total)), 4)


def _record_bias(ctx: ReflectionContext, flag: BiasFlag | None) -> None:
    if flag is not None:
        ctx.biases.append(flag)


def _bias_factor(flags: int) -> ConfidenceFactor:
    return ConfidenceFactor(name="bias_flags", score=_clip(1 - 0.1 * flags), value=flags, weight=0.5)


# --------------------------------------------------------------------------- harmonize


def assess_harmonize(
    engine: ReflectionEngine, ctx: ReflectionContext, s: HarmonizeSignals
) -> list[ConfidenceFactor]:
    factors: list[ConfidenceFactor] = []
    if s.rows_in == 0:
        engine.assess_risk(
            ctx,
            "no rows to plan on",
            "critical",
            1.0,
            "no curve can be fitted",
            "supply the retailer exports",
            triggered_by={"rows_in": 0},
        )
        return [ConfidenceFactor(name="rows", score=0.0, value=0, weight=2)]
    rate = s.rows_quarantined / s.rows_in
    top_reason = (
        max(s.quarantine_reasons, key=lambda k: s.quarantine_reasons[k]) if s.quarantine_reasons else None
    )
    factors.append(
        ConfidenceFactor(name="quarantine_rate", score=_clip(1 - rate / 0.25), value=round(rate, 4), weight=2)
    )
    trig = {
        "rows_in": s.rows_in,
        "rows_quarantined": s.rows_quarantined,
        "quarantine_rate": round(rate, 4),
        "top_reason": top_reason,
    }
    fix = (
        f"fix the exports or mapping behind '{top_reason}'" if top_reason else "inspect the quarantine table"
    )
    if rate >= 0.5:
        engine.assess_risk(
            ctx,
            f"{rate:.0%} of rows quarantined",
            "critical",
            0.95,
            "the plan would rest on a minority of the data",
            fix,
            triggered_by=trig,
        )
    elif rate >= 0.2:
        engine.assess_risk(
            ctx,
            f"{rate:.0%} of rows quarantined",
            "high",
            0.7,
            "returns may be misjudged for the affected lines",
            fix,
            triggered_by=trig,
        )
    elif rate >= 0.05:
        engine.assess_risk(
            ctx,
            f"{rate:.0%} of rows quarantined",
            "medium",
            0.4,
            "some lines have gaps",
            fix,
            triggered_by=trig,
        )

    if s.missing_required_fields:
        engine.assess_risk(
            ctx,
            "required RMIS fields unmapped: " + ", ".join(s.missing_required_fields),
            "critical",
            1.0,
            "spend or returns cannot be computed",
            "map the fields for this retailer",
            triggered_by={"missing_required_fields": len(s.missing_required_fields)},
        )
        factors.append(
            ConfidenceFactor(name="required_fields", score=0.0, value=len(s.missing_required_fields))
        )
    n_unmapped = len(s.unmapped_columns)
    factors.append(
        ConfidenceFactor(
            name="unmapped_columns", score=_clip(1 - 0.1 * n_unmapped), value=n_unmapped, weight=0.5
        )
    )
    if n_unmapped:
        engine.assess_risk(
            ctx,
            f"{n_unmapped} source column(s) unmapped",
            "medium",
            0.3,
            "information in those columns is ignored",
            "review the mapping proposals",
            triggered_by={"unmapped_columns": ",".join(s.unmapped_columns)},
        )
        engine.propose_change(ctx, "apply_mapping_proposals", list(s.unmapped_columns))

    days_ratio = s.coverage_days / s.required_days
    factors.append(ConfidenceFactor(name="coverage_days", score=_clip(days_ratio), value=s.coverage_days))
    if days_ratio < 0.5:
        engine.assess_risk(
            ctx,
            f"only {s.coverage_days} days of history",
            "medium",
            0.6,
            "response curves will be uncertain",
            "use an exploration split with stated priors",
            triggered_by={"coverage_days": s.coverage_days, "required_days": s.required_days},
        )

    if s.retailers_expected:
        have = [r for r in s.retailers_expected if r in set(s.retailers_with_data)]
        coverage = len(have) / len(s.retailers_expected)
        factors.append(
            ConfidenceFactor(name="retailer_coverage", score=coverage, value=round(coverage, 4), weight=1.5)
        )
        missing = [r for r in s.retailers_expected if r not in set(have)]
        if missing:
            spent = sum(s.current_spend_by_retailer.get(r, 0.0) for r in missing)
            engine.assess_risk(
                ctx,
                "no usable data for " + ", ".join(missing),
                "high" if coverage < 0.5 or spent > 0 else "medium",
                0.8,
                "these retailers would be planned blind",
                "obtain their exports or drop them from the brief",
                triggered_by={
                    "retailers_missing": len(missing),
                    "retailer_coverage": round(coverage, 4),
                    "missing_current_spend": spent,
                },
            )
        _record_bias(
            ctx,
            bias.detect_survivorship(
                s.retailers_expected, s.retailers_with_data, s.current_spend_by_retailer
            ),
        )

    engine.add_alternate_frame(
        ctx,
        "worst case: every quarantined row belonged to the best-performing line",
        f"{rate:.0%} of rows unseen; "
        + ("tolerable" if rate < 0.05 else "the ranking of lines could change"),
    )
    engine.add_alternate_frame(
        ctx,
        "cost vs benefit: fix the data first vs plan now",
        "plan now: the data are nearly complete"
        if rate < 0.05 and not s.missing_required_fields
        else "fixing the data first is cheaper than a misallocated budget",
    )
    factors.append(_bias_factor(len(ctx.biases)))
    return factors


# --------------------------------------------------------------------------- optimize


def _extrapolating(s: OptimizeSignals) -> list[LineSignals]:
    return [
        line
        for line in s.lines
        if line.planned_spend > 0 and line.planned_spend > s.extrapolation_tolerance * line.observed_max_spend
    ]


def roas_within_observed_range(s: OptimizeSignals) -> float | None:
    """ROAS if spend beyond each line's observed maximum returned nothing (the curve is unknown there)."""
    if s.predicted_roas_observed_range is not None:
        return s.predicted_roas_observed_range
    spend = sum(line.planned_spend for line in s.lines)
    if spend <= 0:
        return None
    capped = 0.0
    for line in s.lines:
        if line.planned_spend <= 0:
            continue
        fraction = min(1.0, line.observed_max_spend / line.planned_spend)
        capped += line.predicted_return * fraction
    return capped / spend


def assess_optimize(
    engine: ReflectionEngine, ctx: ReflectionContext, s: OptimizeSignals
) -> list[ConfidenceFactor]:
    status = s.solver_status.lower()
    if status in ("infeasible", "infeasible_inaccurate"):
        relax = (
            s.relaxable_constraints[0]
            if s.relaxable_constraints
            else ("roas_floor" if s.roas_floor else None)
        )
        engine.assess_risk(
            ctx,
            "constraints are infeasible",
            "high",
            1.0,
            "no allocation satisfies the brief",
            f"relax {relax}" if relax else "a person must change the brief's constraints",
            triggered_by={"solver_status": status, "roas_floor": s.roas_floor},
        )
        if relax:
            engine.propose_change(ctx, "relax", relax)
        return [ConfidenceFactor(name="solver_status", score=0.0, value=status, weight=2)]
    if status not in ("optimal", "optimal_inaccurate"):
        engine.assess_risk(
            ctx,
            f"solver returned {status}",
            "critical",
            1.0,
            "the allocation is not trustworthy",
            "inspect the optimizer input",
            triggered_by={"solver_status": status},
        )
        return [ConfidenceFactor(name="solver_status", score=0.0, value=status, weight=2)]
    factors = [
        ConfidenceFactor(name="solver_status", score=1.0 if status == "optimal" else 0.7, value=status)
    ]
    budget = sum(line.planned_spend for line in s.lines) or s.budget

    fitted = [line for line in s.lines if line.planned_spend > 0]
    r2w = (
        sum((line.fit_r2 if line.fit_r2 is not None else 0.5) * line.planned_spend for line in fitted)
        / budget
    )
    factors.append(
        ConfidenceFactor(name="fit_r2", score=_clip((r2w - 0.3) / 0.5), value=round(r2w, 4), weight=1.5)
    )
    poor = [
        line
        for line in fitted
        if line.fit_r2 is not None and line.fit_r2 < 0.3 and line.planned_spend / budget >= 0.1
    ]
    if poor:
        engine.assess_risk(
            ctx,
            "poorly fitted curves carry budget: " + ", ".join(p.name for p in poor),
            "high",
            0.6,
            "predicted returns on those lines are guesses",
            "explore those lines with stated priors",
            triggered_by={"min_fit_r2": min(p.fit_r2 or 0.0 for p in poor), "lines": len(poor)},
        )
        engine.propose_change(ctx, "explore_lines", [p.name for p in poor])

    extrap = _extrapolating(s)
    excess = sum(line.planned_spend - line.observed_max_spend for line in extrap)
    extrap_share = excess / budget
    factors.append(
        ConfidenceFactor(
            name="extrapolated_share", score=_clip(1 - extrap_share / 0.3), value=round(extrap_share, 4)
        )
    )
    in_range = roas_within_observed_range(s)
    if extrap:
        engine.assess_risk(
            ctx,
            f"{extrap_share:.0%} of budget beyond observed spend",
            "medium",
            0.5,
            "returns there come from the curve's extrapolation",
            "cap lines at their observed maximum or test the increase",
            triggered_by={"extrapolated_share": round(extrap_share, 4), "lines": len(extrap)},
        )
    if (
        s.roas_floor is not None
        and s.predicted_roas is not None
        and in_range is not None
        and s.predicted_roas >= s.roas_floor > in_range
    ):
        engine.assess_risk(
            ctx,
            "ROAS floor met only by extrapolation",
            "high",
            0.7,
            f"within observed spend the plan returns {in_range:.2f} < floor {s.roas_floor:.2f}",
            "cap extrapolating lines at their observed maximum",
            triggered_by={
                "predicted_roas": s.predicted_roas,
                "roas_within_observed": round(in_range, 4),
                "roas_floor": s.roas_floor,
            },
        )
        engine.propose_change(ctx, "cap_at_observed", [line.name for line in extrap])

    n_binding = len(s.binding_constraints)
    factors.append(
        ConfidenceFactor(
            name="binding_constraints", score=_clip(1 - 0.05 * n_binding), value=n_binding, weight=0.5
        )
    )
    if "roas_floor" in s.binding_constraints:
        engine.assess_risk(
            ctx,
            "ROAS floor is binding",
            "low",
            0.5,
            "more budget would lower ROAS below the floor",
            "accept the floor or relax it",
            triggered_by={"roas_floor": s.roas_floor},
        )

    sunk = bias.detect_sunk_cost(s.lines, s.roas_floor)
    if sunk is not None:
        ctx.biases.append(sunk)
        engine.assess_risk(
            ctx,
            "budget kept on lines returning less than elsewhere",
            "medium",
            0.6,
            sunk.note,
            "move that budget to lines with higher marginal ROAS",
            triggered_by=sunk.evidence,
        )
        engine.propose_change(ctx, "reallocate_from", str(sunk.evidence["lines"]).split(","))
    for flag in (
        bias.detect_anchoring(s.lines),
        bias.detect_availability(s.lines),
        bias.detect_recency(s.lines),
        bias.detect_overconfidence(s.lines, exploration_share=s.exploration_share),
    ):
        _record_bias(ctx, flag)
    factors.append(_bias_factor(len(ctx.biases)))

    engine.add_alternate_frame(
        ctx,
        "worst case: spend beyond observed maxima returns nothing",
        "n/a"
        if in_range is None
        else (
            f"ROAS {in_range:.2f}"
            + (
                f" vs floor {s.roas_floor:.2f}: "
                + ("still met" if in_range >= s.roas_floor else "floor missed")
                if s.roas_floor is not None
                else ""
            )
        ),
    )
    total_return = sum(line.predicted_return for line in s.lines)
    engine.add_alternate_frame(
        ctx,
        "cost vs benefit: predicted return per unit of spend",
        f"{total_return:,.0f} predicted for {budget:,.0f} spent (ROAS {total_return / budget:.2f})"
        if budget
        else "n/a",
    )
    return factors


# --------------------------------------------------------------------------- measure


def assess_measure(
    engine: ReflectionEngine, ctx: ReflectionContext, s: MeasureSignals
) -> list[ConfidenceFactor]:
    factors = [
        ConfidenceFactor(name="power", score=_clip(s.power / s.target_power), value=s.power, weight=2),
        ConfidenceFactor(
            name="lift_over_mde",
            score=_clip(s.expected_lift / s.mde) if s.mde > 0 else 1.0,
            value=round(s.expected_lift / s.mde, 4) if s.mde > 0 else None,
            weight=1.5,
        ),
    ]
    if not s.feasible:
        engine.assess_risk(
            ctx,
            "no feasible experiment design",
            "high",
            1.0,
            "the plan's effect cannot be measured",
            "; ".join(s.problems) or "a person must choose",
            triggered_by={"problems": len(s.problems)},
        )
        factors.append(ConfidenceFactor(name="feasible", score=0.0, value=0))
    else:
        for problem in s.problems:
            engine.assess_risk(
                ctx, problem, "medium", 0.5, "the design may not hold as planned", "review the design"
            )
    trig = {"power": s.power, "target_power": s.target_power, "mde": s.mde, "expected_lift": s.expected_lift}
    if s.feasible and (s.power < s.target_power - 0.02 or s.mde > s.expected_lift):
        engine.assess_risk(
            ctx,
            f"underpowered design (power {s.power:.2f} < {s.target_power:.2f})",
            "high",
            1 - s.power,
            "a real effect would likely go undetected",
            "run longer or on more units",
            triggered_by=trig,
        )
        ratio = (s.mde / s.expected_lift) ** 2 if s.expected_lift > 0 else 4.0
        needed = math.ceil(max(s.duration_days, 1) * max(ratio, 1.1))
        if s.duration_days and (s.max_duration_days is None or needed <= s.max_duration_days):
            engine.propose_change(ctx, "duration_days", needed)
        else:
            engine.propose_change(ctx, "units_factor", round(max(ratio, 1.1), 2))
    if s.simulated_power is not None and abs(s.simulated_power - s.power) > 0.1:
        engine.assess_risk(
            ctx,
            "simulated and analytic power disagree",
            "high" if abs(s.simulated_power - s.power) > 0.15 else "medium",
            0.5,
            "the power figure may be wrong",
            "re-run with more simulations",
            triggered_by={"power": s.power, "simulated_power": s.simulated_power},
        )
        factors.append(
            ConfidenceFactor(
                name="power_agreement",
                score=_clip(1 - abs(s.simulated_power - s.power)),
                value=s.simulated_power,
            )
        )
        engine.propose_change(ctx, "simulations", max(2000, 2 * s.simulations))
    elif s.simulated_power is None or s.simulations < 500:
        factors.append(
            ConfidenceFactor(
                name="power_checked_by_simulation",
                score=0.9,
                value=s.simulations,
                weight=0.5,
                note="power not verified by enough simulations",
            )
        )
    _record_bias(ctx, bias.detect_confirmation(s.expected_lift, s.historical_lift))
    factors.append(_bias_factor(len(ctx.biases)))
    engine.add_alternate_frame(
        ctx,
        "worst case: the true lift is the MDE's half",
        f"probability of a null result at target {1 - s.power:.0%} or worse",
    )
    engine.add_alternate_frame(
        ctx,
        "cost vs benefit: a longer test vs a faster decision",
        "the design is adequate"
        if s.power >= s.target_power
        else "a longer or larger test is worth its holdout cost",
    )
    return factors


# --------------------------------------------------------------------------- create / govern


def assess_content(
    engine: ReflectionEngine, ctx: ReflectionContext, s: ContentSignals
) -> list[ConfidenceFactor]:
    counts = s.counts()
    factors = [
        ConfidenceFactor(
            name="violations",
            value=sum(counts.values()),
            score=_clip(
                1
                - 0.5 * counts["critical"]
                - 0.25 * counts["high"]
                - 0.1 * counts["medium"]
                - 0.02 * counts["low"]
            ),
            weight=2,
        )
    ]
    by_sev: dict[str, list[Any]] = {}
    for violation in s.violations:
        by_sev.setdefault(violation.severity, []).append(violation)
    for severity in ("critical", "high", "medium"):
        items = by_sev.get(severity, [])
        if not items:
            continue
        rules = sorted({v.rule for v in items})
        engine.assess_risk(
            ctx,
            f"{len(items)} {severity} violation(s): " + ", ".join(rules),
            severity,  # type: ignore[arg-type]
            0.9 if severity == "critical" else 0.6,
            "copy or plan breaks " + ", ".join(rules),
            "remove the offending claims or terms" if severity != "critical" else "a person must rewrite it",
            triggered_by={severity: len(items)},
        )
        if severity == "high":
            engine.propose_change(ctx, "regenerate", sorted({v.target for v in items if v.target}) or ["all"])
            engine.propose_change(ctx, "avoid_rules", rules)
    if s.formats_expected:
        cov = s.formats_covered / s.formats_expected
        factors.append(ConfidenceFactor(name="format_coverage", score=_clip(cov), value=round(cov, 4)))
        if s.candidates == 0:
            engine.assess_risk(
                ctx,
                "no copy candidates",
                "high",
                1.0,
                "nothing to run",
                "generate again",
                triggered_by={"candidates": 0},
            )
            engine.propose_change(ctx, "regenerate", ["all"])
    if s.template_fallback_used or not s.model_available:
        factors.append(
            ConfidenceFactor(
                name="generation_model",
                score=0.85,
                value="template",
                note="model unavailable, template copy used",
            )
        )
        ctx.rationale.append("Creative used labelled template copy because the model is unavailable.")
        engine.assess_risk(
            ctx,
            "template copy instead of model copy",
            "low",
            1.0,
            "copy is generic",
            "configure the model and regenerate",
            triggered_by={"template_fallback_used": 1},
        )
    if isinstance(s, GovernSignals):
        if not s.budget_within_brief:
            engine.assess_risk(
                ctx,
                "no allocation within the brief's budget (none was made, or it breaks a budget check)",
                "critical",
                1.0,
                "overspend",
                "re-run the optimizer",
                triggered_by={"budget_within_brief": 0},
            )
            factors.append(ConfidenceFactor(name="budget_sanity", score=0.0, value=0))
        if not s.clean_room_checked:
            factors.append(
                ConfidenceFactor(
                    name="clean_room_check",
                    score=0.8,
                    value="skipped",
                    note="aggregation thresholds not verified",
                )
            )
            engine.assess_risk(
                ctx,
                "clean-room aggregation thresholds not verified",
                "medium",
                0.3,
                "audience counts could be below the minimum",
                "run the clean-room check",
                triggered_by={"clean_room_checked": 0},
            )
    engine.add_alternate_frame(
        ctx,
        "worst case: the retailer's reviewer reads the copy strictly",
        "no blocking issue"
        if not (counts["critical"] or counts["high"])
        else f"{counts['critical'] + counts['high']} issue(s) would be rejected",
    )
    return factors


# --------------------------------------------------------------------------- shared


def assess_components(
    engine: ReflectionEngine, ctx: ReflectionContext, components: Sequence[ComponentStatus]
) -> list[ConfidenceFactor]:
    factors = []
    for part in components:
        if part.status == "ok":
            continue
        score = 0.85 if part.status == "unconfigured" else 0.7
        factors.append(
            ConfidenceFactor(name=f"component:{part.name}", score=score, value=part.status, note=part.detail)
        )
        ctx.rationale.append(f"{part.name} is {part.status}" + (f": {part.detail}." if part.detail else "."))
        engine.assess_risk(
            ctx,
            f"{part.name} {part.status}",
            "medium" if part.status == "down" else "low",
            1.0,
            "the step ran without it",
            f"configure or restart {part.name}",
            triggered_by={"component": part.name, "status": part.status},
        )
    return factors


def assess_memory(
    engine: ReflectionEngine, ctx: ReflectionContext, refs: Sequence[MemoryRef]
) -> list[ConfidenceFactor]:
    engine.add_memory_refs(ctx, refs)
    failures = [r for r in refs if r.outcome in FAILED_OUTCOMES and r.similarity >= MEMORY_SIMILARITY]
    if not failures:
        return []
    worst = max(failures, key=lambda r: r.similarity)
    engine.assess_risk(
        ctx,
        f"a similar past scenario ended '{worst.outcome}' ({worst.scenario_id})",
        "high" if worst.similarity >= NEAR_DUPLICATE_SIMILARITY else "medium",
        round(worst.similarity, 4),
        "the same failure may repeat: " + worst.summary[:200],
        "review what went wrong last time",
        triggered_by={"similarity": round(worst.similarity, 4), "similar_failures": len(failures)},
    )
    return [
        ConfidenceFactor(
            name="similar_past_failure",
            score=_clip(1 - 0.5 * worst.similarity),
            value=round(worst.similarity, 4),
        )
    ]


Assessor = Callable[[ReflectionEngine, ReflectionContext, Any], list[ConfidenceFactor]]
ASSESSORS: dict[Phase, Assessor] = {
    Phase.HARMONIZE: assess_harmonize,
    Phase.OPTIMIZE: assess_optimize,
    Phase.MEASURE: assess_measure,
    Phase.CREATE: assess_content,
    Phase.GOVERN: assess_content,
}


def coerce_signals(phase: Phase, signals: PhaseSignals | Mapping[str, Any]) -> PhaseSignals:
    """The phase's signal model; a mapping is validated, a model of the wrong phase is an error."""
    expected = SIGNALS_BY_PHASE[phase]
    if isinstance(signals, Mapping):
        return expected.model_validate(dict(signals))  # type: ignore[return-value]
    if not isinstance(signals, expected):
        raise TypeError(f"phase {phase.value!r} needs {expected.__name__}, got {type(signals).__name__}")
    return signals


def assess(
    engine: ReflectionEngine,
    ctx: ReflectionContext,
    signals: PhaseSignals | Mapping[str, Any],
    *,
    memory_refs: Sequence[MemoryRef] = (),
) -> None:
    """Run the phase's assessor and record confidence (from the measured factors) on ``ctx``."""
    model = coerce_signals(ctx.phase, signals)
    ctx.signals = model.model_dump(mode="json")
    factors = ASSESSORS[ctx.phase](engine, ctx, model)
    factors += assess_components(engine, ctx, model.components)
    factors += assess_memory(engine, ctx, memory_refs)
    confidence = combine(factors)
    engine.set_confidence(
        ctx,
        confidence,
        "",
        supporting=[f"{f.name}={f.value}" for f in factors if f.score >= 0.8],
        contradicting=[f"{f.name}={f.value}" for f in factors if f.score < 0.5],
        factors=factors,
    )
    ctx.rationale = [r for r in ctx.rationale if r]
