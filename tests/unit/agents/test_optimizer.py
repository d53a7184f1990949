"""Budget optimizer: curve recovery, allocation vs the independent KKT solution, constraints,
infeasibility reports, brief mapping, bandit, plots and the `rmn optimize` command."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from rmnlora.agents.optimizer import (
    allocate_budget,
    build_problem,
    fit_log_curve,
    fit_response_curves,
    kkt_allocation,
    thompson_split,
)
from rmnlora.agents.optimizer.bandit import simulate_regret
from rmnlora.agents.optimizer.kkt import log_objective
from rmnlora.agents.optimizer.plots import plot_allocation
from rmnlora.cli import app
from rmnlora.schemas.brief import CampaignBrief
from rmnlora.schemas.optimizer import (
    AllocationProblem,
    AllocationResult,
    BanditArm,
    CurveParams,
    HistoryPoint,
    LineItem,
    RetailerLimits,
    Scenario,
)
from tests.support.paths import REPO_ROOT

ROOT = REPO_ROOT


def _problem(
    a: np.ndarray,
    b: np.ndarray,
    budget: float,
    *,
    days: int = 1,
    groups: int = 3,
    lo: np.ndarray | None = None,
    hi: np.ndarray | None = None,
    **kw: object,
) -> AllocationProblem:
    lines = [
        LineItem(
            id=f"l{i}",
            retailer=f"r{i % groups}",
            curve=CurveParams(a=float(a[i]), b=float(b[i])),
            min_spend=0.0 if lo is None else float(lo[i]),
            max_spend=None if hi is None or not np.isfinite(hi[i]) else float(hi[i]),
        )
        for i in range(len(a))
    ]
    return AllocationProblem(budget=budget, days=days, lines=lines, **kw)  # type: ignore[arg-type]


def _spends(result: AllocationResult) -> np.ndarray:
    return np.array([line.spend for line in result.lines])


def _close(x: np.ndarray, reference: np.ndarray) -> float:
    return float(np.max(np.abs(x - reference)) / np.max(np.abs(reference)))


# --- curves ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 3])
def test_log_curve_recovers_simulated_parameters(seed: int) -> None:
    """Stated tolerance: a and b within 15% (they trade off along a ridge), the curve itself within
    3% over the observed spend range, and the truth inside the 90% bootstrap interval."""
    rng = np.random.default_rng(seed)
    spend = rng.uniform(200, 6000, 180)
    outcome = 5000 * np.log1p(spend / 2000) * (1 + rng.normal(0, 0.05, 180))
    curve = fit_log_curve(spend, outcome, bootstrap=100)
    assert curve.a == pytest.approx(5000, rel=0.15)
    assert curve.b == pytest.approx(2000, rel=0.15)
    grid = np.linspace(200, 6000, 50)
    np.testing.assert_allclose(curve.a * np.log1p(grid / curve.b), 5000 * np.log1p(grid / 2000), rtol=0.03)
    assert curve.adstock == 0.0
    assert curve.r2 is not None and curve.r2 > 0.9
    assert curve.a_interval is not None and curve.a_interval[0] < curve.a < curve.a_interval[1]
    assert curve.spend_max == pytest.approx(spend.max())


def test_bootstrap_interval_covers_the_truth_most_of_the_time() -> None:
    """A 90% interval should cover the true scale in roughly 90% of simulated histories."""
    covered = 0
    for seed in range(30):
        rng = np.random.default_rng(100 + seed)
        spend = rng.uniform(200, 6000, 60)
        outcome = 5000 * np.log1p(spend / 2000) + rng.normal(0, 250, 60)
        curve = fit_log_curve(spend, outcome, bootstrap=60, seed=seed, contiguous=False)
        assert curve.a_interval is not None
        covered += curve.a_interval[0] <= 5000 <= curve.a_interval[1]
    assert covered >= 22  # 73%: loose enough for 30 trials, tight enough to catch a broken bootstrap


def test_adstock_is_detected_when_the_data_carries_over() -> None:
    rng = np.random.default_rng(5)
    spend = rng.uniform(0, 4000, 150)
    carried = np.zeros_like(spend)
    for t, x in enumerate(spend):
        carried[t] = x + (0.5 * carried[t - 1] if t else 0.0)
    outcome = 3000 * np.log1p(carried / 1500) + rng.normal(0, 40, 150)
    curve = fit_log_curve(spend, outcome, bootstrap=20)
    assert curve.adstock == pytest.approx(0.5, abs=0.1)
    # steady state: constant daily spend x yields 3000·log(1 + x/(1500·(1−0.5)))
    assert curve.b == pytest.approx(750, rel=0.15)


def test_fit_rejects_history_without_spend_variation() -> None:
    from rmnlora.agents.optimizer import CurveFitError

    with pytest.raises(CurveFitError, match="barely varies"):
        fit_log_curve([1000.0] * 20, [500.0] * 20)


def _events(days: int = 60, seed: int = 0) -> pl.DataFrame:
    """RMIS-like rows: several markets per day per line, plus one thin line."""
    rng = np.random.default_rng(seed)
    truth = {("walmart", "search"): (4000.0, 1500.0), ("kroger", "display"): (2500.0, 800.0)}
    rows = []
    start = dt.date(2025, 1, 1)
    for (retailer, placement), (a, b) in truth.items():
        for d in range(days):
            spend = float(rng.uniform(300, 5000))
            sales = a * np.log1p(spend / b) * (1 + rng.normal(0, 0.04))
            for market, share in (("east", 0.6), ("west", 0.4)):
                rows.append(
                    {
                        "event_date": start + dt.timedelta(days=d),
                        "retailer": retailer,
                        "placement": placement,
                        "market": market,
                        "spend": spend * share,
                        "attributed_sales": sales * share,
                        "clicks": int(spend * share / 2),
                    }
                )
    for d in range(3):
        rows.append(
            {
                "event_date": start + dt.timedelta(days=d),
                "retailer": "target",
                "placement": "search",
                "market": "east",
                "spend": 100.0,
                "attributed_sales": 300.0,
                "clicks": 40,
            }
        )
    return pl.DataFrame(rows)


def test_fit_response_curves_aggregates_events_per_line_and_flags_thin_history() -> None:
    fits = {f.line_id: f for f in fit_response_curves(_events(), bootstrap=30)}
    assert set(fits) == {"walmart/search", "kroger/display", "target/search"}
    walmart = fits["walmart/search"]
    assert walmart.ok and walmart.params is not None and walmart.days == 60
    assert walmart.params.a == pytest.approx(4000, rel=0.1)
    assert walmart.params.b == pytest.approx(1500, rel=0.15)
    thin = fits["target/search"]
    assert not thin.ok and thin.issue is not None and "days of history" in thin.issue


# --- allocation vs the independent KKT solution ---------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_allocation_matches_kkt_bisection_to_1e6(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 60
    a, b = rng.uniform(100, 1000, n), rng.uniform(50, 500, n)
    lo = np.where(rng.random(n) < 0.2, rng.uniform(50, 200, n), 0.0)
    hi = np.where(rng.random(n) < 0.3, rng.uniform(250, 600, n), np.inf)
    budget = 300.0 * n
    result = allocate_budget(_problem(a, b, budget, lo=lo, hi=hi))
    assert result.status == "optimal"
    x_kkt, lam = kkt_allocation(a, b, budget, lo, hi)
    assert _close(_spends(result), x_kkt) <= 1e-6
    assert result.predicted_outcome == pytest.approx(log_objective(a, b, x_kkt), rel=1e-6)
    budget_row = next(c for c in result.constraints if c.name == "budget")
    assert budget_row.binding and budget_row.dual == pytest.approx(lam, rel=1e-5)
    # every line strictly inside its bounds has marginal return equal to the budget multiplier
    inside = (x_kkt > lo + 1e-3) & (x_kkt < hi - 1e-3)
    margins = np.array([line.marginal_return for line in result.lines])
    assert np.allclose(margins[inside], lam, rtol=1e-5)


def test_flight_length_scales_daily_curves() -> None:
    rng = np.random.default_rng(11)
    a, b = rng.uniform(100, 1000, 20), rng.uniform(50, 500, 20)
    days, budget = 30, 150_000.0
    result = allocate_budget(_problem(a, b, budget, days=days))
    x_kkt, _ = kkt_allocation(days * a, days * b, budget)
    assert _close(_spends(result), x_kkt) <= 1e-6
    assert result.lines[0].daily_spend == pytest.approx(result.lines[0].spend / days)


def test_binding_share_cap_decomposes_like_two_kkt_problems() -> None:
    rng = np.random.default_rng(4)
    a, b = rng.uniform(100, 1000, 12), rng.uniform(50, 500, 12)
    a[0::3] *= 4  # retailer r0 is much better, so its cap must bind
    budget = 6000.0
    problem = _problem(a, b, budget, retailers=[RetailerLimits(name="r0", max_share=0.3)])
    result = allocate_budget(problem)
    in_r0 = np.arange(12) % 3 == 0
    x = _spends(result)
    assert x[in_r0].sum() == pytest.approx(0.3 * budget, rel=1e-7)
    cap = next(c for c in result.constraints if c.name == "retailer:r0:share_cap")
    assert cap.binding and cap.dual > 0 and "retailer:r0:share_cap" in result.binding
    x_in, lam_in = kkt_allocation(a[in_r0], b[in_r0], 0.3 * budget)
    x_out, lam_out = kkt_allocation(a[~in_r0], b[~in_r0], 0.7 * budget)
    assert _close(x[in_r0], x_in) <= 1e-6 and _close(x[~in_r0], x_out) <= 1e-6
    # the cap's dual is what a unit moved from the rest to r0 would gain
    assert cap.dual == pytest.approx(lam_in - lam_out, rel=1e-4)


def test_must_spend_and_minimums_hold_and_lift_is_reported() -> None:
    a = np.array([1000.0, 900.0, 50.0])
    b = np.array([200.0, 300.0, 400.0])
    lines = [
        LineItem(id=f"l{i}", retailer=f"r{i}", curve=CurveParams(a=a[i], b=b[i]), current_spend=cur)
        for i, cur in enumerate([500.0, 500.0, 1000.0])
    ]
    problem = AllocationProblem(
        budget=2000.0, lines=lines, retailers=[RetailerLimits(name="r2", must_spend=300)]
    )
    result = allocate_budget(problem)
    x = _spends(result)
    assert x[2] == pytest.approx(300.0, rel=1e-6)
    assert "retailer:r2:min" in result.binding
    current = next(c for c in result.comparisons if c.name == "current")
    expected_current = log_objective(a, b, np.array([500.0, 500.0, 1000.0]))
    assert current.predicted_outcome == pytest.approx(expected_current)
    assert current.lift == pytest.approx((result.predicted_outcome - expected_current) / expected_current)
    assert current.feasible
    equal = next(c for c in result.comparisons if c.name == "equal")
    assert equal.lift > 0


def test_roas_floor_binds_when_it_can_be_met_and_reports_the_gap_when_not() -> None:
    a = np.array([3000.0, 2000.0, 500.0])
    b = np.array([1000.0, 500.0, 100.0])
    budget = 4000.0
    x_best, _ = kkt_allocation(a, b, budget)
    best_roas = log_objective(a, b, x_best) / budget
    ok = allocate_budget(_problem(a, b, budget, roas_floor=best_roas * 0.99))
    assert ok.status == "optimal" and ok.roas is not None and ok.roas >= best_roas * 0.99 - 1e-9
    bad = allocate_budget(_problem(a, b, budget, roas_floor=best_roas + 0.25))
    assert bad.status == "infeasible" and bad.infeasibility is not None
    conflict = bad.infeasibility.conflicts[0]
    assert "roas_floor" in conflict.constraints
    assert conflict.amount == pytest.approx(0.25, rel=1e-5)


def test_infeasible_minimums_and_caps_name_the_constraints_and_amounts() -> None:
    a, b = np.full(4, 500.0), np.full(4, 100.0)
    over = allocate_budget(
        _problem(
            a,
            b,
            1000.0,
            retailers=[RetailerLimits(name="r0", min_spend=700), RetailerLimits(name="r1", min_spend=600)],
        )
    )
    assert over.status == "infeasible" and over.infeasibility is not None
    (conflict,) = over.infeasibility.conflicts
    assert conflict.amount == pytest.approx(300.0)
    assert {"budget", "retailer:r0:min", "retailer:r1:min"} <= set(conflict.constraints)

    capped = allocate_budget(_problem(a, b, 1000.0, groups=2, hi=np.full(4, 200.0)))
    assert capped.status == "infeasible" and capped.infeasibility is not None
    assert capped.infeasibility.conflicts[0].amount == pytest.approx(200.0)

    clash = allocate_budget(
        _problem(a, b, 1000.0, retailers=[RetailerLimits(name="r0", min_spend=400, max_share=0.3)])
    )
    assert clash.infeasibility is not None
    names = [set(c.constraints) for c in clash.infeasibility.conflicts]
    assert {"retailer:r0:min", "retailer:r0:share_cap"} in names
    assert clash.infeasibility.conflicts[0].amount == pytest.approx(100.0)


def test_extrapolation_is_flagged_against_the_observed_range() -> None:
    curve = CurveParams(a=1000.0, b=100.0, spend_min=10.0, spend_max=50.0, r2=0.9)
    lines = [LineItem(id="x", retailer="r", curve=curve), LineItem(id="y", retailer="s", curve=curve)]
    result = allocate_budget(AllocationProblem(budget=3000.0, days=10, lines=lines))
    # 150/day each, three times the highest observed 50/day
    assert result.extrapolating_lines == ["x", "y"]
    assert "above the highest observed" in (result.lines[0].extrapolation or "")
    assert result.min_r2 == pytest.approx(0.9)


def test_history_lines_are_fitted_and_carry_intervals() -> None:
    rng = np.random.default_rng(9)
    lines = []
    for i, (a, b) in enumerate([(3000.0, 1000.0), (2000.0, 600.0)]):
        spend = rng.uniform(200, 3000, 40)
        outcome = a * np.log1p(spend / b) * (1 + rng.normal(0, 0.05, 40))
        lines.append(
            LineItem(
                id=f"h{i}",
                retailer=f"r{i}",
                history=[HistoryPoint(spend=s, outcome=o) for s, o in zip(spend, outcome, strict=True)],
            )
        )
    result = allocate_budget(AllocationProblem(budget=60_000.0, days=30, lines=lines))
    assert result.status == "optimal" and result.predicted_interval is not None
    lo, hi = result.predicted_interval
    assert result.predicted_outcome is not None and lo < result.predicted_outcome < hi
    json.loads(result.model_dump_json())


# --- from a brief ---------------------------------------------------------------------------------


def _brief(**constraints: object) -> CampaignBrief:
    return CampaignBrief.model_validate(
        {
            "name": "t",
            "brand": "b",
            "budget": 100_000,
            "flight": {"start": "2025-03-01", "end": "2025-03-30"},
            "retailers": [
                {"name": "walmart", "current_spend": 50_000, "max_share": 0.6},
                {"name": "kroger", "current_spend": 50_000, "must_spend": True, "min_spend": 30_000},
                {"name": "target", "min_spend": 5_000},
            ],
            "constraints": constraints,
            "creative": {"product": "chips"},
        }
    )


def test_build_problem_maps_the_brief_and_sets_aside_unmodelled_commitments() -> None:
    curves = fit_response_curves(_events(), bootstrap=20)
    problem = build_problem(_brief(max_share_per_retailer=0.5, roas_floor=0.1), curves)
    assert problem.days == 30 and problem.budget == pytest.approx(95_000)
    assert problem.unmodelled_retailers == ["target"]
    limits = {r.name: r for r in problem.retailers}
    assert limits["walmart"].max_share == 0.5 and limits["kroger"].must_spend == 30_000
    assert {line.id for line in problem.lines} == {"walmart/search", "kroger/display"}
    assert problem.roas_floor == 0.1
    result = allocate_budget(problem)
    assert result.status == "optimal"
    spend = {line.retailer: line.spend for line in result.lines}
    assert spend["walmart"] <= 0.5 * 95_000 * (1 + 1e-7) and spend["kroger"] >= 30_000 * (1 - 1e-7)
    assert any("target" in note for note in problem.notes)


def test_build_problem_rejects_curves_of_the_wrong_outcome() -> None:
    curves = fit_response_curves(_events(), outcome="clicks", bootstrap=0)
    with pytest.raises(ValueError, match="needs curves of 'attributed_sales'"):
        build_problem(_brief(), curves)


# --- bandit ---------------------------------------------------------------------------------------


def test_thompson_sampling_has_less_regret_than_uniform_and_epsilon_greedy() -> None:
    ts = simulate_regret("thompson", rounds=800, seed=1)
    uniform = simulate_regret("uniform", rounds=800, seed=1)
    greedy = simulate_regret("epsilon_greedy", rounds=800, seed=1)
    assert ts[-1] < 0.5 * uniform[-1]
    assert ts[-1] < greedy[-1]


def test_thompson_split_favours_the_arm_with_better_observed_returns() -> None:
    good = [HistoryPoint(spend=100.0, outcome=400.0 + 10 * i) for i in range(5)]
    poor = [HistoryPoint(spend=100.0, outcome=150.0 + 10 * i) for i in range(5)]
    arms = [
        BanditArm(id="good", retailer="a", history=good),
        BanditArm(id="poor", retailer="b", history=poor),
        BanditArm(id="new", retailer="c"),
    ]
    split = thompson_split(arms, 10_000.0, seed=0)
    shares = {arm.id: arm.share for arm in split.arms}
    assert sum(shares.values()) == pytest.approx(1.0)
    assert shares["good"] > shares["poor"]
    assert shares["new"] > 0  # an unseen arm keeps prior uncertainty and some exploration budget
    assert split.prior_mean_return == pytest.approx(np.mean([p.outcome / p.spend for p in good + poor]))


# --- plots and CLI --------------------------------------------------------------------------------


def test_plots_are_png_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    problem = _problem(rng.uniform(100, 1000, 5), rng.uniform(50, 500, 5), 2000.0)
    result = allocate_budget(problem)
    paths = plot_allocation(problem, result, tmp_path)
    assert [p.name for p in paths] == ["curves.png", "allocation.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in paths)


def test_cli_optimizes_the_example_and_reports_infeasible_problems(tmp_path: Path) -> None:
    runner = CliRunner()
    example = ROOT / "examples" / "optimize_problem.json"
    ok = runner.invoke(app, ["optimize", str(example), "--json", "--plot-dir", str(tmp_path)])
    assert ok.exit_code == 0, ok.output
    payload = json.loads(ok.stdout)
    assert payload["status"] == "optimal"
    assert payload["total_spend"] == pytest.approx(300_000, rel=1e-7)
    assert (tmp_path / "curves.png").exists()

    data = json.loads(example.read_text())
    data["roas_floor"] = 50.0
    infeasible = tmp_path / "infeasible.json"
    infeasible.write_text(json.dumps(data))
    bad = runner.invoke(app, ["optimize", str(infeasible), "--json"])
    assert bad.exit_code == 3
    assert json.loads(bad.stdout)["infeasibility"]["conflicts"][0]["constraints"][0] == "roas_floor"

    data["lines"][0].pop("curve")
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(data))
    error = runner.invoke(app, ["optimize", str(broken)])
    assert error.exit_code == 1
    assert "needs either 'curve' or 'history'" in error.output


def test_the_briefs_scenario_is_the_question_the_plan_answers(tmp_path: Path) -> None:
    from rmnlora.agents.optimizer.phase import scenario_table

    brief = _brief().model_copy(update={"scenario": Scenario(kind="target_mroas", target=1.5)})
    problem = build_problem(brief, fit_response_curves(_events(), bootstrap=20))
    assert problem.scenario.kind == "target_mroas"
    result = allocate_budget(problem)
    assert result.status == "optimal" and result.scenario == brief.scenario
    assert result.total_spend < problem.budget and "budget" not in result.binding
    walmart = next(line for line in result.lines if line.retailer == "walmart")
    # kroger sits on its must-spend; this solve ends at Clarabel's 1e-8, and the certificate says so
    assert walmart.marginal_roas == pytest.approx(1.5, rel=1e-4)
    assert result.optimality_gap is not None and result.optimality_gap < 1e-6
    table = scenario_table(problem)
    assert [row.label for row in table.rows] == [
        "marginal ROAS 1.5",
        "fixed budget",
        "break-even at the margin",
    ]
