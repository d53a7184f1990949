"""Power of the paired geo test: analytic (statsmodels) and by placebo experiments on history.

The geo estimator is a one-sample t-test over matched pairs of the difference-in-differences
``d_j = (post_T − pre_T) − (post_C − pre_C)``; each pair contributes one number, so serial
correlation inside a market cannot fake precision. Analytic power uses ``Var(d_j)`` from an AR
noise model of the pair differences; the placebo check replays the real estimator on windows of
the history itself, with random treatment sides and an injected lift, and counts rejections.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy import optimize, stats
from statsmodels.stats.power import TTestIndPower

from rmnlora.agents.measurement.noise import ARNoise


@dataclass(frozen=True)
class PairPowerInputs:
    """What the paired test's power depends on, besides the durations."""

    n_pairs: int
    mean_level: float  # mean daily KPI of the paired markets
    level_variance: float  # variance of the paired markets' levels (effect heterogeneity)
    noise: ARNoise  # model of the pair-difference series


def paired_t_power(noncentrality: float, n: int, alpha: float, spread_ratio: float = 0.0) -> float:
    """Power of the two-sided one-sample t-test when pair effects differ by a fixed spread.

    ``noncentrality`` is mean effect·√n / noise sd; ``spread_ratio`` is the variance of the fixed
    per-pair effects over the noise variance. The spread inflates the sample variance (the
    denominator) but not the noise of the mean, so the plain non-central t understates power;
    with ``spread_ratio == 0`` this is exactly the non-central t (statsmodels' ``TTestPower``).
    Integrated over the chi-square distribution of the sample variance on a quantile grid.
    """
    if n < 2:
        return 0.0
    df = n - 1
    critical = stats.t.ppf(1 - alpha / 2, df)
    grid = stats.chi2.ppf((np.arange(_GRID) + 0.5) / _GRID, df)
    scale = critical * np.sqrt(grid / df + spread_ratio)
    return float(np.mean(stats.norm.cdf(noncentrality - scale) + stats.norm.cdf(-noncentrality - scale)))


_GRID = 400


def pair_power(inputs: PairPowerInputs, pre: int, post: int, lift: float, alpha: float) -> float:
    """Analytic power of the two-sided paired DiD t-test for a relative ``lift``."""
    if inputs.n_pairs < 2 or inputs.mean_level <= 0:
        return 0.0
    variance = inputs.noise.did_variance(pre, post)
    if variance <= 0:
        return 1.0
    lam = lift * inputs.mean_level * np.sqrt(inputs.n_pairs) / np.sqrt(variance)
    return paired_t_power(float(lam), inputs.n_pairs, alpha, lift**2 * inputs.level_variance / variance)


def pair_mde(inputs: PairPowerInputs, pre: int, post: int, alpha: float, power: float) -> float:
    """Smallest relative lift reaching ``power``; ``inf`` when no lift below 100% can."""
    if inputs.n_pairs < 2 or inputs.mean_level <= 0:
        return float("inf")
    if pair_power(inputs, pre, post, 0.999, alpha) < power:
        return float("inf")
    return float(
        optimize.brentq(
            lambda lift: pair_power(inputs, pre, post, lift, alpha) - power, 1e-9, 0.999, xtol=1e-6
        )
    )


def min_post_days(
    inputs: PairPowerInputs, pre_for: dict[int, int], lift: float, alpha: float, power: float
) -> int | None:
    """Shortest post period (among ``pre_for``'s keys, ascending) whose power reaches the target."""
    for post in sorted(pre_for):
        if pair_power(inputs, pre_for[post], post, lift, alpha) >= power:
            return post
    return None


@dataclass(frozen=True)
class PlaceboResult:
    power: float
    false_positive_rate: float
    simulations: int
    windows: int
    lift_powers: tuple[float, ...] = ()  # power at each of the ``lifts`` asked for, same draws


@dataclass(frozen=True)
class _PlaceboDraws:
    """Historical no-effect pair differences ``base[sim, pair]`` and the treated post means."""

    base: np.ndarray
    treated_post: np.ndarray
    windows: int


