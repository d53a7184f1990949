"""Group commit for API writes: one writer thread per database commits what is waiting in one go.

Why: under concurrent POSTs, one transaction per request makes threads queue on SQLite's write
lock (whose busy handler sleeps) and pays one fsync/round trip per row on servers. Here each
request hands its row to the writer and waits for the commit that contains it, so nothing is
acknowledged before it is durable (no lost rows), and N waiting rows cost one transaction.

Idempotency and tenant rules are the same as :func:`rmnlora.feedback.store.store_row`: keys already in
the table (or earlier in the same batch) answer with the stored row; a brand must belong to the
tenant. Rows are settled statement by statement; if a statement fails (a dropped connection, or on
MariaDB another process storing the same key a moment earlier), each row it left unanswered is
stored alone through ``store_row`` and gets its own answer. Measurements: docs/feedback.md.
"""

from __future__ import annotations

import logging
import queue
import threading
import weakref
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Table, insert, select, tuple_

from rmnlora.feedback import store
from rmnlora.storage.database import Database
from rmnlora.storage.models import Brand, Feedback, utcnow

log = logging.getLogger(__name__)

_FEEDBACK: Table = Feedback.__table__  # type: ignore[attr-defined]
_INSERTED = [column.name for column in _FEEDBACK.columns if column.name != "id"]


@dataclass
class _Pending:
    tenant_id: str
    values: dict[str, Any]  # every inserted column, id excepted
    idempotency_key: str | None
    stored_key: str | None
    future: Future[store.RecordResult] = field(default_factory=Future)

    @property
    def brand_id(self) -> str:
        return str(self.values["brand_id"])


