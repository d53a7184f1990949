"""Ratio columns (ROAS, ACOS, CTR, CPC, CPM) as evidence that a mapping is right.

Why: consoles export ratios beside the base measures, and a ratio is exactly what catches a
plausible wrong mapping. A proposer that maps spend to the ROAS column, or sales to the order
count, yields a run that "succeeds" with wrong totals; but with the right mapping, spend × ROAS
equals sales on every row (up to the console's rounding), clicks / impressions equals CTR, and so
on. Ratio columns are therefore never mapped as base measures; they are checked, row by row, when
a mapping is proposed and when it is used.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import polars as pl

from rmnlora.agents.harmonizer.values import console_number

RatioKind = Literal["roas", "acos", "ctr", "cpc", "cpm", "cvr"]
#: kind → (numerator field, denominator field, factor): ratio = factor × numerator / denominator.
RATIO_FORMULAS: dict[str, tuple[str, str, float]] = {
    "roas": ("attributed_sales", "spend", 1.0),
    "acos": ("spend", "attributed_sales", 1.0),
    "ctr": ("clicks", "impressions", 1.0),
    "cpc": ("spend", "clicks", 1.0),
    "cpm": ("spend", "impressions", 1000.0),
}
_NAMES: list[tuple[str, re.Pattern[str]]] = [
    ("roas", re.compile(r"(?i)\broas\b|return on (advertising|ad) spend")),
    ("acos", re.compile(r"(?i)\bacos\b|advertising cost of sales")),
    ("ctr", re.compile(r"(?i)\bctr\b|click[- ]?thr(u|ough) rate")),
    ("cpc", re.compile(r"(?i)\bcpc\b|cost per click")),
    # not vCPM: per 1,000 *viewable* impressions, a base measure the mappings do not carry
    ("cpm", re.compile(r"(?i)\bcpm\b|cost per (thousand|mille)")),
    ("cvr", re.compile(r"(?i)\bcvr\b|conversion rate")),
]
_RATE_WORDS = re.compile(r"(?i)\brate\b|\bper\b|%|\bratio\b|\baverage\b|\bavg\b")
#: Agreement below this share of checked rows flags the mapping.
MIN_AGREEMENT = 0.9


def _words(column: str) -> str:
    """API names in camelCase as words: clickThroughRate → click Through Rate, roasClicks7d → roas
    Clicks7d (the Amazon Ads API v3 spells its ratio columns so)."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", column)


def ratio_kind(column: str) -> RatioKind | None:
    """The ratio a column name says it holds, or None."""
    for kind, pattern in _NAMES:
        if pattern.search(_words(column)):
            return kind  # type: ignore[return-value]
    return None


def is_ratio_column(column: str, values: list[str] | None = None) -> bool:
    """A ratio by name (ROAS, "... Rate", "Cost Per ...") or by value (mostly percent strings)."""
    if ratio_kind(column) is not None or _RATE_WORDS.search(_words(column)):
        return True
    if values:
        percent = sum(1 for v in values if v.strip().endswith("%"))
        return percent / len(values) > 0.5
    return False


@dataclass(frozen=True)
class RatioCheck:
    """How well one ratio column agrees with the mapped base measures, with an example row."""

    column: str
    kind: str
    rows_checked: int
    agreement: float
    evidence: str

    @property
    def passed(self) -> bool:
        return self.rows_checked == 0 or self.agreement >= MIN_AGREEMENT

    def describe(self) -> str:
        verdict = "agrees" if self.passed else "DISAGREES"
        return (
            f"{self.column!r} ({self.kind.upper()}) {verdict} with the mapped columns on "
            f"{self.agreement:.0%} of {self.rows_checked} rows"
            + (f"; e.g. {self.evidence}" if self.evidence else "")
        )


def check_ratios(
    sample: pl.DataFrame,
    columns: Mapping[str, str],
    ratio_columns: Mapping[str, str],
    *,
    decimal_comma: bool = False,
) -> list[RatioCheck]:
    """Row-by-row checks on ``sample`` (text columns): ``columns`` source → RMIS field of the mapping,
    ``ratio_columns`` source → ratio kind. A percent value is compared in percent; a plain value
    as a fraction or in percent, whichever the column uses; both to the console's 2-decimal rounding."""
    by_field = {field: source for source, field in columns.items()}
    checks = []
    for column, kind in ratio_columns.items():
        formula = RATIO_FORMULAS.get(kind)
        if formula is None or column not in sample.columns:
            continue
        numerator, denominator, factor = formula
        if numerator not in by_field or denominator not in by_field:
            continue
        top = console_number(sample[by_field[numerator]], decimal_comma=decimal_comma).value
        bottom = console_number(sample[by_field[denominator]], decimal_comma=decimal_comma).value
        raw = sample[column].cast(pl.String).str.strip_chars()
        percent = raw.str.ends_with("%").fill_null(False)
        reported = console_number(raw.str.strip_chars_end("%"), decimal_comma=decimal_comma).value
        frame = pl.DataFrame({"top": top, "bottom": bottom, "rep": reported, "pct": percent})
        frame = frame.filter(
            pl.col("top").is_not_null() & pl.col("rep").is_not_null() & (pl.col("bottom").fill_null(0) > 0)
        )
        expected = pl.col("top") / pl.col("bottom") * factor
        tolerance = pl.max_horizontal(pl.lit(0.0051), pl.col("rep").abs() * 0.01)
        as_percent = (expected * 100 - pl.col("rep")).abs() <= tolerance
        as_fraction = (expected - pl.col("rep")).abs() <= tolerance
        scored = frame.with_columns(
            expected.alias("expected"),
            pl.when(pl.col("pct")).then(as_percent).otherwise(as_fraction | as_percent).alias("ok"),
        )
        rows = scored.height
        agreement = float(scored["ok"].mean()) if rows else 1.0  # type: ignore[arg-type]
        evidence = ""
        wrong = scored.filter(~pl.col("ok"))
        if wrong.height:
            first = wrong.row(0, named=True)
            evidence = (
                f"{by_field[numerator].strip()} {first['top']:g} / {by_field[denominator].strip()} "
                f"{first['bottom']:g}"
                f"{f' x {factor:g}' if factor != 1 else ''} = {first['expected']:.4g}, "
                f"but {column.strip()} says {first['rep']:g}{'%' if first['pct'] else ''}"
            )
        checks.append(RatioCheck(column, kind, rows, agreement, evidence))
    return checks
