"""The campaign brief: what a brand asks the planner for.

A bad brief must fail at the door with the field named, not halfway through a plan.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from rmnlora.schemas.ids import RESOURCE_ID_PATTERN, RESOURCE_ID_RULE
from rmnlora.schemas.optimizer import Scenario
from rmnlora.yaml_input import describe_validation_error, read_yaml_mapping

Objective = Literal["attributed_sales", "incremental_sales", "clicks", "reach"]


# Bounds on what one brief may ask for (a brief is checkpointed at every node).
MAX_RETAILERS = 50
MAX_AUDIENCES = 1_000
MAX_FILES_PER_RETAILER = 500


class BriefError(ValueError):
    """An invalid brief; the message names the field."""


class Flight(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: dt.date
    end: dt.date

    @model_validator(mode="after")
    def _ordered(self) -> Flight:
        if self.end < self.start:
            raise ValueError(f"flight ends ({self.end}) before it starts ({self.start})")
        return self

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


class RetailerPlan(BaseModel):
    """One retail media network in the brief: where its data is and what the brand wants there."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    data: list[Path] = Field(
        default_factory=list, max_length=MAX_FILES_PER_RETAILER, description="Raw exports to harmonize."
    )
    mapping: Path | None = Field(default=None, description="Column mapping YAML; default: shipped one.")
    min_spend: float = Field(default=0.0, ge=0)
    max_spend: float | None = Field(default=None, ge=0)
    max_share: float | None = Field(default=None, gt=0, le=1)
    current_spend: float | None = Field(default=None, ge=0, description="Today's split, for comparison.")
    must_spend: bool = False
    formats: list[str] = Field(default_factory=list, description="Ad formats to write copy for.")

    @model_validator(mode="after")
    def _bounds(self) -> RetailerPlan:
        if self.max_spend is not None and self.max_spend < self.min_spend:
            raise ValueError(f"max_spend ({self.max_spend}) is below min_spend ({self.min_spend})")
        return self


class Constraints(BaseModel):
    model_config = ConfigDict(extra="forbid")

    roas_floor: float | None = Field(default=None, ge=0, description="Minimum attributed ROAS overall.")
    max_share_per_retailer: float | None = Field(default=None, gt=0, le=1)
    daily_cap: float | None = Field(default=None, gt=0)


class CreativeBrief(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product: str = Field(min_length=1)
    key_message: str = ""
    tone: str = "friendly"
    claims: list[str] = Field(default_factory=list, description="Claims the brand wants to make.")
    candidates: int = Field(default=3, ge=1, le=10)


class MeasurementBrief(BaseModel):
    model_config = ConfigDict(extra="forbid")

    design: Literal["auto", "geo", "geo_pool", "switchback", "holdout"] = "auto"
    expected_lift: float = Field(default=0.05, gt=0, lt=1, description="Relative lift the plan expects.")
    alpha: float = Field(default=0.05, gt=0, lt=0.5)
    power: float = Field(default=0.8, gt=0.5, lt=1)


class CampaignBrief(BaseModel):
    """Everything the planner needs; loaded from YAML by :func:`load_brief`."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    brand: str = Field(pattern=RESOURCE_ID_PATTERN, description=f"Brand id: {RESOURCE_ID_RULE}.")
    tenant: str = Field(
        default="default", pattern=RESOURCE_ID_PATTERN, description=f"Tenant id: {RESOURCE_ID_RULE}."
    )
    budget: float = Field(gt=0)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    objective: Objective = "attributed_sales"
    flight: Flight
    retailers: list[RetailerPlan] = Field(min_length=1, max_length=MAX_RETAILERS)
    constraints: Constraints = Field(default_factory=Constraints)
    scenario: Scenario = Field(
        default_factory=Scenario,
        description="The question the allocation answers: fixed_budget (spend the budget), or target_roas / "
        "target_mroas / target_outcome with a target, where the budget is the most to spend. The plan "
        "shows the other scenarios beside it.",
    )
    kpis: list[str] = Field(default_factory=lambda: ["roas", "incremental_sales"])
    audiences: list[str] = Field(default_factory=list, max_length=MAX_AUDIENCES)
    creative: CreativeBrief
    measurement: MeasurementBrief = Field(default_factory=MeasurementBrief)

    @model_validator(mode="after")
    def _consistent(self) -> CampaignBrief:
        names = [r.name for r in self.retailers]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"retailers listed twice: {', '.join(duplicates)}")
        return self

    def resolve_paths(self, base: Path) -> CampaignBrief:
        """Data and mapping paths relative to the brief file, so a brief works from any cwd."""
        retailers = [
            r.model_copy(
                update={
                    "data": [p if p.is_absolute() else base / p for p in r.data],
                    "mapping": (
                        r.mapping if r.mapping is None or r.mapping.is_absolute() else base / r.mapping
                    ),
                }
            )
            for r in self.retailers
        ]
        return self.model_copy(update={"retailers": retailers})


def parse_brief(data: dict[str, Any]) -> CampaignBrief:
    try:
        return CampaignBrief.model_validate(data)
    except ValidationError as exc:
        raise BriefError(describe_validation_error(exc, "invalid brief", "field ")) from exc


def load_brief(path: str | Path) -> CampaignBrief:
    """The brief in ``path``, its data paths made absolute; a data file that does not exist is an
    error naming it (a plan on missing exports would only say "no rows" much later)."""
    source = Path(path)
    data = read_yaml_mapping(source, "brief file", BriefError, allow_empty=False)
    brief = parse_brief(data).resolve_paths(source.parent.resolve())
    missing = [
        f"retailers.{index}.data ({retailer.name}): {file}"
        for index, retailer in enumerate(brief.retailers)
        for file in [*retailer.data, *([retailer.mapping] if retailer.mapping else [])]
        if not file.is_file()
    ]
    if missing:
        raise BriefError(f"brief {source}: files not found: " + "; ".join(missing))
    return brief
