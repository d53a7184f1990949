"""LangChain tools over the agent functions, so a LangChain/LangGraph agent can call every one.

Each tool takes its registered input model (``rmnlora.schemas.tools.TOOL_SCHEMAS``) as the
args schema and returns the output model as a JSON-ready dict. Agent modules are imported when a
tool runs, so building the tool list stays cheap and works before every agent is installed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.tools import StructuredTool
from pydantic import BaseModel

from rmnlora.config import Settings, load_settings
from rmnlora.schemas.tools import TOOL_SCHEMAS


class AgentToolkit:
    """The dependencies the tools share: settings, an optional chat model, database and data folders."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        chat_model: BaseChatModel | None = None,
        database: Any | None = None,
        policy_dir: Path | None = None,
        formats_dir: Path | None = None,
    ) -> None:
        self.settings = settings or load_settings()
        self.chat_model = chat_model
        self.database = database
        self.policy_dir = policy_dir
        self.formats_dir = formats_dir

    # --- one method per tool: typed input in, typed output out ---------------------------------

    def query_clean_room(self, query: Any) -> BaseModel:
        from rmnlora.agents.governance import clean_room_policy, load_packs
        from rmnlora.tools.clean_room import CleanRoomClient, clean_room_config

        packs = load_packs(query.retailer, policy_dir=self.policy_dir)
        policy = clean_room_policy(packs, self.settings.clean_room.min_aggregation)
        config = clean_room_config(self.settings, query.retailer, self.database, policy)
        with CleanRoomClient(config) as client:
            return client.query(query)

    def allocate_budget(self, problem: Any) -> BaseModel:
        from rmnlora.agents.optimizer import allocate_budget

        result: BaseModel = allocate_budget(problem)
        return result

    def design_experiment(self, request: Any) -> BaseModel:
        from rmnlora.agents.measurement import design_experiment

        result: BaseModel = design_experiment(request)
        return result

    def harmonize(self, request: Any) -> BaseModel:
        from rmnlora.agents.harmonizer import harmonize

        result: BaseModel = harmonize(request)
        return result

    def generate_copy(self, request: Any) -> BaseModel:
        from rmnlora.agents.creative import generate_copy

        return generate_copy(
            request, self.chat_model, policy_dir=self.policy_dir, formats_dir=self.formats_dir
        )

    def check_policy(self, request: Any) -> BaseModel:
        from rmnlora.agents.creative import load_format_spec
        from rmnlora.agents.governance import check_copy, format_pack, load_packs

        packs = load_packs(request.retailer, request.brand, self.policy_dir)
        if request.ad_format:
            packs.append(format_pack(load_format_spec(request.retailer, request.ad_format, self.formats_dir)))
        return check_copy(request.ad_copy, packs)

    def check_budget(self, plan: Any) -> BaseModel:
        from rmnlora.agents.governance import check_budget

        return check_budget(plan)

    # --- LangChain wrapping ----------------------------------------------------------------------

    def tool(self, name: str) -> StructuredTool:
        """The LangChain tool ``name`` (one of TOOL_SCHEMAS)."""
        if name not in TOOL_SCHEMAS:
            raise KeyError(f"unknown tool {name!r}; tools: {', '.join(TOOL_SCHEMAS)}")
        schema = TOOL_SCHEMAS[name]
        method: Callable[[Any], BaseModel] = getattr(self, name)
        model = schema.input_model

        def run(**fields: Any) -> dict[str, Any]:
            result = method(model.model_validate(fields))
            return result.model_dump(mode="json")

        return StructuredTool.from_function(
            func=run, name=name, description=schema.description, args_schema=model
        )

    def tools(self) -> list[StructuredTool]:
        return [self.tool(name) for name in TOOL_SCHEMAS if hasattr(self, name)]


def build_agent_tools(
    settings: Settings | None = None,
    *,
    chat_model: BaseChatModel | None = None,
    database: Any | None = None,
    policy_dir: Path | None = None,
    formats_dir: Path | None = None,
) -> list[StructuredTool]:
    """Every agent as a LangChain ``StructuredTool`` (query_clean_room, allocate_budget,
    design_experiment, harmonize, generate_copy, check_policy, check_budget)."""
    return AgentToolkit(
        settings, chat_model=chat_model, database=database, policy_dir=policy_dir, formats_dir=formats_dir
    ).tools()
