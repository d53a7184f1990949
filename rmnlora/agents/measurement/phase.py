"""The measurement agent's planner phase: the experiment that would prove the plan's lift.

Revisions it can apply (:class:`MeasureRevision`) are fields of the experiment request: more
placebo simulations, another design kind, switchback block and carry-over lengths.
"""

from __future__ import annotations

import polars as pl

from rmnlora.agents.measurement.design import design_experiment, request_from_brief
from rmnlora.schemas.brief import CampaignBrief
from rmnlora.schemas.phases import MeasureResult, MeasureRevision


def measure_brief(
    brief: CampaignBrief,
    events: pl.DataFrame,
    *,
    allocation_total: float | None = None,
    revision: MeasureRevision | None = None,
) -> MeasureResult:
    """Design the brief's experiment on the run's history; what stops it is an ``error``, not a raise."""
    applied = revision or MeasureRevision()
    try:
        request = request_from_brief(brief, events, allocation_total=allocation_total or None)
    except ValueError as exc:
        return MeasureResult(error=str(exc), applied_changes=applied)
    if applied.given():
        request = request.model_copy(update=applied.given())
    record = request.model_dump(mode="json", exclude={"history"})
    try:
        design = design_experiment(request)
    except ValueError as exc:
        return MeasureResult(error=str(exc), request=record, applied_changes=applied)
    return MeasureResult(request=record, design=design, applied_changes=applied)
