"""Flighting: what to spend on each line item in each week, with pacing, as one convex program.

maximise  Σ_i Σ_t s_t·w_i·D·a_i·log(1 + e[i,t]/(D·b_i))        (t over the flight, plus carry-over)
s.t.      e[i,t] = (1 − r_i)·Σ_{k≤t} r_i^(t−k)·x[i,k],   r_i = adstock_i^D,  x[i,k] = 0 after the flight
          Σ x = budget (or ≤),  line totals, line-week caps, week totals, week shares, |ΔT_w| ≤ m

Why this formulation:

* The adstock is *normalised* (the ``1 − r`` factor) because the fitted curve's ``b`` is already
  the steady-state scale: a constant weekly spend x must give e = x in the long run, so a flat
  plan predicts exactly what the flight-total optimizer predicts for the same spend. Without the
  factor the weekly curve would be scaled by 1/(1 − r) and double-count the carry-over the fit
  has folded into ``b``.
* Carry-over weeks after the flight are counted (``carryover_after_flight``) because adstock
  moves part of a dollar's effect into later weeks: if the objective stops at the last week,
  a last-week dollar is credited with only ``1 − r`` of its effect and the plan cuts the last
  week for a reason that is an artefact of the horizon. Eight weeks is past the point where the
  grid's strongest decay (0.8 a day → r = 0.21 a week) leaves 1e-6 of a dollar uncounted.
* The objective is a sum of log(1 + affine), the constraints are linear: an exponential-cone
  program, solved like :mod:`.program` (Clarabel at 3e-12 with 1e-8 as the last resort, spends
  scaled to budget / cells so the tolerances mean the same at every size). The adstock is one
  sparse block-lower-triangular matrix, not a loop over CVXPY scalars.

The certificate (:func:`lagrangian_bound`) shares no code with the CVXPY path: it re-derives the
adstock by recursion, takes the solver's multipliers as *any* non-negative numbers and evaluates
the Lagrangian dual function in closed form. Weak duality makes the result an upper bound on the
best objective whatever the solver did, so ``kkt_gap`` is a proof of optimality to that gap, not
the solver's opinion; the plan's status follows it. Separable problems are also compared with
:func:`.kkt.kkt_allocation`.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import cvxpy as cp
import numpy as np
import scipy.sparse as sp

from rmnlora.agents.optimizer.kkt import kkt_allocation
from rmnlora.agents.optimizer.program import BINDING_TOL, RETRY_OPTIONS, SOLVER_OPTIONS
from rmnlora.schemas.flighting import (
    CARRYOVER_WEEKS,
    FlightCell,
    FlightConstraint,
    FlightPlan,
    FlightProblem,
    LineTotal,
    WeekTotal,
)
from rmnlora.schemas.optimizer import Conflict, InfeasibilityReport

PRUNE = 1e-13  # adstock weights below this share of a dollar are dropped from the matrix
# A plan is "optimal" when the independent certificate proves it within this relative gap and it
# keeps every constraint to this share of the budget; the solver's own status is only reported.
CERTIFIED_GAP = 1e-6
# program.py's tolerances, tried with three equilibration settings before program.py's 1e-8 retry. Tight
# solves that end "almost solved" (≈ 4% of small pacing / adstock problems measured) almost
# always finish under a different equilibration, while the 1e-8 retry leaves gaps near 1e-5.
_TIGHT: dict[str, float] = {
    **SOLVER_OPTIONS,
    "iterative_refinement_reltol": 1e-16,
    "iterative_refinement_abstol": 1e-16,
    "iterative_refinement_max_iter": 50,
}
SOLVER_LADDER: tuple[dict[str, float], ...] = (
    _TIGHT,
    {**_TIGHT, "equilibrate_max_iter": 50},
    {**_TIGHT, "equilibrate_enable": False},
    RETRY_OPTIONS,
)


@dataclass
class FlightArrays:
    """The problem as arrays, in currency: curves per (line, horizon week) and every bound."""

    ids: list[str]
    retailers: list[str]
    budget: float
    weeks: int
    horizon: int  # weeks in the objective: the flight, plus CARRYOVER_WEEKS when counted
    r: np.ndarray  # weekly decay per line
    coef: np.ndarray  # (lines, weeks + CARRYOVER_WEEKS): seasonality · incrementality · D · a
    scale: np.ndarray  # D · b per line
    season: np.ndarray  # (weeks,)
    lo: np.ndarray  # line flight minimum (0 when none)
    hi: np.ndarray  # line flight maximum (inf when none)
    cell_hi: np.ndarray  # line weekly maximum (inf when none)
    week_lo: np.ndarray
    week_hi: np.ndarray
    share_lo: float | None  # min_week_share in currency
    share_hi: float | None  # max_week_share in currency
    change: float | None  # max_change in currency per week
    spend_all: bool


@dataclass
class Multipliers:
    """Lagrange multipliers in outcome per currency unit, one array per constraint family."""

    budget: float
    line_min: np.ndarray
    line_max: np.ndarray
    cell_max: np.ndarray  # (lines, weeks)
    week_min: np.ndarray
    week_max: np.ndarray
    share_min: np.ndarray
    share_max: np.ndarray
    change_up: np.ndarray  # (weeks − 1,): row j is T_{j+1} − T_j ≤ m
    change_down: np.ndarray  # (weeks − 1,): row j is T_j − T_{j+1} ≤ m

    @classmethod
    def zeros(cls, n: int, weeks: int) -> Multipliers:
        steps = max(weeks - 1, 0)
        return cls(
            budget=0.0,
            line_min=np.zeros(n),
            line_max=np.zeros(n),
            cell_max=np.zeros((n, weeks)),
            week_min=np.zeros(weeks),
            week_max=np.zeros(weeks),
            share_min=np.zeros(weeks),
            share_max=np.zeros(weeks),
            change_up=np.zeros(steps),
            change_down=np.zeros(steps),
        )


def flight_arrays(problem: FlightProblem) -> FlightArrays:
    """Vectorise a problem; weekly curves are the daily ones spent evenly over D days."""
    days = float(problem.days_per_week)
    weeks = problem.weeks
    season = np.ones(weeks)
    week_lo = np.zeros(weeks)
    week_hi = np.full(weeks, np.inf)
    for spec in problem.week_specs:
        season[spec.index] = spec.seasonality
        week_lo[spec.index] = spec.min_spend or 0.0
        if spec.max_spend is not None:
            week_hi[spec.index] = spec.max_spend
    lines = problem.lines
    a = np.array([line.curve.a for line in lines])
    weight = np.array([line.incrementality for line in lines])
    full_season = np.concatenate([season, np.ones(CARRYOVER_WEEKS)])
    pacing = problem.pacing
    even = problem.budget / weeks
    return FlightArrays(
        ids=[line.id for line in lines],
        retailers=[line.retailer for line in lines],
        budget=problem.budget,
        weeks=weeks,
        horizon=weeks + (CARRYOVER_WEEKS if problem.carryover_after_flight else 0),
        r=np.array([line.curve.adstock for line in lines]) ** days,
        coef=(weight * days * a)[:, None] * full_season[None, :],
        scale=np.array([line.curve.b for line in lines]) * days,
        season=season,
        lo=np.array([line.min_spend or 0.0 for line in lines]),
        hi=np.array([np.inf if line.max_spend is None else line.max_spend for line in lines]),
        cell_hi=np.array(
            [np.inf if line.max_weekly_spend is None else line.max_weekly_spend for line in lines]
        ),
        week_lo=week_lo,
        week_hi=week_hi,
        share_lo=pacing.min_week_share * problem.budget if pacing.min_week_share else None,
        share_hi=None if pacing.max_week_share is None else pacing.max_week_share * problem.budget,
        change=None if pacing.max_change is None else pacing.max_change * even,
        spend_all=problem.spend_all,
    )


# --- infeasibility, by arithmetic before any solver runs -------------------------------------------


def _money(value: float) -> str:
    return f"{value:,.2f}"


def _week_floors(arr: FlightArrays) -> tuple[np.ndarray, list[str]]:
    """Each week's least total and the constraint that sets it."""
    share = arr.share_lo or 0.0
    floors = np.maximum(arr.week_lo, share)
    names = [
        f"week:{w}:min" if arr.week_lo[w] >= share else f"pacing:min_week_share:week{w}"
        for w in range(arr.weeks)
    ]
    return floors, names


