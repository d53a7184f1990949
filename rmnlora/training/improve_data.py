"""What an improvement run learns from and is judged on: the brand's feedback, windowed and split.

- Window: feedback rows with ids after the served version's ``feedback_through``; a new version
  learns only what came in since its parent, so it is trained *on top of* the parent.
- Targets: preference pairs (and a correction against the answer it corrects, a liked answer
  against a disliked one to the same prompt) become DPO rows; corrections and liked answers
  become SFT rows; an answer anyone disliked is never a target.
- Held-out: by a seeded hash of the prompt, so one prompt is always on the same side, whatever
  the window: every window's held-out pairs are judged again each round, so a batch that
  contradicts what earlier feedback taught (chosen and rejected swapped) shows up as a loss there.
  The brand's held-out corpus copies (whole products never trained on) are judged too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rmnlora.agents.creative.formats import FormatSpecError, load_format_spec
from rmnlora.agents.creative.prompts import brief_facts
from rmnlora.schemas.creative import CopyRequest
from rmnlora.schemas.feedback import decode_creative_prompt
from rmnlora.storage.database import Database
from rmnlora.storage.models import Feedback
from rmnlora.training.corpus import Corpus
from rmnlora.training.creative_rows import sft_rows as corpus_sft_rows
from rmnlora.training.datasets import Row, as_chat, feedback_to_dpo, is_disliked, is_liked, load_feedback


def is_heldout(prompt: str, fraction: float, seed: int = 0) -> bool:
    """Whether ``prompt`` is held out: a fixed function of the prompt, never of the batch it came in."""
    digest = hashlib.sha256(f"improve:{seed}:{prompt}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def sft_targets(items: Iterable[Feedback]) -> list[Row]:
    """Corrections and liked answers; an answer anyone disliked for its prompt is never a target."""
    items = list(items)
    disliked = {(i.prompt, i.response) for i in items if i.response and is_disliked(i)}
    rows: list[Row] = []
    for item in items:
        if item.feedback_type == "correction" and item.correction:
            text = item.correction
        elif item.response and is_liked(item):
            text = item.response
        else:
            continue
        if (item.prompt, text) not in disliked:
            rows.append({"prompt": item.prompt, "completion": text})
    return rows


def judge_meta(prompt: str) -> Row | None:
    """What the checker needs to judge an answer to a structured creative prompt (None: free text
    or a brief naming an unknown format)."""
    structured = decode_creative_prompt(prompt)
    if structured is None:
        return None
    try:
        request = CopyRequest.model_validate(structured.request)
        spec = load_format_spec(request.retailer, request.ad_format)
    except (ValueError, FormatSpecError):
        return None
    return {
        "task": "creative",
        "retailer": request.retailer,
        "ad_format": request.ad_format,
        "brand": request.brand,
        "product_name": request.product,
        "facts": brief_facts(request, spec),
    }


def as_scored(rows: Sequence[Row], keys: tuple[str, ...]) -> list[Row]:
    """Rows as the model is scored on them: the agent's chat turns, with ``meta`` kept."""
    converted = as_chat(rows, keys)
    for out, row in zip(converted, rows, strict=True):
        if "meta" in row:
            out["meta"] = row["meta"]
    return converted


@dataclass
class BrandData:
    """The rows of one improvement run, and how many of each kind there were."""

    feedback_after: int
    feedback_through: int
    new_items: int
    train_pairs: list[Row] = field(default_factory=list)
    train_sft: list[Row] = field(default_factory=list)
    heldout_pairs: list[Row] = field(default_factory=list)
    heldout_sft: list[Row] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "new_feedback": self.new_items,
            "train_pairs": len(self.train_pairs),
            "train_sft": len(self.train_sft),
            "heldout_pairs": len(self.heldout_pairs),
            "heldout_sft": len(self.heldout_sft),
        }

    def window(self) -> dict[str, Any]:
        return {"after": self.feedback_after, "through": self.feedback_through}


def collect_brand_data(
    database: Database,
    tenant_id: str,
    brand_id: str,
    *,
    task: str,
    after: int,
    heldout_fraction: float,
    seed: int = 0,
    corpus: Corpus | None = None,
    max_items: int = 50_000,
) -> BrandData:
    """The window's training rows and the brand's whole held-out set (see the module docstring)."""
    items = load_feedback(database, tenant_id, brand_id, task)[-max_items:]
    new = [i for i in items if i.id is not None and i.id > after]
    through = max((i.id for i in items if i.id is not None), default=after)
    data = BrandData(feedback_after=after, feedback_through=max(through, after), new_items=len(new))
    for row in feedback_to_dpo(new):
        if not is_heldout(row["prompt"], heldout_fraction, seed):
            data.train_pairs.append(row)
    for row in sft_targets(new):
        if not is_heldout(row["prompt"], heldout_fraction, seed):
            data.train_sft.append(row)
    every_pair = feedback_to_dpo(items)
    data.heldout_pairs = [r for r in every_pair if is_heldout(r["prompt"], heldout_fraction, seed)]
    data.heldout_sft = _heldout_cases(data.heldout_pairs, corpus, brand_id)
    return data


def _heldout_cases(pairs: Sequence[Row], corpus: Corpus | None, brand_id: str) -> list[Row]:
    """Held-out SFT rows (loss, and a greedy answer judged per row that names its brief)."""
    rows: list[Row] = []
    if corpus is not None:
        examples = corpus.select("heldout", brand=brand_id)
        if examples:
            rows += corpus_sft_rows(corpus, examples)
    seen: set[str] = set()
    for pair in pairs:
        prompt = pair["prompt"]
        key = prompt if isinstance(prompt, str) else json.dumps(prompt, sort_keys=True)
        if key in seen:
            continue
        seen.add(key)
        row: Row = {"prompt": pair["prompt"], "completion": pair["chosen"]}
        meta = judge_meta(pair["prompt"]) if isinstance(pair["prompt"], str) else None
        if meta is not None:
            row["meta"] = meta
        rows.append(row)
    return rows
