"""The static engine (``runtime.batching: static``): one ``generate`` per collected batch.

Why keep it beside the continuous engine: it is the simpler, older path, and its batches are the
reference the continuous engine's rows are tested against. A worker thread takes the first
waiting request, collects more for up to ``max_wait_ms`` after each arrival (never past
``max_collect_ms``) or until ``max_batch_size``, composes each row's adapter (pinning the batch's
adapters against LRU eviction) and generates once (``batching.generate_rows``).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from rmnlora.adapters.batching import GenerationJob, MixedPath, generate_rows
from rmnlora.adapters.compose import Composer, Composition
from rmnlora.adapters.engine_worker import EngineWorker
from rmnlora.adapters.fair_queue import QueueEmpty

log = logging.getLogger(__name__)


class BatchingEngine(EngineWorker):
    """A worker thread turning queued GenerationJobs into mixed-adapter batches."""

    thread_name = "rmn-batching"

    def __init__(
        self,
        composer: Composer,
        tokenizer: Any,
        *,
        max_batch_size: int = 8,
        max_wait_ms: float = 10.0,
        mixed_path: MixedPath = "grouped",
        max_collect_ms: float = 250.0,
        max_per_tenant: int = 64,
    ) -> None:
        super().__init__(
            composer,
            tokenizer,
            max_batch_size=max_batch_size,
            max_wait_ms=max_wait_ms,
            mixed_path=mixed_path,
            max_per_tenant=max_per_tenant,
        )
        self.max_collect_s = max(max_collect_ms, max_wait_ms) / 1000

    def _collect(self, first: GenerationJob) -> tuple[list[GenerationJob], bool]:
        """The first job and those that follow it closely: each arrival extends the wait by
        ``max_wait_ms`` (so a burst sent together, like a creative wave whose callers each look up
        their adapters first, lands in one batch), never past ``max_collect_ms`` after the first."""
        batch = [first]
        started = time.perf_counter()
        deadline = started + self.max_wait_s
        while len(batch) < self.max_batch_size:
            remaining = min(deadline, started + self.max_collect_s) - time.perf_counter()
            try:
                job = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except QueueEmpty:
                break
            if job is None:
                return batch, True
            batch.append(job)
            deadline = time.perf_counter() + self.max_wait_s
        return batch, False

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch, stop = self._collect(first)
            self.run_batch(batch)  # greedy and sampled rows together: one decode, per-row settings
            if stop:
                return

    def run_batch(self, jobs: list[GenerationJob]) -> None:
        """Compose every row's adapter, generate once, resolve each job's future."""
        ready: list[tuple[GenerationJob, Composition]] = []
        with self.composer.lock:
            pinned: set[str] = set()
            now = time.perf_counter()
            for job in jobs:
                if not job.future.set_running_or_notify_cancel():
                    continue
                if job.deadline is not None and now > job.deadline:  # its caller has given up waiting
                    waited = now - job.enqueued_at
                    job.future.set_exception(
                        TimeoutError(f"waited {waited:.1f} s in the queue, past its deadline")
                    )
                    continue
                try:
                    composition = self.composer.compose(job.resolution, pinned=pinned)
                except Exception as exc:  # a broken adapter fails its own request, not the batch
                    log.exception("composition failed")
                    job.future.set_exception(exc)
                    continue
                pinned.add(composition.adapter_name)
                ready.append((job, composition))
            if not ready:
                return
            started = time.perf_counter()
            try:
                outputs = generate_rows(
                    self.model,
                    self.tokenizer,
                    [job.prompt for job, _ in ready],
                    [composition.adapter_name for _, composition in ready],
                    max_new_tokens=[job.max_new_tokens for job, _ in ready],
                    temperature=[job.temperature for job, _ in ready],
                    top_p=[job.top_p for job, _ in ready],
                    mixed_path=self.mixed_path,
                )
            except Exception as exc:
                log.exception("generation failed")
                for job, _ in ready:
                    job.future.set_exception(exc)
                return
        generate_ms = (time.perf_counter() - started) * 1000
        self.batches += 1
        self.rows += len(ready)
        self.paths[outputs[0].path] = self.paths.get(outputs[0].path, 0) + 1
        for (job, composition), output in zip(ready, outputs, strict=True):
            timings = {
                "queue_ms": (started - job.enqueued_at) * 1000 - composition.compose_ms,
                "compose_ms": composition.compose_ms,
                "generate_ms": generate_ms,
                "batch_size": float(len(ready)),
            }
            job.future.set_result((output, composition, timings))