def _week_ceilings(arr: FlightArrays) -> tuple[np.ndarray, list[str]]:
    """Each week's most total and the constraint that sets it (week max, share cap or line caps)."""
    lines_cap = float(np.minimum(arr.cell_hi, arr.hi).sum())
    share = np.inf if arr.share_hi is None else arr.share_hi
    ceilings = np.empty(arr.weeks)
    names: list[str] = []
    for w in range(arr.weeks):
        caps = {
            f"week:{w}:max": float(arr.week_hi[w]),
            f"pacing:max_week_share:week{w}": share,
            f"line caps in week {w}": lines_cap,
        }
        name = min(caps, key=lambda k: caps[k])
        ceilings[w] = caps[name]
        names.append(name)
    return ceilings, names


def _ramp(values: np.ndarray, change: float | None, *, lower: bool) -> tuple[np.ndarray, np.ndarray]:
    """The envelope that |T_w − T_v| ≤ change·|w − v| forces, and which week v sets it.

    Floors spread outwards (T_w ≥ F_v − change·|w − v|), ceilings likewise (T_w ≤ C_v + …).
    """
    if change is None:
        return values.copy(), np.arange(len(values))
    lag = np.abs(np.subtract.outer(np.arange(len(values)), np.arange(len(values)))).astype(float)
    candidates = values[None, :] - change * lag if lower else values[None, :] + change * lag
    source = candidates.argmax(axis=1) if lower else candidates.argmin(axis=1)
    return candidates[np.arange(len(values)), source], source


