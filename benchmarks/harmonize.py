"""Harmonizer throughput on three exports of the same N rows, each against a bare Polars read + write.

Usage: .venv/bin/python benchmarks/harmonize.py [N] [REPEATS]   (default 5,000,000 rows, 3 repeats)

The exports (all ';'-delimited CSV of the same Walmart-style rows, planted bad rows included):

- ``clean``: plain numbers (money in cents), US dates, in day order, as the example generator writes;
- ``console``: as a console writes the same rows: every value quoted, CRLF line ends, money as
  ``"$1,234.56"`` strings in dollars, dates as ``"Nov 01, 2026"``;
- ``shuffled``: ``clean`` with its rows in random order (an export sorted by campaign or product).

The bare baseline for each is ``scan_csv(file).sink_parquet(out)`` with the engine's codec (lz4),
Polars' fastest read + write of the same file (streamed on both cores, inferred types, the bad
values nulled); for ``clean`` also ``read_csv(file).write_parquet(out)`` with Polars' defaults.
Rounds alternate harmonize and bare runs, because the machine's load swings. It prints every time,
the median of the per-round ratios harmonize / bare (goal <= 1.5) and shuffled / clean harmonize
(goal <= 1.5), and writes benchmarks/results/harmonize.json.
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

from rmnlora.agents.harmonizer import RetailerMapping, harmonize, shipped_mapping
from rmnlora.agents.harmonizer.engine import EVENTS_COMPRESSION
from rmnlora.datagen import generate_exports
from rmnlora.schemas.harmonize import HarmonizeRequest, HarmonizeSummary


def _bare_read_write(source: Path, target: Path) -> float:
    started = time.perf_counter()
    pl.read_csv(source, separator=";", ignore_errors=True).write_parquet(target)
    return time.perf_counter() - started


def _bare_streaming(source: Path, target: Path) -> float:
    started = time.perf_counter()
    pl.scan_csv(source, separator=";", ignore_errors=True).sink_parquet(
        target, compression=EVENTS_COMPRESSION
    )
    return time.perf_counter() - started


def _harmonize(source: Path, out: Path, mapping: RetailerMapping) -> tuple[float, HarmonizeSummary]:
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    summary = harmonize(HarmonizeRequest(inputs=[source], retailer="walmart", out=out), mapping=mapping)
    return time.perf_counter() - started, summary


def _money(cents: pl.Expr) -> pl.Expr:
    """Cents as a console writes dollars: ``$1,234.56`` (the planted unparseable values stay text)."""
    value = cents.cast(pl.Int64, strict=False)
    dollars, rest = value.abs() // 100, (value.abs() % 100).cast(pl.String).str.zfill(2)
    grouped = (
        pl.when(dollars >= 1000)
        .then(pl.format("{},{}", dollars // 1000, (dollars % 1000).cast(pl.String).str.zfill(3)))
        .otherwise(dollars.cast(pl.String))
    )
    text = pl.format("{}${}.{}", pl.when(value < 0).then(pl.lit("-")).otherwise(pl.lit("")), grouped, rest)
    return pl.when(value.is_null()).then(cents).otherwise(text)


def _console_export(clean: Path, target: Path) -> None:
    frame = pl.read_csv(clean, separator=";", infer_schema=False)
    day = pl.col("Date").str.to_date("%m/%d/%Y", strict=False)
    frame = frame.with_columns(
        pl.when(day.is_null()).then(pl.col("Date")).otherwise(day.dt.strftime("%b %d, %Y")).alias("Date"),
        _money(pl.col("Ad Spend (cents)")).alias("Ad Spend (cents)"),
        _money(pl.col("14 Day Attributed Sales (cents)")).alias("14 Day Attributed Sales (cents)"),
    ).rename({"Ad Spend (cents)": "Ad Spend", "14 Day Attributed Sales (cents)": "14 Day Attributed Sales"})
    frame.write_csv(target, separator=";", quote_style="always", line_terminator="\r\n")


def _console_mapping(clean: RetailerMapping) -> RetailerMapping:
    columns = {
        {"Ad Spend (cents)": "Ad Spend", "14 Day Attributed Sales (cents)": "14 Day Attributed Sales"}.get(
            k, k
        ): v
        for k, v in clean.columns.items()
    }
    return clean.model_copy(update={"columns": columns, "date_format": "%b %d, %Y", "money_scale": 1.0})


def main(rows: int = 5_000_000, repeats: int = 3) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="rmn-bench-harmonize-"))
    mapping = shipped_mapping("walmart")
    assert mapping is not None
    mappings = {"clean": mapping, "console": _console_mapping(mapping), "shuffled": mapping}
    try:
        days, markets = 365, 12
        products = max(1, math.ceil(rows / (days * 3 * markets)))
        started = time.perf_counter()
        truth = generate_exports(
            work / "in", seed=1, days=days, markets=markets, products=products, retailers=("walmart",)
        )
        source = Path(truth.retailers["walmart"].files[0])
        files = {name: work / f"{name}.csv" for name in mappings}
        pl.scan_csv(source, separator=";", infer_schema=False).head(rows).sink_csv(
            files["clean"], separator=";"
        )
        _console_export(files["clean"], files["console"])
        shuffled = pl.read_csv(files["clean"], separator=";", infer_schema=False)
        shuffled.sample(fraction=1.0, shuffle=True, seed=7).write_csv(files["shuffled"], separator=";")
        del shuffled
        sizes = ", ".join(f"{name} {path.stat().st_size / 1e6:.0f} MB" for name, path in files.items())
        print(f"generated {rows:,} rows in {time.perf_counter() - started:.1f} s ({sizes})", file=sys.stderr)
        times: dict[str, list[float]] = {name: [] for name in mappings}
        bare: dict[str, list[float]] = {name: [] for name in mappings}
        read_write: list[float] = []
        summaries: dict[str, HarmonizeSummary] = {}
        for attempt in range(repeats):
            read_write.append(_bare_read_write(files["clean"], work / "bare.parquet"))
            for name, path in files.items():
                took, summaries[name] = _harmonize(path, work / "out", mappings[name])
                times[name].append(took)
                bare[name].append(_bare_streaming(path, work / "bare.parquet"))
            print(
                f"round {attempt + 1}/{repeats}: "
                + ", ".join(f"{n} {times[n][-1]:.2f} s (bare {bare[n][-1]:.2f} s)" for n in mappings)
                + f", clean read_write {read_write[-1]:.2f} s",
                file=sys.stderr,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    totals = {name: summary.totals.model_dump() for name, summary in summaries.items()}
    assert (
        totals["shuffled"]["impressions"]
        == totals["clean"]["impressions"]
        == totals["console"]["impressions"]
    )
    result: dict[str, Any] = {
        "rows": summaries["clean"].rows_in,
        "repeats": repeats,
        "compression": EVENTS_COMPRESSION,
    }
    for name in mappings:
        ratios = [h / b for h, b in zip(times[name], bare[name], strict=True)]
        took = statistics.median(times[name])
        result[name] = line = {
            "harmonize_s": [round(t, 3) for t in times[name]],
            "median_harmonize_s": round(took, 3),
            "events_per_s": round(summaries[name].rows_in / took),
            "rows_accepted": summaries[name].rows_accepted,
            "bare_streaming_s": [round(t, 3) for t in bare[name]],
            "ratios": [round(r, 3) for r in ratios],
            "ratio": round(statistics.median(ratios), 3),
        }
        print(
            f"{name:8s}: {line['rows_accepted']:,} of {result['rows']:,} rows accepted in {took:.2f} s "
            f"= {line['events_per_s']:,} events/s; bare streaming {statistics.median(bare[name]):.2f} s; "
            f"ratio {line['ratio']:.2f} (median of {line['ratios']}; goal <= 1.5)"
        )
    clean_ratios = [h / b for h, b in zip(times["clean"], read_write, strict=True)]
    result["clean"]["bare_read_write_s"] = [round(t, 3) for t in read_write]
    result["clean"]["ratio_read_write"] = round(statistics.median(clean_ratios), 3)
    order = [s / c for s, c in zip(times["shuffled"], times["clean"], strict=True)]
    result["shuffled_to_clean"] = round(statistics.median(order), 3)
    print(
        f"clean against read_csv + write_parquet: ratio {result['clean']['ratio_read_write']:.2f}; "
        f"shuffled / in order: {result['shuffled_to_clean']:.2f} (goal <= 1.5)"
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
