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

from rmnlora.schemas.optimizer import AllocationProblem, ConstraintReport, CurveParams, CurveTable

SALES_OBJECTIVES = ("attributed_sales", "incremental_sales")
BINDING_TOL = 1e-7
# Tight tolerances so allocations agree with the KKT solution to 1e-6; Clarabel's defaults (1e-8)
# are the retry when a tight solve ends "almost solved" (e.g. with a slack nonlinear ROAS floor).
SOLVER_OPTIONS = {"tol_gap_abs": 3e-12, "tol_gap_rel": 3e-12, "tol_feas": 3e-12, "max_iter": 300}
RETRY_OPTIONS = {"tol_gap_abs": 1e-8, "tol_gap_rel": 1e-8, "tol_feas": 1e-8, "max_iter": 300}
TIGHT_MAX_LINES = 20_000
"""Above this many lines the tight solve ends "almost solved" and is re-solved anyway (measured at
100,000 lines: 15 s for both, 7.4 s at 1e-8 directly), so large problems start at 1e-8; the
certificate (``certificate.py``) then states the gap that was reached."""


@dataclass
class Tables:
    """Piecewise-linear curves of some lines, flight-scaled: row j of ``xs``/``ys`` is line ``rows[j]``.

    Shorter tables are padded past their end with flat segments, so every row has K points.
    """

    rows: np.ndarray
    xs: np.ndarray
    ys: np.ndarray

    @classmethod
    def build(
        cls, rows: list[int], tables: list[CurveTable], spend_scale: float, outcome_scale: np.ndarray
    ) -> Tables:
        width = max(len(t.spend) for t in tables)
        xs = np.zeros((len(tables), width))
        ys = np.zeros((len(tables), width))
        for j, table in enumerate(tables):
            k = len(table.spend)
            xs[j, :k] = np.asarray(table.spend) * spend_scale
            ys[j, :k] = np.asarray(table.outcome) * outcome_scale[j]
            xs[j, k:] = xs[j, k - 1] * (1 + np.arange(1, width - k + 1) * 1e-3)  # flat padding
            ys[j, k:] = ys[j, k - 1]
        return cls(np.asarray(rows, dtype=int), xs, ys)

    @property
    def slopes(self) -> np.ndarray:
        return np.diff(self.ys, axis=1) / np.diff(self.xs, axis=1)

    def values(self, x: np.ndarray) -> np.ndarray:
        """Outcome of each table line at its spend in x (flat past the last point)."""
        return np.array([np.interp(x[r], self.xs[j], self.ys[j]) for j, r in enumerate(self.rows)])

    def right_slopes(self, x: np.ndarray) -> np.ndarray:
        """Slope of the segment each table line's spend sits on (its right-hand derivative)."""
        slopes = self.slopes
        out = np.zeros(len(self.rows))
        for j, r in enumerate(self.rows):
            k = int(np.searchsorted(self.xs[j], x[r], side="right")) - 1
            out[j] = slopes[j, k] if 0 <= k < slopes.shape[1] else 0.0
        return out

    def hypograph(self, t: cp.Variable, spend: cp.Expression, scale: float) -> cp.Constraint:
        """t ≤ every segment's line at the spend: t is the concave curve's value (over ``scale``)."""
        m, width = self.xs.shape
        ones = np.ones((1, width - 1))
        column = cp.reshape(spend, (m, 1), order="C") @ ones
        lines = (self.ys[:, :-1] + cp.multiply(self.slopes, column - self.xs[:, :-1])) / scale
        return cp.reshape(t, (m, 1), order="C") @ ones <= lines


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
    curves: list[CurveParams | CurveTable]
    sales_curves: list[CurveParams | CurveTable | None]
    k: np.ndarray  # flight-scaled auction doubling spend (inf: cost does not rise with spend)
    tables: Tables | None = None  # lines whose objective curve is a table (their a, b are unused)
    sales_tables: Tables | None = None

    @property
    def auctions(self) -> bool:
        return bool(np.isfinite(self.k).any())

    def reached(self, x: np.ndarray) -> np.ndarray:
        """Spend that reaches shoppers after the auction's bid-up: x / (1 + x/k) (x where k is inf)."""
        return x / (1.0 + x / self.k)

    def reached_slope(self, x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + x / self.k) ** 2

    @property
    def closed_form(self) -> bool:
        """Every line a plain log curve: x(λ) = a/λ − b holds (kkt.py, polish.py)."""
        return not self.auctions and self.tables is None and self.sales_tables is None

    def outcomes(self, x: np.ndarray) -> np.ndarray:
        """Per line: the objective's predicted outcome at spend x (flight totals)."""
        values = self.a * np.log1p(self.reached(x) / self.b)
        if self.tables is not None:
            values[self.tables.rows] = self.tables.values(x)
        return values

    def sales(self, x: np.ndarray) -> np.ndarray | None:
        if self.sa is None or self.sb is None:
            return None
        values = self.sa * np.log1p(self.reached(x) / self.sb)
        if self.sales_tables is not None:
            values[self.sales_tables.rows] = self.sales_tables.values(x)
        return values

    def total_sales(self, x: np.ndarray) -> float:
        """Σ attributed sales at x; only called where a ROAS floor or target made sales curves required."""
        sales = self.sales(x)
        if sales is None:
            raise ValueError("this needs an attributed-sales curve on every line")
        return float(sales.sum())

    def outcome_slopes(self, x: np.ndarray) -> np.ndarray:
        slopes = self.a / (self.b + self.reached(x)) * self.reached_slope(x)
        if self.tables is not None:
            slopes[self.tables.rows] = self.tables.right_slopes(x)
        return slopes

    def sales_slopes(self, x: np.ndarray) -> np.ndarray | None:
        if self.sa is None or self.sb is None:
            return None
        slopes = self.sa / (self.sb + self.reached(x)) * self.reached_slope(x)
        if self.sales_tables is not None:
            slopes[self.sales_tables.rows] = self.sales_tables.right_slopes(x)
        return slopes


