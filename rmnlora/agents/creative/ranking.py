"""Ranking: governance first (a rejected ad is worth nothing), then the adapter's likelihood.

Likelihood is the mean token log-probability the chat model reports in the response metadata
(``mean_logprob``, ``avg_logprob``, or a ``logprobs`` list); a model that reports none leaves it
None, and the ranking says so instead of pretending it used it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from rmnlora.schemas.creative import CopyCandidate

LIKELIHOOD_KEYS = ("mean_logprob", "avg_logprob", "logprob")


def _mean(values: Sequence[Any]) -> float | None:
    numbers = [float(v) for v in values if isinstance(v, int | float) and math.isfinite(float(v))]
    return sum(numbers) / len(numbers) if numbers else None


def likelihood_from_metadata(metadata: Mapping[str, Any]) -> float | None:
    """Mean token log-probability from a chat response's metadata, or None when absent."""
    for key in LIKELIHOOD_KEYS:
        value = metadata.get(key)
        if isinstance(value, int | float) and math.isfinite(float(value)):
            return float(value)
    logprobs = metadata.get("logprobs")
    if isinstance(logprobs, Mapping):
        logprobs = logprobs.get("content")
    if isinstance(logprobs, Sequence) and not isinstance(logprobs, str):
        flat = [item.get("logprob") if isinstance(item, Mapping) else item for item in logprobs]
        return _mean(flat)
    return None


def rank_candidates(candidates: list[CopyCandidate]) -> tuple[list[CopyCandidate], str]:
    """Candidates best first, and a sentence saying how they were ranked."""
    with_likelihood = [c for c in candidates if c.likelihood is not None]
    use_likelihood = bool(candidates) and len(with_likelihood) == len(candidates)

    def key(c: CopyCandidate) -> tuple[int, int, int, float]:
        g = c.governance
        score = -(c.likelihood or 0.0) if use_likelihood else 0.0
        return (0 if g.passed else 1, g.count("critical"), g.count("warning"), score)

    ranked = sorted(candidates, key=key)
    how = "ranked by governance (passed, then fewest critical, then fewest warnings)"
    if use_likelihood:
        how += ", then by adapter likelihood (mean token log-probability)"
    elif candidates and candidates[0].source == "model":
        how += (
            "; adapter likelihood not used: the chat model did not report log-probabilities "
            f"for {len(candidates) - len(with_likelihood)} of {len(candidates)} candidates"
        )
    return ranked, how
