"""Typed input/output of every agent function, exportable as JSON Schema.

The LangChain tools, the CLI's ``--json`` output and external callers share these models,
so one registry lists them all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from rmnlora.schemas.clean_room import CleanRoomQuery, CleanRoomResult
from rmnlora.schemas.creative import CopyRequest, CreativeResult
from rmnlora.schemas.governance import BudgetPlan, CheckPolicyInput, GovernanceResult
from rmnlora.schemas.harmonize import HarmonizeRequest, HarmonizeSummary
from rmnlora.schemas.inference import InferenceRequest, InferenceResponse
from rmnlora.schemas.measurement import ExperimentDesign, ExperimentRequest
from rmnlora.schemas.optimizer import AllocationProblem, AllocationResult
from rmnlora.schemas.reflection import ReflectionDecision, ReflectRequest


@dataclass(frozen=True)
class ToolSchema:
    name: str
    description: str
    input_model: type[BaseModel]
    output_model: type[BaseModel]


TOOL_SCHEMAS: dict[str, ToolSchema] = {
    schema.name: schema
    for schema in (
        ToolSchema(
            "harmonize",
            "Turn a retailer's raw exports into RMIS events, quarantining bad rows with reasons.",
            HarmonizeRequest,
            HarmonizeSummary,
        ),
        ToolSchema(
            "query_clean_room",
            "Ask a retailer's clean room for aggregates; small cells are suppressed and counted, an "
            "unconfigured clean room answers 'unavailable'.",
            CleanRoomQuery,
            CleanRoomResult,
        ),
        ToolSchema(
            "allocate_budget",
            "Allocate the budget across retailers and placements from fitted response curves (CVXPY).",
            AllocationProblem,
            AllocationResult,
        ),
        ToolSchema(
            "design_experiment",
            "Design the incrementality experiment (geo, switchback or holdout) with its power analysis.",
            ExperimentRequest,
            ExperimentDesign,
        ),
        ToolSchema(
            "generate_copy",
            "Write K ad-copy candidates for a retailer format, governed and ranked (template copy when "
            "no model is configured, labelled as such).",
            CopyRequest,
            CreativeResult,
        ),
        ToolSchema(
            "check_policy",
            "Check ad copy against the baseline, retailer and brand policy packs (and a format's limits).",
            CheckPolicyInput,
            GovernanceResult,
        ),
        ToolSchema(
            "check_budget",
            "Sanity-check an allocation against the budget, caps, share limits and flight pacing.",
            BudgetPlan,
            GovernanceResult,
        ),
        ToolSchema(
            "reflect",
            "Assess one phase's measured signals: confidence, risks, bias flags, memory, and a decision "
            "(proceed, revise with changes, escalate, block).",
            ReflectRequest,
            ReflectionDecision,
        ),
        ToolSchema(
            "inference",
            "Generate text with the LoRA composition of a retailer, brand and task adapter.",
            InferenceRequest,
            InferenceResponse,
        ),
    )
}


def export_json_schemas() -> dict[str, dict[str, Any]]:
    """``{tool: {"description", "input", "output"}}`` with JSON Schema for each side."""
    return {
        name: {
            "description": schema.description,
            "input": schema.input_model.model_json_schema(),
            "output": schema.output_model.model_json_schema(),
        }
        for name, schema in TOOL_SCHEMAS.items()
    }
