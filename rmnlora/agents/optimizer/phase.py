"""The optimizer's planner phase: curves from the run's history, the brief's allocation, and a
stated exploration split for lines too thin to fit.

Revisions it can apply (:class:`OptimizeRevision`): more bootstrap fits, and capping named lines
at their highest observed spend (the conservative answer to a ROAS floor met only by
extrapolation).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from rmnlora.agents.optimizer.allocate import allocate_budget
from rmnlora.agents.optimizer.bandit import thompson_split
from rmnlora.agents.optimizer.curves import daily_history, fit_response_curves
from rmnlora.agents.optimizer.flighting import plan_flight
from rmnlora.agents.optimizer.plots import plot_allocation
from rmnlora.agents.optimizer.problem import OUTCOME_FOR_OBJECTIVE, build_problem
from rmnlora.agents.optimizer.scenarios import compare_scenarios, default_scenarios
from rmnlora.schemas.brief import CampaignBrief
from rmnlora.schemas.flighting import FlightLine, FlightPlan, FlightProblem
from rmnlora.schemas.optimizer import (
    AllocationProblem,
    AllocationResult,
    BanditArm,
    CurveFit,
    CurveParams,
    HistoryPoint,
    ScenarioTable,
)
from rmnlora.schemas.phases import Exploration, LineHistory, OptimizeResult, OptimizeRevision

DEFAULT_BOOTSTRAP = 200
RECENT_DAYS = 28


def optimize_brief(
    brief: CampaignBrief, events: pl.DataFrame, plot_dir: Path, revision: OptimizeRevision | None = None
) -> OptimizeResult:
    """Fit, allocate and plot; a brief the data cannot support is an ``error``, never an exception."""
    revision = revision or OptimizeRevision()
    outcome = OUTCOME_FOR_OBJECTIVE[brief.objective]
    bootstrap = revision.bootstrap or DEFAULT_BOOTSTRAP
    applied = OptimizeRevision(bootstrap=revision.bootstrap)
    if events.height == 0:
        return OptimizeResult(
            error="no harmonized history to fit response curves on", applied_changes=applied
        )
    curves = fit_response_curves(events, outcome=outcome, seed=0, bootstrap=bootstrap)
    sales_curves = None
    if outcome != "attributed_sales" and brief.constraints.roas_floor is not None:
        sales_curves = fit_response_curves(events, outcome="attributed_sales", seed=0, bootstrap=bootstrap)
    try:
        problem = build_problem(brief, curves, sales_curves=sales_curves)
    except ValueError as exc:
        return OptimizeResult(error=str(exc), curves=curves, applied_changes=applied)
    caps = observed_caps(problem, revision.cap_at_observed or [])
    if caps:
        lines = [
            line.model_copy(update={"max_spend": caps[line.id]}) if line.id in caps else line
            for line in problem.lines
        ]
        note = "revision: capped at observed max spend over the flight: " + ", ".join(sorted(caps))
        problem = problem.model_copy(update={"lines": lines, "notes": [*problem.notes, note]})
        applied.cap_at_observed = sorted(caps)
    allocation = allocate_budget(problem)
    solved = allocation.status in ("optimal", "optimal_inaccurate")
    plots = plot_allocation(problem, allocation, plot_dir) if solved else []
    return OptimizeResult(
        curves=curves,
        problem=problem,
        allocation=allocation,
        scenarios=scenario_table(problem, allocation),
        flighting=weekly_flighting(problem, allocation) if solved else None,
        history=line_history(events, outcome),
        plots=[str(p) for p in plots],
        exploration=explore_thin_lines(brief, problem, curves, events, outcome),
        applied_changes=applied,
    )


def weekly_flighting(problem: AllocationProblem, allocation: AllocationResult) -> FlightPlan | None:
    """When to spend each line's allocated total: the flight in weeks, with the fitted adstock.

    Line totals are held at the allocation (it already chose how much), so this only chooses the
    timing; None for flights under two weeks or lines whose curves are tables (no adstock fitted).
    """
    weeks = problem.days // 7
    curves = {line.id: line.curve for line in problem.lines}
    if weeks < 2 or not all(isinstance(c, CurveParams) for c in curves.values()):
        return None
    lines = [
        FlightLine(
            id=line.id,
            retailer=line.retailer,
            curve=curves[line.id],  # type: ignore[arg-type]
            incrementality=next(item.incrementality for item in problem.lines if item.id == line.id),
            min_spend=line.spend,
            max_spend=line.spend,
        )
        for line in allocation.lines
        if line.spend > 0
    ]
    if not lines:
        return None
    return plan_flight(
        FlightProblem(
            name=f"{problem.name}: weekly",
            budget=sum(line.min_spend or 0.0 for line in lines),
            currency=problem.currency,
            weeks=weeks,
            lines=lines,
        )
    )


def scenario_table(problem: AllocationProblem, allocation: AllocationResult | None = None) -> ScenarioTable:
    """The brief's scenario first (``allocation``, when given, is its row), then the standard ones it
    does not already ask (same curves)."""
    chosen = problem.scenario
    others = [s for s in default_scenarios(problem) if (s.kind, s.target) != (chosen.kind, chosen.target)]
    return compare_scenarios(problem, [chosen, *others], solved=allocation)


def explore_thin_lines(
    brief: CampaignBrief,
    problem: AllocationProblem,
    curves: list[CurveFit],
    events: pl.DataFrame,
    outcome: str,
) -> Exploration | None:
    """Thompson-sampling split of the budget set aside for lines whose history is too thin to fit.

    The set-aside is what the brief commits to retailers without a usable curve (build_problem
    removes it from the optimised budget); the priors used are stated in the split.
    """
    wanted = {r.name for r in brief.retailers}
    thin = [c for c in curves if not c.ok and c.retailer in wanted]
    reserve = brief.budget - problem.budget
    if not thin:
        return None
    if reserve <= 0:
        return Exploration(
            status="not_funded",
            lines=[c.line_id for c in thin],
            note="lines without a usable curve get no spend: give their retailer a min_spend "
            "or must_spend to fund exploration",
        )
    daily = daily_history(events, ("retailer", "placement"), outcome)
    arms = []
    for fit in thin:
        rows = daily.filter((pl.col("retailer") == fit.retailer) & (pl.col("placement") == fit.placement))
        history = [HistoryPoint(spend=r["spend"], outcome=r["outcome"]) for r in rows.iter_rows(named=True)]
        arms.append(
            BanditArm(id=fit.line_id, retailer=fit.retailer, placement=fit.placement, history=history)
        )
    return Exploration(status="split", **thompson_split(arms, reserve, seed=0).model_dump())


def observed_caps(problem: AllocationProblem, line_ids: list[str]) -> dict[str, float]:
    """Flight spend at each named line's highest observed daily spend (a conservative revision)."""
    caps: dict[str, float] = {}
    for line in problem.lines:
        if line.id in line_ids and line.curve is not None and line.curve.spend_max:
            cap = max(line.min_spend, line.curve.spend_max * problem.days)
            caps[line.id] = cap if line.max_spend is None else min(cap, line.max_spend)
    return caps


def line_history(events: pl.DataFrame, outcome: str) -> dict[str, LineHistory]:
    """Full-history and last-four-weeks ROAS per 'retailer/placement' line."""
    last = events["event_date"].max()
    assert isinstance(last, dt.date)
    recent_start = last - dt.timedelta(days=RECENT_DAYS - 1)
    recent = pl.col("event_date") >= recent_start
    grouped = (
        events.with_columns((pl.col("retailer") + "/" + pl.col("placement")).alias("line"))
        .group_by("line")
        .agg(
            pl.col("spend").sum().alias("spend"),
            pl.col("attributed_sales").sum().alias("sales"),
            pl.col("spend").filter(recent).sum().alias("recent_spend"),
            pl.col("attributed_sales").filter(recent).sum().alias("recent_sales"),
            pl.len().alias("rows"),
        )
    )
    return {
        row["line"]: LineHistory(
            history_roas=row["sales"] / row["spend"] if row["spend"] else 0.0,
            recent_roas=row["recent_sales"] / row["recent_spend"] if row["recent_spend"] else 0.0,
            rows=row["rows"],
            spend=row["spend"],
        )
        for row in grouped.iter_rows(named=True)
    }
