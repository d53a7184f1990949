"""Budget sanity: an allocation must fit the budget, the caps and the flight before money moves.

Checks (each a violation with the item it concerns in ``field``):
total over budget (critical) or well under it (warning); negative or unknown retailers
(critical); per-retailer min/max/share limits (critical) and must-spend retailers left at zero
(warning); the daily cap against the flight's even daily pace (critical); and, with
``spent_to_date``/``as_of``, pacing against the straight line through the flight.
"""

from __future__ import annotations

from rmnlora.schemas.brief import CampaignBrief
from rmnlora.schemas.governance import BudgetPlan, GovernanceResult, RetailerBudgetLimits, Violation
from rmnlora.schemas.rmis import Severity

_PACK = "budget"
OVERPACING = 1.2
UNDERPACING = 0.8


def _violation(rule: str, severity: Severity, field: str, message: str, suggestion: str) -> Violation:
    return Violation(
        rule_id=f"budget:{rule}",
        kind=f"budget_{rule}",
        severity=severity,
        pack=_PACK,
        field=field,
        message=message,
        suggestion=suggestion,
    )


def budget_plan_from_brief(brief: CampaignBrief, allocation: dict[str, float], **extra: object) -> BudgetPlan:
    """The brief's budget, flight and limits around an optimizer's allocation."""
    limits = {
        r.name: RetailerBudgetLimits(
            min_spend=r.min_spend, max_spend=r.max_spend, max_share=r.max_share, must_spend=r.must_spend
        )
        for r in brief.retailers
    }
    return BudgetPlan.model_validate(
        {
            "budget": brief.budget,
            "currency": brief.currency,
            "flight_start": brief.flight.start,
            "flight_end": brief.flight.end,
            "allocation": allocation,
            "daily_cap": brief.constraints.daily_cap,
            "max_share_per_retailer": brief.constraints.max_share_per_retailer,
            "retailer_limits": limits,
            **extra,
        }
    )


def _retailer_checks(plan: BudgetPlan, total: float) -> list[Violation]:
    found: list[Violation] = []
    slack = plan.tolerance * plan.budget
    for retailer, amount in plan.allocation.items():
        item = f"allocation.{retailer}"
        if amount < 0:
            found.append(
                _violation(
                    "negative",
                    "critical",
                    item,
                    f"{retailer} gets a negative amount ({amount:,.2f})",
                    "Set it to zero or more.",
                )
            )
            continue
        if plan.retailer_limits and retailer not in plan.retailer_limits:
            found.append(
                _violation(
                    "unknown_retailer",
                    "critical",
                    item,
                    f"{retailer} is not a retailer of this plan",
                    "Remove it or add it to the brief.",
                )
            )
        limits = plan.retailer_limits.get(retailer, RetailerBudgetLimits())
        if amount + slack < limits.min_spend:
            found.append(
                _violation(
                    "below_min",
                    "critical",
                    item,
                    f"{retailer} gets {amount:,.2f}, below its minimum {limits.min_spend:,.2f}",
                    f"Raise it to at least {limits.min_spend:,.2f}.",
                )
            )
        if limits.max_spend is not None and amount > limits.max_spend + slack:
            found.append(
                _violation(
                    "above_max",
                    "critical",
                    item,
                    f"{retailer} gets {amount:,.2f}, above its maximum {limits.max_spend:,.2f}",
                    f"Lower it to at most {limits.max_spend:,.2f}.",
                )
            )
        caps = [c for c in (limits.max_share, plan.max_share_per_retailer) if c is not None]
        if caps and total > 0 and amount / total > min(caps) + plan.tolerance:
            found.append(
                _violation(
                    "share_cap",
                    "critical",
                    item,
                    f"{retailer} takes {amount / total:.1%} of the spend; the cap is {min(caps):.0%}",
                    f"Move spend to other retailers below {min(caps):.0%}.",
                )
            )
        if limits.must_spend and amount <= 0:
            found.append(
                _violation(
                    "must_spend",
                    "warning",
                    item,
                    f"{retailer} is must-spend but gets nothing",
                    "Give it at least its minimum.",
                )
            )
    return found


def _pacing_checks(plan: BudgetPlan, total: float) -> list[Violation]:
    found: list[Violation] = []
    days = plan.flight_days
    if plan.daily_cap is not None and total / days > plan.daily_cap * (1 + plan.tolerance):
        found.append(
            _violation(
                "daily_cap",
                "critical",
                "daily_cap",
                f"spending {total:,.2f} over {days} days is {total / days:,.2f} a day, above the "
                f"daily cap {plan.daily_cap:,.2f}",
                f"Lower the total to {plan.daily_cap * days:,.2f} or lengthen the flight.",
            )
        )
    if plan.spent_to_date is None:
        return found
    if plan.spent_to_date > plan.budget * (1 + plan.tolerance):
        found.append(
            _violation(
                "overspent",
                "critical",
                "spent_to_date",
                f"spent {plan.spent_to_date:,.2f} of a {plan.budget:,.2f} budget",
                "Pause the campaign now.",
            )
        )
        return found
    if plan.as_of is None:
        found.append(
            _violation(
                "pacing_unknown",
                "info",
                "as_of",
                "spent_to_date given without as_of; pacing not checked",
                "Pass as_of with spent_to_date.",
            )
        )
        return found
    elapsed = min(max((plan.as_of - plan.flight_start).days + 1, 0), days)
    expected = total * elapsed / days
    if expected <= 0:
        return found
    ratio = plan.spent_to_date / expected
    if ratio > OVERPACING:
        found.append(
            _violation(
                "overpacing",
                "warning",
                "spent_to_date",
                f"spent {ratio:.0%} of the {expected:,.2f} expected after {elapsed}/{days} days",
                "Lower daily bids or caps to stretch the budget over the flight.",
            )
        )
    elif ratio < UNDERPACING:
        found.append(
            _violation(
                "underpacing",
                "warning",
                "spent_to_date",
                f"spent {ratio:.0%} of the {expected:,.2f} expected after {elapsed}/{days} days",
                "Raise bids or broaden targeting, or release the unspent budget.",
            )
        )
    return found


def check_budget(plan: BudgetPlan) -> GovernanceResult:
    """Sanity-check an allocation; ``passed`` is False when any check is critical."""
    total = sum(v for v in plan.allocation.values() if v > 0)
    found: list[Violation] = []
    if total > plan.budget * (1 + plan.tolerance):
        found.append(
            _violation(
                "over_budget",
                "critical",
                "allocation",
                f"the allocation totals {total:,.2f}, over the {plan.budget:,.2f} budget",
                f"Remove {total - plan.budget:,.2f} from the allocation.",
            )
        )
    elif total < plan.budget * (1 - max(plan.tolerance, 0.05)):
        found.append(
            _violation(
                "under_budget",
                "warning",
                "allocation",
                f"the allocation totals {total:,.2f}, {plan.budget - total:,.2f} under the budget",
                "Allocate the rest or state why it is held back.",
            )
        )
    found += _retailer_checks(plan, total)
    found += _pacing_checks(plan, total)
    order = {"critical": 0, "warning": 1, "info": 2}
    found.sort(key=lambda v: order[v.severity])
    return GovernanceResult(
        passed=not any(v.severity == "critical" for v in found), violations=found, packs=["budget"]
    )
