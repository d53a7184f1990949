"""Shared fixtures. Server databases are real: each test session gets fresh, uniquely named ones."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

POSTGRES_ADMIN_URL = os.environ.get("RMN_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MARIADB_ADMIN_URL = os.environ.get("RMN_TEST_MARIADB", "mysql+pymysql://root@127.0.0.1:3306/test")

BACKENDS = ("sqlite", "postgresql", "mariadb")


def _server_database(admin_url: str, name: str) -> Iterator[str]:
    """CREATE a database for this session and DROP it afterwards; an unreachable server fails loudly."""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield str(admin.url.set(database=name).render_as_string(hide_password=False))
    finally:
        with admin.connect() as connection:
            if admin.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                    {"n": name},
                )
            connection.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    yield from _server_database(POSTGRES_ADMIN_URL, f"rmn_test_{uuid.uuid4().hex[:10]}")


@pytest.fixture(scope="session")
def mariadb_url() -> Iterator[str]:
    yield from _server_database(MARIADB_ADMIN_URL, f"rmn_test_{uuid.uuid4().hex[:10]}")


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """One URL per backend; the server databases are emptied before each test."""
    backend = request.param
    if backend == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'rmn.db'}"
    url: str = request.getfixturevalue("postgres_url" if backend == "postgresql" else "mariadb_url")
    _empty(url)
    return url


def _empty(url: str) -> None:
    from rmnlora.storage.database import make_engine
    from rmnlora.storage.migrate import downgrade

    engine = make_engine(url)
    try:
        downgrade(engine, "base")
    finally:
        engine.dispose()


@pytest.fixture
def db(db_url: str) -> Iterator[object]:
    from rmnlora.storage import init_db

    database = init_db(db_url, secret_key="test-secret-passphrase")
    try:
        yield database
    finally:
        database.dispose()


@pytest.fixture
def sqlite_db(tmp_path: object) -> Iterator[object]:
    """A migrated SQLite database in a temp folder, for tests that are not about the backend."""
    from pathlib import Path

    from rmnlora.storage import init_db

    database = init_db(f"sqlite:///{Path(str(tmp_path)) / 'rmn.db'}", secret_key="test-secret-passphrase")
    try:
        yield database
    finally:
        database.dispose()
