"""Panel inference is calibrated: under no effect, each method rejects at its stated rate.

400 simulated experiments per method (one treated unit among 20, 20 pre- and 10 post-periods,
panels with heavy-tailed levels, latent factors and persistent noise: ``null_panels``), each
analysed with randomization inference exactly as ``analyze_panel`` does (each other unit plays
treated against all units outside it). The rejection count must lie in the 99% binomial band of
alpha, at alpha 0.05 and 0.10; several treated units are checked the same way.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from scipy import stats

from rmnlora.agents.measurement.null_panels import null_panels
from rmnlora.agents.measurement.panel_analysis import analyze_panel
from rmnlora.agents.measurement.randomization import randomization_runs
from rmnlora.agents.measurement.sdid import PANEL_METHODS, PanelMethod

EXPERIMENTS = 400
UNITS, PRE, POST = 20, 20, 10


@pytest.fixture(scope="module")
def panels() -> np.ndarray:
    return null_panels(np.random.default_rng(20261202), EXPERIMENTS, UNITS, PRE + POST)


TREATED = np.array([UNITS - 1])


@pytest.mark.parametrize("method", PANEL_METHODS)
def test_false_positive_rate_is_alpha_under_no_effect(panels: np.ndarray, method: PanelMethod) -> None:
    runs = randomization_runs(panels, TREATED, PRE, method, placebos=200)
    assert runs.count == UNITS - 1
    p = runs.p_values(runs.att)
    for alpha in (0.05, 0.10):
        low, high = stats.binom.interval(0.99, EXPERIMENTS, alpha)
        rejections = int(np.sum(p <= alpha))
        assert low <= rejections <= high, f"{method} at alpha {alpha}: {rejections}/{EXPERIMENTS} rejected"


@pytest.mark.parametrize("method", ["synthetic_control", "sdid"])
def test_a_true_effect_is_found_and_covered(panels: np.ndarray, method: PanelMethod) -> None:
    """Coverage with an effect (5% of the treated unit's level added after treatment) and power > alpha:
    the 95% interval is the set of effects the test does not reject, so it covers the truth when
    the test at the true effect does not reject."""
    shifted = panels.copy()
    effect = 0.05 * panels[:, -1, :PRE].mean(axis=1)
    shifted[:, -1, PRE:] += effect[:, None]
    runs = randomization_runs(shifted, TREATED, PRE, method, placebos=200)
    covered = runs.p_values(runs.att - effect[:, None] * runs.shift) > 0.05
    low, high = stats.binom.interval(0.99, EXPERIMENTS, 0.95)
    assert low <= covered.sum() <= high, f"{method}: {covered.sum()}/{EXPERIMENTS} covered"
    assert np.mean(runs.p_values(runs.att) <= 0.05) > 0.10


@pytest.fixture(scope="module")
def several_treated() -> tuple[np.ndarray, np.ndarray]:
    """150 null panels of 16 units, the last 3 treated, and their randomization runs (as
    ``analyze_panel`` runs them for more than one treated unit, with 99 other sets)."""
    panels = null_panels(np.random.default_rng(20261203), 150, 16, PRE + POST)
    return panels, np.arange(13, 16)


@pytest.mark.parametrize("method", ["synthetic_control", "sdid"])
def test_several_treated_units_keep_the_level_with_randomization_inference(
    several_treated: tuple[np.ndarray, np.ndarray], method: PanelMethod
) -> None:
    panels, treated = several_treated
    runs = randomization_runs(panels, treated, PRE, method, placebos=99, max_steps=1000)
    p = runs.p_values(runs.att)
    for alpha in (0.05, 0.10):
        low, high = stats.binom.interval(0.99, len(panels), alpha)
        rejections = int(np.sum(p <= alpha))
        assert low <= rejections <= high, f"{method} at alpha {alpha}: {rejections}/{len(panels)} rejected"


def test_analyze_panel_with_several_treated_units_covers_a_planted_effect() -> None:
    panels = null_panels(np.random.default_rng(7), 1, 16, PRE + POST)[0]
    units = [f"u{i}" for i in range(16)]
    effect = 0.1 * panels[13:, :PRE].mean()
    panels[13:, PRE:] += effect
    periods = [dt.date(2000 + t, 1, 1) for t in range(PRE + POST)]
    frame = pl.DataFrame(
        {
            "unit": [u for u in units for _ in periods],
            "period": periods * len(units),
            "value": panels.reshape(-1),
        }
    )
    lift = analyze_panel(frame, treated=units[13:], treatment_start=periods[PRE])
    assert lift.ci_low < effect < lift.ci_high
    assert lift.ci_low < lift.att < lift.ci_high
    assert lift.placebo_count == 200 and any("randomization inference" in note for note in lift.notes)
    post = [p for p in lift.periods if p.post]
    assert all(p.low < p.effect < p.high for p in post)


def test_the_interval_analyze_panel_reports_is_the_inverted_test(panels: np.ndarray) -> None:
    """``RandomizationRuns.interval`` (the grid ``analyze_panel`` reports) covers the true effect
    exactly when the test at that effect does not reject: the coverage above is the interval's."""
    shifted = panels[:60].copy()
    effect = 0.05 * shifted[:, -1, :PRE].mean(axis=1)
    shifted[:, -1, PRE:] += effect[:, None]
    runs = randomization_runs(shifted, TREATED, PRE, "synthetic_control", placebos=200)
    by_test = runs.p_values(runs.att - effect[:, None] * runs.shift) > 0.05
    by_interval, unbounded = [], 0
    for panel in range(len(shifted)):
        # unbounded when a placebo puts weight on the treated unit and absorbs any effect given it:
        # the test then never rejects far out, and analyze_panel's notes say the interval is wider
        low, high, bounded = runs.interval(0.05, panel)
        unbounded += not bounded
        assert low < runs.att[panel, 0] < high
        by_interval.append(low <= effect[panel] <= high)
    # equal up to the grid's step at an interval's edge
    assert np.sum(np.array(by_interval) != by_test) <= 1
    assert unbounded < len(shifted) / 5
