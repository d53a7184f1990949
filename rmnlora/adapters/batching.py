"""Mixed-adapter batching: a job's settings, its result, and one ``generate`` over rows that each
have their own composed adapter (``generate_rows``), which the static engine (``static_engine.py``)
runs per batch.

Why: one small base model serves every tenant; running requests one by one wastes the matmuls.
A batch whose rows share one adapter runs PEFT's plain path; a
mixed batch runs the grouped LoRA forward (``grouped.py``: two batched matmuls per layer) or, when
forced with ``mixed_path="peft"`` or when the adapters use a feature it lacks, PEFT's
``generate(adapter_names=[...])``; each result says which path ran. Greedy rows are left-padded,
so each row decodes the same tokens as it would alone; rows asking for fewer tokens are truncated.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Literal

from rmnlora.adapters.compose import BASE_ADAPTER, Composition
from rmnlora.adapters.grouped import GroupedLoraUnsupported, check_grouped_support
from rmnlora.adapters.registry import Resolution
from rmnlora.adapters.row_sampling import RowSamplingProcessor, row_settings
from rmnlora.adapters.shared_prompts import adapter_scope, distinct_rows, prefill

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GeneratedText:
    text: str
    token_ids: list[int]
    finish_reason: str  # "stop" (end of sequence) or "length"
    path: str = "plain"  # how the batch ran: plain (no PEFT) | base | single | grouped | peft
    # Mean log-probability of the generated tokens under the (composed) model: what candidates rank by.
    mean_logprob: float | None = None
    # Per token, when the job asked for logprobs (the continuous engine): the model's own distribution.
    logprobs: list[TokenLogprob] | None = None


@dataclass(frozen=True)
class TokenLogprob:
    """One generated token's log-probability under the model, and the most likely alternatives."""

    token: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()


TokenCallback = Callable[[str, "TokenLogprob | None"], None]
"""Called from the engine's thread with each piece of text as it becomes final (streaming)."""


MixedPath = Literal["grouped", "peft"]
MIXED_PATHS: tuple[str, ...] = ("grouped", "peft")


def choose_path(model: Any, adapter_names: Sequence[str], mixed_path: MixedPath = "grouped") -> str:
    """Which forward a batch with these row adapters runs (see GeneratedText.path)."""
    if mixed_path not in MIXED_PATHS:
        raise ValueError(f"mixed_path must be one of {MIXED_PATHS}, got {mixed_path!r}")
    if not hasattr(model, "peft_config"):
        return "plain"
    distinct = set(adapter_names)
    if distinct == {BASE_ADAPTER}:
        return "base"
    if len(distinct) == 1:
        return "single"
    if mixed_path == "peft":
        return "peft"
    try:
        check_grouped_support(model, adapter_names)
    except GroupedLoraUnsupported as exc:
        log.warning("mixed batch runs on PEFT's adapter_names path: %s", exc)
        return "peft"
    return "grouped"


@dataclass
class GenerationJob:
    prompt: str
    resolution: Resolution
    max_new_tokens: int = 64
    temperature: float = 0.0
    top_p: float = 1.0
    future: Future[tuple[GeneratedText, Composition, dict[str, float]]] = field(default_factory=Future)
    enqueued_at: float = field(default_factory=time.perf_counter)
    tenant_id: str = ""  # whose line it waits in (fair_queue); "" for in-process callers
    deadline: float | None = None  # perf_counter time after which it is failed instead of run
    # What only the continuous engine honours (the OpenAI-compatible API asks for them):
    stop: tuple[str, ...] = ()  # generation ends before the first of these strings
    seed: int | None = None  # a sampled row draws from its own generator seeded with this
    logprobs: int | None = None  # None: none; k >= 0: each token's logprob and its k best alternatives
    on_text: TokenCallback | None = None  # streaming: each final piece of text, as it is decoded
    cancelled: bool = False  # set by the caller (a closed stream): the row leaves the batch


def render_chat(tokenizer: Any, messages: Sequence[dict[str, str]]) -> str:
    """Apply the model's chat template (with the assistant turn opened) to role/content dicts."""
    if getattr(tokenizer, "chat_template", None):
        rendered = tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)
        return str(rendered)
    return "\n".join(f"{m['role']}: {m['content']}" for m in messages) + "\nassistant:"


