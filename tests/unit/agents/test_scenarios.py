"""Allocation scenarios against answers computed another way: closed forms and bisection over the
KKT solution (``kkt.py``, no solver), plus the dual-bound certificate on every solved row."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from rmnlora.agents.optimizer.allocate import allocate_budget
from rmnlora.agents.optimizer.certificate import certify
from rmnlora.agents.optimizer.kkt import kkt_allocation
from rmnlora.agents.optimizer.program import problem_arrays
from rmnlora.agents.optimizer.scenarios import compare_scenarios, format_table
from rmnlora.cli import app
from rmnlora.schemas.optimizer import (
    AllocationProblem,
    CurveParams,
    LineItem,
    RetailerLimits,
    Scenario,
)

ROOT = Path(__file__).resolve().parents[3]


def _curves(n: int = 8, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(500, 2000, n), rng.uniform(200, 800, n)


def _problem(a: np.ndarray, b: np.ndarray, budget: float = 20_000.0, **extra: object) -> AllocationProblem:
    lines = [
        LineItem(id=f"l{i}", retailer=f"r{i % 3}", curve=CurveParams(a=a[i], b=b[i]), current_spend=800.0)
        for i in range(len(a))
    ]
    return AllocationProblem(budget=budget, lines=lines, **extra)  # type: ignore[arg-type]


def _bisect(predicate_high: object, low: float = 1e-6, high: float = 1e7) -> float:
    """The boundary of a monotone predicate on (low, high), in log space."""
    lo, hi = np.log(low), np.log(high)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if predicate_high(float(np.exp(mid))):  # type: ignore[operator]
            hi = mid
        else:
            lo = mid
    return float(np.exp(0.5 * (lo + hi)))


def _spends(result: object) -> np.ndarray:
    return np.array([line.spend for line in result.lines])  # type: ignore[attr-defined]


def test_target_marginal_roas_spends_each_line_to_where_its_next_dollar_returns_the_target() -> None:
    a, b = _curves()
    caps = np.where(np.arange(len(a)) % 4 == 0, 300.0, np.inf)
    problem = _problem(a, b, scenario=Scenario(kind="target_mroas", target=1.2))
    problem = problem.model_copy(
        update={
            "lines": [
                line.model_copy(update={"max_spend": None if not np.isfinite(c) else float(c)})
                for line, c in zip(problem.lines, caps, strict=True)
            ]
        }
    )
    result = allocate_budget(problem)
    expected = np.clip(a / 1.2 - b, 0, caps)  # d/dx a·log(1+x/b) = a/(b+x) = target
    assert result.status == "optimal"
    np.testing.assert_allclose(_spends(result), expected, rtol=1e-7, atol=1e-6)
    inside = [line for line in result.lines if 1 < line.spend < 299]
    assert inside and all(abs((line.marginal_roas or 0) - 1.2) < 1e-8 for line in inside)
    assert result.optimality_gap is not None and abs(result.optimality_gap) < 1e-9


def test_target_roas_finds_the_largest_spend_that_still_returns_the_target() -> None:
    a, b = _curves()

    def roas_at(budget: float) -> float:
        x, _ = kkt_allocation(a, b, budget)
        return float(np.sum(a * np.log1p(x / b))) / budget

    expected_spend = _bisect(lambda budget: roas_at(budget) < 2.5)
    result = allocate_budget(_problem(a, b, scenario=Scenario(kind="target_roas", target=2.5)))
    assert result.status == "optimal"
    assert result.total_spend == pytest.approx(expected_spend, rel=1e-7)
    assert result.roas == pytest.approx(2.5, rel=1e-8)
    x_kkt, _ = kkt_allocation(a, b, result.total_spend)
    np.testing.assert_allclose(_spends(result), x_kkt, rtol=1e-6, atol=1e-4)
    assert "roas_floor" in result.binding


def test_target_outcome_finds_the_least_spend_that_reaches_it() -> None:
    a, b = _curves()

    def outcome_at(budget: float) -> float:
        x, _ = kkt_allocation(a, b, budget)
        return float(np.sum(a * np.log1p(x / b)))

    expected_spend = _bisect(lambda budget: outcome_at(budget) > 15_000)
    result = allocate_budget(_problem(a, b, scenario=Scenario(kind="target_outcome", target=15_000)))
    assert result.status == "optimal"
    assert result.total_spend == pytest.approx(expected_spend, rel=1e-7)
    assert result.predicted_outcome == pytest.approx(15_000, rel=1e-8)
    target = next(c for c in result.constraints if c.kind == "outcome_target")
    # its dual is the cost of the last outcome unit: 1 / marginal return at the solution
    assert target.binding and target.dual == pytest.approx(1 / (result.marginal_return or 1), rel=1e-5)


def test_a_roas_target_no_spend_reaches_is_infeasible_naming_why() -> None:
    a, b = _curves()
    best_first_dollar = float(np.max(a / b))
    result = allocate_budget(
        _problem(a, b, scenario=Scenario(kind="target_roas", target=best_first_dollar * 1.5))
    )
    assert result.status == "infeasible" and result.infeasibility is not None
    conflict = result.infeasibility.conflicts[0]
    assert f"returns {best_first_dollar:.4f}" in conflict.description
    assert conflict.amount == pytest.approx(best_first_dollar * 0.5, rel=1e-9)


def test_a_roas_target_the_minimums_make_unreachable_names_the_minimums() -> None:
    a, b = _curves()
    problem = _problem(
        a,
        b,
        scenario=Scenario(kind="target_roas", target=2.5),
        retailers=[RetailerLimits(name="r0", min_spend=15_000)],
    )
    result = allocate_budget(problem)
    assert result.status == "infeasible" and result.infeasibility is not None
    conflict = result.infeasibility.conflicts[0]
    assert "retailer:r0:min" in conflict.constraints
    assert "the minimums force 15,000.00" in conflict.description


def test_an_outcome_target_beyond_the_budget_is_infeasible_with_what_the_budget_buys() -> None:
    a, b = _curves()
    result = allocate_budget(_problem(a, b, scenario=Scenario(kind="target_outcome", target=1e6)))
    x, _ = kkt_allocation(a, b, 20_000.0)
    most = float(np.sum(a * np.log1p(x / b)))
    assert result.status == "infeasible" and result.infeasibility is not None
    assert result.infeasibility.conflicts[0].amount == pytest.approx(1e6 - most, rel=1e-7)
    assert "budget" in result.infeasibility.conflicts[0].constraints


def test_share_caps_are_shares_of_what_a_target_scenario_spends() -> None:
    a, b = _curves()
    free = allocate_budget(_problem(a, b, scenario=Scenario(kind="target_mroas", target=1.0)))
    natural = sum(line.spend for line in free.lines if line.retailer == "r1") / free.total_spend
    problem = _problem(
        a,
        b,
        scenario=Scenario(kind="target_mroas", target=1.0),
        retailers=[RetailerLimits(name="r1", max_share=natural / 2)],
    )
    result = allocate_budget(problem)
    by_retailer = sum(line.spend for line in result.lines if line.retailer == "r1")
    assert by_retailer == pytest.approx(natural / 2 * result.total_spend, rel=1e-7)
    assert "retailer:r1:share_cap" in result.binding and "budget" not in result.binding
    assert result.optimality_gap is not None and abs(result.optimality_gap) < 1e-7


TARGETS = {"fixed_budget": None, "target_mroas": 1.1, "target_roas": 1.4, "target_outcome": 14_000.0}


@pytest.mark.parametrize("kind", list(TARGETS))
def test_the_certificate_is_tight_at_the_optimum_and_catches_a_worse_split(kind: str) -> None:
    a, b = _curves(12, seed=9)
    problem = _problem(
        a,
        b,
        scenario=Scenario(kind=kind, target=TARGETS[kind]),  # type: ignore[arg-type]
        retailers=[
            RetailerLimits(name="r0", min_spend=6_000),
            RetailerLimits(name="r1", max_spend=3_000),
            RetailerLimits(name="r2", max_share=0.3),
        ],
    )
    result = allocate_budget(problem)
    assert result.status == "optimal", result.infeasibility
    assert result.optimality_gap is not None and -1e-9 < result.optimality_gap < 1e-7
    # A feasible split a little away from the optimum: the same multipliers must not certify it.
    x = _spends(result)
    moved = x.copy()
    r2 = [i for i, line in enumerate(result.lines) if line.retailer == "r2" and x[i] > 100]
    r0 = [i for i, line in enumerate(result.lines) if line.retailer == "r0" and x[i] > 100]
    if kind == "fixed_budget":  # same total, same retailer totals, worse within r2
        moved[r2[0]] += 0.2 * x[r2[1]]
        moved[r2[1]] -= 0.2 * x[r2[1]]
    elif kind == "target_outcome":  # more spend than needed
        moved[r0[0]] *= 1.05
    else:  # less spend on a line still worth its margin
        moved[r2[0]] *= 0.8
    arr = problem_arrays(problem)
    worse = certify(problem, arr, moved, result.constraints)
    assert not worse.violations and worse.gap > 1e-4
    # and a split that breaks a constraint is never certified
    broken = certify(problem, arr, x * 3, result.constraints)
    assert broken.violations and broken.gap == float("inf")


def test_scenario_table_reads_before_and_after_for_each_row() -> None:
    a, b = _curves()
    problem = _problem(a, b, roas_floor=0.5)
    table = compare_scenarios(
        problem,
        [Scenario(), Scenario(kind="target_roas", target=2.5), Scenario(kind="target_roas", target=99.0)],
    )
    current_spend = 800.0 * len(a)
    assert table.current_spend == pytest.approx(current_spend)
    fixed, roas, impossible = table.rows
    assert fixed.spend == pytest.approx(20_000, rel=1e-9) and fixed.spend_change == pytest.approx(
        20_000 - current_spend
    )
    assert roas.roas == pytest.approx(2.5, rel=1e-8) and roas.spend is not None and roas.spend < 20_000
    assert roas.cost_per_outcome == pytest.approx(1 / 2.5, rel=1e-8)  # sales is the objective
    assert sum(roas.spend_by_retailer.values()) == pytest.approx(roas.spend)
    assert (
        impossible.status == "infeasible"
        and impossible.reason
        and "no spend reaches ROAS 99" in impossible.reason
    )
    text = format_table(table)
    assert "current split (before)" in text and "ROAS 2.5" in text and "why: no spend reaches" in text


def test_the_default_scenarios_follow_the_brief() -> None:
    a, b = _curves()
    labels = [row.label for row in compare_scenarios(_problem(a, b, roas_floor=2.0)).rows]
    assert labels == ["fixed budget", "break-even at the margin", "ROAS floor as target"]


def test_a_scenario_without_its_target_is_refused_naming_it() -> None:
    with pytest.raises(ValidationError, match="scenario 'target_roas' needs a target"):
        Scenario(kind="target_roas")
    with pytest.raises(ValidationError, match="takes no target"):
        Scenario(kind="fixed_budget", target=2.0)


def test_rmn_optimize_compares_scenarios_and_names_bad_ones(tmp_path: Path) -> None:
    runner = CliRunner()
    example = str(ROOT / "examples" / "optimize_problem.json")
    shown = runner.invoke(
        app,
        ["optimize", example, "--json", "--scenario", "target_outcome=400000"]
        + ["--scenario", "target_roas=4", "--scenario", "target_outcome=9000"],
    )
    assert shown.exit_code == 0, shown.output
    table = json.loads(shown.stdout)
    reach, impossible, overshoot = table["rows"]
    assert reach["status"] == "optimal" and reach["outcome"] == pytest.approx(400_000, rel=1e-7)
    assert overshoot["reason"].startswith("the minimums force more spend than the target needs")
    assert impossible["status"] == "infeasible" and "the minimums force" in impossible["reason"]
    text = runner.invoke(app, ["optimize", example, "--scenarios"])
    assert text.exit_code == 0 and "current split (before)" in text.stdout and "fixed budget" in text.stdout
    only_impossible = runner.invoke(app, ["optimize", example, "--scenario", "target_roas=40"])
    assert only_impossible.exit_code == 3
    typo = runner.invoke(app, ["optimize", example, "--scenario", "target_rooas=4"])
    assert typo.exit_code == 1 and "--scenario 'target_rooas=4'" in typo.output
    missing = runner.invoke(app, ["optimize", example, "--scenario", "target_mroas"])
    assert missing.exit_code == 1 and "needs a target" in missing.output
