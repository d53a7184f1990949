"""Rows that repeat a (prompt, adapter) pair share one prefill.

Why: best-of-K sends the same prompt through the same composed adapter K times or more. On a CPU
the prompt's forward pass is most of a short generation's cost (measured on the demo's 154-token
creative prompt with SmolLM2-135M, one thread: 0.9 s a row, against 0.14 s a decoded token), and
it is identical for each repeat. So the distinct rows are prefilled once, the key/value cache is
copied out to every row, and ``generate`` decodes from there. Greedy rows decode the same tokens
either way (a test holds the two paths to it).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any

from rmnlora.adapters.grouped import grouped_lora


def distinct_rows(prompts: Sequence[str], adapter_names: Sequence[str]) -> tuple[list[int], list[int]]:
    """``(first, index)``: the first row of each distinct (prompt, adapter) pair, and for every row
    the position of its pair in ``first``."""
    seen: dict[tuple[str, str], int] = {}
    first: list[int] = []
    index: list[int] = []
    for row, key in enumerate(zip(prompts, adapter_names, strict=True)):
        if key not in seen:
            seen[key] = len(first)
            first.append(row)
        index.append(seen[key])
    return first, index


@contextmanager
def adapter_scope(model: Any, path: str, adapter_names: Sequence[str]) -> Iterator[dict[str, Any]]:
    """Every forward inside applies ``adapter_names[i]`` to row i, as ``path`` runs it; yields the
    keyword arguments the forward or ``generate`` call must add."""
    if path == "single":
        model.base_model.set_adapter(adapter_names[0])  # PEFT's plain path, no per-row dispatch
        scope: Any = nullcontext()
    elif path in ("grouped", "base"):
        scope = grouped_lora(model, adapter_names)
    else:
        scope = nullcontext()
    with scope:
        yield {"adapter_names": list(adapter_names)} if path == "peft" else {}


def prefill(model: Any, encoded: dict[str, Any], extra: dict[str, Any]) -> Any:
    """The key/value cache of every prompt token but the last: ``generate`` feeds that one itself,
    with positions counted over the left-padded mask exactly as it would for the whole prompt."""
    from transformers import DynamicCache

    input_ids = encoded["input_ids"][:, :-1]
    mask = encoded["attention_mask"][:, :-1]
    position_ids = (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 0)
    cache = DynamicCache(config=model.config)
    model(
        input_ids=input_ids,
        attention_mask=mask,
        position_ids=position_ids,
        cache=cache,
        use_cache=True,
        logits_to_keep=1,
        **extra,
    )
    return cache
