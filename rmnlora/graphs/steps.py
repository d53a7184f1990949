"""One step per graph node: read the state, call an agent, return a JSON-able state update.

Everything here is wiring: the decisions live in the agents and in the reflection engine.
Steps are safe to repeat (a resumed run re-executes the node it was killed in): outputs are
overwritten in place and database rows are keyed by run, phase and attempt.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl

from rmnlora.graphs.services import PlannerServices
from rmnlora.graphs.state import PHASES, PlannerState, next_phase
from rmnlora.schemas.brief import CampaignBrief


def brief_of(state: PlannerState) -> CampaignBrief:
    return CampaignBrief.model_validate(state["brief"])


def _out_dir(state: PlannerState) -> Path:
    out = Path(state["out_dir"])
    out.mkdir(parents=True, exist_ok=True)
    return out


def _result(state: PlannerState, phase: str) -> dict[str, Any]:
    return dict((state.get("results") or {}).get(phase) or {})


# --------------------------------------------------------------------------- intake


def intake(state: PlannerState, services: PlannerServices, thread_id: str | None = None) -> dict[str, Any]:
    """Register the run (PlanRun row, tenant and brand rows on first sight) before any agent works."""
    from rmnlora.graphs import persistence

    if state.get("reflections") or state.get("results"):
        raise ValueError(
            f"thread {state.get('run_id')!r} already holds a plan: start a new run id, "
            "or resume this one (rmn plan --resume RUN_ID)"
        )
    brief = brief_of(state)
    run_id = state.get("run_id") or thread_id or f"run-{dt.datetime.now(dt.UTC):%Y%m%d%H%M%S%f}"
    tenant_id = state.get("tenant_id") or brief.tenant
    out_dir = state.get("out_dir") or str(services.settings.data_dir / "runs" / run_id)
    persistence.start_run(services.db, run_id=run_id, tenant_id=tenant_id, brief=brief)
    return {
        "run_id": run_id,
        "tenant_id": tenant_id,
        "out_dir": out_dir,
        "status": "running",
        "results": {},
        "revisions": {},
        "changes": {},
        "blocked_reasons": [],
    }


# --------------------------------------------------------------------------- agents


def run_phase(phase: str, state: PlannerState, services: PlannerServices) -> dict[str, Any]:
    from rmnlora.graphs import agent_steps

    changes = (state.get("changes") or {}).get(phase) or {}
    runner = getattr(agent_steps, phase)
    result: dict[str, Any] = runner(state, services, changes)
    _ = services.memory  # memory's status belongs in what the gate reads, like the model's
    # Part statuses are kept with the result, so a gate run after a resume in a new process sees them.
    result["components"] = services.components()
    return {"results": {phase: result}}


# --------------------------------------------------------------------------- reflection


def reflect(phase: str, state: PlannerState, services: PlannerServices) -> dict[str, Any]:
    """Assess the phase's measured signals, decide, log the decision once, and set the route."""
    from rmnlora.agents.reflection.from_results import signals_for
    from rmnlora.graphs import persistence

    brief = brief_of(state)
    result = _result(state, phase)
    components = result.get("components") or services.components()
    signals = signals_for(phase, brief, result, components=components)
    revisions_used = (state.get("revisions") or {}).get(phase, 0)
    memory_refs = []
    memory = services.memory
    if memory is not None:
        from rmnlora.memory.store import summarize_brief

        memory_refs = memory.recall(
            state["tenant_id"],
            summarize_brief(brief),
            k=services.settings.memory.recall_k,
            exclude=[state["run_id"]],
        )
    session_id = f"{state['run_id']}:{phase}:{revisions_used}"
    ctx = services.engine.reflect(
        phase, signals, session_id=session_id, memory_refs=memory_refs, revisions_used=revisions_used
    )
    decision = ctx.decision
    assert decision is not None  # reflect() always decides
    if decision.decision == "revise":
        from rmnlora.graphs.agent_steps import REVISABLE

        if not set(decision.changes) & REVISABLE.get(phase, frozenset()):
            decision = decision.model_copy(
                update={
                    "decision": "escalate",
                    "rationale": f"{decision.rationale} No automatic revision can apply "
                    f"{sorted(decision.changes)}: a person decides.",
                }
            )
            ctx.decision = decision
    persistence.log_reflection(
        services.db, services.engine, ctx, tenant_id=state["tenant_id"], run_id=state["run_id"]
    )
    verdict = decision.model_dump(mode="json")
    update: dict[str, Any] = {"reflections": [verdict], "route": decision.decision, "reviewed_phase": phase}
    if decision.decision == "revise":
        update["revisions"] = {phase: revisions_used + 1}
        update["changes"] = {phase: decision.changes}
    if decision.decision == "block":
        update["blocked_reasons"] = [f"{phase}: {decision.rationale}"] + [
            f"{phase}: {risk.factor}" for risk in decision.risks if risk.severity == "critical"
        ]
    return update


