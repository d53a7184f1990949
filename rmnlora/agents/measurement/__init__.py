"""Measurement agent: incrementality experiment design (geo, switchback, holdout) and lift analysis.

Plain typed functions over :mod:`rmnlora.schemas.measurement` models; nothing here knows about
the planner graph.
"""

from rmnlora.agents.measurement.analysis import (
    GroupStats,
    analyze_experiment,
    analyze_geo,
    analyze_holdout,
    analyze_switchback,
    paired_did,
)
from rmnlora.agents.measurement.design import design_experiment, request_from_brief
from rmnlora.agents.measurement.hte import segment_effects
from rmnlora.agents.measurement.panel import history_from_events

__all__ = [
    "GroupStats",
    "analyze_experiment",
    "analyze_geo",
    "analyze_holdout",
    "analyze_switchback",
    "design_experiment",
    "history_from_events",
    "paired_did",
    "request_from_brief",
    "segment_effects",
]
