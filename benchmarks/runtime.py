"""Runtime benchmark on the real SmolLM2-135M base with random rank-8 LoRA adapters.

Prints, in one run:
1. single-adapter vs mixed-adapter batch throughput (ROWS rows × NEW_TOKENS new tokens, 4 compositions),
   the mixed batch both on PEFT's ``adapter_names=`` path and on our grouped LoRA forward;
2. compose + first-token latency for an unseen (retailer, brand, task) triple;
3. requests/s under concurrent load against the runtime on a loopback socket;
4. the OpenAI-compatible endpoint with 1, 4 and 16 concurrent clients (the official ``openai``
   client): tokens/s and req/s against the same jobs submitted in-process at once, the time to the
   first streamed token, and request latency for a composition not built yet vs one cached.

Usage: [RMN_BENCH_THREADS=1] [RMN_BENCH_REPEATS=5]
       .venv/bin/python benchmarks/runtime.py [ROWS] [NEW_TOKENS] [REQUESTS] [CLIENTS]
Writes benchmarks/results/runtime.json.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import httpx  # noqa: E402
import torch  # noqa: E402
import uvicorn  # noqa: E402
from peft import LoraConfig, get_peft_model  # noqa: E402

from rmnlora.adapters.base_model import load_base_model  # noqa: E402
from rmnlora.adapters.batching import generate_rows, render_chat  # noqa: E402
from rmnlora.adapters.grouped import grouped_lora  # noqa: E402
from rmnlora.adapters.registry import AdapterRegistry  # noqa: E402
from rmnlora.adapters.service import InferenceService  # noqa: E402
from rmnlora.config import load_settings  # noqa: E402
from rmnlora.serving.app import create_app  # noqa: E402
from rmnlora.storage import init_db  # noqa: E402
from rmnlora.storage.tenants import register_tenant  # noqa: E402

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj"]
RANK = 8
PROMPTS = [
    "Write a short headline for oat milk on a retailer homepage.",
    "Explain in one sentence why the budget shifts to sponsored search.",
    "Suggest a call to action for a protein bar.",
    "Map the column 'ad_spend_usd' to a field name.",
]


def make_adapter(settings: Any, path: Path, seed: int) -> Path:
    model, _ = load_base_model(settings)
    torch.manual_seed(seed)
    peft_model = get_peft_model(
        model, LoraConfig(r=RANK, lora_alpha=2 * RANK, target_modules=TARGETS, init_lora_weights=False)
    )
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0.0, 0.02)
    peft_model.save_pretrained(path)
    return path


def timed(fn: Any) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of one call.

    Why both: the CPU here is shared and oversubscribed, so wall time swings with other people's
    load; with one torch thread the process CPU time is the work this run actually did.
    """
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


OPENAI_REQUESTS = 32
OPENAI_TOKENS = 16
OPENAI_MODELS = ["walmart+oatly+creative", "target+oatly+rationale", "kroger+quest+creative", "walmart"]


