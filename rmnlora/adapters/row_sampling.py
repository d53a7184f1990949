"""Per-row decoding settings inside one ``generate`` call: greedy rows beside sampled ones.

Why: the creative agent sends one greedy draw and several sampled draws per format at once.
``transformers`` takes one temperature per call, so the batching engine used to split such a wave
into a greedy batch and a sampled batch run one after the other, paying the full decode twice.
With this processor every row is drawn in the same forward passes: a greedy row keeps only its
arg-max token (so sampling it is the arg-max), a sampled row gets the warpers ``generate`` itself
would apply with that row's settings (temperature, transformers' default top-k of 50, top-p).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import LogitsProcessor, TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

DEFAULT_TOP_K = 50
"""What ``generate(do_sample=True)`` applies when neither the model nor the caller sets top-k."""


def row_settings(temperatures: Sequence[float], top_ps: Sequence[float]) -> list[tuple[float, float]]:
    """One ``(temperature, top_p)`` per row; greedy rows are ``(0.0, 1.0)`` whatever top-p they name."""
    return [(0.0, 1.0) if t <= 0 else (float(t), float(p)) for t, p in zip(temperatures, top_ps, strict=True)]


class RowSamplingProcessor(LogitsProcessor):
    """Applies each row's own decoding settings; pass ``do_sample=True`` with no warpers of its own."""

    def __init__(self, settings: Sequence[tuple[float, float]], top_k: int = DEFAULT_TOP_K) -> None:
        groups: dict[tuple[float, float], list[int]] = {}
        for row, setting in enumerate(settings):
            groups.setdefault(setting, []).append(row)
        self.groups = {setting: torch.tensor(rows) for setting, rows in groups.items()}
        self.top_k = top_k

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        processed = torch.empty_like(scores)
        for (temperature, top_p), rows in self.groups.items():
            rows = rows.to(scores.device)
            logits = scores[rows]
            if temperature <= 0:
                best = logits.argmax(dim=-1, keepdim=True)
                kept = torch.full_like(logits, float("-inf"))
                processed[rows] = kept.scatter(1, best, logits.gather(1, best))
                continue
            ids = input_ids[rows]
            logits = TemperatureLogitsWarper(temperature)(ids, logits)
            logits = TopKLogitsWarper(top_k=self.top_k)(ids, logits)
            if top_p < 1.0:
                logits = TopPLogitsWarper(top_p=top_p)(ids, logits)
            processed[rows] = logits
        return processed  # type: ignore[return-value]
