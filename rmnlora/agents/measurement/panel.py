"""RMIS events → a dense market × day KPI panel, the input every design and analysis reads.

Events arrive many per day (one per retailer, placement, product); experiments reason about
markets and days. A day with no event rows inside the range counts as zero activity (console
exports leave out rows with no activity), so the time axis is regular and autocorrelation
estimates mean what they say. That reading only holds for daily events: events dated weekly,
monthly or yearly are refused with a pointer to ``analyze_panel``, which keeps their period
(reading the days between as zeros had produced zero-width intervals). ``design_fields`` is what
every design copies from its request.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from rmnlora.agents.measurement.periods import ADJECTIVE, infer_frequency
from rmnlora.schemas.measurement import ExperimentRequest, MarketHistory

KPI_COLUMNS = ("attributed_sales", "spend", "units", "clicks", "impressions")


def history_from_events(
    events: pl.DataFrame,
    kpi: str = "attributed_sales",
    *,
    retailers: Sequence[str] | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> MarketHistory:
    """Sum ``kpi`` per market and day over ``events`` (optionally only some retailers / dates)."""
    missing = [c for c in ("event_date", "market", kpi) if c not in events.columns]
    if missing:
        raise ValueError(f"events frame lacks column(s) {missing}; it has {events.columns}")
    if kpi not in KPI_COLUMNS and not events.schema[kpi].is_numeric():
        raise ValueError(f"kpi {kpi!r} is not a numeric column")
    frame = events.lazy()
    if retailers:
        if "retailer" not in events.columns:
            raise ValueError("cannot filter by retailer: events frame has no 'retailer' column")
        frame = frame.filter(pl.col("retailer").is_in(list(retailers)))
    frame = frame.with_columns(pl.col("event_date").cast(pl.Date))
    if start is not None:
        frame = frame.filter(pl.col("event_date") >= start)
    if end is not None:
        frame = frame.filter(pl.col("event_date") <= end)
    daily = (
        frame.group_by("market", "event_date")
        .agg(pl.col(kpi).cast(pl.Float64).fill_null(0.0).sum().alias("value"))
        .collect()
    )
    if daily.height == 0:
        raise ValueError(f"no events left to build a {kpi} history (filters: retailers={retailers})")
    dates = daily["event_date"].unique().to_list()
    if len(dates) >= 3 and (frequency := infer_frequency(dates)) != "day":
        raise ValueError(
            f"the {kpi} events are {ADJECTIVE[frequency]} ({', '.join(map(str, sorted(dates)[:3]))}, ...): "
            "a market × day history would read the days between as zero sales. Analyse them at their "
            "own period with rmnlora.agents.measurement.panel_analysis.analyze_panel"
        )
    first: dt.date = daily["event_date"].min()  # type: ignore[assignment]
    last: dt.date = daily["event_date"].max()  # type: ignore[assignment]
    days = (last - first).days + 1
    markets = sorted(str(m) for m in daily["market"].unique().to_list())
    index = {m: i for i, m in enumerate(markets)}
    matrix = np.zeros((len(markets), days))
    rows = daily["market"].cast(pl.String).replace_strict(index, return_dtype=pl.Int64).to_numpy()
    cols = daily["event_date"].cast(pl.Int32).to_numpy() - (first - dt.date(1970, 1, 1)).days
    np.add.at(matrix, (rows, cols), daily["value"].to_numpy())
    return MarketHistory(kpi=kpi, start=first, markets=markets, values=matrix.tolist())


def history_matrix(history: MarketHistory) -> np.ndarray:
    """The history as a float array ``[markets, days]``."""
    return np.asarray(history.values, dtype=float).reshape(len(history.markets), history.days)


def date_offset(history: MarketHistory, day: dt.date) -> int:
    """Column index of ``day`` in the history (may fall outside it)."""
    return (day - history.start).days


def design_fields(request: ExperimentRequest, kind: str, duration_days: int) -> dict[str, Any]:
    """What every design carries over from its request: KPI, test settings, flight start, seed."""
    return {
        "kind": kind,
        "kpi": request.history.kpi,
        "alpha": request.alpha,
        "target_power": request.power,
        "expected_lift": request.expected_lift,
        "duration_days": duration_days,
        "flight_start": request.flight_start,
        "seed": request.seed,
    }
