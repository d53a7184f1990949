"""One tenant's flood does not queue another tenant's request behind it, and no line grows without bound."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import pytest

from rmnlora.adapters.fair_queue import FairQueue, QueueEmpty, TenantQueueFull


@dataclass
class Job:
    tenant_id: str
    number: int


def test_lines_are_served_in_turn_whatever_the_arrival_order() -> None:
    line: FairQueue[Job] = FairQueue(max_per_tenant=100)
    for number in range(50):
        line.put(Job("flood", number))
    line.put(Job("quiet", 0))
    served = [line.get_nowait() for _ in range(4)]
    # the quiet tenant's one request is second, not 51st
    assert [(j.tenant_id, j.number) for j in served if j] == [
        ("flood", 0),
        ("quiet", 0),
        ("flood", 1),
        ("flood", 2),
    ]
    assert line.qsize() == 47 and line.depth("quiet") == 0


def test_a_full_line_refuses_the_next_job_and_other_tenants_still_queue() -> None:
    line: FairQueue[Job] = FairQueue(max_per_tenant=2)
    line.put(Job("a", 1))
    line.put(Job("a", 2))
    with pytest.raises(TenantQueueFull, match="'a' has 2 requests waiting already"):
        line.put(Job("a", 3))
    line.put(Job("b", 1))
    assert line.depth("a") == 2 and line.depth("b") == 1


def test_stop_lets_the_reader_drain_first_and_get_times_out_when_empty() -> None:
    line: FairQueue[Job] = FairQueue()
    with pytest.raises(QueueEmpty):
        line.get(timeout=0.01)
    line.put(Job("a", 1))
    line.put(None)
    assert line.get_nowait() == Job("a", 1)  # a waiting caller is served, not dropped
    assert line.get_nowait() is None
    line.reopen()
    with pytest.raises(QueueEmpty):
        line.get_nowait()


def test_a_blocked_reader_wakes_when_a_job_arrives() -> None:
    line: FairQueue[Job] = FairQueue()
    got: list[Job | None] = []
    reader = threading.Thread(target=lambda: got.append(line.get(timeout=5)))
    reader.start()
    line.put(Job("a", 7))
    reader.join(5)
    assert got == [Job("a", 7)]
