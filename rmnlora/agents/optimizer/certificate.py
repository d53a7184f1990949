"""A certificate of optimality that does not trust the solver: the Lagrangian dual bound.

For any non-negative multipliers of the coupling constraints (budget, retailer min/max, share caps,
the ROAS floor, an outcome target), maximising the Lagrangian over the line boxes alone gives an
upper bound on the best objective any feasible allocation reaches (weak duality). The boxes
separate the Lagrangian into one concave 1-D problem per line, solved here by bisection on its
derivative, so the bound is computed from the solution's multipliers with numpy only. The gap
between that bound and the allocation's objective is what the allocation is certified to: a wrong
allocation, or wrong multipliers, cannot produce a small gap.

Why not the solver's own gap: Clarabel's stopping test is on its scaled, conic reformulation, and
the allocation is clipped to the bounds afterwards; the planner should be told how far the numbers
it reports can be from the optimum, in the units it reports them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rmnlora.agents.optimizer.program import Arrays, effective_floor, free_spend, split_violations
from rmnlora.schemas.optimizer import AllocationProblem, ConstraintReport

BISECTION_STEPS = 200


@dataclass(frozen=True)
class Certificate:
    """The dual bound, the allocation's objective in the same sense (larger is better) and their gap.

    A bound says nothing of an allocation that breaks a constraint (it can score above the bound),
    so such an allocation gets an infinite gap and ``violations`` names what it breaks."""

    bound: float
    objective: float
    gap: float  # (bound − objective) / |objective|; inf when the multipliers bound nothing
    violations: tuple[str, ...] = ()


def _line_maxima(arr: Arrays, c_out: float, c_sales: float, price: np.ndarray) -> np.ndarray | None:
    """max over [lo, hi] of c_out·f_i(x) + c_sales·s_i(x) − price_i·x, per line; None if unbounded.

    Each line's function is concave (log curves, bent by an auction, or tables), so bisection on
    its (right-hand) slope finds the maximiser: for a table it converges to the kink where the
    slope changes sign.
    """
    use_sales = bool(c_sales) and arr.sa is not None

    def slope(x: np.ndarray) -> np.ndarray:
        total = c_out * arr.outcome_slopes(x) - price
        if use_sales:
            sales = arr.sales_slopes(x)
            assert sales is not None
            total = total + c_sales * sales
        return total

    def value(x: np.ndarray) -> np.ndarray:
        total = c_out * arr.outcomes(x) - price * x
        if use_sales:
            sales = arr.sales(x)
            assert sales is not None
            total = total + c_sales * sales
        return total

    lo, hi = arr.lo.copy(), arr.hi.copy()
    endless = ~np.isfinite(hi)
    a = arr.a * c_out
    sa = arr.sa * c_sales if use_sales and arr.sa is not None else np.zeros_like(a)
    sb = arr.sb if arr.sb is not None else np.ones_like(arr.b)
    if np.any(endless & (price <= 0) & ((a > 0) | (sa > 0))):
        return None  # a line without a cap and no price on spend: the Lagrangian is unbounded
    # Where the slope turns negative: at most (a + sa)/price beyond zero, and with an auction, where
    # (a + sa)·k²/(min(b, sb)·x²) falls below the price. (Table lines are capped at their last point.)
    with np.errstate(divide="ignore", invalid="ignore"):
        positive = np.maximum(price, 1e-300)
        reach = np.where(price > 0, (a + sa) / positive, np.inf)
        bid = np.isfinite(arr.k)
        reach = np.where(
            bid, np.maximum(reach, arr.k * np.sqrt((a + sa) / (np.minimum(arr.b, sb) * positive))), reach
        )
    hi = np.where(endless, np.maximum(lo, reach), hi)
    left, right = lo.copy(), hi.copy()
    for _ in range(BISECTION_STEPS):
        mid = 0.5 * (left + right)
        rising = slope(mid) > 0
        left = np.where(rising, mid, left)
        right = np.where(rising, right, mid)
    candidates = np.stack([lo, hi, 0.5 * (left + right), left, right])
    return np.max(np.stack([value(c) for c in candidates]), axis=0)


def certify(
    problem: AllocationProblem, arr: Arrays, x: np.ndarray, constraints: list[ConstraintReport]
) -> Certificate:
    """The dual bound for allocation ``x`` from the multipliers in ``constraints`` (their duals)."""
    scenario = problem.scenario
    target = float(scenario.target or 0.0)
    spend = float(x.sum())
    outcome = float(arr.outcomes(x).sum())
    line_sales = arr.sales(x)
    sales = float(line_sales.sum()) if line_sales is not None else 0.0
    c_out, c_sales, c_spend = 1.0, 0.0, 0.0
    if scenario.kind == "target_mroas":
        c_out, c_sales, c_spend = 0.0, 1.0, target
    elif scenario.kind == "target_outcome":
        c_out, c_spend = 0.0, 1.0  # maximise −spend
    objective = c_out * outcome + c_sales * sales - c_spend * spend

    price = np.full(len(x), c_spend)
    constant = 0.0
    by_group = {name: g for g, name in enumerate(arr.group_names)}
    members = [np.asarray(arr.groups[g].toarray()).ravel() > 0 for g in range(len(arr.group_names))]
    floor = effective_floor(problem)
    for report in constraints:
        dual = max(report.dual, 0.0)
        if report.kind == "budget":
            price += dual
            constant += dual * problem.budget
        elif report.kind in ("retailer_max", "retailer_min", "share_cap"):
            inside = members[by_group[report.name.split(":")[1]]]
            if report.kind == "retailer_min":
                price -= dual * inside
                constant -= dual * report.bound
            elif report.kind == "share_cap" and free_spend(problem):
                share = report.bound / spend if spend > 0 else 0.0
                price += dual * (inside - share)
            else:
                price += dual * inside
                constant += dual * report.bound
        elif report.kind == "roas_floor" and floor is not None and spend > 0:
            rho = dual / spend  # reported per ROAS point: ρ·Σx
            c_sales += rho
            price += rho * floor
        elif report.kind == "outcome_target":
            c_out += dual
            constant -= dual * report.bound
    broken = tuple(split_violations(problem, arr, x))
    maxima = _line_maxima(arr, c_out, c_sales, price)
    if maxima is None or broken:
        return Certificate(float("inf"), objective, float("inf"), broken)
    bound = float(maxima.sum()) + constant
    return Certificate(bound, objective, (bound - objective) / max(abs(objective), 1e-12))
