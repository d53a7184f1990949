"""Briefs and example data for planner-graph tests: a clean scenario and planted problems."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import polars as pl
import yaml
from sqlmodel import select

from rmnlora.config import Settings, load_settings
from rmnlora.datagen.retail_exports import generate_exports
from rmnlora.storage.database import Database
from rmnlora.storage.models import ReflectionLog

WALMART = "walmart_campaign_performance.csv"
AMAZON = "amazon_ads_report.jsonl"
KROGER = "kroger_kpm_export.parquet"

BASE_BRIEF: dict[str, Any] = {
    "name": "acme-test",
    "brand": "acme-snacks",
    "tenant": "acme",
    "budget": 400000,
    "currency": "USD",
    "objective": "attributed_sales",
    "flight": {"start": "2025-05-12", "end": "2025-06-08"},
    "retailers": [
        {
            "name": "walmart",
            "data": [WALMART],
            "min_spend": 60000,
            "current_spend": 131000,
            "formats": ["sponsored_brands"],
        },
        {
            "name": "amazon",
            "data": [AMAZON],
            "min_spend": 40000,
            "current_spend": 122000,
            "formats": ["sponsored_brands"],
        },
        {
            "name": "kroger",
            "data": [KROGER],
            "max_share": 0.6,
            "current_spend": 175000,
            "formats": ["sponsored_product"],
        },
    ],
    "constraints": {"roas_floor": 3.0},
    "creative": {
        "product": "Acme Crunch granola bars",
        "key_message": "Whole-grain crunch for busy mornings",
        "claims": ["made with whole grain oats"],
        "candidates": 2,
    },
    "measurement": {"expected_lift": 0.08},
}


def make_exports(folder: Path) -> Path:
    """The generator's example exports (120 days, 12 markets), as the demo uses them."""
    generate_exports(folder, seed=0)
    return folder


def write_brief(folder: Path, data_dir: Path, tenant: str, **changes: Any) -> Path:
    """A brief YAML in ``folder`` pointing at ``data_dir``; ``changes`` replace top-level keys."""
    brief = copy.deepcopy(BASE_BRIEF)
    brief["tenant"] = tenant
    brief["name"] = f"acme-{tenant}"
    brief.update(changes)
    for retailer in brief["retailers"]:
        retailer["data"] = [str(data_dir / name) for name in retailer["data"]]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"brief-{tenant}.yaml"
    path.write_text(yaml.safe_dump(brief, sort_keys=False), encoding="utf-8")
    return path


def dirty_copy(data_dir: Path, target: Path, share: float = 0.6) -> Path:
    """The exports with ``share`` of Walmart rows given an impossible UPC, and Amazon/Kroger alike."""
    target.mkdir(parents=True, exist_ok=True)
    for name in (AMAZON, KROGER, "amazon_asin_crosswalk.csv"):
        (target / name).write_bytes((data_dir / name).read_bytes())
    walmart = pl.read_csv(data_dir / WALMART, separator=";", infer_schema=False)
    broken = pl.int_range(0, walmart.height, eager=True) % 10 < int(share * 10)
    walmart = walmart.with_columns(
        pl.when(broken).then(pl.lit("123")).otherwise(pl.col("Item UPC")).alias("Item UPC")
    )
    walmart.write_csv(target / WALMART, separator=";")
    return target


def planner_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Embedded defaults in a temp folder; the model is off (creative writes labelled template copy)."""
    options: dict[str, Any] = {"data_dir": data_dir, "model": {"enabled": False}}
    options.update(overrides)
    return load_settings(**options)


def reflection_logs(database: Database, tenant: str, run_id: str) -> list[ReflectionLog]:
    """The gate decisions a run wrote to the audit table, read as its tenant."""
    with database.get_session(tenant_id=tenant) as session:
        return list(session.exec(select(ReflectionLog).where(ReflectionLog.run_id == run_id)).all())
