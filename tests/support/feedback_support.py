"""Helpers for the feedback tests: a real uvicorn server on a free loopback port, tenants and brands."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import FastAPI

from rmnlora.storage import Brand, Database
from rmnlora.storage.tenants import register_tenant
from tests.support.loopback import run_server


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Run ``app`` (lifespan off: the tests start what they need) on a free loopback port."""
    yield from run_server(app, lifespan="off")


def add_tenant(database: Database, tenant_id: str, brands: tuple[str, ...]) -> str:
    """Register a tenant with some brands; returns its API key."""
    with database.get_session() as session:
        api_key = register_tenant(session, tenant_id, tenant_id.title())
    with database.get_session(tenant_id=tenant_id) as session:
        for brand in brands:
            session.add(Brand(id=brand, tenant_id=tenant_id, name=brand.title()))
    return api_key
