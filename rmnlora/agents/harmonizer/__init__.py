"""Harmonizer agent: any retailer's exports → RMIS events, with quarantine and mapping proposals.

Public API (what the planner calls): ``harmonize``, ``read_events``, ``read_quarantine``,
``harmonize_batch`` (per-partition function for Ray/Spark), ``mark_duplicates``,
``RetailerMapping`` / ``load_mapping`` / ``resolve_mapping``, ``propose_mapping``,
``load_daily_aggregates``.
"""

from rmnlora.agents.harmonizer.core import harmonize_batch
from rmnlora.agents.harmonizer.engine import HarmonizeError, harmonize, read_events, read_quarantine
from rmnlora.agents.harmonizer.mapping import (
    MappingError,
    RetailerMapping,
    load_mapping,
    resolve_mapping,
    shipped_mapping,
)
from rmnlora.agents.harmonizer.validate import mark_duplicates

__all__ = [
    "HarmonizeError",
    "MappingError",
    "RetailerMapping",
    "harmonize",
    "harmonize_batch",
    "load_mapping",
    "mark_duplicates",
    "read_events",
    "read_quarantine",
    "resolve_mapping",
    "shipped_mapping",
]
