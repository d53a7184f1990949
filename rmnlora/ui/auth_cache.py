"""A short-lived cache in front of the shared API-key check, so a busy client costs no query per POST.

Why: resolving the key is a database round trip on every request, the largest single cost of a
feedback write. Only successful checks are cached, keyed by the key's SHA-256, for ``ttl_s``
seconds: a rotated or revoked key stops working within that time; an unknown key is
always checked again (and refused by :func:`rmnlora.adapters.auth.tenant_dependency`).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Header
from starlette.concurrency import run_in_threadpool

from rmnlora.adapters.auth import tenant_dependency
from rmnlora.storage.database import Database


class _TtlCache:
    def __init__(self, ttl_s: float, limit: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.limit = limit
        self._entries: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        entry = self._entries.get(key)
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]

    def put(self, key: str, tenant_id: str) -> None:
        with self._lock:
            if len(self._entries) >= self.limit:
                self._entries.clear()
            self._entries[key] = (tenant_id, time.monotonic() + self.ttl_s)


def cached_tenant_dependency(
    get_database: Callable[[], Database], ttl_s: float = 5.0
) -> Callable[..., Awaitable[str]]:
    """Like ``tenant_dependency`` (same headers, same 401s), remembering accepted keys for ``ttl_s``."""
    check = tenant_dependency(get_database)
    cache = _TtlCache(ttl_s)

    async def require_tenant(
        x_api_key: Annotated[str | None, Header()] = None,
        authorization: Annotated[str | None, Header()] = None,
        database: Database = Depends(get_database),
    ) -> str:
        presented = x_api_key
        if presented is None and authorization and authorization.lower().startswith("bearer "):
            presented = authorization[7:].strip()
        digest = hashlib.sha256(presented.encode()).hexdigest() if presented else None
        if digest is not None and ttl_s > 0:
            hit = cache.get(digest)
            if hit is not None:
                return hit
        tenant_id = await run_in_threadpool(check, x_api_key, authorization, database)
        if digest is not None:
            cache.put(digest, tenant_id)
        return tenant_id

    return require_tenant
