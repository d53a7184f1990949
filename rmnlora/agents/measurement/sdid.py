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
#: Frank-Wolfe steps per weight fit; simulations that refit thousands of panels pass fewer.
MAX_STEPS = 10_000


@dataclass(frozen=True)
class PanelFit:
    """Estimates for a batch of panels of one shape (leading axis): effects, weights, paths."""

    method: PanelMethod
    att: np.ndarray  # (batch,)
    unit_weights: np.ndarray  # (batch, donors), each row sums to 1
    time_weights: np.ndarray  # (batch, pre-periods), rows sum to 1 (all zero for synthetic control)
    observed: np.ndarray  # (batch, periods): treated mean per period
    synthetic: np.ndarray  # (batch, periods): weighted donors shifted by the fitted pre-period offset

    @property
    def effects(self) -> np.ndarray:
        """Per-period effect (observed - synthetic); before treatment, the fit's error."""
        return self.observed - self.synthetic


def noise_level(donors_pre: np.ndarray) -> np.ndarray:
    """Per panel: standard deviation of the donors' period-to-period changes before treatment."""
    if donors_pre.shape[-1] < 2:
        return np.zeros(donors_pre.shape[0])
    changes = np.diff(donors_pre, axis=-1).reshape(donors_pre.shape[0], -1)
    return np.asarray(changes.std(axis=1, ddof=1))


def fit_panel(
    y: np.ndarray,
    n_donors: int,
    n_pre: int,
    method: PanelMethod,
    *,
    max_steps: int = MAX_STEPS,
) -> PanelFit:
    """Estimate on ``y[b]`` (donor rows first, then treated rows; pre-period columns first).

    ``y`` is one panel (units × periods) or a batch of them; a single panel gives a batch of one.
    ``max_steps``: the solver's step limit (power simulations trade a little precision for many
    panels).
    """
    if y.ndim == 2:
        y = y[None]
    batch, n_units, n_periods = y.shape
    n_treated, n_post = n_units - n_donors, n_periods - n_pre
    if n_donors < 1 or n_treated < 1:
        raise ValueError(f"need at least one donor and one treated unit, got {n_donors} and {n_treated}")
    if n_pre < 1 or n_post < 1:
        raise ValueError(f"need pre- and post-periods, got {n_pre} and {n_post}")
    donors, treated = y[:, :n_donors], y[:, n_donors:].mean(axis=1)
    sigma = noise_level(donors[:, :, :n_pre])
    min_decrease = 1e-5 * sigma
    # pre-periods × (donors + treated mean): the unit-weight regression
    collapsed_units = np.concatenate([donors[:, :, :n_pre], treated[:, None, :n_pre]], axis=1).transpose(
        0, 2, 1
    )
    if method == "did":
        omega = np.full((batch, n_donors), 1.0 / n_donors)
        lam = np.full((batch, n_pre), 1.0 / n_pre)
    elif method == "synthetic_control":
        # Unit weights only: eta 1e-6 makes the ridge term vanish, no intercept, no time weights.
        omega = fitted_weights(
            collapsed_units,
            1e-6 * sigma,
            intercept=False,
            min_decrease=min_decrease,
            max_steps=max_steps,
        )
        lam = np.zeros((batch, n_pre))
    elif method == "sdid":
        zeta_omega = (n_treated * n_post) ** 0.25 * sigma
        omega = fitted_weights(
            collapsed_units,
            zeta_omega,
            intercept=True,
            min_decrease=min_decrease,
            max_steps=max_steps,
        )
        # donors × (pre-periods + post mean): the time-weight regression
        collapsed_times = np.concatenate(
            [donors[:, :, :n_pre], donors[:, :, n_pre:].mean(axis=2, keepdims=True)], axis=2
        )
        lam = fitted_weights(
            collapsed_times,
            1e-6 * sigma,
            intercept=True,
            min_decrease=min_decrease,
            max_steps=max_steps,
        )
    else:
        raise ValueError(f"unknown panel method {method!r}; use one of {', '.join(PANEL_METHODS)}")
    synthetic_raw = np.einsum("bi,bit->bt", omega, donors)
    # The level offset the time weights imply (zero for synthetic control, which has none).
    offset = np.einsum("bt,bt->b", lam, treated[:, :n_pre] - synthetic_raw[:, :n_pre])
    synthetic = synthetic_raw + offset[:, None]
    att = (treated[:, n_pre:] - synthetic[:, n_pre:]).mean(axis=1)
    return PanelFit(method, att, omega, lam, treated, synthetic)
