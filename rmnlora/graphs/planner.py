"""The planner StateGraph: agents in order, each followed by its reflection gate.

Nodes are thin: each calls one step of :mod:`rmnlora.graphs.steps` (which calls the agents) and
returns a state update. Routing only reads the reflection's decision.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Literal, Protocol

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import interrupt

from rmnlora.config import Settings, load_settings
from rmnlora.graphs import steps
from rmnlora.graphs.checkpoint import make_checkpointer
from rmnlora.graphs.services import PlannerServices
from rmnlora.graphs.state import PHASES, PlannerState, next_phase


class Node(Protocol):
    def __call__(self, state: PlannerState) -> dict[str, Any]: ...


class ConfigNode(Protocol):
    def __call__(self, state: PlannerState, config: RunnableConfig) -> dict[str, Any]: ...


AfterReview = Literal["harmonize", "optimize", "measure", "create", "govern", "finalize", "blocked"]


def _timed(name: str, fn: Node) -> Node:
    def node(state: PlannerState) -> dict[str, Any]:
        started = time.perf_counter()
        update = fn(state)
        return {**update, "timings": {**update.get("timings", {}), name: time.perf_counter() - started}}

    node.__name__ = name
    return node


def _intake_node(services: PlannerServices) -> ConfigNode:
    def intake(state: PlannerState, config: RunnableConfig) -> dict[str, Any]:
        started = time.perf_counter()
        thread_id = (config.get("configurable") or {}).get("thread_id")
        update = steps.intake(state, services, thread_id=thread_id)
        return {**update, "timings": {"intake": time.perf_counter() - started}}

    return intake


def _agent_node(phase: str, services: PlannerServices) -> Node:
    return _timed(phase, lambda state: steps.run_phase(phase, state, services))


def _reflect_node(phase: str, services: PlannerServices) -> Node:
    return _timed(f"reflect_{phase}", lambda state: steps.reflect(phase, state, services))


def _human_review(state: PlannerState) -> dict[str, Any]:
    """Pause durably until a person answers; on resume this node re-runs from the top (pure until here)."""
    verdict = state["reflections"][-1]
    answer = interrupt(
        {
            "run_id": state.get("run_id"),
            "phase": verdict["phase"],
            "question": "approve to continue, reject to stop, or edit to re-run the step with changes",
            "rationale": verdict.get("rationale", ""),
            "risks": verdict.get("risks", []),
        }
    )
    return steps.apply_review(state, answer)


def _route_after_reflect(phase: str) -> Callable[[PlannerState], str]:
    following = next_phase(phase)

    def route(state: PlannerState) -> str:
        decision = state.get("route", "block")
        if decision == "proceed":
            return following
        if decision == "revise":
            return phase
        if decision == "escalate":
            return "human_review"
        return "blocked"

    route.__name__ = f"route_after_reflect_{phase}"
    return route


def _route_after_review(state: PlannerState) -> AfterReview:
    route = state.get("route", "blocked")
    if route in PHASES or route in ("finalize", "blocked"):
        return route  # type: ignore[return-value]
    return "blocked"


def build_planner_graph(
    settings: Settings | None = None,
    *,
    checkpointer: BaseCheckpointSaver[Any] | None | Literal[False] = None,
    services: PlannerServices | None = None,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """The compiled planner. ``checkpointer=None`` picks one from settings; ``False`` compiles without."""
    settings = settings or load_settings()
    services = services or PlannerServices(settings)
    graph = StateGraph(PlannerState)

    graph.add_node("intake", _intake_node(services))
    for phase in PHASES:
        graph.add_node(phase, _agent_node(phase, services))
        graph.add_node(f"reflect_{phase}", _reflect_node(phase, services))
    graph.add_node("human_review", _human_review)
    graph.add_node("finalize", _timed("finalize", lambda state: steps.finalize(state, services)))
    graph.add_node("blocked", _timed("blocked", lambda state: steps.blocked(state, services)))

    graph.add_edge(START, "intake")
    graph.add_edge("intake", PHASES[0])
    for phase in PHASES:
        graph.add_edge(phase, f"reflect_{phase}")
        following = next_phase(phase)
        graph.add_conditional_edges(
            f"reflect_{phase}",
            _route_after_reflect(phase),
            {following: following, phase: phase, "human_review": "human_review", "blocked": "blocked"},
        )
    graph.add_conditional_edges("human_review", _route_after_review)
    graph.add_edge("finalize", END)
    graph.add_edge("blocked", END)

    if checkpointer is None:
        saver: BaseCheckpointSaver[Any] | None = make_checkpointer(settings)
    elif checkpointer is False:
        saver = None
    else:
        saver = checkpointer
    return graph.compile(checkpointer=saver, name="rmn-planner")
