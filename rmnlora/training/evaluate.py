"""Evaluation harness: held-out loss/perplexity, generation task metrics, DPO preference accuracy.

Every metric is computed for the base model (adapters disabled) and for each adapter or
composition on the same held-out rows, so the report states gains, not absolute numbers alone.
- loss: mean NLL per completion token (EOS included, as the SFT trainer trains it);
- governance pass rate and usable rate: greedy generations for creative rows (``meta`` naming
  retailer, ad format and product) read by the creative agent's ``parse_copy``/``clean_copy`` and
  judged by governance's ``review_copy`` with the row's retailer format (``format_pack``): pass =
  no critical policy finding; usable = that and the copy-quality judge too (what the gate counts);
- preference accuracy: share of held-out pairs where the model gives chosen a higher total
  log-probability than rejected; for a DPO adapter also the implicit-reward accuracy
  (``beta * (logp_policy - logp_base)`` of chosen above rejected) and its mean margin.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from rmnlora.training.creative_rows import is_creative_case, judge_answer
from rmnlora.training.datasets import Row

BASE = "base"


@dataclass
class ModelScores:
    """All metrics of one model variant (``base``, an adapter name, or a composition)."""

    name: str
    loss: float | None = None
    perplexity: float | None = None
    loss_tokens: int = 0
    governance_pass_rate: float | None = None
    usable_rate: float | None = None
    governance_cases: int = 0
    preference_accuracy: float | None = None
    implicit_reward_accuracy: float | None = None
    implicit_reward_margin: float | None = None
    preference_pairs: int = 0
    samples: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------- log-probabilities


def completion_logps(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    completions: Sequence[str],
    batch_size: int = 8,
    max_length: int = 256,
) -> list[tuple[float, int]]:
    """``(sum log p(completion + EOS | prompt), completion tokens)`` per row; long prompts cut on the left."""
    import torch

    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    results: list[tuple[float, int]] = []
    for start in range(0, len(prompts), batch_size):
        ids_list, masks = [], []
        for prompt, completion in zip(
            prompts[start : start + batch_size], completions[start : start + batch_size], strict=True
        ):
            p_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
            c_ids = tokenizer(completion, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
            c_ids = c_ids[: max_length - 1]
            p_ids = p_ids[-(max_length - len(c_ids)) :]
            ids_list.append(p_ids + c_ids)
            masks.append([0] * len(p_ids) + [1] * len(c_ids))
        width = max(len(ids) for ids in ids_list)
        input_ids = torch.full((len(ids_list), width), pad, dtype=torch.long)
        attention = torch.zeros((len(ids_list), width), dtype=torch.long)
        target_mask = torch.zeros((len(ids_list), width), dtype=torch.bool)
        for i, (ids, mask) in enumerate(zip(ids_list, masks, strict=True)):
            input_ids[i, : len(ids)] = torch.tensor(ids)
            attention[i, : len(ids)] = 1
            target_mask[i, : len(ids)] = torch.tensor(mask, dtype=torch.bool)
        input_ids, attention, target_mask = input_ids.to(device), attention.to(device), target_mask.to(device)
        # Project onto the vocabulary only the positions that predict a completion token: a prompt
        # is most of a row, and the vocabulary projection and softmax are most of the time.
        shifted = target_mask[:, 1:]
        keep = torch.zeros_like(target_mask)
        keep[:, :-1] = shifted
        with torch.no_grad():
            logits = model(input_ids=input_ids, attention_mask=attention, logits_to_keep=keep).logits
        if logits.dim() == 3:  # a model that returns every position
            logits = logits[keep]
        picked = torch.log_softmax(logits.float(), dim=-1)
        logp = picked.gather(-1, input_ids[:, 1:][shifted].unsqueeze(-1)).squeeze(-1)
        rows = torch.arange(len(ids_list), device=device).unsqueeze(1).expand_as(shifted)[shifted]
        sums = torch.zeros(len(ids_list), device=device).index_add_(0, rows, logp)
        counts = shifted.sum(dim=1)
        results.extend((float(s), int(c)) for s, c in zip(sums.tolist(), counts.tolist(), strict=True))
    return results


def heldout_loss(model: Any, tokenizer: Any, rows: Sequence[Row], batch_size: int = 8) -> tuple[float, int]:
    """Mean NLL per completion token over ``rows`` and the token count."""
    scored = completion_logps(
        model, tokenizer, [r["prompt"] for r in rows], [r["completion"] for r in rows], batch_size
    )
    tokens = sum(n for _, n in scored)
    if tokens == 0:
        raise ValueError("held-out rows have no completion tokens")
    return -sum(s for s, _ in scored) / tokens, tokens


def pair_logps(
    model: Any, tokenizer: Any, pairs: Sequence[Row], batch_size: int = 8
) -> list[tuple[float, float]]:
    prompts = [p["prompt"] for p in pairs]
    chosen = completion_logps(model, tokenizer, prompts, [p["chosen"] for p in pairs], batch_size)
    rejected = completion_logps(model, tokenizer, prompts, [p["rejected"] for p in pairs], batch_size)
    return [(c, r) for (c, _), (r, _) in zip(chosen, rejected, strict=True)]


# ---------------------------------------------------------------- generations


def generate(
    model: Any, tokenizer: Any, prompts: Sequence[str], max_new_tokens: int = 64, batch_size: int = 8
) -> list[str]:
    """Greedy continuations up to EOS or ``max_new_tokens`` (the runtime's default is 64), stripped."""
    import torch

    device = next(model.parameters()).device
    tokenizer.padding_side = "left"
    outputs: list[str] = []
    for start in range(0, len(prompts), batch_size):
        batch = tokenizer(
            list(prompts[start : start + batch_size]),
            return_tensors="pt",
            padding=True,
            add_special_tokens=False,
        )
        batch = {k: v.to(device) for k, v in batch.items()}
        with torch.no_grad():
            generated = model.generate(
                **batch,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
        new = generated[:, batch["input_ids"].shape[1] :]
        for text in tokenizer.batch_decode(new, skip_special_tokens=True):
            outputs.append(text.strip())
    return outputs


def _content(value: Any) -> str:
    """A completion as text: a string, or the content of its (assistant) chat turns."""
    if isinstance(value, list):
        return "".join(str(turn.get("content", "")) for turn in value)
    return str(value)


def rendered(tokenizer: Any, row: Row, answers: tuple[str, ...], chat_format: bool) -> Row:
    """The row as the model sees it: chat-rendered prompt and stripped answers.

    A conversational prompt (the creative agent's system + user turns) is always rendered with the
    chat template; a string prompt is sent as one user turn, or left as it is without ``chat_format``.
    """
    prompt = row["prompt"]
    if not chat_format and not isinstance(prompt, list):
        return dict(row)
    from rmnlora.adapters.batching import render_chat

    out = dict(row)
    turns = prompt if isinstance(prompt, list) else [{"role": "user", "content": str(prompt).strip()}]
    out["prompt"] = render_chat(tokenizer, turns)
    for key in answers:
        out[key] = _content(row[key]).strip()
    return out


# ---------------------------------------------------------------- one model variant


def score_model(
    name: str,
    model: Any,
    tokenizer: Any,
    *,
    sft_rows: Sequence[Row] = (),
    pairs: Sequence[Row] = (),
    reference_pair_logps: Sequence[tuple[float, float]] | None = None,
    beta: float = 0.1,
    max_generations: int = 24,
    max_new_tokens: int = 64,
    batch_size: int = 8,
    keep_samples: int = 3,
    chat_format: bool = True,
) -> tuple[ModelScores, list[tuple[float, float]]]:
    """Score the model as it is now (active adapters as set by the caller); also returns its pair logps.

    ``chat_format``: render prompts with the chat template, as training and the runtime do.
    """
    scores = ModelScores(name=name)
    sft_rows = [rendered(tokenizer, r, ("completion",), chat_format) for r in sft_rows]
    pairs = [rendered(tokenizer, r, ("chosen", "rejected"), chat_format) for r in pairs]
    if sft_rows:
        loss, tokens = heldout_loss(model, tokenizer, sft_rows, batch_size)
        scores.loss, scores.perplexity, scores.loss_tokens = loss, math.exp(min(loss, 50.0)), tokens
        cases = [r for r in sft_rows if is_creative_case(r.get("meta"))][:max_generations]
        if cases:
            texts = generate(model, tokenizer, [r["prompt"] for r in cases], max_new_tokens, batch_size)
            passed: list[bool] = []
            usable: list[bool] = []
            for row, text in zip(cases, texts, strict=True):
                verdict = judge_answer(text, row["meta"])
                passed.append(verdict.policy_passed)
                usable.append(verdict.passed)
                if len(scores.samples) < keep_samples:
                    scores.samples.append(
                        {
                            "prompt_tail": row["prompt"][-120:],
                            "output": text,
                            "copy": verdict.copy.model_dump(),
                            "ok": verdict.passed,
                            "violations": verdict.reasons,
                        }
                    )
            scores.governance_pass_rate = sum(passed) / len(passed)
            scores.usable_rate = sum(usable) / len(usable)
            scores.governance_cases = len(passed)
    logps: list[tuple[float, float]] = []
    if pairs:
        logps = pair_logps(model, tokenizer, pairs, batch_size)
        scores.preference_pairs = len(pairs)
        scores.preference_accuracy = sum(c > r for c, r in logps) / len(logps)
        if reference_pair_logps is not None:
            margins = [
                beta * ((c - rc) - (r - rr))
                for (c, r), (rc, rr) in zip(logps, reference_pair_logps, strict=True)
            ]
            scores.implicit_reward_accuracy = sum(m > 0 for m in margins) / len(margins)
            scores.implicit_reward_margin = sum(margins) / len(margins)
    return scores, logps


# ---------------------------------------------------------------- adapters and compositions


@contextlib.contextmanager
def active(model: Any, adapter: str | None) -> Iterator[Any]:
    """Run with one named adapter active, or with every adapter disabled (``None`` = the base)."""
    if adapter is None:
        with model.disable_adapter():
            yield model
        return
    previous = model.active_adapter
    model.set_adapter(adapter)
    try:
        yield model
    finally:
        model.set_adapter(previous)


def compose(model: Any, adapters: Sequence[str], weights: Sequence[float] | None = None) -> str:
    """Add the exact weighted sum of LoRA deltas (PEFT ``cat``) as a new adapter; returns its name."""
    name = "+".join(adapters)
    if name not in model.peft_config:
        model.add_weighted_adapter(
            list(adapters), list(weights or [1.0] * len(adapters)), adapter_name=name, combination_type="cat"
        )
    return name


def load_adapters(model: Any, adapters: dict[str, str]) -> Any:
    """Wrap a plain base model in a PeftModel holding every ``{name: folder}`` adapter."""
    from peft import PeftModel

    items = list(adapters.items())
    if not items:
        raise ValueError("no adapters to evaluate")
    first_name, first_path = items[0]
    peft_model = PeftModel.from_pretrained(model, first_path, adapter_name=first_name)
    for name, path in items[1:]:
        peft_model.load_adapter(path, adapter_name=name)
    peft_model.eval()
    return peft_model


def evaluate_variants(
    model: Any,
    tokenizer: Any,
    variants: Sequence[str],
    *,
    sft_rows: Sequence[Row] = (),
    pairs: Sequence[Row] = (),
    compositions: Sequence[Sequence[str]] = (),
    beta: float = 0.1,
    max_generations: int = 24,
    max_new_tokens: int = 64,
    chat_format: bool = True,
) -> list[ModelScores]:
    """Scores of the base, each named adapter, and each composition, on the same held-out data."""
    with active(model, None):
        base_scores, base_logps = score_model(
            BASE,
            model,
            tokenizer,
            sft_rows=sft_rows,
            pairs=pairs,
            max_generations=max_generations,
            max_new_tokens=max_new_tokens,
            chat_format=chat_format,
        )
    results = [base_scores]
    names = list(variants) + [compose(model, combo) for combo in compositions]
    for name in names:
        with active(model, name):
            scores, _ = score_model(
                name,
                model,
                tokenizer,
                sft_rows=sft_rows,
                pairs=pairs,
                reference_pair_logps=base_logps if pairs else None,
                beta=beta,
                max_generations=max_generations,
                max_new_tokens=max_new_tokens,
                chat_format=chat_format,
            )
        results.append(scores)
    return results


def improvement(base: ModelScores, other: ModelScores) -> dict[str, float | None]:
    """Loss cut (relative), governance-pass and preference-accuracy gains (points) over ``base``."""

    def diff(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else b - a

    loss_cut = None
    if base.loss and other.loss is not None:
        loss_cut = (base.loss - other.loss) / base.loss
    return {
        "heldout_loss_cut": loss_cut,
        "governance_pass_gain": diff(base.governance_pass_rate, other.governance_pass_rate),
        "preference_accuracy_gain": diff(base.preference_accuracy, other.preference_accuracy),
    }
