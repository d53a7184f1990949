"""Polish a conic solution to the exact KKT point of a fixed-budget allocation.

Why: at large sizes Clarabel stops at 1e-8 (``program.TIGHT_MAX_LINES``), leaving spends a few
parts in 1e5 from the optimum. With the retailer multipliers the solver found held fixed, each
line's best spend for a budget price λ is closed-form, x_i(λ) = clip(a_i/(λ + offset_i) − b_i,
lo_i, hi_i), and kkt.py's bisection on λ puts Σ x exactly on the budget; the certificate then decides
whether the polished point is kept (feasible and a smaller certified gap), so polishing can only
make an answer better, never silently worse.
"""

from __future__ import annotations

import numpy as np

from rmnlora.agents.optimizer.kkt import KKTInfeasible, kkt_allocation
from rmnlora.agents.optimizer.program import Arrays, effective_floor, free_spend
from rmnlora.schemas.optimizer import AllocationProblem, ConstraintReport


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
    try:
        x, _ = kkt_allocation(
            arr.a, arr.b, problem.budget, arr.lo, arr.hi, offset=_group_offsets(arr, constraints)
        )
    except KKTInfeasible:
        return None
    return x
