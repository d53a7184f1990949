"""Rules the proposer applies on top of name and value scores, learned from real network reports.

Real reports carry several columns that fit one field: "7 Day Total Sales", "7 Day Advertised SKU
Sales" and "7 Day Other SKU Sales"; "14 Day Total Sales" and "14 Day Total Sales - (Click)";
attributedSales14days and attributedSales30days. Names alone barely tell them apart (MiniLM scores
them within a few hundredths), so the proposer would pick by noise. These rules decide with
evidence the file itself holds:

- the export's own ratios: the column that makes ROAS, ACOS, CTR, CPC hold is the right one;
- layout: a report lists the headline measure before its breakdowns, so among near-equal
  candidates the leftmost wins;
- values: a text dimension (placement, market, audience) and a measure need a name that says
  so (an orders column fits "units" by its values alone); a dimension must not be
  the product's name (its values pair one to one with the product ids); an event type column
  needs values that are event types, an identifier (campaignExtId, lineItemId) is never a count,
  and a retailer's own product id (Walmart item id, retailer SKU) is a product only when its name
  says product, item or SKU.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
import polars as pl

from rmnlora.agents.harmonizer.ratios import RatioCheck, check_ratios
from rmnlora.schemas.rmis import EventType

#: A text dimension's name must be at least this close to its vocabulary (values say little:
#: any low-cardinality text fits "Portfolio name" as well as "Placement Type").
TEXT_NAME_MIN = 0.65
TEXT_DIMENSIONS = ("placement", "market", "audience")
#: A column of retailer ids is a product candidate only with a product-like name.
PRODUCT_NAME_MIN = 0.6
#: A measure's name must be at least this close too: any leftover integer column fits "units"
#: by its values, orders (attributedOrders14days) among them, but orders are not units.
MEASURE_NAME_MIN = 0.4
#: Candidates whose scores differ by less than this are a tie the file's layout breaks.
NEAR_TIE = 0.06
#: Measures whose candidates are compared by tie-breaks and by the export's ratios.
MEASURES = ("attributed_sales", "units", "spend", "impressions", "clicks")
_ID_VALUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
#: A name ending in Id / ID / _id: campaignExtId, lineItemId, "Campaign ID".
_IDENTIFIER = re.compile(r"(Id|ID|[ _-]id)$")


def retailer_id_share(values: list[str]) -> float:
    """How much a column looks like a retailer's product ids: codes without spaces, all of one
    length of at least 5 (9-digit item ids, SKU-12345), or mixing letters and digits. Counts are
    not: their lengths vary."""
    if not values:
        return 0.0
    codes = [v for v in values if _ID_VALUE.match(v)]
    if len(codes) < 0.9 * len(values):
        return 0.0
    lengths = [len(v) for v in codes]
    uniform = max(lengths.count(n) for n in set(lengths)) / len(codes)
    mixed = sum(1 for v in codes if re.search(r"[A-Za-z]", v) and re.search(r"\d", v)) / len(codes)
    if uniform >= 0.9 and min(lengths) >= 5:
        return 1.0
    return mixed


def retailer_id_type(column: str) -> str:
    """The id type of a retailer-id product column, by its name: tcin, item_id or sku."""
    name = column.lower()
    if "tcin" in name:
        return "tcin"
    if "item" in name:
        return "item_id"
    return "sku"


def event_type_share(values: list[str]) -> float:
    """Share of values that are RMIS event types (the proposer maps no other values)."""
    known = {t.value for t in EventType}
    return sum(1 for v in values if v.strip().lower() in known) / len(values) if values else 0.0


def adjust_scores(
    score: np.ndarray,
    names: np.ndarray,
    columns: list[str],
    fields: list[str],
    values: Mapping[str, list[str]],
    name_weight: float,
) -> None:
    """Apply the value and name rules to the columns × fields ``score`` matrix, in place."""
    for group, least in ((TEXT_DIMENSIONS, TEXT_NAME_MIN), (MEASURES, MEASURE_NAME_MIN)):
        for field in group:
            f = fields.index(field)
            score[:, f] = np.where(names[:, f] < least, 0.0, score[:, f])
    kind = fields.index("event_type")
    gtin = fields.index("gtin14")
    measures = [fields.index(f) for f in MEASURES]
    for index, column in enumerate(columns):
        score[index, kind] *= event_type_share(values[column])
        if _IDENTIFIER.search(column.strip()):  # an id is a key, never an amount or a count
            score[index, measures] = 0.0
        if names[index, gtin] >= PRODUCT_NAME_MIN:
            as_id = name_weight * names[index, gtin] + (1 - name_weight) * retailer_id_share(values[column])
            score[index, gtin] = max(score[index, gtin], as_id)


def prefer_leftmost(
    mapped: dict[str, str], score: np.ndarray, columns: list[str], fields: list[str], excluded: set[str]
) -> dict[str, str]:
    """For each measure, an unmapped column left of the chosen one scoring within ``NEAR_TIE`` of
    it takes its place: the headline measure comes before its breakdowns in a report."""
    result = dict(mapped)
    for field in MEASURES:
        current = next((c for c, f in result.items() if f == field), None)
        if current is None:
            continue
        f, at = fields.index(field), columns.index(current)
        for index, column in enumerate(columns[:at]):
            if column in result or column in excluded:
                continue
            if score[index, f] >= score[at, f] - NEAR_TIE:
                del result[current]
                result[column] = field
                break
    return result


def variant_weights(checked: Mapping[str, str]) -> dict[str, float]:
    """1 for a ratio column, 0.5 for a variant of another one of its kind: a column whose name
    extends it ("ROAS - (Click)" of "ROAS"), a ratio of some other base measure (click-only sales)."""
    stripped = {c: c.strip() for c in checked}
    return {
        column: 0.5
        if any(
            other != column
            and checked[other] == checked[column]
            and stripped[column].startswith(stripped[other])
            and len(stripped[column]) > len(stripped[other])
            for other in checked
        )
        else 1.0
        for column in checked
    }


def _agreement(
    sample: pl.DataFrame, mapped: Mapping[str, str], checked: Mapping[str, str], decimal_comma: bool
) -> float:
    weights = variant_weights(checked)
    return sum(
        weights[c.column]
        for c in check_ratios(sample, mapped, checked, decimal_comma=decimal_comma)
        if c.rows_checked and c.passed
    )


def refine_by_ratios(
    mapped: dict[str, str],
    score: np.ndarray,
    columns: list[str],
    fields: list[str],
    excluded: set[str],
    sample: pl.DataFrame,
    checked: Mapping[str, str],
    *,
    decimal_comma: bool,
    accept: float,
) -> dict[str, str]:
    """Swap a measure's column for another candidate (scoring at least ``accept``) while that makes
    more of the export's own ratios hold (variants count half); a swap must strictly gain."""
    if not checked:
        return mapped
    best = _agreement(sample, mapped, checked, decimal_comma)
    result = dict(mapped)
    for _ in range(len(MEASURES)):
        improved = False
        for field in MEASURES:
            current = next((c for c, f in result.items() if f == field), None)
            if current is None:
                continue
            f = fields.index(field)
            for index, column in enumerate(columns):
                if column in result or column in excluded or score[index, f] < accept:
                    continue
                trial = {c: v for c, v in result.items() if c != current}
                trial[column] = field
                value = _agreement(sample, trial, checked, decimal_comma)
                if value > best + 1e-9:
                    best, result, current, improved = value, trial, column, True
        if not improved:
            break
    return result


