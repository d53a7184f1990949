"""Continuous batching: requests join the running batch between decoding steps and leave when done.

Why: the static engine (``batching.BatchingEngine``) runs one ``generate`` per batch, so a request
that arrives while a batch decodes waits for all of it, and a batch runs as long as its longest
row. Here a worker thread keeps one running batch (a key/value cache whose rows come and go,
``kv_rows.py``): before every step it admits waiting jobs up to ``max_batch_size`` (prefilled
together under their own adapters, then merged in), runs one forward over every row with each
row's composed adapter (the grouped LoRA forward for a mixed batch), chooses each row's token with
its own settings (``token_choice.py``), streams the text that became final, and retires rows that
reached end of sequence, a stop string or their token limit. Jobs wait in the same per-tenant fair
queue as before, and no tenant holds more than ``max_batch_size`` rows while the batch may take
``fair_share_rows`` more for the other tenants: a tenant whose flood fills the batch does not make
another tenant's request wait for one of its rows to finish, it joins at the next step.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import torch

from rmnlora.adapters.batching import GeneratedText, GenerationJob, MixedPath, TokenLogprob, choose_path
from rmnlora.adapters.compose import Composer, Composition
from rmnlora.adapters.engine_worker import EngineWorker
from rmnlora.adapters.fair_queue import QueueEmpty
from rmnlora.adapters.kv_rows import KvRows, merge
from rmnlora.adapters.shared_prompts import adapter_scope
from rmnlora.adapters.token_choice import RowSampler

log = logging.getLogger(__name__)

JOIN_PER_STEP = 4
"""Rows that may join a batch that is decoding, per step. When 16 flood rows end together their 16
successors' prefill would stall the batch (and a quiet tenant's request behind it) for a second or
more; four a step keeps each stall short while a burst still joins within a few steps."""


@dataclass
class _Row:
    """A job in the running batch and what it has decoded so far."""

    job: GenerationJob
    composition: Composition
    sampler: RowSampler
    admitted_at: float
    tokens: list[int] = field(default_factory=list)
    chosen_logprobs: list[float] = field(default_factory=list)
    logprobs: list[TokenLogprob] = field(default_factory=list)
    emitted: int = 0  # characters of the decoded text already streamed
    batch_sizes: list[int] = field(default_factory=list)
    first_token_at: float | None = None
    path: str = "plain"  # the forward its last step ran on (see GeneratedText.path)


class ContinuousEngine(EngineWorker):
    """A worker thread decoding every admitted job one token per step, admitting more between steps."""

    thread_name = "rmn-continuous"

    def __init__(
        self,
        composer: Composer,
        tokenizer: Any,
        *,
        max_batch_size: int = 16,
        max_wait_ms: float = 10.0,
        mixed_path: MixedPath = "grouped",
        max_per_tenant: int = 64,
        fair_share_rows: int = 2,
    ) -> None:
        super().__init__(
            composer,
            tokenizer,
            max_batch_size=max_batch_size,
            max_wait_ms=max_wait_ms,
            mixed_path=mixed_path,
            max_per_tenant=max_per_tenant,
        )
        if fair_share_rows < 0:
            raise ValueError("fair_share_rows must be at least 0")
        self.fair_share_rows = fair_share_rows
        self._rows: list[_Row] = []
        self._kv: KvRows | None = None
        self._stopping = False
        # The adapter scope the running batch decodes under, kept open across steps: building the
        # grouped stacks measured 36 ms a batch on SmolLM2-135M, a fifth of a decoding step.
        self._scope: ExitStack | None = None
        self._scope_key: tuple[str, tuple[str, ...]] | None = None
        self._scope_extra: dict[str, Any] = {}

    @property
    def active_rows(self) -> int:
        return len(self._rows)

    def _reset(self) -> None:
        self._stopping = False

    # -- the worker ---------------------------------------------------------------------------

    def _waiting(self, wait_s: float, first: GenerationJob | None = None) -> list[GenerationJob]:
        """The queued jobs the batch has room for; waits ``wait_s`` after each arrival for the next
        (a burst). A tenant at ``max_batch_size`` rows is passed over; the batch takes up to
        ``fair_share_rows`` more rows than that, for the other tenants."""
        jobs: list[GenerationJob] = [first] if first is not None else []
        rows: dict[str, int] = {}
        for held in [*(row.job for row in self._rows), *jobs]:
            rows[held.tenant_id] = rows.get(held.tenant_id, 0) + 1

        def full(tenant_id: str) -> bool:
            return rows.get(tenant_id, 0) >= self.max_batch_size

        room = self.max_batch_size + self.fair_share_rows - len(self._rows)
        if self._rows:  # a prefill stalls every decoding row: join a few at a time, each step
            room = min(room, JOIN_PER_STEP)
        while len(jobs) < room:
            try:
                job = self._queue.get(timeout=wait_s if wait_s > 0 else 0, skip=full)
            except QueueEmpty:
                break
            if job is None:
                self._stopping = True
                break
            jobs.append(job)
            rows[job.tenant_id] = rows.get(job.tenant_id, 0) + 1
        return jobs

    def _run(self) -> None:
        while True:
            if not self._rows:
                if self._stopping:
                    return
                first = self._queue.get()  # idle: block until work (or the stop signal) arrives
                if first is None:
                    return
                joining = self._waiting(self.max_wait_s, first)
            else:
                joining = self._waiting(0)
            try:
                if joining:
                    self._admit(joining)
                if self._rows:
                    self._step()
            except Exception as exc:  # a failed forward fails the rows in it, not the worker
                log.exception("continuous batch failed")
                for row in self._rows:
                    if not row.job.future.done():
                        row.job.future.set_exception(exc)
                self._rows, self._kv = [], None
                with self.composer.lock:
                    self._leave_scope()
                self.composer.hold(())

    def _admit(self, jobs: Sequence[GenerationJob]) -> None:
        """Compose, prefill and choose the first token of each job; then merge them into the batch."""
        now = time.perf_counter()
        ready: list[_Row] = []
        with self.composer.lock:
            self._leave_scope()  # composing and prefilling need the model as PEFT left it
            pinned = {row.composition.adapter_name for row in self._rows}
            for job in jobs:
                if not job.future.set_running_or_notify_cancel():
                    continue
                if job.deadline is not None and now > job.deadline:
                    job.future.set_exception(
                        TimeoutError(f"waited {now - job.enqueued_at:.1f} s in the queue, past its deadline")
                    )
                    continue
                try:
                    composition = self.composer.compose(job.resolution, pinned=pinned)
                except Exception as exc:  # a broken adapter fails its own request only
                    log.exception("composition failed")
                    job.future.set_exception(exc)
                    continue
                pinned.add(composition.adapter_name)
                sampler = RowSampler(job.temperature, job.top_p, job.seed)
                ready.append(_Row(job, composition, sampler, time.perf_counter()))
            if not ready:
                return
            names = [row.composition.adapter_name for row in ready]
            device = next(self.model.parameters()).device
            encoded = self.tokenizer(
                [row.job.prompt for row in ready], return_tensors="pt", padding=True, add_special_tokens=False
            ).to(device)
            mask = encoded["attention_mask"]
            positions = (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 0)
            from transformers import DynamicCache

            cache = DynamicCache(config=self.model.config)
            logits, path = self._forward(names, encoded["input_ids"], mask, positions, cache)
            self._leave_scope()
        self._kv = merge(self.model.config, self._kv, KvRows(cache, mask))
        self._rows.extend(ready)
        self.composer.hold({row.composition.adapter_name for row in self._rows})
        self._advance(ready, logits, len(self._rows), path)

    def _forward(
        self, names: Sequence[str], input_ids: torch.Tensor, mask: torch.Tensor, positions: Any, cache: Any
    ) -> tuple[torch.Tensor, str]:
        """One forward of ``input_ids`` (row i under adapter ``names[i]``): the last position's logits
        and the path it ran on."""
        path = choose_path(self.model, names, self.mixed_path)
        extra = self._enter_scope(path, names)
        with torch.inference_mode():
            output = self.model(
                input_ids=input_ids,
                attention_mask=mask,
                position_ids=positions,
                cache=cache,
                use_cache=True,
                logits_to_keep=1,
                **extra,
            )
        self.batches += 1
        self.paths[path] = self.paths.get(path, 0) + 1
        return output.logits[:, -1, :], path

    def _enter_scope(self, path: str, names: Sequence[str]) -> dict[str, Any]:
        key = (path, tuple(names))
        if self._scope_key != key:
            self._leave_scope()
            stack = ExitStack()
            self._scope_extra = stack.enter_context(adapter_scope(self.model, path, names))
            self._scope, self._scope_key = stack, key
        return self._scope_extra

    def _leave_scope(self) -> None:
        if self._scope is not None:
            self._scope.close()
        self._scope, self._scope_key, self._scope_extra = None, None, {}

    def _step(self) -> None:
        """One token for every row in the batch."""
        assert self._kv is not None
        rows = self._rows
        device = self._kv.mask.device
        last = torch.tensor([[row.tokens[-1]] for row in rows], dtype=torch.long, device=device)
        positions = self._kv.next_positions()
        with self.composer.lock:
            logits, path = self._forward(
                [row.composition.adapter_name for row in rows],
                last,
                self._kv.extend_mask(),
                positions,
                self._kv.cache,
            )
        self._advance(rows, logits, len(rows), path)

    def _advance(self, rows: Sequence[_Row], logits: torch.Tensor, batch_size: int, path: str) -> None:
        """Choose each row's next token, stream what became final, retire the rows that are done."""
        model_logprobs = torch.log_softmax(logits.float(), dim=-1)
        finished: set[int] = set()
        now = time.perf_counter()
        for index, row in enumerate(rows):
            token, chosen = row.sampler.choose(logits[index])
            row.batch_sizes.append(batch_size)
            row.path = path
            if row.first_token_at is None:
                row.first_token_at = now
            if row.job.cancelled:
                finished.add(id(row))
                self._finish(row, "cancelled")
                continue
            if token == self.tokenizer.eos_token_id:
                finished.add(id(row))
                self._finish(row, "stop")
                continue
            row.tokens.append(token)
            row.chosen_logprobs.append(chosen)
            entry = self._logprob_entry(row, token, model_logprobs[index])
            if self._emit(row, entry):
                finished.add(id(row))
                self._finish(row, "stop")
            elif len(row.tokens) >= row.job.max_new_tokens:
                finished.add(id(row))
                self._finish(row, "length")
        if finished:
            keep = [i for i, row in enumerate(self._rows) if id(row) not in finished]
            self._rows = [self._rows[i] for i in keep]
            if self._rows and self._kv is not None:
                self._kv.keep(keep)
            else:
                self._kv = None
                with self.composer.lock:
                    self._leave_scope()  # idle: the model goes back to PEFT's own forwards
            self.composer.hold({row.composition.adapter_name for row in self._rows})

    def _logprob_entry(self, row: _Row, token: int, logprobs: torch.Tensor) -> TokenLogprob | None:
        wanted = row.job.logprobs
        if wanted is None:
            return None
        top: tuple[tuple[str, float], ...] = ()
        if wanted > 0:
            values, ids = torch.topk(logprobs, wanted)
            top = tuple((self.tokenizer.decode([int(i)]), float(v)) for v, i in zip(values, ids, strict=True))
        entry = TokenLogprob(self.tokenizer.decode([token]), float(logprobs[token]), top)
        row.logprobs.append(entry)
        return entry

    def _text(self, row: _Row) -> tuple[str, bool]:
        """The row's text so far, cut before a stop string (and whether one was found)."""
        text = self.tokenizer.decode(row.tokens, skip_special_tokens=True)
        cuts = [text.find(stop) for stop in row.job.stop if stop and stop in text]
        return (text[: min(cuts)], True) if cuts else (text, False)

    def _emit(self, row: _Row, entry: TokenLogprob | None) -> bool:
        """Stream the text that can no longer change; True when a stop string ended the row."""
        if not row.job.stop and row.job.on_text is None:
            return False  # nothing to look for, nobody listening: decode once, at the end
        text, stopped = self._text(row)
        if row.job.on_text is None:
            return stopped
        final = len(text)
        if not stopped:
            longest = max((len(stop) for stop in row.job.stop), default=0)
            final -= max(longest - 1, 0)  # a stop string may still be forming at the end
            if text.endswith("\ufffd"):  # a multi-byte character not complete yet
                final = min(final, len(text) - 1)
        if final > row.emitted or entry is not None:
            piece = text[row.emitted : max(final, row.emitted)]
            row.emitted = max(final, row.emitted)
            self._call(row, piece, entry)
        return stopped

    @staticmethod
    def _call(row: _Row, piece: str, entry: TokenLogprob | None) -> None:
        assert row.job.on_text is not None
        try:
            row.job.on_text(piece, entry)
        except Exception:  # a broken listener (a closed stream) stops its row, not the batch
            log.exception("stream listener failed; the row is cancelled")
            row.job.cancelled = True

    def _finish(self, row: _Row, reason: str) -> None:
        text, stopped = self._text(row)
        if row.job.on_text is not None and len(text) > row.emitted:
            self._call(row, text[row.emitted :], None)
            row.emitted = len(text)
        finish = "stop" if stopped or reason in ("stop", "cancelled") else "length"
        scored = torch.tensor(row.chosen_logprobs or [0.0])
        finite = scored[torch.isfinite(scored)]
        mean = float(finite.mean()) if row.chosen_logprobs and finite.numel() else None
        logprobs = list(row.logprobs) if row.job.logprobs is not None else None
        output = GeneratedText(text, list(row.tokens), finish, row.path, mean, logprobs)
        done = time.perf_counter()
        timings = {
            "queue_ms": (row.admitted_at - row.job.enqueued_at) * 1000 - row.composition.compose_ms,
            "compose_ms": row.composition.compose_ms,
            "generate_ms": (done - row.admitted_at) * 1000,
            "first_token_ms": ((row.first_token_at or done) - row.job.enqueued_at) * 1000,
            "batch_size": sum(row.batch_sizes) / max(len(row.batch_sizes), 1),
        }
        self.rows += 1
        row.job.future.set_result((output, row.composition, timings))
