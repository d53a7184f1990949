"""The harmonizer core: one batch of raw export rows → RMIS columns, a reason code and an event hash.

This is the unit a distributed engine runs per partition (Ray Data ``map_batches``, Spark
``mapInArrow``) and the unit ``harmonize`` runs per streamed chunk. It is eager on purpose: each
step is one vectorised Polars call over the whole batch, product codes are cleaned once per
distinct code, and the human-readable quarantine detail is an expression (``Staged.detail``)
that the caller formats only for the rows that fail. Duplicate events are not marked here: that
needs every row (``dedup``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import polars as pl
import pyarrow as pa

from rmnlora.agents.harmonizer import rules, validate
from rmnlora.agents.harmonizer.mapping import RetailerMapping
from rmnlora.agents.harmonizer.products import product_columns
from rmnlora.agents.harmonizer.rules import COUNT_FIELDS, NUMERIC_FIELDS
from rmnlora.agents.harmonizer.values import Parsed, date_of_text, parse_date, parse_number, retry_lost
from rmnlora.schemas.rmis import RMIS_EVENT_SCHEMA, EventType, QuarantineReason

SOURCE_FILE = "_source_file"
SOURCE_ROW = "_source_row"
REASON = "_reason"
DETAIL = "_detail"
RAGGED = "_ragged"  # set by the engine for CSV rows whose field count differs from the header
SRC = "_src_"  # prefix of raw source columns inside the pipeline, so they never clash with RMIS names
CHECK_INDEX = "_p_check"  # position of the first failing rule; reason and detail are read from it
EVENT_HASH = "_event_hash"  # the event key hash, published as event_id
EVENT_ID_SEED = 0x524D4953  # "RMIS": fixed so event ids are reproducible for a given Polars version


TEXT_DEFAULTS: dict[str, str | None] = {
    "campaign_id": None,
    "placement": "unknown",
    "market": "all",
    "audience": None,
}
#: What makes two rows the same event; its hash is the event_id.
KEY_FIELDS = (
    "retailer",
    "event_type",
    "event_date",
    "campaign_id",
    "placement",
    "market",
    "audience",
    "gtin14",
)


@dataclass(frozen=True)
class Staged:
    """A harmonized batch before the outputs split.

    ``frame`` holds the RMIS columns (not yet ``event_id``), ``_reason`` (null for a clean row),
    ``_p_check`` (index of the failing rule), ``_event_hash``, the source row id and file, the raw
    source columns (``_src_*``) and the parsed helper columns (``_p_*``) the details read.
    """

    frame: pl.DataFrame
    checks: list[validate.Check]

    @property
    def detail(self) -> pl.Expr:
        """The detail text of the failing rule; evaluate it on the failing rows only."""
        return validate.detail_of_index(pl.col(CHECK_INDEX), self.checks)


def event_id() -> pl.Expr:
    """``event_id``: the event hash itself (a 64-bit integer is 8 bytes to write and compare; its
    decimal text, the id before, was ~20)."""
    return pl.col(EVENT_HASH).alias("event_id")


def event_hash() -> pl.Expr:
    """The event key as one unsigned 64-bit hash: each key field hashed with its own seed, XORed.

    Distinct seeds keep equal values in different fields from cancelling; one hash per column is
    several times cheaper than hashing a struct of the fields row by row.
    """
    hashes = [pl.col(field).hash(EVENT_ID_SEED + i) for i, field in enumerate(KEY_FIELDS)]
    combined = hashes[0]
    for item in hashes[1:]:
        combined = combined.xor(item)
    return combined


def accepted_rows(frame: pl.DataFrame, columns: list[pl.Expr]) -> pl.DataFrame:
    """``columns`` of the rows without a reason.

    Failing rows are usually a handful per batch, so the accepted rows are taken as zero-copy
    slices between them instead of a filtered copy of every column.
    """
    selected = frame.select(columns)
    failed = frame.get_column(REASON).is_not_null()
    positions = failed.arg_true().to_list() if failed.sum() <= 256 else None
    if positions is None:
        return selected.filter(~failed)
    bounds = [-1, *positions, frame.height]
    parts = [selected.slice(a + 1, b - a - 1) for a, b in itertools.pairwise(bounds) if b - a > 1]
    return pl.concat(parts, rechunk=False) if parts else selected.clear()


def as_frame(batch: pl.DataFrame | pa.Table | pa.RecordBatch) -> pl.DataFrame:
    if isinstance(batch, pl.DataFrame):
        return batch
    frame = pl.from_arrow(batch)
    assert isinstance(frame, pl.DataFrame)
    return frame


@dataclass
class _Batch:
    """One batch on its way through the phases of ``stage_batch``.

    ``sources``: RMIS field → pipeline name of the source column feeding it. ``blank``/``bad``:
    per field, an expression over ``frame`` that flags blank / present-but-unparseable cells.
    ``replaced``: text fields with at least one blank cell in this batch (only those need the
    blank → constant replacement).
    """

    frame: pl.DataFrame
    mapping: RetailerMapping
    sources: dict[str, str]
    blank: dict[str, pl.Expr] = field(default_factory=dict)
    bad: dict[str, pl.Expr] = field(default_factory=dict)
    replaced: set[str] = field(default_factory=set)

    @property
    def numbers(self) -> list[str]:
        return [name for name in NUMERIC_FIELDS if name in self.sources]

    @property
    def texts(self) -> list[str]:
        return [name for name in (*TEXT_DEFAULTS, "currency", "gtin14", "event_type") if name in self.sources]


def stage_batch(
    batch: pl.DataFrame | pa.Table | pa.RecordBatch,
    mapping: RetailerMapping,
    *,
    fx: Mapping[str, float],
    crosswalk: pl.DataFrame | None = None,
    retailer: str | None = None,
    target_currency: str = "USD",
) -> Staged:
    """Parse, check and key one batch of raw rows (see ``Staged``).

    ``fx`` maps currency code → units of the target currency per unit; a currency missing from it
    quarantines the row. ``crosswalk``: columns ``_xw_key`` and ``_xw_gtin`` (``read_crosswalk``).
    """
    frame = as_frame(batch)
    kept = (SOURCE_ROW, SOURCE_FILE, RAGGED)
    frame = frame.rename({c: f"{SRC}{c}" for c in frame.columns if c not in kept})
    if SOURCE_ROW not in frame.columns:
        frame = frame.with_row_index(SOURCE_ROW).with_columns(pl.col(SOURCE_ROW).cast(pl.Int64))
    if SOURCE_FILE not in frame.columns:
        frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(SOURCE_FILE))
    staged = _Batch(frame, mapping, {name: f"{SRC}{column}" for column, name in mapping.columns.items()})
    _parse(staged)
    _product(staged, crosswalk)
    _fields(staged, fx)
    checks = rules.checks_for(
        mapping,
        staged.sources,
        blank=staged.blank,
        bad=staged.bad,
        event_type_mapped="event_type" in staged.sources,
        crosswalked=crosswalk is not None,
    )
    if RAGGED in frame.columns:  # the row's fields do not line up with the header: nothing else holds
        checks.insert(
            0, validate.Check(QuarantineReason.RAGGED_ROW, pl.col(RAGGED).is_not_null(), pl.col(RAGGED))
        )
    frame = _finish(staged, checks, retailer=retailer or mapping.retailer, target_currency=target_currency)
    return Staged(frame, checks)


def _parse(staged: _Batch) -> None:
    """Dates and numbers parsed, text fields stripped, and every field's blank/bad flags.

    One parallel ``with_columns`` parses every number and date optimistically (no strip) and strips
    the text fields. The optimistic parse is exact unless it lost values (padded, bad or blank
    cells), which the null counts reveal; only those rows then get the careful parse.
    """
    frame, mapping, sources = staged.frame, staged.mapping, staged.sources
    date_source = sources["event_date"]  # the mapping requires it
    quick = {f"_t_{f}": pl.col(sources[f]).cast(pl.String).str.strip_chars() for f in staged.texts}
    if frame.schema[date_source] == pl.String and mapping.date_format not in ("epoch_ms", "epoch_s"):
        quick["_p_event_date"] = date_of_text(pl.col(date_source), mapping.date_format, mapping.timezone)
    for name in staged.numbers:
        if frame.schema[sources[name]] == pl.String and not mapping.decimal_comma:
            quick[f"_p_{name}"] = pl.col(sources[name]).cast(pl.Float64, strict=False)
    frame = frame.with_columns(**quick)

    careful: dict[str, pl.Series] = {}

    def settle(name: str, parse: Callable[[pl.Series], Parsed]) -> None:
        target, column = f"_p_{name}", sources[name]
        parsed = retry_lost(frame[target], frame[column], parse) if target in quick else parse(frame[column])
        if parsed is None:  # the optimistic parse lost nothing
            staged.blank[name], staged.bad[name] = pl.col(column).is_null(), pl.lit(False)
            return
        careful[target], careful[f"_blank_{name}"], careful[f"_bad_{name}"] = (
            parsed.value,
            parsed.blank,
            parsed.bad,
        )
        staged.blank[name], staged.bad[name] = pl.col(f"_blank_{name}"), pl.col(f"_bad_{name}")

    settle("event_date", lambda v: parse_date(v, mapping.date_format, mapping.timezone))
    for name in staged.numbers:
        settle(name, lambda v: parse_number(v, decimal_comma=mapping.decimal_comma))
    text_blanks = frame.select(
        (pl.col(f"_t_{f}").is_null() | (pl.col(f"_t_{f}") == "")).fill_null(True).alias(f"_blank_{f}")
        for f in staged.texts
    )
    for name in staged.texts:
        flags = text_blanks[f"_blank_{name}"]
        if flags.any():
            careful[flags.name] = flags
            staged.replaced.add(name)
            staged.blank[name] = pl.col(flags.name)
        else:  # the flag is a constant, and the text needs no blank → constant replacement
            staged.blank[name] = pl.lit(False)
    staged.frame = frame.with_columns([series.alias(name) for name, series in careful.items()])


def _product(staged: _Batch, crosswalk: pl.DataFrame | None) -> None:
    """``_p_gtin14``: the verified GTIN-14 (once per distinct code, or through the crosswalk), the
    retailer's id keyed by its type when there is no crosswalk, or ``all`` (``products``)."""
    staged.frame = product_columns(staged.frame, staged.mapping, staged.sources.get("gtin14"), crosswalk)


