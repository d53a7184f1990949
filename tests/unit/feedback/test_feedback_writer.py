"""The group-commit writer the API uses: same answers as single-row writes, on every backend."""

from __future__ import annotations

import pytest
from sqlalchemy import func
from sqlmodel import select

from rmnlora.feedback import store
from rmnlora.feedback.writer import BatchWriter
from rmnlora.schemas.feedback import FeedbackIn
from rmnlora.storage import Database, Feedback
from tests.support.feedback_support import add_tenant


def _row(tenant: str, brand: str, prompt: str) -> Feedback:
    return store.feedback_row(tenant, FeedbackIn(brand_id=brand, task="creative", prompt=prompt, rating=3))


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
