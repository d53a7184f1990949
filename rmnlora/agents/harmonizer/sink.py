"""Where a harmonized batch goes: accepted events into month partitions, failed rows into quarantine.

Events are written as ``retailer=R/event_month=YYYY-MM/part-<batch>.parquet``, the retailer kept
out of the files (the folder says it; ``read_events`` puts it back) and each file's rows in date
order. Retailer exports are nearly always in day order, so a batch's events for one month are one
contiguous run of rows and each file is a zero-copy slice; a batch in any other order is sorted
by date once and then sliced. Quarantined rows keep their source file, row number, reason, a
human-readable detail and the raw values as JSON.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Literal

import polars as pl

from rmnlora.agents.harmonizer.core import REASON, SOURCE_FILE, SOURCE_ROW, SRC, accepted_rows, event_id
from rmnlora.agents.harmonizer.validate import duplicate_detail
from rmnlora.schemas.rmis import PARTITION_COLUMN, RMIS_EVENT_SCHEMA, QuarantineReason

#: Parquet codec of the events files: lz4 encodes ~2x faster than Polars' default zstd here, and the
#: 64-bit event_id (a hash) does not compress either way (lz4 files are ~10-20% larger).
EVENTS_COMPRESSION: Literal["lz4", "zstd", "snappy", "uncompressed"] = "lz4"
DAY = "event_date"
MONTH = "event_month"
#: A month folder holding more files than this is merged into one file (``compact_months``): an
#: export in day order leaves one or two files a month, one far out of order one file per batch.
MAX_FILES_PER_MONTH = 32


def retailer_folder(events_root: Path, retailer: str) -> Path:
    """One retailer's partition: the folder that names the column its files leave out."""
    return events_root / f"{PARTITION_COLUMN}={retailer}"


def month_folder(events_root: Path, retailer: str, month: dt.date) -> Path:
    return retailer_folder(events_root, retailer) / f"{MONTH}={month:%Y-%m}"


class EventWriter:
    """Writes accepted events of one retailer into month partitions under ``events_root``.

    Files are written on ``threads`` background threads (Polars releases the GIL while it encodes),
    so the next batch is parsed while this one is written; at most ``in_flight`` batches wait,
    which bounds memory. Use it as a context manager: leaving the block waits for every write and
    re-raises the first failure.
    """

    def __init__(self, events_root: Path, retailer: str, *, threads: int = 2, in_flight: int = 2) -> None:
        self.events_root = Path(events_root)
        self.retailer = retailer
        self._in_flight = in_flight
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="rmn-events")
        self._pending: deque[list[Future[None]]] = deque()

    def __enter__(self) -> EventWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            while self._pending:
                futures = self._pending.popleft()
                if exc_info[0] is not None:
                    for future in futures:
                        future.cancel()
                else:
                    self._finish(futures)
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def write(self, events: pl.DataFrame, batch: int) -> None:
        """Queue one batch's events (RMIS columns): one file a month, written in parallel."""
        while len(self._pending) >= self._in_flight:
            self._finish(self._pending.popleft())
        stored = events.drop(PARTITION_COLUMN, strict=False)
        futures = [
            self._pool.submit(self._write_month, part, month, batch) for month, part in split_by_month(stored)
        ]
        self._pending.append(futures)

    def _finish(self, futures: list[Future[None]]) -> None:
        for future in futures:
            future.result()

    def _write_month(self, part: pl.DataFrame, month: dt.date, batch: int) -> None:
        folder = month_folder(self.events_root, self.retailer, month)
        folder.mkdir(parents=True, exist_ok=True)
        part.write_parquet(folder / f"part-{batch:05d}.parquet", compression=EVENTS_COMPRESSION)


def compact_months(events_root: Path, retailer: str, *, threads: int = 2) -> int:
    """Merge each month folder holding more than ``MAX_FILES_PER_MONTH`` files into one file, rows in
    date order (ties in input order); returns the folders merged.

    Only an export far out of day order leaves that many (one file per batch in every month);
    readers would pay for them on every scan. Fewer are left alone: rewriting a month costs what
    writing it did, and readers open a few files a month as fast as one.
    """
    folders = sorted(retailer_folder(events_root, retailer).glob(f"{MONTH}=*"))
    many = [
        parts
        for folder in folders
        if len(parts := sorted(folder.glob("part-*.parquet"))) > MAX_FILES_PER_MONTH
    ]
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="rmn-compact") as pool:
        list(pool.map(_merge, many))
    return len(many)


def _merge(parts: list[Path]) -> None:
    merged = parts[0].with_suffix(".tmp")
    rows = pl.read_parquet(parts)  # files are named in batch order: this is input order within a day
    rows.sort(DAY, maintain_order=True).write_parquet(merged, compression=EVENTS_COMPRESSION)
    for part in parts:
        part.unlink()
    merged.rename(parts[0])


def split_by_month(events: pl.DataFrame) -> Iterator[tuple[dt.date, pl.DataFrame]]:
    """The events of each month (keyed by its first day), in date order, ties in input order.

    Rows already in date order are sliced (no copy); otherwise the batch is sorted by date once
    (stable) and sliced.
    """
    if events.is_empty():
        return
    days = events.get_column(DAY)
    if not days.is_sorted():
        events = events.sort(DAY, maintain_order=True)
        days = events.get_column(DAY)
    runs = days.dt.month_start().rle().struct.unnest()
    offset = 0
    for month, length in zip(runs["value"], runs["len"], strict=True):
        yield month, events.slice(offset, length)
        offset += length


def events_of(frame: pl.DataFrame) -> pl.DataFrame:
    """The accepted rows of a deduplicated batch, RMIS columns only."""
    columns = [pl.col(name).cast(dtype) for name, dtype in RMIS_EVENT_SCHEMA.items() if name != "event_id"]
    return accepted_rows(frame, [event_id(), *columns])


def quarantine_of(
    frame: pl.DataFrame, raw_columns: list[str], retailer: str, detail: pl.Expr
) -> pl.DataFrame:
    """The failed rows of a deduplicated batch: reason, detail and the raw source values as JSON.

    ``detail``: the staged batch's detail expression (duplicates get their own).
    """
    duplicate = pl.col(REASON) == QuarantineReason.DUPLICATE_EVENT.value
    # lazily, so only the columns the outputs read are filtered, not every helper column
    failed = frame.lazy().filter(pl.col(REASON).is_not_null()).with_columns(event_id())
    return failed.select(
        pl.lit(retailer, dtype=pl.String).alias("retailer"),
        pl.col(SOURCE_FILE).cast(pl.String).alias("source_file"),
        pl.col(SOURCE_ROW).cast(pl.Int64).alias("source_row"),
        pl.col(REASON).alias("reason"),
        pl.when(duplicate).then(duplicate_detail()).otherwise(detail).alias("detail"),
        pl.struct([pl.col(f"{SRC}{c}").cast(pl.String).alias(c) for c in raw_columns])
        .struct.json_encode()
        .alias("raw"),
    ).collect()
