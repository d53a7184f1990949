"""Geo experiment design: matched market pairs, randomised sides, duration and power.

Markets are paired by pre-period KPI level (sorted, neighbours paired; with an odd count the
market whose removal leaves the closest pairs sits out). A coin flip per pair picks the treated
side, so the paired difference-in-differences is unbiased whatever the matching quality; good
matching only buys precision.
"""

from __future__ import annotations

import math

import numpy as np

from rmnlora.agents.measurement.noise import fit_ar_noise
from rmnlora.agents.measurement.panel import design_fields, history_matrix
from rmnlora.agents.measurement.power import (
    PairPowerInputs,
    PlaceboResult,
    min_post_days,
    pair_mde,
    pair_power,
    pairs_needed,
    placebo_pair_power,
    simulated_mde,
)
from rmnlora.schemas.measurement import ExperimentDesign, ExperimentRequest, MarketPair, PowerPoint

MIN_HISTORY_DAYS = 28
MIN_POST_DAYS = 7
LEVEL_WINDOW_DAYS = 91
#: Lifts the simulated power curve is computed at (the MDE search uses a finer grid).
REPORTED_LIFTS = (0.01, 0.02, 0.03, 0.05, 0.075, 0.10, 0.15, 0.20, 0.30)
REPORTED_DAYS = (14, 21, 28, 42, 56, 84)
#: Simulated power may fall this far below the target (simulation error) before it vetoes a design.
SIMULATION_SLACK = 0.05


def pre_period_days(history_days: int, post: int) -> int:
    """Pre-period length: at least four weeks, as long as the post period, never beyond history."""
    return int(min(history_days, max(post, MIN_HISTORY_DAYS)))


def match_pairs(levels: np.ndarray) -> tuple[list[tuple[int, int]], list[int]]:
    """Pair market indices by level; returns (pairs, left-out indices). Pairs are (lower, higher)."""
    order = [int(i) for i in np.argsort(levels, kind="stable")]
    left_out: list[int] = []
    if len(order) % 2 == 1:
        ranked = levels[order]
        best, best_cost = 0, math.inf
        for drop in range(0, len(order), 2):
            kept = np.delete(ranked, drop)
            cost = float(np.sum(np.abs(kept[1::2] - kept[0::2])))
            if cost < best_cost:
                best, best_cost = drop, cost
        left_out = [order.pop(best)]
    return [(order[i], order[i + 1]) for i in range(0, len(order), 2)], left_out


