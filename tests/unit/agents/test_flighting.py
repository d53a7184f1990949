"""Flighting: weekly plans against known answers (KKT bisection over cells, a 1-D bisection for
adstock, the steady-state curve), pacing that holds and is reported as binding, infeasibility
named before solving, input validation, and the Lagrangian certificate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from rmnlora.agents.optimizer.flighting import (
    Multipliers,
    flight_arrays,
    lagrangian_bound,
    plan_flight,
    weekly_outcomes,
)
from rmnlora.agents.optimizer.kkt import kkt_allocation, log_objective
from rmnlora.schemas.flighting import (
    CARRYOVER_WEEKS,
    FlightLine,
    FlightPlan,
    FlightProblem,
    Pacing,
    WeekSpec,
)
from rmnlora.schemas.optimizer import CurveParams

DAYS = 7
CURVES = [(400.0, 100.0), (250.0, 60.0), (600.0, 200.0)]  # daily (a, b)


def _lines(curves: list[tuple[float, float]] = CURVES, adstock: float = 0.0) -> list[FlightLine]:
    return [
        FlightLine(id=f"l{i}", retailer=f"r{i % 2}", curve=CurveParams(a=a, b=b, adstock=adstock))
        for i, (a, b) in enumerate(curves)
    ]


def _spends(plan: FlightPlan) -> np.ndarray:
    """Spend as lines × weeks, in the order of plan.line_totals."""
    ids = [line.line_id for line in plan.line_totals]
    x = np.zeros((len(ids), plan.weeks))
    for cell in plan.cells:
        x[ids.index(cell.line_id), cell.week] = cell.spend
    return x


def _close(x: np.ndarray, reference: np.ndarray) -> float:
    return float(np.max(np.abs(x - reference)) / np.max(np.abs(reference)))


def _cells(curves: list[tuple[float, float]], season: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Weekly cell curves A·log(1 + x/B): A = seasonality·D·a, B = D·b (lines × weeks)."""
    a = np.array([c[0] for c in curves])[:, None] * DAYS * np.asarray(season)[None, :]
    b = np.repeat(np.array([c[1] for c in curves])[:, None] * DAYS, len(season), axis=1)
    return a, b


def _seasonal(season: list[float]) -> list[WeekSpec]:
    return [WeekSpec(index=w, seasonality=s) for w, s in enumerate(season)]


# --- known answers ----------------------------------------------------------------------------------


def test_flat_weeks_split_evenly_and_match_the_kkt_bisection_over_cells() -> None:
    rng = np.random.default_rng(3)
    curves = [
        (float(a), float(b)) for a, b in zip(rng.uniform(100, 900, 8), rng.uniform(40, 400, 8), strict=True)
    ]
    lines = _lines(curves)
    lines[2] = lines[2].model_copy(update={"incrementality": 0.5})
    budget = 60_000.0
    plan = plan_flight(FlightProblem(budget=budget, weeks=5, lines=lines))
    assert plan.status == "optimal"
    x = _spends(plan)
    # no adstock, no seasonality: every week of a line gets the same spend
    assert np.max(np.ptp(x, axis=1)) <= 1e-6 * x.max()
    a, b = _cells(curves, [1.0] * 5)
    a[2] *= 0.5
    x_kkt, lam = kkt_allocation(a.ravel(), b.ravel(), budget)
    assert _close(x.ravel(), x_kkt) <= 1e-6
    assert plan.predicted_outcome == pytest.approx(log_objective(a.ravel(), b.ravel(), x_kkt), rel=1e-9)
    assert plan.budget_multiplier == pytest.approx(lam, rel=1e-5)
    assert plan.kkt_reference_diff is not None and plan.kkt_reference_diff <= 1e-6
    assert plan.total_spend == pytest.approx(budget, rel=1e-9)


