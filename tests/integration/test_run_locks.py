"""The database lock that keeps two improvement runs for one brand from overlapping."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from rmnlora.storage.locks import LockHeldError, acquire, release, run_lock
from rmnlora.storage.models import RunLock


def test_a_held_lock_refuses_a_second_holder_and_is_free_after_release(db: Any) -> None:
    with run_lock(db, "improve:acme:b", "cron:1"):
        with pytest.raises(LockHeldError, match="held by cron:1"):
            acquire(db, "improve:acme:b", "app:2", ttl_s=3600)
        acquire(db, "improve:acme:other", "app:2", ttl_s=3600)  # another brand is another lock
    acquire(db, "improve:acme:b", "app:2", ttl_s=3600)
    release(db, "improve:acme:b", "cron:1")  # not the holder: nothing happens
    with pytest.raises(LockHeldError, match="held by app:2"):
        acquire(db, "improve:acme:b", "cli:3", ttl_s=3600)


def test_a_lock_older_than_its_ttl_is_taken_over(db: Any) -> None:
    acquire(db, "improve:acme:b", "dead:1", ttl_s=3600)
    with db.get_session() as session:
        held = session.get(RunLock, "improve:acme:b")
        held.acquired_at = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
        session.add(held)
    acquire(db, "improve:acme:b", "alive:2", ttl_s=3600)
    with db.get_session() as session:
        assert session.get(RunLock, "improve:acme:b").holder == "alive:2"


def test_the_lock_is_released_when_the_block_fails(db: Any) -> None:
    with pytest.raises(RuntimeError), run_lock(db, "k", "h"):
        raise RuntimeError("training failed")
    acquire(db, "k", "next", ttl_s=60)
