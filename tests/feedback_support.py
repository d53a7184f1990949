"""Helpers for the feedback tests: a real uvicorn server on a free loopback port, tenants and brands."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

from rmnlora.storage import Brand, Database
from rmnlora.storage.tenants import register_tenant


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Run ``app`` with uvicorn in a thread on 127.0.0.1:<free port>; yields the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def add_tenant(database: Database, tenant_id: str, brands: tuple[str, ...]) -> str:
    """Register a tenant with some brands; returns its API key."""
    with database.get_session() as session:
        api_key = register_tenant(session, tenant_id, tenant_id.title())
    with database.get_session(tenant_id=tenant_id) as session:
        for brand in brands:
            session.add(Brand(id=brand, tenant_id=tenant_id, name=brand.title()))
    return api_key