def test_a_seasonal_peak_gets_more_spend_matching_kkt_on_the_expanded_cells() -> None:
    season = [0.5, 1.0, 2.0, 1.0]
    lines = _lines()
    lines[1] = lines[1].model_copy(update={"max_weekly_spend": 3000.0})
    budget = 40_000.0
    plan = plan_flight(FlightProblem(budget=budget, weeks=4, lines=lines, week_specs=_seasonal(season)))
    assert plan.status == "optimal"
    totals = [w.spend for w in plan.week_totals]
    assert totals[2] > totals[1] > totals[0] and totals[1] == pytest.approx(totals[3], rel=1e-6)
    a, b = _cells(CURVES, season)
    caps = np.full_like(a, np.inf)
    caps[1] = 3000.0
    x_kkt, _ = kkt_allocation(a.ravel(), b.ravel(), budget, hi=caps.ravel())
    assert _close(_spends(plan).ravel(), x_kkt) <= 1e-6
    assert x_kkt.reshape(3, 4)[1, 2] == pytest.approx(3000.0)  # the cap binds in the peak week …
    assert "line:l1:week2:max" in plan.binding  # … and the plan says so
    assert "line:l1:week0:max" not in plan.binding


def _two_week_optimum(a: float, b: float, r: float, budget: float, horizon: int) -> float:
    """Week-0 spend maximising Σ_t A·log(1 + e_t/B), e_t = (1−r)·Σ_k r^(t−k)·x_k, x_0 + x_1 = budget.

    Written out from the model, sharing nothing with the library: the derivative in x_0 is
    decreasing (concave objective), so bisection on its sign finds the optimum.
    """
    big_a, big_b = DAYS * a, DAYS * b
    t = np.arange(horizon)
    w0 = (1 - r) * r**t  # weight of x_0 in e_t
    w1 = np.where(t >= 1, (1 - r) * r ** np.maximum(t - 1, 0), 0.0)  # weight of x_1

    def slope(x0: float) -> float:
        e = w0 * x0 + w1 * (budget - x0)
        return float(np.sum(big_a / (big_b + e) * (w0 - w1)))

    lo, hi = 0.0, budget
    if slope(lo) <= 0:
        return 0.0
    if slope(hi) >= 0:
        return budget
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if slope(mid) > 0 else (lo, mid)
    return 0.5 * (lo + hi)


@pytest.mark.parametrize("carryover", [False, True])
def test_adstocked_two_week_flight_matches_an_independent_bisection(carryover: bool) -> None:
    a, b, adstock, budget = 400.0, 100.0, 0.85, 9_000.0
    problem = FlightProblem(
        budget=budget, weeks=2, lines=_lines([(a, b)], adstock), carryover_after_flight=carryover
    )
    plan = plan_flight(problem)
    assert plan.status == "optimal"
    horizon = 2 + (CARRYOVER_WEEKS if carryover else 0)
    x0 = _two_week_optimum(a, b, adstock**DAYS, budget, horizon)
    assert _spends(plan)[0, 0] == pytest.approx(x0, rel=1e-6)
    assert plan.kkt_gap is not None and plan.kkt_gap <= 1e-6


def test_a_constant_spend_predicts_the_steady_state_flight_curve() -> None:
    """The normalised adstock: after the ramp-up, a flat weekly spend x yields D·a·log(1 + x/(D·b))."""
    a, b, adstock, budget, weeks = 400.0, 100.0, 0.8, 24_000.0, 12
    plan = plan_flight(
        FlightProblem(
            budget=budget, weeks=weeks, lines=_lines([(a, b)], adstock), pacing=Pacing(max_change=0.0)
        )
    )
    assert plan.status == "optimal"
    x = budget / weeks
    assert np.allclose(_spends(plan), x, rtol=1e-6)  # max_change = 0 forces the flat plan
    outcome = [cell.predicted_outcome for cell in plan.cells]
    steady = DAYS * a * np.log1p(x / (DAYS * b))
    assert outcome[-1] == pytest.approx(steady, rel=1e-6)
    r = adstock**DAYS
    assert outcome[0] == pytest.approx(DAYS * a * np.log1p((1 - r) * x / (DAYS * b)), rel=1e-9)
    assert "pacing:max_change:week5" in plan.binding


