"""Product identity: a verified GTIN-14 where one is known, else the retailer's own id, keyed by type.

Networks name products their own way (ASIN, Walmart item id, retailer SKU, TCIN) and many
reports have no GTIN at all; some (a Sponsored Brands campaign report) have no product column.
The planner works per retailer and placement and does not need a GTIN, so a missing crosswalk
must not stop a run. Events then carry ``<id type>:<id>`` (``asin:B0ACME0001``) in their product
field, never mistaken for a GTIN-14 (always 14 digits), or ``all`` for a report without product
grain, and ``ProductCoverage`` says how much of the history is joined to GTINs.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from rmnlora.agents.harmonizer.mapping import RETAILER_ID_TYPES, RetailerMapping
from rmnlora.agents.harmonizer.values import gtin14_of
from rmnlora.schemas.harmonize import ProductCoverage

#: The product of every event of a report without a product column.
ALL_PRODUCTS = "all"
#: A product field holding a GTIN-14 (anything else is a retailer id key or ``all``).
GTIN14_PATTERN = r"^\d{14}$"


def product_columns(
    frame: pl.DataFrame, mapping: RetailerMapping, source: str | None, crosswalk: pl.DataFrame | None
) -> pl.DataFrame:
    """``frame`` with ``_p_gtin14``, the event's product (null for a code that is not a valid GTIN),
    and, when a crosswalk is joined, ``_xw_gtin`` (what it says for each row, null if nothing).

    ``source``: the raw column feeding gtin14 (None for ``id_type: none``); the retailer ids are
    read from its stripped text ``_t_gtin14``. GTIN check digits run once per distinct code.
    """
    if source is None or mapping.id_type == "none":
        return frame.with_columns(pl.lit(ALL_PRODUCTS, dtype=pl.String).alias("_p_gtin14"))
    if mapping.id_type not in RETAILER_ID_TYPES:
        gtin = gtin14_of(frame[source], upc_body=mapping.id_type == "upc_no_check")
        return frame.with_columns(gtin.alias("_p_gtin14"))
    ids = pl.col("_t_gtin14")
    if crosswalk is None:  # no table to GTINs: the retailer's id, named by its type, is the key
        key = pl.when(ids != "").then(pl.concat_str(pl.lit(f"{mapping.id_type}:"), ids))
        return frame.with_columns(key.alias("_p_gtin14"))
    looked_up = (
        frame.select(ids.alias("_xw_key"))
        .join(crosswalk, on="_xw_key", how="left", maintain_order="left")
        .get_column("_xw_gtin")
    )
    gtin = gtin14_of(looked_up, upc_body=False)
    return frame.with_columns(looked_up.alias("_xw_gtin"), gtin.alias("_p_gtin14"))


def crosswalk_path(mapping: RetailerMapping, base_dir: Path) -> Path | None:
    """Where the mapping's crosswalk is read from (relative paths: next to the first input)."""
    if mapping.crosswalk is None:
        return None
    path = Path(mapping.crosswalk.file)
    return path if path.is_absolute() else base_dir / path


def product_coverage(total: int, by_gtin: int, mapping: RetailerMapping, base_dir: Path) -> ProductCoverage:
    """How ``total`` accepted events, ``by_gtin`` of them keyed by a GTIN-14 (counted in the run's
    summary scan), name their products, with the reason when not all of them are GTIN-14s."""
    other = total - by_gtin
    path = crosswalk_path(mapping, base_dir)
    note = ""
    if other:
        if mapping.id_type == "none":
            note = f"the export has no product column: its {other} events have product '{ALL_PRODUCTS}'"
        else:
            if path is None:
                why = "the mapping has no crosswalk"
            elif not path.is_file():
                why = f"crosswalk {path} not found"
            else:
                why = f"crosswalk {path} did not give a GTIN"
            note = (
                f"{why}: {other} of {total} events are keyed by their {mapping.id_type} "
                f"({mapping.id_type}:<id>); add a crosswalk to join them to GTINs"
            )
    return ProductCoverage(
        crosswalk_missing=path is not None and not path.is_file(),
        id_type=mapping.id_type,
        coverage=by_gtin / total if total else 1.0,
        events_by_gtin=by_gtin,
        events_by_retailer_id=other,
        note=note,
    )
