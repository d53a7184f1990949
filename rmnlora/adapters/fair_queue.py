"""The batching engine's queue: one line per tenant, served in turn, each line bounded.

Why not one FIFO: every tenant shares one model and one batch at a time, so with a FIFO a tenant
that sends 200 long requests puts every other tenant's request behind all 200. Here each tenant
(the planner and other in-process callers are the tenant ``""``) has its own line; a batch takes one
job from each line in turn, so a short request waits for at most the batch that is running and its
share of the next one. A line holds at most ``max_per_tenant`` jobs: the next ``put`` raises
:class:`TenantQueueFull`, which the HTTP API answers with 429 instead of queueing without bound.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar


class Tenanted(Protocol):
    tenant_id: str


Job = TypeVar("Job", bound=Tenanted)


class TenantQueueFull(RuntimeError):
    """This tenant already has as many requests waiting as the runtime allows."""

    def __init__(self, tenant_id: str, limit: int) -> None:
        super().__init__(
            f"tenant {tenant_id or 'in-process'!r} has {limit} requests waiting already; "
            "retry when some finish"
        )
        self.tenant_id = tenant_id
        self.limit = limit


class QueueEmpty(Exception):
    """Nothing arrived before the timeout."""


class FairQueue(Generic[Job]):
    """Per-tenant FIFO lines served round-robin; ``None`` stops the reader once the lines are empty."""

    def __init__(self, max_per_tenant: int = 64) -> None:
        if max_per_tenant < 1:
            raise ValueError("max_per_tenant must be at least 1")
        self.max_per_tenant = max_per_tenant
        self._lines: OrderedDict[str, deque[Job]] = OrderedDict()
        self._stop = False
        self._ready = threading.Condition()

    def reopen(self) -> None:
        """Clear the stop signal, for a reader started again after a stop."""
        with self._ready:
            self._stop = False

    def qsize(self) -> int:
        with self._ready:
            return sum(len(line) for line in self._lines.values())

    def depth(self, tenant_id: str) -> int:
        with self._ready:
            line = self._lines.get(tenant_id)
            return len(line) if line else 0

    def put(self, job: Job | None) -> None:
        """Queue ``job`` at the end of its tenant's line (``None``: stop); raises TenantQueueFull."""
        with self._ready:
            if job is None:
                self._stop = True
            else:
                line = self._lines.setdefault(job.tenant_id, deque())
                if len(line) >= self.max_per_tenant:
                    raise TenantQueueFull(job.tenant_id, self.max_per_tenant)
                line.append(job)
            self._ready.notify()

    def get(self, timeout: float | None = None, *, skip: Callable[[str], bool] | None = None) -> Job | None:
        """The next job in turn (the first line's head, that line then goes to the back); None when
        stopped and drained. Raises QueueEmpty after ``timeout`` seconds (None: forever, 0: no wait).
        Lines whose tenant ``skip`` names are passed over (a tenant already holding its share)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._ready:
            while True:
                for tenant_id in list(self._lines):
                    line = self._lines[tenant_id]
                    if not line:
                        del self._lines[tenant_id]
                        continue
                    if skip is not None and skip(tenant_id):
                        continue
                    job = line.popleft()
                    self._lines.move_to_end(tenant_id)  # the next get serves the next tenant
                    if not line:
                        del self._lines[tenant_id]
                    return job
                if self._stop and not self._lines:  # drained: no waiting caller is left hanging
                    return None
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise QueueEmpty
                self._ready.wait(remaining)

    def get_nowait(self, *, skip: Callable[[str], bool] | None = None) -> Job | None:
        return self.get(timeout=0, skip=skip)
