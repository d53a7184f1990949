"""Optimize gate: solver status, fit quality, spend beyond what history shows, binding constraints, biases."""

from __future__ import annotations

from dataclasses import dataclass

from rmnlora.reflection import bias
from rmnlora.reflection.assessors.scoring import bias_factor, clip
from rmnlora.reflection.context import ReflectionContext
from rmnlora.schemas.reflection import ConfidenceFactor, LineSignals, OptimizeSignals


@dataclass(frozen=True)
class OptimizeThresholds:
    inaccurate_score: float = 0.7  # solver status optimal_inaccurate
    fit_r2_floor: float = 0.3  # spend-weighted R² that scores 0
    fit_r2_span: float = 0.5  # ... and floor + span scores 1
    poor_fit_r2: float = 0.3
    poor_fit_budget_share: float = 0.1  # a poorly fitted line matters from this share of budget
    extrapolated_zero_share: float = 0.3  # budget share beyond observed spend that scores 0
    binding_penalty: float = 0.05  # per binding constraint


T = OptimizeThresholds()


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


def assess_optimize(ctx: ReflectionContext, s: OptimizeSignals) -> list[ConfidenceFactor]:
    status = s.solver_status.lower()
    if status in ("infeasible", "infeasible_inaccurate"):
        relax = (
            s.relaxable_constraints[0]
            if s.relaxable_constraints
            else ("roas_floor" if s.roas_floor else None)
        )
        ctx.add_risk(
            "constraints are infeasible",
            "high",
            1.0,
            "no allocation satisfies the brief",
            f"relax {relax}" if relax else "a person must change the brief's constraints",
            triggered_by={"solver_status": status, "roas_floor": s.roas_floor},
        )
        if relax:
            ctx.propose_change("relax", relax)
        return [ConfidenceFactor(name="solver_status", score=0.0, value=status, weight=2)]
    if status not in ("optimal", "optimal_inaccurate"):
        ctx.add_risk(
            f"solver returned {status}",
            "critical",
            1.0,
            "the allocation is not trustworthy",
            "inspect the optimizer input",
            triggered_by={"solver_status": status},
        )
        return [ConfidenceFactor(name="solver_status", score=0.0, value=status, weight=2)]
    factors = [
        ConfidenceFactor(
            name="solver_status", score=1.0 if status == "optimal" else T.inaccurate_score, value=status
        )
    ]
    budget = sum(line.planned_spend for line in s.lines) or s.budget

    fitted = [line for line in s.lines if line.planned_spend > 0]
    r2w = (
        sum((line.fit_r2 if line.fit_r2 is not None else 0.5) * line.planned_spend for line in fitted)
        / budget
    )
    factors.append(
        ConfidenceFactor(
            name="fit_r2", score=clip((r2w - T.fit_r2_floor) / T.fit_r2_span), value=round(r2w, 4), weight=1.5
        )
    )
    poor = [
        line
        for line in fitted
        if line.fit_r2 is not None
        and line.fit_r2 < T.poor_fit_r2
        and line.planned_spend / budget >= T.poor_fit_budget_share
    ]
    if poor:
        ctx.add_risk(
            "poorly fitted curves carry budget: " + ", ".join(p.name for p in poor),
            "high",
            0.6,
            "predicted returns on those lines are guesses",
            "explore those lines with stated priors",
            triggered_by={"min_fit_r2": min(p.fit_r2 or 0.0 for p in poor), "lines": len(poor)},
        )
        ctx.propose_change("explore_lines", [p.name for p in poor])

    extrap = _extrapolating(s)
    excess = sum(line.planned_spend - line.observed_max_spend for line in extrap)
    extrap_share = excess / budget
    factors.append(
        ConfidenceFactor(
            name="extrapolated_share",
            score=clip(1 - extrap_share / T.extrapolated_zero_share),
            value=round(extrap_share, 4),
        )
    )
    in_range = roas_within_observed_range(s)
    if extrap:
        ctx.add_risk(
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
        ctx.add_risk(
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
        ctx.propose_change("cap_at_observed", [line.name for line in extrap])

    n_binding = len(s.binding_constraints)
    factors.append(
        ConfidenceFactor(
            name="binding_constraints",
            score=clip(1 - T.binding_penalty * n_binding),
            value=n_binding,
            weight=0.5,
        )
    )
    if "roas_floor" in s.binding_constraints:
        ctx.add_risk(
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
        ctx.add_risk(
            "budget kept on lines returning less than elsewhere",
            "medium",
            0.6,
            sunk.note,
            "move that budget to lines with higher marginal ROAS",
            triggered_by=sunk.evidence,
        )
        ctx.propose_change("reallocate_from", str(sunk.evidence["lines"]).split(","))
    for flag in (
        bias.detect_anchoring(s.lines),
        bias.detect_availability(s.lines),
        bias.detect_recency(s.lines),
        bias.detect_overconfidence(s.lines, exploration_share=s.exploration_share),
    ):
        ctx.record_bias(flag)
    factors.append(bias_factor(len(ctx.biases)))

    ctx.add_frame(
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
    ctx.add_frame(
        "cost vs benefit: predicted return per unit of spend",
        f"{total_return:,.0f} predicted for {budget:,.0f} spent (ROAS {total_return / budget:.2f})"
        if budget
        else "n/a",
    )
    return factors
