"""Typed input and output of the measurement agent (experiment design and lift analysis).

The request carries the KPI history itself (market × day), so a design is reproducible from the
JSON alone: the planner, the CLI and a tool call all hand over the same object.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

DesignKind = Literal["geo", "geo_pool", "switchback", "holdout"]


class MarketHistory(BaseModel):
    """A KPI per market and day: ``values[i][t]`` is market ``markets[i]`` on ``start + t`` days."""

    model_config = ConfigDict(extra="forbid")

    kpi: str = Field(min_length=1)
    start: dt.date
    markets: list[str] = Field(min_length=1)
    values: list[list[float]] = Field(description="One row per market, one column per day, no gaps.")

    @model_validator(mode="after")
    def _rectangular(self) -> MarketHistory:
        if len(self.values) != len(self.markets):
            raise ValueError(f"values has {len(self.values)} rows but there are {len(self.markets)} markets")
        lengths = {len(row) for row in self.values}
        if len(lengths) > 1:
            raise ValueError(f"every market needs the same number of days; got lengths {sorted(lengths)}")
        if len(set(self.markets)) != len(self.markets):
            raise ValueError("market names must be unique")
        return self

    @property
    def days(self) -> int:
        return len(self.values[0]) if self.values else 0

    @property
    def end(self) -> dt.date:
        return self.start + dt.timedelta(days=self.days - 1)


class ExperimentRequest(BaseModel):
    """What to prove: a relative lift on a KPI within a flight, at a significance level and power."""

    model_config = ConfigDict(extra="forbid")

    history: MarketHistory
    design: Literal["auto", "geo", "geo_pool", "switchback", "holdout"] = "auto"
    treated_markets: list[str] | None = Field(
        default=None,
        max_length=1000,
        description="geo_pool only: the markets to treat (default: chosen from the history).",
    )
    expected_lift: float = Field(default=0.05, gt=0, lt=1, description="Relative lift the plan expects.")
    alpha: float = Field(default=0.05, gt=0, lt=0.5)
    power: float = Field(default=0.8, gt=0.5, lt=1, description="Target power.")
    flight_days: int = Field(ge=1, description="Days the campaign runs; the experiment must fit in them.")
    flight_start: dt.date | None = None
    min_markets: int = Field(default=8, ge=4, description="Fewest markets a geo design accepts.")
    switchback_block_days: int = Field(default=7, ge=1)
    carryover_days: int = Field(default=1, ge=0, description="Buffer days dropped after each switch.")
    audience_size: int | None = Field(default=None, ge=1, description="Users reachable, for a holdout.")
    kpi_cv_per_user: float = Field(
        default=3.0, gt=0, description="Coefficient of variation of the KPI per user (holdout power)."
    )
    min_aggregation: int = Field(default=50, ge=1, description="Clean room's minimum group size.")
    allocation_total: float | None = Field(default=None, ge=0, description="Planned spend in the flight.")
    simulations: int = Field(default=400, ge=50, le=100_000, description="Placebo experiments on history.")
    seed: int = 0


class MarketPair(BaseModel):
    model_config = ConfigDict(extra="forbid")

    treatment: str
    control: str
    pre_correlation: float | None = Field(description="Correlation of the two pre-period series.")
    level_ratio: float = Field(description="Treatment / control mean KPI in the pre-period.")


class MarketCandidate(BaseModel):
    """One treated set a geo_pool design weighed: how well its no-effect replays fit, its power."""

    model_config = ConfigDict(extra="forbid")

    markets: list[str]
    share_of_kpi: float = Field(description="The treated markets' share of the KPI in the level window.")
    relative_error: float = Field(
        description="RMS of the estimator's no-effect estimates on history windows, over the treated level."
    )
    power: float | None = Field(
        default=None, description="Power at the expected lift (only for the sets that were replayed)."
    )
    simulated_power: float | None = Field(
        default=None, description="Rejection rate replayed on history windows at the expected lift."
    )
    chosen: bool = False


class SwitchbackBlock(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: int = Field(description="Day offset from the flight start.")
    days: int
    treated: bool
    buffer_days: int


class PowerPoint(BaseModel):
    """Simulated power of the design's test at one lift and duration (placebo runs on history)."""

    model_config = ConfigDict(extra="forbid")

    lift: float
    days: int
    power: float


