"""Measurement agent: designs whose promised power holds, analyses whose intervals cover the truth.

Simulated panels with a known lift stand in for experiments; every random draw is seeded.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import polars as pl
import pytest
from pydantic import ValidationError
from scipy.linalg import toeplitz
from statsmodels.stats.power import TTestPower
from typer.testing import CliRunner

from rmnlora.agents.measurement import (
    GroupStats,
    analyze_experiment,
    analyze_holdout,
    design_experiment,
    history_from_events,
    paired_did,
    request_from_brief,
    segment_effects,
)
from rmnlora.agents.measurement.noise import fit_ar_noise
from rmnlora.agents.measurement.power import paired_t_power
from rmnlora.agents.measurement.simulate import market_levels, panel_events, panel_history, simulate_panels
from rmnlora.schemas.brief import parse_brief
from rmnlora.schemas.measurement import ExperimentRequest, MarketHistory

START = dt.date(2024, 1, 1)


def _world(markets: int, days: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    levels = market_levels(markets, rng)
    return levels, simulate_panels(levels, days, rng)[0]


def _indices(design, markets: list[str]) -> tuple[np.ndarray, np.ndarray]:
    index = {m: i for i, m in enumerate(markets)}
    return (
        np.array([index[p.treatment] for p in design.pairs]),
        np.array([index[p.control] for p in design.pairs]),
    )


def _fresh_experiments(levels, design, history_days, lift, panels, seed):
    """Fresh panels from the same world with the design's assignment and a multiplicative lift."""
    t, c = _indices(design, [f"M{i:03d}" for i in range(len(levels))])
    pre, post = design.pre_days, design.duration_days
    sims = simulate_panels(
        levels, pre + post, np.random.default_rng(seed), panels=panels, day0=history_days - pre
    )
    after = sims[:, :, pre:].copy()
    after[:, t] *= 1 + lift
    truth = (after[:, t] - sims[:, t, pre:]).mean(axis=(1, 2))
    estimate = paired_did(
        sims[:, t, :pre].mean(-1), after[:, t].mean(-1), sims[:, c, :pre].mean(-1), after[:, c].mean(-1), 0.05
    )
    return sims, after, truth, estimate


# ---------------------------------------------------------------- building blocks


def test_history_sums_events_per_market_and_day_and_fills_missing_days_with_zero():
    events = pl.DataFrame(
        {
            "event_date": [START, START, START + dt.timedelta(days=2), START],
            "retailer": ["a", "b", "a", "a"],
            "market": ["north", "north", "north", "south"],
            "attributed_sales": [1.0, 2.0, 5.0, 7.0],
        }
    )
    history = history_from_events(events)
    assert history.markets == ["north", "south"]
    assert history.values == [[3.0, 0.0, 5.0], [7.0, 0.0, 0.0]]
    assert history_from_events(events, retailers=["b"]).values == [[2.0]]
    with pytest.raises(ValueError, match="lacks column"):
        history_from_events(events.drop("market"))


def test_noise_model_variance_of_did_equals_the_quadratic_form_of_its_autocovariance():
    rng = np.random.default_rng(3)
    series = np.cumsum(rng.standard_normal((5, 300)), axis=1) * 0.1 + rng.standard_normal((5, 300))
    noise = fit_ar_noise(series, max_lag=80, order=3)
    pre, post = 30, 20
    weights = np.r_[np.full(pre, -1 / pre), np.full(post, 1 / post)]
    direct = weights @ toeplitz(noise.gamma[: pre + post]) @ weights
    assert noise.did_variance(pre, post) == pytest.approx(direct, rel=1e-9)


def test_paired_power_without_effect_spread_is_the_statsmodels_noncentral_t():
    for es, n in ((0.3, 20), (0.8, 8), (0.1, 100)):
        expected = TTestPower().power(effect_size=es, nobs=n, alpha=0.05, alternative="two-sided")
        assert paired_t_power(es * np.sqrt(n), n, 0.05) == pytest.approx(expected, abs=2e-3)


# ---------------------------------------------------------------- the done-when criteria


