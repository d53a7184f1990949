"""A long table (unit, period, value) → a dense units × periods panel at its own frequency.

Why: experiments and published studies come daily, weekly, monthly or yearly. Treating a yearly
panel as days (and zero-filling the 364 days between rows) had produced zero-width intervals.
Here the frequency is inferred from the periods present (or declared and then checked), the full
grid of periods is laid out at that frequency, and a missing period is an explicit policy:
``error`` (the default: the message names the gaps), ``interpolate`` (linear per unit, ends held at
the nearest value) or ``drop`` (the period is removed for every unit). Never a silent zero.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import polars as pl

Frequency = Literal["day", "week", "month", "quarter", "year"]
MissingPolicy = Literal["error", "interpolate", "drop"]
FREQUENCIES: tuple[str, ...] = get_args(Frequency)
ADJECTIVE = {"day": "daily", "week": "weekly", "month": "monthly", "quarter": "quarterly", "year": "yearly"}
_MONTHS = {"month": 1, "quarter": 3, "year": 12}


@dataclass(frozen=True)
class Panel:
    """``values[i, t]``: unit ``units[i]`` in period ``periods[t]`` (a regular grid, no gaps)."""

    outcome: str
    units: list[str]
    periods: list[dt.date]
    frequency: Frequency
    values: np.ndarray
    notes: tuple[str, ...] = ()

    def index_of(self, period: dt.date) -> int:
        """Column of the first period on or after ``period``."""
        for t, start in enumerate(self.periods):
            if start >= period:
                return t
        return len(self.periods)


def as_period_date(value: object) -> dt.date:
    """A period label as a date: dates and datetimes as they are, an integer or ``"1989"`` as a year."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, int | np.integer) and 1000 <= int(value) <= 9999:
        return dt.date(int(value), 1, 1)
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit() and len(text) == 4:
            return dt.date(int(text), 1, 1)
        try:
            return dt.date.fromisoformat(text[:10])
        except ValueError:
            pass
    raise ValueError(f"period {value!r} is neither a date nor a year")


def _month_index(day: dt.date) -> int:
    return day.year * 12 + day.month - 1


def _fits(dates: Sequence[dt.date], frequency: str) -> bool:
    if len(dates) < 2:
        return True
    if frequency == "day":
        return True
    if frequency == "week":
        return all((d - dates[0]).days % 7 == 0 for d in dates)
    step = _MONTHS[frequency]
    same_day = len({d.day for d in dates}) == 1 or all(_is_month_end(d) for d in dates)
    return same_day and all((_month_index(d) - _month_index(dates[0])) % step == 0 for d in dates)


def _is_month_end(day: dt.date) -> bool:
    return (day + dt.timedelta(days=1)).day == 1


def infer_frequency(dates: Sequence[dt.date]) -> Frequency:
    """The coarsest frequency whose grid holds every date (a year-start series is yearly, not daily).

    The grid step is the smallest spacing seen: dates all on one weekday but two weeks apart at
    the least are still weekly (with gaps), since a gap is more likely than a fortnightly panel.
    """
    ordered = sorted(set(dates))
    if len(ordered) < 2:
        raise ValueError("cannot infer a frequency from fewer than two periods; pass frequency=")
    for frequency in ("year", "quarter", "month", "week"):
        if _fits(ordered, frequency):
            return frequency  # type: ignore[return-value]
    return "day"


