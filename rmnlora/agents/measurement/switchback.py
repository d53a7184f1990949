"""Switchback design: the whole footprint alternates between on and off in randomised time blocks.

For interventions that cannot be split by market (a store-wide or region-wide placement), time
is the unit: the flight is cut into blocks, half of them randomly "on", and the first
``carryover_days`` of every block are dropped so yesterday's exposure does not leak into today's
control. Inference is a two-sample t-test between on- and off-block means.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from rmnlora.agents.measurement.noise import fit_ar_noise
from rmnlora.agents.measurement.panel import design_fields, history_matrix
from rmnlora.agents.measurement.power import two_sample_mde, two_sample_power
from rmnlora.schemas.measurement import ExperimentDesign, ExperimentRequest, SwitchbackBlock

MIN_BLOCKS = 4
MIN_HISTORY_DAYS = 28


def assign_blocks(
    n_blocks: int, block_days: int, buffer_days: int, rng: np.random.Generator
) -> list[SwitchbackBlock]:
    """Balanced random on/off labels for ``n_blocks`` consecutive blocks."""
    labels = np.zeros(n_blocks, dtype=bool)
    labels[: n_blocks // 2] = True
    rng.shuffle(labels)
    return [
        SwitchbackBlock(
            start=k * block_days, days=block_days, treated=bool(labels[k]), buffer_days=buffer_days
        )
        for k in range(n_blocks)
    ]


def _weekday_means(series: np.ndarray) -> np.ndarray:
    position = np.arange(len(series)) % 7
    means = np.array([series[position == k].mean() for k in range(7)])
    return means[position] - series.mean()


def _power(level: float, block_var: float, n_blocks: int, lift: float, alpha: float) -> float:
    n_on = n_blocks // 2
    if block_var <= 0:
        return 1.0
    return two_sample_power(lift * level / math.sqrt(block_var), n_on, n_blocks - n_on, alpha)


def placebo_switchback_power(
    series: np.ndarray,
    n_blocks: int,
    block_days: int,
    buffer_days: int,
    lift: float,
    alpha: float,
    simulations: int,
    rng: np.random.Generator,
) -> tuple[float, float] | None:
    """(power, false-positive rate) of the block t-test replayed on random historical windows."""
    span = n_blocks * block_days
    windows = len(series) - span + 1
    if windows < 1:
        return None
    csum = np.concatenate([[0.0], np.cumsum(series)])
    starts = np.arange(windows)[:, None] + np.arange(n_blocks)[None, :] * block_days
    observed = block_days - buffer_days
    means = (csum[starts + block_days] - csum[starts + buffer_days]) / observed  # [windows, blocks]
    picked = means[rng.integers(0, windows, size=simulations)]
    order = np.argsort(rng.random((simulations, n_blocks)), axis=1)
    on = order < n_blocks // 2
    n_on, n_off = n_blocks // 2, n_blocks - n_blocks // 2
    critical = stats.t.ppf(1 - alpha / 2, n_blocks - 2)

    def rate(values: np.ndarray) -> float:
        m_on = np.where(on, values, 0).sum(1) / n_on
        m_off = np.where(on, 0, values).sum(1) / n_off
        ss = np.where(on, (values - m_on[:, None]) ** 2, (values - m_off[:, None]) ** 2).sum(1)
        se = np.sqrt(ss / (n_blocks - 2) * (1 / n_on + 1 / n_off))
        t = np.divide(m_on - m_off, se, out=np.zeros(len(se)), where=se > 0)
        return float(np.mean(np.abs(t) > critical))

    return rate(picked * np.where(on, 1 + lift, 1.0)), rate(picked)


def design_switchback(request: ExperimentRequest) -> ExperimentDesign:
    """Randomised block design over the total KPI of every market in the history."""
    history = request.history
    series = history_matrix(history).sum(axis=0)
    days, post = history.days, request.flight_days
    block, buffer = request.switchback_block_days, request.carryover_days
    lift, alpha, target = request.expected_lift, request.alpha, request.power
    n_blocks = post // block
    problems: list[str] = []
    suggestions: list[str] = []
    warnings: list[str] = []
    base = {
        **design_fields(request, "switchback", n_blocks * block),
        "treatment_markets": list(history.markets),
    }
    if buffer >= block:
        raise ValueError(f"carryover_days ({buffer}) must be shorter than switchback_block_days ({block})")
    if n_blocks < MIN_BLOCKS:
        problems.append(
            f"flight of {post} days holds only {n_blocks} block(s) of {block} days; "
            f"a switchback needs {MIN_BLOCKS}"
        )
        suggestions.append(
            f"extend the flight to {MIN_BLOCKS * block} days "
            f"or use blocks of {max(1, post // MIN_BLOCKS)} days"
        )
    if days < MIN_HISTORY_DAYS:
        problems.append(f"history too short: {days} days, the noise model needs at least {MIN_HISTORY_DAYS}")
        suggestions.append(f"supply at least {MIN_HISTORY_DAYS} days of history")
    level = float(series[-min(days, 28) :].mean()) if days else 0.0
    if level <= 0:
        problems.append(f"no {history.kpi} in the last weeks of history: nothing to lift")
    if problems:
        return ExperimentDesign(feasible=False, problems=problems, suggestions=suggestions, **base)

    rng = np.random.default_rng(request.seed)
    observed = block - buffer
    # With whole-week blocks every block has the same weekday mix, so weekday effects cancel
    # between on and off blocks: take them out of the noise model rather than count them as noise.
    centred = series - _weekday_means(series) if block % 7 == 0 else series
    noise = fit_ar_noise(centred[None, :], max_lag=observed + 1)
    block_var = noise.mean_variance(observed)
    power = _power(level, block_var, n_blocks, lift, alpha)
    n_on = n_blocks // 2
    mde = two_sample_mde(n_on, n_blocks - n_on, alpha, target) * math.sqrt(block_var) / level
    min_days = next(
        (
            k * block
            for k in range(MIN_BLOCKS, 366 // block + 1)
            if _power(level, block_var, k, lift, alpha) >= target
        ),
        None,
    )
    placebo = placebo_switchback_power(series, n_blocks, block, buffer, lift, alpha, request.simulations, rng)
    if placebo is None:
        warnings.append(f"power not checked by simulation: history ({days} days) shorter than the test")
    elif abs(placebo[0] - power) > 0.05:
        warnings.append(
            f"analytic power {power:.2f} and placebo power {placebo[0]:.2f} disagree by more than 5 points"
        )
    feasible = power >= target
    if not feasible:
        problems.append(
            f"power {power:.2f} to detect a {lift:.1%} lift with {n_blocks} blocks is below {target:.0%}; "
            f"minimum detectable effect {mde:.1%}"
        )
        suggestions.append(
            f"run at least {min_days} days" if min_days else "a year of blocks would not reach the power"
        )
        suggestions.append(f"plan for a lift of at least {mde:.1%}")
    return ExperimentDesign(
        feasible=feasible,
        problems=problems,
        suggestions=suggestions,
        warnings=warnings,
        power=power,
        mde=mde,
        mde_absolute=mde * level,
        min_days_for_power=min_days,
        simulated_power=placebo[0] if placebo else None,
        placebo_false_positive_rate=placebo[1] if placebo else None,
        simulations=request.simulations if placebo else 0,
        noise_model=f"total series: {noise.describe()}",
        baseline_per_unit_day=level,
        expected_incremental_kpi=lift * level * n_on * observed,
        treated_share_of_kpi=n_on / n_blocks,
        treated_spend=request.allocation_total * n_on / n_blocks
        if request.allocation_total is not None
        else None,
        blocks=assign_blocks(n_blocks, block, buffer, rng),
        **base,
    )
