"""Typed I/O of the budget optimizer: response curves, the allocation problem and its result.

Curves are *daily* (outcome per day vs spend per day, the grain of retailer history); the
problem's ``days`` scales them to the flight: spending S evenly over D days of a curve
``a·log(1 + x/b)`` yields ``D·a·log(1 + S/(D·b))``, so the flight curve has the same form.
Everything here is JSON-serialisable, because the reflection engine, the CLI's ``--json``
and the plan report read the result.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

OptimizerObjective = Literal["attributed_sales", "incremental_sales", "clicks", "reach"]
AllocationStatus = Literal["optimal", "optimal_inaccurate", "infeasible", "error"]
ScenarioKind = Literal["fixed_budget", "target_roas", "target_mroas", "target_outcome"]


class Scenario(BaseModel):
    """What question the allocation answers (the scenarios of Meridian's and Robyn's optimisers).

    - ``fixed_budget``: the most outcome for exactly the budget (or at most it, ``spend_all: false``).
    - ``target_roas``: the largest spend, up to the budget, whose best allocation still returns
      ``target`` attributed sales per currency unit overall (Robyn's ``target_efficiency``,
      Meridian's ``target_roi``).
    - ``target_mroas``: spend every line until its next currency unit returns ``target`` in
      attributed sales (Meridian's ``target_mroi``; 1.0 is break-even), up to the budget.
    - ``target_outcome``: the least spend whose best allocation reaches ``target`` of the objective.

    For the target kinds ``budget`` is the most the buyer would spend, retailer share caps are
    shares of what is spent, and ``spend_all`` does not apply.
    """

    model_config = ConfigDict(extra="forbid")

    kind: ScenarioKind = "fixed_budget"
    target: float | None = Field(default=None, gt=0, description="ROAS, marginal ROAS or outcome to reach.")
    name: str | None = Field(default=None, max_length=80, description="Label in the scenario table.")

    @model_validator(mode="after")
    def _target_given(self) -> Scenario:
        if self.kind == "fixed_budget" and self.target is not None:
            raise ValueError("scenario 'fixed_budget' takes no target")
        if self.kind != "fixed_budget" and self.target is None:
            raise ValueError(f"scenario '{self.kind}' needs a target")
        return self

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        if self.kind == "fixed_budget":
            return "fixed budget"
        if self.kind == "target_outcome":
            return f"outcome {self.target:,.0f}"
        words = {"target_roas": "ROAS", "target_mroas": "marginal ROAS"}
        return f"{words[self.kind]} {self.target:g}"


class CurveParams(BaseModel):
    """A fitted daily response curve ``outcome = a·log(1 + spend/b)`` (concave, saturating).

    ``b`` is the steady-state scale: when adstock (carry-over) was fitted it already folds in
    the decay, so a constant daily spend x yields ``a·log(1 + x/b)`` per day in the long run.
    """

    model_config = ConfigDict(extra="forbid")

    kind: Literal["log"] = "log"
    a: float = Field(gt=0, description="Scale: outcome per day grows like a·log(spend).")
    b: float = Field(gt=0, description="Half-saturation-like spend scale per day.")
    adstock: float = Field(default=0.0, ge=0, lt=1, description="Geometric carry-over decay fitted.")
    r2: float | None = Field(default=None, description="Coefficient of determination of the fit.")
    n_obs: int | None = Field(default=None, ge=0, description="Days of history used.")
    spend_min: float | None = Field(default=None, ge=0, description="Lowest observed positive daily spend.")
    spend_max: float | None = Field(default=None, ge=0, description="Highest observed daily spend.")
    residual_std: float | None = Field(default=None, ge=0)
    a_interval: tuple[float, float] | None = Field(default=None, description="90% bootstrap interval of a.")
    b_interval: tuple[float, float] | None = Field(default=None, description="90% bootstrap interval of b.")
    samples: list[tuple[float, float]] | None = Field(
        default=None, description="Bootstrap draws of (a, b), used for predicted-outcome intervals."
    )

    def value(self, daily_spend: float) -> float:
        """Outcome per day at this daily spend."""
        return self.a * math.log1p(daily_spend / self.b)

    def marginal(self, daily_spend: float) -> float:
        """d outcome / d spend at this daily spend (the curve's slope)."""
        return self.a / (self.b + daily_spend)


class CurveTable(BaseModel):
    """A daily response curve given as points, e.g. imported from the user's own MMM.

    Piecewise linear between the points (and no outcome beyond the last one: the line's spend is
    capped there), concave, starting at (0, 0). Why points rather than a formula: every MMM
    (PyMC-Marketing's saturation functions, Meridian's Hill curves, Robyn's) can be sampled onto
    one, and the program stays convex and exact for the curve it is given
    (``optimizer/mmm_import.py`` samples formulas onto a fine grid and states the error).
    """

    model_config = ConfigDict(extra="forbid")

    kind: Literal["table"] = "table"
    spend: list[float] = Field(min_length=2, max_length=2000, description="Daily spend, from 0, increasing.")
    outcome: list[float] = Field(min_length=2, max_length=2000, description="Daily outcome at each spend.")
    source: str = Field(default="table", max_length=200, description="Where the curve came from.")
    spend_min: float | None = Field(default=None, ge=0, description="Lowest observed positive daily spend.")
    spend_max: float | None = Field(default=None, ge=0, description="Highest observed daily spend.")
    r2: float | None = None
    n_obs: int | None = Field(default=None, ge=0, description="Periods the exporter fitted on, if known.")
    samples: None = None
    adstock: float = Field(default=0.0, ge=0, lt=1)

    @model_validator(mode="after")
    def _concave_from_zero(self) -> CurveTable:
        if len(self.spend) != len(self.outcome):
            raise ValueError(f"spend has {len(self.spend)} points but outcome has {len(self.outcome)}")
        if self.spend[0] != 0 or self.outcome[0] != 0:
            raise ValueError("a curve table starts at spend 0 with outcome 0")
        steps = [b - a for a, b in zip(self.spend, self.spend[1:], strict=False)]
        if min(steps) <= 0:
            raise ValueError("curve table spend must be strictly increasing")
        rises = [b - a for a, b in zip(self.outcome, self.outcome[1:], strict=False)]
        if min(rises) < 0:
            raise ValueError("curve table outcome must not fall as spend rises")
        slopes = [r / d for r, d in zip(rises, steps, strict=True)]
        for i in range(1, len(slopes)):
            if slopes[i] > slopes[i - 1] * (1 + 1e-9) + 1e-12:
                raise ValueError(
                    f"curve table is not concave: the slope rises after spend {self.spend[i]:g} "
                    "(import it with mmm_import, which takes the concave envelope and says where)"
                )
        return self

    def value(self, daily_spend: float) -> float:
        """Outcome per day at this daily spend (linear between points, flat past the last)."""
        xs, ys = self.spend, self.outcome
        if daily_spend >= xs[-1]:
            return ys[-1]
        i = next(j for j in range(1, len(xs)) if xs[j] >= daily_spend)
        return ys[i - 1] + (ys[i] - ys[i - 1]) * (daily_spend - xs[i - 1]) / (xs[i] - xs[i - 1])


def _curve_kind(value: Any) -> str:
    """'log' unless the curve says otherwise (curves written before tables existed carry no kind)."""
    if isinstance(value, dict):
        return str(value.get("kind", "log"))
    return str(getattr(value, "kind", "log"))


DailyCurve = Annotated[
    Annotated[CurveParams, Tag("log")] | Annotated[CurveTable, Tag("table")], Discriminator(_curve_kind)
]


class HistoryPoint(BaseModel):
    """One day of a line item's history, for problems that carry raw history instead of a curve."""

    model_config = ConfigDict(extra="forbid")

    spend: float = Field(ge=0)
    outcome: float = Field(ge=0)
    sales: float | None = Field(default=None, ge=0, description="Attributed sales, when outcome is not.")


class CurveFit(BaseModel):
    """The result of fitting one line item's history: the curve plus what went into it."""

    model_config = ConfigDict(extra="forbid")

    line_id: str
    retailer: str
    placement: str
    outcome: str = Field(description="The history column the curve predicts.")
    ok: bool = Field(description="False when no usable curve could be fitted (see issue).")
    issue: str | None = None
    params: CurveParams | None = None
    mean_daily_spend: float = Field(default=0.0, ge=0, description="Average observed daily spend.")
    days: int = Field(default=0, ge=0, description="Days with history.")


class AuctionCost(BaseModel):
    """Cost per click that rises with spend: ``CPC(s) = CPC₀·(1 + s/doubling_spend)`` per day.

    Why: in a second-price auction, buying more of the same placement means winning auctions at
    higher bids, so each extra currency unit buys fewer clicks than the last. The fitted curve is
    read as the response to spend at the observed cost; beyond that the spend that reaches shoppers
    is ``s / (1 + s/doubling_spend)`` (concave, so the program stays convex and certified), and
    the outcome bends where the auction does.
    """

    model_config = ConfigDict(extra="forbid")

    doubling_spend: float = Field(
        gt=0, description="Daily spend at which the cost per click has doubled (from spend-vs-CPC history)."
    )


class LineItem(BaseModel):
    """One place money can go (retailer × placement), with its curve(s) and bounds (flight totals)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    retailer: str = Field(min_length=1)
    placement: str = "all"
    curve: DailyCurve | None = Field(default=None, description="Daily curve of the objective outcome.")
    history: list[HistoryPoint] | None = Field(default=None, description="Daily history to fit instead.")
    sales_curve: CurveParams | None = Field(
        default=None, description="Daily attributed-sales curve for the ROAS floor; default: curve."
    )
    incrementality: float = Field(
        default=1.0, gt=0, le=1, description="Share of the outcome that is incremental (objective weight)."
    )
    auction: AuctionCost | None = Field(default=None, description="Cost per click that rises with spend.")
    min_spend: float = Field(default=0.0, ge=0)
    max_spend: float | None = Field(default=None, ge=0)
    current_spend: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _valid(self) -> LineItem:
        if self.curve is None and not self.history:
            raise ValueError(f"line '{self.id}' needs either 'curve' or 'history'")
        if self.curve is not None and self.history:
            raise ValueError(f"line '{self.id}' has both 'curve' and 'history'; give one")
        if self.max_spend is not None and self.max_spend < self.min_spend:
            raise ValueError(f"line '{self.id}': max_spend ({self.max_spend}) < min_spend ({self.min_spend})")
        return self


class RetailerLimits(BaseModel):
    """Constraints on the sum over a retailer's line items (flight totals)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    min_spend: float = Field(default=0.0, ge=0)
    max_spend: float | None = Field(default=None, ge=0)
    max_share: float | None = Field(default=None, gt=0, le=1, description="Cap as a share of the budget.")
    must_spend: float | None = Field(
        default=None, gt=0, description="Committed spend that must be placed here (a lower bound)."
    )


class AllocationProblem(BaseModel):
    """What to allocate and under which constraints. Spends and bounds are totals over the flight."""

    model_config = ConfigDict(extra="forbid")

    name: str = "allocation"
    budget: float = Field(gt=0)
    currency: str = "USD"
    objective: OptimizerObjective = "attributed_sales"
    days: int = Field(default=1, ge=1, description="Flight length; daily curves are scaled by it.")
    spend_all: bool = Field(default=True, description="Spend exactly the budget (else at most).")
    lines: list[LineItem] = Field(min_length=1)
    retailers: list[RetailerLimits] = Field(default_factory=list)
    roas_floor: float | None = Field(default=None, ge=0, description="Minimum overall attributed ROAS.")
    scenario: Scenario = Field(default_factory=Scenario, description="Which question to answer.")
    interval_level: float = Field(default=0.9, gt=0, lt=1)
    notes: list[str] = Field(default_factory=list, description="What building the problem assumed.")
    unmodelled_retailers: list[str] = Field(
        default_factory=list, description="Brief retailers without a usable curve (exploration candidates)."
    )

    @field_validator("lines")
    @classmethod
    def _unique_ids(cls, lines: list[LineItem]) -> list[LineItem]:
        ids = [line.id for line in lines]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"line ids listed twice: {', '.join(duplicates)}")
        return lines

    @model_validator(mode="after")
    def _known_retailers(self) -> AllocationProblem:
        names = [r.name for r in self.retailers]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"retailer limits listed twice: {', '.join(duplicates)}")
        line_retailers = {line.retailer for line in self.lines}
        unknown = sorted(set(names) - line_retailers)
        if unknown:
            raise ValueError(f"retailer limits for retailers without line items: {', '.join(unknown)}")
        return self


class LineAllocation(BaseModel):
    """The chosen spend of one line and what the curve says about it."""

    id: str
    retailer: str
    placement: str
    spend: float
    share: float
    daily_spend: float
    predicted_outcome: float
    outcome_interval: tuple[float, float] | None
    predicted_sales: float | None
    roas: float | None = Field(description="Predicted attributed sales / spend.")
    marginal_return: float = Field(description="d objective / d spend at the chosen point.")
    marginal_roas: float | None = Field(description="d attributed sales / d spend at the chosen point.")
    r2: float | None
    observed_daily_range: tuple[float, float] | None
    extrapolates: bool = Field(description="Chosen daily spend lies outside the observed daily range.")
    extrapolation: str | None


class ConstraintReport(BaseModel):
    """One constraint of the problem at the solution: its value, bound, dual and whether it binds."""

    name: str
    kind: Literal[
        "budget",
        "line_min",
        "line_max",
        "retailer_min",
        "retailer_max",
        "share_cap",
        "roas_floor",
        "outcome_target",
    ]
    bound: float
    value: float
    dual: float = Field(
        description="Objective gained per unit of relaxation (outcome per currency unit); for the "
        "target_outcome scenario, spend saved per unit (currency per currency, or per outcome unit)."
    )
    binding: bool


class SplitComparison(BaseModel):
    """The predicted outcome of a reference split at the same budget, and the optimum's lift over it."""

    name: Literal["current", "equal"]
    spends: dict[str, float]
    predicted_outcome: float
    lift: float = Field(description="(optimal − reference) / reference.")
    feasible: bool = Field(description="Whether the reference split satisfies the problem's constraints.")
    violations: list[str] = Field(default_factory=list)


class Conflict(BaseModel):
    """A set of constraints that cannot hold together, and by how much they miss."""

    constraints: list[str]
    description: str
    amount: float = Field(description="How far apart they are, in currency (or ROAS points for floors).")


class InfeasibilityReport(BaseModel):
    summary: str
    conflicts: list[Conflict]


class AllocationResult(BaseModel):
    """Everything the reflection engine and the plan report need from one allocation."""

    problem: str
    status: AllocationStatus
    scenario: Scenario = Field(default_factory=Scenario)
    solver: str = "CLARABEL"
    solver_status: str
    solve_seconds: float
    objective: OptimizerObjective
    currency: str
    budget: float
    total_spend: float = 0.0
    lines: list[LineAllocation] = Field(default_factory=list)
    predicted_outcome: float | None = None
    predicted_interval: tuple[float, float] | None = None
    interval_level: float = 0.9
    predicted_sales: float | None = None
    roas: float | None = None
    constraints: list[ConstraintReport] = Field(default_factory=list)
    binding: list[str] = Field(default_factory=list, description="Names of the binding constraints.")
    comparisons: list[SplitComparison] = Field(default_factory=list)
    infeasibility: InfeasibilityReport | None = None
    min_r2: float | None = Field(default=None, description="Worst fit R² over the lines.")
    extrapolating_lines: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    unmodelled_retailers: list[str] = Field(default_factory=list)
    marginal_return: float | None = Field(
        default=None,
        description="Objective per extra currency unit of spend at the solution: the budget's dual when "
        "the budget binds, else the price the scenario spends to (target marginal ROAS).",
    )
    optimality_gap: float | None = Field(
        default=None,
        description="Certified relative gap: (Lagrangian dual bound − objective) / objective, computed "
        "from the solution and its multipliers without the solver (optimizer/certificate.py).",
    )


class ScenarioRow(BaseModel):
    """One scenario's line in the side-by-side table (Meridian's optimisation summary)."""

    scenario: Scenario
    label: str
    status: AllocationStatus
    spend: float | None
    outcome: float | None
    roas: float | None
    marginal_roas: float | None = Field(description="Spend-weighted marginal ROAS of the lines.")
    cost_per_outcome: float | None = Field(
        description="Spend per unit of the (incrementality-weighted) objective."
    )
    spend_by_retailer: dict[str, float] = Field(default_factory=dict)
    spend_change: float | None = Field(description="Spend minus the current split's (before → after).")
    outcome_change: float | None = Field(description="Outcome minus the current split's predicted outcome.")
    binding: list[str] = Field(default_factory=list)
    reason: str | None = Field(
        default=None,
        description="Why an infeasible scenario has no answer, or that the budget cap stopped a target "
        "scenario before its target.",
    )


class ScenarioTable(BaseModel):
    """Scenarios side by side on the same curves and constraints, with the current split as 'before'."""

    objective: OptimizerObjective
    currency: str
    current_spend: float | None
    current_outcome: float | None
    rows: list[ScenarioRow]
    results: list[AllocationResult]


class BanditArm(BaseModel):
    """A thin-history line item to explore, described by its context."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    retailer: str
    placement: str = "all"
    audience: str = "all"
    season: str = "all"
    history: list[HistoryPoint] = Field(default_factory=list, description="Daily spend/outcome seen so far.")


class ArmSplit(BaseModel):
    id: str
    share: float
    spend: float
    posterior_mean_return: float
    posterior_std_return: float
    days_of_history: int


class ExplorationSplit(BaseModel):
    """How an exploration budget is split by Thompson sampling, with the priors stated."""

    budget: float
    draws: int
    prior_mean_return: float
    prior_std_return: float
    noise_std: float
    arms: list[ArmSplit]
    notes: list[str] = Field(default_factory=list)