def test_designed_power_agrees_with_the_rejection_rate_of_simulated_experiments():
    days = 730
    levels, history = _world(40, days, seed=11)
    probe = design_experiment(
        ExperimentRequest(
            history=panel_history(history, START), design="geo", flight_days=28, simulations=2000
        )
    )
    lift = probe.mde  # the lift at which the design promises exactly the target power
    design = design_experiment(
        ExperimentRequest(
            history=panel_history(history, START),
            design="geo",
            flight_days=28,
            expected_lift=lift,
            simulations=2000,
        )
    )
    assert design.power == pytest.approx(0.8, abs=1e-3)
    _, _, _, estimate = _fresh_experiments(levels, design, days, lift, panels=4000, seed=12)
    rejection = float(np.mean(estimate.p_value < 0.05))
    assert abs(rejection - design.power) <= 0.03, (rejection, design.power)
    # the placebo check on history itself agrees too, and its false-positive rate is near alpha
    assert abs(design.simulated_power - design.power) <= 0.05
    assert design.placebo_false_positive_rate <= 0.08


def test_analysis_recovers_the_true_lift_and_intervals_cover_it_95_percent_of_the_time():
    days = 365
    levels, history = _world(30, days, seed=21)
    design = design_experiment(
        ExperimentRequest(
            history=panel_history(history, START), design="geo", flight_days=28, expected_lift=0.1
        )
    )
    _, _, truth, estimate = _fresh_experiments(levels, design, days, 0.1, panels=3000, seed=22)
    covered = (estimate.ci_low <= truth) & (truth <= estimate.ci_high)
    assert 0.93 <= covered.mean() <= 0.97, covered.mean()
    assert abs(np.mean(estimate.att - truth)) < 0.05 * np.mean(truth)


def test_analyze_experiment_on_events_recovers_a_planted_lift():
    days = 365
    levels, history = _world(30, days, seed=31)
    flight_start = START + dt.timedelta(days=days)
    design = design_experiment(
        ExperimentRequest(
            history=panel_history(history, START),
            design="geo",
            flight_days=42,
            expected_lift=0.1,
            flight_start=flight_start,
        )
    )
    assert design.feasible
    t, _ = _indices(design, [f"M{i:03d}" for i in range(30)])
    after = simulate_panels(levels, 42, np.random.default_rng(32), day0=days)[0]
    counterfactual = after.copy()
    after[t] *= 1.10
    panel = np.concatenate([history, after], axis=1)
    result = analyze_experiment(panel_events(panel, START), design)
    true_att = float((after[t] - counterfactual[t]).mean())
    assert result.ci_low <= true_att <= result.ci_high
    assert result.significant and result.relative_ci_low <= 0.10 <= result.relative_ci_high
    assert result.incremental_total == pytest.approx(result.att * len(t) * 42)
    for method in ("synthetic_control", "sdid"):
        synthetic = analyze_experiment(panel_events(panel, START), design, method=method)
        assert synthetic.method == method
        assert synthetic.ci_low <= true_att <= synthetic.ci_high
        assert synthetic.n_units == 199  # other coin flips within the 15 pairs
        assert synthetic.significant and "coin flips within the pairs" in synthetic.notes[-1]


def test_econml_recovers_a_planted_segment_effect():
    rng = np.random.default_rng(41)
    n = 3000
    segment = rng.choice(["loyal", "new", "lapsed"], size=n)
    x = rng.standard_normal(n)
    treated = (rng.random(n) < 1 / (1 + np.exp(-0.5 * x))).astype(int)
    effect = np.select([segment == "loyal", segment == "new"], [5.0, 1.0], 0.0)
    y = 20 + 3 * x + effect * treated + rng.standard_normal(n) * 2
    frame = pl.DataFrame({"sales": y, "exposed": treated, "segment": segment, "x": x})
    found = {
        e.segment: e
        for e in segment_effects(
            frame, outcome="sales", treatment="exposed", segment="segment", controls=["x"]
        )
    }
    for name, true in (("loyal", 5.0), ("new", 1.0), ("lapsed", 0.0)):
        assert found[name].ci_low <= true <= found[name].ci_high
        assert abs(found[name].effect - true) < 0.5
    assert found["loyal"].ci_low > found["new"].ci_high  # the planted difference is detected


# ---------------------------------------------------------------- bad requests


