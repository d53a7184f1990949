"""Helpers shared by the adapter/runtime tests: random (non-zero) PEFT LoRA folders for a model."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig, get_peft_model

from rmnlora.adapters.batching import render_chat
from rmnlora.adapters.compose import BASE_ADAPTER, Composer
from rmnlora.adapters.registry import AdapterRegistry
from rmnlora.adapters.tiny import smollm2_tokenizer
from tests.support.loopback import run_server

TARGETS = ["q_proj", "v_proj", "o_proj", "down_proj"]


def make_lora(build: Callable[[], Any], path: Path, *, seed: int, rank: int, scale: float = 0.3) -> Path:
    """Save a LoRA adapter with random non-zero A and B (a trained adapter's shape, not its content)."""
    model = build()
    torch.manual_seed(seed)
    peft_model = get_peft_model(
        model, LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=TARGETS, init_lora_weights=False)
    )
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0.0, scale)
    peft_model.save_pretrained(path)
    return path


def serve(app: Any) -> Iterator[str]:
    """Run ``app`` (lifespan on) on a free loopback port; yields the base URL."""
    yield from run_server(app, lifespan="on")


def chat_prompts(n: int) -> list[str]:
    """``n`` chat-rendered prompts of different lengths (so batches need padding)."""
    tokenizer = smollm2_tokenizer()
    texts = ["Write a headline for oat milk.", "hi", "Summarise the plan for the buyer in one line please."]
    return [render_chat(tokenizer, [{"role": "user", "content": texts[i % 3] + " x" * i}]) for i in range(n)]


def mixed_names(registry: AdapterRegistry, composer: Composer) -> list[str]:
    """Three compositions of different ranks (16, 4, 12) and the base."""
    return [
        composer.compose(
            registry.resolve("acme", retailer="walmart", brand="oatly", task="creative")
        ).adapter_name,
        composer.compose(registry.resolve("acme", retailer="walmart", brand=None, task=None)).adapter_name,
        BASE_ADAPTER,
        composer.compose(
            registry.resolve("globex", retailer=None, brand="acme-cola", task="creative")
        ).adapter_name,
    ]
