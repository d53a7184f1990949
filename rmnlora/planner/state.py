"""The planner's state: JSON-able so every checkpoint can be stored and resumed anywhere.

Results and verdicts are stored as JSON and read back through the typed readers below, once per
node, so no node reads an agent result by dictionary key.
"""

from __future__ import annotations

import datetime as dt
import operator
from typing import Annotated, Any, Literal, TypedDict

from pydantic import BaseModel, ConfigDict, Field

from rmnlora.schemas.brief import CampaignBrief
from rmnlora.schemas.phases import PlanResults
from rmnlora.schemas.reflection import ReflectionDecision, Risk


def merge_dicts(left: dict[str, Any] | None, right: dict[str, Any] | None) -> dict[str, Any]:
    """Reducer: later writes update earlier keys instead of replacing the whole mapping."""
    return {**(left or {}), **(right or {})}


class PlannerState(TypedDict, total=False):
    run_id: str
    tenant_id: str
    brief: dict[str, Any]
    out_dir: str
    # One result per phase, each a phase result model as JSON (see ``results_of``).
    results: Annotated[dict[str, Any], merge_dicts]
    # Reflection verdicts (ReflectionDecision as JSON), appended after every agent: the audit trail.
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


ReviewAction = Literal["approve", "reject", "edit"]


class ReviewRequest(BaseModel):
    """What a paused run asks a person (the interrupt's payload)."""

    run_id: str | None = None
    phase: str
    question: str = "approve to continue, reject to stop, or edit to re-run the step with changes"
    rationale: str = ""
    risks: list[Risk] = Field(default_factory=list)
    revisable: list[str] = Field(default_factory=list, description="The changes an edit may make.")


class ReviewAnswer(BaseModel):
    """A person's answer: approve continues, reject ends, edit re-runs the step with ``changes``."""

    model_config = ConfigDict(extra="forbid")

    action: str
    note: str = ""
    changes: dict[str, Any] = Field(default_factory=dict)


class HumanReview(BaseModel):
    """The answer as kept in the state and the report."""

    phase: str
    action: str
    note: str = ""
    at: dt.datetime
    ignored_changes: list[str] = Field(default_factory=list)


def brief_of(state: PlannerState) -> CampaignBrief:
    return CampaignBrief.model_validate(state["brief"])


def results_of(state: PlannerState | dict[str, Any]) -> PlanResults:
    return PlanResults.model_validate(state.get("results") or {})


def reflections_of(state: PlannerState | dict[str, Any]) -> list[ReflectionDecision]:
    return [ReflectionDecision.model_validate(r) for r in state.get("reflections") or []]


def human_of(state: PlannerState | dict[str, Any]) -> HumanReview | None:
    human = state.get("human")
    return HumanReview.model_validate(human) if human else None