def _week_conflicts(arr: FlightArrays, tol: float) -> list[Conflict]:
    """A week whose floor is above its ceiling, or above what the ramp from a capped week allows."""
    floors, floor_names = _week_floors(arr)
    ceilings, ceiling_names = _week_ceilings(arr)
    reach, source = _ramp(ceilings, arr.change, lower=False)
    out: list[Conflict] = []
    for w in np.flatnonzero(floors > reach + tol):
        v = int(source[w])
        gap = float(floors[w] - reach[w])
        if v == w:
            out.append(
                Conflict(
                    constraints=[floor_names[w], ceiling_names[w]],
                    amount=gap,
                    description=(
                        f"week {w} must get at least {_money(floors[w])} ({floor_names[w]}) but at most "
                        f"{_money(ceilings[w])} ({ceiling_names[w]}): {_money(gap)} apart"
                    ),
                )
            )
        else:
            assert arr.change is not None
            out.append(
                Conflict(
                    constraints=[floor_names[w], ceiling_names[v], "pacing:max_change"],
                    amount=gap,
                    description=(
                        f"week {w} must get at least {_money(floors[w])} ({floor_names[w]}), but week {v} "
                        f"is capped at {_money(ceilings[v])} ({ceiling_names[v]}) and max_change moves the "
                        f"week total by at most {_money(arr.change)} a week, so week {w} reaches at most "
                        f"{_money(reach[w])}: {_money(gap)} short"
                    ),
                )
            )
    return out


def _line_conflicts(arr: FlightArrays, tol: float) -> list[Conflict]:
    """A line whose flight minimum cannot fit under its weekly maximum and the week caps."""
    ceilings, ceiling_names = _week_ceilings(arr)
    out: list[Conflict] = []
    for i in np.flatnonzero(arr.lo > 0):
        per_week = np.minimum(arr.cell_hi[i], ceilings)
        room = float(per_week.sum())
        if arr.lo[i] <= room + tol:
            continue
        line = arr.ids[i]
        caps = [f"line:{line}:week_max"] if np.isfinite(arr.cell_hi[i]) else []
        caps += _unique([ceiling_names[w] for w in np.flatnonzero(ceilings < arr.cell_hi[i])])
        out.append(
            Conflict(
                constraints=[f"line:{line}:min", *caps],
                amount=float(arr.lo[i] - room),
                description=(
                    f"line {line} must get at least {_money(arr.lo[i])} over the flight but its weekly "
                    f"caps allow at most {_money(room)} ({', '.join(caps)}): "
                    f"{_money(arr.lo[i] - room)} apart"
                ),
            )
        )
    return out


def _unique(names: list[str]) -> list[str]:
    return list(dict.fromkeys(names))


# source ("weeks", "lines", "budget") → (phrase, total, constraint names)
_Side = dict[str, tuple[str, float, list[str]]]


def _flight_floors(arr: FlightArrays, tol: float) -> _Side:
    """Least flight totals the weeks and the lines force, with the constraints that force them."""
    floors, names = _week_floors(arr)
    low, source = _ramp(floors, arr.change, lower=True)
    low = np.maximum(low, 0.0)
    week_names = _unique([names[source[w]] for w in np.flatnonzero(low > 0)])
    if np.any(low > floors + tol):
        week_names.append("pacing:max_change")
    line_names = [f"line:{i}:min" for i, v in zip(arr.ids, arr.lo, strict=True) if v > 0]
    out = {
        "weeks": ("the week minimums need", float(low.sum()), week_names),
        "lines": ("the line minimums need", float(arr.lo.sum()), line_names),
    }
    if arr.spend_all:
        out["budget"] = ("spending the whole budget (spend_all) needs", arr.budget, ["budget"])
    return out


def _flight_ceilings(arr: FlightArrays, tol: float) -> _Side:
    """Most flight totals the weeks and the lines allow, with the constraints that cap them."""
    ceilings, names = _week_ceilings(arr)
    high, source = _ramp(ceilings, arr.change, lower=False)
    week_names = _unique([names[source[w]] for w in range(arr.weeks)])
    if np.any(high < ceilings - tol):
        week_names.append("pacing:max_change")
    line_names = [
        f"line:{i}:max" if h <= c * arr.weeks else f"line:{i}:week_max"
        for i, h, c in zip(arr.ids, arr.hi, arr.cell_hi, strict=True)
    ]
    line_room = float(np.minimum(arr.hi, arr.cell_hi * arr.weeks).sum())
    out = {
        "lines": ("the line caps allow", line_room, line_names),
        "budget": ("the budget allows", arr.budget, ["budget"]),
    }
    if not all(name.startswith("line caps in week") for name in week_names):
        out["weeks"] = ("the week caps allow", float(high.sum()), week_names)  # else the line caps say it
    return out


def _total_conflicts(arr: FlightArrays, tol: float) -> list[Conflict]:
    """The flight total squeezed between a floor (budget, weeks, lines) and a ceiling (same)."""
    out: list[Conflict] = []
    for lo_source, (lo_label, need, need_names) in _flight_floors(arr, tol).items():
        for up_source, (up_label, room, room_names) in _flight_ceilings(arr, tol).items():
            # weeks against weeks is _week_conflicts' job, lines against lines _line_conflicts'
            if lo_source == up_source or need <= room + tol:
                continue
            out.append(
                Conflict(
                    constraints=[*need_names, *room_names],
                    amount=need - room,
                    description=(
                        f"{lo_label} at least {_money(need)} ({', '.join(need_names)}) but {up_label} "
                        f"at most {_money(room)} ({', '.join(room_names)}): {_money(need - room)} apart"
                    ),
                )
            )
    return out


