"""The allocation problem as vectors and the exponential-cone program over them.

:mod:`.allocate` solves it and reports the allocation; :mod:`.infeasibility` solves it again
without the ROAS floor to say how far the floor is out of reach. Both import it from here.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import cvxpy as cp
import numpy as np
import scipy.sparse as sp

from rmnlora.schemas.optimizer import AllocationProblem, ConstraintReport, CurveParams

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


def _bound_report(
    name: str, kind: str, bound: float, value: float, dual: float, tol: float
) -> ConstraintReport:
    """A line or retailer bound at the solution; its dual is clipped at zero (an inequality's)."""
    return ConstraintReport(
        name=name,
        kind=kind,  # type: ignore[arg-type]
        bound=float(bound),
        value=float(value),
        dual=max(float(dual), 0.0),
        binding=abs(value - bound) <= tol,
    )


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
                name = f"line:{arr.ids[i]}:{'min' if kind == 'line_min' else 'max'}"
                reports.append(_bound_report(name, kind, bounds[i], x[i], dual[j], tol))
        else:
            assert rows is not None
            bounds = {"retailer_min": arr.gmin, "retailer_max": arr.gmax, "share_cap": arr.gshare}[kind]
            suffix = {"retailer_min": "min", "retailer_max": "max", "share_cap": "share_cap"}[kind]
            for j, g in enumerate(rows):
                name = f"retailer:{arr.group_names[g]}:{suffix}"
                reports.append(_bound_report(name, kind, bounds[g], group_spend[g], dual[j], tol))
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
