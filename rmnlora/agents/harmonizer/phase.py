"""The harmonizer's planner phase: every retailer of a brief harmonized into one fresh folder.

A retailer whose exports cannot be read is an error named in the result, not a failed plan: the
gate sees the missing coverage and decides.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import cast

import polars as pl

from rmnlora.agents.harmonizer.engine import HarmonizeError, harmonize, read_events
from rmnlora.agents.harmonizer.mapping import MappingError
from rmnlora.schemas.brief import CampaignBrief
from rmnlora.schemas.harmonize import HarmonizeRequest
from rmnlora.schemas.phases import Coverage, HarmonizeResult, HarmonizeRevision


def harmonize_brief(
    brief: CampaignBrief, events_dir: Path, revision: HarmonizeRevision | None = None
) -> HarmonizeResult:
    """Harmonize each retailer's exports into ``events_dir`` (emptied first: a re-run never plans
    on an earlier run's rows)."""
    if events_dir.exists():
        shutil.rmtree(events_dir)
    result = HarmonizeResult(events_dir=str(events_dir))
    for retailer in brief.retailers:
        if not retailer.data:
            result.errors[retailer.name] = "the brief lists no data files for this retailer"
            continue
        request = HarmonizeRequest(
            inputs=retailer.data,
            retailer=retailer.name,
            mapping=retailer.mapping,
            out=events_dir,
            target_currency=brief.currency,
        )
        try:
            result.summaries.append(harmonize(request))
        except (HarmonizeError, MappingError, FileNotFoundError, ValueError) as exc:
            result.errors[retailer.name] = str(exc)
    events = run_events(result)
    if events.height:
        first = cast(dt.date, events["event_date"].min())
        last = cast(dt.date, events["event_date"].max())
        result.coverage = Coverage(days=(last - first).days + 1, first=first, last=last)
    return result


def run_events(result: HarmonizeResult) -> pl.DataFrame:
    """The events this run harmonized (the RMIS columns and no rows when there are none).

    Only this run's retailers: a shared output folder must not leak other runs' retailers.
    """
    if not result.retailers:
        return read_events(result.events_dir, retailer="__none__").collect()
    return pl.concat([read_events(result.events_dir, retailer=name) for name in result.retailers]).collect()
