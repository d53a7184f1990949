"""The test of a treated set against a donor pool, replayed on windows of history.

Why replay instead of a noise model: market sales have trends, holidays and fat-tailed shocks a
parametric model misses, and GeoLift's users learnt to trust power only when it is the rejection
rate of the very test they will run, on their own history. Each window is a pre-period followed
by a "flight" in which nothing happened; the treated set's estimate there is a no-effect draw, and
its randomization test (:mod:`rmnlora.agents.measurement.randomization`) says whether it rejects.
A relative lift moves every fit's estimate linearly, so all lifts' power comes from one set of fits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from rmnlora.agents.measurement.randomization import RandomizationRuns, randomization_runs
from rmnlora.agents.measurement.sdid import fit_panel

#: Frank-Wolfe steps per fit in replays (the analysis itself uses the solver's default).
SIMULATION_MAX_STEPS = 1_000


def window_offsets(days: int, length: int, max_windows: int) -> np.ndarray:
    """Start days of up to ``max_windows`` windows of ``length`` days, evenly spread over history."""
    last = days - length
    if last < 0:
        return np.zeros(0, dtype=int)
    return np.unique(np.round(np.linspace(0, last, min(max_windows, last + 1))).astype(int))


def windowed_panels(matrix: np.ndarray, rows: np.ndarray, offsets: np.ndarray, length: int) -> np.ndarray:
    """``(windows, rows, length)``: the chosen rows of ``matrix`` in each window."""
    columns = offsets[:, None] + np.arange(length)[None, :]
    return np.asarray(matrix[rows][:, columns].transpose(1, 0, 2))


def no_effect_errors(
    matrices: list[np.ndarray],
    treated_sets: list[np.ndarray],
    active: np.ndarray,
    offsets: np.ndarray,
    pre: int,
    post: int,
) -> list[np.ndarray]:
    """Per history and candidate set (all sets one size): RMS of its no-effect estimates over the
    windows, relative to its treated level. A cheap ranking before any placebo is fitted; several
    histories are fitted in one batch (the solver's cost is mostly per call)."""
    panels, levels = [], []
    for matrix, sets in zip(matrices, treated_sets, strict=True):
        for treated in sets:
            rows = np.concatenate([np.setdiff1d(active, treated), treated])
            panel = windowed_panels(matrix, rows, offsets, pre + post)
            panels.append(panel)
            levels.append(panel[:, -len(treated) :, pre:].mean())
    n_donors = len(active) - treated_sets[0].shape[1]
    fit = fit_panel(np.concatenate(panels), n_donors, pre, "sdid", max_steps=SIMULATION_MAX_STEPS)
    att = fit.att.reshape(len(levels), len(offsets))
    errors = np.sqrt(np.mean(att**2, axis=1)) / np.maximum(np.array(levels), 1e-12)
    bounds = np.cumsum([0, *(len(sets) for sets in treated_sets)])
    return [np.asarray(errors[lo:hi]) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]


@dataclass(frozen=True)
class Replay:
    """The randomization test of one treated set, fitted in every history window."""

    runs: RandomizationRuns

    @property
    def windows(self) -> int:
        return int(self.runs.att.shape[0])

    def powers(self, lifts: np.ndarray, alpha: float) -> np.ndarray:
        """Rejection rate over the windows at each lift (at lift 0: the false-positive rate)."""
        return np.asarray(self.runs.rejections_at_lift(np.asarray(lifts, dtype=float), alpha).mean(axis=1))

    def _scaled(self) -> tuple[np.ndarray, np.ndarray]:
        """The real fit's lift slope and the placebo statistics' spread, both in pre-fit-error units."""
        runs = self.runs
        statistic = runs.att[:, 1:] / runs.error[:, 1:]
        return runs.lift_shift[:, 0] / runs.error[:, 0], np.maximum(statistic.std(axis=1), 1e-12)

    def analytic_power(self, lift: float, alpha: float) -> float:
        """The same test with normal placebo statistics: what the replays should agree with."""
        slope, se = self._scaled()
        z = stats.norm.ppf(1 - alpha / 2)
        shift = lift * slope / se
        return float(np.mean(stats.norm.sf(z - shift) + stats.norm.cdf(-z - shift)))

    def analytic_mde(self, alpha: float, power: float) -> float:
        """Smallest relative lift the normal approximation detects with ``power``."""
        slope, se = self._scaled()
        return float(
            (stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)) * np.mean(se / np.maximum(slope, 1e-12))
        )


def replay(
    matrix: np.ndarray,
    treated: np.ndarray,
    active: np.ndarray,
    offsets: np.ndarray,
    pre: int,
    post: int,
    placebos: int,
    seed: int,
) -> Replay:
    """Fit the treated set and ``placebos`` other assignments of the active markets in every window."""
    panels = windowed_panels(matrix, active, offsets, pre + post)
    position = np.searchsorted(active, treated)
    runs = randomization_runs(
        panels, position, pre, "sdid", placebos=placebos, seed=seed, max_steps=SIMULATION_MAX_STEPS
    )
    return Replay(runs)