def _fields(staged: _Batch, fx: Mapping[str, float]) -> None:
    """The RMIS text fields (blank → constant or default), currency and its rate, the event type."""
    mapping, texts = staged.mapping, staged.texts

    def or_constant(name: str, constant: str | None) -> pl.Expr:
        text = pl.col(f"_t_{name}")
        if name not in staged.replaced:
            return text
        return pl.when(staged.blank[name]).then(pl.lit(constant, dtype=pl.String)).otherwise(text)

    outputs: dict[str, pl.Expr] = {}
    for name, default in TEXT_DEFAULTS.items():
        constant = mapping.constants.get(name, default)
        outputs[name] = or_constant(name, constant) if name in texts else pl.lit(constant, dtype=pl.String)
    if "currency" in texts:
        currency = or_constant("currency", mapping.currency).str.to_uppercase()
        outputs["_p_rate"] = currency.replace_strict(
            list(fx), [float(v) for v in fx.values()], default=None, return_dtype=pl.Float64
        )
    else:
        currency = pl.lit(mapping.currency, dtype=pl.String)
        outputs["_p_rate"] = pl.lit(fx.get(mapping.currency or ""), dtype=pl.Float64)
    outputs["_p_currency"] = currency
    if "event_type" in texts:
        text = pl.col("_t_event_type")
        mapped = text.replace_strict(
            list(mapping.event_types),
            [t.value for t in mapping.event_types.values()],
            default=text.str.to_lowercase(),
            return_dtype=pl.String,
        )
        outputs["event_type"] = pl.when(mapped.is_in([t.value for t in EventType])).then(mapped)
    else:
        constant_type = mapping.constants.get("event_type", EventType.PERFORMANCE.value)
        outputs["event_type"] = pl.lit(constant_type, dtype=pl.String)
    staged.frame = staged.frame.with_columns(**outputs)


