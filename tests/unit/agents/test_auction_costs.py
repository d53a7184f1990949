"""Cost per click that rises with spend: the allocation against an independent KKT solution of the
bent curves (nested bisection, no solver), and what the bend does to the split."""

from __future__ import annotations

import numpy as np
import pytest

from rmnlora.agents.optimizer.allocate import allocate_budget
from rmnlora.schemas.optimizer import AllocationProblem, AuctionCost, CurveParams, LineItem

DAYS = 30


def _problem(doubling: list[float | None], budget: float = 60_000.0) -> AllocationProblem:
    rng = np.random.default_rng(5)
    a, b = rng.uniform(300, 900, len(doubling)), rng.uniform(100, 400, len(doubling))
    lines = [
        LineItem(
            id=f"l{i}",
            retailer="r",
            curve=CurveParams(a=a[i], b=b[i]),
            auction=None if k is None else AuctionCost(doubling_spend=k),
        )
        for i, k in enumerate(doubling)
    ]
    return AllocationProblem(budget=budget, days=DAYS, lines=lines)


def _slope(a: float, b: float, k: float, x: float) -> float:
    """d/dx a·log(1 + r(x)/b) with r(x) = x/(1 + x/k): the bent curve's marginal return."""
    reached = x / (1 + x / k)
    return a / (b + reached) / (1 + x / k) ** 2


def _independent(problem: AllocationProblem) -> np.ndarray:
    """Σx = budget with every line's slope equal to λ: bisection on λ over bisection per line."""
    lines = [
        (
            line.curve.a * DAYS,
            line.curve.b * DAYS,
            np.inf if line.auction is None else line.auction.doubling_spend * DAYS,
        )
        for line in problem.lines
        if line.curve is not None
    ]

    def spend_at(lam: float) -> np.ndarray:
        out = []
        for a, b, k in lines:
            lo, hi = 0.0, problem.budget
            if _slope(a, b, k, 0.0) <= lam:
                out.append(0.0)
                continue
            for _ in range(200):
                mid = 0.5 * (lo + hi)
                lo, hi = (mid, hi) if _slope(a, b, k, mid) > lam else (lo, mid)
            out.append(0.5 * (lo + hi))
        return np.array(out)

    lo, hi = np.log(1e-9), np.log(1e3)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if spend_at(float(np.exp(mid))).sum() > problem.budget else (lo, mid)
    return spend_at(float(np.exp(0.5 * (lo + hi))))


def test_bent_curves_are_allocated_where_every_lines_next_dollar_returns_the_same() -> None:
    problem = _problem([300.0, None, 800.0, None, 150.0])
    result = allocate_budget(problem)
    assert result.status == "optimal"
    x = np.array([line.spend for line in result.lines])
    np.testing.assert_allclose(x, _independent(problem), rtol=1e-6, atol=1e-3)
    returns = [line.marginal_return for line in result.lines if line.spend > 1]
    assert max(returns) - min(returns) < 1e-6 * max(returns)
    assert result.optimality_gap is not None and abs(result.optimality_gap) < 1e-8


def test_a_rising_cost_moves_spend_away_and_lowers_what_the_same_spend_buys() -> None:
    flat = allocate_budget(_problem([None, None, None]))
    bent_problem = _problem([200.0, None, None])
    bent = allocate_budget(bent_problem)
    assert bent.lines[0].spend < 0.8 * flat.lines[0].spend  # the bidding-up line gets less
    assert bent.lines[1].spend > flat.lines[1].spend and bent.lines[2].spend > flat.lines[2].spend
    assert bent.predicted_outcome is not None and flat.predicted_outcome is not None
    assert bent.predicted_outcome < flat.predicted_outcome
    # at its chosen spend, the bent line returns less per dollar at the margin than its plain curve
    line = bent.lines[0]
    plain_slope = bent.lines[0].marginal_return
    curve = bent_problem.lines[0].curve
    assert curve is not None
    a, b = curve.a * DAYS, curve.b * DAYS
    assert plain_slope == pytest.approx(_slope(a, b, 200.0 * DAYS, line.spend), rel=1e-9)
    assert plain_slope < a / (b + line.spend)


def test_a_doubling_spend_must_be_positive() -> None:
    with pytest.raises(ValueError, match="doubling_spend"):
        AuctionCost(doubling_spend=0)