def apply_review(state: PlannerState, answer: Any) -> dict[str, Any]:
    """A person's answer to an escalation: approve continues, reject ends, edit re-runs with changes."""
    phase = state.get("reviewed_phase") or PHASES[0]
    if isinstance(answer, str):
        answer = {"action": answer}
    action = str((answer or {}).get("action", "")).lower()
    note = str((answer or {}).get("note", ""))
    human = {"phase": phase, "action": action, "note": note, "at": dt.datetime.now(dt.UTC).isoformat()}
    if action == "approve":
        return {"human": human, "route": next_phase(phase)}
    if action == "edit":
        edits = dict((answer or {}).get("changes") or {})
        attempt = (state.get("revisions") or {}).get(phase, 0) + 1  # the re-run is logged as a new attempt
        return {"human": human, "route": phase, "changes": {phase: edits}, "revisions": {phase: attempt}}
    reason = f"{phase}: rejected by reviewer" + (f" ({note})" if note else "")
    if action != "reject":
        reason = f"{phase}: unknown review answer {action!r} (expected approve, reject or edit)"
    return {"human": human, "route": "blocked", "blocked_reasons": [reason]}


# --------------------------------------------------------------------------- endings


def finalize(state: PlannerState, services: PlannerServices) -> dict[str, Any]:
    return _finish(state, services, "completed")


def blocked(state: PlannerState, services: PlannerServices) -> dict[str, Any]:
    return _finish(state, services, "blocked")


def _finish(state: PlannerState, services: PlannerServices, status: str) -> dict[str, Any]:
    from rmnlora.graphs import persistence
    from rmnlora.graphs.report import write_report

    brief = brief_of(state)
    final_state: dict[str, Any] = {**state, "status": status}
    paths = write_report(final_state, _out_dir(state), brief)
    persistence.finish_run(
        services.db,
        run_id=state["run_id"],
        status=status,
        state=final_state,
        report_path=paths.get("markdown"),
    )
    memory = services.memory
    if memory is not None:
        persistence.remember(memory, state["tenant_id"], state["run_id"], brief, final_state, status)
    return {"status": status, "report": paths}


def load_events(state: PlannerState) -> pl.DataFrame:
    """The harmonized events of this run (empty frame with RMIS columns when there are none)."""
    from rmnlora.agents.harmonizer import read_events

    harmonized = _result(state, "harmonize")
    folder = harmonized.get("events_dir") or Path(state["out_dir"]) / "harmonized"
    retailers = [s["retailer"] for s in harmonized.get("summaries", [])]
    if not retailers:
        return read_events(folder, retailer="__none__").collect()  # the RMIS columns, no rows
    # Only what this run harmonized: a shared output folder must not leak other runs' retailers.
    return pl.concat([read_events(folder, retailer=name) for name in retailers]).collect()