def _placebo_draws(
    matrix: np.ndarray,
    treat_idx: np.ndarray,
    control_idx: np.ndarray,
    pre: int,
    post: int,
    simulations: int,
    rng: np.random.Generator,
) -> _PlaceboDraws | None:
    days = matrix.shape[1]
    windows = days - pre - post + 1
    if windows < 1:
        return None
    csum = np.concatenate([np.zeros((matrix.shape[0], 1)), np.cumsum(matrix, axis=1)], axis=1)
    starts = np.arange(windows)
    pre_mean = (csum[:, starts + pre] - csum[:, starts]) / pre  # [markets, windows]
    post_mean = (csum[:, starts + pre + post] - csum[:, starts + pre]) / post
    diff = (post_mean[treat_idx] - pre_mean[treat_idx]) - (post_mean[control_idx] - pre_mean[control_idx])
    pick = rng.integers(0, windows, size=simulations)
    signs = rng.choice(np.array([-1.0, 1.0]), size=(simulations, len(treat_idx)))
    return _PlaceboDraws(signs * diff[:, pick].T, post_mean[treat_idx][:, pick].T, windows)


def _rejection_rate(d: np.ndarray, alpha: float) -> float:
    n = d.shape[1]
    critical = stats.t.ppf(1 - alpha / 2, n - 1)
    sd = d.std(axis=1, ddof=1)
    t = np.divide(d.mean(axis=1) * np.sqrt(n), sd, out=np.zeros(len(d)), where=sd > 0)
    return float(np.mean(np.abs(t) > critical))


def placebo_pair_power(
    matrix: np.ndarray,
    treat_idx: np.ndarray,
    control_idx: np.ndarray,
    pre: int,
    post: int,
    lift: float,
    alpha: float,
    simulations: int,
    rng: np.random.Generator,
    lifts: Sequence[float] = (),
) -> PlaceboResult | None:
    """Replay the paired DiD test on random historical windows; ``None`` if no window fits.

    Each simulation draws a window (``pre`` + ``post`` days), flips the sign of each pair's
    historical difference (the sides are exchangeable under no effect), adds the lift on the
    design's treated markets' post period and runs the test: the power of *this* assignment.
    ``lifts``: other lifts to replay on the same draws (a power curve that agrees with ``power``).
    """
    draws = _placebo_draws(matrix, treat_idx, control_idx, pre, post, simulations, rng)
    if draws is None:
        return None
    return PlaceboResult(
        power=_rejection_rate(draws.base + lift * draws.treated_post, alpha),
        false_positive_rate=_rejection_rate(draws.base, alpha),
        simulations=simulations,
        windows=draws.windows,
        lift_powers=tuple(_rejection_rate(draws.base + x * draws.treated_post, alpha) for x in lifts),
    )


def simulated_mde(lifts: np.ndarray, powers: np.ndarray, target: float) -> float | None:
    """Smallest lift whose simulated power reaches ``target`` (linear between grid points)."""
    reached = np.flatnonzero(powers >= target)
    if len(reached) == 0:
        return None
    i = int(reached[0])
    if i == 0:
        return float(lifts[0])
    low, high = powers[i - 1], powers[i]
    share = (target - low) / (high - low) if high > low else 1.0
    return float(lifts[i - 1] + share * (lifts[i] - lifts[i - 1]))


def two_sample_power(effect_size: float, n_treated: float, n_control: float, alpha: float) -> float:
    """Analytic power of a two-sided two-sample t-test (statsmodels)."""
    if n_treated < 2 or n_control < 2:
        return 0.0
    return float(
        TTestIndPower().power(
            effect_size=effect_size, nobs1=n_treated, ratio=n_control / n_treated, alpha=alpha
        )
    )


def two_sample_mde(n_treated: float, n_control: float, alpha: float, power: float) -> float:
    """Standardised effect reaching ``power`` in a two-sided two-sample t-test."""
    if n_treated < 2 or n_control < 2:
        return float("inf")
    return float(
        TTestIndPower().solve_power(nobs1=n_treated, ratio=n_control / n_treated, alpha=alpha, power=power)
    )


def pairs_needed(
    inputs: PairPowerInputs, pre: int, post: int, lift: float, alpha: float, power: float, limit: int = 5000
) -> int | None:
    """Pairs like these (same noise and levels) needed to reach ``power``; None beyond ``limit``."""
    low, high = 2, 2
    while pair_power(replace(inputs, n_pairs=high), pre, post, lift, alpha) < power:
        if high >= limit:
            return None
        low, high = high, min(high * 2, limit)
    while low < high:
        mid = (low + high) // 2
        if pair_power(replace(inputs, n_pairs=mid), pre, post, lift, alpha) >= power:
            high = mid
        else:
            low = mid + 1
    return high