def structural_conflicts(arr: FlightArrays) -> list[Conflict]:
    """Conflicts among the linear constraints, each naming them and the gap in currency."""
    tol = 1e-9 * arr.budget
    return [*_line_conflicts(arr, tol), *_week_conflicts(arr, tol), *_total_conflicts(arr, tol)]


# --- the conic program ------------------------------------------------------------------------------


def adstock_matrix(r: np.ndarray, weeks: int, horizon: int) -> sp.csr_matrix:
    """Block-diagonal (lines·horizon × lines·weeks): row i·horizon + t holds (1 − r_i)·r_i^(t−k)."""
    n = len(r)
    t, k = np.meshgrid(np.arange(horizon), np.arange(weeks), indexing="ij")
    lower = t >= k
    t, k = t[lower], k[lower]
    values = (1.0 - r)[:, None] * r[:, None] ** (t - k)[None, :]
    rows = np.arange(n)[:, None] * horizon + t[None, :]
    cols = np.arange(n)[:, None] * weeks + k[None, :]
    keep = values > PRUNE * (1.0 - r)[:, None]
    return sp.csr_matrix((values[keep], (rows[keep], cols[keep])), shape=(n * horizon, n * weeks))


@dataclass
class _Solved:
    status: str
    x: np.ndarray | None  # (lines, weeks)
    seconds: float
    multipliers: Multipliers | None
    attempts: int = 1  # solves down SOLVER_LADDER


def _objective(arr: FlightArrays, u: cp.Variable, unit: float) -> tuple[cp.Expression, float]:
    """The scaled objective and the scale that undoes it.

    Each cell's term is O(1) at the even split (the sum is O(cells), not O(1) as in
    :mod:`.program`): with the sum at O(1), Clarabel's 3e-12 gap left spends accurate only to
    ~3e-7 and often ended "almost solved"; per-cell O(1) terms reached 4e-10 on the same problem.
    """
    n, weeks, horizon = len(arr.ids), arr.weeks, arr.horizon
    matrix = adstock_matrix(arr.r, weeks, horizon)
    matrix = sp.diags(unit / np.repeat(arr.scale, horizon)) @ matrix
    used = np.flatnonzero(matrix.getnnz(axis=1) > 0)  # carry-over rows of adstock-free lines are empty
    matrix = matrix[used]
    coef = arr.coef[:, :horizon].ravel()[used]
    scale = float(coef @ np.log1p(matrix @ np.ones(n * weeks))) / (n * weeks) or 1.0
    return (coef / scale) @ cp.log1p(matrix @ u), scale


def _weekly(arr: FlightArrays) -> bool:
    """Whether any constraint is on week totals."""
    return (
        bool(arr.week_lo.any())
        or bool(np.isfinite(arr.week_hi).any())
        or arr.share_lo is not None
        or arr.share_hi is not None
        or (arr.change is not None and arr.weeks > 1)
    )


def _families(
    arr: FlightArrays, u: cp.Variable, totals: cp.Variable, unit: float
) -> list[tuple[str, cp.Constraint, np.ndarray]]:
    """Every linear constraint except the budget, u ≥ 0 and the week-total definition, with its rows.

    Week constraints are written on the week totals (a variable tied to u by one equality per
    week) rather than on sums of u: each pacing row then has 1–2 entries instead of lines·1–2,
    which keeps Clarabel's factorisation sparse next to the dense adstock blocks (measured on
    50 lines × 52 weeks with pacing: 1.9 s → 0.26 s).
    """
    n, weeks = len(arr.ids), arr.weeks
    line_sum = sp.kron(sp.eye(n), np.ones((1, weeks)), format="csr")
    out: list[tuple[str, cp.Constraint, np.ndarray]] = []
    rows = np.flatnonzero(arr.lo > 0)
    if rows.size:
        out.append(("line_min", line_sum[rows] @ u >= arr.lo[rows] / unit, rows))
    rows = np.flatnonzero(np.isfinite(arr.hi))
    if rows.size:
        out.append(("line_max", line_sum[rows] @ u <= arr.hi[rows] / unit, rows))
    caps = np.repeat(arr.cell_hi, weeks)
    rows = np.flatnonzero(np.isfinite(caps))
    if rows.size:
        out.append(("cell_max", u[rows] <= caps[rows] / unit, rows))
    rows = np.flatnonzero(arr.week_lo > 0)
    if rows.size:
        out.append(("week_min", totals[rows] >= arr.week_lo[rows] / unit, rows))
    rows = np.flatnonzero(np.isfinite(arr.week_hi))
    if rows.size:
        out.append(("week_max", totals[rows] <= arr.week_hi[rows] / unit, rows))
    every = np.arange(weeks)
    if arr.share_lo is not None:
        out.append(("share_min", totals >= arr.share_lo / unit, every))
    if arr.share_hi is not None:
        out.append(("share_max", totals <= arr.share_hi / unit, every))
    if arr.change is not None and weeks > 1:
        step = (sp.eye(weeks, k=1) - sp.eye(weeks)).tocsr()[:-1]
        out.append(("change_up", step @ totals <= arr.change / unit, every[:-1]))
        out.append(("change_down", -step @ totals <= arr.change / unit, every[:-1]))
    return out


