"""A few integration tests on the real SmolLM2-135M weights (marked slow; the model loads once)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from rmnlora.adapters.base_model import bundled_model_dir, load_base_model
from rmnlora.adapters.batching import generate_rows, render_chat
from rmnlora.adapters.compose import BASE_ADAPTER, Composer
from rmnlora.adapters.registry import AdapterInfo, Resolution
from rmnlora.config import load_settings
from tests.support.adapter_helpers import make_lora

pytestmark = pytest.mark.slow

# The converted safetensors cache is reused across sessions (converting the GGUF takes ~20 s).
MODEL_CACHE = Path(os.environ.get("RMN_TEST_MODEL_CACHE", Path.home() / ".cache" / "rmnlora" / "test-data"))


@pytest.fixture(scope="module")
def smollm2() -> Iterator[tuple[Any, Any, Any]]:
    settings = load_settings(data_dir=MODEL_CACHE, model={"device": "cpu"})
    model, tokenizer = load_base_model(settings)
    yield settings, model, tokenizer


def test_bundled_model_is_cached_and_generates_english(smollm2: tuple[Any, Any, Any]) -> None:
    settings, model, tokenizer = smollm2
    assert (bundled_model_dir(settings) / "model.safetensors").is_file()
    assert model.config.num_hidden_layers == 30 and model.device.type == "cpu"
    prompt = render_chat(tokenizer, [{"role": "user", "content": "What is the capital of France?"}])
    reply = generate_rows(model, tokenizer, [prompt], [BASE_ADAPTER], max_new_tokens=16)[0]
    assert "Paris" in reply.text


def test_composition_and_mixed_batches_on_smollm2(smollm2: tuple[Any, Any, Any], tmp_path: Path) -> None:
    settings, _, _ = smollm2

    def build() -> Any:
        return load_base_model(settings)[0]

    infos = {
        kind: AdapterInfo(
            id=i, kind=kind, name=kind, owner_tenant_id=None, base_model="smollm2", rank=4, path=str(path)
        )
        for i, (kind, path) in enumerate(
            (kind, make_lora(build, tmp_path / kind, seed=i + 1, rank=4, scale=0.05))
            for i, kind in enumerate(("retailer", "brand", "task"))
        )
    }
    model, tokenizer = load_base_model(settings)
    composer = Composer(model, weights={"brand": 0.0})
    full = composer.compose(Resolution(components=dict(infos), missing=(), requested={}))
    no_brand = composer.compose(
        Resolution(
            components={k: v for k, v in infos.items() if k != "brand"}, missing=("brand",), requested={}
        )
    )
    encoded = tokenizer(["Write a headline for oat milk."], return_tensors="pt", add_special_tokens=False)
    with torch.inference_mode():
        logits = {
            name: composer.model(**encoded, adapter_names=[name]).logits
            for name in (full.adapter_name, no_brand.adapter_name, BASE_ADAPTER)
        }
    # Zero weight: no change beyond float noise (the zero block still enters the rank-12 matmuls).
    torch.testing.assert_close(logits[full.adapter_name], logits[no_brand.adapter_name], atol=2e-4, rtol=1e-4)
    assert not torch.allclose(logits[no_brand.adapter_name], logits[BASE_ADAPTER], atol=1e-3)

    prompts = [
        render_chat(tokenizer, [{"role": "user", "content": text}])
        for text in ("Write a headline for oat milk.", "Name a fruit.", "Say hello to the team in French.")
    ]
    adapters = [full.adapter_name, BASE_ADAPTER, no_brand.adapter_name]
    batch = generate_rows(composer.model, tokenizer, prompts, adapters, max_new_tokens=10)
    alone = [
        generate_rows(composer.model, tokenizer, [p], [a], max_new_tokens=10)[0]
        for p, a in zip(prompts, adapters, strict=True)
    ]
    assert [b.token_ids for b in batch] == [a.token_ids for a in alone]
    # Best-of-K repeats: repeated (prompt, adapter) rows share one prefill and still decode as alone,
    # greedy beside sampled rows in the same batch.
    repeated = generate_rows(
        composer.model,
        tokenizer,
        [prompts[0]] * 3 + [prompts[2]],
        [full.adapter_name] * 3 + [no_brand.adapter_name],
        max_new_tokens=10,
        temperature=[0.0, 0.7, 0.7, 0.0],
        top_p=[1.0, 0.9, 0.9, 1.0],
    )
    assert repeated[0].token_ids == alone[0].token_ids and repeated[3].token_ids == alone[2].token_ids
