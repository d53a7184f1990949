"""Choosing each row's next token from its logits, with that row's own settings.

Why by hand and not ``generate``'s warpers: in the continuous engine every decoding step holds
rows that joined at different times with different settings (greedy, temperature, top-p, a seed
of their own), so the choice is made per row here. A sampled row gets what ``generate`` would
apply: temperature, transformers' default top-k of 50, then top-p. Seeded rows draw from their
own ``torch.Generator``, so the same seed gives the same text whatever else is in the batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rmnlora.adapters.row_sampling import DEFAULT_TOP_K


@dataclass
class RowSampler:
    """One row's settings; ``temperature`` 0 is greedy."""

    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    top_k: int = DEFAULT_TOP_K

    def __post_init__(self) -> None:
        self.generator: torch.Generator | None = None
        if self.temperature > 0:
            self.generator = torch.Generator()
            self.generator.manual_seed(self.seed if self.seed is not None else torch.seed())

    def choose(self, logits: torch.Tensor) -> tuple[int, float]:
        """(token id, its log-probability under the distribution it was drawn from) for ``[vocab]``."""
        logits = logits.float()
        if self.temperature <= 0:
            token = int(logits.argmax())
            return token, float(torch.log_softmax(logits, dim=-1)[token])
        warped = logits / self.temperature
        if 0 < self.top_k < warped.shape[-1]:
            kth = torch.topk(warped, self.top_k).values[-1]
            warped = warped.masked_fill(warped < kth, float("-inf"))
        if self.top_p < 1.0:
            ordered, order = torch.sort(warped, descending=False)
            cumulative = ordered.softmax(dim=-1).cumsum(dim=-1)
            drop = cumulative <= (1 - self.top_p)
            drop[-1] = False  # the most likely token always stays
            warped = warped.masked_fill(drop.scatter(0, order, drop), float("-inf"))
        logprobs = torch.log_softmax(warped, dim=-1)
        token = int(torch.multinomial(logprobs.exp(), 1, generator=self.generator))
        return token, float(logprobs[token])
