"""The group-commit writer the API uses: same answers as single-row writes, on every backend."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, text
from sqlmodel import select

from rmnlora.feedback import store
from rmnlora.feedback.writer import BatchWriter
from rmnlora.schemas.feedback import FeedbackIn
from rmnlora.storage import Database, Feedback
from tests.support.feedback_support import add_tenant


def _row(tenant: str, brand: str, prompt: str) -> dict[str, Any]:
    return store.feedback_values(FeedbackIn(brand_id=brand, task="creative", prompt=prompt, rating=3))


def test_batches_store_each_key_once_and_refuse_foreign_brands(db: Database) -> None:
    add_tenant(db, "acme", ("acme-cola",))
    add_tenant(db, "globex", ("globex-soap",))
    store.record_feedback(
        db,
        "acme",
        FeedbackIn(brand_id="acme-cola", task="creative", prompt="old", rating=3),
        idempotency_key="old",
    )
    writer = BatchWriter(db, max_batch=64)
    try:
        futures = [writer.submit("acme", _row("acme", "acme-cola", f"p{i}"), f"k{i}") for i in range(40)]
        repeats = [writer.submit("acme", _row("acme", "acme-cola", f"p{i}"), f"k{i}") for i in range(5)]
        stored_before = writer.submit("acme", _row("acme", "acme-cola", "old"), "old")
        conflict = writer.submit("acme", _row("acme", "acme-cola", "not old"), "old")
        foreign = writer.submit("globex", _row("globex", "acme-cola", "steal"), None)
        other_tenant_same_key = writer.submit("globex", _row("globex", "globex-soap", "p0"), "k0")
        results = [f.result(timeout=30) for f in futures]
        assert all(r.created for r in results) and len({r.record.id for r in results}) == 40
        for i, repeat in enumerate(repeats):
            again = repeat.result(timeout=30)
            assert not again.created and again.record.id == results[i].record.id
        assert stored_before.result(timeout=30).created is False
        with pytest.raises(store.IdempotencyConflictError):
            conflict.result(timeout=30)
        with pytest.raises(store.UnknownBrandError):
            foreign.result(timeout=30)
        assert other_tenant_same_key.result(timeout=30).created
    finally:
        writer.close()
    with db.get_session() as session:
        assert session.exec(select(func.count()).select_from(Feedback)).one() == 1 + 40 + 1


def test_rows_without_a_key_and_with_one_in_one_batch_are_each_stored_once(db: Database) -> None:
    add_tenant(db, "acme", ("acme-cola",))
    writer = BatchWriter(db, max_batch=64)
    try:
        keyless = [writer.submit("acme", _row("acme", "acme-cola", f"free {i}"), None) for i in range(6)]
        keyed = [writer.submit("acme", _row("acme", "acme-cola", f"k {i}"), f"key-{i}") for i in range(6)]
        records = [f.result(timeout=30).record for f in keyless + keyed]
    finally:
        writer.close()
    assert [r.prompt for r in records] == [f"free {i}" for i in range(6)] + [f"k {i}" for i in range(6)]
    with db.get_session() as session:
        stored = {row.id: row.prompt for row in session.exec(select(Feedback))}
    assert stored == {r.id: r.prompt for r in records}  # every answered id holds the row it answered for


def test_two_writers_racing_on_the_same_keys_store_each_key_once(db: Database) -> None:
    """Two API processes each have a writer: the same retried request may reach both at once."""
    add_tenant(db, "acme", ("acme-cola",))
    first, second = BatchWriter(db, max_batch=64), BatchWriter(db, max_batch=64)
    try:
        futures = []
        for i in range(30):
            futures.append(first.submit("acme", _row("acme", "acme-cola", f"p{i}"), f"k{i}"))
            futures.append(second.submit("acme", _row("acme", "acme-cola", f"p{i}"), f"k{i}"))
        results = [f.result(timeout=60) for f in futures]
    finally:
        first.close()
        second.close()
    for i in range(30):
        one, other = results[2 * i], results[2 * i + 1]
        assert one.record.id == other.record.id and one.created != other.created
    with db.get_session() as session:
        assert session.exec(select(func.count()).select_from(Feedback)).one() == 30


def test_a_dropped_connection_loses_no_row(db: Database) -> None:
    """The writer keeps its connection between batches; the server may close it (restart, idle kill)."""
    if db.backend != "postgresql":
        pytest.skip("terminating a server-side session is a PostgreSQL test")
    add_tenant(db, "acme", ("acme-cola",))
    writer = BatchWriter(db, max_batch=64)
    try:
        assert writer.submit("acme", _row("acme", "acme-cola", "before"), "before").result(timeout=30).created
        with db.engine.connect() as connection:
            killed = connection.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalar_one()
        assert killed >= 1
        after = [writer.submit("acme", _row("acme", "acme-cola", f"after {i}"), f"a{i}") for i in range(5)]
        assert all(f.result(timeout=30).created for f in after)
        again = writer.submit("acme", _row("acme", "acme-cola", "later"), "later").result(timeout=30)
        assert again.created
    finally:
        writer.close()
    with db.get_session() as session:
        assert session.exec(select(func.count()).select_from(Feedback)).one() == 7
