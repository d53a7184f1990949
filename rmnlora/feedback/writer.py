"""Group commit for API writes: one writer thread per database commits what is waiting in one go.

Why: under concurrent POSTs, one transaction per request makes threads queue on SQLite's write
lock (whose busy handler sleeps) and pays one fsync/round trip per row on servers. Here each
request hands its row to the writer and waits for the commit that contains it, so nothing is
acknowledged before it is durable (no lost rows), and N waiting rows cost one transaction.

Idempotency and tenant rules are the same as :func:`rmnlora.feedback.store.store_row`: keys already in
the table (or earlier in the same batch) answer with the stored row; a brand must belong to the
tenant. If a batch fails as a whole (e.g. another process stored the same key a moment
earlier), each of its rows is retried alone through ``store_row`` and gets its own answer.
"""

from __future__ import annotations

import logging
import queue
import threading
import weakref
from concurrent.futures import Future
from dataclasses import dataclass, field

from sqlalchemy import tuple_
from sqlmodel import col, select

from rmnlora.feedback import store
from rmnlora.storage.database import Database
from rmnlora.storage.models import Brand, Feedback

log = logging.getLogger(__name__)


@dataclass
class _Pending:
    tenant_id: str
    row: Feedback
    idempotency_key: str | None
    stored_key: str | None
    future: Future[store.RecordResult] = field(default_factory=Future)


class BatchWriter:
    """Commits queued feedback rows in batches of up to ``max_batch`` from one daemon thread."""

    def __init__(self, database: Database, *, max_batch: int = 512) -> None:
        self.database = database
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="feedback-writer", daemon=True)
        self._thread.start()

    def submit(
        self, tenant_id: str, row: Feedback, idempotency_key: str | None
    ) -> Future[store.RecordResult]:
        """Queue ``row``; the future resolves after the commit that stored it (or with the error)."""
        stored_key = (
            store.scoped_idempotency_key(tenant_id, idempotency_key) if idempotency_key is not None else None
        )
        row.tenant_id = tenant_id
        row.idempotency_key = stored_key
        pending = _Pending(tenant_id, row, idempotency_key, stored_key)
        self._queue.put(pending)
        return pending.future

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)  # stop after this batch
                    break
                batch.append(item)
            try:
                self._commit(batch)
            except Exception:
                log.warning(
                    "feedback batch of %d failed; storing its rows one by one", len(batch), exc_info=True
                )
                for pending in batch:
                    if not pending.future.done():
                        self._alone(pending)

    def close(self, timeout: float = 10.0) -> None:
        """Commit what is queued, then stop the thread."""
        self._queue.put(None)
        self._thread.join(timeout)

    def _alone(self, pending: _Pending) -> None:
        fresh = Feedback.model_validate(pending.row.model_dump(exclude={"id", "idempotency_key"}))
        try:
            result = store.store_row(self.database, pending.tenant_id, fresh, pending.idempotency_key)
        except Exception as exc:
            pending.future.set_exception(exc)
        else:
            pending.future.set_result(result)

    def _unknown_brands(self, batch: list[_Pending]) -> set[tuple[str, str]]:
        wanted = {
            (p.tenant_id, p.row.brand_id)
            for p in batch
            if not store.brand_cache.known((self.database.url, p.tenant_id, p.row.brand_id))
        }
        if not wanted:
            return set()
        with self.database.get_session() as session:
            found = set(
                session.exec(
                    select(Brand.tenant_id, Brand.id).where(
                        tuple_(col(Brand.tenant_id), col(Brand.id)).in_(sorted(wanted))
                    )
                ).all()
            )
        for tenant_id, brand_id in found:
            store.brand_cache.add((self.database.url, tenant_id, brand_id))
        return wanted - found

    def _commit(self, batch: list[_Pending]) -> None:
        unknown = self._unknown_brands(batch)
        keys = [p.stored_key for p in batch if p.stored_key is not None]
        added: list[_Pending] = []
        replays: list[tuple[_Pending, _Pending]] = []  # (duplicate in this batch, the one it repeats)
        by_key: dict[str, _Pending] = {}
        with self.database.get_session() as session:
            existing = {}
            if keys:
                existing = {
                    row.idempotency_key: row
                    for row in session.exec(select(Feedback).where(col(Feedback.idempotency_key).in_(keys)))
                }
            for pending in batch:
                key = pending.stored_key
                stored = existing.get(key) if key is not None else None
                if stored is not None and stored.tenant_id == pending.tenant_id:
                    _settle(pending, stored)
                elif (pending.tenant_id, pending.row.brand_id) in unknown:
                    pending.future.set_exception(
                        store.UnknownBrandError(
                            f"brand {pending.row.brand_id!r} not found for tenant {pending.tenant_id!r}"
                        )
                    )
                elif key is not None and key in by_key:
                    replays.append((pending, by_key[key]))
                else:
                    if key is not None:
                        by_key[key] = pending
                    session.add(pending.row)
                    added.append(pending)
            session.flush()
            records = [store.to_record(p.row) for p in added]
        for pending, record in zip(added, records, strict=True):
            pending.future.set_result(store.RecordResult(record, created=True))
        for pending, first in replays:
            _settle(pending, first.row)


def _settle(pending: _Pending, stored: Feedback) -> None:
    """Answer a repeated key with the stored row, or a conflict if the body differs."""
    try:
        result = store.replay(stored, pending.row)
    except store.IdempotencyConflictError as exc:
        pending.future.set_exception(exc)
    else:
        pending.future.set_result(result)


_writers: weakref.WeakKeyDictionary[Database, BatchWriter] = weakref.WeakKeyDictionary()
_writers_lock = threading.Lock()


def close_writer(database: Database) -> None:
    """Stop the database's writer after it committed what was queued (app shutdown)."""
    with _writers_lock:
        writer = _writers.pop(database, None)
    if writer is not None:
        writer.close()


def writer_for(database: Database) -> BatchWriter:
    """The database's writer, started on first use."""
    with _writers_lock:
        writer = _writers.get(database)
        if writer is None:
            writer = _writers[database] = BatchWriter(database)
        return writer
