"""The contract between the planner's agents and its gates: one result and one revision per phase.

Each agent's phase entry point returns its result model; the planner stores it in the
checkpoint as JSON and validates it back once where the state is read, so the gate, the report,
memory and the CLI all read typed fields, never dictionary keys. A revision model says exactly
which changes a phase's agent can apply: the reflection engine is told, so it sends a change no
agent can make to a person instead of to a retry.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from rmnlora.schemas.clean_room import CleanRoomStatus
from rmnlora.schemas.creative import CopyCandidate, CreativeResult
from rmnlora.schemas.flighting import FlightPlan
from rmnlora.schemas.governance import GovernanceResult
from rmnlora.schemas.harmonize import HarmonizeSummary
from rmnlora.schemas.measurement import ExperimentDesign
from rmnlora.schemas.optimizer import (
    AllocationProblem,
    AllocationResult,
    ArmSplit,
    CurveFit,
    ExplorationSplit,
    ScenarioTable,
)
from rmnlora.schemas.reflection import ComponentStatus


class _Revision(BaseModel):
    """Only the keys an agent can apply; anything else is refused by validation."""

    model_config = ConfigDict(extra="forbid")

    @model_serializer(mode="wrap")
    def _only_given(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Stored and shown as just the changes made: ``{}`` for none, ``{"bootstrap": 50}``."""
        return {k: v for k, v in handler(self).items() if v is not None}

    def given(self) -> dict[str, Any]:
        """The changes actually asked for (unset fields are not changes)."""
        return self.model_dump(mode="json", exclude_none=True)


class HarmonizeRevision(_Revision):
    """The harmonizer has no automatic revision: mapping fixes go to a person."""


class OptimizeRevision(_Revision):
    bootstrap: int | None = Field(default=None, ge=10, le=5000, description="Bootstrap fits per curve.")
    cap_at_observed: list[str] | None = Field(
        default=None, description="Line ids capped at their highest observed spend over the flight."
    )


class MeasureRevision(_Revision):
    simulations: int | None = Field(default=None, ge=50, le=100_000)
    design: Literal["auto", "geo", "geo_pool", "switchback", "holdout"] | None = None
    switchback_block_days: int | None = Field(default=None, ge=1)
    carryover_days: int | None = Field(default=None, ge=0)


class CreateRevision(_Revision):
    candidates: int | None = Field(default=None, ge=1, le=10)
    regenerate: list[str] | None = Field(default=None, description="Formats to write again, or ['all'].")


class GovernRevision(_Revision):
    """Governance has no automatic revision: a violation is fixed upstream or by a person."""


class _Result(BaseModel):
    model_config = ConfigDict(extra="forbid")

    components: list[ComponentStatus] = Field(
        default_factory=list,
        description="Parts the step relied on, kept with it so a resumed gate sees them.",
    )


class Coverage(BaseModel):
    days: int = 0
    first: dt.date | None = None
    last: dt.date | None = None


class HarmonizeResult(_Result):
    events_dir: str
    summaries: list[HarmonizeSummary] = Field(default_factory=list)
    errors: dict[str, str] = Field(default_factory=dict, description="Retailer → why it has no data.")
    coverage: Coverage = Field(default_factory=Coverage)
    applied_changes: HarmonizeRevision = Field(default_factory=HarmonizeRevision)

    @property
    def retailers(self) -> list[str]:
        return [s.retailer for s in self.summaries]


class LineHistory(BaseModel):
    """Full-history and last-four-weeks ROAS of one line: what the recency and sunk-cost checks read."""

    history_roas: float
    recent_roas: float
    rows: int
    spend: float


class Exploration(ExplorationSplit):
    """Budget set aside for lines too thin to fit: split by Thompson sampling, or not funded (no arms)."""

    status: Literal["split", "not_funded"]
    lines: list[str] = Field(default_factory=list, description="For not_funded: the lines left unfunded.")
    note: str = ""
    budget: float = 0.0
    draws: int = 0
    prior_mean_return: float = 0.0
    prior_std_return: float = 0.0
    noise_std: float = 0.0
    arms: list[ArmSplit] = Field(default_factory=list)


class OptimizeResult(_Result):
    error: str | None = None
    curves: list[CurveFit] = Field(default_factory=list)
    problem: AllocationProblem | None = None
    allocation: AllocationResult | None = None
    scenarios: ScenarioTable | None = Field(
        default=None, description="The brief's scenario beside the standard ones, on the same curves."
    )
    flighting: FlightPlan | None = Field(
        default=None,
        description="What to spend each week: the allocation's line totals timed with the adstock.",
    )
    history: dict[str, LineHistory] = Field(default_factory=dict, description="'retailer/placement' → ROAS.")
    plots: list[str] = Field(default_factory=list)
    exploration: Exploration | None = None
    applied_changes: OptimizeRevision = Field(default_factory=OptimizeRevision)

    def spend_by_retailer(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for line in self.allocation.lines if self.allocation else []:
            totals[line.retailer] = totals.get(line.retailer, 0.0) + float(line.spend)
        return totals


class MeasureResult(_Result):
    error: str | None = None
    request: dict[str, Any] = Field(
        default_factory=dict, description="The experiment request without its history, for the record."
    )
    design: ExperimentDesign | None = None
    applied_changes: MeasureRevision = Field(default_factory=MeasureRevision)


class CreateResult(_Result):
    copies: list[CreativeResult] = Field(default_factory=list, description="One per retailer format.")
    errors: list[str] = Field(default_factory=list)
    applied_changes: CreateRevision = Field(default_factory=CreateRevision)


class GovernedCopy(BaseModel):
    retailer: str
    ad_format: str
    source: str
    chosen: CopyCandidate | None = None
    passed: bool = False
    alternatives_passing: int = 0

    @property
    def target(self) -> str:
        return f"{self.retailer}/{self.ad_format}"


class AudienceCheck(BaseModel):
    """One audience's reach as the retailer's clean room reports it, against its aggregation minimum."""

    retailer: str
    audience: str
    status: CleanRoomStatus
    reach: float | None = None
    min_aggregation: int = 0
    passed: bool = False
    detail: str = ""


class CleanRoomCheck(BaseModel):
    """``checked``: every audience was queried; ``unconfigured``/``failed``: said, never faked."""

    status: Literal["checked", "unconfigured", "failed", "no_audiences"]
    endpoint: str | None = None
    audiences: list[AudienceCheck] = Field(default_factory=list)
    detail: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "checked" and all(a.passed for a in self.audiences)


class GovernResult(_Result):
    budget: GovernanceResult | None = None
    copies: list[GovernedCopy] = Field(default_factory=list)
    clean_room: CleanRoomCheck
    applied_changes: GovernRevision = Field(default_factory=GovernRevision)


class PlanResults(BaseModel):
    """Every phase's result so far, as the planner state holds them (validated once, on read)."""

    harmonize: HarmonizeResult | None = None
    optimize: OptimizeResult | None = None
    measure: MeasureResult | None = None
    create: CreateResult | None = None
    govern: GovernResult | None = None


PhaseResult = HarmonizeResult | OptimizeResult | MeasureResult | CreateResult | GovernResult
PhaseRevision = HarmonizeRevision | OptimizeRevision | MeasureRevision | CreateRevision | GovernRevision
