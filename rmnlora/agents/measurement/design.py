"""Entry points the planner calls: build a request from a brief, design the experiment.

``geo_pool`` (a few treated markets against all the others) is designed only when asked for.
``auto`` tries the geo design first (strongest evidence), then switchback, then a holdout
when an audience size is known, and returns the first feasible one; the others are
summarised in ``alternatives`` so a reviewer sees what was weighed.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from rmnlora.agents.measurement.geo import design_geo
from rmnlora.agents.measurement.geo_pool import design_geo_pool
from rmnlora.agents.measurement.holdout import design_holdout
from rmnlora.agents.measurement.panel import history_from_events
from rmnlora.agents.measurement.switchback import design_switchback
from rmnlora.schemas.brief import CampaignBrief
from rmnlora.schemas.measurement import ExperimentDesign, ExperimentRequest

OBJECTIVE_KPI = {
    "attributed_sales": "attributed_sales",
    "incremental_sales": "attributed_sales",
    "clicks": "clicks",
    "reach": "impressions",
}

_DESIGNERS = {
    "geo": design_geo,
    "geo_pool": design_geo_pool,
    "switchback": design_switchback,
    "holdout": design_holdout,
}


def request_from_brief(
    brief: CampaignBrief,
    events: pl.DataFrame,
    *,
    allocation_total: float | None = None,
    audience_size: int | None = None,
    min_aggregation: int = 50,
) -> ExperimentRequest:
    """The experiment the brief asks for, over the brief's retailers' harmonized events."""
    kpi = OBJECTIVE_KPI[brief.objective]
    retailers = [r.name for r in brief.retailers]
    if "retailer" in events.columns:
        present = set(events["retailer"].unique().to_list())
        chosen = [r for r in retailers if r in present]
        if not chosen:
            raise ValueError(
                f"events hold none of the brief's retailers {retailers} (found {sorted(present)})"
            )
    else:
        chosen = []
    before = brief.flight.start - dt.timedelta(days=1)
    history = history_from_events(events, kpi, retailers=chosen or None, end=before)
    return ExperimentRequest(
        history=history,
        design=brief.measurement.design,
        expected_lift=brief.measurement.expected_lift,
        alpha=brief.measurement.alpha,
        power=brief.measurement.power,
        flight_days=brief.flight.days,
        flight_start=brief.flight.start,
        allocation_total=allocation_total if allocation_total is not None else brief.budget,
        audience_size=audience_size,
        min_aggregation=min_aggregation,
    )


def _summary(design: ExperimentDesign) -> str:
    if design.feasible:
        return f"feasible, power {design.power:.2f}, MDE {design.mde:.1%}" if design.mde else "feasible"
    return "infeasible: " + "; ".join(design.problems)


def design_experiment(request: ExperimentRequest) -> ExperimentDesign:
    """Design the experiment; infeasible designs come back with problems and suggestions, not errors."""
    if request.design != "auto":
        return _DESIGNERS[request.design](request)
    kinds = ["geo", "switchback"] + (["holdout"] if request.audience_size else [])
    designs = {kind: _DESIGNERS[kind](request) for kind in kinds}
    feasible = [designs[k] for k in kinds if designs[k].feasible]
    chosen = feasible[0] if feasible else max(designs.values(), key=lambda d: d.power or 0.0)
    alternatives = {k: _summary(d) for k, d in designs.items() if d is not chosen}
    return chosen.model_copy(update={"alternatives": alternatives})