# --- adstock and the carry-over horizon ---------------------------------------------------------------


def test_adstock_without_carryover_moves_spend_earlier_and_carryover_values_late_weeks() -> None:
    """What we measure (flat seasonality, adstock 0.8/day → 0.21/week, 8 weeks): counting only
    in-flight weeks, every line's last week gets the least (its carry-over is lost); counting the
    carry-over, the last week is no longer cut — it gets more than the middle weeks, whose
    spends are equal to 1e-6 either way (steady state). Each plan is best on its own objective."""
    lines = _lines(adstock=0.8)
    base = dict(budget=40_000.0, weeks=8, lines=lines)
    short = plan_flight(FlightProblem(**base, carryover_after_flight=False))  # type: ignore[arg-type]
    full = plan_flight(FlightProblem(**base, carryover_after_flight=True))  # type: ignore[arg-type]
    assert short.status == full.status == "optimal"
    xs, xf = _spends(short), _spends(full)
    assert np.all(xs[:, -1] < xs[:, 0]) and np.all(xs[:, -1] == xs.min(axis=1))
    assert np.all(xf[:, -1] > xf[:, 3])
    for x in (xs, xf):
        middle = x[:, 1:-1]
        assert np.max(np.ptp(middle, axis=1)) <= 1e-6 * x.max()
    assert short.carryover_counted is False and full.carryover_counted is True
    assert short.in_flight_outcome is not None and full.in_flight_outcome is not None
    assert short.carryover_outcome is not None and full.carryover_outcome is not None
    assert short.in_flight_outcome > full.in_flight_outcome
    assert full.in_flight_outcome + full.carryover_outcome > short.in_flight_outcome + short.carryover_outcome
    assert short.predicted_outcome == pytest.approx(short.in_flight_outcome)


# --- pacing -----------------------------------------------------------------------------------------

SEASON = [1.0, 1.0, 3.0, 1.0, 0.3, 1.0]
BUDGET = 40_000.0


def _split_kkt(season: list[float], week: int, week_budget: float) -> tuple[np.ndarray, float]:
    """Known answer when one week's total is pinned: KKT on that week's cells and on the rest.

    Returns the spends and |λ_week − λ_rest|, the pinning constraint's multiplier."""
    a, b = _cells(CURVES, season)
    x = np.zeros_like(a)
    x[:, week], lam_week = kkt_allocation(a[:, week], b[:, week], week_budget)
    rest = np.arange(len(season)) != week
    x_rest, lam_rest = kkt_allocation(a[:, rest].ravel(), b[:, rest].ravel(), BUDGET - week_budget)
    x[:, rest] = x_rest.reshape(len(CURVES), -1)
    return x, abs(lam_week - lam_rest)


@pytest.mark.parametrize(
    ("pacing", "specs", "week", "pinned", "name"),
    [
        (Pacing(max_week_share=0.25), [], 2, 0.25 * BUDGET, "pacing:max_week_share:week2"),
        (Pacing(min_week_share=0.1), [], 4, 0.1 * BUDGET, "pacing:min_week_share:week4"),
        (Pacing(), [WeekSpec(index=2, seasonality=3.0, max_spend=6_000.0)], 2, 6_000.0, "week:2:max"),
    ],
)
def test_week_share_and_week_caps_hold_bind_and_match_the_pinned_kkt(
    pacing: Pacing, specs: list[WeekSpec], week: int, pinned: float, name: str
) -> None:
    week_specs = _seasonal(SEASON)
    for spec in specs:
        week_specs[spec.index] = spec
    plan = plan_flight(
        FlightProblem(budget=BUDGET, weeks=6, lines=_lines(), week_specs=week_specs, pacing=pacing)
    )
    assert plan.status == "optimal"
    totals = np.array([w.spend for w in plan.week_totals])
    tol = 1e-6 * BUDGET
    if pacing.max_week_share is not None:
        assert np.all(totals <= pacing.max_week_share * BUDGET + tol)
    if pacing.min_week_share is not None:
        assert np.all(totals >= pacing.min_week_share * BUDGET - tol)
    assert totals[week] == pytest.approx(pinned, abs=tol)
    assert name in plan.binding
    x_kkt, multiplier = _split_kkt(SEASON, week, pinned)
    assert _close(_spends(plan), x_kkt) <= 1e-6
    row = next(c for c in plan.constraints if c.name == name)
    assert row.binding and row.dual == pytest.approx(multiplier, rel=1e-5)  # gain per unit of relaxation


