"""Harmonizer throughput: N-row Walmart-style CSV → RMIS, against a bare Polars read + Parquet write.

Usage: .venv/bin/python benchmarks/harmonize.py [N] [REPEATS]   (default 5,000,000 rows, 3 repeats)

Two bare baselines run on the same file, alternating with harmonize REPEATS times (the machine's
load swings, so alternating keeps all sides under similar conditions):

- ``read_write``: ``pl.read_csv(file).write_parquet(out)`` with Polars' defaults, the plain "bare
  Polars read + Parquet write" the issue names (it quotes ~2.9M rows/s for it on 2 cores);
- ``streaming``: ``scan_csv(file).sink_parquet(out)`` with the engine's codec (lz4): Polars'
  fastest way to do the same, streaming the read into the write on both cores; stricter.

It prints every time, the medians and the median of the per-round ratios harmonize / bare for
each baseline (goal <= 1.5), and writes benchmarks/results/harmonize.json.
"""

from __future__ import annotations

import json
import math
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import polars as pl

from rmnlora.agents.harmonizer import harmonize, read_events, shipped_mapping
from rmnlora.agents.harmonizer.engine import DEFAULT_BATCH_ROWS, EVENTS_COMPRESSION, scan_input
from rmnlora.agents.harmonizer.sink import EventWriter
from rmnlora.datagen import generate_exports
from rmnlora.schemas.harmonize import HarmonizeRequest, HarmonizeSummary


def _bare_read_write(source: Path, target: Path) -> float:
    """``read_csv`` (inferred types; the planted bad values become null) + ``write_parquet``, defaults."""
    started = time.perf_counter()
    pl.read_csv(source, separator=";", ignore_errors=True).write_parquet(target)
    return time.perf_counter() - started


def _bare_streaming(source: Path, target: Path) -> float:
    """``scan_csv`` streamed into ``sink_parquet`` with the engine's codec."""
    started = time.perf_counter()
    pl.scan_csv(source, separator=";", ignore_errors=True).sink_parquet(
        target, compression=EVENTS_COMPRESSION
    )
    return time.perf_counter() - started


def _io_floor(source: Path, events: pl.DataFrame, out: Path) -> float:
    """harmonize's own streamed CSV read and day-partitioned event writes with no work between them:
    each batch of raw rows is swapped for as many finished events. What the output contract costs
    before any parsing, checking or keying."""
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    done = 0
    mapping = shipped_mapping("walmart")
    assert mapping is not None
    scan = scan_input(source, mapping)
    with EventWriter(out, "walmart") as writer:
        for number, batch in enumerate(scan.collect_batches(chunk_size=DEFAULT_BATCH_ROWS)):
            writer.write(events.slice(done, batch.height), number)
            done += batch.height
    return time.perf_counter() - started


def _harmonize(source: Path, out: Path) -> tuple[float, HarmonizeSummary]:
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    summary = harmonize(HarmonizeRequest(inputs=[source], retailer="walmart", out=out))
    return time.perf_counter() - started, summary


def main(rows: int = 5_000_000, repeats: int = 3) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="rmn-bench-harmonize-"))
    try:
        days, markets = 365, 12
        products = max(1, math.ceil(rows / (days * 3 * markets)))
        started = time.perf_counter()
        truth = generate_exports(
            work / "in", seed=1, days=days, markets=markets, products=products, retailers=("walmart",)
        )
        source = Path(truth.retailers["walmart"].files[0])
        trimmed = work / "walmart.csv"
        pl.scan_csv(source, separator=";", infer_schema=False).head(rows).sink_csv(trimmed, separator=";")
        print(
            f"generated {rows:,} rows in {time.perf_counter() - started:.1f} s "
            f"({trimmed.stat().st_size / 1e6:.0f} MB)",
            file=sys.stderr,
        )
        bares: dict[str, list[float]] = {"read_write": [], "streaming": [], "io_floor": []}
        harmonize_times: list[float] = []
        for attempt in range(repeats):
            bares["read_write"].append(_bare_read_write(trimmed, work / "bare.parquet"))
            took, summary = _harmonize(trimmed, work / "out")
            harmonize_times.append(took)
            bares["streaming"].append(_bare_streaming(trimmed, work / "bare.parquet"))
            events = read_events(work / "out", "walmart").collect()
            bares["io_floor"].append(_io_floor(trimmed, events, work / "floor"))
            del events
            print(
                f"round {attempt + 1}/{repeats}: harmonize {took:.2f} s, "
                f"read_write {bares['read_write'][-1]:.2f} s, streaming {bares['streaming'][-1]:.2f} s, "
                f"io_floor {bares['io_floor'][-1]:.2f} s",
                file=sys.stderr,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    took = statistics.median(harmonize_times)
    result: dict[str, Any] = {
        "rows": summary.rows_in,
        "rows_accepted": summary.rows_accepted,
        "repeats": repeats,
        "compression": EVENTS_COMPRESSION,
        "harmonize_s": [round(t, 3) for t in harmonize_times],
        "median_harmonize_s": round(took, 3),
        "events_per_s": round(summary.rows_in / took),
        "baselines": {},
    }
    for name, times in bares.items():
        ratios = [h / b for h, b in zip(harmonize_times, times, strict=True)]
        result["baselines"][name] = {
            "seconds": [round(t, 3) for t in times],
            "median_s": round(statistics.median(times), 3),
            "rows_per_s": round(summary.rows_in / statistics.median(times)),
            "ratios": [round(r, 3) for r in ratios],
            "ratio": round(statistics.median(ratios), 3),
        }
    rate = result["events_per_s"]
    print(f"harmonize: {summary.rows_in:,} rows in {took:.2f} s (median) = {rate:,} events/s")
    for name in ("read_write", "streaming"):
        line = result["baselines"][name]
        print(
            f"bare {name}: {line['median_s']:.2f} s (median) = {line['rows_per_s']:,} rows/s; "
            f"ratio harmonize / bare {line['ratio']:.2f} (median of {line['ratios']}; goal <= 1.5)"
        )
    floor = result["baselines"]["io_floor"]
    floor_ratios = [f / b for f, b in zip(bares["io_floor"], bares["streaming"], strict=True)]
    result["io_floor_to_streaming"] = round(statistics.median(floor_ratios), 3)
    print(
        f"I/O floor (harmonize's read + day-partitioned write of the same events, no processing): "
        f"{floor['median_s']:.2f} s = {result['io_floor_to_streaming']:.2f} x bare streaming; "
        f"harmonize = {floor['ratio']:.2f} x the floor"
    )
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "harmonize.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    return result


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else 5_000_000,
        int(sys.argv[2]) if len(sys.argv) > 2 else 3,
    )
