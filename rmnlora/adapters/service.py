"""The inference service: registry lookup + access check + composition + batched generation.

Why one object: the HTTP runtime and the in-process chat model must apply the same tenant rules
and the same composition, so both call ``InferenceService.infer``.
"""

from __future__ import annotations

import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Literal

from rmnlora.adapters.batching import GeneratedText, GenerationJob, MixedPath, render_chat
from rmnlora.adapters.compose import Composer, Composition
from rmnlora.adapters.continuous import ContinuousEngine
from rmnlora.adapters.registry import AdapterRegistry
from rmnlora.adapters.shipped import register_shipped
from rmnlora.adapters.static_engine import BatchingEngine
from rmnlora.config import Settings
from rmnlora.schemas.inference import InferenceRequest, InferenceResponse
from rmnlora.storage.database import Database


def adapters_root(settings: Settings) -> Path:
    """Where registered adapter folders are kept: ``<data_dir>/adapters``."""
    return settings.data_dir / "adapters"


Batching = Literal["continuous", "static"]
Outcome = tuple[GeneratedText, Composition, dict[str, float]]


class InferenceService:
    """Serves InferenceRequests for tenants over one shared base model."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        registry: AdapterRegistry,
        *,
        weights: dict[str, float] | None = None,
        cache_size: int = 16,
        max_batch_size: int = 8,
        max_wait_ms: float = 10.0,
        max_collect_ms: float = 250.0,
        default_max_new_tokens: int = 64,
        model_name: str = "custom",
        mixed_path: MixedPath = "grouped",
        shipped_adapters: bool = False,
        max_queued_per_tenant: int = 64,
        queue_timeout_s: float | None = None,
        batching: Batching = "continuous",
        fair_share_rows: int = 2,
    ) -> None:
        self.tokenizer = tokenizer
        self.queue_timeout_s = queue_timeout_s
        self.shipped_adapters = shipped_adapters
        self.registry = registry
        self.composer = Composer(model, weights=weights, cache_size=cache_size)
        self.batching = batching
        self.engine: BatchingEngine | ContinuousEngine
        if batching == "continuous":
            self.engine = ContinuousEngine(
                self.composer,
                tokenizer,
                max_batch_size=max_batch_size,
                max_wait_ms=max_wait_ms,
                mixed_path=mixed_path,
                max_per_tenant=max_queued_per_tenant,
                fair_share_rows=fair_share_rows,
            )
        elif batching == "static":
            self.engine = BatchingEngine(
                self.composer,
                tokenizer,
                max_batch_size=max_batch_size,
                max_wait_ms=max_wait_ms,
                max_collect_ms=max_collect_ms,
                mixed_path=mixed_path,
                max_per_tenant=max_queued_per_tenant,
            )
        else:
            raise ValueError(f"batching must be 'continuous' or 'static', got {batching!r}")
        self.default_max_new_tokens = default_max_new_tokens
        self.model_name = model_name

    @classmethod
    def from_settings(
        cls, settings: Settings, database: Database, *, model: Any = None, tokenizer: Any = None
    ) -> InferenceService:
        """Build from config; loads the configured base model unless ``model``/``tokenizer`` are given."""
        import torch

        if settings.model.cpu_threads and not torch.cuda.is_available():
            torch.set_num_threads(settings.model.cpu_threads)  # measured faster on a shared CPU
        if model is None or tokenizer is None:
            from rmnlora.adapters.base_model import load_base_model

            model, tokenizer = load_base_model(settings)
        registry = AdapterRegistry(database, adapters_root(settings))
        service = cls(
            model,
            tokenizer,
            registry,
            weights=dict(settings.model.composition_weights),
            cache_size=settings.model.composition_cache_size,
            max_batch_size=settings.runtime.max_batch_size,
            max_wait_ms=settings.runtime.max_wait_ms,
            max_collect_ms=settings.runtime.max_collect_ms,
            default_max_new_tokens=settings.model.max_new_tokens,
            model_name=settings.model.base_model,
            mixed_path=settings.runtime.mixed_batch_path,
            shipped_adapters=settings.model.shipped_adapters,
            max_queued_per_tenant=settings.runtime.max_queued_per_tenant,
            queue_timeout_s=settings.runtime.queue_timeout_s,
            batching=settings.runtime.batching,
            fair_share_rows=settings.runtime.fair_share_rows,
        )
        service.register_shipped()
        return service

    def register_shipped(self) -> list[str]:
        """Register the shipped adapters still missing (when configured to serve them).

        Called again whenever a tenant may have appeared (a plan's intake, ``/tenants/register``):
        a shipped brand adapter can only be registered once its tenant exists, and a service
        started before that would otherwise serve the brand without it until restarted.
        """
        return register_shipped(self.registry) if self.shipped_adapters else []

    @property
    def device(self) -> str:
        return str(next(self.composer.model.parameters()).device)

    def submit(self, job: GenerationJob) -> Future[Outcome]:
        """Queue a job built by the caller (its deadline set from ``runtime.queue_timeout_s`` when
        it has none); raises TenantQueueFull, and ValueError for an option this engine lacks."""
        if self.batching == "static" and (job.stop or job.seed is not None or job.logprobs is not None):
            raise ValueError("stop, seed and logprobs need runtime.batching: continuous")
        if self.batching == "static" and job.on_text is not None:
            raise ValueError("streaming needs runtime.batching: continuous")
        if job.deadline is None and self.queue_timeout_s is not None:
            job.deadline = job.enqueued_at + self.queue_timeout_s
        return self.engine.submit(job)

    def infer(
        self, tenant_id: str, request: InferenceRequest, *, timeout: float | None = 300
    ) -> InferenceResponse:
        """Generate for ``tenant_id``; raises AdapterAccessError for another tenant's brand."""
        started = time.perf_counter()
        resolution = self.registry.resolve(
            tenant_id, retailer=request.retailer, brand=request.brand, task=request.task
        )
        job = GenerationJob(
            prompt=render_chat(self.tokenizer, request.chat()),
            resolution=resolution,
            max_new_tokens=request.max_new_tokens or self.default_max_new_tokens,
            temperature=request.temperature,
            top_p=request.top_p,
            tenant_id=tenant_id,
        )
        output, composition, timings = self.submit(job).result(timeout=timeout)
        return InferenceResponse(
            text=output.text,
            finish_reason="stop" if output.finish_reason == "stop" else "length",
            tokens=len(output.token_ids),
            adapter=composition.adapter_name,
            components=dict(composition.components),
            weights=dict(composition.weights),
            missing=list(composition.missing),
            note=composition.describe(),
            cached=composition.cached,
            timings_ms={**timings, "total_ms": (time.perf_counter() - started) * 1000},
            batch_path=output.path,
            mean_logprob=output.mean_logprob,
        )

    def close(self) -> None:
        self.engine.stop()
