"""Clean-room I/O: the aggregate queries we send and the typed results we get back.

A retailer clean room only ever returns aggregates; a cell that covers too few shoppers could
re-identify them, so both the retailer's policy and our client suppress cells below a minimum
aggregation size and report how many they suppressed.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

DEFAULT_ALLOWED_DIMENSIONS = [
    "retailer",
    "campaign_id",
    "placement",
    "market",
    "audience",
    "week",
    "month",
    "product_category",
    "gtin14",
]
DEFAULT_FORBIDDEN_DIMENSIONS = [
    "user_id",
    "customer_id",
    "household_id",
    "email",
    "phone",
    "address",
    "ip_address",
    "device_id",
    "loyalty_card",
    "name",
    "date_of_birth",
]
DEFAULT_ALLOWED_METRICS = [
    "impressions",
    "clicks",
    "spend",
    "attributed_sales",
    "units",
    "buyers",
    "new_to_brand_buyers",
    "conversions",
]


class CleanRoomPolicy(BaseModel):
    """What a retailer's clean room lets us ask: dimensions, metrics and the smallest cell."""

    model_config = ConfigDict(extra="forbid")

    min_aggregation: int = Field(default=50, ge=1, description="Smallest number of shoppers per cell.")
    allowed_dimensions: list[str] = Field(default_factory=lambda: list(DEFAULT_ALLOWED_DIMENSIONS))
    forbidden_dimensions: list[str] = Field(default_factory=lambda: list(DEFAULT_FORBIDDEN_DIMENSIONS))
    allowed_metrics: list[str] = Field(default_factory=lambda: list(DEFAULT_ALLOWED_METRICS))
    max_dimensions: int = Field(default=3, ge=1, description="More dimensions → smaller cells.")
    max_days: int = Field(default=400, ge=1, description="Longest date range one query may cover.")


class CleanRoomQuery(BaseModel):
    """An aggregate query: group by ``dimensions``, sum ``metrics`` over a date range."""

    model_config = ConfigDict(extra="forbid")

    retailer: str = Field(min_length=1)
    dimensions: list[str] = Field(min_length=1)
    metrics: list[str] = Field(min_length=1)
    date_from: dt.date
    date_to: dt.date
    filters: dict[str, str | list[str]] = Field(default_factory=dict)
    min_cell_size: int | None = Field(
        default=None, ge=1, description="Requested threshold; never below the policy's minimum."
    )

    @model_validator(mode="after")
    def _ordered(self) -> CleanRoomQuery:
        if self.date_to < self.date_from:
            raise ValueError(f"date_to ({self.date_to}) is before date_from ({self.date_from})")
        return self


class CleanRoomCell(BaseModel):
    """One aggregate row: the dimension values, the summed metrics, and how many shoppers it covers."""

    dimensions: dict[str, str]
    metrics: dict[str, float]
    cell_size: int = Field(ge=0)


CleanRoomStatus = Literal["ok", "unavailable", "unauthorized", "rejected", "blocked_by_policy", "failed"]


class CleanRoomResult(BaseModel):
    """What a query produced. Anything but ``ok`` carries no rows and says why in ``detail``."""

    retailer: str
    status: CleanRoomStatus
    detail: str = ""
    rows: list[CleanRoomCell] = Field(default_factory=list)
    suppressed_cells: int = Field(default=0, ge=0, description="Cells dropped below the threshold.")
    min_aggregation: int = Field(default=0, ge=0, description="Threshold applied to the cells.")
    attempts: int = Field(default=0, ge=0, description="HTTP requests made (1 + retries).")
    query_id: str | None = None
    http_status: int | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"