def period_grid(first: dt.date, last: dt.date, frequency: Frequency) -> list[dt.date]:
    """Every period from ``first`` to ``last`` at ``frequency`` (month ends stay month ends)."""
    if frequency in ("day", "week"):
        step = 1 if frequency == "day" else 7
        return [first + dt.timedelta(days=step * i) for i in range((last - first).days // step + 1)]
    months = _MONTHS[frequency]
    month_end = _is_month_end(first) and first.day != 1
    grid = []
    for m in range(_month_index(first), _month_index(last) + 1, months):
        year, month = divmod(m, 12)
        last_day = _last_day(year, month + 1)
        grid.append(dt.date(year, month + 1, last_day if month_end else min(first.day, last_day)))
    return grid


def _last_day(year: int, month: int) -> int:
    following = dt.date(year + month // 12, month % 12 + 1, 1)
    return (following - dt.timedelta(days=1)).day


def panel_from_frame(
    frame: pl.DataFrame,
    *,
    unit: str = "unit",
    period: str = "period",
    value: str = "value",
    frequency: Frequency | None = None,
    missing: MissingPolicy = "error",
) -> Panel:
    """Pivot a long frame to a panel; duplicate (unit, period) rows are summed (events → totals)."""
    absent = [c for c in (unit, period, value) if c not in frame.columns]
    if absent:
        raise ValueError(f"panel frame lacks column(s) {absent}; it has {frame.columns}")
    if frequency is not None and frequency not in FREQUENCIES:
        raise ValueError(f"frequency must be one of {', '.join(FREQUENCIES)}, got {frequency!r}")
    if missing not in get_args(MissingPolicy):
        raise ValueError(f"missing must be one of {', '.join(get_args(MissingPolicy))}, got {missing!r}")
    if frame.height == 0:
        raise ValueError("the panel frame has no rows")
    labels = frame[period].unique().to_list()
    as_date = {label: as_period_date(label) for label in labels}
    frame = frame.select(
        pl.col(unit).cast(pl.String).alias("unit"),
        pl.col(period).replace_strict(as_date, return_dtype=pl.Date).alias("period"),
        pl.col(value).cast(pl.Float64).alias("value"),
    )
    nulls = frame.filter(pl.col("value").is_null() | pl.col("unit").is_null())
    if nulls.height:
        first = nulls.row(0, named=True)
        raise ValueError(
            f"{nulls.height} row(s) have no {value} or no {unit} (first: {unit}={first['unit']!r}, "
            f"{period}={first['period']}); fill or drop them before the analysis"
        )
    cells = frame.group_by("unit", "period").agg(pl.col("value").sum())
    dates = sorted(set(cells["period"].to_list()))
    chosen: Frequency = frequency or infer_frequency(dates)
    if not _fits(dates, chosen):
        raise ValueError(f"periods do not fall on a {chosen} grid (e.g. {dates[:3]}); check frequency=")
    grid = period_grid(dates[0], dates[-1], chosen)
    units = sorted(cells["unit"].unique().to_list())
    position = {d: t for t, d in enumerate(grid)}
    off_grid = [d for d in dates if d not in position]
    if off_grid:
        raise ValueError(f"period(s) {off_grid[:5]} are off the {chosen} grid starting {grid[0]}")
    row = {u: i for i, u in enumerate(units)}
    values = np.full((len(units), len(grid)), np.nan)
    for u, d, v in cells.iter_rows():
        values[row[u], position[d]] = v
    return _fill(values, units, grid, chosen, missing, frame_outcome=value)


def _fill(
    values: np.ndarray,
    units: list[str],
    grid: list[dt.date],
    frequency: Frequency,
    missing: MissingPolicy,
    *,
    frame_outcome: str,
) -> Panel:
    holes = np.isnan(values)
    if not holes.any():
        return Panel(frame_outcome, units, grid, frequency, values)
    gaps = [(units[i], grid[t]) for i, t in zip(*np.nonzero(holes), strict=True)]
    empty_periods = [grid[t] for t in np.nonzero(holes.all(axis=0))[0]]
    if missing == "error":
        shown = ", ".join(f"{u} {d}" for u, d in gaps[:8])
        whole = f"; periods with no data at all: {empty_periods[:8]}" if empty_periods else ""
        raise ValueError(
            f"{len(gaps)} missing {frequency} cell(s) in the panel ({shown}{'...' if len(gaps) > 8 else ''})"
            f"{whole}. Missing periods are never read as zero: pass missing='interpolate' or 'drop'"
        )
    if missing == "drop":
        keep = ~holes.any(axis=0)
        if keep.sum() < 2:
            raise ValueError("dropping periods with missing cells leaves fewer than two periods")
        dropped = [grid[t] for t in np.nonzero(~keep)[0]]
        note = f"dropped {len(dropped)} {frequency}(s) with missing cells: {dropped[:8]}"
        return Panel(
            frame_outcome,
            units,
            [d for d, k in zip(grid, keep, strict=True) if k],
            frequency,
            values[:, keep],
            (note,),
        )
    filled = values.copy()
    index = np.arange(len(grid))
    for i in range(len(units)):
        known = ~holes[i]
        if not known.any():
            raise ValueError(f"unit {units[i]!r} has no data in any period; it cannot be interpolated")
        filled[i] = np.interp(index, index[known], values[i, known])
    note = f"interpolated {len(gaps)} missing cell(s) linearly (ends held at the nearest value)"
    return Panel(frame_outcome, units, grid, frequency, filled, (note,))