def _corr(a: np.ndarray, b: np.ndarray) -> float | None:
    if a.std() == 0 or b.std() == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def design_geo(request: ExperimentRequest) -> ExperimentDesign:
    """Matched-pair geo design for ``request``; infeasible designs say why instead of raising."""
    history = request.history
    matrix = history_matrix(history)
    days = history.days
    post = request.flight_days
    pre = pre_period_days(days, post)
    lift, alpha, target = request.expected_lift, request.alpha, request.power
    problems: list[str] = []
    suggestions: list[str] = []
    warnings: list[str] = []
    base = {**design_fields(request, "geo", post), "pre_days": pre}

    # Levels for matching and for the lift come from a fixed recent window, not the pre-period,
    # so the same history gives the same pairs whatever flight length is asked about.
    levels_all = matrix[:, days - min(days, LEVEL_WINDOW_DAYS) :].mean(axis=1)
    active = np.flatnonzero(levels_all > 0)
    inactive = [history.markets[i] for i in np.flatnonzero(levels_all <= 0)]
    if inactive:
        warnings.append(
            f"{len(inactive)} market(s) with no {history.kpi} in the last {LEVEL_WINDOW_DAYS} days left out"
        )
    if len(active) < request.min_markets:
        problems.append(
            f"too few markets: {len(active)} with {history.kpi} > 0, a geo test needs at least "
            f"{request.min_markets} ({request.min_markets // 2} matched pairs)"
        )
        suggestions.append(
            f"add markets (stores/DMAs/regions) to reach {request.min_markets}, or use design 'switchback'"
            + (" or 'holdout'" if request.audience_size else "")
        )
    if days < MIN_HISTORY_DAYS:
        problems.append(f"history too short: {days} days, the pre-period needs at least {MIN_HISTORY_DAYS}")
        suggestions.append(
            f"supply at least {MIN_HISTORY_DAYS} days of history (ideally {MIN_HISTORY_DAYS + post})"
        )
    if post < MIN_POST_DAYS:
        problems.append(f"flight too short: {post} days, a geo test needs at least {MIN_POST_DAYS}")
        suggestions.append(f"extend the flight to at least {MIN_POST_DAYS} days")
    if problems:
        return ExperimentDesign(
            feasible=False, problems=problems, suggestions=suggestions, warnings=warnings, **base
        )

    rng = np.random.default_rng(request.seed)
    pairs_local, left_local = match_pairs(levels_all[active])
    excluded = inactive + [history.markets[active[i]] for i in left_local]
    flips = rng.random(len(pairs_local)) < 0.5
    treat_idx = np.array(
        [active[b] if f else active[a] for (a, b), f in zip(pairs_local, flips, strict=True)]
    )
    control_idx = np.array(
        [active[a] if f else active[b] for (a, b), f in zip(pairs_local, flips, strict=True)]
    )

    search = {p: pre_period_days(days, p) for p in range(MIN_POST_DAYS, max(post, 365) + 1)}
    max_lag = max(p + q for p, q in search.items())
    noise = fit_ar_noise(matrix[treat_idx] - matrix[control_idx], max_lag=max_lag)
    # Power conditional on this assignment: the lift scales the treated markets' own levels,
    # and the spread of those per-pair effects enters the t-test's variance across pairs.
    treated_levels = levels_all[treat_idx]
    inputs = PairPowerInputs(
        n_pairs=len(treat_idx),
        mean_level=float(treated_levels.mean()),
        level_variance=float(treated_levels.var(ddof=1)),
        noise=noise,
    )
    power = pair_power(inputs, pre, post, lift, alpha)
    mde = pair_mde(inputs, pre, post, alpha, target)
    min_days = min_post_days(inputs, search, lift, alpha, target)

    curve_lifts = _curve_lifts(lift)
    placebo = (
        placebo_pair_power(
            matrix,
            treat_idx,
            control_idx,
            min(pre, days - post),
            post,
            lift,
            alpha,
            request.simulations,
            rng,
            lifts=curve_lifts.tolist(),
        )
        if days - post >= MIN_POST_DAYS
        else None
    )
    if placebo is None:
        warnings.append(
            f"power not checked by simulation: history ({days} days) is too short for a placebo window of "
            f"{MIN_POST_DAYS}+{post} days"
        )
    else:
        if abs(placebo.power - power) > 0.05:
            warnings.append(
                f"analytic power {power:.2f} and placebo power {placebo.power:.2f} disagree by more than 5 "
                "points: the noise model may miss seasonality or trends in this history"
            )
        if placebo.false_positive_rate > 2 * alpha:
            warnings.append(
                f"placebo false-positive rate {placebo.false_positive_rate:.3f} exceeds 2×alpha: markets "
                "diverge over time; prefer a shorter pre-period or synthetic-control analysis"
            )

    curves = (
        _power_curves(matrix, treat_idx, control_idx, days, post, request, curve_lifts, placebo, rng)
        if placebo
        else None
    )
    feasible = power >= target
    if feasible and placebo is not None and placebo.power < target - SIMULATION_SLACK:
        feasible = False
        problems.append(
            f"simulated power {placebo.power:.2f} (the test replayed on {placebo.simulations} windows of "
            f"this history) is below the target {target:.0%}, although the noise model promises {power:.2f}"
        )
        if curves and curves[2] is not None:
            suggestions.append(
                f"plan for a lift of at least {curves[2]:.1%} (simulated minimum detectable effect)"
            )
    elif not feasible:
        problems.append(
            f"power {power:.2f} to detect a {lift:.1%} lift in {post} days is below the target {target:.0%}; "
            f"the minimum detectable effect in {post} days is {mde:.1%}"
        )
        if min_days is not None:
            suggestions.append(f"run the test for at least {min_days} days (flight has {post})")
        else:
            suggestions.append(
                f"even {max(search)} days would not reach {target:.0%} power at {lift:.1%} lift"
            )
        if math.isfinite(mde):
            suggestions.append(f"plan for a lift of at least {mde:.1%} (e.g. more spend in treated markets)")
        needed = pairs_needed(inputs, pre, post, lift, alpha, target)
        if needed is not None:
            suggestions.append(f"use about {2 * needed} comparable markets (has {2 * len(treat_idx)})")

    pairs = [
        MarketPair(
            treatment=history.markets[t],
            control=history.markets[c],
            pre_correlation=_corr(matrix[t, days - pre :], matrix[c, days - pre :]),
            level_ratio=float(levels_all[t] / levels_all[c]) if levels_all[c] > 0 else float("inf"),
        )
        for t, c in zip(treat_idx, control_idx, strict=True)
    ]
    treated_share = float(levels_all[treat_idx].sum() / levels_all.sum())
    return ExperimentDesign(
        feasible=feasible,
        problems=problems,
        suggestions=suggestions,
        warnings=warnings,
        power=power,
        mde=mde if math.isfinite(mde) else None,
        mde_absolute=mde * inputs.mean_level if math.isfinite(mde) else None,
        min_days_for_power=min_days,
        simulated_power=placebo.power if placebo else None,
        placebo_false_positive_rate=placebo.false_positive_rate if placebo else None,
        simulated_mde=curves[2] if curves else None,
        power_by_lift=curves[0] if curves else [],
        power_by_duration=curves[1] if curves else [],
        simulations=placebo.simulations if placebo else 0,
        noise_model=f"pair differences: {noise.describe()}",
        baseline_per_unit_day=inputs.mean_level,
        expected_incremental_kpi=float(lift * levels_all[treat_idx].sum() * post),
        treated_share_of_kpi=treated_share,
        treated_spend=request.allocation_total * treated_share
        if request.allocation_total is not None
        else None,
        pairs=pairs,
        treatment_markets=[p.treatment for p in pairs],
        control_markets=[p.control for p in pairs],
        excluded_markets=excluded,
        **base,
    )