def test_too_few_markets_is_infeasible_with_a_way_out():
    _, history = _world(5, 120, seed=51)
    design = design_experiment(
        ExperimentRequest(history=panel_history(history, START), design="geo", flight_days=28)
    )
    assert not design.feasible
    assert "too few markets" in design.problems[0]
    assert any("switchback" in s for s in design.suggestions)
    auto = design_experiment(
        ExperimentRequest(history=panel_history(history, START), flight_days=56, expected_lift=0.1)
    )
    assert auto.kind == "switchback" and "geo" in auto.alternatives


def test_an_unreachable_mde_names_the_duration_that_would_reach_it():
    _, history = _world(20, 365, seed=61)
    request = ExperimentRequest(
        history=panel_history(history, START), design="geo", flight_days=14, expected_lift=0.08
    )
    design = design_experiment(request)
    assert not design.feasible and design.power < 0.8
    assert "minimum detectable effect" in design.problems[0]
    days = design.min_days_for_power
    assert days is not None and days > 14
    assert any(f"at least {days} days" in s for s in design.suggestions)
    longer = design_experiment(request.model_copy(update={"flight_days": days}))
    assert longer.feasible and longer.power >= 0.8


def test_a_series_too_short_says_how_much_history_is_needed():
    _, history = _world(20, 20, seed=71)
    design = design_experiment(
        ExperimentRequest(history=panel_history(history, START), design="geo", flight_days=28)
    )
    assert not design.feasible
    assert any("history too short: 20 days" in p for p in design.problems)
    assert any("at least 28 days" in s for s in design.suggestions)


def test_malformed_input_raises_a_clear_error():
    with pytest.raises(ValidationError, match="same number of days"):
        MarketHistory(kpi="sales", start=START, markets=["a", "b"], values=[[1.0, 2.0], [1.0]])
    _, history = _world(10, 60, seed=81)
    with pytest.raises(ValueError, match="carryover_days"):
        design_experiment(
            ExperimentRequest(
                history=panel_history(history, START),
                design="switchback",
                flight_days=56,
                switchback_block_days=3,
                carryover_days=3,
            )
        )


# ---------------------------------------------------------------- switchback and holdout


def test_switchback_design_power_is_confirmed_by_placebo_and_analysis_finds_the_lift():
    days = 365
    levels, history = _world(10, days, seed=91)
    flight_start = START + dt.timedelta(days=days)
    design = design_experiment(
        ExperimentRequest(
            history=panel_history(history, START),
            design="switchback",
            flight_days=84,
            expected_lift=0.1,
            flight_start=flight_start,
            simulations=2000,
        )
    )
    assert design.feasible and len(design.blocks) == 12
    assert sum(b.treated for b in design.blocks) == 6 and all(b.buffer_days == 1 for b in design.blocks)
    assert abs(design.simulated_power - design.power) <= 0.06
    after = simulate_panels(levels, 84, np.random.default_rng(92), day0=days)[0]
    for block in design.blocks:
        if block.treated:
            after[:, block.start : block.start + block.days] *= 1.10
    result = analyze_experiment(panel_history(np.concatenate([history, after], axis=1), START), design)
    assert result.significant and result.relative_ci_low <= 0.10 <= result.relative_ci_high


def test_holdout_respects_the_clean_room_minimum_and_reaches_the_power():
    _, history = _world(4, 60, seed=101)
    base = {
        "history": panel_history(history, START),
        "design": "holdout",
        "flight_days": 28,
        "expected_lift": 0.05,
    }
    design = design_experiment(ExperimentRequest(**base, audience_size=400_000, min_aggregation=50))
    assert design.feasible and design.power >= 0.8 and design.holdout_size >= 50
    smaller = design_experiment(ExperimentRequest(**base, audience_size=400_000, min_aggregation=50_000))
    assert smaller.holdout_size >= 50_000 and smaller.holdout_share > design.holdout_share
    tiny = design_experiment(ExperimentRequest(**base, audience_size=60, min_aggregation=50))
    assert not tiny.feasible and any("minimum aggregation" in p for p in tiny.problems)
    with pytest.raises(ValueError, match="minimum aggregation"):
        analyze_holdout(GroupStats(1000, 10.5, 30), GroupStats(20, 10.0, 30), design)
    lift = analyze_holdout(GroupStats(300_000, 10.5, 30), GroupStats(100_000, 10.0, 30), design)
    assert lift.ci_low <= 0.5 <= lift.ci_high and lift.relative_lift == pytest.approx(0.05)


