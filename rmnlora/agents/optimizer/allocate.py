"""Budget allocation over fitted log curves as a CVXPY exponential-cone program (Clarabel).

maximise  Σ w_i·D·a_i·log(1 + x_i/(D·b_i))          (D = flight days, w = incrementality)
s.t.      Σ x = budget (or ≤),  lo_i ≤ x_i ≤ hi_i,  per-retailer min / max / share cap,
          Σ sales_i(x_i) ≥ roas_floor · Σ x                      (concave ≥ affine: convex)

Variables are scaled to O(1) (spend unit = budget / lines) so Clarabel's tolerances mean the
same thing at 100 and 10,000 lines. Infeasible problems never reach the solver unexplained:
:mod:`.infeasibility` names the conflicting constraints and the gap.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import cvxpy as cp
import numpy as np
import scipy.sparse as sp

from rmnlora.agents.optimizer.curves import CurveFitError, fit_log_curve
from rmnlora.schemas.optimizer import (
    AllocationProblem,
    AllocationResult,
    ConstraintReport,
    CurveParams,
    InfeasibilityReport,
    LineAllocation,
    LineItem,
    SplitComparison,
)

SALES_OBJECTIVES = ("attributed_sales", "incremental_sales")
BINDING_TOL = 1e-7
# Tight tolerances so allocations agree with the KKT solution to 1e-6; Clarabel's defaults (1e-8)
# are the retry when a tight solve ends "almost solved" (e.g. with a slack nonlinear ROAS floor).
SOLVER_OPTIONS = {"tol_gap_abs": 3e-12, "tol_gap_rel": 3e-12, "tol_feas": 3e-12, "max_iter": 300}
RETRY_OPTIONS = {"tol_gap_abs": 1e-8, "tol_gap_rel": 1e-8, "tol_feas": 1e-8, "max_iter": 300}


@dataclass
class Arrays:
    """The problem as vectors: flight-scaled curves, weights and bounds."""

    ids: list[str]
    retailers: list[str]
    a: np.ndarray  # flight-scaled objective curve scale, incrementality applied
    b: np.ndarray
    sa: np.ndarray | None  # flight-scaled attributed-sales curve (for the ROAS floor / reports)
    sb: np.ndarray | None
    lo: np.ndarray
    hi: np.ndarray
    group_names: list[str]
    groups: sp.csr_matrix  # retailers × lines membership
    gmin: np.ndarray
    gmax: np.ndarray  # retailer max_spend (inf when none)
    gshare: np.ndarray  # retailer share cap in currency (inf when none)
    curves: list[CurveParams]
    sales_curves: list[CurveParams | None]


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


def problem_arrays(problem: AllocationProblem) -> Arrays:
    """Vectorise a resolved problem (every line has a curve)."""
    days = float(problem.days)
    curves: list[CurveParams] = []
    sales_curves: list[CurveParams | None] = []
    for line in problem.lines:
        if line.curve is None:
            raise ValueError(f"line '{line.id}' has no curve; call resolve_curves first")
        curves.append(line.curve)
        sales = line.sales_curve
        if sales is None and problem.objective in SALES_OBJECTIVES:
            sales = line.curve
        sales_curves.append(sales)
    if problem.roas_floor is not None:
        missing = [line.id for line, s in zip(problem.lines, sales_curves, strict=True) if s is None]
        if missing:
            raise ValueError(f"roas_floor needs a sales_curve on line(s): {', '.join(missing)}")
    has_sales = all(s is not None for s in sales_curves)
    weight = np.array([line.incrementality for line in problem.lines])
    a = np.array([c.a for c in curves]) * days * weight
    b = np.array([c.b for c in curves]) * days
    sa = np.array([s.a for s in sales_curves if s]) * days if has_sales else None
    sb = np.array([s.b for s in sales_curves if s]) * days if has_sales else None
    lo = np.array([line.min_spend for line in problem.lines])
    hi = np.array([np.inf if line.max_spend is None else line.max_spend for line in problem.lines])

    retailers = [line.retailer for line in problem.lines]
    group_names = sorted(set(retailers))
    index = {name: i for i, name in enumerate(group_names)}
    rows = [index[r] for r in retailers]
    groups = sp.csr_matrix(
        (np.ones(len(rows)), (rows, np.arange(len(rows)))), shape=(len(group_names), len(rows))
    )
    limits = {r.name: r for r in problem.retailers}
    gmin = np.zeros(len(group_names))
    gmax = np.full(len(group_names), np.inf)
    gshare = np.full(len(group_names), np.inf)
    for name, i in index.items():
        limit = limits.get(name)
        if limit is None:
            continue
        gmin[i] = max(limit.min_spend, limit.must_spend or 0.0)
        if limit.max_spend is not None:
            gmax[i] = limit.max_spend
        if limit.max_share is not None:
            gshare[i] = limit.max_share * problem.budget
    return Arrays(
        [line.id for line in problem.lines],
        retailers,
        a,
        b,
        sa,
        sb,
        lo,
        hi,
        group_names,
        groups,
        gmin,
        gmax,
        gshare,
        curves,
        sales_curves,
    )


@dataclass
class Solved:
    status: str
    x: np.ndarray | None
    seconds: float
    constraints: list[ConstraintReport]
    objective: float | None
    retried: bool = False


def solve_conic(
    problem: AllocationProblem, arr: Arrays, *, with_floor: bool = True, maximise_margin: bool = False
) -> Solved:
    """Build and solve the CVXPY problem; duals come back in outcome per currency unit.

    ``maximise_margin`` swaps the objective for Σ sales − floor·Σ spend (used to measure how
    far a ROAS floor is out of reach).
    """
    n = len(arr.ids)
    unit = problem.budget / n
    u = cp.Variable(n)
    if maximise_margin:
        assert arr.sa is not None and arr.sb is not None and problem.roas_floor is not None
        scale = float(np.sum(arr.sa * np.log1p(unit / arr.sb))) or 1.0
        objective = cp.sum(
            cp.multiply(arr.sa / scale, cp.log1p(cp.multiply(unit / arr.sb, u)))
        ) - problem.roas_floor * unit / scale * cp.sum(u)
    else:
        scale = float(np.sum(arr.a * np.log1p(unit / arr.b))) or 1.0
        objective = cp.sum(cp.multiply(arr.a / scale, cp.log1p(cp.multiply(unit / arr.b, u))))
    per_unit = scale / unit  # scaled dual → outcome per currency unit

    named: list[tuple[str, str, cp.Constraint, np.ndarray | None]] = []
    budget_c = cp.sum(u) == n if problem.spend_all else cp.sum(u) <= n
    named.append(("budget", "budget", budget_c, None))
    named.append(("line_min", "line_min", u >= arr.lo / unit, None))
    finite_hi = np.flatnonzero(np.isfinite(arr.hi))
    if finite_hi.size:
        named.append(("line_max", "line_max", u[finite_hi] <= arr.hi[finite_hi] / unit, finite_hi))
    for kind, bounds, is_min in (
        ("retailer_min", arr.gmin, True),
        ("retailer_max", arr.gmax, False),
        ("share_cap", arr.gshare, False),
    ):
        rows = np.flatnonzero(bounds > 0) if is_min else np.flatnonzero(np.isfinite(bounds))
        if rows.size:
            expr = arr.groups[rows] @ u
            con = expr >= bounds[rows] / unit if is_min else expr <= bounds[rows] / unit
            named.append((kind, kind, con, rows))
    floor_c = None
    if with_floor and problem.roas_floor is not None and not maximise_margin:
        assert arr.sa is not None and arr.sb is not None
        sscale = float(np.sum(arr.sa * np.log1p(unit / arr.sb))) or 1.0
        floor_c = cp.sum(
            cp.multiply(arr.sa / sscale, cp.log1p(cp.multiply(unit / arr.sb, u)))
        ) >= problem.roas_floor * unit / sscale * cp.sum(u)
    constraints = [c for _, _, c, _ in named] + ([floor_c] if floor_c is not None else [])
    prob = cp.Problem(cp.Maximize(objective), constraints)
    started = time.perf_counter()
    retried = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "may be inaccurate": the status says so
            prob.solve(solver=cp.CLARABEL, **SOLVER_OPTIONS)
            if prob.status == cp.OPTIMAL_INACCURATE:
                prob.solve(solver=cp.CLARABEL, **RETRY_OPTIONS)
                retried = True
    except cp.error.SolverError as exc:
        return Solved(f"solver_error: {exc}", None, time.perf_counter() - started, [], None)
    seconds = time.perf_counter() - started
    if prob.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) or u.value is None:
        return Solved(str(prob.status), None, seconds, [], None)
    x = np.clip(np.asarray(u.value) * unit, arr.lo, arr.hi)
    reports = _constraint_reports(problem, arr, x, named, per_unit, unit, floor_c, scale)
    return Solved(str(prob.status), x, seconds, reports, float(prob.value) * scale, retried)


def _constraint_reports(
    problem: AllocationProblem,
    arr: Arrays,
    x: np.ndarray,
    named: list[tuple[str, str, cp.Constraint, np.ndarray | None]],
    per_unit: float,
    unit: float,
    floor_c: cp.Constraint | None,
    scale: float,
) -> list[ConstraintReport]:
    tol = BINDING_TOL * problem.budget
    reports: list[ConstraintReport] = []
    group_spend = arr.groups @ x
    for kind, _, con, rows in named:
        dual = np.atleast_1d(np.asarray(con.dual_value, dtype=float)) * per_unit
        if kind == "budget":
            value = float(x.sum())
            gain = abs(float(dual[0]))
            reports.append(
                ConstraintReport(
                    name="budget",
                    kind="budget",
                    bound=problem.budget,
                    value=value,
                    dual=gain,
                    binding=abs(value - problem.budget) <= tol,
                )
            )
        elif kind in ("line_min", "line_max"):
            idx = np.arange(len(x)) if rows is None else rows
            bounds = arr.lo if kind == "line_min" else arr.hi
            for j, i in enumerate(idx):
                if kind == "line_min" and bounds[i] <= 0 and x[i] > tol:
                    continue  # an inactive non-negativity bound says nothing worth listing
                suffix = "min" if kind == "line_min" else "max"
                reports.append(
                    ConstraintReport(
                        name=f"line:{arr.ids[i]}:{suffix}",
                        kind=kind,
                        bound=float(bounds[i]),
                        value=float(x[i]),
                        dual=max(float(dual[j]), 0.0),
                        binding=abs(x[i] - bounds[i]) <= tol,
                    )
                )
        else:
            assert rows is not None
            bounds = {"retailer_min": arr.gmin, "retailer_max": arr.gmax, "share_cap": arr.gshare}[kind]
            suffix = {"retailer_min": "min", "retailer_max": "max", "share_cap": "share_cap"}[kind]
            for j, g in enumerate(rows):
                reports.append(
                    ConstraintReport(
                        name=f"retailer:{arr.group_names[g]}:{suffix}",
                        kind=kind,  # type: ignore[arg-type]
                        bound=float(bounds[g]),
                        value=float(group_spend[g]),
                        dual=max(float(dual[j]), 0.0),
                        binding=abs(group_spend[g] - bounds[g]) <= tol,
                    )
                )
    if floor_c is not None and problem.roas_floor is not None:
        assert arr.sa is not None and arr.sb is not None
        sales = float(np.sum(arr.sa * np.log1p(x / arr.sb)))
        roas = sales / max(float(x.sum()), 1e-12)
        sscale = float(np.sum(arr.sa * np.log1p(unit / arr.sb))) or 1.0
        floor_dual = max(float(np.asarray(floor_c.dual_value)), 0.0) * scale * float(x.sum()) / sscale
        reports.append(
            ConstraintReport(
                name="roas_floor",
                kind="roas_floor",
                bound=problem.roas_floor,
                value=roas,
                dual=floor_dual,
                binding=abs(roas - problem.roas_floor) <= 1e-6 * max(roas, 1.0),
            )
        )
    return reports


def split_violations(problem: AllocationProblem, arr: Arrays, x: np.ndarray) -> list[str]:
    """Which constraints a given split breaks (used for the reference splits)."""
    tol = 1e-6 * problem.budget
    out: list[str] = []
    for i in np.flatnonzero(x < arr.lo - tol):
        out.append(f"line:{arr.ids[i]}:min")
    for i in np.flatnonzero(x > arr.hi + tol):
        out.append(f"line:{arr.ids[i]}:max")
    spend = arr.groups @ x
    for bounds, suffix, below in (
        (arr.gmin, "min", True),
        (arr.gmax, "max", False),
        (arr.gshare, "share_cap", False),
    ):
        bad = spend < bounds - tol if below else spend > bounds + tol
        out.extend(f"retailer:{arr.group_names[g]}:{suffix}" for g in np.flatnonzero(bad))
    if problem.roas_floor is not None and arr.sa is not None and arr.sb is not None and x.sum() > 0:
        roas = float(np.sum(arr.sa * np.log1p(x / arr.sb))) / float(x.sum())
        if roas < problem.roas_floor - 1e-9:
            out.append("roas_floor")
    return out


def _line_report(
    problem: AllocationProblem, arr: Arrays, x: np.ndarray, level: float
) -> tuple[list[LineAllocation], tuple[float, float] | None]:
    days = problem.days
    tail = (1 - level) / 2
    lines: list[LineAllocation] = []
    draws_by_line: list[np.ndarray] = []
    for i, line in enumerate(problem.lines):
        curve = arr.curves[i]
        spend = float(x[i])
        daily = spend / days
        outcome = float(arr.a[i] * np.log1p(spend / arr.b[i]))
        interval = None
        if curve.samples:
            s = np.asarray(curve.samples)
            draws = line.incrementality * days * s[:, 0] * np.log1p(daily / s[:, 1])
            draws_by_line.append(draws)
            interval = (float(np.quantile(draws, tail)), float(np.quantile(draws, 1 - tail)))
        sales = roas = mroas = None
        if arr.sa is not None and arr.sb is not None:
            sales = float(arr.sa[i] * np.log1p(spend / arr.sb[i]))
            roas = sales / spend if spend > 0 else None
            mroas = float(arr.sa[i] / (arr.sb[i] + spend))
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
                marginal_return=float(arr.a[i] / (arr.b[i] + spend)),
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
        value = float(np.sum(arr.a * np.log1p(vec / arr.b)))
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
    from rmnlora.agents.optimizer.infeasibility import diagnose_floor, structural_conflicts

    problem = resolve_curves(problem, seed)
    arr = problem_arrays(problem)
    base = dict(
        problem=problem.name,
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
    if solved.x is None:
        if solved.status in (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE) and problem.roas_floor is not None:
            conflicts = diagnose_floor(problem, arr)
            return AllocationResult(
                **base,
                status="infeasible",
                solver_status=solved.status,  # type: ignore[arg-type]
                solve_seconds=solved.seconds,
                notes=notes,
                infeasibility=InfeasibilityReport(
                    summary="the ROAS floor is out of reach; nothing was relaxed", conflicts=conflicts
                ),
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
    lines, interval = _line_report(problem, arr, x, problem.interval_level)
    outcome = float(np.sum(arr.a * np.log1p(x / arr.b)))
    sales = (
        float(np.sum(arr.sa * np.log1p(x / arr.sb))) if arr.sa is not None and arr.sb is not None else None
    )
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
    )
