"""The create step alone, repeated with the model warm: its time, and the batches it ran.

    .venv/bin/python benchmarks/create_step.py [--runs 3] [--threads 1] [--spare 1]
        [--wait-ms 10] [--brief examples/brief.yaml]

The planner benchmark times the create node once, which on a shared CPU is one noisy sample; this
runs ``create_for_brief`` (the node's agent) on the demo brief ``--runs`` times over one loaded
model and prints each run's seconds with every batch the engine ran (rows, seconds, longest
answer in tokens), so a change to batching or drawing can be judged by its median and by where
the time went (one wave or several, long rows holding a batch).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import RESULTS_DIR, write_results  # noqa: E402
from rmnlora.adapters.batching import GenerationJob  # noqa: E402
from rmnlora.adapters.static_engine import BatchingEngine  # noqa: E402
from rmnlora.agents.creative import generate as creative_generate  # noqa: E402
from rmnlora.agents.creative.phase import create_for_brief  # noqa: E402
from rmnlora.config import load_settings  # noqa: E402
from rmnlora.planner.services import PlannerServices  # noqa: E402
from rmnlora.schemas.brief import load_brief  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="model.cpu_threads (default: the setting)")
    parser.add_argument("--spare", type=int, default=None, help="spare draws in the first wave")
    parser.add_argument(
        "--wait-ms", type=float, default=None, help="runtime.max_wait_ms (default: the setting)"
    )
    parser.add_argument("--brief", type=Path, default=ROOT / "examples" / "brief.yaml")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)

    model_options: dict[str, Any] = {"enabled": True}
    if args.threads is not None:
        model_options["cpu_threads"] = args.threads
    runtime_options = {} if args.wait_ms is None else {"max_wait_ms": args.wait_ms}
    settings = load_settings(
        data_dir=RESULTS_DIR / "planner_data", model=model_options, runtime=runtime_options
    )
    if args.spare is not None:  # generate_copy's default sampling, which the planner's agent uses
        kwdefaults = creative_generate.generate_copy.__kwdefaults__ or {}
        sampling = replace(kwdefaults["sampling"], spare_draws=args.spare)
        creative_generate.generate_copy.__kwdefaults__ = {**kwdefaults, "sampling": sampling}
    brief = load_brief(args.brief)
    services = PlannerServices(settings)
    models = {
        r.name: services.chat_model(tenant=brief.tenant, retailer=r.name, brand=brief.brand, task="creative")
        for r in brief.retailers
    }
    batches: list[dict[str, Any]] = []
    run_batch = BatchingEngine.run_batch

    def timed_batch(engine: BatchingEngine, jobs: list[GenerationJob]) -> None:
        started = time.perf_counter()
        run_batch(engine, jobs)
        done = [job.future.result()[0] for job in jobs if job.future.done() and not job.future.exception()]
        batches.append(
            {
                "rows": len(jobs),
                "seconds": round(time.perf_counter() - started, 2),
                "longest_tokens": max((len(text.token_ids) for text in done), default=0),
            }
        )

    BatchingEngine.run_batch = timed_batch  # type: ignore[method-assign]
    runs = []
    for number in range(1, args.runs + 1):
        batches.clear()
        started = time.perf_counter()
        result = create_for_brief(brief, lambda name: models[name])
        seconds = time.perf_counter() - started
        usable = sum(c.governance.passed for copy in result.copies for c in copy.candidates)
        shown = sum(len(copy.candidates) for copy in result.copies)
        draws = sum(copy.draws for copy in result.copies)
        runs.append(
            {
                "seconds": round(seconds, 1),
                "batches": list(batches),
                "draws": draws,
                "usable": usable,
                "shown": shown,
            }
        )
        described = ", ".join(
            f"{b['rows']} rows {b['seconds']} s ({b['longest_tokens']} tok)" for b in batches
        )
        print(f"run {number}: {seconds:.1f} s, {draws} draws, {usable}/{shown} usable; batches: {described}")
    median = statistics.median(run["seconds"] for run in runs)
    print(f"create step median {median:.1f} s over {len(runs)} runs (threads {settings.model.cpu_threads})")
    services.inference_service.close()
    write_results(
        "create_step",
        {"median_s": median, "runs": runs, "threads": settings.model.cpu_threads, "spare": args.spare},
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
