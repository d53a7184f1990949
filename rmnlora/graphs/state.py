"""The planner's state: JSON-able so every checkpoint can be stored and resumed anywhere."""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal, TypedDict

PHASES: tuple[str, ...] = ("harmonize", "optimize", "measure", "create", "govern")
Phase = Literal["harmonize", "optimize", "measure", "create", "govern"]
Decision = Literal["proceed", "revise", "escalate", "block"]


def merge_dicts(left: dict[str, Any] | None, right: dict[str, Any] | None) -> dict[str, Any]:
    """Reducer: later writes update earlier keys instead of replacing the whole mapping."""
    return {**(left or {}), **(right or {})}


class PlannerState(TypedDict, total=False):
    run_id: str
    tenant_id: str
    brief: dict[str, Any]
    out_dir: str
    # One result per agent, each a JSON-able dict (pydantic ``model_dump(mode="json")``).
    results: Annotated[dict[str, Any], merge_dicts]
    # Reflection verdicts, appended after every agent: the audit trail.
    reflections: Annotated[list[dict[str, Any]], operator.add]
    revisions: Annotated[dict[str, int], merge_dicts]
    changes: Annotated[dict[str, dict[str, Any]], merge_dicts]
    route: str
    reviewed_phase: str | None
    human: dict[str, Any] | None
    status: str
    blocked_reasons: list[str]
    report: dict[str, str]
    timings: Annotated[dict[str, float], merge_dicts]


def next_phase(phase: str) -> str:
    """The node after ``phase`` when it proceeds: the next agent, or finalize after the last."""
    index = PHASES.index(phase)
    return PHASES[index + 1] if index + 1 < len(PHASES) else "finalize"
