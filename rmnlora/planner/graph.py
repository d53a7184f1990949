"""The planner StateGraph: agents in the phase table's order, each followed by its reflection gate.

Routing only reads the gate's decision. ``langgraph.json`` names the compiled graph in ``server.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from rmnlora.config import Settings, load_settings
from rmnlora.planner import nodes
from rmnlora.planner.checkpoint import make_checkpointer
from rmnlora.planner.gate import make_engine
from rmnlora.planner.phases import PHASES, next_phase
from rmnlora.planner.services import PlannerServices
from rmnlora.planner.state import PlannerState

AfterReview = Literal["harmonize", "optimize", "measure", "create", "govern", "finalize", "blocked"]


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
    engine = make_engine(services)
    graph = StateGraph(PlannerState)

    graph.add_node("intake", nodes.intake_node(services))
    for phase in PHASES:
        graph.add_node(phase, nodes.phase_node(phase, services))
        graph.add_node(f"reflect_{phase}", nodes.reflect_node(phase, services, engine))
    graph.add_node("human_review", nodes.human_review)
    graph.add_node("finalize", nodes.finish_node("completed", services))
    graph.add_node("blocked", nodes.finish_node("blocked", services))

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
