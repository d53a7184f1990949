"""RMIS, the retail-media interchange schema every agent reads.

Each record type exists twice on purpose: a pydantic model for validating single records at
API and tool boundaries, and a Polars schema for the columnar path where millions of rows
flow through the harmonizer. ``tests/test_schemas.py`` keeps the two in step.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rmnlora.schemas.clean_room import CleanRoomPolicy
from rmnlora.schemas.gtin import to_gtin14


class EventType(StrEnum):
    """What a row counts. Most retailer exports are daily aggregates ('performance')."""

    PERFORMANCE = "performance"
    IMPRESSION = "impression"
    CLICK = "click"
    CONVERSION = "conversion"
    SPEND = "spend"


class RMISEvent(BaseModel):
    """One harmonized row: a retailer's activity for one day, campaign, placement and product."""

    model_config = ConfigDict(extra="forbid")

    event_id: int = Field(
        ge=0, lt=2**64, description="Stable id: 64-bit hash of retailer + source key, for deduplication."
    )
    event_type: EventType = EventType.PERFORMANCE
    event_date: dt.date
    retailer: str = Field(min_length=1)
    campaign_id: str = Field(min_length=1)
    placement: str = Field(default="unknown", min_length=1)
    market: str = Field(default="all", description="Store, DMA or region: the unit of geo experiments.")
    audience: str | None = None
    gtin14: str
    impressions: int = Field(default=0, ge=0)
    clicks: int = Field(default=0, ge=0)
    spend: float = Field(default=0.0, ge=0)
    attributed_sales: float = Field(default=0.0, ge=0)
    units: int = Field(default=0, ge=0)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")

    @field_validator("gtin14")
    @classmethod
    def _verified_gtin(cls, value: str) -> str:
        return to_gtin14(value)

    @model_validator(mode="after")
    def _clicks_within_impressions(self) -> RMISEvent:
        if self.impressions and self.clicks > self.impressions:
            raise ValueError(f"clicks ({self.clicks}) exceed impressions ({self.impressions})")
        return self


RMIS_EVENT_SCHEMA: dict[str, pl.DataType] = {
    "event_id": pl.UInt64(),
    "event_type": pl.String(),
    "event_date": pl.Date(),
    "retailer": pl.String(),
    "campaign_id": pl.String(),
    "placement": pl.String(),
    "market": pl.String(),
    "audience": pl.String(),
    "gtin14": pl.String(),
    "impressions": pl.Int64(),
    "clicks": pl.Int64(),
    "spend": pl.Float64(),
    "attributed_sales": pl.Float64(),
    "units": pl.Int64(),
    "currency": pl.String(),
}

#: The events column kept out of the files: the partition folder (``retailer=R``) holds it.
PARTITION_COLUMN = "retailer"

QUARANTINE_SCHEMA: dict[str, pl.DataType] = {
    "retailer": pl.String(),
    "source_file": pl.String(),
    "source_row": pl.Int64(),
    "reason": pl.String(),
    "detail": pl.String(),
    "raw": pl.String(),
}


class QuarantineReason(StrEnum):
    """Why a row was set aside instead of harmonized; counted per code in every report."""

    INVALID_GTIN = "invalid_gtin"
    UNPARSEABLE_DATE = "unparseable_date"
    NEGATIVE_VALUE = "negative_value"
    CLICKS_EXCEED_IMPRESSIONS = "clicks_exceed_impressions"
    UNKNOWN_CURRENCY = "unknown_currency"
    DUPLICATE_EVENT = "duplicate_event"
    MISSING_REQUIRED = "missing_required"
    UNPARSEABLE_NUMBER = "unparseable_number"
    UNKNOWN_PRODUCT = "unknown_product"
    RAGGED_ROW = "ragged_row"  # a CSV row with more or fewer fields than its header


class SKU(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gtin14: str
    brand: str
    title: str = ""
    category: str | None = None
    retailer_skus: dict[str, str] = Field(
        default_factory=dict, description="Retailer → its own product id (e.g. ASIN) for crosswalks."
    )

    @field_validator("gtin14")
    @classmethod
    def _verified_gtin(cls, value: str) -> str:
        return to_gtin14(value)


SKU_SCHEMA: dict[str, pl.DataType] = {
    "gtin14": pl.String(),
    "brand": pl.String(),
    "title": pl.String(),
    "category": pl.String(),
}


class Audience(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    retailer: str | None = None
    definition: dict[str, object] = Field(default_factory=dict)
    reach_estimate: int | None = Field(default=None, ge=0)


AUDIENCE_SCHEMA: dict[str, pl.DataType] = {
    "name": pl.String(),
    "retailer": pl.String(),
    "reach_estimate": pl.Int64(),
}


Severity = Literal["info", "warning", "critical"]


class PolicyRule(BaseModel):
    """One rule of a retailer's or brand's ad policy pack."""

    model_config = ConfigDict(extra="forbid")

    rule_id: str
    kind: Literal[
        "prohibited_phrase",
        "unsubstantiated_claim",
        "health_claim",
        "competitor_mention",
        "pii",
        "length_limit",
        "required_disclosure",
        "banned_term",
        "required_element",
    ]
    severity: Severity = "warning"
    patterns: list[str] = Field(default_factory=list, description="Regular expressions, case-insensitive.")
    field: str | None = Field(default=None, description="Copy field it applies to; None: every field.")
    max_length: int | None = Field(default=None, ge=1)
    message: str = ""
    suggestion: str = ""
    allow_patterns: list[str] = Field(
        default_factory=list,
        description="Matches inside one of these (e.g. a claim with its citation) are not violations.",
    )
    trigger_patterns: list[str] = Field(
        default_factory=list,
        description="required_disclosure/required_element: only required when one of these matches.",
    )
    family: str = Field(
        default="",
        description="Rule family the golden set labels ('health_disease', 'pii_phone', ...): the unit "
        "of severity overrides and of precision/recall. Empty: the kind.",
    )
    detector: str | None = Field(
        default=None,
        description="A built-in detector whose matches join the patterns' ('phone', 'payment_card', "
        "'street_address', 'profanity_strong', 'profanity_mild', 'competitor_brand', "
        "'claim_model:FAMILY'; see governance/detectors.py).",
    )
    replacement: str = Field(
        default="",
        description="What the suggested rewrite puts in place of a match ('' removes it).",
    )

    @property
    def rule_family(self) -> str:
        return self.family or self.kind


class PolicyPack(BaseModel):
    model_config = ConfigDict(extra="forbid")

    owner: str = Field(description="Retailer or brand name ('baseline' for the rules every copy obeys).")
    owner_kind: Literal["retailer", "brand", "baseline", "format"]
    rules: list[PolicyRule] = Field(default_factory=list)
    severity_overrides: dict[str, Severity] = Field(
        default_factory=dict,
        description="Rule id or family -> severity for every pack checked with this one. Retailer "
        "packs may raise or lower; brand packs may only raise (a brand cannot relax a network's rule).",
    )
    clean_room: CleanRoomPolicy | None = Field(
        default=None, description="Retailer packs: what its clean room lets us query."
    )