def variants_explained(checks: list[RatioCheck], checked: Mapping[str, str]) -> set[str]:
    """Failing variant ratio columns whose primary column of the same kind holds: they describe a
    base measure the mapping does not carry (click-only sales), not a wrong mapping."""
    weights = variant_weights(checked)
    passing = {c.column for c in checks if c.passed and c.rows_checked}
    stripped = {c: c.strip() for c in checked}
    explained = set()
    for check in checks:
        if check.passed or weights[check.column] == 1.0:
            continue
        name = stripped[check.column]
        primaries = [o for o in checked if o != check.column and checked[o] == check.kind]
        if any(o in passing and name.startswith(stripped[o]) for o in primaries):
            explained.add(check.column)
    return explained


def drop_product_names(mapped: dict[str, str], sample: pl.DataFrame) -> dict[str, str]:
    """Without the text dimensions that name the product ("advProductName"): each product id has one
    value and most values belong to one product id. A planning line per product is no placement."""
    product = next((c for c, f in mapped.items() if f == "gtin14"), None)
    if product is None:
        return mapped
    result = dict(mapped)
    for column, field in mapped.items():
        if field not in TEXT_DIMENSIONS:
            continue
        pairs = sample.select(pl.col(column), pl.col(product)).drop_nulls().unique()
        per_value = pairs.group_by(column).len()
        named = pairs.height == pairs[product].n_unique() and per_value.height > 1
        if named and (per_value["len"] == 1).mean() >= 0.5:  # type: ignore[operator]
            del result[column]
    return result
