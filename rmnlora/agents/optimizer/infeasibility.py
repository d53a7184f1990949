"""Why an allocation problem has no solution: the conflicting constraints and the gap, in currency.

Linear conflicts (minimums above the budget, caps below it, a retailer whose floor exceeds
its ceiling) are found by arithmetic before any solver runs, so the report names them exactly.
A ROAS floor is checked by solving the problem without it for the best reachable ROAS.
Nothing is ever relaxed silently: the caller gets the report and decides.
"""

from __future__ import annotations

import numpy as np

from rmnlora.agents.optimizer.program import Arrays, solve_conic
from rmnlora.schemas.optimizer import AllocationProblem, Conflict, Scenario


def _money(value: float) -> str:
    return f"{value:,.2f}"


def _floor_source(arr: Arrays, line_lo: np.ndarray, g: int) -> str:
    """The constraint that sets retailer ``g``'s floor: its own minimum or its lines' minimums."""
    name = arr.group_names[g]
    return f"retailer:{name}:min" if arr.gmin[g] >= line_lo[g] else f"line minimums of {name}"


def _ceiling_source(arr: Arrays, line_hi: np.ndarray, g: int) -> str:
    """The constraint that sets retailer ``g``'s ceiling: the lowest of max, share cap, line maximums."""
    name = arr.group_names[g]
    caps = {
        f"retailer:{name}:max": arr.gmax[g],
        f"retailer:{name}:share_cap": arr.gshare[g],
        f"line maximums of {name}": line_hi[g],
    }
    return min(caps, key=lambda k: caps[k])


def structural_conflicts(problem: AllocationProblem, arr: Arrays) -> list[Conflict]:
    """Conflicts among the linear constraints (budget, line and retailer bounds, share caps)."""
    budget = problem.budget
    tol = 1e-9 * budget
    conflicts: list[Conflict] = []
    line_lo = arr.groups @ arr.lo
    line_hi = arr.groups @ np.where(np.isfinite(arr.hi), arr.hi, np.inf)
    ceiling = np.minimum(np.minimum(arr.gmax, arr.gshare), line_hi)
    floor = np.maximum(arr.gmin, line_lo)

    for g, name in enumerate(arr.group_names):
        if floor[g] > ceiling[g] + tol:
            lower = _floor_source(arr, line_lo, g)
            upper = _ceiling_source(arr, line_hi, g)
            conflicts.append(
                Conflict(
                    constraints=[lower, upper],
                    amount=float(floor[g] - ceiling[g]),
                    description=(
                        f"{name} must get at least {_money(floor[g])} ({lower}) but at most "
                        f"{_money(ceiling[g])} ({upper}): {_money(floor[g] - ceiling[g])} apart"
                    ),
                )
            )
    total_floor = float(floor.sum())
    if total_floor > budget + tol:
        parts = [_floor_source(arr, line_lo, g) for g in range(len(arr.group_names)) if floor[g] > 0]
        conflicts.append(
            Conflict(
                constraints=["budget", *parts],
                amount=total_floor - budget,
                description=(
                    f"minimum spends total {_money(total_floor)}, above the budget {_money(budget)} "
                    f"by {_money(total_floor - budget)}"
                ),
            )
        )
    total_ceiling = float(ceiling.sum())
    if problem.spend_all and total_ceiling < budget - tol:
        parts = [_ceiling_source(arr, line_hi, g) for g in range(len(arr.group_names))]
        conflicts.append(
            Conflict(
                constraints=["budget", *parts],
                amount=budget - total_ceiling,
                description=(
                    f"maximum spends and share caps allow only {_money(total_ceiling)} of the budget "
                    f"{_money(budget)}: {_money(budget - total_ceiling)} cannot be placed"
                ),
            )
        )
    return conflicts


