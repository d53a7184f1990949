"""The graph's nodes: each reads the state, calls one agent or the gate, and returns an update.

Nodes are safe to repeat (a resumed run re-executes the node it was killed in): outputs are
overwritten in place and database rows are keyed by run, phase and attempt.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from langchain_core.runnables import RunnableConfig
from langgraph.types import interrupt

from rmnlora.planner import gate, persistence
from rmnlora.planner.phases import PhaseInput, spec_of
from rmnlora.planner.report import write_report
from rmnlora.planner.services import PlannerServices
from rmnlora.planner.state import PlannerState, brief_of, results_of
from rmnlora.reflection import ReflectionEngine


class Node(Protocol):
    def __call__(self, state: PlannerState) -> dict[str, Any]: ...


class ConfigNode(Protocol):
    def __call__(self, state: PlannerState, config: RunnableConfig) -> dict[str, Any]: ...


def timed(name: str, fn: Callable[[PlannerState], dict[str, Any]]) -> Node:
    def node(state: PlannerState) -> dict[str, Any]:
        started = time.perf_counter()
        update = fn(state)
        return {**update, "timings": {**update.get("timings", {}), name: time.perf_counter() - started}}

    node.__name__ = name
    return node


def intake_node(services: PlannerServices) -> ConfigNode:
    """Register the run (PlanRun row, tenant and brand rows on first sight) before any agent works."""

    def intake(state: PlannerState, config: RunnableConfig) -> dict[str, Any]:
        started = time.perf_counter()
        if state.get("reflections") or state.get("results"):
            raise ValueError(
                f"thread {state.get('run_id')!r} already holds a plan: start a new run id, "
                "or resume this one (rmn plan --resume RUN_ID)"
            )
        thread_id = (config.get("configurable") or {}).get("thread_id")
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
            "timings": {"intake": time.perf_counter() - started},
        }

    return intake


def phase_node(phase: str, services: PlannerServices) -> Node:
    """Run the phase's agent with the changes its gate (or a reviewer) asked for."""
    spec = spec_of(phase)

    def run(state: PlannerState) -> dict[str, Any]:
        out_dir = Path(state["out_dir"])
        out_dir.mkdir(parents=True, exist_ok=True)
        given = PhaseInput(
            brief=brief_of(state), results=results_of(state), out_dir=out_dir, services=services
        )
        revision = spec.revision.model_validate((state.get("changes") or {}).get(phase) or {})
        result = spec.run(given, revision)
        # Part statuses are kept with the result, so a gate run after a resume in a new process sees them.
        result.components = services.components()
        return {"results": {phase: result.model_dump(mode="json")}}

    return timed(phase, run)


def reflect_node(phase: str, services: PlannerServices, engine: ReflectionEngine) -> Node:
    return timed(f"reflect_{phase}", lambda state: gate.reflect(phase, state, services, engine))


def human_review(state: PlannerState) -> dict[str, Any]:
    """Pause durably until a person answers; on resume this node re-runs from the top (pure until here)."""
    answer = interrupt(gate.review_request(state).model_dump(mode="json"))
    return gate.apply_review(state, answer)


def finish_node(status: str, services: PlannerServices) -> Node:
    """Write the report, close the PlanRun row and remember the scenario: a completed or blocked plan."""

    def finish(state: PlannerState) -> dict[str, Any]:
        brief = brief_of(state)
        final_state: dict[str, Any] = {**state, "status": status}
        paths = write_report(final_state, Path(state["out_dir"]), brief)
        persistence.finish_run(
            services.db,
            run_id=state["run_id"],
            status=status,
            state=final_state,
            report_path=paths.get("markdown"),
        )
        if services.memory is not None:
            persistence.remember(
                services.memory, state["tenant_id"], state["run_id"], brief, final_state, status
            )
        return {"status": status, "report": paths}

    return timed("finalize" if status == "completed" else "blocked", finish)
