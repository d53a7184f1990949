"""Example exports in the shapes retail media networks really deliver, with planted bad rows.

``retail_exports`` writes three tidy, made-up formats that carry the planning world's economics.
Real users upload something else: an Amazon Ads console download (money as ``$1,234.56``, rates as
``0.45%``, ``Nov 01, 2026``, a header with a trailing space, byte-order mark, CRLF, every value
quoted; or the same report as XLSX), an Amazon Ads API v3 report (one gzipped JSON array, numbers
as JSON numbers), a Walmart Connect snapshot (camelCase columns, all quoted), a Criteo Retail
Media report. The column names follow each network's published report schema (see the mapping
YAML headers in ``rmnlora/datagen/mappings``); the values are made up, consistent with each other
(ratios computed from the amounts and rounded as the consoles round them). Each file gets one
planted bad row of every kind the shape can hold, and ``ExportTruth`` records exactly which data
row holds which defect and the totals of the good rows, so a test can demand exact numbers.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from rmnlora.datagen.retail_exports import _products

NETWORK_SHAPES: tuple[str, ...] = (
    "amazon_sp_console",
    "amazon_sb_console",
    "amazon_sd_console",
    "amazon_api_v3_sp",
    "walmart_search",
    "walmart_display",
    "criteo_api",
)
#: Shapes the network's console also offers as an .xlsx download (same columns).
XLSX_SHAPES: tuple[str, ...] = ("amazon_sp_console", "amazon_sb_console", "amazon_sd_console")
#: Every kind of bad row a test plants; a shape holds those it can (no product column: no
#: unknown product; JSON and XLSX: no ragged row).
BAD_ROW_KINDS: tuple[str, ...] = (
    "negative_value",
    "clicks_exceed_impressions",
    "unparseable_date",
    "unparseable_number",
    "missing_required",
    "unknown_product",
    "duplicate_event",
    "ragged_row",
)
Kind = Literal["date", "text", "count", "money", "percent", "ratio"]
Row = dict[str, Any]


class ExportTruth(BaseModel):
    """One written export: where its planted bad rows are and what a correct harmonizer reports."""

    shape: str = Field(description="The report shape, also the name of its shipped mapping.")
    retailer: str
    format: Literal["csv", "xlsx", "json"]
    file: str
    crosswalk: str | None = Field(description="Retailer id → GTIN-14 table written next to it.")
    rows_written: int
    rows_accepted: int
    quarantine: dict[str, int] = Field(description="Planted rows per quarantine reason.")
    planted: dict[int, str] = Field(description="Data row (0-based, as in the quarantine) → reason.")
    totals: dict[str, float] = Field(description="impressions, clicks, spend, attributed_sales of good rows.")
    unknown_product: str | None = Field(default=None, description="The id planted as unknown, if any.")


@dataclass(frozen=True)
class Column:
    """One report column: its header as the network writes it, how its cells are written, and the
    row value it shows (a field name, or a function of the row for ratios)."""

    name: str
    kind: Kind
    value: str | Callable[[Row], Any]

    def of(self, row: Row) -> Any:
        return row.get(self.value) if isinstance(self.value, str) else self.value(row)


def _ratio(top: str, bottom: str, factor: float = 1.0) -> Callable[[Row], float | None]:
    def value(row: Row) -> float | None:
        denominator = row.get(bottom) or 0
        return None if not denominator else factor * row[top] / denominator

    return value


@dataclass(frozen=True)
class Shape:
    """A network report: its columns, file format and quirks, and where its bad rows go."""

    name: str
    retailer: str
    format: Literal["csv", "json"]
    file: str
    columns: tuple[Column, ...]
    spend: str  # the column a money defect goes into
    date: str
    campaign: tuple[str, ...]  # columns blanked for the missing-required row
    product: str | None  # the retailer id column (None: no product grain)
    id_prefix: str = ""  # how its product ids look: B0 (ASIN), SKU- (a SKU), else digits (item id)
    console: bool = False  # Amazon console text: $1,234.56, 0.45%, Nov 01, 2026, BOM, CRLF
    quote_all: bool = True
    campaign_names: tuple[str, ...] = ()


# ---------------------------------------------------------------- values of a good row


def _base_row(rng: np.random.Generator) -> Row:
    impressions = int(rng.integers(800, 40_000))
    clicks = max(1, int(rng.binomial(impressions, rng.uniform(0.002, 0.02))))
    spend = round(clicks * float(rng.uniform(0.35, 2.2)), 2)
    sales = round(spend * float(rng.uniform(1.5, 6.0)), 2)
    orders = max(1, round(sales / float(rng.uniform(8, 25))))
    units = orders + int(rng.integers(0, 3))
    sku_sales = round(sales * float(rng.uniform(0.6, 0.95)), 2)
    sku_units = max(1, min(units, round(units * sku_sales / sales)))
    sales_click = round(sales * float(rng.uniform(0.6, 0.9)), 2)
    return {
        "impressions": impressions,
        "viewable": round(impressions * float(rng.uniform(0.4, 0.8))),
        "clicks": clicks,
        "spend": spend,
        "sales": sales,
        "orders": orders,
        "units": units,
        "sku_sales": sku_sales,
        "other_sales": round(sales - sku_sales, 2),
        "sku_units": sku_units,
        "other_units": units - sku_units,
        "sales_click": sales_click,
        "orders_click": max(1, round(orders * sales_click / sales)),
        "units_click": max(1, round(units * sales_click / sales)),
        "ntb_sales": round(sales * float(rng.uniform(0.1, 0.4)), 2),
        "ntb_orders": max(0, round(orders * float(rng.uniform(0.1, 0.4)))),
        "ntb_units": max(0, round(units * float(rng.uniform(0.1, 0.4)))),
        "dpv": int(clicks * float(rng.uniform(1.0, 2.5))),
        "sales30": round(sales * float(rng.uniform(1.05, 1.3)), 2),
        "orders30": orders + int(rng.integers(0, 3)),
        "store_sales": round(sales * float(rng.uniform(0.2, 0.5)), 2),
        "store_orders": max(0, round(orders * float(rng.uniform(0.2, 0.5)))),
        "pickup_sales": round(sales * float(rng.uniform(0.1, 0.3)), 2),
        "pickup_orders": max(0, round(orders * float(rng.uniform(0.1, 0.3)))),
        "delivery_sales": round(sales * float(rng.uniform(0.05, 0.2)), 2),
        "delivery_orders": max(0, round(orders * float(rng.uniform(0.05, 0.2)))),
    }


# ---------------------------------------------------------------- the shapes

_CTR = _ratio("clicks", "impressions")
_CPC = _ratio("spend", "clicks")
_ROAS = _ratio("sales", "spend")
_ACOS = _ratio("spend", "sales")
_CVR = _ratio("orders", "clicks")
_VCPM = _ratio("spend", "viewable", 1000.0)
_ROAS_CLICK = _ratio("sales_click", "spend")
_ACOS_CLICK = _ratio("spend", "sales_click")


def _c(name: str, kind: Kind, value: str | Callable[[Row], Any]) -> Column:
    return Column(name, kind, value)


_AMAZON_HEAD = (
    _c("Date", "date", "date"),
    _c("Portfolio name", "text", "portfolio"),
    _c("Currency", "text", "currency"),
    _c("Campaign Name", "text", "campaign"),
)
SHAPES: dict[str, Shape] = {
    # Sponsored Products > Advertised product report (daily), 7-day attribution.
    "amazon_sp_console": Shape(
        name="amazon_sp_console",
        retailer="amazon",
        format="csv",
        file="Sponsored_Products_Advertised_product_report.csv",
        columns=(
            *_AMAZON_HEAD,
            _c("Ad Group Name", "text", "ad_group"),
            _c("Advertised SKU", "text", "sku"),
            _c("Advertised ASIN", "text", "product"),
            _c("Impressions", "count", "impressions"),
            _c("Clicks", "count", "clicks"),
            _c("Click-Thru Rate (CTR)", "percent", _CTR),
            _c("Cost Per Click (CPC)", "money", _CPC),
            _c("Spend", "money", "spend"),
            _c("7 Day Total Sales ", "money", "sales"),
            _c("Total Advertising Cost of Sales (ACOS) ", "percent", _ACOS),
            _c("Total Return on Advertising Spend (ROAS)", "ratio", _ROAS),
            _c("7 Day Total Orders (#)", "count", "orders"),
            _c("7 Day Total Units (#)", "count", "units"),
            _c("7 Day Conversion Rate", "percent", _CVR),
            _c("7 Day Advertised SKU Units (#)", "count", "sku_units"),
            _c("7 Day Other SKU Units (#)", "count", "other_units"),
            _c("7 Day Advertised SKU Sales ", "money", "sku_sales"),
            _c("7 Day Other SKU Sales ", "money", "other_sales"),
        ),
        spend="Spend",
        date="Date",
        campaign=("Campaign Name",),
        product="Advertised ASIN",
        id_prefix="B0",
        console=True,
        campaign_names=("SP - Oat Bars - Auto", "SP - Oat Bars - Exact", "SP - Granola - Broad"),
    ),
    # Sponsored Brands > Campaign report (daily), 14-day attribution; no product grain.
    "amazon_sb_console": Shape(
        name="amazon_sb_console",
        retailer="amazon",
        format="csv",
        file="Sponsored_Brands_Campaign_report.csv",
        columns=(
            *_AMAZON_HEAD,
            _c("Cost Type", "text", "cost_type"),
            _c("Impressions", "count", "impressions"),
            _c("Viewable Impressions", "count", "viewable"),
            _c("Clicks", "count", "clicks"),
            _c("Click-Thru Rate (CTR)", "percent", _CTR),
            _c("Spend", "money", "spend"),
            _c("Cost Per Click (CPC)", "money", _CPC),
            _c("Cost per 1,000 viewable impressions (VCPM)", "money", _VCPM),
            _c("Total Advertising Cost of Sales (ACOS) ", "percent", _ACOS),
            _c("Total Return on Advertising Spend (ROAS)", "ratio", _ROAS),
            _c("14 Day Total Sales ", "money", "sales"),
            _c("14 Day Total Orders (#)", "count", "orders"),
            _c("14 Day Total Units (#)", "count", "units"),
            _c("14 Day Conversion Rate", "percent", _CVR),
            _c("Total Advertising Cost of Sales (ACOS) - (Click)", "percent", _ACOS_CLICK),
            _c("Total Return on Advertising Spend (ROAS) - (Click)", "ratio", _ROAS_CLICK),
            _c("14 Day Total Sales - (Click)", "money", "sales_click"),
            _c("14 Day Total Orders (#) - (Click)", "count", "orders_click"),
            _c("14 Day Total Units (#) - (Click)", "count", "units_click"),
        ),
        spend="Spend",
        date="Date",
        campaign=("Campaign Name",),
        product=None,
        console=True,
        campaign_names=("SB - Acme Brand Store", "SB - Oat Bars Video", "SB - Granola Collection"),
    ),
    # Sponsored Display > Advertised product report (daily), 14-day attribution (views + clicks).
    "amazon_sd_console": Shape(
        name="amazon_sd_console",
        retailer="amazon",
        format="csv",
        file="Sponsored_Display_Advertised_product_report.csv",
        columns=(
            *_AMAZON_HEAD,
            _c("Cost Type", "text", "cost_type"),
            _c("Ad Group Name", "text", "ad_group"),
            _c("Bid Optimization", "text", "bid_optimization"),
            _c("Advertised SKU", "text", "sku"),
            _c("Advertised ASIN", "text", "product"),
            _c("Impressions", "count", "impressions"),
            _c("Viewable Impressions", "count", "viewable"),
            _c("Clicks", "count", "clicks"),
            _c("Click-Thru Rate (CTR)", "percent", _CTR),
            _c("14 Day Detail Page Views (DPV)", "count", "dpv"),
            _c("Spend", "money", "spend"),
            _c("Cost Per Click (CPC)", "money", _CPC),
            _c("Cost per 1,000 viewable impressions (VCPM)", "money", _VCPM),
            _c("Total Advertising Cost of Sales (ACOS) ", "percent", _ACOS),
            _c("Total Return on Advertising Spend (ROAS)", "ratio", _ROAS),
            _c("14 Day Total Orders (#)", "count", "orders"),
            _c("14 Day Total Units (#)", "count", "units"),
            _c("14 Day Total Sales ", "money", "sales"),
            _c("14 Day New-to-brand Orders (#)", "count", "ntb_orders"),
            _c("14 Day New-to-brand Sales", "money", "ntb_sales"),
            _c("14 Day New-to-brand Units (#)", "count", "ntb_units"),
            _c("Total Advertising Cost of Sales (ACOS) - (Click)", "percent", _ACOS_CLICK),
            _c("Total Return on Advertising Spend (ROAS) - (Click)", "ratio", _ROAS_CLICK),
            _c("14 Day Total Orders (#) - (Click)", "count", "orders_click"),
            _c("14 Day Total Units (#) - (Click)", "count", "units_click"),
            _c("14 Day Total Sales - (Click)", "money", "sales_click"),
        ),
        spend="Spend",
        date="Date",
        campaign=("Campaign Name",),
        product="Advertised ASIN",
        id_prefix="B0",
        console=True,
        campaign_names=("SD - Oat Bars - Views Remarketing", "SD - Granola - Contextual"),
    ),
    # Amazon Ads API v3, reportTypeId spAdvertisedProduct, timeUnit DAILY, format GZIP_JSON.
    "amazon_api_v3_sp": Shape(
        name="amazon_api_v3_sp",
        retailer="amazon",
        format="json",
        file="spAdvertisedProduct_daily.json.gz",
        columns=(
            _c("date", "date", "date"),
            _c("campaignName", "text", "campaign"),
            _c("campaignId", "count", "campaign_id"),
            _c("adGroupName", "text", "ad_group"),
            _c("adGroupId", "count", "ad_group_id"),
            _c("adId", "count", "ad_id"),
            _c("advertisedAsin", "text", "product"),
            _c("advertisedSku", "text", "sku"),
            _c("campaignBudgetCurrencyCode", "text", "currency"),
            _c("impressions", "count", "impressions"),
            _c("clicks", "count", "clicks"),
            _c("clickThroughRate", "ratio", _CTR),
            _c("costPerClick", "money", _CPC),
            _c("cost", "money", "spend"),
            _c("sales7d", "money", "sales"),
            _c("purchases7d", "count", "orders"),
            _c("unitsSoldClicks7d", "count", "units"),
            _c("acosClicks7d", "ratio", _ACOS),
            _c("roasClicks7d", "ratio", _ROAS),
        ),
        spend="cost",
        date="date",
        campaign=("campaignId", "campaignName"),
        product="advertisedAsin",
        id_prefix="B0",
        campaign_names=("SP - Oat Bars - Auto", "SP - Oat Bars - Exact", "SP - Granola - Broad"),
    ),
    # Walmart Connect Sponsored Search snapshot, reportType adItem, 14-day attribution.
    "walmart_search": Shape(
        name="walmart_search",
        retailer="walmart",
        format="csv",
        file="walmart_sponsored_search_adItem.csv",
        columns=(
            _c("date", "date", "date"),
            _c("campaignId", "text", "campaign_id"),
            _c("adGroupId", "text", "ad_group_id"),
            _c("itemId", "text", "product"),
            _c("numAdsShown", "count", "impressions"),
            _c("numAdsClicks", "count", "clicks"),
            _c("adSpend", "money", "spend"),
            _c("attributedOrders14days", "count", "orders"),
            _c("attributedSales14days", "money", "sales"),
            _c("advertisedSkuSales14days", "money", "sku_sales"),
            _c("otherSkuSales14days", "money", "other_sales"),
            _c("unitsSold14days", "count", "units"),
            _c("advertisedSkuUnits14days", "count", "sku_units"),
            _c("otherSkuUnits14days", "count", "other_units"),
        ),
        spend="adSpend",
        date="date",
        campaign=("campaignId",),
        product="itemId",
        id_prefix="",
        campaign_names=("Oat Bars Auto", "Oat Bars Manual", "Granola Auto"),
    ),
    # Walmart Connect Display snapshot, reportType campaign; no product grain.
    "walmart_display": Shape(
        name="walmart_display",
        retailer="walmart",
        format="csv",
        file="walmart_display_campaign.csv",
        columns=(
            _c("campaignExtId", "text", "campaign_id"),
            _c("campaignName", "text", "campaign"),
            _c("mediaType", "text", "media_type"),
            _c("brand", "text", "brand"),
            _c("category", "text", "category"),
            _c("date", "date", "date"),
            _c("numAdsShown", "count", "impressions"),
            _c("numAdsClicks", "count", "clicks"),
            _c("adSpend", "money", "spend"),
            _c("attributedSales14days", "money", "sales"),
            _c("attributedOrders14days", "count", "orders"),
            _c("storeAttributedSales14days", "money", "store_sales"),
            _c("storeAttributedOrders14days", "count", "store_orders"),
            _c("pickupAttributedSales14days", "money", "pickup_sales"),
            _c("pickupAttributedOrders14days", "count", "pickup_orders"),
            _c("deliveryAttributedSales14days", "money", "delivery_sales"),
            _c("deliveryAttributedOrders14days", "count", "delivery_orders"),
            _c("attributedSales30days", "money", "sales30"),
            _c("attributedOrders30days", "count", "orders30"),
        ),
        spend="adSpend",
        date="date",
        campaign=("campaignExtId", "campaignName"),
        product=None,
        campaign_names=("Acme Onsite Q4", "Acme Granola Launch"),
    ),
    # Criteo Retail Media API, campaign report (dimensions + metrics), format csv.
    "criteo_api": Shape(
        name="criteo_api",
        retailer="criteo",
        format="csv",
        file="criteo_campaign_product_report.csv",
        columns=(
            _c("date", "date", "date"),
            _c("campaignId", "text", "campaign_id"),
            _c("campaignName", "text", "campaign"),
            _c("lineItemId", "text", "ad_group_id"),
            _c("lineItemName", "text", "ad_group"),
            _c("retailerName", "text", "retailer_name"),
            _c("advProductId", "text", "product"),
            _c("advProductName", "text", "product_name"),
            _c("impressions", "count", "impressions"),
            _c("clicks", "count", "clicks"),
            _c("spend", "money", "spend"),
            _c("attributedSales", "money", "sales"),
            _c("attributedUnits", "count", "units"),
            _c("attributedOrders", "count", "orders"),
            _c("ctr", "ratio", _CTR),
            _c("cpc", "money", _CPC),
            _c("roas", "ratio", _ROAS),
        ),
        spend="spend",
        date="date",
        campaign=("campaignId", "campaignName"),
        product="advProductId",
        id_prefix="SKU-",
        quote_all=False,
        campaign_names=("Acme Sponsored Products", "Acme Granola Push"),
    ),
}
PRODUCT_NAMES = ("Acme Oat Bars 12ct", "Acme Granola 16oz", "Acme Protein Bites", "Acme Trail Mix 8ct")


def _retailer_ids(rng: np.random.Generator, prefix: str, count: int) -> list[str]:
    """Distinct ids as the network writes them: ASINs (B0 + 8), SKU-nnnnn, or 9-digit item ids."""
    found: dict[str, None] = {}
    alphabet = list("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789")
    while len(found) < count:
        if prefix == "B0":
            candidate = "B0" + "".join(rng.choice(alphabet, size=8))
        elif prefix == "SKU-":
            candidate = f"SKU-{int(rng.integers(10_000, 100_000))}"
        else:
            candidate = str(int(rng.integers(100_000_000, 1_000_000_000)))
        found[candidate] = None
    return list(found)


def _good_rows(
    rng: np.random.Generator, shape: Shape, start: dt.date, days: int, ids: list[str]
) -> list[Row]:
    """One row per day × campaign (× product when the report has product grain), as the report
    lists them: sorted by day."""
    rows = []
    products = range(len(ids)) if shape.product is not None else [None]
    for day in range(days):
        for index, campaign in enumerate(shape.campaign_names):
            for product in products:
                row = _base_row(rng)
                row.update(
                    date=start + dt.timedelta(days=day),
                    campaign=campaign,
                    campaign_id=str(150_000_000_000_000 + 7919 * (index + 1)),
                    ad_group=f"{campaign.split(' - ')[-1]} ad group",
                    ad_group_id=str(70_000_000_000_000 + 104_729 * (index + 1)),
                    ad_id=str(90_000_000_000_000 + 1000 * (index + 1) + (product or 0)),
                    product=None if product is None else ids[product],
                    sku=None if product is None else f"ACME-{product + 1:03d}",
                    product_name=None if product is None else PRODUCT_NAMES[product % len(PRODUCT_NAMES)],
                    portfolio="Not grouped",
                    currency="USD",
                    cost_type="CPC" if shape.name != "amazon_sd_console" else "vCPM",
                    bid_optimization="Optimize for page visits",
                    media_type="onsite",
                    brand="Acme",
                    category="Breakfast & Cereal",
                    retailer_name="Example Retailer",
                )
                rows.append(row)
    return rows


# ---------------------------------------------------------------- bad rows


def _bad_date(shape: Shape) -> str:
    return "Nov 31, 2026" if shape.console else "2026-11-31"


def _bad_money(shape: Shape) -> str:
    return "$1,23.45" if shape.console else "12x5"


def _plant(
    rng: np.random.Generator, shape: Shape, good: list[Row], unknown_id: str | None
) -> tuple[list[Row], dict[int, str]]:
    """All rows in file order (good ones and one planted row per kind) and data row → reason.

    A planted row is a copy of a good row with one defect; a duplicate always comes after its
    original. ``_cells`` holds cell texts that replace what the columns would write.
    """
    kinds = [k for k in BAD_ROW_KINDS if k != "ragged_row" or shape.format == "csv"]
    if shape.product is None:
        kinds.remove("unknown_product")
    sources = rng.choice(len(good), size=len(kinds), replace=False)
    keyed: list[tuple[float, Row, str | None]] = [(float(i), row, None) for i, row in enumerate(good)]
    for kind, source in zip(kinds, sources, strict=True):
        row = dict(good[int(source)])
        cells: dict[str, Any] = {}
        if kind == "negative_value":
            row["spend"] = -12.5
        elif kind == "clicks_exceed_impressions":
            row["clicks"] = row["impressions"] + 5
        elif kind == "unparseable_date":
            cells[shape.date] = _bad_date(shape)
        elif kind == "unparseable_number":
            cells[shape.spend] = _bad_money(shape)
        elif kind == "missing_required":
            cells.update(dict.fromkeys(shape.campaign, None))
        elif kind == "unknown_product":
            row["product"] = unknown_id
        elif kind == "ragged_row":
            row["_extra"] = "unexpected"
        row["_cells"] = cells
        key = float(source) + 0.5 if kind == "duplicate_event" else float(rng.uniform(0, len(good)))
        keyed.append((key, row, kind))
    keyed.sort(key=lambda item: item[0])
    planted = {index: kind for index, (_, _, kind) in enumerate(keyed) if kind is not None}
    return [row for _, row, _ in keyed], planted


# ---------------------------------------------------------------- writers


def _console_text(kind: Kind, value: Any) -> str:
    """A cell as the Amazon Ads console writes it."""
    if value is None:
        return ""
    if kind == "date":
        return value.strftime("%b %d, %Y")
    if kind == "count":
        return f"{int(value):,}"
    if kind == "money":
        return f"(${abs(value):,.2f})" if value < 0 else f"${value:,.2f}"
    if kind == "percent":
        return f"{100 * value:.2f}%"
    if kind == "ratio":
        return f"{value:.2f}"
    return str(value)


def _plain_text(kind: Kind, value: Any) -> str:
    """A cell as an API or snapshot CSV writes it: ISO dates, plain numbers."""
    if value is None:
        return ""
    if kind == "date":
        return value.isoformat()
    if kind == "count":
        return str(int(value))
    if kind == "money":
        return f"{value:.2f}"
    if kind in ("percent", "ratio"):
        return f"{value:.4f}"
    return str(value)


def _cell(shape: Shape, column: Column, row: Row, text: Callable[[Kind, Any], Any]) -> Any:
    cells = row.get("_cells", {})
    if column.name in cells:
        return cells[column.name]
    return text(column.kind, column.of(row))


def _write_csv(shape: Shape, rows: list[Row], path: Path) -> None:
    render = _console_text if shape.console else _plain_text
    buffer = io.StringIO()
    writer = csv.writer(
        buffer,
        quoting=csv.QUOTE_ALL if shape.quote_all else csv.QUOTE_MINIMAL,
        lineterminator="\r\n" if shape.console else "\n",
    )
    writer.writerow([c.name for c in shape.columns])
    for row in rows:
        cells = [_cell(shape, c, row, render) or "" for c in shape.columns]
        writer.writerow([*cells, row["_extra"]] if "_extra" in row else cells)
    data = buffer.getvalue().encode("utf-8")
    path.write_bytes(b"\xef\xbb\xbf" + data if shape.console else data)


def _json_value(kind: Kind, value: Any) -> Any:
    """A value as the Amazon Ads API v3 writes it: JSON numbers, ISO date text."""
    if value is None:
        return None
    if kind == "date":
        return value.isoformat()
    if kind == "count":
        return int(value)
    if kind == "money":
        return round(float(value), 2)
    if kind in ("percent", "ratio"):
        return round(float(value), 4)
    return value


def _write_json_gz(shape: Shape, rows: list[Row], path: Path) -> None:
    records = [{c.name: _cell(shape, c, row, _json_value) for c in shape.columns} for row in rows]
    path.write_bytes(gzip.compress(json.dumps(records).encode("utf-8"), mtime=0))


def _write_xlsx(shape: Shape, rows: list[Row], path: Path) -> None:
    """The console's workbook: counts and amounts as numbers (amounts in $ format, rates as
    percent-formatted fractions), dates and names as the text the console shows."""
    try:
        import xlsxwriter
    except ImportError as exc:  # a dev dependency; the CSV shapes need nothing
        raise RuntimeError(
            "writing .xlsx examples needs the xlsxwriter package (pip install xlsxwriter)"
        ) from exc
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet(shape.file.removesuffix(".csv")[:31])
    formats = {
        "money": book.add_format({"num_format": "$#,##0.00"}),
        "percent": book.add_format({"num_format": "0.00%"}),
        "ratio": book.add_format({"num_format": "0.00"}),
        "count": book.add_format({"num_format": "#,##0"}),
    }
    sheet.write_row(0, 0, [c.name for c in shape.columns])
    for r, row in enumerate(rows, start=1):
        for c, column in enumerate(shape.columns):
            cells = row.get("_cells", {})
            if column.name in cells:
                if cells[column.name] is not None:
                    sheet.write_string(r, c, cells[column.name])
                continue
            value = column.of(row)
            if value is None:
                continue
            if column.kind == "date":
                sheet.write_string(r, c, _console_text("date", value))
            elif column.kind in formats:
                sheet.write_number(r, c, float(value), formats[column.kind])
            else:
                sheet.write_string(r, c, str(value))
    book.close()


def _totals(good: list[Row]) -> dict[str, float]:
    return {
        "impressions": float(sum(r["impressions"] for r in good)),
        "clicks": float(sum(r["clicks"] for r in good)),
        "spend": round(sum(r["spend"] for r in good), 2),
        "attributed_sales": round(sum(r["sales"] for r in good), 2),
    }


def _truth(
    shape: Shape, fmt: Literal["csv", "xlsx", "json"], path: Path, rows: list[Row], planted: dict[int, str]
) -> ExportTruth:
    good = [row for index, row in enumerate(rows) if index not in planted]
    counts: dict[str, int] = {}
    for reason in planted.values():
        counts[reason] = counts.get(reason, 0) + 1
    unknown = next((rows[i]["product"] for i, k in planted.items() if k == "unknown_product"), None)
    return ExportTruth(
        shape=shape.name,
        retailer=shape.retailer,
        format=fmt,
        file=str(path),
        crosswalk=str(path.parent / f"{shape.retailer}_crosswalk.csv") if shape.product else None,
        rows_written=len(rows),
        rows_accepted=len(good),
        quarantine=dict(sorted(counts.items())),
        planted=planted,
        totals=_totals(good),
        unknown_product=unknown,
    )


def generate_network_exports(
    out_dir: Path | str,
    shapes: Sequence[str] = NETWORK_SHAPES,
    *,
    seed: int = 0,
    days: int = 28,
    products: int = 3,
    start: dt.date = dt.date(2026, 11, 1),
    xlsx: bool = True,
) -> dict[str, ExportTruth]:
    """Write each shape's export (and, for console reports, its .xlsx twin), each retailer's
    crosswalk of its ids to GTIN-14 (``<retailer>_crosswalk.csv``, the name a proposal expects),
    and ``network_truth.json``; returns the truths keyed ``<shape>.<format>``. Same seed, same bytes.

    The files never clash with ``generate_exports``' (other names), so both can share a folder.
    """
    unknown = [s for s in shapes if s not in SHAPES]
    if unknown:
        raise ValueError(f"unknown report shape(s) {unknown}; the generator writes {', '.join(SHAPES)}")
    if days < 1 or products < 1:
        raise ValueError("days and products must each be at least 1")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    gtins = _products(np.random.default_rng([seed, 7]), products)
    prefixes = {s.retailer: s.id_prefix for s in SHAPES.values() if s.product is not None}
    ids = {
        retailer: _retailer_ids(np.random.default_rng([seed, 11, index]), prefix, products + 1)
        for index, (retailer, prefix) in enumerate(sorted(prefixes.items()))
    }
    written_crosswalks: set[str] = set()
    truths: dict[str, ExportTruth] = {}
    for index, name in enumerate(NETWORK_SHAPES):
        if name not in shapes:
            continue
        shape = SHAPES[name]
        rng = np.random.default_rng([seed, 23, index])
        known, unknown_id = (
            (ids[shape.retailer][:-1], ids[shape.retailer][-1]) if shape.product else ([], None)
        )
        if shape.product is not None and shape.retailer not in written_crosswalks:
            key = "asin" if shape.id_prefix == "B0" else ("sku" if shape.id_prefix == "SKU-" else "item_id")
            lines = [f"{key},gtin14"] + [f"{i},{g}" for i, g in zip(known, gtins, strict=True)]
            (out / f"{shape.retailer}_crosswalk.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
            written_crosswalks.add(shape.retailer)
        good = _good_rows(rng, shape, start, days, known)
        rows, planted = _plant(rng, shape, good, unknown_id)
        path = out / shape.file
        if shape.format == "json":
            _write_json_gz(shape, rows, path)
            truths[f"{name}.json"] = _truth(shape, "json", path, rows, planted)
            continue
        _write_csv(shape, rows, path)
        truths[f"{name}.csv"] = _truth(shape, "csv", path, rows, planted)
        if xlsx and name in XLSX_SHAPES:
            kept = [i for i, row in enumerate(rows) if "_extra" not in row]  # a workbook has no ragged row
            sheet_rows = [rows[i] for i in kept]
            sheet_planted = {
                new: planted[old]
                for new, old in enumerate(kept)
                if old in planted and planted[old] != "ragged_row"
            }
            workbook = path.with_suffix(".xlsx")
            _write_xlsx(shape, sheet_rows, workbook)
            truths[f"{name}.xlsx"] = _truth(shape, "xlsx", workbook, sheet_rows, sheet_planted)
    (out / "network_truth.json").write_text(
        json.dumps({key: truth.model_dump(mode="json") for key, truth in truths.items()}, indent=2),
        encoding="utf-8",
    )
    return truths
