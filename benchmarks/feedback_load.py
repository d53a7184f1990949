"""Concurrent feedback POSTs over loopback: writes/s, then the row count (rows lost, duplicates).

Usage: python benchmarks/feedback_load.py [COUNT] [--concurrency N] [--retry-share F]
       [--postgres URL] [--server-workers W]
The server is uvicorn in its own process (the real API, tenant API key, Idempotency-Key on every
request); the client is a minimal asyncio HTTP/1.1 keep-alive client (httpx itself costs more CPU
per request than the server). A share of requests is sent twice with the same key, as a client
retrying after a timeout would: they must not add rows. Afterwards every key sent
must be in the table exactly once: rows lost = keys sent - rows stored.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import create_engine, func, text
from sqlmodel import select

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_results  # noqa: E402

from rmnlora.storage import Brand, Feedback, init_db  # noqa: E402
from rmnlora.storage.tenants import register_tenant  # noqa: E402

SECRET = "bench-secret-passphrase"


def _serve(url: str, port: int, workers: int) -> None:
    """Child process: the feedback API on 127.0.0.1:port."""
    import uvicorn

    os.environ["RMN_BENCH_DB_URL"] = url
    uvicorn.run(
        "feedback_load:_app_factory",
        factory=True,
        host="127.0.0.1",
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
        app_dir=str(Path(__file__).resolve().parent),
    )


def _app_factory() -> object:
    from rmnlora.serving.app import create_feedback_app

    database = init_db(os.environ["RMN_BENCH_DB_URL"], secret_key=SECRET, migrate=False, pool_size=20)
    return create_feedback_app(None, database)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children (uvicorn workers), from /proc."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for one in pids:
        fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _post(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, key: str
) -> tuple[int, bytes]:
    """One keep-alive HTTP/1.1 POST; a minimal client so the load generator costs little CPU."""
    body = json.dumps(
        {
            "brand_id": "bench-brand",
            "task": "creative",
            "prompt": f"prompt {key}",
            "response": "response",
            "rating": 1 + int(key[:2], 16) % 5,
        }
    ).encode()
    writer.write(head + f"Idempotency-Key: {key}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
    await writer.drain()
    header = await reader.readuntil(b"\r\n\r\n")
    status = int(header[9:12])
    length = 0
    for line in header.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return status, await reader.readexactly(length)


async def _load(
    port: int, api_key: str, count: int, concurrency: int, retry_share: float
) -> dict[str, object]:
    keys = [uuid.uuid4().hex for _ in range(count)]
    rng = random.Random(0)
    retries = [k for k in keys if rng.random() < retry_share]
    plan = keys + retries
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    pending = iter(plan)
    head = (
        f"POST /feedback/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-API-Key: {api_key}\r\n"
        "Content-Type: application/json\r\n"
    ).encode()

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for key in pending:
                started = time.perf_counter()
                for _attempt in range(5):  # a real client retries a broken connection, same key
                    try:
                        status, _body = await _post(reader, writer, head, key)
                        break
                    except (ConnectionError, asyncio.IncompleteReadError):
                        writer.close()
                        reader, writer = await asyncio.open_connection("127.0.0.1", port)
                else:
                    status = 0
                latencies.append(time.perf_counter() - started)
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(plan),
        "unique_keys": count,
        "retried_requests": len(retries),
        "elapsed_s": round(elapsed, 3),
        "requests_per_s": round(len(plan) / elapsed, 1),
        "writes_per_s": round(count / elapsed, 1),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "latency_ms_p50": round(statistics.median(latencies) * 1e3, 2),
        "latency_ms_p99": round(latencies[int(len(latencies) * 0.99) - 1] * 1e3, 2),
        "_keys": keys,
    }


def run(url: str, count: int, concurrency: int, retry_share: float, workers: int) -> dict[str, object]:
    database = init_db(url, secret_key=SECRET)
    with database.get_session() as session:
        api_key = register_tenant(session, "bench", "Bench")
    with database.get_session(tenant_id="bench") as session:
        session.add(Brand(id="bench-brand", tenant_id="bench", name="Bench"))
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", url, "--port", str(port), "--server-workers", str(workers)]
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the API server did not start")
            time.sleep(0.2)
        server_cpu = _cpu_seconds(server.pid)
        client_cpu = time.process_time()
        figures = asyncio.run(_load(port, api_key, count, concurrency, retry_share))
        requests = int(figures["requests"])  # type: ignore[call-overload]
        figures["server_cpu_ms_per_request"] = round(
            (_cpu_seconds(server.pid) - server_cpu) * 1e3 / requests, 3
        )
        figures["client_cpu_ms_per_request"] = round((time.process_time() - client_cpu) * 1e3 / requests, 3)
    finally:
        server.terminate()
        server.wait(timeout=30)
    keys = figures.pop("_keys")
    assert isinstance(keys, list)
    with database.get_session() as session:
        stored = int(session.exec(select(func.count()).select_from(Feedback)).one())
        distinct = int(session.exec(select(func.count(func.distinct(Feedback.idempotency_key)))).one())
    database.dispose()
    figures.update(
        {
            "backend": database.backend,
            "concurrency": concurrency,
            "server_workers": workers,
            "rows_stored": stored,
            "rows_lost": len(keys) - distinct,
            "duplicate_rows": stored - distinct,
        }
    )
    return figures


def _report(name: str, f: dict[str, object]) -> None:
    print(
        f"{name}: {f['writes_per_s']} writes/s ({f['requests_per_s']} requests/s), "
        f"{f['rows_lost']} rows lost, "
        f"{f['duplicate_rows']} duplicates, p50 {f['latency_ms_p50']} ms, p99 {f['latency_ms_p99']} ms, "
        f"statuses {f['statuses']}; CPU per request: server {f['server_cpu_ms_per_request']} ms, "
        f"client {f['client_cpu_ms_per_request']} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", nargs="?", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16, help="client connections")
    parser.add_argument("--retry-share", type=float, default=0.05)
    parser.add_argument("--server-workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--postgres", metavar="ADMIN_URL", help="also run on a fresh PostgreSQL database")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        _serve(args.serve, args.port, args.server_workers)
        return

    results: dict[str, object] = {"count": args.count, "cpu_count": os.cpu_count()}
    with tempfile.TemporaryDirectory() as folder:
        sqlite = run(
            f"sqlite:///{folder}/bench.db",
            args.count,
            args.concurrency,
            args.retry_share,
            args.server_workers,
        )
    results["sqlite"] = sqlite
    _report("sqlite", sqlite)
    if args.postgres:
        name = f"rmn_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f"CREATE DATABASE {name}"))
        try:
            url = admin.url.set(database=name).render_as_string(hide_password=False)
            pg = run(url, args.count, args.concurrency, args.retry_share, args.server_workers)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            admin.dispose()
        results["postgresql"] = pg
        _report("postgresql", pg)
    write_results("feedback_load", results)


if __name__ == "__main__":
    main()
