"""Daily aggregates of harmonized events → the PerformanceMetric table.

The optimizer and reporting read history from the database at the grain
tenant × retailer × campaign × placement × market × product × day. Loading replaces that grain
for the dates present, so re-harmonizing the same export is idempotent on every backend.
"""

from __future__ import annotations

from typing import Any

import polars as pl
from sqlalchemy import delete, insert

from rmnlora.storage.database import Database
from rmnlora.storage.models import PerformanceMetric, Retailer, Tenant

GRAIN = ["retailer", "campaign_id", "placement", "market", "gtin14", "event_date"]
BATCH_ROWS = 5000


class LoadError(ValueError):
    """The aggregates cannot be loaded (unknown tenant, mixed currencies)."""


def daily_aggregates(events: pl.LazyFrame) -> pl.DataFrame:
    """Sum events per retailer, campaign, placement, market, product and day."""
    frame = (
        events.group_by(GRAIN)
        .agg(
            pl.col("impressions").sum(),
            pl.col("clicks").sum(),
            pl.col("spend").sum(),
            pl.col("attributed_sales").sum(),
            pl.col("units").sum(),
            pl.col("currency").n_unique().alias("_currencies"),
            pl.col("currency").first(),
        )
        .sort(GRAIN)
        .collect()
    )
    if frame.height and int(frame["_currencies"].max() or 0) > 1:  # type: ignore[arg-type]
        raise LoadError("events mix currencies within one day and grain; harmonize to one target currency")
    return frame.drop("_currencies")


def load_daily_aggregates(database: Database, tenant_id: str, events: pl.LazyFrame) -> int:
    """Replace the tenant's PerformanceMetric rows for the retailers and dates in ``events``; returns rows.

    Retailer rows are created when missing (the Retailer table is shared by all tenants).
    """
    frame = daily_aggregates(events)
    with database.get_session(tenant_id=tenant_id) as session:
        if session.get(Tenant, tenant_id) is None:
            raise LoadError(f"tenant {tenant_id!r} is not registered (register it first)")
        for retailer in frame["retailer"].unique().sort().to_list():
            if session.get(Retailer, retailer) is None:
                session.add(Retailer(id=retailer, name=retailer))
        session.flush()
        for (retailer,), part in frame.partition_by("retailer", as_dict=True).items():
            session.execute(
                delete(PerformanceMetric).where(
                    PerformanceMetric.tenant_id == tenant_id,  # type: ignore[arg-type]
                    PerformanceMetric.retailer_id == retailer,  # type: ignore[arg-type]
                    PerformanceMetric.date >= part["event_date"].min(),  # type: ignore[arg-type,operator]
                    PerformanceMetric.date <= part["event_date"].max(),  # type: ignore[arg-type,operator]
                )
            )
        rows: list[dict[str, Any]] = [
            {
                "tenant_id": tenant_id,
                "retailer_id": row["retailer"],
                "campaign_ref": row["campaign_id"],
                "placement": row["placement"],
                "market": row["market"],
                "gtin14": row["gtin14"],
                "date": row["event_date"],
                "impressions": int(row["impressions"]),
                "clicks": int(row["clicks"]),
                "spend": float(row["spend"]),
                "attributed_sales": float(row["attributed_sales"]),
                "units": int(row["units"]),
                "currency": row["currency"],
            }
            for row in frame.iter_rows(named=True)
        ]
        for start in range(0, len(rows), BATCH_ROWS):
            session.execute(insert(PerformanceMetric), rows[start : start + BATCH_ROWS])
    return len(rows)
