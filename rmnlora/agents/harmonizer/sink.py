"""Where a harmonized batch goes: accepted events into day partitions, failed rows into quarantine.

Events are written as ``retailer=R/event_date=D/part-<batch>.parquet``. Retailer exports are
nearly always in day order, so a batch's events for one day are one contiguous run of rows and
each file is a zero-copy slice; out-of-order rows are gathered per day. Quarantined rows keep
their source file, row number, reason, a human-readable detail and the raw values as JSON.
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
from rmnlora.schemas.rmis import RMIS_EVENT_SCHEMA, QuarantineReason

#: Parquet codec of the events files. lz4 rather than Polars' default zstd: the unique text event_id
#: does not compress, and zstd spent ~0.25 s per million rows on it (lz4 files are ~10-20% larger).
EVENTS_COMPRESSION: Literal["lz4", "zstd", "snappy", "uncompressed"] = "lz4"
DAY = "event_date"


def day_folder(events_root: Path, retailer: str, day: dt.date) -> Path:
    return events_root / f"retailer={retailer}" / f"{DAY}={day.isoformat()}"


class EventWriter:
    """Writes accepted events of one retailer into day partitions under ``events_root``.

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
        """Queue one batch's events (RMIS columns, in RMIS order): one file a day, written in parallel."""
        while len(self._pending) >= self._in_flight:
            self._finish(self._pending.popleft())
        futures = [self._pool.submit(self._write_day, part, day, batch) for day, part in split_by_day(events)]
        self._pending.append(futures)

    def _finish(self, futures: list[Future[None]]) -> None:
        for future in futures:
            future.result()

    def _write_day(self, part: pl.DataFrame, day: dt.date, batch: int) -> None:
        folder = day_folder(self.events_root, self.retailer, day)
        folder.mkdir(parents=True, exist_ok=True)
        part.write_parquet(folder / f"part-{batch:05d}.parquet", compression=EVENTS_COMPRESSION)


def compact_days(events_root: Path, retailer: str, *, threads: int = 2) -> int:
    """Merge each day folder that holds several batch files into one file; returns the folders merged.

    A sorted export leaves a second file only in the days that straddle two batches; an export
    sorted by anything else (campaign, product) leaves a file per batch in every day, which
    readers would pay for on every scan. Rows keep their input order (files are named in batch
    order, and the merged file takes the first one's name).
    """
    folders = sorted((events_root / f"retailer={retailer}").glob(f"{DAY}=*"))
    several = [parts for folder in folders if len(parts := sorted(folder.glob("part-*.parquet"))) > 1]
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="rmn-compact") as pool:
        list(pool.map(_merge, several))
    return len(several)


def _merge(parts: list[Path]) -> None:
    merged = parts[0].with_suffix(".tmp")
    pl.read_parquet(parts).write_parquet(merged, compression=EVENTS_COMPRESSION)
    for part in parts:
        part.unlink()
    merged.rename(parts[0])


def split_by_day(events: pl.DataFrame) -> Iterator[tuple[dt.date, pl.DataFrame]]:
    """The events of each day, in order of first appearance.

    Days that form one run of rows are slices (no copy); a day whose rows are scattered over a few
    runs is the concatenation of its runs; when rows are thoroughly shuffled (far more runs than
    days) the frame is partitioned by day instead.
    """
    if events.is_empty():
        return
    runs = events.get_column(DAY).rle().struct.unnest()
    runs = runs.with_columns((pl.col("len").cum_sum() - pl.col("len")).alias("offset"))
    by_day = runs.group_by("value", maintain_order=True).agg("offset", "len")
    if runs.height > 4 * by_day.height + 64:
        for (day,), part in events.partition_by(DAY, as_dict=True, maintain_order=True).items():
            yield day, part  # type: ignore[misc]
        return
    for day, offsets, lengths in by_day.iter_rows():
        slices = [events.slice(offset, length) for offset, length in zip(offsets, lengths, strict=True)]
        yield day, slices[0] if len(slices) == 1 else pl.concat(slices, rechunk=False)


def events_of(frame: pl.DataFrame) -> pl.DataFrame:
    """The accepted rows of a deduplicated batch, RMIS columns only, with their text event_id."""
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
