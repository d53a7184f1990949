"""From a campaign brief and fitted curves to an :class:`AllocationProblem`.

The brief speaks in retailers; the optimizer in line items (retailer × placement). This maps
retailer limits onto groups of lines, splits a retailer's current spend over its lines by their
historical spend, and scales nothing silently: every assumption lands in ``problem.notes``.
"""

from __future__ import annotations

from collections import defaultdict

from rmnlora.schemas.brief import CampaignBrief
from rmnlora.schemas.optimizer import AllocationProblem, CurveFit, LineItem, RetailerLimits

OUTCOME_FOR_OBJECTIVE = {
    "attributed_sales": "attributed_sales",
    "incremental_sales": "attributed_sales",
    "clicks": "clicks",
    "reach": "impressions",
}


def build_problem(
    brief: CampaignBrief, curves: list[CurveFit], *, sales_curves: list[CurveFit] | None = None
) -> AllocationProblem:
    """The allocation problem for this brief: its budget, objective, flight and constraints.

    ``curves`` predict the objective's outcome (attributed_sales, clicks, or impressions for
    reach); ``sales_curves`` (attributed_sales) are needed only when the objective is not a sales
    one and the brief sets a ROAS floor. Raises ValueError naming what does not fit together.
    """
    expected = OUTCOME_FOR_OBJECTIVE[brief.objective]
    wrong = sorted({c.outcome for c in curves if c.outcome != expected})
    if wrong:
        raise ValueError(
            f"objective '{brief.objective}' needs curves of '{expected}', got {', '.join(wrong)}"
        )
    sales_by_line = {c.line_id: c.params for c in (sales_curves or []) if c.ok}
    if brief.constraints.roas_floor is not None and expected != "attributed_sales":
        missing = [c.line_id for c in curves if c.ok and c.line_id not in sales_by_line]
        if missing:
            raise ValueError(
                f"constraints.roas_floor with objective '{brief.objective}' needs "
                f"attributed_sales curves (sales_curves) for: {', '.join(missing)}"
            )
    notes: list[str] = []
    plans = {r.name: r for r in brief.retailers}
    usable: dict[str, list[CurveFit]] = defaultdict(list)
    for fit in curves:
        if fit.retailer not in plans:
            notes.append(f"curve {fit.line_id} ignored: retailer '{fit.retailer}' is not in the brief")
        elif not fit.ok:
            notes.append(f"line {fit.line_id} has no usable curve ({fit.issue})")
        else:
            usable[fit.retailer].append(fit)

    budget = brief.budget
    unmodelled = [r.name for r in brief.retailers if r.name not in usable]
    for name in unmodelled:
        plan = plans[name]
        reserve = max(plan.min_spend, plan.current_spend or 0.0) if plan.must_spend else plan.min_spend
        if reserve > 0:
            budget -= reserve
            notes.append(
                f"retailer {name} has no usable curve: its committed {reserve:,.2f} is set aside "
                f"from the budget"
            )
        else:
            notes.append(f"retailer {name} has no usable curve: left to exploration (bandit)")
    if not usable:
        raise ValueError("no retailer in the brief has a usable response curve; nothing to optimize")
    if budget <= 0:
        raise ValueError(
            f"commitments to retailers without curves use up the whole budget {brief.budget:,.2f}"
        )

    lines: list[LineItem] = []
    limits: list[RetailerLimits] = []
    for name, fits in usable.items():
        plan = plans[name]
        total_hist = sum(f.mean_daily_spend for f in fits)
        for fit in fits:
            current = None
            if plan.current_spend is not None:
                weight = fit.mean_daily_spend / total_hist if total_hist > 0 else 1.0 / len(fits)
                current = plan.current_spend * weight
            lines.append(
                LineItem(
                    id=fit.line_id,
                    retailer=name,
                    placement=fit.placement,
                    curve=fit.params,
                    sales_curve=sales_by_line.get(fit.line_id),
                    current_spend=current,
                )
            )
        shares = [s for s in (plan.max_share, brief.constraints.max_share_per_retailer) if s is not None]
        must = None
        if plan.must_spend:
            must = plan.min_spend if plan.min_spend > 0 else plan.current_spend
            if not must:
                raise ValueError(
                    f"field 'retailers.{name}.must_spend' needs a positive min_spend or "
                    f"current_spend to say how much must be spent"
                )
        limits.append(
            RetailerLimits(
                name=name,
                min_spend=plan.min_spend,
                max_spend=plan.max_spend,
                max_share=min(shares) if shares else None,
                must_spend=must,
            )
        )
    if brief.objective == "incremental_sales":
        notes.append(
            "objective incremental_sales: no measured incrementality per line, so each line's "
            "incrementality factor is 1.0 (attributed = incremental) until an experiment sets it"
        )
    if brief.constraints.daily_cap is not None:
        cap_total = brief.constraints.daily_cap * brief.flight.days
        if cap_total < budget:
            notes.append(
                f"daily_cap {brief.constraints.daily_cap:,.2f} × {brief.flight.days} days = "
                f"{cap_total:,.2f} is below the budget; the plan spends only that much"
            )
            budget = cap_total
    return AllocationProblem(
        name=brief.name,
        budget=budget,
        currency=brief.currency,
        objective=brief.objective,
        days=brief.flight.days,
        spend_all=True,
        lines=lines,
        retailers=limits,
        roas_floor=brief.constraints.roas_floor,
        scenario=brief.scenario,
        notes=notes,
        unmodelled_retailers=unmodelled,
    )
