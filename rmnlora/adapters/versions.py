"""Adapter versions: every training run adds one, exactly one is served, and every change is audited.

Why a version table beside the registry row: the runtime serves ``AdapterRecord.path``, so a
promotion is one row update. The composer keys compositions by path, so the next request
composes the promoted version while a batch in flight keeps the adapters it pinned: it finishes
on the version it started on, and nothing restarts. Each version keeps its own folder
(``<root>/<kind>/<owner>/<name>@<N>``) so a rollback is the same one-row update back.

Every promotion, rollback and refusal is an :class:`AdapterEvent` row naming who and why.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sqlmodel import Session, col, select

from rmnlora.adapters.identity import SHARED_OWNER, AdapterError, check_kind, find_record, read_lora_rank
from rmnlora.storage.database import Database
from rmnlora.storage.models import AdapterEvent, AdapterRecord, AdapterVersion

VersionStatus = Literal["promoted", "candidate", "refused", "retired"]


class VersionError(AdapterError):
    """A version that does not exist, or a change that cannot be made (the message says which)."""


@dataclass(frozen=True)
class VersionInfo:
    adapter_id: int
    kind: str
    name: str
    owner_tenant_id: str | None
    version: int
    parent_version: int | None
    status: str
    path: str
    rank: int
    feedback_after: int | None
    feedback_through: int | None
    rows: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    created_at: dt.datetime | None = None

    @property
    def label(self) -> str:
        """How people and responses name it: ``acme-snacks@3``."""
        return f"{self.name}@{self.version}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "kind": self.kind,
            "name": self.name,
            "owner_tenant_id": self.owner_tenant_id,
            "version": self.version,
            "parent_version": self.parent_version,
            "status": self.status,
            "path": self.path,
            "rank": self.rank,
            "feedback_window": [self.feedback_after, self.feedback_through],
            "rows": self.rows,
            "metrics": self.metrics,
            "reason": self.reason,
            "created_at": self.created_at.isoformat() if self.created_at else None,
        }


@dataclass(frozen=True)
class EventInfo:
    action: str
    from_version: int | None
    to_version: int | None
    actor: str
    reason: str
    created_at: dt.datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "actor": self.actor,
            "reason": self.reason,
            "created_at": self.created_at.isoformat(),
        }


def _version_info(record: AdapterRecord, row: AdapterVersion) -> VersionInfo:
    assert record.id is not None
    return VersionInfo(
        adapter_id=record.id,
        kind=record.kind,
        name=record.name,
        owner_tenant_id=record.owner_tenant_id,
        version=row.version,
        parent_version=row.parent_version,
        status=row.status,
        path=row.path,
        rank=row.rank,
        feedback_after=row.feedback_after,
        feedback_through=row.feedback_through,
        rows=dict(row.rows or {}),
        metrics=dict(row.metrics or {}),
        reason=row.reason,
        created_at=row.created_at,
    )


class AdapterVersions:
    """List, add, promote, refuse and roll back the versions of one registered adapter."""

    def __init__(self, database: Database, root: Path) -> None:
        self.database = database
        self.root = Path(root)

    # ------------------------------------------------------------------ reading

    def _record(self, session: Session, kind: str, name: str, owner: str | None) -> AdapterRecord:
        adapter_kind = check_kind(kind)
        record = find_record(session, adapter_kind, name, owner)
        if record is None:
            who = f"tenant {owner!r}" if owner else "all tenants (shared)"
            raise VersionError(f"no {adapter_kind} adapter {name!r} is registered for {who}")
        return record

    def _rows(self, session: Session, record: AdapterRecord) -> list[AdapterVersion]:
        self._ensure_initial(session, record)
        return list(
            session.exec(
                select(AdapterVersion)
                .where(AdapterVersion.adapter_id == record.id)
                .order_by(col(AdapterVersion.version))
            ).all()
        )

    @staticmethod
    def _ensure_initial(session: Session, record: AdapterRecord) -> None:
        """An adapter registered before it had versions is version 1, promoted, from its current files."""
        exists = session.exec(select(AdapterVersion.id).where(AdapterVersion.adapter_id == record.id)).first()
        if exists is not None:
            return
        assert record.id is not None
        session.add(
            AdapterVersion(
                adapter_id=record.id,
                version=1,
                status="promoted",
                path=record.path,
                rank=record.rank,
                metrics=dict(record.metrics or {}),
                reason="the adapter as first registered",
            )
        )
        record.version = 1
        session.add(record)
        session.flush()

    def history(self, kind: str, name: str, *, owner_tenant_id: str | None = None) -> list[VersionInfo]:
        """Every version, oldest first."""
        with self.database.get_session() as session:
            record = self._record(session, kind, name, owner_tenant_id)
            return [_version_info(record, row) for row in self._rows(session, record)]

    def current(self, kind: str, name: str, *, owner_tenant_id: str | None = None) -> VersionInfo:
        """The served version."""
        versions = self.history(kind, name, owner_tenant_id=owner_tenant_id)
        promoted = [v for v in versions if v.status == "promoted"]
        if not promoted:  # cannot happen through this class; said plainly if the table was edited by hand
            raise VersionError(f"{kind} adapter {name!r} has no promoted version")
        return promoted[-1]

    def get(self, kind: str, name: str, version: int, *, owner_tenant_id: str | None = None) -> VersionInfo:
        for info in self.history(kind, name, owner_tenant_id=owner_tenant_id):
            if info.version == version:
                return info
        raise VersionError(f"{kind} adapter {name!r} has no version {version}")

    def events(self, kind: str, name: str, *, owner_tenant_id: str | None = None) -> list[EventInfo]:
        with self.database.get_session() as session:
            record = self._record(session, kind, name, owner_tenant_id)
            rows = session.exec(
                select(AdapterEvent)
                .where(AdapterEvent.adapter_id == record.id)
                .order_by(col(AdapterEvent.id))
            ).all()
            return [
                EventInfo(r.action, r.from_version, r.to_version, r.actor, r.reason, r.created_at)
                for r in rows
            ]

    # ------------------------------------------------------------------ changing

    def add_candidate(
        self,
        kind: str,
        name: str,
        source: Path,
        *,
        owner_tenant_id: str | None = None,
        parent_version: int | None = None,
        feedback_after: int | None = None,
        feedback_through: int | None = None,
        rows: Mapping[str, Any] | None = None,
        metrics: Mapping[str, Any] | None = None,
    ) -> VersionInfo:
        """Copy a trained PEFT folder in as the next version, not yet served."""
        _, rank = read_lora_rank(Path(source))
        with self.database.get_session() as session:
            record = self._record(session, kind, name, owner_tenant_id)
            existing = self._rows(session, record)
            number = max(v.version for v in existing) + 1
            target = self.root / record.kind / (owner_tenant_id or SHARED_OWNER) / f"{name}@{number}"
            if target.exists():
                shutil.rmtree(target)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(source, target)
            assert record.id is not None
            row = AdapterVersion(
                adapter_id=record.id,
                version=number,
                parent_version=parent_version,
                status="candidate",
                path=str(target),
                rank=rank,
                feedback_after=feedback_after,
                feedback_through=feedback_through,
                rows=dict(rows or {}),
                metrics=dict(metrics or {}),
            )
            session.add(row)
            session.flush()
            return _version_info(record, row)

    def annotate(
        self,
        kind: str,
        name: str,
        version: int,
        *,
        owner_tenant_id: str | None = None,
        feedback_after: int | None = None,
        feedback_through: int | None = None,
        rows: Mapping[str, Any] | None = None,
        metrics: Mapping[str, Any] | None = None,
    ) -> None:
        """Record what a version learned from and measured (for one registered directly)."""
        with self.database.get_session() as session:
            record = self._record(session, kind, name, owner_tenant_id)
            row = self._row(session, record, version)
            row.feedback_after, row.feedback_through = feedback_after, feedback_through
            if rows is not None:
                row.rows = dict(rows)
            if metrics is not None:
                row.metrics = dict(metrics)
            session.add(row)

    def _row(self, session: Session, record: AdapterRecord, version: int) -> AdapterVersion:
        for row in self._rows(session, record):
            if row.version == version:
                return row
        raise VersionError(f"{record.kind} adapter {record.name!r} has no version {version}")

    def promote(
        self,
        kind: str,
        name: str,
        version: int,
        *,
        owner_tenant_id: str | None = None,
        actor: str = "",
        reason: str = "",
        action: str = "promote",
    ) -> VersionInfo:
        """Serve ``version`` from the next request on; the version served before is retired."""
        with self.database.get_session() as session:
            record = self._record(session, kind, name, owner_tenant_id)
            rows = self._rows(session, record)
            target = self._row(session, record, version)
            before = record.version
            if target.status == "promoted":
                raise VersionError(f"{record.name}@{version} is already the served version")
            for row in rows:
                if row.status == "promoted":
                    row.status = "retired"
                    session.add(row)
            target.status = "promoted"
            if reason:
                target.reason = reason
            record.path = target.path
            record.rank = target.rank
            record.version = target.version
            record.metrics = dict(target.metrics or {})
            session.add_all([target, record])
            assert record.id is not None
            session.add(
                AdapterEvent(
                    adapter_id=record.id,
                    action=action,
                    from_version=before,
                    to_version=version,
                    actor=actor,
                    reason=reason,
                )
            )
            session.flush()
            return _version_info(record, target)

    def refuse(
        self,
        kind: str,
        name: str,
        version: int,
        *,
        owner_tenant_id: str | None = None,
        actor: str = "",
        reason: str,
    ) -> VersionInfo:
        """Keep a candidate out of service, saying why; its files stay for inspection."""
        with self.database.get_session() as session:
            record = self._record(session, kind, name, owner_tenant_id)
            target = self._row(session, record, version)
            if target.status == "promoted":
                raise VersionError(f"{record.name}@{version} is served; roll back instead of refusing it")
            target.status = "refused"
            target.reason = reason
            session.add(target)
            assert record.id is not None
            session.add(
                AdapterEvent(
                    adapter_id=record.id,
                    action="refuse",
                    from_version=record.version,
                    to_version=version,
                    actor=actor,
                    reason=reason,
                )
            )
            session.flush()
            return _version_info(record, target)

    def rollback(
        self,
        kind: str,
        name: str,
        *,
        owner_tenant_id: str | None = None,
        to_version: int | None = None,
        actor: str = "",
        reason: str = "",
    ) -> VersionInfo:
        """Serve the version served before this one (or ``to_version``): its parent when it has one."""
        versions = self.history(kind, name, owner_tenant_id=owner_tenant_id)
        current = next(v for v in versions if v.status == "promoted")
        if to_version is None:
            earlier = [v for v in versions if v.version < current.version and v.status == "retired"]
            parent = [v for v in earlier if v.version == current.parent_version]
            chosen = parent or earlier[-1:]
            if not chosen:
                raise VersionError(f"{current.label} has no earlier served version to roll back to")
            to_version = chosen[0].version
        return self.promote(
            kind,
            name,
            to_version,
            owner_tenant_id=owner_tenant_id,
            actor=actor,
            reason=reason or f"rolled back from {current.label}",
            action="rollback",
        )
