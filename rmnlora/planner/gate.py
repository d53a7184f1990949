"""The reflection gate after each phase, and a person's answer when a gate escalates.

The engine is told which changes each phase can apply (the phase table's revision models), so
its decision is final: the gate logs it once and routes on it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ValidationError

from rmnlora.memory.store import summarize_brief
from rmnlora.planner import persistence
from rmnlora.planner.phases import PHASES, REVISABLE, next_phase, spec_of
from rmnlora.planner.services import PlannerServices
from rmnlora.planner.state import (
    HumanReview,
    PlannerState,
    ReviewAnswer,
    ReviewRequest,
    brief_of,
    reflections_of,
)
from rmnlora.reflection import ReflectionEngine


def make_engine(services: PlannerServices) -> ReflectionEngine:
    return ReflectionEngine.from_settings(services.settings, revisable=REVISABLE)


def reflect(
    phase: str, state: PlannerState, services: PlannerServices, engine: ReflectionEngine
) -> dict[str, Any]:
    """Assess the phase's measured signals, decide, log the decision once, and set the route."""
    spec = spec_of(phase)
    brief = brief_of(state)
    result = spec.result.model_validate((state.get("results") or {})[phase])
    signals = spec.to_signals(brief, result)
    revisions_used = (state.get("revisions") or {}).get(phase, 0)
    memory_refs = []
    if services.memory is not None:
        memory_refs = services.memory.recall(
            state["tenant_id"],
            summarize_brief(brief),
            k=services.settings.memory.recall_k,
            exclude=[state["run_id"]],
        )
    session_id = f"{state['run_id']}:{phase}:{revisions_used}"
    ctx = engine.reflect(
        phase, signals, session_id=session_id, memory_refs=memory_refs, revisions_used=revisions_used
    )
    decision = ctx.decision
    assert decision is not None  # reflect() always decides
    persistence.log_reflection(services.db, engine, ctx, tenant_id=state["tenant_id"], run_id=state["run_id"])
    update: dict[str, Any] = {
        "reflections": [decision.model_dump(mode="json")],
        "route": decision.decision,
        "reviewed_phase": phase,
    }
    if decision.decision == "revise":
        update["revisions"] = {phase: revisions_used + 1}
        update["changes"] = {phase: ctx.applicable_changes()}
    if decision.decision == "block":
        update["blocked_reasons"] = [f"{phase}: {decision.rationale}"] + [
            f"{phase}: {risk.factor}" for risk in decision.risks if risk.severity == "critical"
        ]
    return update


def review_request(state: PlannerState) -> ReviewRequest:
    """The question a paused run puts to a person, from the last gate's verdict."""
    verdict = reflections_of(state)[-1]
    return ReviewRequest(
        run_id=state.get("run_id"),
        phase=verdict.phase.value,
        rationale=verdict.rationale,
        risks=verdict.risks,
        revisable=REVISABLE[verdict.phase.value],
    )


def apply_review(state: PlannerState, raw_answer: Any) -> dict[str, Any]:
    """A person's answer to an escalation: approve continues, reject ends, edit re-runs with changes."""
    phase = state.get("reviewed_phase") or PHASES[0]
    answer = _parse_answer(raw_answer)
    action = answer.action.lower()
    edits, ignored = _valid_edits(spec_of(phase).revision, answer.changes)
    human = HumanReview(
        phase=phase, action=action, note=answer.note, at=dt.datetime.now(dt.UTC), ignored_changes=ignored
    ).model_dump(mode="json")
    if action == "approve":
        return {"human": human, "route": next_phase(phase)}
    if action == "edit":
        attempt = (state.get("revisions") or {}).get(phase, 0) + 1  # the re-run is logged as a new attempt
        return {"human": human, "route": phase, "changes": {phase: edits}, "revisions": {phase: attempt}}
    reason = f"{phase}: rejected by reviewer" + (f" ({answer.note})" if answer.note else "")
    if action != "reject":
        reason = f"{phase}: unknown review answer {action!r} (expected approve, reject or edit)"
    return {"human": human, "route": "blocked", "blocked_reasons": [reason]}


def _valid_edits(revision: type[BaseModel], changes: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The edits the phase can apply, and each one it cannot with the reason (kept in the trail)."""
    valid: dict[str, Any] = {}
    ignored: list[str] = []
    for key, value in changes.items():
        if key not in revision.model_fields:
            ignored.append(f"{key}: not a change this step can apply ({', '.join(revision.model_fields)})")
            continue
        try:
            revision.model_validate({key: value})
        except ValidationError as exc:
            ignored.append(f"{key}: {exc.errors()[0]['msg']}")
            continue
        valid[key] = value
    return revision.model_validate(valid).model_dump(mode="json"), ignored


def _parse_answer(raw: Any) -> ReviewAnswer:
    if isinstance(raw, str):
        return ReviewAnswer(action=raw)
    raw = dict(raw or {})
    return ReviewAnswer(
        action=str(raw.get("action", "")),
        note=str(raw.get("note") or ""),
        changes=dict(raw.get("changes") or {}),
    )
