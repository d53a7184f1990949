"""Typed input/output of every agent function, exportable as JSON Schema.

The LangChain tools, the CLI's ``--json`` output and external callers share these models,
so one registry lists them all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from rmnlora.schemas.harmonize import HarmonizeRequest, HarmonizeSummary


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
