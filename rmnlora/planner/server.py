"""The planner as the LangGraph API server runs it: ``langgraph.json`` names ``graph`` here.

Why a module of its own: ``langgraph dev`` (and LangGraph Platform) import the graph once at
start-up and bring their own checkpointer, threads and interrupt/resume protocol, so the graph is
compiled without ours; settings come from ``$RMN_CONFIG`` and ``RMN_*`` variables as for the CLI.
A run's input is what ``rmn plan`` starts with: ``{"brief": {...}}`` (tenant and run id default to
the brief's tenant and the thread id). A reflection escalation pauses the run; resume it with
``command={"resume": {"action": "approve" | "reject" | "edit", "note": ..., "changes": {...}}}``.
"""

from __future__ import annotations

from rmnlora.planner.graph import build_planner_graph

graph = build_planner_graph(checkpointer=False)
