"""Under no effect, each design's analysis rejects at its stated rate (alpha 0.05 and 0.10).

Geo pairs (paired DiD t-test), switchback (on- vs off-block t-test) and holdout (Welch t on clean-
room aggregates), each over fresh experiments drawn from the same world as the design's history;
rejections must lie in the 99% binomial band of alpha. The panel methods have their own test
(test_panel_inference.py).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from scipy import stats

from rmnlora.agents.measurement import analyze_experiment, analyze_holdout, design_experiment, paired_did
from rmnlora.agents.measurement.analysis import GroupStats
from rmnlora.agents.measurement.geo import match_pairs
from rmnlora.agents.measurement.randomization import pair_flip_sets, randomization_runs
from rmnlora.agents.measurement.simulate import market_levels, panel_history, simulate_panels
from rmnlora.datagen.world import market_day_sales
from rmnlora.schemas.measurement import ExperimentRequest

START = dt.date(2024, 1, 1)
ALPHAS = (0.05, 0.10)


def _in_band(rejections: int, experiments: int, alpha: float) -> bool:
    low, high = stats.binom.interval(0.99, experiments, alpha)
    return bool(low <= rejections <= high)


def test_geo_pairs_false_positive_rate() -> None:
    rng = np.random.default_rng(5)
    levels = market_levels(30, rng)
    history = simulate_panels(levels, 365, rng)[0]
    design = design_experiment(
        ExperimentRequest(history=panel_history(history, START), design="geo", flight_days=28)
    )
    index = {f"M{i:03d}": i for i in range(30)}
    t = np.array([index[p.treatment] for p in design.pairs])
    c = np.array([index[p.control] for p in design.pairs])
    pre, post, experiments = design.pre_days, design.duration_days, 4000
    panels = simulate_panels(levels, pre + post, np.random.default_rng(6), panels=experiments, day0=365 - pre)
    for alpha in ALPHAS:
        estimate = paired_did(
            panels[:, t, :pre].mean(-1),
            panels[:, t, pre:].mean(-1),
            panels[:, c, :pre].mean(-1),
            panels[:, c, pre:].mean(-1),
            alpha,
        )
        assert _in_band(int(np.sum(estimate.p_value < alpha)), experiments, alpha), alpha


def test_geo_pairs_synthetic_did_false_positive_rate() -> None:
    """120 realistic-world histories, each with its own matched pairs (the geo design's matching
    and coin flips); the synthetic analysis' randomization test (coin flips within the pairs) on
    the flight with nothing done. Rows are laid out controls first, pair i's treated market at
    12 + i, so one set of flips serves every world.
    (Each control market as a placebo against the treated mean had rejected 0 of 150 at 0.05 and 80
    at 0.10, with too few placebos for 0.05 to be reachable.) Synthetic control shares the code;
    its figures are in docs/measurement.md."""
    rng = np.random.default_rng(12)
    worlds, markets, history_days, flight = 120, 24, 90, 28
    panels = []
    for _ in range(worlds):
        sales = market_day_sales(rng, START, markets, history_days + flight)
        matched, left_out = match_pairs(sales[:, :history_days].mean(axis=1))
        assert not left_out
        flips = rng.random(len(matched)) < 0.5  # the design's coin flip per pair
        rows = [a if f else b for (a, b), f in zip(matched, flips, strict=True)]  # controls
        rows += [b if f else a for (a, b), f in zip(matched, flips, strict=True)]  # treated
        panels.append(sales[rows])
    pairs = markets // 2
    treated, control = np.arange(pairs, markets), np.arange(pairs)
    sets = pair_flip_sets(treated, control, 99, 0)
    runs = randomization_runs(
        np.array(panels), treated, history_days, "sdid", placebos=99, max_steps=1000, sets=sets
    )  # type: ignore[arg-type]
    p = runs.p_values(runs.att)
    for alpha in ALPHAS:
        assert _in_band(int(np.sum(p <= alpha)), worlds, alpha), (alpha, int(np.sum(p <= alpha)))


def test_switchback_false_positive_rate() -> None:
    rng = np.random.default_rng(7)
    levels = market_levels(10, rng)
    days, experiments = 365, 600
    history = simulate_panels(levels, days, rng)[0]
    request = ExperimentRequest(
        history=panel_history(history, START),
        design="switchback",
        flight_days=84,
        expected_lift=0.1,
        flight_start=START + dt.timedelta(days=days),
    )
    design = design_experiment(request)
    assert design.kind == "switchback"
    flights = simulate_panels(levels, 84, np.random.default_rng(8), panels=experiments, day0=days)
    for alpha in ALPHAS:
        rejected = 0
        for flight in flights:
            panel = panel_history(np.concatenate([history, flight], axis=1), START)
            rejected += analyze_experiment(panel, design, alpha=alpha).significant
        assert _in_band(rejected, experiments, alpha), (alpha, rejected)


@pytest.mark.parametrize("alpha", ALPHAS)
def test_holdout_false_positive_rate_on_heavy_tailed_purchases(alpha: float) -> None:
    """Most users buy nothing, buyers' baskets are log-normal: the KPI a clean room aggregates."""
    rng = np.random.default_rng(9)
    design = design_experiment(
        ExperimentRequest(
            history=panel_history(simulate_panels(market_levels(4, rng), 60, rng)[0], START),
            design="holdout",
            flight_days=28,
            expected_lift=0.05,
            audience_size=400_000,
        )
    )
    experiments, rejected = 4000, 0
    for _ in range(experiments):
        groups = []
        for n in (4000, 1000):
            buys = rng.random(n) < 0.2
            spend = np.where(buys, rng.lognormal(3.0, 1.0, n), 0.0)
            groups.append(GroupStats(n, float(spend.mean()), float(spend.std(ddof=1))))
        rejected += analyze_holdout(groups[0], groups[1], design, alpha=alpha).significant
    assert _in_band(rejected, experiments, alpha), rejected
