"""Quarantine rule building blocks: a ``Check`` (reason, failing rows, detail text) and the helpers
that pick each row's first failing check.

``rules.checks_for`` puts a mapping's checks in order; ``mark_duplicates`` is the one rule that
needs every row, for engines that run ``harmonize_batch`` per partition.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from rmnlora.schemas.rmis import QuarantineReason


@dataclass(frozen=True)
class Check:
    """A rule: rows where ``failed`` is true are quarantined with ``reason`` and ``detail``."""

    reason: QuarantineReason
    failed: pl.Expr
    detail: pl.Expr


def _text(expr: pl.Expr) -> pl.Expr:
    return expr.cast(pl.String).fill_null("<null>")


def raw_detail(field: str, raw: pl.Expr) -> pl.Expr:
    """``field=<the raw value>`` for a value that failed to parse."""
    return pl.format("{}={}", pl.lit(field), _text(raw))


def negative(fields: dict[str, pl.Expr]) -> Check:
    """Spend, sales and counts cannot be below zero."""
    failed = pl.any_horizontal([value < 0 for value in fields.values()]).fill_null(False)
    detail = pl.concat_str(
        [pl.when(value < 0).then(pl.format("{}={}", pl.lit(name), value)) for name, value in fields.items()],
        separator=" ",
        ignore_nulls=True,
    )
    return Check(QuarantineReason.NEGATIVE_VALUE, failed, detail)


def clicks_exceed_impressions(clicks: pl.Expr, impressions: pl.Expr) -> Check:
    failed = (clicks > impressions).fill_null(False)
    return Check(
        QuarantineReason.CLICKS_EXCEED_IMPRESSIONS,
        failed,
        pl.format("clicks={} impressions={}", clicks, impressions),
    )


def unknown_currency(raw: pl.Expr, rate: pl.Expr) -> Check:
    return Check(QuarantineReason.UNKNOWN_CURRENCY, rate.is_null(), pl.format("currency={}", _text(raw)))


def first_index(checks: list[Check]) -> pl.Expr:
    """The position (UInt8) of the first failing check per row; null for a clean row.

    Coalescing small integers is ten times cheaper than coalescing text; the engine keeps this
    index as a helper column so the reason and the detail are both derived from it without
    evaluating the rules twice.
    """
    if not checks:
        return pl.lit(None, dtype=pl.UInt8)
    codes = [pl.when(c.failed.fill_null(False)).then(pl.lit(i, dtype=pl.UInt8)) for i, c in enumerate(checks)]
    return pl.coalesce(codes)


def reason_of_index(index: pl.Expr, checks: list[Check]) -> pl.Expr:
    """The reason code named by ``first_index``; null for a clean row."""
    if not checks:
        return pl.lit(None, dtype=pl.String)
    return index.replace_strict(
        list(range(len(checks))), [check.reason.value for check in checks], return_dtype=pl.String
    )


def detail_of_index(index: pl.Expr, checks: list[Check]) -> pl.Expr:
    """The detail text of the check at ``first_index``; null for a clean row."""
    if not checks:
        return pl.lit(None, dtype=pl.String)
    return pl.coalesce([pl.when(index == i).then(check.detail) for i, check in enumerate(checks)])


def duplicate_detail(event_id: str = "event_id") -> pl.Expr:
    return pl.format("event_id={} seen before", pl.col(event_id))


def mark_duplicates(
    frame: pl.LazyFrame, *, reason: str = "_reason", detail: str | None = "_detail", key: str = "event_id"
) -> pl.LazyFrame:
    """Quarantine the second and later copies of an event_id among otherwise clean rows.

    This is the one rule that needs every row at once (a shuffle by event_id in a distributed
    engine); the first occurrence in input order is kept. ``key`` may be any column that is
    one-to-one with event_id (the engine passes its hash column, ``_event_hash``);
    ``detail=None`` leaves the detail to be formatted later, for quarantined rows only.
    """
    clean = pl.col(reason).is_null()
    repeat = clean & ~pl.when(clean).then(pl.col(key)).is_first_distinct()
    marked = pl.when(repeat).then(pl.lit(QuarantineReason.DUPLICATE_EVENT.value)).otherwise(pl.col(reason))
    if detail is None:
        return frame.with_columns(marked.alias(reason))
    return frame.with_columns(
        marked.alias(reason),
        pl.when(repeat).then(duplicate_detail()).otherwise(pl.col(detail)).alias(detail),
    )
