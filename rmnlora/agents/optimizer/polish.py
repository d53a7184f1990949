"""Polish a conic solution to the exact KKT point of a fixed-budget allocation.

Why: at large sizes Clarabel stops at 1e-8 (``program.TIGHT_MAX_LINES``), leaving spends a few
parts in 1e5 from the optimum. With the retailer multipliers the solver found held fixed, each
line's best spend for a budget price λ is closed-form, x_i(λ) = clip(a_i/(λ + offset_i) − b_i,
lo_i, hi_i), and bisection on λ puts Σ x exactly on the budget; the certificate then decides
whether the polished point is kept (feasible and a smaller certified gap), so polishing can only
make an answer better, never silently worse.
"""

from __future__ import annotations

import numpy as np

from rmnlora.agents.optimizer.program import Arrays, effective_floor, free_spend
from rmnlora.schemas.optimizer import AllocationProblem, ConstraintReport

STEPS = 200


def _group_offsets(arr: Arrays, constraints: list[ConstraintReport]) -> np.ndarray:
    """Per line: the retailer multipliers' part of its price (max and share caps add, mins subtract)."""
    by_group = {name: g for g, name in enumerate(arr.group_names)}
    per_group = np.zeros(len(arr.group_names))
    for report in constraints:
        if report.kind in ("retailer_max", "share_cap", "retailer_min"):
            g = by_group[report.name.split(":")[1]]
            sign = -1.0 if report.kind == "retailer_min" else 1.0
            per_group[g] += sign * max(report.dual, 0.0)
    membership = arr.groups.tocsc()
    return np.asarray(membership.T @ per_group).ravel()


def polish_fixed_budget(
    problem: AllocationProblem, arr: Arrays, constraints: list[ConstraintReport]
) -> np.ndarray | None:
    """The exact budget-price solution for these retailer multipliers, or None where it does not apply
    (target scenarios, a ROAS floor, spend below the budget, or no price that places the budget)."""
    if problem.scenario.kind != "fixed_budget" or effective_floor(problem) is not None or free_spend(problem):
        return None
    offset = _group_offsets(arr, constraints)
    budget = problem.budget

    def spend(lam: float) -> np.ndarray:
        price = np.maximum(lam + offset, 1e-300)
        return np.clip(arr.a / price - arr.b, arr.lo, arr.hi)

    low = max(float(np.min(arr.a / (arr.b + np.where(np.isfinite(arr.hi), arr.hi, budget)) - offset)), 1e-300)
    high = float(np.max(arr.a / (arr.b + arr.lo) - offset)) * 2 + 1e-300
    if spend(low).sum() < budget or spend(high).sum() > budget:
        return None
    log_low, log_high = np.log(low), np.log(high)
    for _ in range(STEPS):
        mid = 0.5 * (log_low + log_high)
        if spend(float(np.exp(mid))).sum() > budget:
            log_low = mid
        else:
            log_high = mid
        if log_high - log_low < 1e-15:
            break
    x = spend(float(np.exp(0.5 * (log_low + log_high))))
    free = (x > arr.lo) & (x < arr.hi)
    if free.any():  # the last rounding residue onto lines inside their bounds: exactly the budget
        x[free] += (budget - x.sum()) / free.sum()
    return x
