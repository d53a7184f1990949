"""Adapter registry: PEFT adapter folders on disk plus one AdapterRecord row each.

Why both: the files are what PEFT loads; the row says who may use them. Retailer and task
adapters are shared (``owner_tenant_id`` None) unless a tenant registers its own; brand adapters
always belong to one tenant. ``resolve`` turns a request's (retailer, brand, task) into the
adapters a tenant may use, refusing another tenant's brand with ``AdapterAccessError``.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from sqlmodel import col, select

from rmnlora.adapters.identity import (
    NAME_PATTERN,
    SHARED_OWNER,
    AdapterError,
    AdapterKind,
    check_kind,
    find_record,
    read_lora_rank,
)
from rmnlora.adapters.versions import AdapterVersions
from rmnlora.storage.database import Database
from rmnlora.storage.models import AdapterEvent, AdapterRecord, AdapterVersion, Brand


def not_your_brand(tenant_id: str, name: str) -> str:
    """The one refusal message for a brand that is not the tenant's, whoever else has it."""
    return f"brand {name!r} is not one of tenant {tenant_id!r}'s brands"


class AdapterAccessError(PermissionError):
    """The tenant may not use this adapter (another tenant's brand)."""


@dataclass(frozen=True)
class AdapterInfo:
    id: int
    kind: AdapterKind
    name: str
    owner_tenant_id: str | None
    base_model: str
    rank: int
    path: str
    metrics: dict[str, Any] = field(default_factory=dict)
    version: int | None = None

    @property
    def label(self) -> str:
        """``acme-snacks@3`` for a versioned adapter, its bare name otherwise."""
        return f"{self.name}@{self.version}" if self.version else self.name

    @property
    def shared(self) -> bool:
        return self.owner_tenant_id is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "name": self.name,
            "owner_tenant_id": self.owner_tenant_id,
            "shared": self.shared,
            "base_model": self.base_model,
            "rank": self.rank,
            "path": self.path,
            "metrics": self.metrics,
            "version": self.version,
        }


@dataclass(frozen=True)
class Resolution:
    """The adapters found for one request; ``missing`` names the kinds asked for but not found."""

    components: dict[AdapterKind, AdapterInfo]
    missing: tuple[AdapterKind, ...]
    requested: dict[AdapterKind, str | None]
    weights: dict[AdapterKind, float] = field(default_factory=dict)  # per-request, over the configured


def _info(record: AdapterRecord) -> AdapterInfo:
    assert record.id is not None
    return AdapterInfo(
        id=record.id,
        kind=cast(AdapterKind, record.kind),
        name=record.name,
        owner_tenant_id=record.owner_tenant_id,
        base_model=record.base_model,
        rank=record.rank,
        path=record.path,
        metrics=dict(record.metrics or {}),
        version=record.version,
    )


