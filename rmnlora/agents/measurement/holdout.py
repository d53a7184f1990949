"""Audience holdout: withhold ads from a random share of an audience, compare in the clean room.

Market-level history says nothing about per-user variance, so the coefficient of variation of
the KPI per user is an explicit request input (reported as an assumption). The clean room only
releases aggregates over groups of at least ``min_aggregation`` users; a holdout smaller than
that could never be read out, so it is not offered.
"""

from __future__ import annotations

import math

import numpy as np
from statsmodels.stats.power import TTestIndPower

from rmnlora.agents.measurement.panel import design_fields, history_matrix
from rmnlora.agents.measurement.power import two_sample_mde, two_sample_power
from rmnlora.schemas.measurement import ExperimentDesign, ExperimentRequest

SHARES = np.round(np.arange(0.01, 0.51, 0.01), 2)


def design_holdout(request: ExperimentRequest) -> ExperimentDesign:
    """Smallest holdout share reaching the power, respecting the clean room's minimum group size."""
    history = request.history
    lift, alpha, target, cv = request.expected_lift, request.alpha, request.power, request.kpi_cv_per_user
    base = design_fields(request, "holdout", request.flight_days)
    warnings = [
        f"per-user KPI coefficient of variation assumed {cv:g} (set kpi_cv_per_user from the clean room)"
    ]
    size = request.audience_size
    if size is None:
        return ExperimentDesign(
            feasible=False,
            problems=["audience holdout needs the audience size (audience_size)"],
            suggestions=[
                "pass audience_size from the retailer's clean room, or use design 'geo'/'switchback'"
            ],
            warnings=warnings,
            **base,
        )
    effect = lift / cv
    min_group = request.min_aggregation
    chosen: float | None = None
    for share in SHARES:
        holdout = math.floor(size * share)
        if holdout < min_group:
            continue
        if two_sample_power(effect, size - holdout, holdout, alpha) >= target:
            chosen = float(share)
            break
    problems: list[str] = []
    suggestions: list[str] = []
    share = chosen if chosen is not None else 0.5
    holdout = math.floor(size * share)
    power = two_sample_power(effect, size - holdout, holdout, alpha) if holdout >= 2 else 0.0
    mde = two_sample_mde(size - holdout, holdout, alpha, target) * cv
    if holdout < min_group:
        problems.append(
            f"audience of {size} cannot form a holdout of {min_group} users (clean-room minimum aggregation)"
        )
        suggestions.append(f"an audience of at least {2 * min_group} users")
    if chosen is None:
        per_group = math.ceil(_nobs_per_group(effect, alpha, target))
        problems.append(
            f"even a 50% holdout gives power {power:.2f} < {target:.0%} for a {lift:.1%} lift "
            f"(minimum detectable effect {mde:.1%})"
        )
        suggestions.append(f"an audience of about {2 * per_group} users, or a lift of at least {mde:.1%}")
    level = float(history_matrix(history).sum(axis=0)[-min(history.days, 28) :].mean())
    return ExperimentDesign(
        feasible=not problems,
        problems=problems,
        suggestions=suggestions,
        warnings=warnings,
        power=power,
        mde=mde,
        holdout_share=share,
        holdout_size=holdout,
        baseline_per_unit_day=level,
        expected_incremental_kpi=lift * level * request.flight_days * (1 - share),
        treated_share_of_kpi=1 - share,
        treated_spend=request.allocation_total * (1 - share)
        if request.allocation_total is not None
        else None,
        noise_model=f"two-sample t-test on per-user KPI, cv {cv:g}",
        **base,
    )


def _nobs_per_group(effect: float, alpha: float, power: float) -> float:
    return float(TTestIndPower().solve_power(effect_size=effect, alpha=alpha, power=power, ratio=1.0))
