"""Which LangGraph checkpointer a planner run uses: durable by default, PostgreSQL at scale."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from sqlalchemy.engine import make_url

from rmnlora.config import Settings


def _libpq_url(url: str) -> str:
    """SQLAlchemy's ``postgresql+psycopg://`` URL as the plain libpq URL psycopg connects with."""
    parsed = make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


def checkpoint_backend(settings: Settings) -> str:
    backend = settings.checkpoint.backend
    if backend != "auto":
        return backend
    url = settings.checkpoint.url or settings.database_url
    return "postgres" if make_url(url).get_backend_name() == "postgresql" else "sqlite"


def make_checkpointer(settings: Settings) -> BaseCheckpointSaver[Any]:
    """SqliteSaver in the data dir by default; PostgresSaver when the database is PostgreSQL."""
    backend = checkpoint_backend(settings)
    if backend == "memory":
        return InMemorySaver()
    if backend == "postgres":
        import psycopg
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg.rows import dict_row

        url = settings.checkpoint.url or settings.database_url
        connection = psycopg.Connection.connect(
            _libpq_url(url), autocommit=True, prepare_threshold=0, row_factory=dict_row
        )
        saver = PostgresSaver(connection)
        saver.setup()
        return saver
    path = (
        Path(settings.checkpoint.url)
        if settings.checkpoint.url
        else settings.ensure_data_dir() / "checkpoints.db"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    saver_sqlite = SqliteSaver(sqlite3.connect(str(path), check_same_thread=False))
    saver_sqlite.setup()
    return saver_sqlite