class AdapterRegistry:
    """List, register, delete and resolve adapters; files live under ``root/<kind>/<owner>/<name>``."""

    def __init__(self, database: Database, root: Path) -> None:
        self.database = database
        self.root = Path(root)

    def register(
        self,
        kind: str,
        name: str,
        source: Path,
        *,
        owner_tenant_id: str | None = None,
        metrics: Mapping[str, Any] | None = None,
        replace: bool = False,
    ) -> AdapterInfo:
        """Copy a PEFT LoRA folder into the registry and record it; the rank is read from its config."""
        adapter_kind = check_kind(kind)
        if not NAME_PATTERN.match(name):
            raise AdapterError(f"adapter name {name!r} must be 1-128 letters, digits, '_', '-' or '.'")
        if adapter_kind == "brand" and owner_tenant_id is None:
            raise AdapterError("brand adapters belong to one tenant: give owner_tenant_id")
        config, rank = read_lora_rank(Path(source))
        target = self.root / adapter_kind / (owner_tenant_id or SHARED_OWNER) / name
        with self.database.get_session() as session:
            existing = find_record(session, adapter_kind, name, owner_tenant_id)
            if existing is not None and not replace:
                raise AdapterError(
                    f"a {adapter_kind} adapter {name!r} already exists for "
                    f"{owner_tenant_id or 'all tenants (shared)'}; pass replace=True to overwrite it"
                )
            versioned = existing is not None and existing.version is not None
        if versioned:
            return self._register_version(adapter_kind, name, Path(source), owner_tenant_id, metrics)
        with self.database.get_session() as session:
            existing = find_record(session, adapter_kind, name, owner_tenant_id)
            if Path(source).resolve() != target.resolve():
                if target.exists():
                    shutil.rmtree(target)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copytree(source, target)
            base_model = str(config.get("base_model_name_or_path") or "")
            record = existing or AdapterRecord(
                kind=adapter_kind,
                name=name,
                owner_tenant_id=owner_tenant_id,
                base_model=base_model,
                rank=rank,
                path=str(target),
            )
            record.base_model = base_model
            record.rank = rank
            record.path = str(target)
            record.metrics = dict(metrics or {})
            session.add(record)
            session.flush()
            session.refresh(record)
            return _info(record)

    def _register_version(
        self,
        kind: AdapterKind,
        name: str,
        source: Path,
        owner_tenant_id: str | None,
        metrics: Mapping[str, Any] | None,
    ) -> AdapterInfo:
        """Registering over a versioned adapter adds a version and serves it; the others stay for rollback."""
        versions = AdapterVersions(self.database, self.root)
        current = versions.current(kind, name, owner_tenant_id=owner_tenant_id)
        added = versions.add_candidate(
            kind,
            name,
            source,
            owner_tenant_id=owner_tenant_id,
            parent_version=current.version,
            metrics=metrics,
        )
        versions.promote(
            kind,
            name,
            added.version,
            owner_tenant_id=owner_tenant_id,
            actor="register",
            reason=f"registered again from {source}",
            action="register",
        )
        return next(
            info
            for info in self.list(tenant_id=owner_tenant_id, kind=kind)
            if info.name == name and info.owner_tenant_id == owner_tenant_id
        )

    def list(self, *, tenant_id: str | None = None, kind: str | None = None) -> list[AdapterInfo]:
        """All adapters (``tenant_id`` None), or the shared ones plus that tenant's own."""
        statement = select(AdapterRecord)
        if kind is not None:
            statement = statement.where(AdapterRecord.kind == check_kind(kind))
        if tenant_id is not None:
            statement = statement.where(
                (col(AdapterRecord.owner_tenant_id).is_(None)) | (AdapterRecord.owner_tenant_id == tenant_id)
            )
        with self.database.get_session() as session:
            rows = session.exec(statement.order_by(AdapterRecord.kind, AdapterRecord.name)).all()
            return [_info(row) for row in rows]

    def delete(self, kind: str, name: str, *, owner_tenant_id: str | None = None) -> bool:
        """Remove the row and its folder; False when there was no such adapter."""
        adapter_kind = check_kind(kind)
        with self.database.get_session() as session:
            record = find_record(session, adapter_kind, name, owner_tenant_id)
            if record is None:
                return False
            paths = {Path(record.path)}
            for version in session.exec(
                select(AdapterVersion).where(AdapterVersion.adapter_id == record.id)
            ).all():
                paths.add(Path(version.path))
                session.delete(version)
            for event in session.exec(select(AdapterEvent).where(AdapterEvent.adapter_id == record.id)).all():
                session.delete(event)
            session.flush()
            session.delete(record)
        for path in paths:
            if path.is_dir() and self.root.resolve() in path.resolve().parents:
                shutil.rmtree(path)
        return True

    def resolve(
        self, tenant_id: str, *, retailer: str | None, brand: str | None, task: str | None
    ) -> Resolution:
        """The adapters ``tenant_id`` may use for this triple: its own first, then shared ones.

        A brand adapter (or Brand row) that exists only for other tenants raises AdapterAccessError:
        naming another tenant's brand is a refusal, not a silent composition without it. (Over HTTP
        a brand nobody has is refused the same way, see :meth:`owns_brand`.)
        """
        requested: dict[AdapterKind, str | None] = {"retailer": retailer, "brand": brand, "task": task}
        components: dict[AdapterKind, AdapterInfo] = {}
        missing: list[AdapterKind] = []
        with self.database.get_session() as session:
            for kind, name in requested.items():
                if not name:
                    continue
                rows = session.exec(
                    select(AdapterRecord).where(AdapterRecord.kind == kind, AdapterRecord.name == name)
                ).all()
                own = [row for row in rows if row.owner_tenant_id == tenant_id]
                shared = [row for row in rows if row.owner_tenant_id is None and kind != "brand"]
                chosen = (own or shared)[0] if (own or shared) else None
                if chosen is not None:
                    components[kind] = _info(chosen)
                    continue
                if kind == "brand" and (rows or self._brand_of_other_tenant(session, tenant_id, name)):
                    raise AdapterAccessError(not_your_brand(tenant_id, name))
                if rows:
                    raise AdapterAccessError(f"{kind} adapter {name!r} belongs to another tenant")
                missing.append(kind)
        return Resolution(components=components, missing=tuple(missing), requested=requested)

    def owns_brand(self, tenant_id: str, name: str) -> bool:
        """Whether ``name`` is the tenant's brand: an own Brand row or an own brand adapter.

        The HTTP API refuses any other brand with :func:`not_your_brand`, so a brand another tenant
        has and one nobody has get the same answer (brand ids cannot be enumerated).
        """
        with self.database.get_session() as session:
            brands = session.exec(select(Brand).where((Brand.id == name) | (Brand.name == name))).all()
            if any(row.tenant_id == tenant_id for row in brands):
                return True
            adapters = session.exec(
                select(AdapterRecord.id).where(
                    AdapterRecord.kind == "brand",
                    AdapterRecord.name == name,
                    AdapterRecord.owner_tenant_id == tenant_id,
                )
            ).first()
            return adapters is not None

    @staticmethod
    def _brand_of_other_tenant(session: Any, tenant_id: str, name: str) -> bool:
        brands = session.exec(select(Brand).where((Brand.id == name) | (Brand.name == name))).all()
        return bool(brands) and all(row.tenant_id != tenant_id for row in brands)
