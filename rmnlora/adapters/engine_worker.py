"""What both decoding engines share: the per-tenant fair queue, one worker thread, start/stop/submit.

Why a base class: the static engine (``batching.BatchingEngine``) and the continuous one
(``continuous.ContinuousEngine``) differ only in what the worker does with queued jobs; the
checks on their settings, the thread's life and the queueing contract (``TenantQueueFull`` when a
tenant's line is full, a ``None`` sentinel to stop after what is queued) must not differ.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Any

from rmnlora.adapters.batching import MIXED_PATHS, GeneratedText, GenerationJob, MixedPath
from rmnlora.adapters.compose import Composer, Composition
from rmnlora.adapters.fair_queue import FairQueue

Outcome = tuple[GeneratedText, Composition, dict[str, float]]


class EngineWorker:
    """A worker thread fed by a fair queue of jobs; subclasses define ``_run`` (the worker loop)."""

    thread_name = "rmn-engine"

    def __init__(
        self,
        composer: Composer,
        tokenizer: Any,
        *,
        max_batch_size: int,
        max_wait_ms: float,
        mixed_path: MixedPath,
        max_per_tenant: int,
    ) -> None:
        if max_batch_size < 1:
            raise ValueError("max_batch_size must be at least 1")
        if mixed_path not in MIXED_PATHS:
            raise ValueError(f"mixed_path must be one of {MIXED_PATHS}, got {mixed_path!r}")
        if max_wait_ms < 0:
            raise ValueError("max_wait_ms must be at least 0")
        self.composer = composer
        self.model = composer.model
        self.tokenizer = tokenizer
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_ms / 1000
        self.mixed_path: MixedPath = mixed_path
        self._queue: FairQueue[GenerationJob] = FairQueue(max_per_tenant)
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.batches = 0  # forward passes (continuous) or generate calls (static) run
        self.rows = 0  # jobs finished
        self.paths: dict[str, int] = {}  # batches run per path (base/single/grouped/peft/plain)

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    def start(self) -> None:
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._queue.reopen()
                self._reset()
                self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
                self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the jobs in flight and those queued, then end the worker."""
        with self._start_lock:
            if self._thread is not None and self._thread.is_alive():
                self._queue.put(None)
                self._thread.join(timeout)
            self._thread = None

    def submit(self, job: GenerationJob) -> Future[Outcome]:
        """Queue a job (starting the worker if needed); the future gives (text, composition, timings).

        Raises TenantQueueFull when the job's tenant already has ``max_per_tenant`` jobs waiting."""
        self.start()
        self._queue.put(job)
        return job.future

    def _reset(self) -> None:
        """State the worker loop starts from (called before each start)."""

    def _run(self) -> None:
        raise NotImplementedError
