"""Placebo inference: the estimator re-run with donors standing in for the treated units.

Why: a residual-based interval from one fit ignores how well the method could have matched any
unit; with one treated state and 38 donors it had excluded zero for 34 of the 38 untreated
states. Re-running the whole estimator (weights refitted) with ``n_treated`` donors as placebo
treated and the rest as donors gives the spread of estimates when nothing happened: its standard
deviation is the standard error (Arkhangelsky et al. 2021, Algorithm 4), and the estimate's rank
among the placebo estimates is a permutation p-value. Every subset is used when there are at most
``max_placebos`` of them (one treated unit: every donor once), otherwise a seeded random sample.
All placebo panels have one shape, so they are solved as one batch.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from rmnlora.agents.measurement.sdid import MAX_STEPS, PanelFit, PanelMethod, fit_panel


@dataclass(frozen=True)
class PlaceboRuns:
    """Placebo estimates per panel: ``att[s, b]``, and ``effects[s, b, t]`` in period ``t``."""

    att: np.ndarray
    effects: np.ndarray
    exhaustive: bool

    @property
    def count(self) -> int:
        return int(self.att.shape[1])

    @property
    def standard_error(self) -> np.ndarray:
        """Per panel: the placebo estimates' standard deviation (Algorithm 4's variance, rooted)."""
        return np.asarray(self.att.std(axis=1))


def pre_fit_error(effects: np.ndarray, n_pre: int) -> np.ndarray:
    """Root mean squared pre-period gap (the fit's error), floored so a perfect fit divides."""
    rmspe = np.sqrt(np.mean(effects[..., :n_pre] ** 2, axis=-1))
    return np.maximum(rmspe, 1e-12 * (1.0 + np.abs(effects).max()))


@dataclass(frozen=True)
class PermutationInference:
    """Rank inference on effects scaled by each unit's own pre-period fit error.

    Why scaled: units differ in size and noise, and a large, noisy treated unit compared with the
    spread of small donors' placebo effects is "significant" too often (sales panels are like
    that). Dividing every effect by its own pre-period error makes the statistics comparable
    (Abadie, Diamond and Hainmueller 2010 rank the post/pre error ratio the same way); the
    interval is the test inverted: the effect ± the (1 - alpha) placebo quantile × the treated
    unit's pre-period error.
    """

    p_value: np.ndarray  # (panels,)
    half_width: np.ndarray  # (panels,) for the average effect
    period_half_width: np.ndarray  # (panels, periods)
    bounded: bool  # False when there are too few placebos for the level: the widest is used


def permutation_inference(
    att: np.ndarray, effects: np.ndarray, runs: PlaceboRuns, n_pre: int, alpha: float
) -> PermutationInference:
    """``att[s]`` and ``effects[s, t]`` of the real fits, against their placebo runs."""
    own = pre_fit_error(effects, n_pre)  # (panels,)
    placebo = pre_fit_error(runs.effects, n_pre)  # (panels, placebos)
    statistic = np.abs(att) / own
    placebo_statistic = np.abs(runs.att) / placebo
    p = (1 + np.sum(placebo_statistic >= statistic[:, None], axis=1)) / (runs.count + 1)
    rank = int(np.ceil((1 - alpha) * (runs.count + 1)))
    bounded = rank <= runs.count
    k = min(rank, runs.count) - 1
    quantile = np.sort(placebo_statistic, axis=1)[:, k]
    period_statistic = np.abs(runs.effects) / placebo[:, :, None]
    period_quantile = np.sort(period_statistic, axis=1)[:, k, :]
    return PermutationInference(p, quantile * own, period_quantile * own[:, None], bounded)


def placebo_sets(n_donors: int, n_treated: int, max_placebos: int, seed: int) -> tuple[np.ndarray, bool]:
    """Rows: the donors that play the treated units in each placebo (all subsets, or a sample)."""
    if math.comb(n_donors, n_treated) <= max_placebos:
        return np.array(list(itertools.combinations(range(n_donors), n_treated))), True
    rng = np.random.default_rng(seed)
    return np.array(
        [np.sort(rng.choice(n_donors, n_treated, replace=False)) for _ in range(max_placebos)]
    ), False


def placebo_runs(
    y: np.ndarray,
    n_donors: int,
    n_pre: int,
    method: PanelMethod,
    fit: PanelFit,
    *,
    max_placebos: int = 200,
    seed: int = 0,
    max_steps: int = MAX_STEPS,
) -> PlaceboRuns:
    """Re-estimate with each placebo set of donors as treated.

    ``y``: one panel (units × periods, donors first) or a batch of them with ``fit`` their fits;
    every panel of the batch gets the same placebo sets, and all are solved as one batch.
    """
    if y.ndim == 2:
        y = y[None]
    n_treated = y.shape[1] - n_donors
    if n_donors <= n_treated:
        raise ValueError(
            f"placebo inference needs more donors than treated units, got {n_donors} donors for "
            f"{n_treated} treated"
        )
    sets, exhaustive = placebo_sets(n_donors, n_treated, max_placebos, seed)
    chosen = np.zeros((len(sets), n_donors), dtype=bool)
    chosen[np.arange(len(sets))[:, None], sets] = True
    keep = np.array([np.nonzero(~row)[0] for row in chosen])  # (placebos, donors - treated)
    donors = y[:, :n_donors]
    panels = np.concatenate([donors[:, keep], donors[:, sets]], axis=2)  # (panels, placebos, units, t)
    n_panels, n_sets = panels.shape[:2]
    start = fit.unit_weights[:, keep]
    totals = start.sum(axis=2, keepdims=True)
    start = np.where(totals > 0, start / np.where(totals > 0, totals, 1), 1.0 / keep.shape[1])
    runs = fit_panel(
        panels.reshape(n_panels * n_sets, *panels.shape[2:]),
        keep.shape[1],
        n_pre,
        method,
        start_unit_weights=start.reshape(n_panels * n_sets, -1),
        start_time_weights=np.repeat(fit.time_weights, n_sets, axis=0) if method == "sdid" else None,
        max_steps=max_steps,
    )
    return PlaceboRuns(
        runs.att.reshape(n_panels, n_sets), runs.effects.reshape(n_panels, n_sets, -1), exhaustive
    )
