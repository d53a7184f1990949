"""From each phase's typed result to the measured signals its gate assesses.

Only numbers the agents measured go in; where an agent could not run, its error becomes a
signal (no data, infeasible, model down) rather than a default that looks healthy. This is the
one place that knows both an agent's result and the gate's signals, so neither depends on the other.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rmnlora.agents.governance.quality import KIND as COPY_QUALITY
from rmnlora.schemas.brief import CampaignBrief
from rmnlora.schemas.creative import CopyCandidate
from rmnlora.schemas.governance import GovernanceResult
from rmnlora.schemas.phases import (
    CreateResult,
    GovernResult,
    HarmonizeResult,
    MeasureResult,
    OptimizeResult,
)
from rmnlora.schemas.reflection import (
    ComponentStatus,
    CreateSignals,
    GovernSignals,
    HarmonizeSignals,
    LineSignals,
    MeasureSignals,
    OptimizeSignals,
    Severity,
    Violation,
)

REQUIRED_HISTORY_DAYS = 28
# Governance speaks the ad-review scale; reflection weighs risks on its own scale.
GOVERNANCE_TO_RISK_SEVERITY: dict[str, Severity] = {
    "info": "low",
    "warning": "medium",
    "critical": "critical",
}


def _named(components: Iterable[ComponentStatus], names: Sequence[str]) -> list[ComponentStatus]:
    return [c for c in components if c.name in names]


def harmonize_signals(brief: CampaignBrief, result: HarmonizeResult) -> HarmonizeSignals:
    reasons: dict[str, int] = {}
    for summary in result.summaries:
        for code, count in summary.quarantine_reasons.items():
            reasons[code] = reasons.get(code, 0) + count
    return HarmonizeSignals(
        rows_in=sum(s.rows_in for s in result.summaries),
        rows_quarantined=sum(s.rows_quarantined for s in result.summaries),
        quarantine_reasons=reasons,
        coverage_days=result.coverage.days,
        required_days=REQUIRED_HISTORY_DAYS,
        retailers_expected=[r.name for r in brief.retailers],
        retailers_with_data=[s.retailer for s in result.summaries if s.rows_accepted > 0],
        current_spend_by_retailer={r.name: r.current_spend for r in brief.retailers if r.current_spend},
        input_errors=dict(result.errors),
        mapping_warnings={s.retailer: list(s.warnings) for s in result.summaries if s.warnings},
        missing_crosswalks={
            s.retailer: s.products.note
            for s in result.summaries
            if s.products is not None and s.products.crosswalk_missing
        },
        components=_named(result.components, ("memory",)),
    )


def optimize_signals(brief: CampaignBrief, result: OptimizeResult) -> OptimizeSignals:
    allocation = result.allocation
    if allocation is None:
        return OptimizeSignals(
            solver_status="error",
            budget=brief.budget,
            roas_floor=brief.constraints.roas_floor,
            components=[ComponentStatus(name="optimizer", status="down", detail=result.error or "")],
        )
    problem = result.problem
    days = problem.days if problem else brief.flight.days
    lines_of_problem = {line.id: line for line in problem.lines} if problem else {}
    lines = []
    for line in allocation.lines:
        item = lines_of_problem.get(line.id)
        curve = item.curve if item else None
        observed = result.history.get(f"{line.retailer}/{line.placement}")
        lines.append(
            LineSignals(
                name=line.id,
                planned_spend=max(0.0, line.spend),
                current_spend=(item.current_spend if item else None) or 0.0,
                observed_max_spend=((curve.spend_max if curve else None) or 0.0) * days,
                # Attributed sales only: for clicks or reach the outcome is not money.
                predicted_return=max(0.0, line.predicted_sales or 0.0),
                marginal_roas=max(0.0, line.marginal_roas or 0.0),
                fit_r2=curve.r2 if curve else None,
                data_points=(curve.n_obs if curve else None) or (observed.rows if observed else 0),
                history_roas=observed.history_roas if observed else None,
                recent_roas=observed.recent_roas if observed else None,
            )
        )
    solver_status = "infeasible" if allocation.status == "infeasible" else allocation.solver_status.lower()
    return OptimizeSignals(
        solver_status=solver_status,
        lines=lines,
        budget=brief.budget,
        roas_floor=brief.constraints.roas_floor,
        predicted_roas=allocation.roas,
        binding_constraints=list(allocation.binding),
        components=_named(result.components, ("memory",)),
    )


def measure_signals(brief: CampaignBrief, result: MeasureResult) -> MeasureSignals:
    design = result.design
    if design is None:
        return MeasureSignals(
            power=0.0,
            target_power=brief.measurement.power,
            mde=1.0,
            expected_lift=brief.measurement.expected_lift,
            feasible=False,
            problems=[result.error or "no experiment design"],
            max_duration_days=brief.flight.days,
        )
    return MeasureSignals(
        design=design.kind,
        power=design.power or 0.0,
        target_power=design.target_power,
        mde=design.mde if design.mde is not None else 1.0,
        expected_lift=design.expected_lift,
        simulated_power=design.simulated_power,
        simulations=design.simulations,
        duration_days=design.duration_days,
        max_duration_days=brief.flight.days,
        feasible=design.feasible,
        problems=list(design.problems),
        components=_named(result.components, ("clean_room",)),
    )


def _violations(governance: GovernanceResult, target: str) -> list[Violation]:
    return [
        Violation(
            rule=v.rule_id,
            severity=GOVERNANCE_TO_RISK_SEVERITY.get(v.severity, "medium"),
            message=v.message,
            target=target,
        )
        for v in governance.violations
    ]


def unusable_reasons(candidates: Sequence[CopyCandidate]) -> list[str]:
    """Why candidates were rejected: each critical rule with how many candidates broke it, most first."""
    counts: dict[str, int] = {}
    for candidate in candidates:
        for rule in {v.rule_id for v in candidate.governance.critical}:
            counts[rule] = counts.get(rule, 0) + 1
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [f"{rule} ({n} of {len(candidates)} candidates)" for rule, n in ranked]


def create_signals(brief: CampaignBrief, result: CreateResult) -> CreateSignals:
    """Policy violations of each format's best candidate, and how many candidates per format are usable.

    Copy-quality findings (not ad copy: chatter, echoed instructions, cut-off text...) are counted as
    unusability, never passed on as policy violations: unusable copy is regenerated, then escalated,
    while a critical policy violation (the brief asks for a banned claim) blocks.
    """
    violations: list[Violation] = []
    usable: dict[str, int] = {}
    reasons: dict[str, list[str]] = {}
    for copy in result.copies:
        if not copy.candidates:
            continue  # no copy at all (an unknown format): counted by coverage, with its error
        target = f"{copy.retailer}/{copy.ad_format}"
        best = copy.candidates[0].governance
        policy = best.model_copy(
            update={"violations": [v for v in best.violations if v.kind != COPY_QUALITY]}
        )
        violations += _violations(policy, target)
        usable[target] = sum(1 for c in copy.candidates if c.governance.passed)
        if not usable[target]:
            reasons[target] = unusable_reasons(copy.candidates)
    statuses = _named(result.components, ("model",)) + [
        c for c in result.components if c.name.startswith("adapters:")
    ]
    return CreateSignals(
        violations=violations,
        candidates=sum(len(c.candidates) for c in result.copies),
        formats_expected=len(result.copies),
        formats_covered=sum(1 for c in result.copies if c.candidates),
        template_fallback_used=any(c.source == "template" for c in result.copies),
        model_available=any(s.name == "model" and s.status == "ok" for s in statuses),
        components=statuses,
        usable_by_format=usable,
        unusable_reasons=reasons,
    )


def govern_signals(brief: CampaignBrief, result: GovernResult) -> GovernSignals:
    violations: list[Violation] = []
    for copy in result.copies:
        if copy.chosen is not None:
            violations += _violations(copy.chosen.governance, copy.target)
    if result.budget is not None:
        violations += _violations(result.budget, "budget")
    for audience in result.clean_room.audiences:
        if audience.status == "ok" and not audience.passed:
            violations.append(
                Violation(
                    rule="clean_room:audience_reach",
                    severity="high",
                    message=f"audience '{audience.audience}' is below the clean room's minimum of "
                    f"{audience.min_aggregation} buyers: it can be neither targeted nor measured there",
                    target=f"{audience.retailer}/{audience.audience}",
                )
            )
    statuses = _named(result.components, ("clean_room", "model"))
    return GovernSignals(
        violations=violations,
        candidates=len(result.copies),
        formats_expected=len(result.copies),
        formats_covered=sum(1 for c in result.copies if c.chosen),
        template_fallback_used=any(c.source == "template" for c in result.copies),
        model_available=not any(s.name == "model" and s.status != "ok" for s in statuses),
        # No allocation (e.g. an infeasible brief a person let through) is not a budget within the brief.
        budget_within_brief=result.budget is not None and result.budget.passed,
        clean_room_checked=result.clean_room.status == "checked",
        components=statuses,
    )
