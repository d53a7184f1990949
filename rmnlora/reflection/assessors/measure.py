"""Measure gate: power against its target, MDE against the expected lift, simulated vs analytic power."""

from __future__ import annotations

import math
from dataclasses import dataclass

from rmnlora.reflection import bias
from rmnlora.reflection.assessors.scoring import bias_factor, clip
from rmnlora.reflection.context import ReflectionContext
from rmnlora.schemas.reflection import ConfidenceFactor, MeasureSignals


@dataclass(frozen=True)
class MeasureThresholds:
    power_slack: float = 0.02  # power this far under target still passes
    power_disagreement: float = 0.1  # |simulated - analytic| that is a risk
    power_disagreement_high: float = 0.15
    min_simulations: int = 500  # fewer: power counts as unverified
    resimulations: int = 2000  # at least this many on a re-run


T = MeasureThresholds()


def assess_measure(ctx: ReflectionContext, s: MeasureSignals) -> list[ConfidenceFactor]:
    factors = [
        ConfidenceFactor(name="power", score=clip(s.power / s.target_power), value=s.power, weight=2),
        ConfidenceFactor(
            name="lift_over_mde",
            score=clip(s.expected_lift / s.mde) if s.mde > 0 else 1.0,
            value=round(s.expected_lift / s.mde, 4) if s.mde > 0 else None,
            weight=1.5,
        ),
    ]
    if not s.feasible:
        ctx.add_risk(
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
            ctx.add_risk(problem, "medium", 0.5, "the design may not hold as planned", "review the design")
    trig = {"power": s.power, "target_power": s.target_power, "mde": s.mde, "expected_lift": s.expected_lift}
    if s.feasible and (s.power < s.target_power - T.power_slack or s.mde > s.expected_lift):
        ctx.add_risk(
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
            ctx.propose_change("duration_days", needed)
        else:
            ctx.propose_change("units_factor", round(max(ratio, 1.1), 2))
    if s.simulated_power is not None and abs(s.simulated_power - s.power) > T.power_disagreement:
        ctx.add_risk(
            "simulated and analytic power disagree",
            "high" if abs(s.simulated_power - s.power) > T.power_disagreement_high else "medium",
            0.5,
            "the power figure may be wrong",
            "re-run with more simulations",
            triggered_by={"power": s.power, "simulated_power": s.simulated_power},
        )
        factors.append(
            ConfidenceFactor(
                name="power_agreement",
                score=clip(1 - abs(s.simulated_power - s.power)),
                value=s.simulated_power,
            )
        )
        ctx.propose_change("simulations", max(T.resimulations, 2 * s.simulations))
    elif s.simulated_power is None or s.simulations < T.min_simulations:
        factors.append(
            ConfidenceFactor(
                name="power_checked_by_simulation",
                score=0.9,
                value=s.simulations,
                weight=0.5,
                note="power not verified by enough simulations",
            )
        )
    ctx.record_bias(bias.detect_confirmation(s.expected_lift, s.historical_lift))
    factors.append(bias_factor(len(ctx.biases)))
    ctx.add_frame(
        "worst case: the true lift is the MDE's half",
        f"probability of a null result at target {1 - s.power:.0%} or worse",
    )
    ctx.add_frame(
        "cost vs benefit: a longer test vs a faster decision",
        "the design is adequate"
        if s.power >= s.target_power
        else "a longer or larger test is worth its holdout cost",
    )
    return factors
