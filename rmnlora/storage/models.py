"""Tables of rmnlora. Tenant-owned rows inherit :class:`TenantOwned`, which the session filter uses.

Strings that are indexed stay short (VARCHAR 255 on MariaDB); free text is ``Text``; structured
payloads (mappings, constraints, risks) are JSON so they round-trip on all three databases.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from rmnlora.storage.crypto import EncryptedString


def utcnow() -> dt.datetime:
    """Aware UTC; SQLModel stores it as UTC on all three databases and refuses naive datetimes."""
    return dt.datetime.now(dt.UTC)


def _json(default: Any = None) -> Any:
    factory = (lambda: dict(default)) if isinstance(default, dict) else (lambda: list(default or []))
    return Field(default_factory=factory, sa_column=Column(JSON, nullable=False))


class TenantOwned(SQLModel):
    """Mixin: rows a tenant owns. Tenant-scoped sessions only ever see their own."""

    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=64)


class Tenant(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=255)
    api_key_hash: str | None = Field(default=None, max_length=255, description="Only a hash is stored.")
    created_at: dt.datetime = Field(default_factory=utcnow)


class Retailer(SQLModel, table=True):
    """A retail media network; shared by all tenants (its mapping describes its export format)."""

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=255)
    column_mapping: dict[str, Any] = _json({})
    api_endpoint: str | None = Field(default=None, max_length=512)
    clean_room_api_key: str | None = Field(default=None, sa_column=Column(EncryptedString, nullable=True))
    currency: str = Field(default="USD", max_length=3)
    created_at: dt.datetime = Field(default_factory=utcnow)


class Brand(TenantOwned, table=True):
    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=255)
    voice: dict[str, Any] = _json({})
    created_at: dt.datetime = Field(default_factory=utcnow)


class Campaign(TenantOwned, table=True):
    id: int | None = Field(default=None, primary_key=True)
    brand_id: str = Field(foreign_key="brand.id", index=True, max_length=64)
    name: str = Field(max_length=255)
    budget: float = Field(ge=0)
    currency: str = Field(default="USD", max_length=3)
    objective: str = Field(default="attributed_sales", max_length=32)
    constraints: dict[str, Any] = _json({})
    flight_start: dt.date
    flight_end: dt.date
    status: str = Field(default="draft", max_length=32)
    created_at: dt.datetime = Field(default_factory=utcnow)


class SKUCatalog(TenantOwned, table=True):
    __table_args__ = (UniqueConstraint("tenant_id", "gtin14", name="uq_sku_tenant_gtin"),)

    id: int | None = Field(default=None, primary_key=True)
    brand_id: str = Field(foreign_key="brand.id", index=True, max_length=64)
    gtin14: str = Field(index=True, min_length=14, max_length=14)
    upc_a: str | None = Field(default=None, max_length=12)
    ean13: str | None = Field(default=None, max_length=13)
    title: str = Field(default="", max_length=512)
    category: str | None = Field(default=None, max_length=255)
    retailer_skus: dict[str, str] = _json({})


class AudienceSegment(TenantOwned, table=True):
    id: int | None = Field(default=None, primary_key=True)
    brand_id: str = Field(foreign_key="brand.id", index=True, max_length=64)
    retailer_id: str | None = Field(default=None, foreign_key="retailer.id", max_length=64)
    name: str = Field(max_length=255)
    definition: dict[str, Any] = _json({})
    reach_estimate: int | None = Field(default=None, ge=0)


class PerformanceMetric(TenantOwned, table=True):
    """Daily performance per retailer, campaign, placement, market and product (from RMIS)."""

    __table_args__ = (
        UniqueConstraint(
            "tenant_id",
            "retailer_id",
            "campaign_ref",
            "placement",
            "market",
            "gtin14",
            "date",
            name="uq_perf_grain",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    retailer_id: str = Field(foreign_key="retailer.id", index=True, max_length=64)
    campaign_ref: str = Field(max_length=128, description="The retailer's own campaign id.")
    placement: str = Field(default="unknown", max_length=128)
    market: str = Field(default="all", max_length=128)
    gtin14: str = Field(max_length=14)
    date: dt.date = Field(index=True)
    impressions: int = Field(default=0, ge=0)
    clicks: int = Field(default=0, ge=0)
    spend: float = Field(default=0.0, ge=0)
    attributed_sales: float = Field(default=0.0, ge=0)
    units: int = Field(default=0, ge=0)
    currency: str = Field(default="USD", max_length=3)


class Feedback(TenantOwned, table=True):
    """One piece of human feedback: thumbs, rating, correction, or a preference pair."""

    id: int | None = Field(default=None, primary_key=True)
    brand_id: str = Field(foreign_key="brand.id", index=True, max_length=64)
    task: str = Field(index=True, max_length=64)
    feedback_type: str = Field(index=True, max_length=32)
    prompt: str = Field(sa_column=Column(Text, nullable=False))
    response: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    chosen: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    rejected: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    correction: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    thumbs_up: bool | None = None
    rating: int | None = Field(default=None, ge=1, le=5)
    adapter: str | None = Field(default=None, max_length=255)
    user: str | None = Field(default=None, max_length=255)
    idempotency_key: str | None = Field(default=None, max_length=128, unique=True)
    created_at: dt.datetime = Field(default_factory=utcnow, index=True)


class ReflectionLog(TenantOwned, table=True):
    """Why a step of a plan was allowed (or not) to proceed."""

    id: int | None = Field(default=None, primary_key=True)
    run_id: str | None = Field(default=None, index=True, max_length=64)
    session_id: str = Field(index=True, max_length=128)
    phase: str = Field(max_length=32)
    decision: str = Field(max_length=16)
    confidence: float
    threshold: float
    rationale: str = Field(default="", sa_column=Column(Text, nullable=False))
    signals: dict[str, Any] = _json({})
    risks: list[dict[str, Any]] = _json([])
    biases: list[dict[str, Any]] = _json([])
    alternate_frames: list[dict[str, Any]] = _json([])
    memory_refs: list[dict[str, Any]] = _json([])
    created_at: dt.datetime = Field(default_factory=utcnow)


class PlanRun(TenantOwned, table=True):
    id: str = Field(primary_key=True, max_length=64)
    thread_id: str = Field(index=True, max_length=128)
    campaign_id: int | None = Field(default=None, foreign_key="campaign.id")
    brief_name: str = Field(max_length=255)
    status: str = Field(default="running", max_length=32)
    brief: dict[str, Any] = _json({})
    result: dict[str, Any] = _json({})
    report_path: str | None = Field(default=None, max_length=1024)
    started_at: dt.datetime = Field(default_factory=utcnow)
    finished_at: dt.datetime | None = None


class AdapterRecord(SQLModel, table=True):
    """A LoRA adapter on disk. ``owner_tenant_id`` None: shared (retailer and task adapters)."""

    __table_args__ = (UniqueConstraint("kind", "name", "owner_tenant_id", name="uq_adapter_identity"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(index=True, max_length=16)
    name: str = Field(index=True, max_length=128)
    owner_tenant_id: str | None = Field(default=None, foreign_key="tenant.id", index=True, max_length=64)
    base_model: str = Field(max_length=512)
    rank: int = Field(ge=1)
    path: str = Field(max_length=1024)
    metrics: dict[str, Any] = _json({})
    # The version served now (an AdapterVersion of this adapter); None before versions existed.
    version: int | None = Field(default=None, ge=1)
    created_at: dt.datetime = Field(default_factory=utcnow)


class AdapterVersion(SQLModel, table=True):
    """One trained version of an adapter: its files, where it came from, what it measured.

    ``status``: ``promoted`` (served now; one per adapter), ``candidate`` (trained, not decided),
    ``refused`` (evaluated and kept out, ``reason`` says why) or ``retired`` (served before).
    The data window is the feedback ids it learned from, ``(feedback_after, feedback_through]``.
    """

    __table_args__ = (UniqueConstraint("adapter_id", "version", name="uq_adapter_version"),)

    id: int | None = Field(default=None, primary_key=True)
    adapter_id: int = Field(foreign_key="adapterrecord.id", index=True)
    version: int = Field(ge=1)
    parent_version: int | None = Field(default=None, ge=1)
    status: str = Field(default="candidate", max_length=16)
    path: str = Field(max_length=1024)
    rank: int = Field(ge=1)
    feedback_after: int | None = None
    feedback_through: int | None = None
    rows: dict[str, Any] = _json({})
    metrics: dict[str, Any] = _json({})
    reason: str = Field(default="", sa_column=Column(Text, nullable=False))
    created_at: dt.datetime = Field(default_factory=utcnow)


class AdapterEvent(SQLModel, table=True):
    """The audit trail of what the runtime serves: every promotion, rollback and refusal."""

    id: int | None = Field(default=None, primary_key=True)
    adapter_id: int = Field(foreign_key="adapterrecord.id", index=True)
    action: str = Field(max_length=16)
    from_version: int | None = None
    to_version: int | None = None
    actor: str = Field(default="", max_length=255)
    reason: str = Field(default="", sa_column=Column(Text, nullable=False))
    created_at: dt.datetime = Field(default_factory=utcnow, index=True)


class ImprovementRun(TenantOwned, table=True):
    """One ``rmn improve`` run for a brand: what it read, what it trained, what it decided and why."""

    id: int | None = Field(default=None, primary_key=True)
    brand_id: str = Field(foreign_key="brand.id", index=True, max_length=64)
    task: str = Field(default="creative", max_length=64)
    trigger: str = Field(default="cli", max_length=32)
    status: str = Field(default="running", index=True, max_length=32)
    current_version: int | None = None
    candidate_version: int | None = None
    progress: float = 0.0
    stage: str = Field(default="", max_length=255)
    rows: dict[str, Any] = _json({})
    metrics: dict[str, Any] = _json({})
    reason: str = Field(default="", sa_column=Column(Text, nullable=False))
    started_at: dt.datetime = Field(default_factory=utcnow)
    finished_at: dt.datetime | None = None


class RunLock(SQLModel, table=True):
    """A held lock: its key is the primary key, so a second holder's insert fails in the database."""

    key: str = Field(primary_key=True, max_length=255)
    holder: str = Field(max_length=255)
    acquired_at: dt.datetime = Field(default_factory=utcnow)


TENANT_OWNED_MODELS: tuple[type[TenantOwned], ...] = (
    Brand,
    Campaign,
    SKUCatalog,
    AudienceSegment,
    PerformanceMetric,
    Feedback,
    ReflectionLog,
    PlanRun,
    ImprovementRun,
)