@pytest.mark.parametrize("adstock", [0.0, 0.6])
def test_max_change_limits_every_week_to_week_step(adstock: float) -> None:
    pacing = Pacing(max_change=0.2, max_week_share=0.3, min_week_share=0.1)
    problem = FlightProblem(
        budget=BUDGET, weeks=6, lines=_lines(adstock=adstock), week_specs=_seasonal(SEASON), pacing=pacing
    )
    plan = plan_flight(problem)
    assert plan.status == "optimal"
    totals = np.array([w.spend for w in plan.week_totals])
    limit = 0.2 * BUDGET / 6
    steps = np.abs(np.diff(totals))
    assert np.all(steps <= limit + 1e-6 * BUDGET)
    named = {f"pacing:max_change:week{w}" for w in range(1, 6)}
    binding = named & set(plan.binding)
    assert binding  # the seasonal peak wants a steeper ramp than allowed
    assert all(
        steps[int(n.removeprefix("pacing:max_change:week")) - 1] == pytest.approx(limit) for n in binding
    )
    assert np.all(totals <= 0.3 * BUDGET + 1e-6 * BUDGET) and np.all(totals >= 0.1 * BUDGET - 1e-6 * BUDGET)
    assert plan.kkt_gap is not None and plan.kkt_gap <= 1e-6


# --- infeasible problems, named before solving ------------------------------------------------------


def test_week_minimums_above_the_budget_are_reported_with_the_gap() -> None:
    plan = plan_flight(
        FlightProblem(
            budget=1_000.0,
            weeks=3,
            lines=_lines(),
            week_specs=[WeekSpec(index=w, min_spend=400.0) for w in range(3)],
        )
    )
    assert plan.status == "infeasible" and plan.solver_status == "not solved (pre-check)"
    assert plan.infeasibility is not None and not plan.cells
    (conflict,) = plan.infeasibility.conflicts
    assert set(conflict.constraints) == {"week:0:min", "week:1:min", "week:2:min", "budget"}
    assert conflict.amount == pytest.approx(200.0)
    assert "200.00" in conflict.description
    assert FlightPlan.model_validate_json(plan.model_dump_json()).infeasibility == plan.infeasibility


def test_week_caps_below_the_budget_are_reported_with_the_gap() -> None:
    specs = [WeekSpec(index=w, max_spend=200.0) for w in range(4)]
    plan = plan_flight(FlightProblem(budget=1_000.0, weeks=4, lines=_lines(), week_specs=specs))
    assert plan.status == "infeasible" and plan.infeasibility is not None
    (conflict,) = plan.infeasibility.conflicts
    assert conflict.constraints == ["budget", "week:0:max", "week:1:max", "week:2:max", "week:3:max"]
    assert conflict.amount == pytest.approx(200.0)


def test_a_line_minimum_that_its_weekly_cap_and_a_closed_week_cannot_hold_is_named() -> None:
    lines = _lines()
    lines[0] = lines[0].model_copy(update={"min_spend": 350.0, "max_weekly_spend": 100.0})
    closed = [WeekSpec(index=0, max_spend=0.0)]  # 3 open weeks × 100 = 300 < 350
    plan = plan_flight(FlightProblem(budget=1_000.0, weeks=4, lines=lines, week_specs=closed))
    assert plan.status == "infeasible" and plan.infeasibility is not None
    (conflict,) = plan.infeasibility.conflicts
    assert conflict.constraints == ["line:l0:min", "line:l0:week_max", "week:0:max"]
    assert conflict.amount == pytest.approx(50.0)


