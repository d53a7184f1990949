"""Budget allocation over fitted log curves as a CVXPY exponential-cone program (Clarabel).

maximise  Σ w_i·D·a_i·log(1 + x_i/(D·b_i))          (D = flight days, w = incrementality)
s.t.      Σ x = budget (or ≤),  lo_i ≤ x_i ≤ hi_i,  per-retailer min / max / share cap,
          Σ sales_i(x_i) ≥ roas_floor · Σ x                      (concave ≥ affine: convex)

Variables are scaled to O(1) (spend unit = budget / lines) so Clarabel's tolerances mean the
same thing at 100 and 10,000 lines; the program itself is built and solved in :mod:`.program`.
Infeasible problems never reach the solver unexplained: :mod:`.infeasibility` names the
conflicting constraints and the gap.
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np

from rmnlora.agents.optimizer.certificate import certify
from rmnlora.agents.optimizer.curves import CurveFitError, fit_log_curve
from rmnlora.agents.optimizer.infeasibility import diagnose_floor, diagnose_target, structural_conflicts
from rmnlora.agents.optimizer.polish import polish_fixed_budget
from rmnlora.agents.optimizer.program import (
    BINDING_TOL,
    Arrays,
    free_spend,
    problem_arrays,
    solve_conic,
    split_violations,
)
from rmnlora.schemas.optimizer import (
    AllocationProblem,
    AllocationResult,
    ConstraintReport,
    InfeasibilityReport,
    LineAllocation,
    LineItem,
    SplitComparison,
)


def resolve_curves(problem: AllocationProblem, seed: int = 0) -> AllocationProblem:
    """Fit a curve for every line that carries history instead of one (bad history → ValueError)."""
    lines: list[LineItem] = []
    for index, line in enumerate(problem.lines):
        if line.curve is None and line.history:
            spend = [p.spend for p in line.history]
            try:
                curve = fit_log_curve(spend, [p.outcome for p in line.history], seed=seed + index)
                sales_curve = line.sales_curve
                if sales_curve is None and all(p.sales is not None for p in line.history):
                    sales_curve = fit_log_curve(
                        spend, [float(p.sales or 0.0) for p in line.history], seed=seed + index
                    )
            except CurveFitError as exc:
                raise ValueError(f"line '{line.id}': cannot fit a curve from its history: {exc}") from exc
            line = line.model_copy(update={"curve": curve, "history": None, "sales_curve": sales_curve})
        lines.append(line)
    return problem.model_copy(update={"lines": lines})


def _line_report(
    problem: AllocationProblem, arr: Arrays, x: np.ndarray, level: float
) -> tuple[list[LineAllocation], tuple[float, float] | None]:
    days = problem.days
    tail = (1 - level) / 2
    lines: list[LineAllocation] = []
    draws_by_line: list[np.ndarray] = []
    outcomes, slopes = arr.outcomes(x), arr.outcome_slopes(x)
    line_sales, sales_slopes = arr.sales(x), arr.sales_slopes(x)
    for i, line in enumerate(problem.lines):
        curve = arr.curves[i]
        spend = float(x[i])
        daily = spend / days
        outcome = float(outcomes[i])
        interval = None
        if curve.samples:
            s = np.asarray(curve.samples)
            reached = float(arr.reached(x[i : i + 1])[0]) / days  # the auction's bid-up applies to draws too
            draws = line.incrementality * days * s[:, 0] * np.log1p(reached / s[:, 1])
            draws_by_line.append(draws)
            interval = (float(np.quantile(draws, tail)), float(np.quantile(draws, 1 - tail)))
        sales = roas = mroas = None
        if line_sales is not None and sales_slopes is not None:
            sales = float(line_sales[i])
            roas = sales / spend if spend > 0 else None
            mroas = float(sales_slopes[i])
        observed = None
        extrapolation = None
        if curve.spend_min is not None and curve.spend_max is not None:
            observed = (curve.spend_min, curve.spend_max)
            if daily > curve.spend_max * (1 + 1e-6):
                extrapolation = (
                    f"chosen daily spend {daily:,.2f} is "
                    f"{(daily / curve.spend_max - 1) * 100:.0f}% above the highest observed "
                    f"{curve.spend_max:,.2f}"
                )
            elif BINDING_TOL * problem.budget / days < daily < curve.spend_min * (1 - 1e-6):
                extrapolation = (
                    f"chosen daily spend {daily:,.2f} is below the lowest observed {curve.spend_min:,.2f}"
                )
        lines.append(
            LineAllocation(
                id=line.id,
                retailer=line.retailer,
                placement=line.placement,
                spend=spend,
                share=spend / problem.budget,
                daily_spend=daily,
                predicted_outcome=outcome,
                outcome_interval=interval,
                predicted_sales=sales,
                roas=roas,
                marginal_return=float(slopes[i]),
                marginal_roas=mroas,
                r2=curve.r2,
                observed_daily_range=observed,
                extrapolates=extrapolation is not None,
                extrapolation=extrapolation,
            )
        )
    total_interval = None
    if draws_by_line and len(draws_by_line) == len(problem.lines):
        k = min(len(d) for d in draws_by_line)
        totals = np.sum([d[:k] for d in draws_by_line], axis=0)
        total_interval = (float(np.quantile(totals, tail)), float(np.quantile(totals, 1 - tail)))
    return lines, total_interval


def _comparisons(
    problem: AllocationProblem, arr: Arrays, optimum: float
) -> tuple[list[SplitComparison], list[str]]:
    notes: list[str] = []
    splits: list[tuple[str, np.ndarray]] = []
    current = [line.current_spend for line in problem.lines]
    if all(c is None for c in current):
        notes.append("no current split given: lift vs current not computed")
    else:
        vec = np.array([c or 0.0 for c in current])
        if any(c is None for c in current):
            notes.append("current split: lines without current_spend counted as 0")
        if vec.sum() > 0:
            if abs(vec.sum() - problem.budget) > 1e-9 * problem.budget:
                notes.append(f"current split ({vec.sum():,.2f}) scaled to the budget for comparison")
                vec = vec * problem.budget / vec.sum()
            splits.append(("current", vec))
    splits.append(("equal", np.full(len(arr.ids), problem.budget / len(arr.ids))))
    out: list[SplitComparison] = []
    for name, vec in splits:
        value = float(arr.outcomes(vec).sum())
        violations = split_violations(problem, arr, vec)
        out.append(
            SplitComparison(
                name=name,  # type: ignore[arg-type]
                spends={i: float(v) for i, v in zip(arr.ids, vec, strict=True)},
                predicted_outcome=value,
                lift=(optimum - value) / value if value > 0 else float("inf"),
                feasible=not violations,
                violations=violations,
            )
        )
    return out, notes


def allocate_budget(problem: AllocationProblem, *, seed: int = 0) -> AllocationResult:
    """Allocate the budget; an infeasible problem returns status 'infeasible' with a conflict report.

    Raises ValueError only for malformed input (a line without a usable curve or history).
    """
    problem = resolve_curves(problem, seed)
    arr = problem_arrays(problem)
    base = dict(
        problem=problem.name,
        scenario=problem.scenario,
        objective=problem.objective,
        currency=problem.currency,
        budget=problem.budget,
        interval_level=problem.interval_level,
        unmodelled_retailers=problem.unmodelled_retailers,
    )
    notes = list(problem.notes)
    conflicts = structural_conflicts(problem, arr)
    if conflicts:
        summary = f"{len(conflicts)} conflicting constraint set(s); nothing was relaxed"
        return AllocationResult(
            **base,
            status="infeasible",
            solver_status="not solved (pre-check)",  # type: ignore[arg-type]
            solve_seconds=0.0,
            notes=notes,
            infeasibility=InfeasibilityReport(summary=summary, conflicts=conflicts),
        )
    solved = solve_conic(problem, arr)
    nothing_spent = solved.x is not None and float(solved.x.sum()) <= BINDING_TOL * problem.budget
    if solved.x is None or (problem.scenario.kind == "target_roas" and nothing_spent):
        # A ROAS target no first currency unit reaches is met only by spending nothing: no answer.
        infeasible = solved.x is not None or solved.status in (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE)
        if infeasible and problem.scenario.kind in ("target_roas", "target_outcome"):
            summary = (
                f"no spend up to the budget reaches the {problem.scenario.label} target; nothing was relaxed"
            )
            conflicts = diagnose_target(problem, arr)
        elif infeasible and problem.roas_floor is not None:
            summary, conflicts = (
                "the ROAS floor is out of reach; nothing was relaxed",
                diagnose_floor(problem, arr),
            )
        else:
            summary, conflicts = "", []
        if conflicts:
            return AllocationResult(
                **base,
                status="infeasible",
                solver_status=solved.status,  # type: ignore[arg-type]
                solve_seconds=solved.seconds,
                notes=notes,
                infeasibility=InfeasibilityReport(summary=summary, conflicts=conflicts),
            )
        status = "infeasible" if solved.status.startswith("infeasible") else "error"
        return AllocationResult(
            **base,
            status=status,
            solver_status=solved.status,  # type: ignore[arg-type]
            solve_seconds=solved.seconds,
            notes=[*notes, f"solver: {solved.status}"],
        )
    x = solved.x
    certificate = certify(problem, arr, x, solved.constraints)
    polished = polish_fixed_budget(problem, arr, solved.constraints)
    if polished is not None:
        better = certify(problem, arr, polished, solved.constraints)
        # a negative gap is a point a hair outside a retailer bound scoring above the bound: not kept
        if not better.violations and -1e-12 <= better.gap < certificate.gap:
            x, certificate = polished, better
            notes.append(f"polished to the exact budget price (certified gap {better.gap:.1e})")
    lines, interval = _line_report(problem, arr, x, problem.interval_level)
    outcome = float(arr.outcomes(x).sum())
    line_sales = arr.sales(x)
    sales = float(line_sales.sum()) if line_sales is not None else None
    comparisons, comparison_notes = _comparisons(problem, arr, outcome)
    notes.extend(comparison_notes)
    if interval is None:
        notes.append("no bootstrap samples on some curves: predicted interval not computed")
    if solved.retried:
        notes.append("tight solver tolerances (3e-12) ended almost-solved; re-solved at Clarabel's 1e-8")
    if solved.status == cp.OPTIMAL_INACCURATE:
        notes.append("solver reports reduced accuracy (optimal_inaccurate)")
    r2s = [line.r2 for line in lines if line.r2 is not None]
    return AllocationResult(
        **base,  # type: ignore[arg-type]
        status="optimal" if solved.status == cp.OPTIMAL else "optimal_inaccurate",
        solver_status=solved.status,
        solve_seconds=solved.seconds,
        total_spend=float(x.sum()),
        lines=lines,
        predicted_outcome=outcome,
        predicted_interval=interval,
        predicted_sales=sales,
        roas=sales / float(x.sum()) if sales is not None and x.sum() > 0 else None,
        constraints=solved.constraints,
        binding=[c.name for c in solved.constraints if c.binding],
        comparisons=comparisons,
        min_r2=min(r2s) if r2s else None,
        extrapolating_lines=[line.id for line in lines if line.extrapolates],
        notes=notes,
        marginal_return=_marginal_return(problem, arr, x, solved.constraints),
        optimality_gap=certificate.gap,
    )


def _marginal_return(
    problem: AllocationProblem, arr: Arrays, x: np.ndarray, constraints: list[ConstraintReport]
) -> float | None:
    """What one more currency unit of spend returns in the objective at the solution.

    The budget's dual when the budget binds a fixed-budget allocation; otherwise the spend-weighted
    slope of the lines strictly inside their bounds (they share one slope at an optimum without a
    ROAS floor), None when every line sits on a bound.
    """
    if not free_spend(problem):
        budget = next((c for c in constraints if c.kind == "budget"), None)
        if budget is not None:
            return budget.dual
    tol = BINDING_TOL * problem.budget
    inside = (x > arr.lo + tol) & (x < arr.hi - tol)
    if not inside.any():
        return None
    slopes = arr.outcome_slopes(x)[inside]
    return float(np.average(slopes, weights=x[inside]))