def _finish(
    staged: _Batch, checks: list[validate.Check], *, retailer: str, target_currency: str
) -> pl.DataFrame:
    """The failing rule's index and reason, the RMIS values and the event hash; scratch columns dropped."""
    amounts = rules.amounts(staged.sources)
    scale = staged.mapping.money_scale
    rate = pl.col("_p_rate")
    frame = staged.frame.with_columns(
        validate.first_index(checks).alias(CHECK_INDEX),
        pl.col("_p_event_date").alias("event_date"),
        pl.lit(retailer, dtype=pl.String).alias("retailer"),
        pl.col("_p_gtin14").alias("gtin14"),
        *(amounts[f].cast(pl.Int64, strict=False).alias(f) for f in COUNT_FIELDS),
        (amounts["spend"] * scale * rate).alias("spend"),
        (amounts["attributed_sales"] * scale * rate).alias("attributed_sales"),
        pl.lit(target_currency, dtype=pl.String).alias("currency"),
    )
    frame = frame.with_columns(
        validate.reason_of_index(pl.col(CHECK_INDEX), checks).alias(REASON), event_hash().alias(EVENT_HASH)
    )
    return frame.drop([c for c in frame.columns if c.startswith(("_t_", "_blank_", "_bad_"))])


def harmonize_batch(
    batch: pl.DataFrame | pa.Table | pa.RecordBatch,
    mapping: RetailerMapping,
    *,
    fx: Mapping[str, float],
    target_currency: str = "USD",
    crosswalk: pl.DataFrame | None = None,
    retailer: str | None = None,
) -> pl.DataFrame:
    """The per-partition function for a distributed engine: one Arrow/Polars batch in, same rows out.

    Returns the RMIS columns, ``_reason``/``_detail`` (null for a clean row), the source row id and
    file, and the raw source columns. Run ``mark_duplicates`` over the union of all batches afterwards.
    """
    staged = stage_batch(
        batch, mapping, fx=fx, crosswalk=crosswalk, retailer=retailer, target_currency=target_currency
    )
    raw = [c for c in staged.frame.columns if c.startswith(SRC)]
    rmis = [c for c in RMIS_EVENT_SCHEMA if c != "event_id"]
    return staged.frame.select(
        SOURCE_ROW, *raw, SOURCE_FILE, *rmis, REASON, staged.detail.alias(DETAIL), event_id(), EVENT_HASH
    )
