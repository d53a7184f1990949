"""Difference-in-differences, synthetic control and synthetic DiD on one units × periods matrix.

The three are one formula with different weights (Arkhangelsky, Athey, Hirshberg, Imbens and
Wager, "Synthetic Difference-in-Differences", AER 2021, eq. 1-4): the effect is

    tau = (treated post mean - sum_t lambda_t treated_t) - sum_i omega_i (post mean_i - sum_t lambda_t y_it)

DiD uses uniform unit and time weights; synthetic control fits unit weights without an intercept
and no time weights (the pre-period drops out); synthetic DiD fits both, each with an intercept,
the unit weights ridge-penalised by ``zeta = (treated units × post periods)^(1/4) × sigma`` where
sigma is the standard deviation of the donors' first differences before treatment. Defaults are
the paper's, so its Table 1 is reproduced by ``tests/integration/test_published_studies.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from rmnlora.agents.measurement.frank_wolfe import fitted_weights

PanelMethod = Literal["did", "synthetic_control", "sdid"]
PANEL_METHODS: tuple[PanelMethod, ...] = ("did", "synthetic_control", "sdid")


@dataclass(frozen=True)
class PanelFit:
    """One estimate: the effect, the weights behind it and the treated-vs-synthetic path."""

    method: PanelMethod
    att: float
    unit_weights: np.ndarray  # over donors, sums to 1
    time_weights: np.ndarray  # over pre-periods, sums to 1 (all zero for synthetic control)
    observed: np.ndarray  # treated mean per period
    synthetic: np.ndarray  # the weighted donors per period, shifted by the fitted pre-period offset

    @property
    def effects(self) -> np.ndarray:
        """Per-period effect (observed - synthetic); before treatment, the fit's error."""
        return self.observed - self.synthetic


def noise_level(donors_pre: np.ndarray) -> float:
    """Standard deviation of the donors' period-to-period changes before treatment."""
    if donors_pre.shape[1] < 2:
        return 0.0
    return float(np.std(np.diff(donors_pre, axis=1), ddof=1))


def fit_panel(
    y: np.ndarray, n_donors: int, n_pre: int, method: PanelMethod, *, start: PanelFit | None = None
) -> PanelFit:
    """Estimate on ``y`` (donor rows first, then treated rows; pre-period columns first).

    ``start``: a fit whose weights begin the solver (a placebo refit passes the original fit's
    weights restricted to its donors; see :mod:`rmnlora.agents.measurement.placebo`).
    """
    n_units, n_periods = y.shape
    n_treated, n_post = n_units - n_donors, n_periods - n_pre
    if n_donors < 1 or n_treated < 1:
        raise ValueError(f"need at least one donor and one treated unit, got {n_donors} and {n_treated}")
    if n_pre < 1 or n_post < 1:
        raise ValueError(f"need pre- and post-periods, got {n_pre} and {n_post}")
    donors, treated = y[:n_donors], y[n_donors:].mean(axis=0)
    sigma = noise_level(donors[:, :n_pre])
    min_decrease, max_steps = 1e-5 * sigma, 10_000
    if method == "did":
        omega = np.full(n_donors, 1.0 / n_donors)
        lam = np.full(n_pre, 1.0 / n_pre)
    elif method == "synthetic_control":
        # Unit weights only: eta 1e-6 makes the ridge term vanish, no intercept, no time weights.
        collapsed = np.vstack([donors[:, :n_pre], treated[:n_pre]]).T
        omega = fitted_weights(
            collapsed,
            1e-6 * sigma,
            intercept=False,
            min_decrease=min_decrease,
            max_steps=max_steps,
            start=None if start is None else start.unit_weights,
        )
        lam = np.zeros(n_pre)
    elif method == "sdid":
        zeta_omega = (n_treated * n_post) ** 0.25 * sigma
        collapsed_units = np.vstack([donors[:, :n_pre], treated[:n_pre]]).T  # pre-periods × (donors + 1)
        omega = fitted_weights(
            collapsed_units,
            zeta_omega,
            intercept=True,
            min_decrease=min_decrease,
            max_steps=max_steps,
            start=None if start is None else start.unit_weights,
        )
        collapsed_times = np.column_stack([donors[:, :n_pre], donors[:, n_pre:].mean(axis=1)])
        lam = fitted_weights(
            collapsed_times,
            1e-6 * sigma,
            intercept=True,
            min_decrease=min_decrease,
            max_steps=max_steps,
            start=None if start is None else start.time_weights,
        )
    else:
        raise ValueError(f"unknown panel method {method!r}; use one of {', '.join(PANEL_METHODS)}")
    synthetic_raw = omega @ donors
    # The level offset the time weights imply (zero for synthetic control, which has none).
    offset = float(lam @ (treated[:n_pre] - synthetic_raw[:n_pre]))
    synthetic = synthetic_raw + offset
    att = float((treated[n_pre:] - synthetic[n_pre:]).mean())
    return PanelFit(method, att, omega, lam, treated, synthetic)
