"""Typed I/O of flighting: a budget spread over weeks, with pacing limits, and the weekly plan.

The optimizer's :class:`~rmnlora.schemas.optimizer.AllocationProblem` says how much each line
item gets over the whole flight; a buyer also has to say *when*. Weeks are 0-based
(week 0 is the first week of the flight), and every spend bound here is in currency: per
line over the flight, per line per week, per week over all lines. Pacing shares are shares of
the budget. Everything is JSON-serialisable, like the allocation result, because the plan
report and the CLI's ``--json`` read it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rmnlora.schemas.optimizer import AllocationStatus, CurveParams, InfeasibilityReport

MAX_WEEKS = 104
CARRYOVER_WEEKS = 8  # horizon after the flight over which carried-over outcome is counted

ConstraintKind = Literal[
    "budget",
    "line_min",
    "line_max",
    "line_week_max",
    "week_min",
    "week_max",
    "min_week_share",
    "max_week_share",
    "max_change",
]
CertificateKind = Literal["lagrangian_dual_bound", "stationarity_residual", "none"]


class FlightLine(BaseModel):
    """One line item of the flight: its fitted daily curve and its spend bounds."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, description="Line item id, unique within the problem.")
    retailer: str = Field(min_length=1, description="Retailer the line item runs on.")
    curve: CurveParams = Field(description="Fitted daily curve; its adstock sets the weekly carry-over.")
    incrementality: float = Field(
        default=1.0, gt=0, le=1, description="Share of the outcome that is incremental (objective weight)."
    )
    min_spend: float | None = Field(default=None, ge=0, description="Least spend over the whole flight.")
    max_spend: float | None = Field(default=None, ge=0, description="Most spend over the whole flight.")
    max_weekly_spend: float | None = Field(
        default=None, ge=0, description="Most spend of this line in any single week."
    )

    @model_validator(mode="after")
    def _bounds_ordered(self) -> FlightLine:
        if self.max_spend is not None and self.min_spend is not None and self.max_spend < self.min_spend:
            raise ValueError(f"line '{self.id}': max_spend ({self.max_spend}) < min_spend ({self.min_spend})")
        return self


class WeekSpec(BaseModel):
    """What is known about one week: how strongly it responds, and limits on its total spend."""

    model_config = ConfigDict(extra="forbid")

    index: int = Field(ge=0, description="0-based week of the flight.")
    seasonality: float = Field(
        default=1.0, gt=0, description="Multiplier on the week's response (2 = twice the outcome per day)."
    )
    min_spend: float | None = Field(default=None, ge=0, description="Least total spend of the week.")
    max_spend: float | None = Field(default=None, ge=0, description="Most total spend of the week.")

    @model_validator(mode="after")
    def _bounds_ordered(self) -> WeekSpec:
        if self.max_spend is not None and self.min_spend is not None and self.max_spend < self.min_spend:
            raise ValueError(
                f"week {self.index}: max_spend ({self.max_spend}) < min_spend ({self.min_spend})"
            )
        return self


class Pacing(BaseModel):
    """How evenly the budget must flow: week shares and the week-to-week change."""

    model_config = ConfigDict(extra="forbid")

    max_week_share: float | None = Field(
        default=None, gt=0, le=1, description="No week's total above this share of the budget."
    )
    min_week_share: float | None = Field(
        default=None, ge=0, le=1, description="No week's total below this share of the budget."
    )
    max_change: float | None = Field(
        default=None,
        ge=0,
        description=(
            "|total of week w − total of week w−1| ≤ max_change × budget / weeks, i.e. relative to "
            "the even pace (0 = perfectly even)."
        ),
    )

    @model_validator(mode="after")
    def _shares_ordered(self) -> Pacing:
        low, high = self.min_week_share, self.max_week_share
        if low is not None and high is not None and low > high:
            raise ValueError(f"pacing: min_week_share ({low}) > max_week_share ({high})")
        return self


