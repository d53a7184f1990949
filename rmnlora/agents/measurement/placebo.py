"""Placebo inference: the estimator re-run with donors standing in for the treated units.

Why: a residual-based interval from one fit ignores how well the method could have matched any
unit; with one treated state and 38 donors it had excluded zero for 34 of the 38 untreated
states. Re-running the whole estimator (weights refitted) with ``n_treated`` donors as placebo
treated and the rest as donors gives the spread of estimates when nothing happened: its standard
deviation is the standard error (Arkhangelsky et al. 2021, Algorithm 4), and the estimate's rank
among the placebo estimates is a permutation p-value. Every subset is used when there are at most
``max_placebos`` of them (one treated unit: every donor once), otherwise a seeded random sample.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np

from rmnlora.agents.measurement.sdid import PanelFit, PanelMethod, fit_panel


@dataclasses.dataclass(frozen=True)
class PlaceboRuns:
    """Placebo estimates: ``effects[b, t]`` is placebo ``b``'s effect in period ``t``."""

    att: np.ndarray
    effects: np.ndarray
    exhaustive: bool

    @property
    def count(self) -> int:
        return int(self.att.shape[0])


def _subsets(
    n_donors: int, n_treated: int, max_placebos: int, seed: int
) -> tuple[list[tuple[int, ...]], bool]:
    if math.comb(n_donors, n_treated) <= max_placebos:
        return list(itertools.combinations(range(n_donors), n_treated)), True
    rng = np.random.default_rng(seed)
    return [tuple(sorted(rng.choice(n_donors, n_treated, replace=False))) for _ in range(max_placebos)], False


def _restricted(fit: PanelFit, keep: list[int]) -> PanelFit:
    weights = fit.unit_weights[keep]
    total = weights.sum()
    start = weights / total if total > 0 else np.full(len(keep), 1.0 / len(keep))
    return dataclasses.replace(fit, unit_weights=start)


def placebo_runs(
    y: np.ndarray,
    n_donors: int,
    n_pre: int,
    method: PanelMethod,
    fit: PanelFit,
    *,
    max_placebos: int = 200,
    seed: int = 0,
) -> PlaceboRuns:
    """Re-estimate with each placebo set of donors as treated (``y``: donors first, then treated)."""
    n_treated = y.shape[0] - n_donors
    if n_donors <= n_treated:
        raise ValueError(
            f"placebo inference needs more donors than treated units, got {n_donors} donors for "
            f"{n_treated} treated"
        )
    subsets, exhaustive = _subsets(n_donors, n_treated, max_placebos, seed)
    donors = y[:n_donors]
    atts, effects = [], []
    for placebo in subsets:
        chosen = set(placebo)
        keep = [i for i in range(n_donors) if i not in chosen]
        run = fit_panel(
            np.vstack([donors[keep], donors[list(placebo)]]),
            len(keep),
            n_pre,
            method,
            start=_restricted(fit, keep),
        )
        atts.append(run.att)
        effects.append(run.effects)
    return PlaceboRuns(np.array(atts), np.array(effects), exhaustive)
