"""Raw export values → typed values, one Series at a time: text, numbers, dates and GTIN-14s.

Every parser answers three questions per row, which the quarantine rules need apart:
the value, whether the cell was blank (absent or only whitespace), and whether it was present
but unparseable. The parsers work on whole Series (one vectorised Polars call each) and take the
cheap path when a batch allows it: stripping copies every string, so it is skipped when no value
of the batch needs it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import polars as pl


@dataclass(frozen=True)
class Parsed:
    """One parsed column: ``value`` (null when blank or bad), ``blank`` and ``bad`` flags (never null)."""

    value: pl.Series
    blank: pl.Series
    bad: pl.Series


def blank_of(text: pl.Series) -> pl.Series:
    """Absent or empty after stripping (``text`` is already stripped)."""
    return (text.is_null() | (text == "")).fill_null(True)


def _parse_text(values: pl.Series, parse: Callable[[pl.Series], pl.Series]) -> Parsed:
    """Parse raw text; the same result as stripping first, with the strip skipped when possible.

    Values that parse unstripped have no surrounding whitespace (the parsers reject it), so when
    every present value of the batch parses as it is, there is nothing to strip and nothing blank
    but nulls. Otherwise the whole batch takes the strip-then-parse path.
    """
    value = parse(values)
    if value.null_count() == values.null_count():
        return Parsed(value, values.is_null(), pl.zeros(values.len(), dtype=pl.Boolean, eager=True))
    text = values.str.strip_chars()
    value = parse(text)
    blank = blank_of(text)
    return Parsed(value, blank, ~blank & value.is_null())


def _typed(value: pl.Series) -> Parsed:
    """A value that was already typed in the file: blank when null, never bad."""
    return Parsed(value, value.is_null(), pl.zeros(value.len(), dtype=pl.Boolean, eager=True))


#: What consoles write in a numeric cell that has no value (compared lower-cased).
BLANK_MARKERS = ("-", "--", "---", "\u2013", "\u2014", "n/a", "na", "null", "none", "nan")
_CODES = "usd|eur|gbp|cad|aud|nzd|jpy|cny|inr|mxn|brl|chf|sek|nok|dkk|pln|zar|sgd|hkd"
_CURRENCY_CODE = rf"(?i)^(?:{_CODES})\s*|\s*(?:{_CODES})$"
_SYMBOLS_AND_SPACES = r"[$\u20ac\u00a3\u00a5\u20b9\s\u00a0\u202f]"
# Grouped digits as each convention writes them; anything else with a separator is not a number.
_GROUPED = {False: r"^[-+]?\d{1,3}(?:,\d{3})+(?:\.\d*)?$", True: r"^[-+]?\d{1,3}(?:[.']\d{3})+(?:,\d*)?$"}


def console_number(text: pl.Series, *, decimal_comma: bool = False) -> Parsed:
    """Numbers as retail media consoles write them: ``$1,234.56``, ``USD 1,234.56``, ``(12.50)``
    (accounting negative), ``-$3.00``, ``1.234,56 \u20ac`` with ``decimal_comma``; blanks written ``--``,
    ``N/A`` or ``-``. Separators must group digits by three as the file's convention does, so
    ``1.234,56`` in a point-decimal file is bad, not 1.23456; a ``%`` is bad (a ratio is not an amount).

    Most cells of a dollar console are ``$12.34`` or ``-$3.00``: without the ``$`` they are plain
    numbers, which one cast reads. Only the other cells (grouped thousands, codes, accounting
    negatives, blanks, bad values) take the careful parse, ~8 regex passes a cell.
    """
    text = text.cast(pl.String)
    if decimal_comma:
        return _console_number_careful(text, decimal_comma=True)
    number = text.str.replace("$", "", literal=True).cast(pl.Float64, strict=False)
    quick = pl.select(
        pl.when(pl.lit(text).str.contains(",", literal=True) | number.is_nan() | number.is_infinite())
        .then(None)
        .otherwise(number)
    ).to_series()
    retried = retry_lost(quick, text, lambda rest: _console_number_careful(rest, decimal_comma=False))
    if retried is None:
        return Parsed(quick, text.is_null(), pl.zeros(text.len(), dtype=pl.Boolean, eager=True))
    return retried


def retry_lost(quick: pl.Series, raw: pl.Series, parse: Callable[[pl.Series], Parsed]) -> Parsed | None:
    """The careful parse of just the rows the optimistic parse lost (present but null), or None when
    it lost none. Such rows are padded with whitespace, or bad, or blank; there are few of them."""
    lost = (quick.is_null() & raw.is_not_null()).arg_true()
    if lost.is_empty():
        return None
    retried = parse(raw.gather(lost))
    no = pl.zeros(raw.len(), dtype=pl.Boolean, eager=True)
    return Parsed(
        quick.scatter(lost, retried.value),
        raw.is_null().scatter(lost, retried.blank),
        no.scatter(lost, retried.bad),
    )


def _console_number_careful(text: pl.Series, *, decimal_comma: bool) -> Parsed:
    frame = pl.DataFrame({"s": text.cast(pl.String)}).lazy()
    s = pl.col("s").str.strip_chars()
    accounting = s.str.contains(r"^\(.*\)$").fill_null(False)
    core = (
        s.str.replace(r"^\((.*)\)$", "$1")
        .str.replace_all(_CURRENCY_CODE, "")
        .str.replace_all(_SYMBOLS_AND_SPACES, "")
        .str.replace_all("\u2212", "-", literal=True)
    )
    grouped = core.str.contains(_GROUPED[decimal_comma]).fill_null(False)
    if decimal_comma:
        plain = core.str.contains(r"^[-+]?\d*(?:,\d*)?(?:[eE][-+]?\d+)?$").fill_null(False)
        normal = (
            pl.when(grouped)
            .then(core.str.replace_all(r"[.']", "").str.replace(",", ".", literal=True))
            .when(plain)
            .then(core.str.replace(",", ".", literal=True))
        )
    else:
        plain = ~core.str.contains(",").fill_null(True)
        normal = pl.when(grouped).then(core.str.replace_all(",", "", literal=True)).when(plain).then(core)
    number = normal.cast(pl.Float64, strict=False)
    out = frame.select(
        pl.when(accounting).then(-number).otherwise(number).alias("value"),
        (s.is_null() | (s == "") | s.str.to_lowercase().is_in(BLANK_MARKERS)).fill_null(True).alias("blank"),
    ).collect(engine="in-memory")
    value, blank = out["value"], out["blank"]
    value = pl.select(pl.when(blank).then(None).otherwise(value)).to_series()
    return Parsed(value, blank, ~blank & value.is_null())


def parse_number(values: pl.Series, *, decimal_comma: bool = False) -> Parsed:
    """A Float64 from a numeric column or from text: plain numbers take the fast path; a batch with
    any other value is read as consoles write numbers (:func:`console_number`)."""
    if values.dtype.is_numeric():
        return _typed(values.cast(pl.Float64))
    text = values.cast(pl.String)
    if not decimal_comma:
        value = text.cast(pl.Float64, strict=False)
        if value.null_count() == text.null_count():  # every present value a plain number
            return Parsed(value, text.is_null(), pl.zeros(text.len(), dtype=pl.Boolean, eager=True))
    return console_number(text, decimal_comma=decimal_comma)


#: ``date_format: iso``: ISO 8601 dates and timestamps, each with its own UTC offset or none.
ISO = "iso"
_ISO_PATTERN = (
    r"(?i)^(\d{4}-\d{2}-\d{2})"
    r"(?:[T ](\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)\s*(Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?)?$"
)


def iso_date(text: pl.Expr, timezone: str) -> pl.Expr:
    """The calendar day in ``timezone`` of ISO 8601 text: ``2026-11-01``, ``2026-11-01T23:30:00-05:00``,
    ``...Z``, ``2026-11-01 23:30:00+0100``, offsets mixed freely in one column.

    Why the zone matters: an export in UTC puts a New York evening on the next day. A timestamp
    with an offset is an instant, so its day is the day it falls on in ``timezone``; a naive one is
    already the wall-clock time there, so its own date is the day. Anything else is null.
    """
    parts = text.str.extract_groups(_ISO_PATTERN)
    day_text, clock, offset = (parts.struct.field(k) for k in ("1", "2", "3"))
    seconds = pl.when(clock.str.len_chars() == 5).then(clock + ":00").otherwise(clock)
    stamp = day_text + " " + seconds.str.replace(",", ".", literal=True)
    upper = offset.str.to_uppercase()
    hours_minutes = upper.str.replace(r"^([+-]\d{2})$", "${1}:00")  # +01 and +0100 → +01:00
    hours_minutes = hours_minutes.str.replace(r"^([+-]\d{2})(\d{2})$", "${1}:${2}")
    offset_text = pl.when(upper.is_in(["Z", "UTC", "GMT"])).then(pl.lit("+00:00")).otherwise(hours_minutes)
    local = stamp.str.to_datetime("%Y-%m-%d %H:%M:%S%.f", time_unit="us", strict=False)
    instant = (stamp + offset_text).str.to_datetime("%Y-%m-%d %H:%M:%S%.f%:z", time_unit="us", strict=False)
    return (
        pl.when(clock.is_null())
        .then(day_text.str.strptime(pl.Date, "%Y-%m-%d", strict=False))
        .when(offset.is_null())
        .then(local.dt.date())
        .otherwise(instant.dt.convert_time_zone(timezone).dt.date())
    )


def date_of_text(text: pl.Expr, date_format: str, timezone: str) -> pl.Expr:
    """The Date of text in a strftime ``date_format`` or ``iso`` (epoch ticks: ``parse_date``)."""
    if date_format == ISO:
        return iso_date(text, timezone)
    return text.str.strptime(pl.Date, date_format, strict=False)


def parse_date(values: pl.Series, date_format: str, timezone: str) -> Parsed:
    """A calendar Date from Date/Datetime columns, epoch ticks (``epoch_ms``/``epoch_s``, read as
    days in ``timezone``), ISO 8601 text (``iso``, see ``iso_date``) or text in a strftime
    ``date_format``. A typed zoned timestamp under ``iso`` is an instant too: its day in ``timezone``."""
    dtype = values.dtype
    if dtype == pl.Date:
        return _typed(values)
    if isinstance(dtype, pl.Datetime):
        if date_format == ISO and dtype.time_zone is not None:
            return _typed(values.dt.convert_time_zone(timezone).dt.date())
        return _typed(values.dt.date())
    if date_format in ("epoch_ms", "epoch_s"):
        unit: Literal["ms", "s"] = "ms" if date_format == "epoch_ms" else "s"
        if dtype.is_integer():
            return _typed(_epoch_days(values.cast(pl.Int64), unit, timezone))
        text = values.cast(pl.String).str.strip_chars()
        ticks = text.cast(pl.Int64, strict=False)
        day = _epoch_days(ticks, unit, timezone)
        blank = blank_of(text)
        return Parsed(day, blank, ~blank & day.is_null())
    return _parse_text(
        values.cast(pl.String),
        lambda v: v.to_frame("v").select(date_of_text(pl.col("v"), date_format, timezone)).to_series(),
    )


def _epoch_days(ticks: pl.Series, unit: Literal["ms", "s"], timezone: str) -> pl.Series:
    frame = pl.DataFrame({"t": ticks})
    stamp = pl.from_epoch(pl.col("t"), time_unit=unit).dt.replace_time_zone("UTC")
    return frame.select(stamp.dt.convert_time_zone(timezone).dt.date())["t"]


# ---------------------------------------------------------------- GTIN-14

_POW10 = [10**k for k in range(15)]


def _check_digit(body13: pl.Expr) -> pl.Expr:
    """GS1 check digit of a 13-digit body held as an unsigned integer (weights 3,1,3.. from the right)."""
    total = pl.lit(0, dtype=pl.UInt64)
    for i in range(13):
        digit = (body13 // _POW10[12 - i]) % 10
        total = total + digit * (3 if i % 2 == 0 else 1)
    return (10 - total % 10) % 10


def _gtin14_rowwise(values: pl.Series, *, upc_body: bool) -> pl.Series:
    """The verified GTIN-14 of every value (string work staged so each value is parsed once)."""
    text = values.cast(pl.String)
    if not values.dtype.is_integer():
        text = text.str.strip_chars()
    digits = pl.col("v").str.replace_all(r"[\s-]", "")
    if upc_body:
        if values.dtype.is_integer():
            digits = digits.str.zfill(11)
        ok, padded = digits.str.contains(r"^\d{11}$"), digits.str.zfill(13)
    else:
        ok, padded = digits.str.contains(r"^(\d{8}|\d{12}|\d{13}|\d{14})$"), digits.str.zfill(14)
    staged = (
        pl.DataFrame({"v": text})
        .lazy()
        .select(ok.alias("ok"), padded.alias("text"))
        .with_columns(pl.col("text").cast(pl.UInt64, strict=False).alias("num"))
    )
    if upc_body:
        value = pl.concat_str([pl.col("text"), _check_digit(pl.col("num")).cast(pl.String)])
        valid = pl.col("ok")
    else:
        value = pl.col("text")
        valid = pl.col("ok") & (_check_digit(pl.col("num") // 10) == pl.col("num") % 10)
    return staged.select(pl.when(valid).then(value).alias("g")).collect(engine="in-memory").to_series()


def gtin14_of(values: pl.Series, *, upc_body: bool) -> pl.Series:
    """The verified GTIN-14 of each value; null when malformed or the check digit fails.

    ``upc_body``: the values are 11-digit UPC-A bodies without their check digit, which is computed.
    An export repeats a few thousand product codes over millions of rows, so the string cleaning
    and check-digit arithmetic run once per distinct code and are gathered back by position.
    """
    return per_distinct(values, lambda distinct: _gtin14_rowwise(distinct, upc_body=upc_body))


def per_distinct(values: pl.Series, derive: Callable[[pl.Series], pl.Series]) -> pl.Series:
    """``derive(values)``, computed once per distinct value and gathered back when values repeat.

    Falls back to deriving row by row when most values are distinct (nothing to save) or the
    column is not text.
    """
    if values.dtype != pl.String:
        return derive(values).alias(values.name)
    distinct = values.drop_nulls().unique()
    if distinct.len() * 4 > values.len():
        return derive(values).alias(values.name)
    table = derive(pl.concat([distinct, pl.Series([None], dtype=pl.String)]))
    codes = values.cast(pl.Enum(distinct)).to_physical().fill_null(distinct.len())
    return table.gather(codes).alias(values.name)