def response_expression(
    weight: np.ndarray,
    b: np.ndarray,
    k: np.ndarray,
    u: cp.Variable,
    unit: float,
    tables: Tables | None = None,
    scale: float = 1.0,
) -> tuple[cp.Expression, list[cp.Constraint]]:
    """Σ of every line's response as a DCP expression, with the constraints it needs.

    A log line is ``weight·log(1 + reached/b)``: reached is linear without an auction and
    ``k·(1 − 1/(1 + unit·u/k))`` (concave) with one. A table line is a hypograph variable below
    each of its segments (``weight`` is then unused: the table carries its own scale, over ``scale``).
    """
    tabled = np.zeros(len(b), dtype=bool)
    if tables is not None:
        tabled[tables.rows] = True
    plain = np.flatnonzero(~np.isfinite(k) & ~tabled)
    bid = np.flatnonzero(np.isfinite(k) & ~tabled)
    parts: list[cp.Expression] = []
    constraints: list[cp.Constraint] = []
    if plain.size:
        parts.append(cp.sum(cp.multiply(weight[plain], cp.log1p(cp.multiply(unit / b[plain], u[plain])))))
    if bid.size:
        reached = cp.multiply(k[bid] / b[bid], 1 - cp.inv_pos(1 + cp.multiply(unit / k[bid], u[bid])))
        parts.append(cp.sum(cp.multiply(weight[bid], cp.log1p(reached))))
    if tables is not None:
        t = cp.Variable(len(tables.rows))
        constraints.append(tables.hypograph(t, unit * u[tables.rows], scale))
        parts.append(cp.sum(t))
    total = cp.sum(cp.hstack(parts)) if len(parts) > 1 else parts[0]
    return total, constraints


def problem_arrays(problem: AllocationProblem) -> Arrays:
    """Vectorise a resolved problem (every line has a curve)."""
    days = float(problem.days)
    curves: list[CurveParams | CurveTable] = []
    sales_curves: list[CurveParams | CurveTable | None] = []
    for line in problem.lines:
        if line.curve is None:
            raise ValueError(f"line '{line.id}' has no curve; call resolve_curves first")
        curves.append(line.curve)
        sales: CurveParams | CurveTable | None = line.sales_curve
        if sales is None and problem.objective in SALES_OBJECTIVES:
            sales = line.curve
        sales_curves.append(sales)
    needs_sales = effective_floor(problem) is not None or problem.scenario.kind == "target_mroas"
    if needs_sales:
        missing = [line.id for line, s in zip(problem.lines, sales_curves, strict=True) if s is None]
        if missing:
            what = "roas_floor" if problem.roas_floor is not None else f"scenario {problem.scenario.kind}"
            raise ValueError(f"{what} needs a sales_curve on line(s): {', '.join(missing)}")
    has_sales = all(s is not None for s in sales_curves)
    weight = np.array([line.incrementality for line in problem.lines])
    a = np.array([c.a if isinstance(c, CurveParams) else 1.0 for c in curves]) * days * weight
    b = np.array([c.b if isinstance(c, CurveParams) else 1.0 for c in curves]) * days
    sa = sb = None
    if has_sales:
        sa = np.array([s.a if isinstance(s, CurveParams) else 1.0 for s in sales_curves]) * days
        sb = np.array([s.b if isinstance(s, CurveParams) else 1.0 for s in sales_curves]) * days
    lo = np.array([line.min_spend for line in problem.lines])
    hi = np.array([np.inf if line.max_spend is None else line.max_spend for line in problem.lines])
    tables = _tables(problem, curves, weight * days, days)
    sales_tables = _tables(problem, sales_curves, np.full(len(curves), days), days) if has_sales else None
    for table in (tables, sales_tables):
        if table is not None:  # no outcome past a table's last point: the line is capped there
            hi[table.rows] = np.minimum(hi[table.rows], table.xs[:, -1])

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
        np.array(
            [np.inf if line.auction is None else line.auction.doubling_spend * days for line in problem.lines]
        ),
        tables,
        sales_tables,
    )


