"""The quarantine rules of a mapping, in the order that decides a row's reason.

A row failing several rules carries the first (most fundamental) one: a blank required field
before an unparseable one, a bad product before a bad currency, and so on. The rules are
expressions over the columns ``core.stage_batch`` builds (``_p_*`` parsed values, the raw
``_src_*`` columns, per-field blank/bad flags), so they evaluate in one pass over a batch and
their detail texts only for the rows that fail.
"""

from __future__ import annotations

import polars as pl

from rmnlora.agents.harmonizer import validate
from rmnlora.agents.harmonizer.mapping import RETAILER_ID_TYPES, RetailerMapping
from rmnlora.schemas.rmis import QuarantineReason

NUMERIC_FIELDS = ("impressions", "clicks", "spend", "attributed_sales", "units")
COUNT_FIELDS = ("impressions", "clicks", "units")
#: Fields whose blank value quarantines a row, when a source column feeds them.
MUST_BE_PRESENT = ("event_date", "campaign_id", "gtin14", "spend", "currency")


def parsed(name: str) -> pl.Expr:
    return pl.col(f"_p_{name}")


def amounts(sources: dict[str, str]) -> dict[str, pl.Expr]:
    """Every numeric field's parsed value, 0 when absent or unmapped (what the outputs carry)."""
    return {
        name: (parsed(name) if name in sources else pl.lit(0.0)).fill_null(0.0) for name in NUMERIC_FIELDS
    }


def checks_for(
    mapping: RetailerMapping,
    sources: dict[str, str],
    *,
    blank: dict[str, pl.Expr],
    bad: dict[str, pl.Expr],
    event_type_mapped: bool,
    crosswalked: bool = True,
) -> list[validate.Check]:
    """The mapping's rules in order. ``sources``: RMIS field → raw column; ``blank``/``bad``: flags.

    ``crosswalked``: retailer ids are looked up in a crosswalk (an id it lacks is an unknown
    product); without one the id itself is the product key and nothing is looked up.
    """

    def raw(name: str) -> pl.Expr:
        return pl.col(sources[name])

    checks = [
        validate.Check(QuarantineReason.MISSING_REQUIRED, blank[name], pl.lit(f"{name} is empty"))
        for name in MUST_BE_PRESENT
        if name in sources and name in blank
    ]
    checks.append(
        validate.Check(
            QuarantineReason.UNPARSEABLE_DATE,
            bad["event_date"],
            validate.raw_detail("event_date", raw("event_date")),
        )
    )
    for name in NUMERIC_FIELDS:
        if name not in sources:
            continue
        failed = bad[name]
        if name in COUNT_FIELDS:
            failed = failed | (parsed(name) != parsed(name).floor()).fill_null(False)
        checks.append(
            validate.Check(QuarantineReason.UNPARSEABLE_NUMBER, failed, validate.raw_detail(name, raw(name)))
        )
    checks.extend(_product_checks(mapping, sources, blank, crosswalked))
    checks.append(validate.unknown_currency(parsed("currency"), parsed("rate")))
    values = amounts(sources)
    checks.append(validate.negative(values))
    checks.append(validate.clicks_exceed_impressions(values["clicks"], values["impressions"]))
    if event_type_mapped:
        checks.append(
            validate.Check(
                QuarantineReason.MISSING_REQUIRED,
                pl.col("event_type").is_null(),
                pl.format(
                    "event_type {} is not mapped",
                    raw("event_type").cast(pl.String).str.strip_chars().fill_null("<null>"),
                ),
            )
        )
    return checks


def _product_checks(
    mapping: RetailerMapping, sources: dict[str, str], blank: dict[str, pl.Expr], crosswalked: bool
) -> list[validate.Check]:
    """unknown_product (a retailer id the crosswalk lacks) and invalid_gtin (a code, or what the
    crosswalk says, that is not a valid GTIN)."""

    def raw(name: str) -> pl.Expr:
        return pl.col(sources[name])

    if "gtin14" not in sources:  # id_type none: a report without product grain
        return []
    present = ~blank["gtin14"]
    checks: list[validate.Check] = []
    if mapping.id_type in RETAILER_ID_TYPES:
        if not crosswalked:
            return checks
        looked_up = pl.col("_xw_gtin")
        checks.append(
            validate.Check(
                QuarantineReason.UNKNOWN_PRODUCT,
                present & looked_up.is_null(),
                pl.format("{} not in crosswalk", raw("gtin14").cast(pl.String).str.strip_chars()),
            )
        )
        found = looked_up.is_not_null() & (looked_up.cast(pl.String).str.strip_chars() != "")
        checks.append(
            validate.Check(
                QuarantineReason.INVALID_GTIN,
                found & parsed("gtin14").is_null(),
                validate.raw_detail("crosswalk gtin14", looked_up),
            )
        )
    else:
        checks.append(
            validate.Check(
                QuarantineReason.INVALID_GTIN,
                present & parsed("gtin14").is_null(),
                validate.raw_detail("gtin14", raw("gtin14")),
            )
        )
    return checks
