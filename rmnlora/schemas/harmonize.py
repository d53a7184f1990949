"""Harmonizer tool I/O: the contract of ``rmn harmonize --json`` that other tools rely on."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class HarmonizeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    inputs: list[Path] = Field(
        min_length=1, description="Raw retailer exports (CSV, Parquet, JSON lines, XLSX)."
    )
    retailer: str = Field(min_length=1)
    mapping: Path | None = Field(default=None, description="Mapping YAML; default: the shipped one.")
    out: Path = Field(description="Output folder: events/ (RMIS Parquet) and quarantine.parquet.")
    target_currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")


class HarmonizeTotals(BaseModel):
    impressions: int = 0
    clicks: int = 0
    spend: float = 0.0
    attributed_sales: float = 0.0


class RatioCheckResult(BaseModel):
    """One ratio column of the export checked row by row against the mapped base measures."""

    column: str
    kind: str = Field(description="roas, acos, ctr, cpc or cpm.")
    rows_checked: int = Field(ge=0)
    agreement: float = Field(ge=0, le=1, description="Share of checked rows where the ratio holds.")
    passed: bool
    evidence: str = Field(description="A row where it does not hold, with the numbers; empty if none.")


class ProductCoverage(BaseModel):
    """How the accepted events name their products: by GTIN-14, or only by the retailer's own id.

    Why: the optimizer plans per retailer and placement and needs no GTIN, so a missing crosswalk
    must not stop a run; but joining retailers, the SKU catalogue or sales data per product does,
    and this figure says how much of the history can take part in that.
    """

    id_type: str = Field(description="The mapping's id_type (gtin, asin, sku, item_id, none...).")
    coverage: float = Field(ge=0, le=1, description="Share of accepted events whose product is a GTIN-14.")
    events_by_gtin: int = Field(ge=0)
    events_by_retailer_id: int = Field(
        ge=0, description="Accepted events keyed by (id type, id), e.g. asin:B0ACME0001, or 'all'."
    )
    note: str = Field(default="", description="Why coverage is below 1 (no crosswalk, no product column).")
    crosswalk_missing: bool = Field(
        default=False,
        description="The mapping names a crosswalk whose file is not there: products the brand does "
        "not sell are kept (by retailer id) instead of quarantined as unknown_product.",
    )


class HarmonizeSummary(BaseModel):
    """rows_in == rows_accepted + rows_quarantined, always."""

    retailer: str
    rows_in: int = Field(ge=0)
    rows_accepted: int = Field(ge=0)
    rows_quarantined: int = Field(ge=0)
    quarantine_reasons: dict[str, int] = Field(default_factory=dict)
    totals: HarmonizeTotals = Field(default_factory=HarmonizeTotals)
    output: str
    ratio_checks: list[RatioCheckResult] = Field(
        default_factory=list, description="The export's own ratios checked against the mapping."
    )
    warnings: list[str] = Field(
        default_factory=list,
        description="What looks wrong although the run completed (a ratio check failed).",
    )
    products: ProductCoverage | None = Field(
        default=None, description="Product identity of the accepted events (GTIN coverage)."
    )
