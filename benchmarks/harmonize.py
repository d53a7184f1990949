"""Harmonizer throughput: N-row Walmart-style CSV → RMIS, against a bare Polars read + Parquet write.

Usage: .venv/bin/python benchmarks/harmonize.py [N]   (default 5,000,000 rows)
Prints events/s and the ratio harmonize time / bare read+write time (goal ≤ 1.5), and writes
benchmarks/results/harmonize.json.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

from rmnlora.agents.harmonizer import harmonize
from rmnlora.datagen import generate_exports
from rmnlora.schemas.harmonize import HarmonizeRequest


def main(rows: int = 5_000_000) -> dict[str, float]:
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

        started = time.perf_counter()
        pl.scan_csv(trimmed, separator=";", ignore_errors=True).sink_parquet(work / "bare.parquet")
        bare = time.perf_counter() - started

        started = time.perf_counter()
        summary = harmonize(HarmonizeRequest(inputs=[trimmed], retailer="walmart", out=work / "out"))
        took = time.perf_counter() - started
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = {
        "rows": float(summary.rows_in),
        "rows_accepted": float(summary.rows_accepted),
        "harmonize_s": round(took, 3),
        "bare_read_write_s": round(bare, 3),
        "events_per_s": round(summary.rows_in / took),
        "bare_rows_per_s": round(summary.rows_in / bare),
        "ratio_to_bare": round(took / bare, 3),
    }
    print(f"harmonize: {summary.rows_in:,} rows in {took:.2f} s = {result['events_per_s']:,.0f} events/s")
    print(f"bare Polars read + Parquet write: {bare:.2f} s = {result['bare_rows_per_s']:,.0f} rows/s")
    print(f"ratio harmonize / bare: {result['ratio_to_bare']:.2f} (goal <= 1.5)")
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "harmonize.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    return result


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5_000_000)
