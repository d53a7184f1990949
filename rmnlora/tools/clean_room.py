"""Clean-room client (httpx, sync and async): aggregate queries against a retailer's clean room.

Protocol: ``POST {endpoint}/v1/aggregates`` with the query as JSON and ``Authorization: Bearer
<key>``; the reply is ``{"query_id", "rows": [{"dimensions", "metrics", "cell_size"}],
"suppressed_cells"}``.

Behaviour a caller relies on:
- unconfigured (no endpoint or no key) → status ``unavailable`` and no rows, never invented data;
- the query is checked against the clean-room policy first; a critical finding → ``blocked_by_policy``
  and nothing is sent;
- timeouts, connection errors, 429 and 5xx are retried with exponential backoff up to
  ``max_retries``; other 4xx are not retried (401/403 → ``unauthorized``, others → ``rejected``);
- cells below the aggregation threshold (the strictest of config, retailer policy and query) are
  dropped and counted in ``suppressed_cells``, even if the server forgot to suppress them.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import ValidationError

from rmnlora.agents.governance.clean_room_policy import check_clean_room_query
from rmnlora.config import Settings
from rmnlora.schemas.clean_room import CleanRoomCell, CleanRoomPolicy, CleanRoomQuery, CleanRoomResult

AGGREGATES_PATH = "/v1/aggregates"
_RETRY_STATUS = {429}


@dataclass(frozen=True)
class CleanRoomConfig:
    """Where and how to reach one retailer's clean room."""

    retailer: str
    endpoint: str | None
    api_key: str | None
    timeout_s: float = 10.0
    max_retries: int = 3
    min_aggregation: int = 50
    backoff_s: float = 0.25
    max_backoff_s: float = 4.0
    policy: CleanRoomPolicy | None = None

    def threshold(self, query: CleanRoomQuery) -> int:
        candidates = [self.min_aggregation, query.min_cell_size or 0]
        if self.policy is not None:
            candidates.append(self.policy.min_aggregation)
        return max(candidates)

    def delay(self, attempt: int) -> float:
        """Backoff before retry ``attempt`` (1-based): base · 2^(attempt-1), capped."""
        return float(min(self.backoff_s * 2 ** (attempt - 1), self.max_backoff_s))


def _missing(config: CleanRoomConfig) -> str | None:
    missing = [
        name for name, value in (("endpoint", config.endpoint), ("api_key", config.api_key)) if not value
    ]
    if not missing:
        return None
    return (
        f"clean room for {config.retailer!r} is not configured (missing {', '.join(missing)}): set "
        "clean_room.endpoint/api_key in the config or the retailer's api_endpoint/clean_room_api_key"
    )


def _precheck(config: CleanRoomConfig, query: CleanRoomQuery) -> CleanRoomResult | None:
    """The result to return without sending anything, or None when the query may go out."""
    reason = _missing(config)
    if reason:
        return CleanRoomResult(retailer=query.retailer, status="unavailable", detail=reason)
    policy = config.policy or CleanRoomPolicy(min_aggregation=config.min_aggregation)
    verdict = check_clean_room_query(query, policy)
    if not verdict.passed:
        detail = "; ".join(v.message for v in verdict.critical)
        return CleanRoomResult(
            retailer=query.retailer,
            status="blocked_by_policy",
            detail=f"query refused before sending: {detail}",
        )
    return None


def _payload(config: CleanRoomConfig, query: CleanRoomQuery) -> dict[str, Any]:
    body = query.model_dump(mode="json")
    body["min_cell_size"] = config.threshold(query)
    return body


def _headers(config: CleanRoomConfig) -> dict[str, str]:
    return {"Authorization": f"Bearer {config.api_key}", "Accept": "application/json"}


def _url(config: CleanRoomConfig) -> str:
    return f"{(config.endpoint or '').rstrip('/')}{AGGREGATES_PATH}"


def _should_retry(response: httpx.Response) -> bool:
    return response.status_code >= 500 or response.status_code in _RETRY_STATUS


def _transport_failure(config: CleanRoomConfig, exc: httpx.TransportError) -> str:
    """Why an attempt got no response (both are retried)."""
    if isinstance(exc, httpx.TimeoutException):
        return f"timeout after {config.timeout_s}s ({type(exc).__name__})"
    return f"connection error: {exc}"