def test_max_change_that_cannot_ramp_to_a_week_minimum_is_named() -> None:
    # 25 a week of change: reaching 400 in week 3 needs 325 + 350 + 375 + 400 = 1,450 > 1,000
    pacing = Pacing(max_change=0.1)
    ramp = plan_flight(
        FlightProblem(
            budget=1_000.0,
            weeks=4,
            lines=_lines(),
            week_specs=[WeekSpec(index=3, min_spend=400.0)],
            pacing=pacing,
        )
    )
    assert ramp.status == "infeasible" and ramp.infeasibility is not None
    (conflict,) = ramp.infeasibility.conflicts
    assert set(conflict.constraints) == {"week:3:min", "pacing:max_change", "budget"}
    assert conflict.amount == pytest.approx(450.0)
    # a capped week next to a week minimum: 100 + 25 cannot reach 400
    specs = [WeekSpec(index=0, max_spend=100.0), WeekSpec(index=1, min_spend=400.0)]
    pair = plan_flight(
        FlightProblem(budget=1_000.0, weeks=4, lines=_lines(), week_specs=specs, pacing=pacing)
    )
    assert pair.status == "infeasible" and pair.infeasibility is not None
    first = pair.infeasibility.conflicts[0]
    assert first.constraints == ["week:1:min", "week:0:max", "pacing:max_change"]
    assert first.amount == pytest.approx(275.0)
    # the same ramp with enough budget is feasible, and the plan keeps to it
    ok = plan_flight(
        FlightProblem(
            budget=1_600.0,
            weeks=4,
            lines=_lines(),
            week_specs=[WeekSpec(index=3, min_spend=400.0)],
            pacing=pacing,
        )
    )
    assert ok.status == "optimal"
    totals = np.array([w.spend for w in ok.week_totals])
    assert totals[3] >= 400.0 - 1e-6 * 1_600 and np.all(np.abs(np.diff(totals)) <= 40.0 + 1e-6 * 1_600)


# --- bad input ----------------------------------------------------------------------------------------


def test_bad_input_is_rejected_naming_the_field() -> None:
    lines = _lines()
    with pytest.raises(ValidationError, match=r"lines: line ids listed twice: l0"):
        FlightProblem(budget=1_000.0, weeks=4, lines=[lines[0], lines[0]])
    with pytest.raises(ValidationError, match=r"week_specs: index 4 out of range for weeks=4"):
        FlightProblem(budget=1_000.0, weeks=4, lines=lines, week_specs=[WeekSpec(index=4)])
    with pytest.raises(ValidationError, match=r"week_specs: week indices listed twice: 1"):
        FlightProblem(budget=1_000.0, weeks=4, lines=lines, week_specs=[WeekSpec(index=1), WeekSpec(index=1)])
    with pytest.raises(ValidationError, match=r"min_week_share \(0.5\) > max_week_share \(0.2\)"):
        Pacing(min_week_share=0.5, max_week_share=0.2)
    with pytest.raises(ValidationError, match=r"max_spend \(10.0\) < min_spend \(20.0\)"):
        WeekSpec(index=0, min_spend=20.0, max_spend=10.0)
    with pytest.raises(ValidationError, match="weeks"):
        FlightProblem(budget=1_000.0, weeks=105, lines=lines)


# --- the certificate -----------------------------------------------------------------------------------


