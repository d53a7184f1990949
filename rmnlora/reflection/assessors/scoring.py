"""How factor scores combine into one confidence: a weighted geometric mean.

A geometric mean lets one very bad signal (a 0 for a failed solver) pull the whole phase down
instead of being averaged away.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from rmnlora.schemas.reflection import ConfidenceFactor

BIAS_FLAG_PENALTY = 0.1


def clip(value: float) -> float:
    return max(0.0, min(1.0, value))


def combine(factors: Sequence[ConfidenceFactor]) -> float:
    """Weighted geometric mean of the factor scores (each floored at 0.001)."""
    if not factors:
        raise ValueError("no confidence factors: an assessor must measure something")
    total = sum(f.weight for f in factors)
    log_sum = sum(f.weight * math.log(max(f.score, 0.001)) for f in factors)
    return round(clip(math.exp(log_sum / total)), 4)


def bias_factor(flags: int) -> ConfidenceFactor:
    return ConfidenceFactor(
        name="bias_flags", score=clip(1 - BIAS_FLAG_PENALTY * flags), value=flags, weight=0.5
    )