def _curve_lifts(expected_lift: float) -> np.ndarray:
    """The lifts the simulated power curve is replayed at: a fine grid for the MDE search, plus the
    reported lifts and the expected one."""
    fine = np.round(np.arange(0.0, 1.0005, 0.0025), 4)
    return np.union1d(fine, np.array([*REPORTED_LIFTS, expected_lift]))


def _power_curves(
    matrix: np.ndarray,
    treat_idx: np.ndarray,
    control_idx: np.ndarray,
    days: int,
    post: int,
    request: ExperimentRequest,
    lifts: np.ndarray,
    placebo: PlaceboResult,
    rng: np.random.Generator,
) -> tuple[list[PowerPoint], list[PowerPoint], float | None]:
    """Simulated power by lift (at ``post`` days, from the same draws as ``placebo``) and by duration
    (at the expected lift), and the simulated MDE: the curves a reader checks before believing one
    power figure. The flight's own point is ``placebo.power`` in both curves."""
    powers = np.array(placebo.lift_powers)
    wanted = {round(x, 6) for x in (*REPORTED_LIFTS, request.expected_lift)}
    by_lift = [
        PowerPoint(lift=float(x), days=post, power=float(p))
        for x, p in zip(lifts, powers, strict=True)
        if round(float(x), 6) in wanted
    ]
    by_days = []
    for duration in sorted({*REPORTED_DAYS, post}):
        if duration < MIN_POST_DAYS or days - duration < MIN_POST_DAYS:
            continue
        if duration == post:
            by_days.append(PowerPoint(lift=request.expected_lift, days=post, power=placebo.power))
            continue
        result = placebo_pair_power(
            matrix,
            treat_idx,
            control_idx,
            min(pre_period_days(days, duration), days - duration),
            duration,
            request.expected_lift,
            request.alpha,
            request.simulations,
            rng,
        )
        if result is not None:
            by_days.append(PowerPoint(lift=request.expected_lift, days=duration, power=result.power))
    return by_lift, by_days, simulated_mde(lifts, powers, request.power)