class BatchWriter:
    """Commits queued feedback rows in batches of up to ``max_batch`` from one daemon thread."""

    def __init__(self, database: Database, *, max_batch: int = 512) -> None:
        self.database = database
        self.max_batch = max_batch
        # Each statement its own transaction: BEGIN and COMMIT would be two more round trips per
        # batch, and one INSERT statement is atomic on its own (a key stored meanwhile by another
        # process fails the statement, and its rows are then stored one by one).
        self._autocommit = database.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._held: Connection | None = None
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="feedback-writer", daemon=True)
        self._thread.start()

    def submit(
        self, tenant_id: str, values: Mapping[str, Any], idempotency_key: str | None
    ) -> Future[store.RecordResult]:
        """Queue a row (``store.feedback_values`` / ``preference_values``); the future resolves after
        the commit that stored it (or with the error)."""
        stored_key = (
            store.scoped_idempotency_key(tenant_id, idempotency_key) if idempotency_key is not None else None
        )
        columns = dict.fromkeys(_INSERTED) | dict(values)
        columns.update(tenant_id=tenant_id, idempotency_key=stored_key, created_at=utcnow())
        pending = _Pending(tenant_id, columns, idempotency_key, stored_key)
        self._queue.put(pending)
        return pending.future

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                self._drop_connection()
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
            for pending in batch:  # after a failure, or a key whose stored row vanished meanwhile
                if not pending.future.done():
                    self._alone(pending)

    def close(self, timeout: float = 10.0) -> None:
        """Commit what is queued, then stop the thread."""
        self._queue.put(None)
        self._thread.join(timeout)

    def _alone(self, pending: _Pending) -> None:
        fresh = Feedback(**{k: v for k, v in pending.values.items() if k != "idempotency_key"})
        try:
            result = store.store_row(self.database, pending.tenant_id, fresh, pending.idempotency_key)
        except Exception as exc:
            pending.future.set_exception(exc)
        else:
            pending.future.set_result(result)

    def _unknown_brands(self, connection: Connection, batch: list[_Pending]) -> set[tuple[str, str]]:
        wanted = {
            (p.tenant_id, p.brand_id)
            for p in batch
            if not store.brand_cache.known((self.database.url, p.tenant_id, p.brand_id))
        }
        if not wanted:
            return set()
        brands = Brand.__table__  # type: ignore[attr-defined]
        found = {
            (tenant_id, brand_id)
            for tenant_id, brand_id in connection.execute(
                select(brands.c.tenant_id, brands.c.id).where(
                    tuple_(brands.c.tenant_id, brands.c.id).in_(sorted(wanted))
                )
            )
        }
        for tenant_id, brand_id in found:
            store.brand_cache.add((self.database.url, tenant_id, brand_id))
        return wanted - found

    def _connection(self) -> Connection:
        """The writer's own connection, kept between batches (checking one out pings the server)."""
        if self._held is None or self._held.closed or self._held.invalidated:
            self._held = self._autocommit.connect()
        return self._held

    def _drop_connection(self) -> None:
        if self._held is not None:
            self._held.close()
            self._held = None

    def _commit(self, batch: list[_Pending]) -> None:
        """Store a batch in SQLAlchemy Core; the ORM's unit of work cost more than the database did.

        Each statement settles its rows as soon as it returns, so a later failure in the batch
        never makes the one-by-one fallback store a row twice.
        """
        try:
            self._store(self._connection(), batch)
        except Exception:
            self._drop_connection()
            raise

    def _store(self, connection: Connection, batch: list[_Pending]) -> None:
        unknown = self._unknown_brands(connection, batch)
        keyless: list[_Pending] = []
        by_key: dict[str, _Pending] = {}
        repeats: list[_Pending] = []  # a key already used earlier in this batch
        for pending in batch:
            if (pending.tenant_id, pending.brand_id) in unknown:
                pending.future.set_exception(
                    store.UnknownBrandError(
                        f"brand {pending.brand_id!r} not found for tenant {pending.tenant_id!r}"
                    )
                )
            elif pending.stored_key is None:
                keyless.append(pending)
            elif pending.stored_key in by_key:
                repeats.append(pending)
            else:
                by_key[pending.stored_key] = pending
        if keyless:
            _insert_new(connection, keyless)
        stored = self._insert_keyed(connection, list(by_key.values())) if by_key else {}
        for key, pending in by_key.items():
            if key in stored:
                _settle(pending, stored[key])
        for pending in repeats:
            assert pending.stored_key is not None
            first = by_key[pending.stored_key]
            answer = stored.get(pending.stored_key) or (first.values if first.values.get("id") else None)
            if answer is not None:
                _settle(pending, answer)

    def _insert_keyed(self, connection: Connection, rows: list[_Pending]) -> dict[str, Feedback]:
        """Insert rows whose keys are new; return the stored rows of keys that were already used.

        PostgreSQL and SQLite do it in one statement (``ON CONFLICT DO NOTHING RETURNING``); other
        backends look the keys up first (a key stored in between fails the statement instead).
        """
        keys = [p.stored_key for p in rows]
        conflict_free = _upsert_for(connection.dialect.name)
        if conflict_free is None:
            found = connection.execute(select(_FEEDBACK).where(_FEEDBACK.c.idempotency_key.in_(keys)))
            stored = {row.idempotency_key: Feedback.model_validate(dict(row._mapping)) for row in found}
            fresh = [p for p in rows if p.stored_key not in stored]
            if fresh:
                _insert_new(connection, fresh)
            return stored
        returned = connection.execute(conflict_free, [p.values for p in rows]).all()
        inserted: dict[str | None, int] = {key: row_id for key, row_id in returned}
        fresh = [p for p in rows if p.stored_key in inserted]
        _created(fresh, [inserted[p.stored_key] for p in fresh])
        used = [key for key in keys if key not in inserted]
        if not used:
            return {}
        found = connection.execute(select(_FEEDBACK).where(_FEEDBACK.c.idempotency_key.in_(used)))
        return {row.idempotency_key: Feedback.model_validate(dict(row._mapping)) for row in found}


def _upsert_for(dialect: str) -> Any:
    """``INSERT ... ON CONFLICT (idempotency_key) DO NOTHING RETURNING key, id``, where the dialect has it."""
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql as backend
    elif dialect == "sqlite":
        from sqlalchemy.dialects import sqlite as backend  # type: ignore[no-redef]
    else:
        return None
    return (
        backend.insert(_FEEDBACK)
        .on_conflict_do_nothing(index_elements=[_FEEDBACK.c.idempotency_key])
        .returning(_FEEDBACK.c.idempotency_key, _FEEDBACK.c.id)
    )


def _insert_new(connection: Connection, rows: list[_Pending]) -> None:
    """Plain INSERT ... RETURNING id, in the rows' order; settles each as created."""
    ids = connection.execute(
        insert(_FEEDBACK).returning(_FEEDBACK.c.id, sort_by_parameter_order=True), [p.values for p in rows]
    ).scalars()
    _created(rows, list(ids))


def _created(rows: list[_Pending], ids: list[int]) -> None:
    for pending, row_id in zip(rows, ids, strict=True):
        pending.values["id"] = row_id
        pending.future.set_result(store.RecordResult(store.to_record(pending.values), created=True))


def _settle(pending: _Pending, stored: Feedback | dict[str, Any]) -> None:
    """Answer a repeated key with the stored row, or a conflict if the body differs."""
    if isinstance(stored, dict):  # the first of two rows with one key in this batch
        stored = Feedback.model_validate(stored)
    try:
        result = store.replay(stored, pending.values)
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
