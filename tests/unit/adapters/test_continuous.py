"""The continuous engine: jobs join a decoding batch between steps and get what they would alone."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import torch

from rmnlora.adapters.batching import GenerationJob, TokenLogprob, generate_rows
from rmnlora.adapters.compose import Composer
from rmnlora.adapters.continuous import ContinuousEngine
from rmnlora.adapters.registry import AdapterRegistry, Resolution
from rmnlora.adapters.tiny import build_tiny_model
from tests.support.adapter_helpers import chat_prompts

BASE = Resolution(components={}, missing=(), requested={})


def _resolutions(registry: AdapterRegistry) -> list[Resolution]:
    """Compositions of different ranks, and the base."""
    return [
        registry.resolve("acme", retailer="walmart", brand="oatly", task="creative"),
        registry.resolve("acme", retailer="walmart", brand=None, task=None),
        BASE,
        registry.resolve("globex", retailer=None, brand="acme-cola", task="creative"),
    ]


@pytest.mark.parametrize("mixed_path", ["grouped", "peft"])
def test_rows_joining_a_running_batch_decode_what_they_would_alone(
    registry: AdapterRegistry, mixed_path: Any
) -> None:
    model, tokenizer = build_tiny_model(0)
    composer = Composer(model)
    engine = ContinuousEngine(composer, tokenizer, max_batch_size=3, max_wait_ms=0, mixed_path=mixed_path)
    resolutions = _resolutions(registry)
    prompts = chat_prompts(7)
    jobs = [
        GenerationJob(prompt=p, resolution=resolutions[i % 4], max_new_tokens=4 + 3 * (i % 3))
        for i, p in enumerate(prompts)
    ]
    try:
        futures = []
        for job in jobs:  # arrivals spread over the decoding, more than fit in one batch
            futures.append(engine.submit(job))
            time.sleep(0.01)
        results = [future.result(timeout=60) for future in futures]
    finally:
        engine.stop()
    for job, (output, composition, timings) in zip(jobs, results, strict=True):
        alone = generate_rows(
            composer.model,
            tokenizer,
            [job.prompt],
            [composition.adapter_name],
            max_new_tokens=job.max_new_tokens,
        )[0]
        assert output.token_ids == alone.token_ids
        assert output.text == alone.text and output.finish_reason == alone.finish_reason
        assert output.mean_logprob == pytest.approx(alone.mean_logprob, abs=1e-4)
        assert 1.0 <= timings["batch_size"] <= 3.0
    assert max(t["batch_size"] for _, _, t in results) > 1.0  # rows did share forward passes
    assert mixed_path in engine.paths  # and some step mixed adapters on the asked-for path
    assert engine.active_rows == 0


def test_a_short_request_finishes_while_a_long_one_is_still_decoding(registry: AdapterRegistry) -> None:
    model, tokenizer = build_tiny_model(0)
    engine = ContinuousEngine(Composer(model), tokenizer, max_batch_size=4, max_wait_ms=0)
    long_prompt, short_prompt = chat_prompts(2)
    started = threading.Event()
    long_job = GenerationJob(
        prompt=long_prompt, resolution=BASE, max_new_tokens=80, on_text=lambda _text, _lp: started.set()
    )
    try:
        long_future = engine.submit(long_job)
        assert started.wait(30)
        short_output, _, short_timings = engine.submit(
            GenerationJob(prompt=short_prompt, resolution=BASE, max_new_tokens=3)
        ).result(timeout=30)
        assert not long_future.done()  # the short one did not wait for the long one's batch to end
        long_output, _, _ = long_future.result(timeout=60)
    finally:
        engine.stop()
    assert len(short_output.token_ids) == 3 and short_timings["batch_size"] == 2.0
    assert len(long_output.token_ids) == 80


def test_stop_strings_cut_the_text_and_the_stream_never_shows_them() -> None:
    model, tokenizer = build_tiny_model(0)
    engine = ContinuousEngine(Composer(model), tokenizer, max_batch_size=2, max_wait_ms=0)
    prompt = chat_prompts(1)[0]
    try:
        free, _, _ = engine.submit(GenerationJob(prompt=prompt, resolution=BASE, max_new_tokens=12)).result(
            30
        )
        stop = free.text[5:8]  # a piece the unconstrained text is known to contain
        pieces: list[str] = []
        cut, _, _ = engine.submit(
            GenerationJob(
                prompt=prompt,
                resolution=BASE,
                max_new_tokens=12,
                stop=(stop,),
                on_text=lambda text, _lp: pieces.append(text),
            )
        ).result(30)
    finally:
        engine.stop()
    assert cut.text == free.text[: free.text.index(stop)] and cut.finish_reason == "stop"
    assert "".join(pieces) == cut.text and all(stop not in p for p in pieces)


def test_a_seed_gives_the_same_sample_whatever_shares_the_batch_and_logprobs_are_the_models() -> None:
    model, tokenizer = build_tiny_model(0)
    engine = ContinuousEngine(Composer(model), tokenizer, max_batch_size=4, max_wait_ms=50)
    prompt, other = chat_prompts(2)

    def sampled(seed: int) -> GenerationJob:
        return GenerationJob(
            prompt=prompt,
            resolution=BASE,
            max_new_tokens=8,
            temperature=0.9,
            top_p=0.95,
            seed=seed,
            logprobs=3,
        )

    try:
        alone, _, _ = engine.submit(sampled(5)).result(30)
        crowd = [sampled(5), GenerationJob(prompt=other, resolution=BASE, max_new_tokens=8), sampled(6)]
        together = [f.result(30)[0] for f in [engine.submit(job) for job in crowd]]
    finally:
        engine.stop()
    assert together[0].token_ids == alone.token_ids
    assert together[2].token_ids != alone.token_ids  # another seed, another draw
    assert alone.logprobs is not None and len(alone.logprobs) == len(alone.token_ids)
    encoded = tokenizer([prompt], return_tensors="pt", add_special_tokens=False)
    with torch.inference_mode():
        first = torch.log_softmax(model(**encoded).logits[0, -1].float(), dim=-1)
    entry: TokenLogprob = alone.logprobs[0]
    assert entry.logprob == pytest.approx(float(first[alone.token_ids[0]]), abs=1e-4)
    assert [value for _, value in entry.top] == sorted((value for _, value in entry.top), reverse=True)
    assert entry.top[0][1] == pytest.approx(float(first.max()), abs=1e-4)


def test_a_job_past_its_deadline_fails_and_a_cancelled_one_leaves_the_batch() -> None:
    model, tokenizer = build_tiny_model(0)
    engine = ContinuousEngine(Composer(model), tokenizer, max_batch_size=2, max_wait_ms=0)
    prompt = chat_prompts(1)[0]
    late = GenerationJob(prompt=prompt, resolution=BASE, deadline=time.perf_counter() - 1)
    pieces: list[str] = []
    streaming = GenerationJob(prompt=prompt, resolution=BASE, max_new_tokens=500)

    def listen(text: str, _lp: object) -> None:
        pieces.append(text)
        if len(pieces) == 3:
            streaming.cancelled = True  # the client went away

    streaming.on_text = listen
    try:
        with pytest.raises(TimeoutError, match="past its deadline"):
            engine.submit(late).result(30)
        output, _, _ = engine.submit(streaming).result(30)
    finally:
        engine.stop()
    assert len(output.token_ids) < 10 and engine.active_rows == 0


@pytest.mark.parametrize("fair_share_rows", [1, 0])
def test_a_tenant_filling_the_batch_does_not_keep_another_waiting_for_a_slot(fair_share_rows: int) -> None:
    model, tokenizer = build_tiny_model(0)
    engine = ContinuousEngine(
        Composer(model), tokenizer, max_batch_size=2, max_wait_ms=0, fair_share_rows=fair_share_rows
    )
    prompt = chat_prompts(1)[0]
    decoding = threading.Event()
    flood = [
        GenerationJob(
            prompt=prompt,
            resolution=BASE,
            max_new_tokens=60,
            tenant_id="flood",
            on_text=lambda _text, _lp: decoding.set(),
        )
        for _ in range(4)
    ]
    try:
        flood_futures = [engine.submit(job) for job in flood]
        assert decoding.wait(30)
        quiet, _, timings = engine.submit(
            GenerationJob(prompt=prompt, resolution=BASE, max_new_tokens=3, tenant_id="quiet")
        ).result(60)
        finished_first = sum(future.done() for future in flood_futures)
        for future in flood_futures:
            future.result(60)
    finally:
        engine.stop()
    assert len(quiet.token_ids) == 3
    if fair_share_rows:  # joined the full batch at once: no flood row had to end first
        assert finished_first == 0 and timings["batch_size"] == 3.0
    else:  # without the share it waited for a slot: the first flood rows were done
        assert finished_first >= 2


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ({"mixed_path": "fast"}, "mixed_path must be one of"),
        ({"max_batch_size": 0}, "max_batch_size must be at least 1"),
        ({"fair_share_rows": -1}, "fair_share_rows must be at least 0"),
        ({"max_wait_ms": -5}, "max_wait_ms must be at least 0"),
    ],
)
def test_a_bad_engine_setting_is_refused_when_it_is_built(option: dict[str, Any], message: str) -> None:
    """Refused at start-up, naming the setting, not at the first mixed batch a tenant sends."""
    model, tokenizer = build_tiny_model(0)
    with pytest.raises(ValueError, match=message):
        ContinuousEngine(Composer(model), tokenizer, **option)
