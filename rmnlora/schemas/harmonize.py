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
