"""The one read/write path for human feedback, shared by the REST API, the Streamlit app and the CLI.

Every call opens a tenant-scoped session, so a tenant only ever reads and writes its own rows,
and a brand of another tenant is "not found" rather than writable. Idempotency keys are
scoped per tenant (stored as a SHA-256 of tenant and key, since the column is globally
unique): a retried request with the same key returns the stored row instead of a second one,
and the same key with a different body is a conflict, not a silent overwrite.

The DPO export reads through this module's filter (:mod:`rmnlora.feedback.export`).

Preference rows keep both adapters in ``Feedback.adapter`` as ``"<chosen>><rejected>"`` (either
side may be empty), so win rates per adapter need no extra column.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, func, or_
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from rmnlora.schemas.feedback import (
    AdapterWinRate,
    CountByKey,
    DailyCount,
    ExportFilter,
    FeedbackIn,
    FeedbackRecord,
    FeedbackStats,
    PreferencePairIn,
    RatingSummary,
)
from rmnlora.storage.database import Database
from rmnlora.storage.models import Brand, Feedback

MAX_IDEMPOTENCY_KEY = 255
_COMPARED = (
    "brand_id",
    "task",
    "feedback_type",
    "prompt",
    "response",
    "chosen",
    "rejected",
    "correction",
    "thumbs_up",
    "rating",
    "adapter",
    "user",
)


class UnknownBrandError(LookupError):
    """The brand does not exist for this tenant (another tenant's brand reads the same)."""


class IdempotencyConflictError(ValueError):
    """The idempotency key was already used for a different request."""


class InvalidIdempotencyKeyError(ValueError):
    pass


@dataclass(frozen=True)
class RecordResult:
    record: FeedbackRecord
    created: bool


class _BrandCache:
    """Brands confirmed to belong to a tenant; ownership never changes, so only hits are cached."""

    def __init__(self, limit: int = 10_000) -> None:
        self._seen: set[tuple[str, str, str]] = set()
        self._limit = limit
        self._lock = threading.Lock()

    def known(self, key: tuple[str, str, str]) -> bool:
        return key in self._seen

    def add(self, key: tuple[str, str, str]) -> None:
        with self._lock:
            if len(self._seen) >= self._limit:
                self._seen.clear()
            self._seen.add(key)


brand_cache = _BrandCache()


def scoped_idempotency_key(tenant_id: str, key: str) -> str:
    """What is stored for ``key``: per tenant, fixed length, whatever the client sends."""
    if not key or len(key) > MAX_IDEMPOTENCY_KEY:
        raise InvalidIdempotencyKeyError(
            f"Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY} characters, got {len(key)}"
        )
    return hashlib.sha256(f"{tenant_id}\0{key}".encode()).hexdigest()


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def to_record(row: Feedback | Mapping[str, Any]) -> FeedbackRecord:
    """The API's view of a stored row (an ORM row, or the column values the batch writer inserted)."""
    record = FeedbackRecord.model_validate(row)
    record.created_at = _utc(record.created_at)
    return record


def check_brand(session: Session, database: Database, tenant_id: str, brand_id: str) -> None:
    cache_key = (database.url, tenant_id, brand_id)
    if brand_cache.known(cache_key):
        return
    found = session.exec(select(Brand.id).where(Brand.id == brand_id, Brand.tenant_id == tenant_id)).first()
    if found is None:
        raise UnknownBrandError(f"brand {brand_id!r} not found for tenant {tenant_id!r}")
    brand_cache.add(cache_key)


def _find_by_key(session: Session, tenant_id: str, stored_key: str) -> Feedback | None:
    return session.exec(
        select(Feedback).where(Feedback.idempotency_key == stored_key, Feedback.tenant_id == tenant_id)
    ).first()


def _same_request(stored: Feedback, new: Mapping[str, Any]) -> bool:
    return all(getattr(stored, name) == new.get(name) for name in _COMPARED)


def store_row(database: Database, tenant_id: str, row: Feedback, idempotency_key: str | None) -> RecordResult:
    """Store one row in its own transaction (the path the app, the CLI and the batch fallback use)."""
    stored_key = scoped_idempotency_key(tenant_id, idempotency_key) if idempotency_key is not None else None
    row.tenant_id = tenant_id
    row.idempotency_key = stored_key
    try:
        with database.get_session(tenant_id=tenant_id) as session:
            if stored_key is not None:
                existing = _find_by_key(session, tenant_id, stored_key)
                if existing is not None:
                    return replay(existing, row)
            check_brand(session, database, tenant_id, row.brand_id)
            session.add(row)
            session.flush()
            record = to_record(row)
        return RecordResult(record, created=True)
    except IntegrityError:
        if stored_key is None:
            raise
        # A concurrent retry with the same key committed first: answer with its row.
        with database.get_session(tenant_id=tenant_id) as session:
            existing = _find_by_key(session, tenant_id, stored_key)
        if existing is None:
            raise
        return replay(existing, row)


def replay(existing: Feedback, new: Feedback | Mapping[str, Any]) -> RecordResult:
    """The stored row for a repeated key, or a conflict if ``new`` (a row or its column values) differs."""
    if isinstance(new, Feedback):
        new = new.model_dump()
    if not _same_request(existing, new):
        raise IdempotencyConflictError(
            f"Idempotency-Key was already used for a different request (stored feedback id {existing.id})"
        )
    return RecordResult(to_record(existing), created=False)


def feedback_values(item: FeedbackIn) -> dict[str, Any]:
    """Column values of a thumbs / rating / correction row (tenant, key and time are set on storing).

    Why values and not a ``Feedback``: building a SQLModel table row costs more than the API's
    whole share of a batched insert, so the group-commit writer takes plain values.
    """
    return {
        "brand_id": item.brand_id,
        "task": item.task,
        "feedback_type": item.feedback_type,
        "prompt": item.prompt,
        "response": item.response,
        "correction": item.correction,
        "thumbs_up": item.thumbs_up,
        "rating": item.rating,
        "adapter": item.adapter,
        "user": item.user,
    }


def feedback_row(tenant_id: str, item: FeedbackIn) -> Feedback:
    """The table row for thumbs / rating / correction (not yet stored)."""
    return Feedback(tenant_id=tenant_id, **feedback_values(item))


def record_feedback(
    database: Database, tenant_id: str, item: FeedbackIn, *, idempotency_key: str | None = None
) -> RecordResult:
    """Store thumbs / rating / correction on one response; a repeated idempotency key stores nothing new."""
    return store_row(database, tenant_id, feedback_row(tenant_id, item), idempotency_key)


def pair_adapter_label(chosen_adapter: str | None, rejected_adapter: str | None) -> str | None:
    if chosen_adapter is None and rejected_adapter is None:
        return None
    return f"{chosen_adapter or ''}>{rejected_adapter or ''}"


def preference_values(item: PreferencePairIn) -> dict[str, Any]:
    """Column values of a preference pair; both adapters go in ``adapter`` as ``chosen>rejected``."""
    return {
        "brand_id": item.brand_id,
        "task": item.task,
        "feedback_type": "preference",
        "prompt": item.prompt,
        "chosen": item.chosen,
        "rejected": item.rejected,
        "adapter": pair_adapter_label(item.chosen_adapter, item.rejected_adapter),
        "user": item.user,
    }


def preference_row(tenant_id: str, item: PreferencePairIn) -> Feedback:
    """The table row for a preference pair (not yet stored)."""
    return Feedback(tenant_id=tenant_id, **preference_values(item))


def record_preference(
    database: Database, tenant_id: str, item: PreferencePairIn, *, idempotency_key: str | None = None
) -> RecordResult:
    """Store a preference pair (prompt, chosen, rejected) with the adapters that produced each side."""
    return store_row(database, tenant_id, preference_row(tenant_id, item), idempotency_key)


def list_brands(database: Database, tenant_id: str) -> list[Brand]:
    with database.get_session(tenant_id=tenant_id) as session:
        return list(session.exec(select(Brand).where(Brand.tenant_id == tenant_id).order_by(col(Brand.id))))


def create_brand(database: Database, tenant_id: str, brand_id: str, name: str) -> Brand:
    """Add a brand to the tenant (the app's home page offers this when a tenant has none).

    Brand ids are global keys: an id another tenant holds is refused with the same message as one
    this tenant holds (which tenant owns it is not said), and nothing is written.
    """
    from sqlalchemy.exc import IntegrityError

    taken = ValueError(f"brand id {brand_id!r} is already in use; choose another")
    with database.get_session() as session:  # across tenants: the tenant-scoped view cannot see it
        if session.get(Brand, brand_id) is not None:
            raise taken
    try:
        with database.get_session(tenant_id=tenant_id) as session:
            brand = Brand(id=brand_id, tenant_id=tenant_id, name=name)
            session.add(brand)
    except IntegrityError as exc:  # created by someone else since the check
        raise taken from exc
    return brand


def filtered(statement: Any, tenant_id: str, flt: ExportFilter) -> Any:
    """``statement`` limited to the tenant's rows that match ``flt`` (stats and the export share it)."""
    statement = statement.where(Feedback.tenant_id == tenant_id)
    if flt.brand_id:
        statement = statement.where(Feedback.brand_id == flt.brand_id)
    if flt.task:
        statement = statement.where(Feedback.task == flt.task)
    if flt.since:
        start = dt.datetime.combine(flt.since, dt.time(), tzinfo=dt.UTC)
        statement = statement.where(Feedback.created_at >= start)
    if flt.until:
        end = dt.datetime.combine(flt.until + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
        statement = statement.where(Feedback.created_at < end)
    return statement


def dpo_condition(flt: ExportFilter) -> Any:
    """Rows that make a DPO pair: here so the stats' ``dpo_pairs`` counts exactly what the export writes."""
    preference = and_(col(Feedback.feedback_type) == "preference", col(Feedback.chosen).is_not(None))
    if not flt.include_corrections:
        return preference
    correction = and_(col(Feedback.correction).is_not(None), col(Feedback.response).is_not(None))
    return or_(preference, correction)


def _counts(session: Session, column: Any, tenant_id: str, flt: ExportFilter) -> list[CountByKey]:
    rows = session.exec(
        filtered(select(column, func.count()), tenant_id, flt).group_by(column).order_by(column)
    ).all()
    return [CountByKey(key=str(key), count=int(count)) for key, count in rows]


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def win_rates(adapter_labels: Counter[str]) -> list[AdapterWinRate]:
    """Per adapter: preference pairs won and lost (from ``"<chosen>><rejected>"`` labels)."""
    wins: Counter[str] = Counter()
    losses: Counter[str] = Counter()
    for label, count in adapter_labels.items():
        winner, _, loser = label.partition(">")
        if winner:
            wins[winner] += count
        if loser:
            losses[loser] += count
    return [
        AdapterWinRate(
            adapter=name,
            wins=wins[name],
            losses=losses[name],
            win_rate=wins[name] / (wins[name] + losses[name]),
        )
        for name in sorted(set(wins) | set(losses))
    ]


def stats(database: Database, tenant_id: str, flt: ExportFilter | None = None) -> FeedbackStats:
    """Volume by brand, task, type and day; ratings and thumbs per task; adapter win rates."""
    flt = flt or ExportFilter()
    day = func.date(Feedback.created_at)
    with database.get_session(tenant_id=tenant_id) as session:
        total = session.exec(filtered(select(func.count(col(Feedback.id))), tenant_id, flt)).one()
        by_day_rows = session.exec(
            filtered(select(day, func.count()), tenant_id, flt).group_by(day).order_by(day)
        ).all()
        rating_rows = session.exec(
            filtered(
                sa_select(
                    col(Feedback.task),
                    func.count(col(Feedback.rating)),
                    func.avg(Feedback.rating),
                    func.sum(case((col(Feedback.thumbs_up).is_(True), 1), else_=0)),
                    func.sum(case((col(Feedback.thumbs_up).is_(False), 1), else_=0)),
                ),
                tenant_id,
                flt,
            )
            .group_by(Feedback.task)
            .order_by(Feedback.task)
        ).all()
        label_rows = session.exec(
            filtered(select(Feedback.adapter, func.count()), tenant_id, flt)
            .where(Feedback.feedback_type == "preference", col(Feedback.adapter).is_not(None))
            .group_by(Feedback.adapter)
        ).all()
        dpo_pairs = session.exec(
            filtered(select(func.count(col(Feedback.id))), tenant_id, flt).where(dpo_condition(flt))
        ).one()
        return FeedbackStats(
            total=int(total),
            by_brand=_counts(session, Feedback.brand_id, tenant_id, flt),
            by_task=_counts(session, Feedback.task, tenant_id, flt),
            by_type=_counts(session, Feedback.feedback_type, tenant_id, flt),
            by_day=[DailyCount(date=_as_date(d), count=int(c)) for d, c in by_day_rows],
            ratings=[
                RatingSummary(
                    task=task,
                    ratings=int(n),
                    mean_rating=float(mean) if mean is not None else None,
                    thumbs_up=int(up or 0),
                    thumbs_down=int(down or 0),
                )
                for task, n, mean, up, down in rating_rows
            ],
            win_rates=win_rates(Counter({str(label): int(n) for label, n in label_rows})),
            dpo_pairs=int(dpo_pairs),
        )
