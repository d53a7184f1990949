"""Database manager: engines for SQLite, PostgreSQL and MariaDB, sessions, tenant scoping.

A tenant-scoped session adds ``tenant_id = :tenant`` to every SELECT of a tenant-owned model
(SQLAlchemy's ``with_loader_criteria``) and refuses to flush another tenant's rows, so a
forgotten filter in a query helper cannot leak one tenant's data to another.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import ORMExecuteState, with_loader_criteria
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, create_engine

from rmnlora.storage.crypto import configure_encryption
from rmnlora.storage.models import TENANT_OWNED_MODELS, TenantOwned

TENANT_KEY = "tenant_id"


class CrossTenantWriteError(PermissionError):
    pass


@dataclass(frozen=True)
class HealthReport:
    ok: bool
    backend: str
    latency_ms: float
    revision: str | None
    detail: str = ""


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(
    url: str, *, pool_size: int = 5, max_overflow: int = 10, pool_recycle_s: int = 1800, echo: bool = False
) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            from pathlib import Path

            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_recycle=pool_recycle_s,
        pool_pre_ping=True,
    )


def _scope_selects(state: ORMExecuteState) -> None:
    tenant_id = state.session.info.get(TENANT_KEY)
    if tenant_id is None or not (state.is_select or state.is_update or state.is_delete):
        return
    state.statement = state.statement.options(
        *(
            with_loader_criteria(model, lambda cls: cls.tenant_id == tenant_id, include_aliases=True)
            for model in TENANT_OWNED_MODELS
        )
    )


def _refuse_cross_tenant_writes(session: OrmSession, _flush_context: Any, _instances: Any) -> None:
    tenant_id = session.info.get(TENANT_KEY)
    if tenant_id is None:
        return
    for obj in list(session.new) + list(session.dirty):
        if isinstance(obj, TenantOwned):
            if obj.tenant_id is None:
                obj.tenant_id = tenant_id
            elif obj.tenant_id != tenant_id:
                raise CrossTenantWriteError(
                    f"session of tenant {tenant_id!r} cannot write a {type(obj).__name__} "
                    f"of tenant {obj.tenant_id!r}"
                )


event.listen(OrmSession, "do_orm_execute", _scope_selects)
event.listen(OrmSession, "before_flush", _refuse_cross_tenant_writes)


class Database:
    """One engine and its sessions. Create it with :func:`init_db`."""

    def __init__(self, url: str, engine: Engine) -> None:
        self.url = url
        self.engine = engine

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def get_session(self, tenant_id: str | None = None) -> Iterator[Session]:
        """Commit on success, roll back on any error; ``tenant_id`` scopes every query to one tenant."""
        session = Session(self.engine, expire_on_commit=False)
        if tenant_id is not None:
            session.info[TENANT_KEY] = tenant_id
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def health_check(self) -> HealthReport:
        started = time.perf_counter()
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
                revision = _current_revision(connection)
        except Exception as exc:  # the report carries the reason; the caller decides
            return HealthReport(False, self.backend, (time.perf_counter() - started) * 1e3, None, str(exc))
        latency = (time.perf_counter() - started) * 1e3
        detail = "" if revision else "schema not migrated: run `rmn db upgrade`"
        return HealthReport(revision is not None, self.backend, latency, revision, detail)

    def dispose(self) -> None:
        self.engine.dispose()


def _current_revision(connection: Any) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def init_db(
    url: str, *, secret_key: str | None = None, migrate: bool = True, **engine_options: Any
) -> Database:
    """Connect, configure encryption of stored secrets, and bring the schema to the latest migration."""
    if secret_key is not None:
        configure_encryption(secret_key)
    database = Database(url, make_engine(url, **engine_options))
    if migrate:
        from rmnlora.storage.migrate import upgrade

        upgrade(database.engine)
    return database
