"""Governance I/O: ad copy in, violations with severity, location and a suggested fix out.

``passed`` means "no critical violation": warnings and infos are shown to people but do not
stop a plan; the reflection gate reads the counts.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from rmnlora.schemas.rmis import Severity

COPY_FIELDS = ("headline", "body", "cta", "disclosure")


class AdCopy(BaseModel):
    """One piece of ad copy, split into the fields every retailer format has."""

    model_config = ConfigDict(extra="forbid")

    headline: str = ""
    body: str = ""
    cta: str = ""
    disclosure: str = Field(default="", description="Legal line, e.g. 'While supplies last.'")

    def field_text(self, name: str) -> str:
        if name not in COPY_FIELDS:
            raise ValueError(f"unknown copy field {name!r}; expected one of {', '.join(COPY_FIELDS)}")
        return str(getattr(self, name))


class Violation(BaseModel):
    """One broken rule. ``span`` is [start, end) in ``field``'s text; None for whole-field rules."""

    rule_id: str
    kind: str
    family: str = Field(default="", description="The rule's family (see PolicyRule.family).")
    severity: Severity
    pack: str = Field(description="Owner of the pack the rule came from.")
    field: str | None = Field(description="Copy field, or the budget/query item, the violation is in.")
    span: tuple[int, int] | None = None
    matched: str = ""
    message: str
    suggestion: str = ""
    rewrite: str | None = Field(
        default=None,
        description="The field's text with this violation fixed (match replaced or removed); None "
        "when no text edit fixes it (a missing disclosure, an over-long field).",
    )
    confidence: float | None = Field(
        default=None,
        description="The sentence model's probability when a model flagged it (claim_model rules); "
        "None for a pattern or detector match, which is certain about what it matched.",
    )


class GovernanceResult(BaseModel):
    """The verdict: violations most severe first, and whether anything critical was found."""

    passed: bool
    violations: list[Violation] = Field(default_factory=list)
    packs: list[str] = Field(default_factory=list, description="Packs checked, 'kind:owner'.")

    def count(self, severity: Severity) -> int:
        return sum(1 for v in self.violations if v.severity == severity)

    @property
    def critical(self) -> list[Violation]:
        return [v for v in self.violations if v.severity == "critical"]


class RetailerBudgetLimits(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_spend: float = Field(default=0.0, ge=0)
    max_spend: float | None = Field(default=None, ge=0)
    max_share: float | None = Field(default=None, gt=0, le=1)
    must_spend: bool = False


class BudgetPlan(BaseModel):
    """An allocation to sanity-check against the budget, caps and the flight's pacing."""

    model_config = ConfigDict(extra="forbid")

    budget: float = Field(gt=0)
    currency: str = "USD"
    flight_start: dt.date
    flight_end: dt.date
    allocation: dict[str, float] = Field(description="Retailer → planned spend over the flight.")
    daily_cap: float | None = Field(default=None, gt=0, description="Most the whole plan may spend a day.")
    max_share_per_retailer: float | None = Field(default=None, gt=0, le=1)
    retailer_limits: dict[str, RetailerBudgetLimits] = Field(default_factory=dict)
    spent_to_date: float | None = Field(default=None, ge=0, description="For pacing, with as_of.")
    as_of: dt.date | None = None
    tolerance: float = Field(default=0.01, ge=0, lt=1, description="Relative slack on budget totals.")

    @property
    def flight_days(self) -> int:
        return (self.flight_end - self.flight_start).days + 1


class CheckPolicyInput(BaseModel):
    """Tool input: copy plus whose packs (and optionally which ad format) to check it against."""

    model_config = ConfigDict(extra="forbid")

    ad_copy: AdCopy
    retailer: str = Field(min_length=1)
    brand: str | None = None
    ad_format: str | None = Field(default=None, description="Adds the format's length/element rules.")
