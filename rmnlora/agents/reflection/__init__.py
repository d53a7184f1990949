"""Reflection: confidence from measured signals, risks, bias checks, frames, memory, and a decision."""

from rmnlora.agents.reflection.assessors import assess, combine
from rmnlora.agents.reflection.engine import ReflectionContext, ReflectionEngine, parse_phase
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