def _interpret(
    config: CleanRoomConfig, query: CleanRoomQuery, response: httpx.Response, attempts: int
) -> CleanRoomResult:
    status = response.status_code
    common: dict[str, Any] = {"retailer": query.retailer, "attempts": attempts, "http_status": status}
    if status in (401, 403):
        return CleanRoomResult(
            status="unauthorized", detail=f"clean room refused the API key (HTTP {status})", **common
        )
    if status >= 400:
        return CleanRoomResult(
            status="failed" if status >= 500 else "rejected",
            detail=f"HTTP {status}: {response.text[:300]}",
            **common,
        )
    threshold = config.threshold(query)
    try:
        data = response.json()
        cells = [CleanRoomCell.model_validate(row) for row in data.get("rows", [])]
        server_suppressed = int(data.get("suppressed_cells", 0))
    except (ValueError, ValidationError, AttributeError, TypeError) as exc:
        return CleanRoomResult(status="failed", detail=f"malformed clean-room reply: {exc}", **common)
    kept = [c for c in cells if c.cell_size >= threshold]
    return CleanRoomResult(
        status="ok",
        rows=kept,
        suppressed_cells=server_suppressed + len(cells) - len(kept),
        min_aggregation=threshold,
        query_id=data.get("query_id"),
        **common,
    )


def _exhausted(query: CleanRoomQuery, attempts: int, last: str, http_status: int | None) -> CleanRoomResult:
    return CleanRoomResult(
        retailer=query.retailer,
        status="failed",
        attempts=attempts,
        http_status=http_status,
        detail=f"gave up after {attempts} attempts: {last}",
    )


class CleanRoomClient:
    """Synchronous client; one ``httpx.Client`` per instance (use as a context manager)."""

    def __init__(self, config: CleanRoomConfig, transport: httpx.BaseTransport | None = None) -> None:
        self.config = config
        self._http = httpx.Client(timeout=config.timeout_s, transport=transport)

    def __enter__(self) -> CleanRoomClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def query(self, query: CleanRoomQuery) -> CleanRoomResult:
        early = _precheck(self.config, query)
        if early is not None:
            return early
        last, http_status = "", None
        for attempt in range(1, self.config.max_retries + 2):
            if attempt > 1:
                time.sleep(self.config.delay(attempt - 1))
            try:
                response = self._http.post(
                    _url(self.config), json=_payload(self.config, query), headers=_headers(self.config)
                )
            except httpx.TransportError as exc:
                last, http_status = _transport_failure(self.config, exc), None
                continue
            if _should_retry(response):
                last, http_status = f"HTTP {response.status_code}", response.status_code
                continue
            return _interpret(self.config, query, response, attempt)
        return _exhausted(query, self.config.max_retries + 1, last, http_status)


class AsyncCleanRoomClient:
    """The same behaviour over ``httpx.AsyncClient`` for async graphs and servers."""

    def __init__(self, config: CleanRoomConfig, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.config = config
        self._http = httpx.AsyncClient(timeout=config.timeout_s, transport=transport)

    async def __aenter__(self) -> AsyncCleanRoomClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def query(self, query: CleanRoomQuery) -> CleanRoomResult:
        early = _precheck(self.config, query)
        if early is not None:
            return early
        last, http_status = "", None
        for attempt in range(1, self.config.max_retries + 2):
            if attempt > 1:
                await asyncio.sleep(self.config.delay(attempt - 1))
            try:
                response = await self._http.post(
                    _url(self.config), json=_payload(self.config, query), headers=_headers(self.config)
                )
            except httpx.TransportError as exc:
                last, http_status = _transport_failure(self.config, exc), None
                continue
            if _should_retry(response):
                last, http_status = f"HTTP {response.status_code}", response.status_code
                continue
            return _interpret(self.config, query, response, attempt)
        return _exhausted(query, self.config.max_retries + 1, last, http_status)


def clean_room_config(
    settings: Settings,
    retailer: str,
    database: Any | None = None,
    policy: CleanRoomPolicy | None = None,
) -> CleanRoomConfig:
    """Config for ``retailer``: its stored endpoint and (decrypted) key when the database has them,
    else the ``clean_room`` section of the settings. The retailer pack's policy is used when given.
    """
    endpoint, api_key = settings.clean_room.endpoint, settings.clean_room.api_key
    if database is not None:
        from rmnlora.storage.models import Retailer

        with database.get_session() as session:
            row = session.get(Retailer, retailer)
            if row is not None:
                endpoint = row.api_endpoint or endpoint
                api_key = row.clean_room_api_key or api_key
    section = settings.clean_room
    return CleanRoomConfig(
        retailer=retailer,
        endpoint=endpoint,
        api_key=api_key,
        timeout_s=section.timeout_s,
        max_retries=section.max_retries,
        min_aggregation=section.min_aggregation,
        policy=policy,
    )
