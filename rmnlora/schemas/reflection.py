"""Typed inputs and outputs of the reflection step.

The agents are separate modules written by other people, so reflection does not read their
result objects: each agent's result is turned (by a thin converter in the graph) into a small
SIGNALS model below, holding only the measured numbers reflection needs. Everything that comes
out (risks, bias flags, frames, the decision) is JSON-serialisable, because it is stored in the
ReflectionLog table and in the LangGraph checkpoint.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Severity = Literal["low", "medium", "high", "critical"]
DecisionKind = Literal["proceed", "revise", "escalate", "block"]
Outcome = Literal["success", "failure", "blocked", "escalated", "unknown"]
SEVERITY_RANK: dict[str, int] = {"low": 0, "medium": 1, "high": 2, "critical": 3}
FAILED_OUTCOMES: frozenset[str] = frozenset({"failure", "blocked"})


class Phase(StrEnum):
    HARMONIZE = "harmonize"
    OPTIMIZE = "optimize"
    MEASURE = "measure"
    CREATE = "create"
    GOVERN = "govern"


class BiasType(StrEnum):
    ANCHORING = "anchoring"
    AVAILABILITY = "availability"
    CONFIRMATION = "confirmation"
    RECENCY = "recency"
    OVERCONFIDENCE = "overconfidence"
    SURVIVORSHIP = "survivorship"
    SUNK_COST = "sunk_cost"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- signals (inputs)


class ComponentStatus(_Model):
    """A part the agent relied on: a model, the clean room, a data source.

    ``unconfigured`` or ``down`` lowers confidence and is named in the rationale, so a plan made
    with template copy or without clean-room checks never looks as sure as one made with them.
    """

    name: str
    status: Literal["ok", "unconfigured", "down"]
    detail: str = ""


class _Signals(_Model):
    components: list[ComponentStatus] = Field(default_factory=list)


class HarmonizeSignals(_Signals):
    rows_in: int = Field(ge=0)
    rows_quarantined: int = Field(ge=0)
    quarantine_reasons: dict[str, int] = Field(default_factory=dict)
    unmapped_columns: list[str] = Field(default_factory=list, description="Source columns with no mapping.")
    missing_required_fields: list[str] = Field(
        default_factory=list, description="RMIS fields no source column maps to (spend, date, ...)."
    )
    coverage_days: int = Field(ge=0, description="Days of history the accepted rows span.")
    required_days: int = Field(default=28, ge=1, description="History wanted for curve fitting.")
    retailers_expected: list[str] = Field(default_factory=list)
    retailers_with_data: list[str] = Field(default_factory=list)
    current_spend_by_retailer: dict[str, float] = Field(
        default_factory=dict, description="Brief's current spend; a dropped retailer with spend is notable."
    )
    input_errors: dict[str, str] = Field(
        default_factory=dict, description="Retailer -> why its exports could not be read (names the file)."
    )
    missing_crosswalks: dict[str, str] = Field(
        default_factory=dict,
        description="Retailer -> why its products are keyed by retailer id: its mapping's crosswalk "
        "file is missing.",
    )
    mapping_warnings: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Retailer -> the export's own ratios (ROAS, CTR, CPC...) that disagree with its mapping.",
    )

    @field_validator("rows_quarantined")
    @classmethod
    def _not_more_than_in(cls, value: int, info: Any) -> int:
        rows_in = info.data.get("rows_in")
        if rows_in is not None and value > rows_in:
            raise ValueError(f"rows_quarantined ({value}) exceeds rows_in ({rows_in})")
        return value


class LineSignals(_Model):
    """One retailer x placement line of the allocation."""

    name: str
    planned_spend: float = Field(ge=0)
    current_spend: float = Field(default=0.0, ge=0)
    observed_max_spend: float = Field(default=0.0, ge=0, description="Largest spend seen in history.")
    predicted_return: float = Field(default=0.0, ge=0, description="Attributed sales the curve predicts.")
    marginal_roas: float = Field(ge=0)
    fit_r2: float | None = Field(default=None, le=1)
    data_points: int = Field(default=0, ge=0, description="History rows behind the curve.")
    history_roas: float | None = Field(default=None, ge=0, description="ROAS over the full history.")
    recent_roas: float | None = Field(default=None, ge=0, description="ROAS over the last weeks.")


class OptimizeSignals(_Signals):
    solver_status: str = Field(description="optimal, optimal_inaccurate, infeasible, unbounded, error, ...")
    lines: list[LineSignals] = Field(default_factory=list)
    budget: float = Field(gt=0)
    roas_floor: float | None = Field(default=None, ge=0)
    predicted_roas: float | None = Field(default=None, ge=0)
    predicted_roas_observed_range: float | None = Field(
        default=None,
        ge=0,
        description="ROAS with every line capped at its observed max spend; estimated when absent.",
    )
    binding_constraints: list[str] = Field(default_factory=list)
    relaxable_constraints: list[str] = Field(
        default_factory=list, description="Constraints the optimizer may relax on revision (e.g. roas_floor)."
    )
    exploration_share: float = Field(default=0.0, ge=0, le=1)
    extrapolation_tolerance: float = Field(default=1.2, ge=1, description="planned > tol x observed max")


class MeasureSignals(_Signals):
    design: str = "geo"
    power: float = Field(ge=0, le=1)
    target_power: float = Field(default=0.8, gt=0, le=1)
    mde: float = Field(ge=0, description="Minimum detectable effect (relative lift).")
    expected_lift: float = Field(ge=0)
    historical_lift: float | None = Field(default=None, ge=0, description="Lift seen in past experiments.")
    simulated_power: float | None = Field(default=None, ge=0, le=1)
    simulations: int = Field(default=0, ge=0)
    duration_days: int = Field(default=0, ge=0)
    max_duration_days: int | None = Field(default=None, ge=1, description="The flight length.")
    feasible: bool = True
    problems: list[str] = Field(default_factory=list)


class Violation(_Model):
    rule: str
    severity: Severity
    message: str = ""
    target: str = Field(default="", description="The format/retailer/copy the violation is about.")


class ContentSignals(_Signals):
    """Shared by create and govern: copy quality and policy results."""

    violations: list[Violation] = Field(default_factory=list)
    candidates: int = Field(default=0, ge=0)
    formats_expected: int = Field(default=0, ge=0)
    formats_covered: int = Field(default=0, ge=0)
    template_fallback_used: bool = False
    model_available: bool = True

    def counts(self) -> dict[str, int]:
        out = {name: 0 for name in SEVERITY_RANK}
        for violation in self.violations:
            out[violation.severity] += 1
        return out


class CreateSignals(ContentSignals):
    """Create's signals add usability per format: a candidate is usable when governance passes it
    (policy packs and the copy-quality judge), and a format with none is regenerated, then escalated."""

    usable_by_format: dict[str, int] = Field(
        default_factory=dict,
        description="'retailer/format' → usable candidates (no critical violation), for formats with copy.",
    )
    unusable_reasons: dict[str, list[str]] = Field(
        default_factory=dict,
        description="'retailer/format' with no usable candidate → why, e.g. "
        "'quality:chatter (2 of 3 candidates)'.",
    )


class GovernSignals(ContentSignals):
    budget_within_brief: bool = True
    clean_room_checked: bool = True


PhaseSignals = HarmonizeSignals | OptimizeSignals | MeasureSignals | CreateSignals | GovernSignals

SIGNALS_BY_PHASE: dict[Phase, type[_Signals]] = {
    Phase.HARMONIZE: HarmonizeSignals,
    Phase.OPTIMIZE: OptimizeSignals,
    Phase.MEASURE: MeasureSignals,
    Phase.CREATE: CreateSignals,
    Phase.GOVERN: GovernSignals,
}


# --------------------------------------------------------------------------- findings (outputs)


class ConfidenceFactor(_Model):
    """One measured component of confidence: its score in [0, 1], weight and the raw value."""

    name: str
    score: float = Field(ge=0, le=1)
    weight: float = Field(default=1.0, gt=0)
    value: float | str | None = None
    note: str = ""


class Risk(_Model):
    factor: str
    severity: Severity
    probability: float = Field(ge=0, le=1)
    impact: str
    mitigation: str = ""
    triggered_by: dict[str, float | int | str | None] = Field(default_factory=dict)


class BiasFlag(_Model):
    type: BiasType
    note: str
    evidence: dict[str, float | int | str | None] = Field(default_factory=dict)


class AlternateFrame(_Model):
    frame: str
    conclusion: str = ""


class MemoryRef(_Model):
    scenario_id: str
    summary: str
    outcome: Outcome = "unknown"
    similarity: float
    decisions: list[dict[str, Any]] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)


class ReflectionDecision(_Model):
    """What the graph routes on, and what the ReflectionLog row stores."""

    phase: Phase
    session_id: str
    decision: DecisionKind
    confidence: float = Field(ge=0, le=1)
    threshold: float = Field(ge=0, le=1)
    rationale: str
    signals: dict[str, Any] = Field(default_factory=dict)
    factors: list[ConfidenceFactor] = Field(default_factory=list)
    risks: list[Risk] = Field(default_factory=list)
    biases: list[BiasFlag] = Field(default_factory=list)
    alternate_frames: list[AlternateFrame] = Field(default_factory=list)
    memory_refs: list[MemoryRef] = Field(default_factory=list)
    changes: dict[str, Any] = Field(default_factory=dict, description="For revise: what the agent changes.")
    revisions_used: int = 0
    max_revisions: int = 0
    data: dict[str, Any] = Field(default_factory=dict)


class ScenarioRecord(_Model):
    """A finished plan as stored in memory."""

    scenario_id: str
    summary: str
    plan: dict[str, Any] = Field(default_factory=dict)
    decisions: list[dict[str, Any]] = Field(default_factory=list)
    outcome: Outcome = "unknown"


class ReflectRequest(_Model):
    """Tool input: one phase's signals (validated against that phase's model) and the session."""

    phase: Phase
    session_id: str
    signals: dict[str, Any]
    memory_refs: list[MemoryRef] = Field(default_factory=list)
    revisions_used: int = Field(default=0, ge=0)
