"""Harmonizer throughput: N-row Walmart-style CSV → RMIS, against a bare Polars read + Parquet write.

Usage: .venv/bin/python benchmarks/harmonize.py [N] [REPEATS]   (default 5,000,000 rows, 3 repeats)
The bare side and harmonize run alternately REPEATS times each (the machine's load swings, so
alternating keeps both sides under similar conditions); it prints every time, the median times and
the median of the per-pair ratios harmonize / bare (goal <= 1.5), and writes
benchmarks/results/harmonize.json. Both sides write Parquet with the same codec
(``EVENTS_COMPRESSION``, lz4), so the ratio compares the work, not the codec.
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

from rmnlora.agents.harmonizer import harmonize
from rmnlora.agents.harmonizer.engine import EVENTS_COMPRESSION
from rmnlora.datagen import generate_exports
from rmnlora.schemas.harmonize import HarmonizeRequest, HarmonizeSummary


def _bare(source: Path, target: Path) -> float:
    """Typed read (inferred schema) + Parquet write of the same file, with the engine's codec."""
    started = time.perf_counter()
    frame = pl.scan_csv(source, separator=";", ignore_errors=True)
    frame.sink_parquet(target, compression=EVENTS_COMPRESSION)
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
        bare_times: list[float] = []
        harmonize_times: list[float] = []
        for attempt in range(repeats):
            bare_times.append(_bare(trimmed, work / "bare.parquet"))
            took, summary = _harmonize(trimmed, work / "out")
            harmonize_times.append(took)
            print(
                f"run {attempt + 1}/{repeats}: bare {bare_times[-1]:.2f} s, harmonize {took:.2f} s, "
                f"ratio {took / bare_times[-1]:.2f}",
                file=sys.stderr,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ratios = [h / b for h, b in zip(harmonize_times, bare_times, strict=True)]
    took, bare = statistics.median(harmonize_times), statistics.median(bare_times)
    result: dict[str, Any] = {
        "rows": summary.rows_in,
        "rows_accepted": summary.rows_accepted,
        "repeats": repeats,
        "compression": EVENTS_COMPRESSION,
        "harmonize_s": [round(t, 3) for t in harmonize_times],
        "bare_read_write_s": [round(t, 3) for t in bare_times],
        "ratios": [round(r, 3) for r in ratios],
        "median_harmonize_s": round(took, 3),
        "median_bare_s": round(bare, 3),
        "events_per_s": round(summary.rows_in / took),
        "bare_rows_per_s": round(summary.rows_in / bare),
        "ratio_to_bare": round(statistics.median(ratios), 3),
    }
    rate = result["events_per_s"]
    print(f"harmonize: {summary.rows_in:,} rows in {took:.2f} s (median) = {rate:,} events/s")
    print(
        f"bare Polars read + Parquet write ({EVENTS_COMPRESSION}): {bare:.2f} s (median) = "
        f"{result['bare_rows_per_s']:,} rows/s"
    )
    print(f"ratio harmonize / bare: {result['ratio_to_bare']:.2f} median of {result['ratios']} (goal <= 1.5)")
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "harmonize.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    return result


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else 5_000_000,
        int(sys.argv[2]) if len(sys.argv) > 2 else 3,
    )