class FlightProblem(BaseModel):
    """A budget to place over line items and weeks, under line, week and pacing constraints."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="flight", description="Label carried into the plan.")
    budget: float = Field(gt=0, description="Total spend of the flight (exactly, or at most: spend_all).")
    currency: str = Field(default="USD", description="Currency of every spend and bound.")
    weeks: int = Field(ge=1, le=MAX_WEEKS, description="Flight length in weeks.")
    days_per_week: int = Field(default=7, ge=1, le=7, description="Days a week the line items run.")
    lines: list[FlightLine] = Field(min_length=1, description="Line items with curves and bounds.")
    week_specs: list[WeekSpec] = Field(
        default_factory=list, description="Per-week seasonality and limits; weeks not listed are plain."
    )
    pacing: Pacing = Field(default_factory=Pacing, description="Pacing limits over the week totals.")
    carryover_after_flight: bool = Field(
        default=True,
        description=(
            f"Count the adstocked outcome that lands up to {CARRYOVER_WEEKS} weeks after the flight, "
            "so a late dollar is not undervalued; False counts only in-flight weeks."
        ),
    )
    spend_all: bool = Field(default=True, description="Spend exactly the budget (else at most).")

    @field_validator("lines")
    @classmethod
    def _unique_ids(cls, lines: list[FlightLine]) -> list[FlightLine]:
        ids = [line.id for line in lines]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"lines: line ids listed twice: {', '.join(duplicates)}")
        return lines

    @model_validator(mode="after")
    def _weeks_in_range(self) -> FlightProblem:
        indices = [spec.index for spec in self.week_specs]
        duplicates = sorted({i for i in indices if indices.count(i) > 1})
        if duplicates:
            raise ValueError(f"week_specs: week indices listed twice: {', '.join(map(str, duplicates))}")
        outside = sorted(i for i in indices if i >= self.weeks)
        if outside:
            raise ValueError(
                f"week_specs: index {', '.join(map(str, outside))} out of range for weeks={self.weeks} "
                f"(indices are 0-based, below weeks)"
            )
        return self


class FlightCell(BaseModel):
    """One line in one week: what to spend and the outcome that week (own spend plus carry-over)."""

    line_id: str
    week: int
    spend: float
    predicted_outcome: float = Field(description="Outcome of this line during this week, adstock included.")


class WeekTotal(BaseModel):
    week: int
    spend: float
    share: float = Field(description="Share of the budget.")
    seasonality: float
    predicted_outcome: float = Field(description="Outcome of all lines during this week.")


class LineTotal(BaseModel):
    line_id: str
    retailer: str
    spend: float
    share: float = Field(description="Share of the budget.")
    in_flight_outcome: float
    carryover_outcome: float = Field(description=f"Outcome landing in the {CARRYOVER_WEEKS} weeks after.")


class FlightConstraint(BaseModel):
    """One constraint at the solution: value, bound, dual and whether it binds."""

    name: str = Field(description="e.g. 'budget', 'week:2:max', 'pacing:max_change:week3'.")
    kind: ConstraintKind
    bound: float
    value: float = Field(description="For max_change: |Δ week total|; otherwise the constrained total.")
    dual: float = Field(description="Objective gained per currency unit of relaxation.")
    binding: bool


class FlightPlan(BaseModel):
    """What to spend on each line in each week, what it is predicted to yield, and why it is optimal."""

    problem: str
    status: AllocationStatus = Field(
        description=(
            "optimal: certified (kkt_gap ≤ 1e-6, constraints kept to 1e-6 of the budget), whatever "
            "the solver's own status; optimal_inaccurate: solved but not certified that tightly."
        )
    )
    solver: str = "CLARABEL"
    solver_status: str
    solve_seconds: float
    currency: str
    budget: float
    weeks: int
    days_per_week: int
    total_spend: float = 0.0
    cells: list[FlightCell] = Field(default_factory=list, description="Spend per line per week.")
    week_totals: list[WeekTotal] = Field(default_factory=list)
    line_totals: list[LineTotal] = Field(default_factory=list)
    predicted_outcome: float | None = Field(
        default=None, description="The objective: in-flight outcome, plus carry-over when counted."
    )
    in_flight_outcome: float | None = None
    carryover_outcome: float | None = Field(
        default=None,
        description=f"Outcome landing in the {CARRYOVER_WEEKS} weeks after the flight (reported either way).",
    )
    carryover_counted: bool = True
    constraints: list[FlightConstraint] = Field(default_factory=list)
    binding: list[str] = Field(default_factory=list, description="Names of the binding constraints.")
    certificate: CertificateKind = Field(
        default="none", description="What kkt_gap is: a Lagrangian dual bound, or only a stationarity check."
    )
    kkt_gap: float | None = Field(
        default=None,
        description="(dual bound − objective) / objective: the plan is optimal to this relative gap.",
    )
    dual_bound: float | None = Field(default=None, description="Upper bound on the best objective reachable.")
    budget_multiplier: float | None = Field(
        default=None, description="Solver's budget dual: outcome per extra currency unit of budget."
    )
    stationarity_residual: float | None = Field(
        default=None, description="Max relative KKT stationarity residual over cells inside their bounds."
    )
    max_violation: float | None = Field(
        default=None, description="Largest amount by which the plan breaks any constraint, in currency."
    )
    kkt_reference_diff: float | None = Field(
        default=None,
        description="Separable problems only: max |Δspend| / max spend against the KKT bisection.",
    )
    infeasibility: InfeasibilityReport | None = None
    notes: list[str] = Field(default_factory=list)
