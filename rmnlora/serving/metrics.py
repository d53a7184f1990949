"""Prometheus metrics of the runtime, served at GET /metrics; the inference route counts into them."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    """Prometheus metrics in a registry of their own (one per app, so tests can build many apps)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "rmn_inference_requests", "Inference requests by outcome", ["outcome"], registry=self.registry
        )
        self.latency = Histogram(
            "rmn_inference_latency_seconds", "End-to-end inference latency", registry=self.registry
        )
        self.tokens = Counter("rmn_generated_tokens", "Tokens generated", registry=self.registry)
        self.queue_depth = Gauge("rmn_queue_depth", "Requests waiting for a batch", registry=self.registry)
        self.batches = Gauge("rmn_batches", "Batches run by the engine", registry=self.registry)
        self.batch_paths = Gauge(
            "rmn_batches_by_path",
            "Batches run by forward path (single, grouped, peft, base, plain)",
            ["path"],
            registry=self.registry,
        )
        self.composed = Gauge(
            "rmn_composed_adapters", "Composed adapters in the cache", registry=self.registry
        )
