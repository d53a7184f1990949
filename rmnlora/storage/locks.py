"""A lock held in the database, so two processes (a cron job and the app) never run the same job.

Why the database: the runtime, the app and scheduled commands are separate processes, possibly
on separate machines; the lock row's primary key makes a second holder's insert fail in the
database itself. A lock older than its time-to-live is taken over (its holder died), and says so.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from rmnlora.storage.database import Database
from rmnlora.storage.models import RunLock, utcnow


class LockHeldError(RuntimeError):
    """Someone else holds the lock; the message names the holder and since when."""


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def process_holder(kind: str) -> str:
    """A holder name that says which process holds the lock: ``kind:host:pid``."""
    return f"{kind}:{socket.gethostname()}:{os.getpid()}"


def holder_is_dead(holder: str) -> bool:
    """True when ``holder`` names a process on this host that no longer exists (it was killed)."""
    parts = holder.rsplit(":", 2)
    if len(parts) != 3 or parts[1] != socket.gethostname() or not parts[2].isdigit():
        return False
    try:
        os.kill(int(parts[2]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # exists, owned by another user
        return False
    return False


def acquire(database: Database, key: str, holder: str, ttl_s: float) -> None:
    """Take ``key`` for ``holder``; LockHeldError when a live holder has it.

    A holder past its time-to-live, or a process on this host that has died, is taken over.
    """
    try:
        with database.get_session() as session:
            session.add(RunLock(key=key, holder=holder))
        return
    except IntegrityError:
        pass
    with database.get_session() as session:
        held = session.exec(select(RunLock).where(RunLock.key == key)).first()
        if held is None:  # released between our insert and this read: try once more
            session.add(RunLock(key=key, holder=holder))
            return
        age = (utcnow() - _aware(held.acquired_at)).total_seconds()
        if age < ttl_s and not holder_is_dead(held.holder):
            raise LockHeldError(
                f"{key} is held by {held.holder} since {_aware(held.acquired_at):%Y-%m-%d %H:%M:%S} UTC "
                f"({age:.0f} s ago); wait for it to finish"
            )
        held.holder, held.acquired_at = holder, utcnow()
        session.add(held)


def release(database: Database, key: str, holder: str) -> None:
    with database.get_session() as session:
        held = session.exec(select(RunLock).where(RunLock.key == key)).first()
        if held is not None and held.holder == holder:
            session.delete(held)


@contextmanager
def run_lock(database: Database, key: str, holder: str, ttl_s: float = 6 * 3600) -> Iterator[None]:
    """Hold ``key`` for the ``with`` block; released even when the block fails."""
    acquire(database, key, holder, ttl_s)
    try:
        yield
    finally:
        release(database, key, holder)
