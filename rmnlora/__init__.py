"""rmnlora: retail-media planning with reflection-gated agents and LoRA-composed local models."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["CampaignBrief", "Settings", "__version__", "build_planner_graph", "load_brief", "load_settings"]


def __getattr__(name: str) -> Any:
    # Lazy: `import rmnlora` stays cheap for the CLI; heavy parts load on first use.
    if name in {"CampaignBrief", "load_brief"}:
        from rmnlora.schemas import brief

        return getattr(brief, name)
    if name in {"Settings", "load_settings"}:
        from rmnlora import config

        return getattr(config, name)
    if name == "build_planner_graph":
        from rmnlora.planner.graph import build_planner_graph

        return build_planner_graph
    raise AttributeError(f"module 'rmnlora' has no attribute {name!r}")
