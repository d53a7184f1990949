"""One tenant floods the runtime with long requests; how long do another tenant's short ones take?

    .venv/bin/python benchmarks/runtime_fairness.py [--short 12] [--flooders 24] [--long-tokens 64]

Runs the real base model in-process (the HTTP layer adds a few ms, not queueing). Three phases:
``idle`` (the quiet tenant alone), ``fair`` (the flood and the quiet tenant in their own queue lines,
the shipped behaviour) and ``fifo`` (every request in one line, as before per-tenant lines: each
job is given the same tenant id). Prints the quiet tenant's p50/p99 latency per phase and the ratio
to idle; writes benchmarks/results/runtime_fairness.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import RESULTS_DIR, write_results  # noqa: E402
from rmnlora.adapters.service import InferenceService  # noqa: E402
from rmnlora.config import load_settings  # noqa: E402
from rmnlora.schemas.inference import InferenceRequest  # noqa: E402
from rmnlora.storage import init_db  # noqa: E402

QUIET_PROMPT = "Write a five-word headline for oat bars."
FLOOD_PROMPT = "Write a long paragraph describing breakfast cereal, its taste and its box, in detail."


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _quiet_latencies(service: InferenceService, tenant: str, count: int, tokens: int) -> list[float]:
    request = InferenceRequest(prompt=QUIET_PROMPT, max_new_tokens=tokens)
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        service.infer(tenant, request)
        latencies.append(time.perf_counter() - started)
    return latencies


def _phase(
    service: InferenceService,
    *,
    flooders: int,
    long_tokens: int,
    short: int,
    short_tokens: int,
    same_line: bool,
) -> dict[str, Any]:
    stop = threading.Event()
    flood_done = [0]
    flood_tenant = "quiet" if same_line else "flood"

    def flood() -> None:
        request = InferenceRequest(prompt=FLOOD_PROMPT, max_new_tokens=long_tokens)
        while not stop.is_set():
            service.infer(flood_tenant, request)
            flood_done[0] += 1

    threads = [threading.Thread(target=flood, daemon=True) for _ in range(flooders)]
    for thread in threads:
        thread.start()
    time.sleep(2.0)  # let the flood fill the queue
    latencies = _quiet_latencies(service, "quiet", short, short_tokens)
    stop.set()
    for thread in threads:
        thread.join(600)
    return {"latencies_s": latencies, "flood_requests_done": flood_done[0]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--short", type=int, default=12, help="quiet tenant's requests per phase")
    parser.add_argument("--short-tokens", type=int, default=8)
    parser.add_argument("--flooders", type=int, default=24, help="concurrent flooding callers")
    parser.add_argument("--long-tokens", type=int, default=64)
    args = parser.parse_args()

    root = RESULTS_DIR / "fairness_data"
    settings = load_settings(data_dir=root, model={"enabled": True}, runtime={"max_queued_per_tenant": 256})
    database = init_db(f"sqlite:///{root / 'rmn.db'}", secret_key="benchmark-only-secret")
    service = InferenceService.from_settings(settings, database)
    service.infer("quiet", InferenceRequest(prompt=QUIET_PROMPT, max_new_tokens=2))  # warm
    figures: dict[str, Any] = {"args": vars(args)}
    idle = _quiet_latencies(service, "quiet", args.short, args.short_tokens)
    figures["idle"] = {"latencies_s": idle}
    for name, same_line in (("fair", False), ("fifo", True)):
        figures[name] = _phase(
            service,
            flooders=args.flooders,
            long_tokens=args.long_tokens,
            short=args.short,
            short_tokens=args.short_tokens,
            same_line=same_line,
        )
    idle_p99 = _percentile(idle, 0.99)
    for name in ("idle", "fair", "fifo"):
        values = figures[name]["latencies_s"]
        p50, p99 = statistics.median(values), _percentile(values, 0.99)
        figures[name].update({"p50_s": p50, "p99_s": p99, "p99_vs_idle": p99 / idle_p99})
        extra = f", flood requests served {figures[name]['flood_requests_done']}" if name != "idle" else ""
        print(
            f"{name:5} quiet tenant p50 {p50:.2f} s  p99 {p99:.2f} s  ({p99 / idle_p99:.1f}x idle p99){extra}"
        )
    service.engine.stop()
    database.dispose()
    write_results("runtime_fairness", figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
