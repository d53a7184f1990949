"""Assessors: from each phase's measured signals to confidence factors, risks, bias flags and changes.

One module per phase, each with its thresholds as a frozen dataclass at the top. Parts that are
unconfigured or down and similar past failures from memory enter every phase as factors too,
and are named in the rationale.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rmnlora.reflection.assessors.content import assess_content
from rmnlora.reflection.assessors.harmonize import assess_harmonize
from rmnlora.reflection.assessors.measure import assess_measure
from rmnlora.reflection.assessors.optimize import assess_optimize, roas_within_observed_range
from rmnlora.reflection.assessors.scoring import combine
from rmnlora.reflection.assessors.shared import assess_components, assess_memory
from rmnlora.reflection.context import ReflectionContext
from rmnlora.schemas.reflection import (
    SIGNALS_BY_PHASE,
    ConfidenceFactor,
    MemoryRef,
    Phase,
    PhaseSignals,
)

Assessor = Callable[[ReflectionContext, Any], list[ConfidenceFactor]]
ASSESSORS: dict[Phase, Assessor] = {
    Phase.HARMONIZE: assess_harmonize,
    Phase.OPTIMIZE: assess_optimize,
    Phase.MEASURE: assess_measure,
    Phase.CREATE: assess_content,
    Phase.GOVERN: assess_content,
}


def coerce_signals(phase: Phase, signals: PhaseSignals | Mapping[str, Any]) -> PhaseSignals:
    """The phase's signal model; a mapping is validated, a model of the wrong phase is an error."""
    expected = SIGNALS_BY_PHASE[phase]
    if isinstance(signals, Mapping):
        return expected.model_validate(dict(signals))  # type: ignore[return-value]
    if not isinstance(signals, expected):
        raise TypeError(f"phase {phase.value!r} needs {expected.__name__}, got {type(signals).__name__}")
    return signals


def assess(
    ctx: ReflectionContext,
    signals: PhaseSignals | Mapping[str, Any],
    *,
    memory_refs: Sequence[MemoryRef] = (),
) -> None:
    """Run the phase's assessor and record confidence (from the measured factors) on ``ctx``."""
    model = coerce_signals(ctx.phase, signals)
    ctx.signals = model.model_dump(mode="json")
    factors = ASSESSORS[ctx.phase](ctx, model)
    factors += assess_components(ctx, model.components)
    factors += assess_memory(ctx, memory_refs)
    ctx.set_confidence(
        combine(factors),
        "",
        supporting=[f"{f.name}={f.value}" for f in factors if f.score >= 0.8],
        contradicting=[f"{f.name}={f.value}" for f in factors if f.score < 0.5],
        factors=factors,
    )
    ctx.rationale = [r for r in ctx.rationale if r]


__all__ = ["ASSESSORS", "assess", "coerce_signals", "combine", "roas_within_observed_range"]