def openai_load(
    service: Any, api_key: str, base_url: str, tokenizer: Any, batch_tps: float
) -> dict[str, Any]:
    """[4]: the OpenAI endpoint under 1/4/16 clients vs the same jobs in-process and vs one static
    mixed-adapter batch (``batch_tps``, from [1]); streamed TTFT; an unbuilt composition vs a cached one."""
    import openai

    from rmnlora.adapters.batching import GenerationJob
    from rmnlora.serving.openai_generation import resolve_model

    def messages(i: int) -> list[dict[str, str]]:
        return [{"role": "user", "content": f"{PROMPTS[i % 4]} (variant {i})"}]

    jobs = [
        GenerationJob(
            prompt=render_chat(tokenizer, messages(i)),
            resolution=resolve_model(service, "acme", OPENAI_MODELS[i % 4]),
            max_new_tokens=OPENAI_TOKENS,
            tenant_id="acme",
        )
        for i in range(OPENAI_REQUESTS)
    ]
    started = time.perf_counter()
    outcomes = [f.result(600) for f in [service.submit(job) for job in jobs]]
    in_process_s = time.perf_counter() - started
    in_process_tokens = sum(len(o[0].token_ids) for o in outcomes)
    figures: dict[str, Any] = {
        "requests": OPENAI_REQUESTS,
        "max_tokens": OPENAI_TOKENS,
        "in_process_tokens_per_s": in_process_tokens / in_process_s,
        "in_process_requests_per_s": OPENAI_REQUESTS / in_process_s,
        "static_batch_tokens_per_s": batch_tps,
        "clients": {},
    }
    client = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=600)

    def ask(i: int) -> tuple[int, float]:
        began = time.perf_counter()
        reply = client.chat.completions.create(
            model=OPENAI_MODELS[i % 4],
            messages=messages(i),
            temperature=0,
            max_tokens=OPENAI_TOKENS,  # type: ignore[arg-type]
        )
        assert reply.usage is not None
        return reply.usage.completion_tokens, time.perf_counter() - began

    ask(0)  # warm the connection pool and the compositions
    for clients in (1, 4, 16):
        started = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            results = list(pool.map(ask, range(OPENAI_REQUESTS)))
        elapsed = time.perf_counter() - started
        tokens = sum(t for t, _ in results)
        figures["clients"][str(clients)] = {
            "tokens_per_s": tokens / elapsed,
            "requests_per_s": OPENAI_REQUESTS / elapsed,
            "p50_latency_ms": statistics.median(lat for _, lat in results) * 1000,
            "over_in_process": (tokens / elapsed) / figures["in_process_tokens_per_s"],
            "over_static_batch": (tokens / elapsed) / batch_tps,
        }
    ttfts = []
    for i in range(5):
        began = time.perf_counter()
        stream = client.chat.completions.create(
            model=OPENAI_MODELS[0],
            messages=messages(i),
            temperature=0,
            max_tokens=8,
            stream=True,  # type: ignore[arg-type]
        )
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                ttfts.append((time.perf_counter() - began) * 1000)
                break
        stream.close()
    figures["ttft_stream_ms_median"] = statistics.median(ttfts)

    def one_token(model: str) -> tuple[float, float]:
        began = time.perf_counter()
        reply = client.chat.completions.create(model=model, messages=messages(0), max_tokens=1, temperature=0)  # type: ignore[arg-type]
        note = (reply.model_extra or {})["rmn"]
        return (time.perf_counter() - began) * 1000, float(note["timings_ms"]["compose_ms"])

    misses, hits = [], []
    for retailer in ("target", "kroger", "walmart"):
        for task in ("mapping", "rationale"):
            model = f"{retailer}+novel+{task}"  # never composed before in this run
            misses.append(one_token(model))
            hits.append(one_token(model))
    figures["miss_request_ms_median"] = statistics.median(m for m, _ in misses)
    figures["hit_request_ms_median"] = statistics.median(h for h, _ in hits)
    figures["miss_compose_ms_median"] = statistics.median(c for _, c in misses)
    figures["hit_compose_ms_median"] = statistics.median(c for _, c in hits)
    figures["miss_over_hit_request"] = figures["miss_request_ms_median"] / figures["hit_request_ms_median"]
    per_client = ", ".join(
        f"{c} client{'s' if c != '1' else ''} {v['tokens_per_s']:.0f} tok/s {v['requests_per_s']:.2f} req/s "
        f"= {v['over_in_process']:.2f}x in-process, {v['over_static_batch']:.2f}x one static batch"
        for c, v in figures["clients"].items()
    )
    print(
        f"[4] /v1/chat/completions, {OPENAI_REQUESTS} requests x {OPENAI_TOKENS} tokens: the same jobs "
        f"submitted in-process at once {figures['in_process_tokens_per_s']:.0f} tok/s; {per_client}"
    )
    print(
        f"    streamed first token {figures['ttft_stream_ms_median']:.0f} ms (idle, median of 5); "
        f"1-token request with an unbuilt composition {figures['miss_request_ms_median']:.0f} ms vs cached "
        f"{figures['hit_request_ms_median']:.0f} ms = {figures['miss_over_hit_request']:.2f}x "
        f"(compose {figures['miss_compose_ms_median']:.0f} ms vs {figures['hit_compose_ms_median']:.2f} ms)"
    )
    return figures