class ExperimentDesign(BaseModel):
    """A ready-to-run experiment, or an honest account of why it cannot reach the power.

    ``feasible`` is False (never an exception) when the data cannot support the target power
    within the flight; ``problems`` says why and ``suggestions`` what would fix it.
    """

    model_config = ConfigDict(extra="forbid")

    kind: DesignKind
    kpi: str
    feasible: bool
    problems: list[str] = Field(default_factory=list)
    suggestions: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    alpha: float
    target_power: float
    expected_lift: float
    duration_days: int
    pre_days: int = Field(default=0, description="Pre-period days used by the difference-in-differences.")
    flight_start: dt.date | None = None
    power: float | None = Field(default=None, description="Analytic power at the expected lift.")
    mde: float | None = Field(default=None, description="Relative minimum detectable effect at target power.")
    mde_absolute: float | None = Field(default=None, description="MDE in KPI units per treated unit-day.")
    min_days_for_power: int | None = Field(default=None, description="Shortest duration reaching the power.")
    simulated_power: float | None = Field(default=None, description="Rejection rate of placebo experiments.")
    placebo_false_positive_rate: float | None = None
    simulated_mde: float | None = Field(
        default=None, description="Smallest lift whose simulated power reaches the target."
    )
    power_by_lift: list[PowerPoint] = Field(
        default_factory=list, description="Simulated power against the lift, at the design's duration."
    )
    power_by_duration: list[PowerPoint] = Field(
        default_factory=list, description="Simulated power against the duration, at the expected lift."
    )
    simulations: int = 0
    noise_model: str = ""
    baseline_per_unit_day: float | None = None
    expected_incremental_kpi: float | None = None
    treated_share_of_kpi: float | None = None
    treated_spend: float | None = Field(default=None, description="Spend on treated units if spread by KPI.")
    pairs: list[MarketPair] = Field(default_factory=list)
    analysis_method: Literal["did_pairs", "synthetic_control", "sdid", "switchback_t", "holdout_t"] | None = (
        Field(default=None, description="The analysis the design's power was computed for (geo_pool: sdid).")
    )
    market_candidates: list[MarketCandidate] = Field(
        default_factory=list, description="geo_pool: the treated sets weighed, best first per size."
    )
    treatment_markets: list[str] = Field(default_factory=list)
    control_markets: list[str] = Field(default_factory=list)
    excluded_markets: list[str] = Field(default_factory=list)
    blocks: list[SwitchbackBlock] = Field(default_factory=list)
    holdout_share: float | None = None
    holdout_size: int | None = None
    alternatives: dict[str, str] = Field(default_factory=dict, description="Other design kinds, summarised.")
    seed: int = 0


class SegmentEffect(BaseModel):
    model_config = ConfigDict(extra="forbid")

    segment: str
    effect: float
    ci_low: float
    ci_high: float
    n: int


class LiftResult(BaseModel):
    """The measured incremental effect with its uncertainty."""

    model_config = ConfigDict(extra="forbid")

    kind: DesignKind
    method: Literal["did_pairs", "synthetic_control", "sdid", "switchback_t", "holdout_t"]
    kpi: str
    att: float = Field(description="Incremental KPI per treated unit-day (absolute).")
    ci_low: float
    ci_high: float
    p_value: float
    relative_lift: float
    relative_ci_low: float
    relative_ci_high: float
    incremental_total: float = Field(description="att × treated unit-days.")
    confidence_level: float
    significant: bool
    n_units: int = Field(description="Pairs, blocks or groups the inference rests on.")
    post_days: int
    pre_days: int = 0
    notes: list[str] = Field(default_factory=list)
    segments: list[SegmentEffect] = Field(default_factory=list)


class PeriodEffect(BaseModel):
    """One period of a panel analysis: treated vs synthetic, and the effect with its band."""

    model_config = ConfigDict(extra="forbid")

    period: dt.date
    post: bool = Field(description="After the treatment start.")
    observed: float = Field(description="Mean of the treated units.")
    synthetic: float = Field(description="The weighted donors, level-adjusted as the method does.")
    effect: float = Field(description="observed - synthetic; before treatment, the fit's error.")
    low: float = Field(description="Lower end of the placebo band at the confidence level.")
    high: float


class PanelLift(BaseModel):
    """A treated set against a donor pool, at any period, with placebo (permutation) inference.

    Every donor set of the treated units' size plays the treated units once (or a seeded sample of
    ``placebo_count``), the whole estimator refitted. ``p_value`` ranks the effect, scaled by its
    own pre-period fit error, among the placebos' scaled effects; the interval inverts that test.
    ``standard_error`` is the placebo estimates' spread (Arkhangelsky et al. 2021, Algorithm 4),
    the figure published tables report.
    """

    model_config = ConfigDict(extra="forbid")

    method: Literal["did", "synthetic_control", "sdid"]
    outcome: str
    frequency: Literal["day", "week", "month", "quarter", "year"]
    treatment_start: dt.date
    att: float = Field(description="Effect per treated unit and post period (absolute).")
    standard_error: float
    ci_low: float
    ci_high: float
    p_value: float = Field(
        description="Permutation p-value: (1 + placebos at least as extreme) / (placebos + 1)."
    )
    confidence_level: float
    significant: bool
    relative_lift: float = Field(description="att / the synthetic post-period mean.")
    relative_ci_low: float
    relative_ci_high: float
    incremental_total: float = Field(description="att × treated units × post periods.")
    treated_units: list[str]
    n_donors: int
    pre_periods: int
    post_periods: int
    placebo_count: int
    unit_weights: dict[str, float] = Field(description="Donor weights above 1e-6, largest first.")
    time_weights: dict[str, float] = Field(description="Pre-period weights above 1e-6 (ISO dates).")
    periods: list[PeriodEffect]
    notes: list[str] = Field(default_factory=list)
