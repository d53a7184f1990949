"""Composition, batching, registry and the chat model on a tiny random Llama (real tokenizer)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from langchain_core.messages import HumanMessage, SystemMessage
from typer.testing import CliRunner

from rmnlora.adapters.batching import GenerationJob, choose_path, generate_rows, render_chat
from rmnlora.adapters.chat_model import RmnChatModel
from rmnlora.adapters.compose import BASE_ADAPTER, Composer
from rmnlora.adapters.grouped import GroupedLoraUnsupported, check_grouped_support, grouped_lora
from rmnlora.adapters.registry import AdapterAccessError, AdapterError, AdapterRegistry, Resolution
from rmnlora.adapters.service import InferenceService
from rmnlora.adapters.shared_prompts import distinct_rows
from rmnlora.adapters.static_engine import BatchingEngine
from rmnlora.adapters.tiny import build_tiny_model
from tests.support.adapter_helpers import chat_prompts, mixed_names


def _tiny() -> Any:
    return build_tiny_model(0)[0]


def _logits(model: Any, tokenizer: Any, adapter: str) -> torch.Tensor:
    encoded = tokenizer(chat_prompts(1), return_tensors="pt", add_special_tokens=False)
    with torch.inference_mode():
        return model(**encoded, adapter_names=[adapter]).logits  # type: ignore[no-any-return]


def test_tiny_model_has_the_real_tokenizer_and_is_seeded() -> None:
    model_a, tokenizer = build_tiny_model(seed=7)
    model_b, _ = build_tiny_model(seed=7)
    assert len(tokenizer) == 49152 and tokenizer.padding_side == "left"
    assert "<|im_start|>assistant" in render_chat(tokenizer, [{"role": "user", "content": "hi"}])
    assert model_a.config.vocab_size == len(tokenizer) and model_a.config.num_hidden_layers == 2
    for (name, a), (_, b) in zip(model_a.state_dict().items(), model_b.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_cat_composition_is_the_exact_weighted_sum_of_deltas(registry: AdapterRegistry) -> None:
    model, _ = build_tiny_model(0)
    weights = {"retailer": 0.5, "brand": 2.0, "task": 1.0}
    composer = Composer(model, weights=weights)
    resolution = registry.resolve("acme", retailer="walmart", brand="oatly", task="creative")
    composition = composer.compose(resolution)
    assert composition.components == {"retailer": "walmart", "brand": "oatly", "task": "creative"}
    checked = 0
    for module in composer.model.modules():
        if composition.adapter_name not in getattr(module, "lora_A", {}):
            continue
        expected = torch.zeros_like(module.get_delta_weight(composition.adapter_name))
        for kind, info in resolution.components.items():
            name = composer._components[composer._component_key(info)]
            if name in module.lora_A:
                expected += weights[kind] * module.get_delta_weight(name)
        torch.testing.assert_close(module.get_delta_weight(composition.adapter_name), expected)
        assert expected.abs().max() > 0
        checked += 1
    assert checked == 2 * 4  # 2 layers × 4 target modules


def test_zero_weighted_component_changes_nothing(registry: AdapterRegistry) -> None:
    model, tokenizer = build_tiny_model(0)
    composer = Composer(model, weights={"brand": 0.0})
    with_brand = composer.compose(
        registry.resolve("acme", retailer="walmart", brand="oatly", task="creative")
    )
    without = composer.compose(registry.resolve("acme", retailer="walmart", brand=None, task="creative"))
    assert with_brand.adapter_name != without.adapter_name
    torch.testing.assert_close(
        _logits(composer.model, tokenizer, with_brand.adapter_name),
        _logits(composer.model, tokenizer, without.adapter_name),
    )
    # ... while a non-zero component does change the output.
    assert not torch.allclose(
        _logits(composer.model, tokenizer, without.adapter_name),
        _logits(composer.model, tokenizer, BASE_ADAPTER),
    )


def test_missing_component_composes_from_the_rest_and_says_so(registry: AdapterRegistry) -> None:
    composer = Composer(build_tiny_model(0)[0])
    resolution = registry.resolve("globex", retailer="walmart", brand="unknown-brand", task="creative")
    composition = composer.compose(resolution)
    assert composition.missing == ("brand",)
    assert set(composition.components) == {"retailer", "task"}
    assert "missing (composed without): brand" in composition.describe()
    nothing = composer.compose(registry.resolve("acme", retailer="nope", brand=None, task="nope"))
    assert nothing.adapter_name == BASE_ADAPTER and nothing.missing == ("retailer", "task")


def test_other_tenants_brand_is_refused(registry: AdapterRegistry) -> None:
    with pytest.raises(AdapterAccessError, match="oatly"):
        registry.resolve("globex", retailer="walmart", brand="oatly", task=None)
    with pytest.raises(AdapterAccessError):
        registry.resolve("acme", retailer=None, brand="acme-cola", task=None)
    visible = {(a.kind, a.name) for a in registry.list(tenant_id="globex")}
    assert visible == {("retailer", "walmart"), ("brand", "acme-cola"), ("task", "creative")}


def test_lru_bound_evicts_and_recomposes(registry: AdapterRegistry) -> None:
    composer = Composer(build_tiny_model(0)[0], cache_size=2)
    triples = [("walmart", "oatly", "creative"), ("walmart", None, "creative"), (None, "oatly", "creative")]
    names = [
        composer.compose(registry.resolve("acme", retailer=r, brand=b, task=t)).adapter_name
        for r, b, t in triples
    ]
    assert composer.evictions == 1 and names[0] not in composer.model.peft_config
    assert composer.composed_names == names[1:]
    again = composer.compose(registry.resolve("acme", retailer="walmart", brand="oatly", task="creative"))
    assert (
        again.adapter_name == names[0]
        and not again.cached
        and again.adapter_name in composer.model.peft_config
    )
    assert composer.compose(
        registry.resolve("acme", retailer="walmart", brand="oatly", task="creative")
    ).cached


@pytest.mark.parametrize("mixed_path", ["grouped", "peft"])
def test_mixed_batch_rows_match_running_alone(registry: AdapterRegistry, mixed_path: Any) -> None:
    model, tokenizer = build_tiny_model(0)
    composer = Composer(model)
    names = mixed_names(registry, composer)
    row_adapters = names + names[:2]
    prompts = chat_prompts(len(row_adapters))
    batch = generate_rows(
        composer.model, tokenizer, prompts, row_adapters, max_new_tokens=12, mixed_path=mixed_path
    )
    assert {b.path for b in batch} == {mixed_path}
    alone = [
        generate_rows(composer.model, tokenizer, [p], [a], max_new_tokens=12)[0]
        for p, a in zip(prompts, row_adapters, strict=True)
    ]
    assert [a.path for a in alone] == ["single", "single", "base", "single", "single", "single"]
    assert [b.token_ids for b in batch] == [a.token_ids for a in alone]
    assert len({tuple(b.token_ids) for b in batch[:4]}) > 1  # the adapters really differ


def test_greedy_rows_beside_sampled_rows_decode_as_they_would_alone(registry: AdapterRegistry) -> None:
    model, tokenizer = build_tiny_model(0)
    composer = Composer(model)
    names = mixed_names(registry, composer)
    row_adapters = names + names[:2]
    prompts = chat_prompts(len(row_adapters))
    temperatures = [0.0, 0.7, 0.0, 0.7, 1.0, 0.0]
    torch.manual_seed(0)
    batch = generate_rows(
        composer.model,
        tokenizer,
        prompts,
        row_adapters,
        max_new_tokens=12,
        temperature=temperatures,
        top_p=[1.0, 0.9, 1.0, 0.9, 1.0, 1.0],
    )
    greedy_alone = [
        generate_rows(composer.model, tokenizer, [p], [a], max_new_tokens=12)[0]
        for p, a in zip(prompts, row_adapters, strict=True)
    ]
    for row, temperature in enumerate(temperatures):
        if temperature == 0:
            assert batch[row].token_ids == greedy_alone[row].token_ids
            assert batch[row].mean_logprob == pytest.approx(greedy_alone[row].mean_logprob, abs=1e-4)
    sampled = [row for row, t in enumerate(temperatures) if t > 0]
    assert any(batch[row].token_ids != greedy_alone[row].token_ids for row in sampled)
    assert all(batch[row].mean_logprob is not None for row in sampled)


@pytest.mark.parametrize("mixed_path", ["grouped", "peft"])
def test_rows_repeating_a_prompt_and_adapter_share_a_prefill_and_decode_as_alone(
    registry: AdapterRegistry, mixed_path: Any
) -> None:
    model, tokenizer = build_tiny_model(0)
    composer = Composer(model)
    names = mixed_names(registry, composer)
    short, long = chat_prompts(2)
    rows = [(short, names[0]), (short, names[0]), (long, names[1]), (short, names[1]), (long, names[1])]
    prompts, adapters = [p for p, _ in rows], [a for _, a in rows]
    assert distinct_rows(prompts, adapters) == ([0, 2, 3], [0, 0, 1, 2, 1])
    prefills: list[int] = []
    forward = composer.model.forward

    def counting_forward(*args: Any, **kwargs: Any) -> Any:
        ids = kwargs.get("input_ids")
        if ids is not None and ids.shape[1] > 1:
            prefills.append(ids.shape[0])
        return forward(*args, **kwargs)

    composer.model.forward = counting_forward
    batch = generate_rows(
        composer.model, tokenizer, prompts, adapters, max_new_tokens=10, mixed_path=mixed_path
    )
    del composer.model.forward
    assert prefills == [3]  # the three distinct rows, once
    alone = [generate_rows(composer.model, tokenizer, [p], [a], max_new_tokens=10)[0] for p, a in rows]
    assert [b.token_ids for b in batch] == [a.token_ids for a in alone]
    for shared, single in zip(batch, alone, strict=True):
        assert shared.mean_logprob == pytest.approx(single.mean_logprob, abs=1e-4)


def test_a_wave_of_greedy_and_sampled_jobs_is_one_batch(registry: AdapterRegistry) -> None:
    model, tokenizer = build_tiny_model(0)
    composer = Composer(model)
    engine = BatchingEngine(composer, tokenizer, max_batch_size=8, max_wait_ms=500)
    resolution = registry.resolve("acme", retailer="walmart", brand="oatly", task="creative")
    jobs = [
        GenerationJob(prompt=p, resolution=resolution, max_new_tokens=6, temperature=t, top_p=0.9)
        for p, t in zip(chat_prompts(3), (0.0, 0.7, 0.7), strict=True)
    ]
    try:
        results = [f.result(timeout=60) for f in [engine.submit(job) for job in jobs]]
    finally:
        engine.stop()
    assert engine.batches == 1 and [timings["batch_size"] for _, _, timings in results] == [3.0] * 3
    alone = generate_rows(
        composer.model, tokenizer, [jobs[0].prompt], [results[0][1].adapter_name], max_new_tokens=6
    )
    assert results[0][0].token_ids == alone[0].token_ids


def test_a_flooding_tenant_neither_delays_another_past_one_batch_nor_queues_without_bound(
    registry: AdapterRegistry,
) -> None:
    import threading
    import time

    from rmnlora.adapters.fair_queue import TenantQueueFull

    model, tokenizer = build_tiny_model(0)
    engine = BatchingEngine(Composer(model), tokenizer, max_batch_size=2, max_wait_ms=0, max_per_tenant=6)
    resolution = registry.resolve("acme", retailer="walmart", brand=None, task=None)
    gate, at_gate, order = threading.Event(), threading.Event(), []
    run_batch = engine.run_batch

    def recorded(jobs: list[GenerationJob]) -> None:
        at_gate.set()
        gate.wait(30)  # hold the first batch so the flood and the quiet request all queue up
        order.append([job.tenant_id for job in jobs])
        run_batch(jobs)

    def flood_job() -> GenerationJob:
        return GenerationJob(prompt="x", resolution=resolution, max_new_tokens=2, tenant_id="flood")

    engine.run_batch = recorded  # type: ignore[method-assign]
    try:
        flood = [engine.submit(flood_job())]
        assert at_gate.wait(30)  # the worker holds that one; now the line fills up
        flood += [engine.submit(flood_job()) for _ in range(6)]
        with pytest.raises(TenantQueueFull):
            engine.submit(flood_job())
        quiet = engine.submit(
            GenerationJob(prompt="y", resolution=resolution, max_new_tokens=2, tenant_id="quiet")
        )
        expired = engine.submit(
            GenerationJob(prompt="z", resolution=resolution, tenant_id="late", deadline=time.perf_counter())
        )
        gate.set()
        quiet.result(timeout=60)
        for future in flood:
            future.result(timeout=60)
        with pytest.raises(TimeoutError, match="past its deadline"):
            expired.result(timeout=60)
    finally:
        gate.set()
        engine.stop()
    assert order[0] == ["flood"] and "quiet" in order[1]  # the batch after the running one, not the 4th


def test_grouped_forward_equals_peft_mixed_logits(registry: AdapterRegistry) -> None:
    model, tokenizer = build_tiny_model(0)
    composer = Composer(model)
    names = mixed_names(registry, composer)
    rows = [names[0], names[1], BASE_ADAPTER, names[2], names[0], names[2]]
    encoded = tokenizer(chat_prompts(len(rows)), return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.inference_mode():
        peft_logits = composer.model(**encoded, adapter_names=rows).logits
        base_logits = composer.model(**encoded, adapter_names=[BASE_ADAPTER] * len(rows)).logits
        with grouped_lora(composer.model, rows):
            grouped_logits = composer.model(**encoded).logits
        after = composer.model(**encoded, adapter_names=rows).logits
    torch.testing.assert_close(grouped_logits, peft_logits, atol=1e-5, rtol=1e-5)
    for i, name in enumerate(rows):  # adapted rows really changed; the base row did not
        assert torch.allclose(grouped_logits[i], base_logits[i]) == (name == BASE_ADAPTER)
    torch.testing.assert_close(after, peft_logits, atol=0, rtol=0)  # PEFT's forward is back afterwards


def test_grouped_path_refuses_what_it_lacks_and_the_batch_runs_on_peft() -> None:
    from peft import LoraConfig, get_peft_model

    model, tokenizer = build_tiny_model(0)
    peft_model = get_peft_model(
        model, LoraConfig(r=4, target_modules=["q_proj"], lora_bias=True, init_lora_weights=False), "biased"
    )
    peft_model.add_adapter("plain", LoraConfig(r=4, target_modules=["q_proj"], init_lora_weights=False))
    peft_model.add_adapter("dora", LoraConfig(r=4, target_modules=["v_proj"], use_dora=True))
    peft_model.eval()
    with pytest.raises(GroupedLoraUnsupported, match="LoRA bias"):
        check_grouped_support(peft_model, ["biased", "plain"])
    with pytest.raises(GroupedLoraUnsupported, match="DoRA"):
        check_grouped_support(peft_model, ["dora", "plain"])
    with pytest.raises(GroupedLoraUnsupported, match="unknown adapters"):
        check_grouped_support(peft_model, ["nope", "plain"])
    assert choose_path(peft_model, ["plain", BASE_ADAPTER]) == "grouped"
    with pytest.raises(ValueError, match="mixed_path"):
        choose_path(peft_model, ["plain", BASE_ADAPTER], "fast")  # type: ignore[arg-type]
    prompts, rows = chat_prompts(2), ["biased", "plain"]
    out = generate_rows(peft_model, tokenizer, prompts, rows, max_new_tokens=4)
    assert [o.path for o in out] == ["peft", "peft"]
    alone = [
        generate_rows(peft_model, tokenizer, [p], [a], max_new_tokens=4)[0]
        for p, a in zip(prompts, rows, strict=True)
    ]
    assert [o.token_ids for o in out] == [a.token_ids for a in alone]


def test_batching_engine_groups_concurrent_requests(registry: AdapterRegistry) -> None:
    model, tokenizer = build_tiny_model(0)
    composer = Composer(model)
    engine = BatchingEngine(composer, tokenizer, max_batch_size=4, max_wait_ms=500)
    triples = [("walmart", "oatly", "creative"), ("walmart", None, "creative"), (None, None, None)]
    jobs = [
        GenerationJob(
            prompt=p, resolution=registry.resolve("acme", retailer=r, brand=b, task=t), max_new_tokens=4 + i
        )
        for i, (p, (r, b, t)) in enumerate(zip(chat_prompts(6), triples * 2, strict=True))
    ]
    try:
        futures = [engine.submit(job) for job in jobs]
        results = [f.result(timeout=60) for f in futures]
    finally:
        engine.stop()
    assert engine.rows == 6 and engine.batches <= 3
    assert engine.paths.get("grouped", 0) >= 1 and "peft" not in engine.paths
    assert max(timings["batch_size"] for _, _, timings in results) >= 2
    for job, (output, composition, _) in zip(jobs, results, strict=True):
        alone = generate_rows(
            composer.model,
            tokenizer,
            [job.prompt],
            [composition.adapter_name],
            max_new_tokens=job.max_new_tokens,
        )
        assert output.token_ids == alone[0].token_ids and len(output.token_ids) <= job.max_new_tokens


def test_registry_rejects_bad_input(
    registry: AdapterRegistry, tmp_path: Path, lora_dirs: dict[str, Path]
) -> None:
    with pytest.raises(AdapterError, match="kind"):
        registry.register("format", "x", lora_dirs["task"])
    with pytest.raises(AdapterError, match="owner_tenant_id"):
        registry.register("brand", "x", lora_dirs["brand"])
    with pytest.raises(AdapterError, match="not a PEFT adapter folder"):
        registry.register("task", "x", tmp_path)
    with pytest.raises(AdapterError, match="already exists"):
        registry.register("task", "creative", lora_dirs["task"])
    info = registry.register("task", "creative", lora_dirs["brand"], replace=True, metrics={"win_rate": 0.6})
    assert info.rank == 8 and info.metrics == {"win_rate": 0.6}
    assert registry.delete("task", "creative") and not Path(info.path).exists()
    assert not registry.delete("task", "creative")


def test_chat_model_in_process(registry: AdapterRegistry) -> None:
    model, tokenizer = build_tiny_model(0)
    service = InferenceService(model, tokenizer, registry, max_wait_ms=0)
    try:
        chat = RmnChatModel(
            tenant="acme",
            retailer="walmart",
            brand="oatly",
            task="creative",
            service=service,
            max_new_tokens=5,
        )
        reply = chat.invoke([SystemMessage("Be brief."), HumanMessage("Write a headline.")])
        metadata = reply.response_metadata
        assert metadata["components"] == {"retailer": "walmart", "brand": "oatly", "task": "creative"}
        assert metadata["tokens"] <= 5 and isinstance(reply.content, str)
        expected = generate_rows(
            service.composer.model,
            tokenizer,
            [
                render_chat(
                    tokenizer,
                    [
                        {"role": "system", "content": "Be brief."},
                        {"role": "user", "content": "Write a headline."},
                    ],
                )
            ],
            [metadata["adapter"]],
            max_new_tokens=5,
        )[0]
        assert reply.content == expected.text
        other = RmnChatModel(tenant="globex", brand="oatly", service=service)
        with pytest.raises(AdapterAccessError):
            other.invoke("hi")
    finally:
        service.close()
    with pytest.raises(ValueError, match="exactly one"):
        RmnChatModel(tenant="acme")


def test_cli_register_list_delete(
    tmp_path: Path, lora_dirs: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from rmnlora.cli import app

    monkeypatch.setenv("RMN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("RMN_CONFIG", raising=False)
    runner = CliRunner()
    done = runner.invoke(app, ["adapters", "register", "task", "creative", str(lora_dirs["task"]), "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["adapter"]["rank"] == 4
    listed = json.loads(runner.invoke(app, ["adapters", "list", "--json"]).stdout)
    assert [(a["kind"], a["name"], a["shared"]) for a in listed["adapters"]] == [("task", "creative", True)]
    bad = runner.invoke(app, ["adapters", "register", "brand", "oatly", str(lora_dirs["brand"])])
    assert bad.exit_code == 2 and "owner_tenant_id" in bad.output
    assert runner.invoke(app, ["adapters", "delete", "task", "creative"]).exit_code == 0
    assert runner.invoke(app, ["adapters", "delete", "task", "creative"]).exit_code == 1


def test_resolution_without_components_uses_base(registry: AdapterRegistry) -> None:
    composer = Composer(build_tiny_model(0)[0])
    composition = composer.compose(Resolution(components={}, missing=(), requested={}))
    assert composition.adapter_name == BASE_ADAPTER and composition.components == {}


def test_mean_logprob_is_the_models_own_likelihood_of_its_tokens() -> None:
    """Candidates rank by this number, so it must equal a fresh forward pass's log-probabilities."""
    model, tokenizer = build_tiny_model(seed=3)
    prompts = ["Headline for granola bars:", "Write a short ad for oat bars please:"]
    rows = generate_rows(model, tokenizer, prompts, ["__base__", "__base__"], max_new_tokens=6)
    for prompt, row in zip(prompts, rows, strict=True):
        assert row.mean_logprob is not None and row.mean_logprob <= 0
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        ids = torch.tensor([prompt_ids + row.token_ids])
        with torch.no_grad():
            logprobs = torch.log_softmax(model(ids).logits[0].float(), dim=-1)
        positions = range(len(prompt_ids) - 1, len(prompt_ids) - 1 + len(row.token_ids))
        expected = sum(float(logprobs[p, ids[0, p + 1]]) for p in positions) / len(row.token_ids)
        assert row.mean_logprob == pytest.approx(expected, abs=1e-3)