def main(rows: int = 8, new_tokens: int = 32, requests: int = 32, clients: int = 8) -> dict[str, Any]:
    # On a shared, oversubscribed CPU one intra-op thread was ~10x faster than two (OpenMP spinning).
    torch.set_num_threads(int(os.environ.get("RMN_BENCH_THREADS", "1")))
    data_dir = Path(os.environ.get("RMN_DATA_DIR", ".rmn"))
    settings = load_settings(data_dir=data_dir)
    work = Path(tempfile.mkdtemp(prefix="rmn-bench-"))
    database = init_db(f"sqlite:///{work / 'rmn.db'}", secret_key="bench")
    with database.get_session() as session:
        api_key = register_tenant(session, "acme", "Acme")
    registry = AdapterRegistry(database, work / "adapters")
    seed = 0
    for kind, names in (
        ("retailer", ["walmart", "target", "kroger"]),
        ("brand", ["oatly", "quest", "novel"]),
        ("task", ["creative", "rationale", "mapping"]),
    ):
        for name in names:
            seed += 1
            registry.register(
                kind,
                name,
                make_adapter(settings, work / f"src-{kind}-{name}", seed),
                owner_tenant_id="acme" if kind == "brand" else None,
            )
    print(
        f"9 random rank-{RANK} adapters on {TARGETS}; torch threads={torch.get_num_threads()}",
        file=sys.stderr,
    )

    model, tokenizer = load_base_model(settings)
    service = InferenceService(
        model, tokenizer, registry, max_batch_size=16, max_wait_ms=20, default_max_new_tokens=16
    )
    triples = [
        ("walmart", "oatly", "creative"),
        ("target", "oatly", "rationale"),
        ("kroger", "quest", "creative"),
        ("walmart", "quest", "mapping"),
    ]
    names = [
        service.composer.compose(registry.resolve("acme", retailer=r, brand=b, task=t)).adapter_name
        for r, b, t in triples
    ]
    prompts = [render_chat(tokenizer, [{"role": "user", "content": PROMPTS[i % 4]}]) for i in range(rows)]
    single = [names[0]] * rows
    mixed = [names[i % len(names)] for i in range(rows)]

    def run_forced(adapters: list[str], path: str) -> None:
        # Forces exactly new_tokens tokens so every run does the same work.
        encoded = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        peft_model = service.composer.model
        kwargs: dict[str, Any] = {
            "max_new_tokens": new_tokens,
            "min_new_tokens": new_tokens,
            "do_sample": False,
            "pad_token_id": tokenizer.pad_token_id,
        }
        with torch.inference_mode():
            if path == "single":
                peft_model.base_model.set_adapter(adapters[0])  # the plain single-adapter path
                peft_model.generate(**encoded, **kwargs)
            elif path == "peft":
                peft_model.generate(**encoded, adapter_names=adapters, **kwargs)
            else:  # grouped (stack building included in the timing)
                with grouped_lora(peft_model, adapters):
                    peft_model.generate(**encoded, **kwargs)

    cases = {
        "base": (["__base__"] * rows, "peft"),
        "single": (single, "single"),
        "peft_mixed": (mixed, "peft"),
        "grouped_mixed": (mixed, "grouped"),
    }
    for adapters, path in cases.values():
        run_forced(adapters, path)  # warm-up
    walls: dict[str, list[float]] = {name: [] for name in cases}
    cpus: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(int(os.environ.get("RMN_BENCH_REPEATS", "5"))):
        for name, (adapters, path) in cases.items():  # interleaved: load bursts hit every case alike
            wall, cpu = timed(lambda a=adapters, p=path: run_forced(a, p))
            walls[name].append(wall)
            cpus[name].append(cpu)
    tokens = rows * new_tokens
    tps = {name: tokens / statistics.median(t) for name, t in walls.items()}
    cpu_tps = {name: tokens / statistics.median(t) for name, t in cpus.items()}
    setup_started = time.perf_counter()
    with grouped_lora(service.composer.model, mixed):
        pass
    grouped_setup_ms = (time.perf_counter() - setup_started) * 1000
    outputs = {
        path: generate_rows(
            service.composer.model, tokenizer, prompts, mixed, max_new_tokens=8, mixed_path=path
        )
        for path in ("grouped", "peft")
    }
    assert {o.path for o in outputs["grouped"]} == {"grouped"}
    same_tokens = [o.token_ids for o in outputs["grouped"]] == [o.token_ids for o in outputs["peft"]]
    single_tps = tps["single"]
    print(
        f"[1] batch {rows}x{new_tokens}: base {tps['base']:.0f} tok/s, "
        f"single-adapter {single_tps:.0f} tok/s, "
        f"mixed ({len(names)} adapters) PEFT {tps['peft_mixed']:.0f} tok/s = "
        f"{tps['peft_mixed'] / single_tps:.2f}x single, grouped {tps['grouped_mixed']:.0f} tok/s = "
        f"{tps['grouped_mixed'] / single_tps:.2f}x single (grouped stacks built in {grouped_setup_ms:.0f} ms "
        f"per batch, included); grouped tokens == PEFT tokens: {same_tokens}"
    )
    print(
        f"    per CPU-second (robust to other load): base {cpu_tps['base']:.0f}, "
        f"single {cpu_tps['single']:.0f}, "
        f"PEFT mixed {cpu_tps['peft_mixed']:.0f} = {cpu_tps['peft_mixed'] / cpu_tps['single']:.2f}x, "
        f"grouped mixed {cpu_tps['grouped_mixed']:.0f} = {cpu_tps['grouped_mixed'] / cpu_tps['single']:.2f}x"
    )

    # [2] Unseen triple: components not loaded yet, composition not cached.
    unseen = registry.resolve("acme", retailer="target", brand="novel", task="mapping")
    started = time.perf_counter()
    composition = service.composer.compose(unseen)
    composed_at = time.perf_counter()
    generate_rows(
        service.composer.model, tokenizer, prompts[:1], [composition.adapter_name], max_new_tokens=1
    )
    first_token = time.perf_counter()
    compose_ms = (composed_at - started) * 1000
    ttft_ms = (first_token - started) * 1000
    print(f"[2] unseen triple: compose {compose_ms:.0f} ms, compose + first token {ttft_ms:.0f} ms")

    # [3] Concurrent load on loopback.
    app = create_app(settings, database=database, engine=service)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    url = f"http://127.0.0.1:{port}/inference"
    load_tokens = 16
    bodies = [
        {
            "retailer": triples[i % 4][0],
            "brand": triples[i % 4][1],
            "task": triples[i % 4][2],
            "prompt": PROMPTS[i % 4],
            "max_new_tokens": load_tokens,
        }
        for i in range(requests)
    ]
    latencies: list[float] = []
    batch_sizes: list[float] = []
    with httpx.Client(timeout=300, limits=httpx.Limits(max_connections=clients)) as client:
        client.post(url, json=bodies[0], headers={"X-API-Key": api_key}).raise_for_status()

        def call(body: dict[str, Any]) -> None:
            started = time.perf_counter()
            reply = client.post(url, json=body, headers={"X-API-Key": api_key})
            reply.raise_for_status()
            latencies.append(time.perf_counter() - started)
            batch_sizes.append(reply.json()["timings_ms"]["batch_size"])

        started = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(call, bodies))
        elapsed = time.perf_counter() - started
    openai_figures = openai_load(
        service, api_key, f"http://127.0.0.1:{port}/v1", tokenizer, tps["grouped_mixed"]
    )
    server.should_exit = True
    thread.join(timeout=30)
    service.close()
    rps = requests / elapsed
    print(
        f"[3] loopback load: {requests} requests x {load_tokens} tokens, {clients} clients: {rps:.2f} req/s, "
        f"p50 {statistics.median(latencies) * 1000:.0f} ms, mean batch {statistics.mean(batch_sizes):.1f}"
    )
    result = {
        "device": str(next(service.composer.model.parameters()).device),
        "platform": platform.platform(),
        "torch_threads": torch.get_num_threads(),
        "rows": rows,
        "new_tokens": new_tokens,
        "base_tokens_per_s": tps["base"],
        "single_adapter_tokens_per_s": single_tps,
        "peft_mixed_tokens_per_s": tps["peft_mixed"],
        "grouped_mixed_tokens_per_s": tps["grouped_mixed"],
        "peft_mixed_over_single": tps["peft_mixed"] / single_tps,
        "grouped_mixed_over_single": tps["grouped_mixed"] / single_tps,
        "grouped_setup_ms": grouped_setup_ms,
        "tokens_per_cpu_s": cpu_tps,
        "cpu_peft_mixed_over_single": cpu_tps["peft_mixed"] / cpu_tps["single"],
        "cpu_grouped_mixed_over_single": cpu_tps["grouped_mixed"] / cpu_tps["single"],
        "wall_s": walls,
        "cpu_s": cpus,
        "mixed_adapters": len(names),
        "grouped_tokens_equal_peft": same_tokens,
        "unseen_compose_ms": compose_ms,
        "unseen_compose_plus_first_token_ms": ttft_ms,
        "load_requests": requests,
        "load_clients": clients,
        "load_new_tokens": load_tokens,
        "requests_per_s": rps,
        "p50_latency_ms": statistics.median(latencies) * 1000,
        "mean_batch_size": statistics.mean(batch_sizes),
        "openai": openai_figures,
    }
    out = Path(__file__).parent / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "runtime.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    return result


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    main(*args)
