"""Candidate against current, on the same held-out rows, with the create gate's own checker.

Both are brand adapters over the same model (the base with the task adapter merged in, as the
brand adapters are trained), so the comparison isolates what the brand adapter changed:
- ``usable_rate``: greedy answers to held-out briefs that governance and the copy-quality judge
  both pass (what the create gate counts); ``policy_pass_rate``: no critical policy finding;
- ``preference_accuracy``: held-out human pairs the version's implicit reward ranks right, DPO's
  own measure: ``(log p(chosen) - log p_ref(chosen)) - (log p(rejected) - log p_ref(rejected)) > 0``
  with the task-alone model as the reference (shared by both versions; a tie counts half, so a
  version no different from the reference scores 50%); ``preference_margin``: the mean of it;
  ``likelihood_accuracy``: pairs where the chosen answer simply has the higher mean token
  log-probability (reported, not decided on: it rewards brevity and wording the base already likes);
- ``heldout_loss``: mean token NLL of held-out targets (the brand's corpus copies, chosen answers).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from rmnlora.training.datasets import Row
from rmnlora.training.evaluate import active, completion_logps, load_adapters, rendered, score_model
from rmnlora.training.improve_data import BrandData, as_scored

BaseLoader = Callable[[], tuple[Any, Any]]


@dataclass
class VersionScores:
    """One adapter version's held-out figures (None: nothing to compute it on)."""

    usable_rate: float | None = None
    policy_pass_rate: float | None = None
    generations: int = 0
    preference_accuracy: float | None = None
    preference_margin: float | None = None
    likelihood_accuracy: float | None = None
    pairs: int = 0
    heldout_loss: float | None = None
    loss_tokens: int = 0
    samples: tuple[dict[str, Any], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


PairLogps = list[tuple[tuple[float, int], tuple[float, int]]]


def pair_logps(model: Any, tokenizer: Any, pairs: Sequence[Row]) -> PairLogps:
    """``((sum, tokens) of chosen, (sum, tokens) of rejected)`` per pair, under the active adapter."""
    shown = [rendered(tokenizer, p, ("chosen", "rejected"), True) for p in pairs]
    prompts = [p["prompt"] for p in shown]
    chosen = completion_logps(model, tokenizer, prompts, [p["chosen"] for p in shown])
    rejected = completion_logps(model, tokenizer, prompts, [p["rejected"] for p in shown])
    return list(zip(chosen, rejected, strict=True))


def _pair_scores(
    model: Any, tokenizer: Any, pairs: Sequence[Row], reference: PairLogps
) -> tuple[float | None, float | None, float | None]:
    if not pairs:
        return None, None, None
    own = pair_logps(model, tokenizer, pairs)
    margins = [
        (c - rc) - (r - rr) for ((c, _), (r, _)), ((rc, _), (rr, _)) in zip(own, reference, strict=True)
    ]
    accuracy = sum(1.0 if m > 1e-6 else 0.5 if abs(m) <= 1e-6 else 0.0 for m in margins) / len(margins)
    by_token = [c / max(nc, 1) > r / max(nr, 1) for (c, nc), (r, nr) in own]
    return accuracy, sum(margins) / len(margins), sum(by_token) / len(by_token)


def score_active(
    model: Any,
    tokenizer: Any,
    data: BrandData,
    reference: PairLogps,
    *,
    max_generations: int,
    max_new_tokens: int = 64,
) -> VersionScores:
    """Score the model with whatever adapter the caller made active; ``reference``: the task-alone
    model's pair log-probabilities."""
    pairs = as_scored(data.heldout_pairs, ("prompt", "chosen", "rejected"))
    cases = as_scored(data.heldout_sft, ("prompt", "completion"))
    scores = VersionScores(pairs=len(pairs))
    if cases:
        base, _ = score_model(
            "version",
            model,
            tokenizer,
            sft_rows=cases,
            max_generations=max_generations,
            max_new_tokens=max_new_tokens,
        )
        scores.heldout_loss, scores.loss_tokens = base.loss, base.loss_tokens
        scores.usable_rate, scores.policy_pass_rate = base.usable_rate, base.governance_pass_rate
        scores.generations = base.governance_cases
        scores.samples = tuple(base.samples)
    scores.preference_accuracy, scores.preference_margin, scores.likelihood_accuracy = _pair_scores(
        model, tokenizer, pairs, reference
    )
    return scores


def model_with_task(load_base: BaseLoader, task_path: str | None) -> tuple[Any, Any]:
    """The base with the task adapter merged in: what brand adapters are trained and judged on."""
    model, tokenizer = load_base()
    if task_path is None:
        return model, tokenizer
    from peft import PeftModel

    return PeftModel.from_pretrained(model, task_path).merge_and_unload(), tokenizer


def compare_versions(
    load_base: BaseLoader,
    task_path: str | None,
    current_path: str | None,
    candidate_path: str,
    data: BrandData,
    *,
    max_generations: int = 12,
) -> tuple[VersionScores, VersionScores]:
    """``(current, candidate)`` on the same held-out rows; no current adapter = the task alone."""
    model, tokenizer = model_with_task(load_base, task_path)
    adapters = {"candidate": candidate_path}
    if current_path is not None:
        adapters["current"] = current_path
    peft_model = load_adapters(model, adapters)
    pairs = as_scored(data.heldout_pairs, ("prompt", "chosen", "rejected"))
    with active(peft_model, None):
        reference = pair_logps(peft_model, tokenizer, pairs) if pairs else []
    with active(peft_model, "current" if current_path is not None else None):
        current = score_active(peft_model, tokenizer, data, reference, max_generations=max_generations)
    with active(peft_model, "candidate"):
        candidate = score_active(peft_model, tokenizer, data, reference, max_generations=max_generations)
    return current, candidate