def _tables(
    problem: AllocationProblem,
    curves: list[CurveParams | CurveTable] | list[CurveParams | CurveTable | None],
    scales: np.ndarray,
    days: float,
) -> Tables | None:
    rows = [i for i, c in enumerate(curves) if isinstance(c, CurveTable)]
    if not rows:
        return None
    with_auction = [problem.lines[i].id for i in rows if problem.lines[i].auction is not None]
    if with_auction:
        raise ValueError(
            f"line(s) {', '.join(with_auction)}: a curve table already holds what spend buys; "
            "give either a table or an auction cost, not both"
        )
    tables = [c for c in curves if isinstance(c, CurveTable)]
    return Tables.build(rows, tables, days, scales[rows])


@dataclass
class Solved:
    status: str
    x: np.ndarray | None
    seconds: float
    constraints: list[ConstraintReport]
    objective: float | None
    retried: bool = False


def free_spend(problem: AllocationProblem) -> bool:
    """Whether total spend is a decision (≤ budget) rather than fixed at the budget."""
    return problem.scenario.kind != "fixed_budget" or not problem.spend_all


def effective_floor(problem: AllocationProblem) -> float | None:
    """The overall ROAS floor the program enforces: the brief's, raised to a target_roas scenario's."""
    floors = [problem.roas_floor] if problem.roas_floor is not None else []
    if problem.scenario.kind == "target_roas" and problem.scenario.target is not None:
        floors.append(problem.scenario.target)
    return max(floors) if floors else None


def split_violations(problem: AllocationProblem, arr: Arrays, x: np.ndarray) -> list[str]:
    """Which constraints a given split breaks (the reference splits; the certificate's precondition)."""
    tol = 1e-6 * problem.budget
    out: list[str] = []
    if free_spend(problem):
        if x.sum() > problem.budget + tol:
            out.append("budget")
    elif abs(x.sum() - problem.budget) > tol:
        out.append("budget")
    for i in np.flatnonzero(x < arr.lo - tol):
        out.append(f"line:{arr.ids[i]}:min")
    for i in np.flatnonzero(x > arr.hi + tol):
        out.append(f"line:{arr.ids[i]}:max")
    spend = arr.groups @ x
    shares = arr.gshare / problem.budget * float(x.sum()) if free_spend(problem) else arr.gshare
    for bounds, suffix, below in (
        (arr.gmin, "min", True),
        (arr.gmax, "max", False),
        (shares, "share_cap", False),
    ):
        bad = spend < bounds - tol if below else spend > bounds + tol
        out.extend(f"retailer:{arr.group_names[g]}:{suffix}" for g in np.flatnonzero(bad))
    floor = effective_floor(problem)
    if floor is not None and arr.sa is not None and arr.sb is not None and x.sum() > 0:
        roas = arr.total_sales(x) / float(x.sum())
        if roas < floor - 1e-9:
            out.append("roas_floor")
    if problem.scenario.kind == "target_outcome":
        outcome = float(arr.outcomes(x).sum())
        if outcome < float(problem.scenario.target or 0.0) * (1 - 1e-9):
            out.append("outcome_target")
    return out


