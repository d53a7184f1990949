"""Feedback-row write rates, single-row commits vs batched, on SQLite and PostgreSQL.

Usage: python benchmarks/storage_writes.py [ROWS] [--postgres URL]
The PostgreSQL run uses a fresh database it creates and drops on the local server.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, func, text
from sqlmodel import select

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_results  # noqa: E402

from rmnlora.storage import Brand, Database, Feedback, Tenant, init_db  # noqa: E402


def _feedback(i: int) -> Feedback:
    return Feedback(
        tenant_id="bench",
        brand_id="bench-brand",
        task="creative",
        feedback_type="rating",
        prompt=f"prompt {i}",
        response=f"response {i}",
        rating=1 + i % 5,
    )


def _measure(db: Database, rows: int, batch: int) -> dict[str, float]:
    with db.get_session() as session:
        session.add(Tenant(id="bench", name="bench"))
    with db.get_session() as session:
        session.add(Brand(id="bench-brand", tenant_id="bench", name="bench"))

    started = time.perf_counter()
    for i in range(rows):
        with db.get_session(tenant_id="bench") as session:
            session.add(_feedback(i))
    single_s = time.perf_counter() - started

    started = time.perf_counter()
    for offset in range(0, rows * 10, batch):
        with db.get_session(tenant_id="bench") as session:
            session.add_all([_feedback(i) for i in range(offset, min(offset + batch, rows * 10))])
    batched_s = time.perf_counter() - started

    with db.get_session() as session:
        stored = session.exec(select(func.count()).select_from(Feedback)).one()
    expected = rows + rows * 10
    if stored != expected:
        raise SystemExit(f"lost rows: stored {stored}, expected {expected}")
    return {
        "single_row_writes_per_s": rows / single_s,
        "batched_writes_per_s": rows * 10 / batched_s,
        "batch_size": batch,
        "rows_single": rows,
        "rows_batched": rows * 10,
        "rows_stored": stored,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("rows", nargs="?", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()

    figures: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        db = init_db(f"sqlite:///{folder}/bench.db", secret_key="bench")
        figures["sqlite"] = _measure(db, args.rows, args.batch)
        db.dispose()

    name = f"rmn_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    try:
        db = init_db(admin.url.set(database=name).render_as_string(hide_password=False), secret_key="bench")
        figures["postgresql"] = _measure(db, args.rows, args.batch)
        db.dispose()
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name}"))

    for backend, numbers in figures.items():
        print(
            f"{backend:11s} single-row commits: {numbers['single_row_writes_per_s']:8.0f} rows/s   "
            f"batched ({args.batch}/commit): {numbers['batched_writes_per_s']:8.0f} rows/s"
        )
    write_results("storage_writes", figures)


if __name__ == "__main__":
    main()