# ---------------------------------------------------------------- planner entry point and CLI


def test_request_from_brief_uses_the_brief_retailers_kpi_and_flight(tmp_path):
    _, history = _world(12, 120, seed=111)
    events = panel_events(history, START, retailers=3)
    brief = parse_brief(
        {
            "name": "spring",
            "brand": "acme",
            "budget": 50_000,
            "flight": {
                "start": str(START + dt.timedelta(days=120)),
                "end": str(START + dt.timedelta(days=161)),
            },
            "retailers": [{"name": "R0"}, {"name": "R2"}],
            "creative": {"product": "soap"},
            "measurement": {"expected_lift": 0.08},
        }
    )
    request = request_from_brief(brief, events, allocation_total=40_000)
    assert request.flight_days == 42 and request.expected_lift == 0.08 and request.allocation_total == 40_000
    assert np.asarray(request.history.values).sum() == pytest.approx(history.sum() * 2 / 3)
    design = design_experiment(request)
    assert design.flight_start == brief.flight.start
    if design.treated_share_of_kpi is not None and design.treated_spend is not None:
        assert design.treated_spend == pytest.approx(40_000 * design.treated_share_of_kpi)


def test_cli_design_then_analyze(tmp_path):
    from rmnlora.cli import app

    levels, history = _world(20, 200, seed=121)
    panel = np.concatenate(
        [history, simulate_panels(levels, 42, np.random.default_rng(1), day0=200)[0]], axis=1
    )
    panel_events(history, START).write_parquet(tmp_path / "history.parquet")
    runner = CliRunner()
    out = runner.invoke(
        app,
        [
            "measure",
            "design",
            str(tmp_path / "history.parquet"),
            "--flight-days",
            "42",
            "--lift",
            "0.15",
            "--design",
            "geo",
            "--out",
            str(tmp_path / "design.json"),
            "--json",
        ],
    )
    assert out.exit_code == 0, out.output
    design = json.loads(out.stdout)
    assert design["kind"] == "geo" and design["feasible"] and design["flight_start"] == "2024-07-19"
    panel_events(panel, START).write_csv(tmp_path / "results.csv")
    out = runner.invoke(
        app,
        [
            "measure",
            "analyze",
            str(tmp_path / "results.csv"),
            "--design",
            str(tmp_path / "design.json"),
            "--json",
        ],
    )
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)
    assert result["ci_low"] <= 0 <= result["ci_high"]  # no lift was planted
    bad = runner.invoke(
        app,
        [
            "measure",
            "design",
            str(tmp_path / "history.parquet"),
            "--flight-days",
            "3",
            "--design",
            "geo",
            "--json",
        ],
    )
    assert bad.exit_code == 3 and json.loads(bad.stdout)["feasible"] is False


def test_the_design_shows_simulated_power_by_lift_and_by_duration():
    """Power a user can believe: near alpha at no lift, rising with the lift, and agreeing with the
    analytic figure where the noise model holds (this world is AR noise, so it does)."""
    _, history = _world(20, 365, seed=71)
    design = design_experiment(
        ExperimentRequest(
            history=panel_history(history, START),
            design="geo",
            flight_days=28,
            expected_lift=0.05,
            simulations=2000,
        )
    )
    powers = {round(p.lift, 4): p.power for p in design.power_by_lift}
    assert powers[0.01] < 0.35 and powers[0.30] > 0.95
    ordered = [p.power for p in design.power_by_lift]
    assert all(b >= a - 0.03 for a, b in zip(ordered, ordered[1:], strict=False))  # rises, up to noise
    assert design.simulated_mde is not None and design.mde is not None
    assert abs(design.simulated_mde - design.mde) <= 0.25 * design.mde
    days = [p.days for p in design.power_by_duration]
    assert days == sorted(days) and 28 in days and all(p.lift == 0.05 for p in design.power_by_duration)
    assert design.power_by_duration[-1].power > design.power_by_duration[0].power
