"""End-to-end time of the example brief on the CPU: model load, each node, graph overhead.

Usage: python benchmarks/planner.py [--no-model] [--threads N] [--brief examples/brief.yaml]
The data dir is benchmarks/results/planner_data, so the converted base model is cached after the
first run (its conversion time is reported separately when it happens).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS_DIR, write_results  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--brief", type=Path, default=ROOT / "examples" / "brief.yaml")
    parser.add_argument("--no-model", action="store_true", help="Template copy instead of the local model.")
    parser.add_argument(
        "--threads", type=int, default=None, help="model.cpu_threads (default: the setting's, 1; 0: torch's)."
    )
    args = parser.parse_args()

    import torch

    from rmnlora.config import load_settings
    from rmnlora.datagen.retail_exports import generate_exports
    from rmnlora.planner.graph import build_planner_graph
    from rmnlora.planner.services import PlannerServices
    from rmnlora.schemas.brief import load_brief

    data_root = RESULTS_DIR / "planner_data"
    cache_was_warm = (data_root / "models").is_dir()
    for stale in ("rmn.db", "rmn.db-wal", "rmn.db-shm", "checkpoints.db", "chroma", "runs"):
        target = data_root / stale
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    if not (args.brief.parent / "data" / "ground_truth.json").is_file():
        generate_exports(args.brief.parent / "data", seed=0)

    model_options: dict[str, object] = {"enabled": not args.no_model}
    if args.threads is not None:
        model_options["cpu_threads"] = args.threads
    settings = load_settings(data_dir=data_root, model=model_options)
    brief = load_brief(args.brief)
    started = time.perf_counter()
    services = PlannerServices(settings)
    if not args.no_model:  # load once up front so it is timed on its own
        services.chat_model(
            tenant=brief.tenant, retailer=brief.retailers[0].name, brand=brief.brand, task="creative"
        )
    _ = services.memory
    setup_s = time.perf_counter() - started

    graph = build_planner_graph(settings, services=services)
    run_id = f"bench-{uuid.uuid4().hex[:8]}"
    config = {"configurable": {"thread_id": run_id}}
    graph_started = time.perf_counter()
    state = graph.invoke(
        {
            "run_id": run_id,
            "tenant_id": brief.tenant,
            "brief": brief.model_dump(mode="json"),
            "out_dir": str(data_root / "runs" / run_id),
        },
        config,
    )
    graph_s = time.perf_counter() - graph_started
    nodes = dict(state.get("timings", {}))
    overhead_s = graph_s - sum(nodes.values())
    figures = {
        "status": state.get("status"),
        "model": "off (template copy)" if args.no_model else settings.model.base_model,
        "torch_threads": torch.get_num_threads(),
        "model_cache_warm_before_run": cache_was_warm,
        "model_load_s": services.load_seconds.get("model"),
        "memory_load_s": services.load_seconds.get("memory"),
        "setup_s": setup_s,
        "graph_s": graph_s,
        "end_to_end_s": setup_s + graph_s,
        "nodes_s": nodes,
        "graph_overhead_s": overhead_s,
        "graph_overhead_share": overhead_s / graph_s if graph_s else None,
        "decisions": [(r["phase"], r["decision"]) for r in state.get("reflections", [])],
    }
    print(
        f"status {figures['status']}  end to end {figures['end_to_end_s']:.1f} s "
        f"(setup {setup_s:.1f} s: model {figures['model_load_s'] or 0:.1f} s, "
        f"memory {figures['memory_load_s'] or 0:.1f} s)"
    )
    for node, seconds in nodes.items():
        print(f"  {node:18s} {seconds:7.2f} s")
    print(
        f"  graph overhead     {overhead_s:7.2f} s ({figures['graph_overhead_share']:.1%} of the graph run)"
    )
    services.db.dispose()
    write_results("planner", figures)


if __name__ == "__main__":
    main()
