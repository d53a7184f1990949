"""Reflection: confidence from measured signals, risks, bias checks, frames, memory, and a decision.

The gate the planner puts after every agent; it knows nothing of the graph or of agent results,
only of each phase's signals (``rmnlora.schemas.reflection``).
"""

from rmnlora.reflection.assessors import assess, combine
from rmnlora.reflection.context import ReflectionContext
from rmnlora.reflection.engine import PHASE_ALIASES, ReflectionEngine, parse_phase
from rmnlora.schemas.reflection import (
    BiasType,
    ComponentStatus,
    CreateSignals,
    GovernSignals,
    HarmonizeSignals,
    LineSignals,
    MeasureSignals,
    MemoryRef,
    OptimizeSignals,
    Phase,
    ReflectionDecision,
    Violation,
)

__all__ = [
    "PHASE_ALIASES",
    "BiasType",
    "ComponentStatus",
    "CreateSignals",
    "GovernSignals",
    "HarmonizeSignals",
    "LineSignals",
    "MeasureSignals",
    "MemoryRef",
    "OptimizeSignals",
    "Phase",
    "ReflectionContext",
    "ReflectionDecision",
    "ReflectionEngine",
    "Violation",
    "assess",
    "combine",
    "parse_phase",
]