def _multipliers(
    arr: FlightArrays,
    budget_c: cp.Constraint,
    families: list[tuple[str, cp.Constraint, np.ndarray]],
    per_unit: float,
) -> Multipliers:
    """The solver's duals, back in outcome per currency unit (inequalities clipped at zero)."""
    mult = Multipliers.zeros(len(arr.ids), arr.weeks)
    mult.budget = abs(float(np.asarray(budget_c.dual_value, dtype=float).ravel()[0])) * per_unit
    for kind, con, rows in families:
        dual = np.maximum(np.atleast_1d(np.asarray(con.dual_value, dtype=float)) * per_unit, 0.0)
        target = getattr(mult, kind)
        target.reshape(-1)[rows] = dual
    return mult


def _solve_once(prob: cp.Problem, options: dict[str, float]) -> str | None:
    """Run Clarabel; None when it solved (any accuracy), else why not."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "may be inaccurate": the status says so
            prob.solve(solver=cp.CLARABEL, **options)
    except cp.error.SolverError as exc:
        return f"solver_error: {exc}"
    return None


def _solve(arr: FlightArrays) -> _Solved:
    """Solve down SOLVER_LADDER until one finishes, keeping the attempt with the smallest certified gap.

    Choosing by the independent gap rather than by the solver's status matters because a 1e-8
    re-solve is often *less* accurate than an almost-solved tight iterate.
    """
    n, weeks = len(arr.ids), arr.weeks
    unit = arr.budget / (n * weeks)
    u = cp.Variable(n * weeks, nonneg=True)
    objective, scale = _objective(arr, u, unit)
    budget_c = cp.sum(u) == n * weeks if arr.spend_all else cp.sum(u) <= n * weeks
    totals = cp.Variable(weeks)
    families = _families(arr, u, totals, unit)
    define = [totals == sp.kron(np.ones((1, n)), sp.eye(weeks), format="csr") @ u] if _weekly(arr) else []
    prob = cp.Problem(cp.Maximize(objective), [budget_c, *define, *(con for _, con, _ in families)])
    started = time.perf_counter()
    candidates: list[_Solved] = []
    failure = ""
    tried = 0
    for options in SOLVER_LADDER:
        tried += 1
        error = _solve_once(prob, options)
        if error is not None:  # a numerical failure in one setting; the next may finish
            failure = error
            continue
        if prob.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) or u.value is None:
            failure = str(prob.status)
            break
        x = np.clip(np.asarray(u.value).reshape(n, weeks) * unit, 0.0, arr.cell_hi[:, None])
        mult = _multipliers(arr, budget_c, families, scale / unit)
        candidates.append(_Solved(str(prob.status), x, 0.0, mult))
        if prob.status == cp.OPTIMAL:
            break
    seconds = time.perf_counter() - started
    if not candidates:
        return _Solved(failure, None, seconds, None)
    best = min(candidates, key=lambda c: _certified_gap(arr, c))
    best.seconds = seconds
    best.attempts = tried
    return best


def _certified_gap(arr: FlightArrays, solved: _Solved) -> float:
    assert solved.x is not None and solved.multipliers is not None
    bound, objective, _ = lagrangian_bound(arr, solved.x, solved.multipliers)
    gap = (bound - objective) / objective if objective > 0 else np.inf
    return float(gap) if np.isfinite(gap) else np.inf


# --- the independent certificate (no CVXPY, no shared matrices) -------------------------------------


def adstock_weeks(x: np.ndarray, r: np.ndarray, horizon: int) -> np.ndarray:
    """e[:, t] = r·e[:, t−1] + (1 − r)·x[:, t], with no spend after the flight."""
    n, weeks = x.shape
    e = np.zeros((n, horizon))
    carry = np.zeros(n)
    for t in range(horizon):
        spend = x[:, t] if t < weeks else 0.0
        carry = r * carry + (1.0 - r) * spend
        e[:, t] = carry
    return e


def weekly_outcomes(arr: FlightArrays, x: np.ndarray, horizon: int) -> np.ndarray:
    """Outcome per line per week over ``horizon`` weeks (flight, then carry-over weeks)."""
    e = adstock_weeks(x, arr.r, horizon)
    return arr.coef[:, :horizon] * np.log1p(e / arr.scale[:, None])


def _gradient(arr: FlightArrays, nu: np.ndarray) -> np.ndarray:
    """d objective / d x[i,w] = (1 − r)·Σ_{t≥w} r^(t−w)·ν[i,t], by a backward recursion."""
    n, horizon = nu.shape
    h = np.zeros((n, horizon))
    tail = np.zeros(n)
    for t in range(horizon - 1, -1, -1):
        tail = nu[:, t] + arr.r * tail
        h[:, t] = tail
    return (1.0 - arr.r)[:, None] * h[:, : arr.weeks]


def _dualised(arr: FlightArrays, mult: Multipliers) -> tuple[np.ndarray, float]:
    """−Σ μ_j·∇(a_j·x) per cell and Σ μ_j·b_j for every constraint but the budget (μ ≥ 0)."""
    weeks = arr.weeks
    c = np.zeros((len(arr.ids), weeks))
    const = 0.0

    def week_term(mu: np.ndarray, bound: np.ndarray | float, sign: float) -> None:
        """sign = +1 for T_w ≥ bound (adds μ), −1 for T_w ≤ bound (subtracts μ)."""
        nonlocal const
        mu = np.maximum(mu, 0.0)
        c[:] += sign * mu[None, :]
        const -= sign * float(np.sum(mu * np.where(mu > 0, bound, 0.0)))

    line_min, line_max = np.maximum(mult.line_min, 0.0), np.maximum(mult.line_max, 0.0)
    c += (line_min - line_max)[:, None]
    const += float(np.sum(line_max * np.where(line_max > 0, arr.hi, 0.0)) - np.sum(line_min * arr.lo))
    cell = np.maximum(mult.cell_max, 0.0)
    c -= cell
    const += float(np.sum(cell * np.where(cell > 0, arr.cell_hi[:, None], 0.0)))
    week_term(mult.week_min, arr.week_lo, 1.0)
    week_term(mult.week_max, arr.week_hi, -1.0)
    week_term(mult.share_min, arr.share_lo or 0.0, 1.0)
    week_term(mult.share_max, np.inf if arr.share_hi is None else arr.share_hi, -1.0)
    if weeks > 1 and arr.change is not None:
        up, down = np.maximum(mult.change_up, 0.0), np.maximum(mult.change_down, 0.0)
        net = up - down  # row j: μ_up·(T_{j+1} − T_j) + μ_down·(T_j − T_{j+1}) ≤ (μ_up + μ_down)·m
        c[:, 1:] -= net[None, :]
        c[:, :-1] += net[None, :]
        const += float(np.sum(up + down)) * arr.change
    return c, const


def lagrangian_bound(arr: FlightArrays, x: np.ndarray, mult: Multipliers) -> tuple[float, float, float]:
    """(dual bound, objective at x, max relative stationarity residual over interior cells).

    The bound is the Lagrangian dual function at ν = φ'(e(x)) and the solver's μ: introduce
    e = L·x, dualise it and every linear constraint except Σx = budget and x ≥ 0; then the sup
    over e ≥ 0 is the log's conjugate in closed form and the sup over {x ≥ 0, Σx = budget} is
    budget × the largest reduced gain. Valid for any μ ≥ 0 and ν > 0 (weak duality); tight
    (gap → 0) exactly at a KKT point.
    """
    horizon = arr.horizon
    coef = arr.coef[:, :horizon]
    scale = arr.scale[:, None]
    e = adstock_weeks(x, arr.r, horizon)
    objective = float(np.sum(coef * np.log1p(e / scale)))
    nu = coef / (scale + e)
    # sup_{e ≥ 0} A·log(1 + e/B) − ν·e: interior at e = A/ν − B when ν < A/B, else 0 at e = 0
    inside = nu * scale < coef
    ratio = np.where(inside, coef / (nu * scale), 1.0)
    conjugate = np.where(inside, coef * np.log(ratio) - coef + nu * scale, 0.0)
    gain = _gradient(arr, nu)  # L^T ν per cell
    reduced, const = _dualised(arr, mult)
    reduced = reduced + gain
    best = float(reduced.max())
    inner = arr.budget * (best if arr.spend_all else max(best, 0.0))
    bound = float(conjugate.sum()) + const + inner
    tol = 1e-6 * arr.budget / x.size
    interior = (x > tol) & (x < arr.cell_hi[:, None] - tol)
    residual = np.abs(reduced - mult.budget) / gain
    stationarity = float(residual[interior].max()) if interior.any() else 0.0
    return bound, objective, stationarity


def max_violation(arr: FlightArrays, x: np.ndarray) -> float:
    """The largest amount, in currency, by which x breaks a constraint (0 when it keeps them all).

    Checked from the problem's arrays directly, because the certificate's lower end (the
    objective at x) is only a valid lower bound on the optimum for a feasible x.
    """
    totals, line_totals = x.sum(axis=0), x.sum(axis=1)
    excess = [
        -x.min(),
        x.sum() - arr.budget,
        arr.budget - x.sum() if arr.spend_all else 0.0,
        np.max(arr.lo - line_totals),
        np.max(line_totals - arr.hi),
        np.max(x - arr.cell_hi[:, None]),
        np.max(arr.week_lo - totals),
        np.max(totals - arr.week_hi),
        arr.share_lo - totals.min() if arr.share_lo is not None else 0.0,
        totals.max() - arr.share_hi if arr.share_hi is not None else 0.0,
    ]
    if arr.change is not None and arr.weeks > 1:
        excess.append(float(np.max(np.abs(np.diff(totals)))) - arr.change)
    return max(0.0, *(float(v) for v in excess))


def separable_reference(arr: FlightArrays) -> np.ndarray | None:
    """The KKT-bisection optimum when the flight splits into independent (line, week) cells."""
    if arr.r.any() or arr.lo.any() or np.isfinite(arr.hi).any() or _weekly(arr):
        return None
    n, weeks = len(arr.ids), arr.weeks
    caps = np.repeat(arr.cell_hi, weeks)
    if not arr.spend_all and caps.sum() <= arr.budget:
        return caps.reshape(n, weeks)
    x, _ = kkt_allocation(arr.coef[:, :weeks].ravel(), np.repeat(arr.scale, weeks), arr.budget, hi=caps)
    return x.reshape(n, weeks)


# --- the plan ---------------------------------------------------------------------------------------


def _report(name: str, kind: str, bound: float, value: float, dual: float, tol: float) -> FlightConstraint:
    return FlightConstraint(
        name=name,
        kind=kind,  # type: ignore[arg-type]
        bound=float(bound),
        value=float(value),
        dual=max(float(dual), 0.0),
        binding=abs(float(value) - float(bound)) <= tol,
    )


def constraint_reports(arr: FlightArrays, x: np.ndarray, mult: Multipliers) -> list[FlightConstraint]:
    """Every stated constraint at the solution (weeks 0-based; max_change named by the later week)."""
    tol = BINDING_TOL * arr.budget
    totals, line_totals = x.sum(axis=0), x.sum(axis=1)
    out = [_report("budget", "budget", arr.budget, float(x.sum()), mult.budget, tol)]
    for i, line in enumerate(arr.ids):
        if arr.lo[i] > 0:
            out.append(
                _report(f"line:{line}:min", "line_min", arr.lo[i], line_totals[i], mult.line_min[i], tol)
            )
        if np.isfinite(arr.hi[i]):
            out.append(
                _report(f"line:{line}:max", "line_max", arr.hi[i], line_totals[i], mult.line_max[i], tol)
            )
        if np.isfinite(arr.cell_hi[i]):
            out.extend(
                _report(
                    f"line:{line}:week{w}:max",
                    "line_week_max",
                    arr.cell_hi[i],
                    x[i, w],
                    mult.cell_max[i, w],
                    tol,
                )
                for w in range(arr.weeks)
            )
    for w in range(arr.weeks):
        if arr.week_lo[w] > 0:
            out.append(_report(f"week:{w}:min", "week_min", arr.week_lo[w], totals[w], mult.week_min[w], tol))
        if np.isfinite(arr.week_hi[w]):
            out.append(_report(f"week:{w}:max", "week_max", arr.week_hi[w], totals[w], mult.week_max[w], tol))
        if arr.share_lo is not None:
            name = f"pacing:min_week_share:week{w}"
            out.append(_report(name, "min_week_share", arr.share_lo, totals[w], mult.share_min[w], tol))
        if arr.share_hi is not None:
            name = f"pacing:max_week_share:week{w}"
            out.append(_report(name, "max_week_share", arr.share_hi, totals[w], mult.share_max[w], tol))
        if arr.change is not None and w > 0:
            step = abs(float(totals[w] - totals[w - 1]))
            dual = mult.change_up[w - 1] + mult.change_down[w - 1]
            out.append(_report(f"pacing:max_change:week{w}", "max_change", arr.change, step, dual, tol))
    return out


def _plan(
    problem: FlightProblem, status: str, solver_status: str, seconds: float, **kw: object
) -> FlightPlan:
    return FlightPlan(
        problem=problem.name,
        status=status,  # type: ignore[arg-type]
        solver_status=solver_status,
        solve_seconds=seconds,
        currency=problem.currency,
        budget=problem.budget,
        weeks=problem.weeks,
        days_per_week=problem.days_per_week,
        carryover_counted=problem.carryover_after_flight,
        **kw,  # type: ignore[arg-type]
    )


def _breakdown(
    problem: FlightProblem, arr: FlightArrays, x: np.ndarray
) -> tuple[list[FlightCell], list[WeekTotal], list[LineTotal], np.ndarray]:
    """Cells, week totals and line totals; the outcome array runs over the flight plus carry-over."""
    outcome = weekly_outcomes(arr, x, arr.weeks + CARRYOVER_WEEKS)
    weeks = arr.weeks
    cells = [
        FlightCell(line_id=line, week=w, spend=float(x[i, w]), predicted_outcome=float(outcome[i, w]))
        for i, line in enumerate(arr.ids)
        for w in range(weeks)
    ]
    week_totals = [
        WeekTotal(
            week=w,
            spend=float(x[:, w].sum()),
            share=float(x[:, w].sum()) / problem.budget,
            seasonality=float(arr.season[w]),
            predicted_outcome=float(outcome[:, w].sum()),
        )
        for w in range(weeks)
    ]
    line_totals = [
        LineTotal(
            line_id=line,
            retailer=arr.retailers[i],
            spend=float(x[i].sum()),
            share=float(x[i].sum()) / problem.budget,
            in_flight_outcome=float(outcome[i, :weeks].sum()),
            carryover_outcome=float(outcome[i, weeks:].sum()),
        )
        for i, line in enumerate(arr.ids)
    ]
    return cells, week_totals, line_totals, outcome


def plan_flight(problem: FlightProblem) -> FlightPlan:
    """The weekly plan, or status 'infeasible' with the conflicting constraints and the gap.

    Conflicts among the linear constraints are found by arithmetic before solving and nothing
    is relaxed; the caller decides what to loosen.
    """
    arr = flight_arrays(problem)
    conflicts = structural_conflicts(arr)
    if conflicts:
        summary = f"{len(conflicts)} conflicting constraint set(s); nothing was relaxed"
        report = InfeasibilityReport(summary=summary, conflicts=conflicts)
        return _plan(problem, "infeasible", "not solved (pre-check)", 0.0, infeasibility=report)
    solved = _solve(arr)
    if solved.x is None or solved.multipliers is None:
        if solved.status.startswith("infeasible"):
            report = InfeasibilityReport(
                summary="the solver found the constraints jointly infeasible; nothing was relaxed",
                conflicts=[
                    Conflict(
                        constraints=sorted({c.kind for c in _stated(arr)}),
                        amount=float("nan"),
                        description=(
                            "no pair of constraint families conflicts by arithmetic; together they do"
                        ),
                    )
                ],
            )
            return _plan(problem, "infeasible", solved.status, solved.seconds, infeasibility=report)
        return _plan(problem, "error", solved.status, solved.seconds, notes=[f"solver: {solved.status}"])
    return _solved_plan(problem, arr, solved)


def _stated(arr: FlightArrays) -> list[FlightConstraint]:
    """The constraints the problem states, at the even split (used only to name the families)."""
    even = np.full((len(arr.ids), arr.weeks), arr.budget / (len(arr.ids) * arr.weeks))
    return constraint_reports(arr, even, Multipliers.zeros(len(arr.ids), arr.weeks))


def _notes(problem: FlightProblem, arr: FlightArrays, solved: _Solved) -> list[str]:
    """What the plan assumed or how the solve went, in words for the plan report."""
    notes: list[str] = []
    if not problem.carryover_after_flight:
        notes.append(
            "carry-over after the flight is reported but not optimised (carryover_after_flight=False)"
        )
    if arr.r.any():
        notes.append(
            f"adstock applied week by week (decay adstock^{problem.days_per_week}); within a week, "
            "spend and carry-over are averaged"
        )
        # share of a last-week dollar's adstocked effect landing beyond the counted horizon
        beyond = arr.r ** ((CARRYOVER_WEEKS if problem.carryover_after_flight else 0) + 1)
        for i in np.flatnonzero(beyond > 1e-3):
            notes.append(
                f"line {arr.ids[i]}: {beyond[i]:.1%} of a last-week dollar's effect lands after the "
                "counted horizon and is not valued"
            )
    if solved.attempts > 1:
        notes.append(
            f"tight solver tolerances (3e-12) did not finish; tried {solved.attempts} settings "
            "(other equilibrations, then Clarabel's 1e-8) and kept the smallest certified gap"
        )
    if solved.status == cp.OPTIMAL_INACCURATE:
        notes.append(
            "the solver reports reduced accuracy (optimal_inaccurate); status follows the "
            "independent certificate (kkt_gap, max_violation) instead"
        )
    return notes


def _reference_diff(arr: FlightArrays, x: np.ndarray) -> float | None:
    """max |Δx| / max x against the KKT bisection, for problems that separate into cells."""
    reference = separable_reference(arr)
    if reference is None:
        return None
    return float(np.max(np.abs(x - reference)) / max(float(np.max(np.abs(reference))), 1e-300))


def _solved_plan(problem: FlightProblem, arr: FlightArrays, solved: _Solved) -> FlightPlan:
    assert solved.x is not None and solved.multipliers is not None
    x, mult = solved.x, solved.multipliers
    cells, week_totals, line_totals, outcome = _breakdown(problem, arr, x)
    in_flight = float(outcome[:, : arr.weeks].sum())
    carry = float(outcome[:, arr.weeks :].sum())
    bound, objective, stationarity = lagrangian_bound(arr, x, mult)
    certified = bool(np.isfinite(bound)) and objective > 0
    gap = (bound - objective) / objective if certified else None
    violation = max_violation(arr, x)
    proven = gap is not None and gap <= CERTIFIED_GAP and violation <= CERTIFIED_GAP * arr.budget
    constraints = constraint_reports(arr, x, mult)
    return _plan(
        problem,
        "optimal" if proven else "optimal_inaccurate",
        solved.status,
        solved.seconds,
        total_spend=float(x.sum()),
        cells=cells,
        week_totals=week_totals,
        line_totals=line_totals,
        predicted_outcome=in_flight + (carry if problem.carryover_after_flight else 0.0),
        in_flight_outcome=in_flight,
        carryover_outcome=carry,
        constraints=constraints,
        binding=[c.name for c in constraints if c.binding],
        certificate="lagrangian_dual_bound" if certified else "stationarity_residual",
        kkt_gap=gap,
        dual_bound=bound if certified else None,
        budget_multiplier=mult.budget,
        stationarity_residual=stationarity,
        max_violation=violation,
        kkt_reference_diff=_reference_diff(arr, x),
        notes=_notes(problem, arr, solved),
    )