def solve_conic(
    problem: AllocationProblem, arr: Arrays, *, with_floor: bool = True, maximise_margin: bool = False
) -> Solved:
    """Build and solve the CVXPY problem for the problem's scenario; duals come back in outcome per
    currency unit (for ``target_outcome``: spend saved per unit of relaxation).

    ``maximise_margin`` swaps the objective for Σ sales − floor·Σ spend (used to measure how
    far a ROAS floor is out of reach). A target_mroas scenario maximises Σ sales − target·Σ spend:
    every line then stops where its next currency unit returns ``target``.
    """
    n = len(arr.ids)
    unit = problem.budget / n
    u = cp.Variable(n)
    scenario = problem.scenario
    floor = effective_floor(problem)
    at_unit = np.full(n, unit)
    outcome_scale = float(arr.outcomes(at_unit).sum()) or 1.0
    outcome, hypographs = response_expression(
        arr.a / outcome_scale, arr.b, arr.k, u, unit, arr.tables, outcome_scale
    )

    def sales(sales_scale: float) -> cp.Expression:
        assert arr.sa is not None and arr.sb is not None
        expression, needed = response_expression(
            arr.sa / sales_scale, arr.sb, arr.k, u, unit, arr.sales_tables, sales_scale
        )
        hypographs.extend(needed)
        return expression

    unit_sales = arr.sales(at_unit)
    sales_scale = (float(unit_sales.sum()) or 1.0) if unit_sales is not None else 1.0
    extra: list[tuple[str, cp.Constraint]] = []
    minimise = False
    if maximise_margin:
        assert floor is not None
        scale = sales_scale
        objective = sales(scale) - floor * unit / scale * cp.sum(u)
    elif scenario.kind == "target_mroas":
        if arr.sa is None:
            raise ValueError("a target_mroas scenario needs attributed-sales curves on every line")
        scale = sales_scale
        objective = sales(scale) - float(scenario.target or 0.0) * unit / scale * cp.sum(u)
    elif scenario.kind == "target_outcome":
        minimise, scale = True, unit
        objective = cp.sum(u)
        target = float(scenario.target or 0.0)
        extra.append(("outcome_target", outcome >= target / outcome_scale))
    else:
        scale = outcome_scale
        objective = outcome
    per_unit = 1.0 if minimise else scale / unit  # scaled dual → outcome per currency unit

    named: list[tuple[str, str, cp.Constraint, np.ndarray | None]] = []
    budget_c = cp.sum(u) <= n if free_spend(problem) else cp.sum(u) == n
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
            if kind == "share_cap" and free_spend(problem):  # a share of what is spent
                con = expr <= (bounds[rows] / problem.budget) * cp.sum(u)
            else:
                con = expr >= bounds[rows] / unit if is_min else expr <= bounds[rows] / unit
            named.append((kind, kind, con, rows))
    floor_c = None
    if with_floor and floor is not None and not maximise_margin:
        floor_c = sales(sales_scale) >= floor * unit / sales_scale * cp.sum(u)
    constraints = [c for _, _, c, _ in named] + [c for _, c in extra]
    constraints += ([floor_c] if floor_c is not None else []) + hypographs
    goal = cp.Minimize(objective) if minimise else cp.Maximize(objective)
    prob = cp.Problem(goal, constraints)
    started = time.perf_counter()
    retried = False
    options = SOLVER_OPTIONS if n <= TIGHT_MAX_LINES else RETRY_OPTIONS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "may be inaccurate": the status says so
            prob.solve(solver=cp.CLARABEL, **options)
            if prob.status == cp.OPTIMAL_INACCURATE and options is SOLVER_OPTIONS:
                prob.solve(solver=cp.CLARABEL, **RETRY_OPTIONS)
                retried = True
    except cp.error.SolverError as exc:
        return Solved(f"solver_error: {exc}", None, time.perf_counter() - started, [], None)
    seconds = time.perf_counter() - started
    if prob.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) or u.value is None:
        return Solved(str(prob.status), None, seconds, [], None)
    x = np.clip(np.asarray(u.value) * unit, arr.lo, arr.hi)
    reports = _constraint_reports(problem, arr, x, named, per_unit, unit, floor_c, scale)
    for name, con in extra:  # the outcome target: spend saved per extra unit of outcome asked for
        value = float(arr.outcomes(x).sum())
        dual = max(float(np.asarray(con.dual_value)), 0.0) * unit / outcome_scale
        bound = float(scenario.target or 0.0)
        reports.append(
            ConstraintReport(
                name=name,
                kind="outcome_target",
                bound=bound,
                value=value,
                dual=dual,
                binding=abs(value - bound) <= 1e-6 * max(bound, 1.0),
            )
        )
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
                bound = bounds[g]
                if kind == "share_cap" and free_spend(problem):
                    bound = bounds[g] / problem.budget * float(x.sum())
                reports.append(_bound_report(name, kind, bound, group_spend[g], dual[j], tol))
    floor = effective_floor(problem)
    if floor_c is not None and floor is not None:
        assert arr.sa is not None and arr.sb is not None
        sales = arr.total_sales(x)
        roas = sales / max(float(x.sum()), 1e-12)
        sscale = arr.total_sales(np.full(len(x), unit)) or 1.0
        floor_dual = max(float(np.asarray(floor_c.dual_value)), 0.0) * scale * float(x.sum()) / sscale
        reports.append(
            ConstraintReport(
                name="roas_floor",
                kind="roas_floor",
                bound=floor,
                value=roas,
                dual=floor_dual,
                binding=abs(roas - floor) <= 1e-6 * max(roas, 1.0),
            )
        )
    return reports