def generate_rows(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    adapter_names: Sequence[str],
    *,
    max_new_tokens: int | Sequence[int] = 64,
    temperature: float | Sequence[float] = 0.0,
    top_p: float | Sequence[float] = 1.0,
    mixed_path: MixedPath = "grouped",
) -> list[GeneratedText]:
    """One ``generate`` call over ``prompts``, row i using adapter ``adapter_names[i]``.

    ``temperature``/``top_p`` may differ per row (0: greedy); a batch mixing settings is decoded in
    one pass with :class:`RowSamplingProcessor`, not one pass per setting. Each row's
    ``mean_logprob`` is under the distribution it was drawn from (the model's own for greedy rows).
    ``mixed_path`` picks the forward for batches mixing adapters: ``grouped`` (ours, faster) or
    ``peft`` (PEFT's ``adapter_names=``); every returned row's ``path`` names the one that ran.
    """
    import torch
    from transformers import LogitsProcessorList

    if len(prompts) != len(adapter_names):
        raise ValueError("generate_rows needs one adapter name per prompt")
    limits = [max_new_tokens] * len(prompts) if isinstance(max_new_tokens, int) else list(max_new_tokens)
    temperatures = [temperature] * len(prompts) if isinstance(temperature, int | float) else list(temperature)
    top_ps = [top_p] * len(prompts) if isinstance(top_p, int | float) else list(top_p)
    if not len(limits) == len(temperatures) == len(top_ps) == len(prompts):
        raise ValueError("generate_rows needs one max_new_tokens, temperature and top_p per prompt")
    settings = row_settings(temperatures, top_ps)
    mixed_sampling = len(set(settings)) > 1
    device = next(model.parameters()).device
    first, index = distinct_rows(prompts, adapter_names)
    encoded = tokenizer(
        [prompts[row] for row in first], return_tensors="pt", padding=True, add_special_tokens=False
    ).to(device)
    cache = None
    if len(first) < len(prompts):  # repeated rows: prefill the distinct ones, copy out to every row
        rows = torch.tensor(index, device=device)
        if encoded["input_ids"].shape[1] > 1:
            names = [adapter_names[row] for row in first]
            prefill_path = choose_path(model, names, mixed_path)
            with torch.inference_mode(), adapter_scope(model, prefill_path, names) as extra:
                cache = prefill(model, dict(encoded), extra)
            cache.batch_select_indices(rows)
        encoded = {name: tensor[rows] for name, tensor in encoded.items()}
    kwargs: dict[str, Any] = {
        "max_new_tokens": max(limits),
        "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "output_scores": True,
        "return_dict_in_generate": True,
    }
    if mixed_sampling:
        kwargs.update(
            do_sample=True,
            temperature=1.0,
            top_k=0,
            top_p=1.0,
            logits_processor=LogitsProcessorList([RowSamplingProcessor(settings)]),
            output_logits=True,  # a greedy row's scores are its arg-max alone; its fluency is the model's
        )
    elif settings[0][0] > 0:
        kwargs.update(do_sample=True, temperature=settings[0][0], top_p=settings[0][1])
    else:
        kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    if cache is not None:
        kwargs["cache"] = cache  # the shared prompts' prefill: generate decodes from its last token
    path = choose_path(model, adapter_names, mixed_path)
    with torch.inference_mode(), adapter_scope(model, path, adapter_names) as extra:
        output = model.generate(**encoded, **kwargs, **extra)
    prompt_len = encoded["input_ids"].shape[1]
    # Log-probabilities of the chosen tokens under the distribution they were drawn from.
    token_logprobs = model.compute_transition_scores(output.sequences, output.scores, normalize_logits=True)
    if mixed_sampling:
        model_logprobs = model.compute_transition_scores(
            output.sequences, output.logits, normalize_logits=True
        )
        greedy = torch.tensor([t <= 0 for t, _ in settings], device=token_logprobs.device)
        token_logprobs = torch.where(greedy[:, None], model_logprobs, token_logprobs)
    results = []
    for row, row_logprobs, limit in zip(output.sequences, token_logprobs, limits, strict=True):
        new_tokens = row[prompt_len:].tolist()[:limit]
        finish = "length"
        if tokenizer.eos_token_id in new_tokens:
            new_tokens = new_tokens[: new_tokens.index(tokenizer.eos_token_id)]
            finish = "stop"
        scored = row_logprobs[: max(len(new_tokens), 1)].float()
        finite = scored[torch.isfinite(scored)]
        mean_logprob = float(finite.mean()) if finite.numel() else None
        results.append(
            GeneratedText(
                tokenizer.decode(new_tokens, skip_special_tokens=True), new_tokens, finish, path, mean_logprob
            )
        )
    return results