def _random_adstocked(seed: int, n: int, weeks: int, **kw: object) -> FlightProblem:
    rng = np.random.default_rng(seed)
    lines = [
        FlightLine(
            id=f"l{i}",
            retailer="r",
            curve=CurveParams(
                a=float(rng.uniform(100, 900)),
                b=float(rng.uniform(40, 400)),
                adstock=float(rng.choice([0.3, 0.6, 0.8])),
            ),
        )
        for i in range(n)
    ]
    season = _seasonal([float(s) for s in rng.uniform(0.6, 1.8, weeks)])
    return FlightProblem(budget=1_200.0 * n * weeks, weeks=weeks, lines=lines, week_specs=season, **kw)  # type: ignore[arg-type]


def test_the_dual_bound_certifies_an_adstocked_paced_plan() -> None:
    problem = _random_adstocked(11, 10, 10, pacing=Pacing(max_change=0.25, max_week_share=0.15))
    plan = plan_flight(problem)
    assert plan.status == "optimal" and plan.certificate == "lagrangian_dual_bound"
    assert plan.kkt_gap is not None and 0 <= plan.kkt_gap <= 1e-6
    assert plan.stationarity_residual is not None and plan.stationarity_residual <= 1e-6
    assert plan.dual_bound is not None and plan.predicted_outcome is not None
    assert plan.dual_bound >= plan.predicted_outcome
    # the bound holds against any feasible plan, e.g. the even split (feasible for these limits)
    arr = flight_arrays(problem)
    even = np.full((10, 10), problem.budget / 100)
    assert weekly_outcomes(arr, even, arr.horizon).sum() <= plan.dual_bound
    binding_change = [name for name in plan.binding if name.startswith("pacing:")]
    assert binding_change  # the certificate covers a plan that the pacing limits shape


def test_the_certificate_exposes_a_plan_that_is_not_optimal() -> None:
    """Only the budget constrains this flight, so zero multipliers for the rest are exact."""
    problem = _random_adstocked(5, 6, 8)
    plan = plan_flight(problem)
    assert plan.status == "optimal" and plan.kkt_gap is not None
    arr = flight_arrays(problem)
    none = Multipliers.zeros(6, 8)
    x = _spends(plan)
    bound, objective, _ = lagrangian_bound(arr, x, none)
    assert (bound - objective) / objective <= 1e-6
    assert objective == pytest.approx(plan.predicted_outcome, rel=1e-12)
    # moving 5% of one line's spend from its biggest week to its smallest leaves a visible gap
    worse = x.copy()
    i = int(np.argmax(x.sum(axis=1)))
    moved = 0.05 * x[i].max()
    worse[i, int(np.argmax(x[i]))] -= moved
    worse[i, int(np.argmin(x[i]))] += moved
    bound, objective, _ = lagrangian_bound(arr, worse, none)
    assert (bound - objective) / objective > 1e-4


def test_rmn_flight_prints_the_weeks_and_names_an_impossible_pacing(tmp_path: Path) -> None:
    import json as json_module

    from typer.testing import CliRunner

    from rmnlora.cli import app

    runner = CliRunner()
    problem = {
        "budget": 40_000,
        "weeks": 6,
        "lines": [{"id": "w", "retailer": "walmart", "curve": {"a": 900, "b": 400, "adstock": 0.6}}],
        "week_specs": [{"index": 4, "seasonality": 1.8}],
        "pacing": {"max_change": 0.5},
    }
    path = tmp_path / "flight.json"
    path.write_text(json_module.dumps(problem))
    shown = runner.invoke(app, ["flight", str(path)])
    assert shown.exit_code == 0, shown.output
    assert "week   5:" in shown.output and "pacing:max_change" in shown.output
    problem["week_specs"] = [{"index": 0, "min_spend": 30_000}, {"index": 1, "min_spend": 30_000}]
    path.write_text(json_module.dumps(problem))
    impossible = runner.invoke(app, ["flight", str(path)])
    assert impossible.exit_code == 3 and "week:0:min" in impossible.output
    path.write_text('{"budget": 1, "weeks": 0, "lines": []}')
    bad = runner.invoke(app, ["flight", str(path)])
    assert bad.exit_code == 1 and "field 'weeks'" in bad.output