def diagnose_floor(problem: AllocationProblem, arr: Arrays) -> list[Conflict]:
    """How far the ROAS floor is out of reach, from the best sales the other constraints allow."""
    assert problem.roas_floor is not None and arr.sa is not None and arr.sb is not None
    best = solve_conic(problem, arr, with_floor=False, maximise_margin=True)
    if best.x is None:
        return [
            Conflict(
                constraints=["roas_floor"],
                amount=float("nan"),
                description=f"the solver found no allocation at all ({best.status})",
            )
        ]
    x = best.x
    spend = float(x.sum())
    sales = arr.total_sales(x)
    reach = sales / spend if spend > 0 else 0.0
    binding = [c.name for c in best.constraints if c.binding]
    return [
        Conflict(
            constraints=["roas_floor", *binding],
            amount=problem.roas_floor - reach,
            description=(
                f"the best reachable ROAS is {reach:.4f} (sales {_money(sales)} on spend "
                f"{_money(spend)}), below the floor {problem.roas_floor:.4f} by "
                f"{problem.roas_floor - reach:.4f}; constraints holding it down: "
                f"{', '.join(binding) or 'none'}"
            ),
        )
    ]


def diagnose_target(problem: AllocationProblem, arr: Arrays) -> list[Conflict]:
    """Why no spend up to the budget meets a target_roas or target_outcome scenario.

    ROAS: best sales at spend S over S never rises with S (concave sales, zero at zero), so the best
    ROAS any allocation reaches is at the least spend the minimums force, or, with no minimums, the
    first currency unit's return on the best line. Outcome: the most the whole budget buys.
    """
    scenario = problem.scenario
    target = float(scenario.target or 0.0)
    if scenario.kind == "target_outcome":
        fixed = problem.model_copy(
            update={"scenario": Scenario(), "spend_all": False, "roas_floor": problem.roas_floor}
        )
        best = solve_conic(fixed, arr)
        if best.x is None:
            return [
                Conflict(
                    constraints=["outcome_target"],
                    amount=float("nan"),
                    description=f"the solver found no allocation at all ({best.status})",
                )
            ]
        reach = float(arr.outcomes(best.x).sum())
        binding = [c.name for c in best.constraints if c.binding]
        return [
            Conflict(
                constraints=["outcome_target", *binding],
                amount=target - reach,
                description=(
                    f"the most the budget {_money(problem.budget)} buys is {reach:,.2f} of "
                    f"{problem.objective}, below the target {target:,.2f} by {target - reach:,.2f}; "
                    f"binding: {', '.join(binding) or 'none'}"
                ),
            )
        ]
    assert arr.sa is not None and arr.sb is not None
    line_lo = arr.groups @ arr.lo
    forced = float(np.maximum(arr.gmin, line_lo).sum())
    if forced <= 1e-9 * problem.budget:
        first = arr.sales_slopes(np.zeros(len(arr.ids)))  # d sales / d spend at zero spend, per line
        assert first is not None
        best_line = int(np.argmax(first))
        reach = float(first[best_line])
        return [
            Conflict(
                constraints=["roas_target", f"line:{arr.ids[best_line]}"],
                amount=target - reach,
                description=(
                    f"no spend reaches ROAS {target:.4f}: even the first currency unit on the best line "
                    f"({arr.ids[best_line]}) returns {reach:.4f}, and every further unit returns less"
                ),
            )
        ]
    at_floor = problem.model_copy(
        update={"scenario": Scenario(), "budget": forced, "spend_all": True, "roas_floor": None}
    )
    best = solve_conic(at_floor, arr)
    reach = 0.0
    if best.x is not None:
        reach = arr.total_sales(best.x) / forced
    minimums = [f"retailer:{n}:min" for n, m in zip(arr.group_names, arr.gmin, strict=True) if m > 0]
    minimums += [f"line minimums of {n}" for n, m in zip(arr.group_names, line_lo, strict=True) if m > 0]
    return [
        Conflict(
            constraints=["roas_target", *minimums],
            amount=target - reach,
            description=(
                f"the minimums force {_money(forced)} of spend, and the best allocation of it returns ROAS "
                f"{reach:.4f}, below the target {target:.4f}; any more spend returns less"
            ),
        )
    ]
