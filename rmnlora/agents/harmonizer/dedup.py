"""Duplicate events across a stream of batches: later copies of an accepted event are quarantined.

The one rule that needs every row. An event's day is part of its key, so a repeat can only fall
on the same day: ``DuplicateIndex`` remembers the hash of every accepted event by day (8 bytes an
event, whatever the width of the rows) and checks each new batch only against the days it holds.
Most batches hold no repeat at all, which one sort of the batch's hashes proves; only the rows
whose hash does repeat go through the order-sensitive first-occurrence check.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from rmnlora.agents.harmonizer.core import EVENT_HASH, REASON, accepted_rows
from rmnlora.schemas.rmis import QuarantineReason

DAY = "event_date"


class DuplicateIndex:
    """Hashes of the events accepted so far, by day, in input order."""

    def __init__(self) -> None:
        self._by_day: dict[dt.date, list[pl.Series]] = {}
        self.events = 0

    def mark(self, frame: pl.DataFrame) -> pl.DataFrame:
        """``frame`` with ``_reason`` set to duplicate_event on repeats of an event accepted earlier
        (in an earlier batch, or earlier in this one); then remembers this batch's accepted events."""
        clean = frame[REASON].is_null()
        hashes = frame[EVENT_HASH]
        earlier = self._earlier(frame[DAY].filter(clean).unique())
        repeat = _repeats(hashes, clean, earlier)
        if repeat is not None:
            duplicate = pl.lit(QuarantineReason.DUPLICATE_EVENT.value, dtype=pl.String)
            frame = frame.with_columns(
                pl.when(repeat).then(duplicate).otherwise(pl.col(REASON)).alias(REASON)
            )
        self._remember(accepted_rows(frame, [pl.col(DAY), pl.col(EVENT_HASH)]))
        return frame

    def _earlier(self, days: pl.Series) -> pl.Series:
        known = [self._by_day[day] for day in days.to_list() if day in self._by_day]
        if not known:
            return pl.Series(EVENT_HASH, [], dtype=pl.UInt64)
        return pl.concat([part for parts in known for part in parts])

    def _remember(self, accepted: pl.DataFrame) -> None:
        self.events += accepted.height
        for (day,), part in accepted.partition_by(DAY, as_dict=True, include_key=False).items():
            self._by_day.setdefault(day, []).append(part[EVENT_HASH])  # type: ignore[arg-type]


def _repeats(hashes: pl.Series, clean: pl.Series, earlier: pl.Series) -> pl.Series | None:
    """Mask of clean rows whose hash was seen before (in ``earlier`` or on an earlier clean row),
    or None when no row repeats."""
    pool = pl.concat([earlier, hashes.filter(clean)]).sort()
    repeated = pool.filter(pool == pool.shift(1))
    if repeated.is_empty():
        return None
    candidates = (clean & hashes.is_in(repeated.unique())).arg_true()
    candidate_hashes = hashes.gather(candidates)
    later = candidate_hashes.is_in(earlier) | ~candidate_hashes.is_first_distinct()
    mask = pl.zeros(hashes.len(), dtype=pl.Boolean, eager=True)
    return mask.scatter(candidates.filter(later), True)
