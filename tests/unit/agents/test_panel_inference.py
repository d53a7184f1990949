"""Panel inference is calibrated: under no effect, each method rejects at its stated rate.

400 simulated experiments per method (one treated unit among 20, 20 pre- and 10 post-periods,
panels with heavy-tailed levels, latent factors and persistent noise: ``null_panels``), each
analysed with placebo (permutation) inference exactly as ``analyze_panel`` does. The rejection
count must lie in the 99% binomial band of alpha, at alpha 0.05 and 0.10.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from rmnlora.agents.measurement.null_panels import null_panels
from rmnlora.agents.measurement.placebo import permutation_inference, placebo_runs
from rmnlora.agents.measurement.sdid import PANEL_METHODS, PanelMethod, fit_panel

EXPERIMENTS = 400
UNITS, PRE, POST = 20, 20, 10


@pytest.fixture(scope="module")
def panels() -> np.ndarray:
    return null_panels(np.random.default_rng(20261202), EXPERIMENTS, UNITS, PRE + POST)


@pytest.mark.parametrize("method", PANEL_METHODS)
def test_false_positive_rate_is_alpha_under_no_effect(panels: np.ndarray, method: PanelMethod) -> None:
    fit = fit_panel(panels, UNITS - 1, PRE, method)
    runs = placebo_runs(panels, UNITS - 1, PRE, method, fit)
    assert runs.count == UNITS - 1 and runs.exhaustive
    for alpha in (0.05, 0.10):
        p = permutation_inference(fit.att, fit.effects, runs, PRE, alpha).p_value
        low, high = stats.binom.interval(0.99, EXPERIMENTS, alpha)
        rejections = int(np.sum(p <= alpha))
        assert low <= rejections <= high, f"{method} at alpha {alpha}: {rejections}/{EXPERIMENTS} rejected"


def test_a_true_effect_is_found_and_covered(panels: np.ndarray) -> None:
    """Coverage with an effect (5% of the treated unit's level added after treatment) and power > alpha."""
    shifted = panels.copy()
    effect = 0.05 * panels[:, -1, :PRE].mean(axis=1)
    shifted[:, -1, PRE:] += effect[:, None]
    fit = fit_panel(shifted, UNITS - 1, PRE, "sdid")
    runs = placebo_runs(shifted, UNITS - 1, PRE, "sdid", fit)
    half_width = permutation_inference(fit.att, fit.effects, runs, PRE, 0.05).half_width
    covered = np.abs(fit.att - effect) <= half_width
    low, high = stats.binom.interval(0.99, EXPERIMENTS, 0.95)
    assert low <= covered.sum() <= high
    assert np.mean(np.abs(fit.att) > half_width) > 0.10
