"""The harmonizer engine: raw exports → RMIS events + quarantine, as one lazy Polars pipeline.

``harmonize_lazy`` is the core: a pure function over a (lazy) frame of raw rows, row-local
except for the product crosswalk join, so it runs unchanged on one Arrow batch
(``harmonize_batch``, what Ray Data ``map_batches`` or Spark ``mapInArrow`` would call per
partition) or on a whole streaming scan. Duplicate detection needs all rows and runs after it
(``mark_duplicates``). ``harmonize`` wires scan → core → dedup → two sinks, so files larger than
memory stream through ``sink_parquet``.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import polars as pl
import pyarrow as pa

from rmnlora.agents.harmonizer import validate
from rmnlora.agents.harmonizer.mapping import MappingError, RetailerMapping, resolve_mapping
from rmnlora.schemas.harmonize import HarmonizeRequest, HarmonizeSummary, HarmonizeTotals
from rmnlora.schemas.rmis import QUARANTINE_SCHEMA, RMIS_EVENT_SCHEMA, EventType, QuarantineReason

SOURCE_FILE = "_source_file"
SOURCE_ROW = "_source_row"
REASON = "_reason"
SRC = "_src_"  # prefix of raw source columns inside the pipeline, so they never clash with RMIS names
DETAIL = "_detail"
CHECK_INDEX = "_p_check"  # position of the first failing rule; reason and detail are read from it
FAST = "_f_"  # prefix of the batch-parsed (value, blank, bad) struct of a text number or date
STRIPPED = "_t_"  # prefix of the stripped text of each mapped source column, dropped before the outputs
EVENT_HASH = "_event_hash"  # event_id before its cast to text: cheaper to deduplicate on
EVENT_ID_SEED = 0x524D4953  # "RMIS": fixed so event ids are reproducible for a given Polars version

#: Parquet codec of the events files. lz4 rather than Polars' default zstd: the unique text event_id
#: does not compress, and zstd spent ~0.25 s per million rows on it (lz4 files are ~10-20% larger).
EVENTS_COMPRESSION: Literal["lz4", "zstd", "snappy", "uncompressed"] = "lz4"

Progress = Callable[[str, int, int], None]


class HarmonizeError(RuntimeError):
    """An input or output problem that stops a harmonize run (bad file, unreadable format)."""


# ---------------------------------------------------------------- parsing helpers


def _as_text(expr: pl.Expr) -> pl.Expr:
    return expr.cast(pl.String).str.strip_chars()


def _number(expr: pl.Expr, dtype: pl.DataType, decimal_comma: bool, text: pl.Expr | None = None) -> pl.Expr:
    """A numeric value; strings are parsed (decimal comma honoured), garbage becomes null.

    ``text``: the column's stripped text when the caller already has it.
    """
    if dtype.is_numeric():
        return expr.cast(pl.Float64)
    text = _as_text(expr) if text is None else text
    if decimal_comma:
        text = text.str.replace_all(".", "", literal=True).str.replace(",", ".", literal=True)
    return text.cast(pl.Float64, strict=False)


def _date(expr: pl.Expr, dtype: pl.DataType, fmt: str, timezone: str, text: pl.Expr | None = None) -> pl.Expr:
    text = _as_text(expr) if text is None else text
    if dtype == pl.Date:
        return expr
    if isinstance(dtype, pl.Datetime):
        return expr.dt.date()
    if fmt in ("epoch_ms", "epoch_s"):
        ticks = expr.cast(pl.Int64) if dtype.is_integer() else text.cast(pl.Int64, strict=False)
        stamp = pl.from_epoch(ticks, time_unit="ms" if fmt == "epoch_ms" else "s").dt.replace_time_zone("UTC")
        return stamp.dt.convert_time_zone(timezone).dt.date()
    return text.str.strptime(pl.Date, fmt, strict=False)


_PARSED = pl.Struct({"value": pl.Float64, "blank": pl.Boolean, "bad": pl.Boolean})
_PARSED_DATE = pl.Struct({"value": pl.Date, "blank": pl.Boolean, "bad": pl.Boolean})


def _parse_text_batch(values: pl.Series, parse: Callable[[pl.Series], pl.Series]) -> pl.Series:
    """Parse one batch of raw text: a struct of ``value``, ``blank`` (null or only whitespace) and
    ``bad`` (present but unparseable), exactly what stripping first and then parsing gives.

    Stripping copies every string, and it was the costliest step of parsing; values that parse
    unstripped have no surrounding whitespace (the parsers reject it), so when every present value
    of the batch parses as it is, the strip is skipped. Otherwise the whole batch takes the
    strip-then-parse path. Row-local per batch, so it runs the same on any batching.
    """
    value = parse(values)
    if value.null_count() == values.null_count():
        blank = values.is_null()
        bad = pl.zeros(values.len(), dtype=pl.Boolean, eager=True)
    else:
        text = values.str.strip_chars()
        value = parse(text)
        blank = (text.is_null() | (text == "")).fill_null(True)
        bad = ~blank & value.is_null()
    frame = pl.DataFrame({"value": value, "blank": blank, "bad": bad})
    return frame.to_struct(values.name)


def _parsed_text(expr: pl.Expr, parse: Callable[[pl.Series], pl.Series], dtype: pl.Struct) -> pl.Expr:
    return expr.map_batches(
        lambda values: _parse_text_batch(values, parse), return_dtype=dtype, is_elementwise=True
    )


_POW10 = [10**k for k in range(15)]


def _check_digit(body13: pl.Expr) -> pl.Expr:
    """GS1 check digit of a 13-digit body held as an unsigned integer (weights 3,1,3.. from the right)."""
    total = pl.lit(0, dtype=pl.UInt64)
    for i in range(13):
        digit = (body13 // _POW10[12 - i]) % 10
        total = total + digit * (3 if i % 2 == 0 else 1)
    return (10 - total % 10) % 10


def _digits(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    text = expr.cast(pl.String) if dtype.is_integer() else _as_text(expr)
    return text.str.replace_all(r"[\s-]", "")


def _gtin14_rowwise(values: pl.Series, *, upc_body: bool) -> pl.Series:
    """The verified GTIN-14 of every value (string work staged so each value is parsed once)."""
    dtype = values.dtype
    digits = _digits(pl.col("v"), dtype)
    if upc_body:
        if dtype.is_integer():
            digits = digits.str.zfill(11)
        ok, padded = digits.str.contains(r"^\d{11}$"), digits.str.zfill(13)
    else:
        ok, padded = digits.str.contains(r"^(\d{8}|\d{12}|\d{13}|\d{14})$"), digits.str.zfill(14)
    staged = (
        pl.DataFrame({"v": values})
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
    return staged.select(pl.when(valid).then(value).alias("g")).collect().to_series()


def gtin14_of(values: pl.Series, *, upc_body: bool) -> pl.Series:
    """The verified GTIN-14 of each value; null when malformed or the check digit fails.

    ``upc_body``: the values are 11-digit UPC-A bodies without their check digit, which is computed.
    An export repeats a few thousand product codes over millions of rows, so the string cleaning
    and check-digit arithmetic run once per distinct code and are joined back (the row-wise
    version was the costliest rule of the engine).
    """
    frame = pl.DataFrame({"v": values})
    distinct = frame.unique(maintain_order=False)
    if distinct.height * 2 > frame.height:
        return _gtin14_rowwise(values, upc_body=upc_body).alias(values.name)
    table = distinct.with_columns(_gtin14_rowwise(distinct["v"], upc_body=upc_body).alias("g"))
    joined = frame.join(table, on="v", how="left", nulls_equal=True, maintain_order="left")
    return joined["g"].alias(values.name)


def with_gtin14(
    frame: pl.LazyFrame, source: pl.Expr, dtype: pl.DataType, *, upc_body: bool, out: str
) -> pl.LazyFrame:
    """Add column ``out``: the verified GTIN-14 of ``source`` (see ``gtin14_of``), batch by batch."""
    del dtype  # the batch function reads it from the values
    gtin = source.map_batches(
        lambda values: gtin14_of(values, upc_body=upc_body), return_dtype=pl.String, is_elementwise=True
    )
    return frame.with_columns(gtin.alias(out))


# ---------------------------------------------------------------- reading inputs


def scan_input(
    path: Path, mapping: RetailerMapping, *, file_dtype: pl.DataType | None = None
) -> pl.LazyFrame:
    """Lazily scan one export with its row index and file name; CSV/NDJSON values stay text.

    ``file_dtype``: the type of the file-name column, String by default; ``harmonize`` passes an
    Enum of all its inputs so the name costs 4 bytes a row instead of a copy of the path per row.
    """
    path = Path(path)
    if not path.is_file():
        raise HarmonizeError(f"input {path} does not exist or is not a file")
    try:
        if mapping.format == "csv":
            frame = pl.scan_csv(
                path, separator=mapping.delimiter, infer_schema=False, row_index_name=SOURCE_ROW
            )
        elif mapping.format == "parquet":
            frame = pl.scan_parquet(path, row_index_name=SOURCE_ROW)
        else:
            names = pl.scan_ndjson(path, infer_schema_length=1000).collect_schema().names()
            frame = pl.scan_ndjson(path, schema=dict.fromkeys(names, pl.String), row_index_name=SOURCE_ROW)
        names = frame.collect_schema().names()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise HarmonizeError(f"cannot read {path} as {mapping.format}: {exc}") from exc
    absent = [column for column in mapping.columns if column not in names]
    if absent:
        raise MappingError(
            f"{path.name}: mapped column(s) {absent} not in the file (its columns: {names[1:]}); "
            "check the delimiter/format or run with --propose"
        )
    name = pl.lit(str(path), dtype=file_dtype or pl.String())
    return frame.with_columns(name.alias(SOURCE_FILE), pl.col(SOURCE_ROW).cast(pl.Int64))


def read_crosswalk(mapping: RetailerMapping, base_dir: Path) -> pl.LazyFrame | None:
    if mapping.crosswalk is None:
        return None
    path = Path(mapping.crosswalk.file)
    if not path.is_absolute():
        path = base_dir / path
    if not path.is_file():
        raise HarmonizeError(f"crosswalk {path} (from the {mapping.retailer} mapping) does not exist")
    return (
        pl.scan_csv(path, infer_schema=False)
        .select(
            _as_text(pl.col(mapping.crosswalk.key_column)).alias("_xw_key"),
            pl.col(mapping.crosswalk.gtin_column).alias("_xw_gtin"),
        )
        .unique(subset="_xw_key", keep="first")
    )


# ---------------------------------------------------------------- the core


def harmonize_lazy(
    frame: pl.LazyFrame,
    mapping: RetailerMapping,
    *,
    fx: Mapping[str, float],
    crosswalk: pl.LazyFrame | None = None,
    retailer: str | None = None,
    target_currency: str = "USD",
) -> pl.LazyFrame:
    """Raw rows → RMIS columns plus ``_reason``/``_detail`` (null when clean) and the raw source columns.

    ``fx`` maps currency code → units of the target currency per unit; a currency missing from it
    quarantines the row. Duplicates are not marked here (see ``mark_duplicates``).
    """
    core = _core(
        frame, mapping, fx=fx, crosswalk=crosswalk, retailer=retailer, target_currency=target_currency
    )
    names = core.frame.collect_schema().names()
    keep = [c for c in names if c not in core.helpers and c != EVENT_HASH]
    return core.frame.with_columns(core.detail.alias(DETAIL), _event_id()).select(*keep, DETAIL, "event_id")


def _event_id() -> pl.Expr:
    """The text event_id of the event hash; ``harmonize`` adds it only after the duplicate check, so
    the 20-byte strings are not held in memory for every row while that check needs all rows."""
    return pl.col(EVENT_HASH).cast(pl.String).alias("event_id")


@dataclass(frozen=True)
class _Core:
    """The pipeline before the outputs split: rows carry ``_reason`` but not yet ``_detail``.

    ``detail`` is an expression over the kept helper columns (``_p_*``, ``_xw_*``), so the run
    formats the human-readable detail only for the few quarantined rows, after the filter, instead
    of for every row (that formatting was about half the engine's time).
    """

    frame: pl.LazyFrame
    detail: pl.Expr
    helpers: list[str]


def _core(
    frame: pl.LazyFrame,
    mapping: RetailerMapping,
    *,
    fx: Mapping[str, float],
    crosswalk: pl.LazyFrame | None,
    retailer: str | None,
    target_currency: str,
) -> _Core:
    """Parse once into staged ``_p_*`` columns, then derive RMIS columns, ``_reason`` and the event id."""
    schema = frame.collect_schema()
    name = retailer or mapping.retailer
    frame = frame.rename({c: f"{SRC}{c}" for c in schema.names() if c not in (SOURCE_ROW, SOURCE_FILE)})
    if SOURCE_ROW not in schema:
        frame = frame.with_row_index(SOURCE_ROW).with_columns(pl.col(SOURCE_ROW).cast(pl.Int64))
    if SOURCE_FILE not in schema:
        frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(SOURCE_FILE))
    schema = frame.collect_schema()
    # every mapped source column as stripped text, once: the parsers, blank checks and text fields
    # all read these instead of stripping the same column again (it was ~25 strips per row)
    numeric_fields = ("impressions", "clicks", "spend", "attributed_sales", "units")
    # text numbers and dates are parsed batch-wise without stripping when they can be (_parse_text_batch)
    fast = {
        field: column
        for column, field in mapping.columns.items()
        if f"{SRC}{column}" in schema
        and schema[f"{SRC}{column}"] == pl.String
        and (
            (field in numeric_fields and not mapping.decimal_comma)
            or (field == "event_date" and mapping.date_format not in ("epoch_ms", "epoch_s"))
        )
    }
    stripped = {
        column: f"{STRIPPED}{column}"
        for column, field in mapping.columns.items()
        if f"{SRC}{column}" in schema and not schema[f"{SRC}{column}"].is_numeric() and field not in fast
    }
    frame = frame.with_columns(_as_text(pl.col(f"{SRC}{c}")).alias(t) for c, t in stripped.items())

    def src(field: str) -> tuple[pl.Expr, pl.DataType] | None:
        column = mapping.source_for(field)
        if column is None:
            return None
        return pl.col(f"{SRC}{column}"), schema[f"{SRC}{column}"]

    def text_of(field: str) -> pl.Expr | None:
        """The stripped text of a field's source column (what ``_as_text`` of the raw column gives)."""
        column = mapping.source_for(field)
        if column is None:
            return None
        return pl.col(stripped[column]) if column in stripped else _as_text(pl.col(f"{SRC}{column}"))

    def text_field(field: str, default: str | None) -> pl.Expr:
        value = text_of(field)
        constant = pl.lit(mapping.constants.get(field, default), dtype=pl.String)
        if value is None:
            return constant
        return pl.when(value != "").then(value).otherwise(constant)

    def p(field: str) -> pl.Expr:
        return pl.col(f"_p_{field}")

    date_src, gtin_src = src("event_date"), src("gtin14")
    assert date_src is not None and gtin_src is not None  # the mapping validator guarantees both
    parsed: dict[str, pl.Expr] = {
        "event_date": _date(
            date_src[0], date_src[1], mapping.date_format, mapping.timezone, text_of("event_date")
        ),
        "currency": text_field("currency", mapping.currency).str.to_uppercase(),
    }
    for field in numeric_fields:
        found = src(field)
        parsed[field] = (
            _number(found[0], found[1], mapping.decimal_comma, text_of(field)) if found else pl.lit(0.0)
        )
    date_format = mapping.date_format

    def parse_date(values: pl.Series) -> pl.Series:
        return values.str.strptime(pl.Date, date_format, strict=False)

    def parse_number(values: pl.Series) -> pl.Series:
        return values.cast(pl.Float64, strict=False)

    frame = frame.with_columns(
        _parsed_text(
            pl.col(f"{SRC}{column}"),
            parse_date if field == "event_date" else parse_number,
            _PARSED_DATE if field == "event_date" else _PARSED,
        ).alias(f"{FAST}{field}")
        for field, column in fast.items()
    )
    for field in fast:
        parsed[field] = pl.col(f"{FAST}{field}").struct.field("value")
    frame = frame.with_columns(**{f"_p_{k}": v for k, v in parsed.items()})

    def flag(field: str, name: str) -> pl.Expr | None:
        return pl.col(f"{FAST}{field}").struct.field(name) if field in fast else None

    if crosswalk is not None:
        frame = frame.with_columns(_as_text(gtin_src[0]).alias("_xw_key")).join(
            crosswalk, on="_xw_key", how="left", maintain_order="left"
        )
    if mapping.id_type == "asin":
        frame = with_gtin14(frame, pl.col("_xw_gtin"), pl.String(), upc_body=False, out="_p_gtin14")
    else:
        frame = with_gtin14(frame, *gtin_src, upc_body=mapping.id_type == "upc_no_check", out="_p_gtin14")
    rate = p("currency").replace_strict(
        list(fx), [float(v) for v in fx.values()], default=None, return_dtype=pl.Float64
    )
    frame = frame.with_columns(rate.alias("_p_rate"))

    checks: list[validate.Check] = []
    for field in ("event_date", "campaign_id", "gtin14", "spend", "currency"):
        found = src(field)
        if found is not None:
            checks.append(validate.missing(field, found[0], text_of(field), blank=flag(field, "blank")))
    checks.append(
        validate.unparseable(
            QuarantineReason.UNPARSEABLE_DATE,
            "event_date",
            date_src[0],
            p("event_date"),
            text_of("event_date"),
            failed=flag("event_date", "bad"),
        )
    )
    for field in numeric_fields:
        found = src(field)
        if found is None:
            continue
        bad = validate.unparseable(
            QuarantineReason.UNPARSEABLE_NUMBER,
            field,
            found[0],
            p(field),
            text_of(field),
            failed=flag(field, "bad"),
        )
        if field in ("impressions", "clicks", "units"):
            fractional = (p(field) != p(field).floor()).fill_null(False)
            bad = validate.Check(bad.reason, bad.failed | fractional, bad.detail)
        checks.append(bad)
    if mapping.id_type == "asin":
        present = text_of("gtin14").fill_null("") != ""  # type: ignore[union-attr]
        checks.append(
            validate.Check(
                QuarantineReason.UNKNOWN_PRODUCT,
                present & pl.col("_xw_gtin").is_null(),
                pl.format("{} not in crosswalk", _as_text(gtin_src[0])),
            )
        )
        checks.append(
            validate.unparseable(
                QuarantineReason.INVALID_GTIN, "crosswalk gtin14", pl.col("_xw_gtin"), p("gtin14")
            )
        )
    else:
        checks.append(
            validate.unparseable(
                QuarantineReason.INVALID_GTIN, "gtin14", gtin_src[0], p("gtin14"), text_of("gtin14")
            )
        )
    checks.append(validate.unknown_currency(p("currency"), p("rate")))
    numbers = {field: p(field).fill_null(0.0) for field in numeric_fields}
    checks.append(validate.negative(numbers))
    checks.append(validate.clicks_exceed_impressions(numbers["clicks"], numbers["impressions"]))

    type_src = src("event_type")
    if type_src is not None:
        raw_type = text_of("event_type")
        assert raw_type is not None
        mapped = raw_type.replace_strict(
            list(mapping.event_types),
            [t.value for t in mapping.event_types.values()],
            default=raw_type.str.to_lowercase(),
        )
        event_type: pl.Expr = pl.when(mapped.is_in([t.value for t in EventType])).then(mapped)
        checks.append(
            validate.Check(
                QuarantineReason.MISSING_REQUIRED,
                event_type.is_null(),
                pl.format("event_type {} is not mapped", _as_text(type_src[0]).fill_null("<null>")),
            )
        )
    else:
        event_type = pl.lit(mapping.constants.get("event_type", EventType.PERFORMANCE.value), dtype=pl.String)

    index = pl.col(CHECK_INDEX)
    frame = frame.with_columns(validate.first_index(checks).alias(CHECK_INDEX))
    reason = validate.reason_of_index(index, checks)
    detail = validate.detail_of_index(index, checks)
    scale = mapping.money_scale
    columns = {
        "event_type": event_type,
        "event_date": p("event_date"),
        "retailer": pl.lit(name, dtype=pl.String),
        "campaign_id": text_field("campaign_id", None),
        "placement": text_field("placement", "unknown"),
        "market": text_field("market", "all"),
        "audience": text_field("audience", None),
        "gtin14": p("gtin14"),
        "impressions": numbers["impressions"].cast(pl.Int64, strict=False),
        "clicks": numbers["clicks"].cast(pl.Int64, strict=False),
        "spend": numbers["spend"] * scale * p("rate"),
        "attributed_sales": numbers["attributed_sales"] * scale * p("rate"),
        "units": numbers["units"].cast(pl.Int64, strict=False),
        "currency": pl.lit(target_currency, dtype=pl.String),
    }
    key_fields = [
        "retailer",
        "event_type",
        "event_date",
        "campaign_id",
        "placement",
        "market",
        "audience",
        "gtin14",
    ]
    helpers = [c for c in frame.collect_schema().names() if c.startswith(("_p_", "_xw_"))]
    frame = (
        frame.with_columns(**columns, **{REASON: reason})
        .drop(*stripped.values(), *(f"{FAST}{field}" for field in fast))
        .with_columns(pl.struct(key_fields).hash(EVENT_ID_SEED).alias(EVENT_HASH))
    )
    return _Core(frame, detail, helpers)


def harmonize_batch(
    batch: pl.DataFrame | pa.Table | pa.RecordBatch,
    mapping: RetailerMapping,
    *,
    fx: Mapping[str, float],
    target_currency: str = "USD",
    crosswalk: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The per-partition function for a distributed engine: one Arrow/Polars batch in, same rows out.

    Returns the RMIS columns, ``_reason``/``_detail`` (null for a clean row), the source row id and
    the raw source columns. Run ``mark_duplicates`` over the union of all batches afterwards.
    """
    frame = batch if isinstance(batch, pl.DataFrame) else pl.DataFrame(pl.from_arrow(batch))
    lazy = harmonize_lazy(
        frame.lazy(),
        mapping,
        fx=fx,
        target_currency=target_currency,
        crosswalk=crosswalk.lazy() if crosswalk is not None else None,
    )
    return lazy.collect()


def events_of(frame: pl.LazyFrame) -> pl.LazyFrame:
    """The accepted rows, RMIS columns only."""
    return frame.filter(pl.col(REASON).is_null()).select(
        [pl.col(name).cast(dtype) for name, dtype in RMIS_EVENT_SCHEMA.items()]
    )


def quarantine_of(
    frame: pl.LazyFrame, mapping: RetailerMapping, retailer: str, *, detail: pl.Expr | None = None
) -> pl.LazyFrame:
    """The set-aside rows with reason, detail and the raw source values as JSON.

    ``detail``: how to format the detail from the helper columns when the frame has no ``_detail``
    yet (the fast path of ``harmonize``); it is then evaluated on quarantined rows only.
    """
    raw_columns = list(mapping.columns)
    if detail is None:
        detail_text = pl.col(DETAIL).cast(pl.String)
    else:
        duplicate = pl.col(REASON) == QuarantineReason.DUPLICATE_EVENT.value
        detail_text = pl.when(duplicate).then(validate.duplicate_detail()).otherwise(detail)
    return frame.filter(pl.col(REASON).is_not_null()).select(
        pl.lit(retailer, dtype=pl.String).alias("retailer"),
        pl.col(SOURCE_FILE).cast(pl.String).alias("source_file"),
        pl.col(SOURCE_ROW).cast(pl.Int64).alias("source_row"),
        pl.col(REASON).alias("reason"),
        detail_text.alias("detail"),
        pl.struct([pl.col(f"{SRC}{c}").cast(pl.String).alias(c) for c in raw_columns])
        .struct.json_encode()
        .alias("raw"),
    )


# ---------------------------------------------------------------- whole runs


def default_fx() -> dict[str, float]:
    """The FX table shipped with the examples: USD per unit of each currency."""
    import importlib.resources

    import yaml

    text = (importlib.resources.files("rmnlora.datagen") / "fx_usd.yaml").read_text(encoding="utf-8")
    return {str(k): float(v) for k, v in yaml.safe_load(text)["usd_per_unit"].items()}


def fx_to_target(usd_per_unit: Mapping[str, float], target: str) -> dict[str, float]:
    """Re-base a USD-quoted table onto ``target``: units of target per unit of each currency."""
    if target not in usd_per_unit:
        raise HarmonizeError(f"target currency {target} is not in the FX table ({', '.join(usd_per_unit)})")
    base = usd_per_unit[target]
    return {code: rate / base for code, rate in usd_per_unit.items()}


def count_rows(path: Path, mapping: RetailerMapping) -> int:
    """Rows in a raw export, counted independently of the harmonize pipeline."""
    if mapping.format == "csv":
        frame = pl.scan_csv(path, separator=mapping.delimiter, infer_schema=False)
    elif mapping.format == "parquet":
        frame = pl.scan_parquet(path)
    else:
        frame = pl.scan_ndjson(path, infer_schema_length=1000)
    return int(frame.select(pl.len()).collect().item())


def _partition_dir(events_root: Path, retailer: str) -> Path:
    return events_root / f"retailer={retailer}"


def harmonize(
    request: HarmonizeRequest,
    *,
    mapping: RetailerMapping | None = None,
    fx: dict[str, float] | None = None,
    progress: Progress | None = None,
) -> HarmonizeSummary:
    """Harmonize one retailer's exports into ``out/events`` (RMIS, partitioned by retailer and date).

    Quarantined rows go to ``out/quarantine.parquet`` (rows of other retailers already there are
    kept). ``fx`` is units of the target currency per unit of each currency; default: the shipped
    example table re-based onto ``request.target_currency``. rows_in is counted from the inputs
    independently and must equal accepted + quarantined, or the run fails.
    """
    report = progress or (lambda stage, done, total: None)
    mapping = mapping or resolve_mapping(request.retailer, mapping_file=request.mapping)
    retailer = request.retailer
    rates = dict(fx) if fx is not None else fx_to_target(default_fx(), request.target_currency)
    rates.setdefault(request.target_currency, 1.0)
    inputs = [Path(p) for p in request.inputs]
    total_steps = len(inputs) + 3

    rows_in = 0
    for index, path in enumerate(inputs):
        if not path.is_file():
            raise HarmonizeError(f"input {path} does not exist or is not a file")
        rows_in += count_rows(path, mapping)
        report("count", index + 1, total_steps)

    crosswalk = read_crosswalk(mapping, inputs[0].parent)
    file_names = pl.Enum(list(dict.fromkeys(str(path) for path in inputs)))
    scans = [scan_input(path, mapping, file_dtype=file_names) for path in inputs]
    raw = pl.concat(scans, how="diagonal_relaxed") if len(scans) > 1 else scans[0]
    staged = _core(
        raw,
        mapping,
        fx=rates,
        crosswalk=crosswalk,
        retailer=retailer,
        target_currency=request.target_currency,
    )
    core = validate.mark_duplicates(staged.frame, reason=REASON, detail=None, key=EVENT_HASH)
    core = core.with_columns(_event_id())

    out = Path(request.out)
    out.mkdir(parents=True, exist_ok=True)
    staging = out / f".staging-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        events_sink = events_of(core).sink_parquet(
            pl.PartitionBy(staging / "events", key=["retailer", "event_date"], include_key=True),
            mkdir=True,
            compression=EVENTS_COMPRESSION,
            lazy=True,
        )
        quarantine_sink = quarantine_of(core, mapping, retailer, detail=staged.detail).sink_parquet(
            staging / "quarantine.parquet", lazy=True
        )
        pl.collect_all([events_sink, quarantine_sink])
        report("harmonize", len(inputs) + 1, total_steps)
        _publish(staging, out, retailer)
    except pl.exceptions.ComputeError as exc:
        raise HarmonizeError(f"harmonizing {retailer} failed: {exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)

    summary = summarize(out, retailer, rows_in=rows_in)
    report("summarize", total_steps, total_steps)
    return summary


def _publish(staging: Path, out: Path, retailer: str) -> None:
    """Swap this retailer's partition and quarantine rows into ``out``; other retailers are untouched."""
    events_root = out / "events"
    events_root.mkdir(exist_ok=True)
    target = _partition_dir(events_root, retailer)
    if target.exists():
        shutil.rmtree(target)
    produced = _partition_dir(staging / "events", retailer)
    if produced.exists():
        shutil.move(str(produced), str(target))
    new = pl.read_parquet(staging / "quarantine.parquet")
    existing_path = out / "quarantine.parquet"
    if existing_path.exists():
        kept = pl.read_parquet(existing_path).filter(pl.col("retailer") != retailer)
        new = pl.concat([kept, new], how="vertical_relaxed")
    new.select([pl.col(k).cast(v) for k, v in QUARANTINE_SCHEMA.items()]).write_parquet(existing_path)


def read_events(out_dir: Path | str, retailer: str | None = None) -> pl.LazyFrame:
    """The harmonized RMIS events under ``out_dir`` (its ``events`` folder, or the folder itself)."""
    root = Path(out_dir)
    if (root / "events").is_dir():
        root = root / "events"
    if retailer is not None:
        root = _partition_dir(root, retailer)
    files = sorted(root.glob("**/*.parquet")) if root.is_dir() else []
    if not files:
        return pl.LazyFrame(schema=RMIS_EVENT_SCHEMA)
    return pl.scan_parquet(files, hive_partitioning=False).select(
        [pl.col(name).cast(dtype) for name, dtype in RMIS_EVENT_SCHEMA.items()]
    )


def read_quarantine(out_dir: Path | str, retailer: str | None = None) -> pl.DataFrame:
    path = Path(out_dir) / "quarantine.parquet"
    if not path.exists():
        return pl.DataFrame(schema=QUARANTINE_SCHEMA)
    frame = pl.read_parquet(path)
    return frame if retailer is None else frame.filter(pl.col("retailer") == retailer)


def summarize(out_dir: Path, retailer: str, *, rows_in: int) -> HarmonizeSummary:
    """Counts and totals of one retailer's published outputs; enforces rows_in = accepted + quarantined."""
    stats = (
        read_events(out_dir, retailer)
        .select(
            pl.len().alias("n"),
            pl.col("impressions").sum(),
            pl.col("clicks").sum(),
            pl.col("spend").sum(),
            pl.col("attributed_sales").sum(),
        )
        .collect()
        .row(0, named=True)
    )
    quarantine = read_quarantine(out_dir, retailer)
    reasons = {str(k): int(v) for k, v in quarantine.group_by("reason").len().sort("reason").iter_rows()}
    accepted, quarantined = int(stats["n"]), quarantine.height
    if accepted + quarantined != rows_in:
        raise HarmonizeError(
            f"row accounting broken for {retailer}: {rows_in} in, "
            f"{accepted} accepted + {quarantined} quarantined"
        )
    totals: dict[str, Any] = {
        "impressions": int(stats["impressions"] or 0),
        "clicks": int(stats["clicks"] or 0),
        "spend": float(stats["spend"] or 0.0),
        "attributed_sales": float(stats["attributed_sales"] or 0.0),
    }
    return HarmonizeSummary(
        retailer=retailer,
        rows_in=rows_in,
        rows_accepted=accepted,
        rows_quarantined=quarantined,
        quarantine_reasons=reasons,
        totals=HarmonizeTotals(**totals),
        output=str(Path(out_dir).resolve()),
    )
