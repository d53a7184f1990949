"""Scenarios side by side: the same curves and constraints asked different questions.

Why a table: a media buyer rarely has a fixed budget handed down; they ask "what does the budget
buy", "how far can we scale before ROAS drops below 3", "where does the next dollar stop paying
for itself", "what is the least spend that makes the sales goal". Meridian's optimisation summary
and Robyn's allocator scenarios answer these on one page; so does this, with the current split as
the "before" column so each row reads as a change.
"""

from __future__ import annotations

import numpy as np

from rmnlora.agents.optimizer.allocate import allocate_budget, resolve_curves
from rmnlora.agents.optimizer.program import problem_arrays
from rmnlora.schemas.optimizer import (
    AllocationProblem,
    AllocationResult,
    Scenario,
    ScenarioRow,
    ScenarioTable,
)

MAX_SCENARIOS = 12


def default_scenarios(problem: AllocationProblem) -> list[Scenario]:
    """What a planner shows unasked: the fixed budget, break-even at the margin (marginal ROAS 1),
    and the ROAS floor as a target when the brief sets one."""
    scenarios = [Scenario()]
    if _has_sales(problem):
        scenarios.append(Scenario(kind="target_mroas", target=1.0, name="break-even at the margin"))
        if problem.roas_floor is not None:
            scenarios.append(
                Scenario(kind="target_roas", target=problem.roas_floor, name="ROAS floor as target")
            )
    return scenarios


def _has_sales(problem: AllocationProblem) -> bool:
    return problem.objective in ("attributed_sales", "incremental_sales") or all(
        line.sales_curve is not None for line in problem.lines
    )


def _current(problem: AllocationProblem) -> tuple[float | None, float | None]:
    """The current split's spend and predicted outcome (unscaled: 'before' is what runs today)."""
    spends = [line.current_spend for line in problem.lines]
    if all(s is None for s in spends):
        return None, None
    arr = problem_arrays(problem)
    x = np.array([s or 0.0 for s in spends])
    return float(x.sum()), float(arr.outcomes(x).sum())


def _row(result: AllocationResult, current_spend: float | None, current_outcome: float | None) -> ScenarioRow:
    scenario = result.scenario
    solved = result.predicted_outcome is not None
    spend = result.total_spend if solved else None
    outcome = result.predicted_outcome
    by_retailer: dict[str, float] = {}
    weighted = 0.0
    for line in result.lines:
        by_retailer[line.retailer] = by_retailer.get(line.retailer, 0.0) + line.spend
        if line.marginal_roas is not None:
            weighted += line.marginal_roas * line.spend
    mroas = weighted / result.total_spend if solved and result.total_spend > 0 and weighted else None
    reason = None
    if result.infeasibility is not None:
        reason = (
            "; ".join(c.description for c in result.infeasibility.conflicts) or result.infeasibility.summary
        )
    elif scenario.kind in ("target_roas", "target_mroas") and "budget" in result.binding:
        still = (
            "overall ROAS is still above"
            if scenario.kind == "target_roas"
            else "lines still return more than"
        )
        reason = f"the budget (the most to spend) binds first: {still} the target {scenario.target:g} there"
    elif scenario.kind == "target_outcome" and outcome is not None and "outcome_target" not in result.binding:
        reason = f"the minimums force more spend than the target needs: they buy {outcome:,.0f}"
    return ScenarioRow(
        scenario=scenario,
        label=scenario.label,
        status=result.status,
        spend=spend,
        outcome=outcome,
        roas=result.roas,
        marginal_roas=mroas,
        cost_per_outcome=spend / outcome if spend is not None and outcome else None,
        spend_by_retailer=by_retailer,
        spend_change=spend - current_spend if spend is not None and current_spend is not None else None,
        outcome_change=outcome - current_outcome
        if outcome is not None and current_outcome is not None
        else None,
        binding=result.binding,
        reason=reason,
    )


def compare_scenarios(
    problem: AllocationProblem,
    scenarios: list[Scenario] | None = None,
    *,
    seed: int = 0,
    solved: AllocationResult | None = None,
) -> ScenarioTable:
    """Allocate under each scenario (default: :func:`default_scenarios`) and tabulate them.

    ``problem.budget`` is the fixed budget of that scenario and the most any target scenario may
    spend. Curves are fitted once, so every row reads the same curves. ``solved``, an allocation of
    this problem already made, is reused for its scenario's row instead of solving it again.
    """
    scenarios = default_scenarios(problem) if scenarios is None else scenarios
    if not scenarios:
        raise ValueError("compare_scenarios needs at least one scenario")
    if len(scenarios) > MAX_SCENARIOS:
        raise ValueError(f"at most {MAX_SCENARIOS} scenarios at once, got {len(scenarios)}")
    resolved = resolve_curves(problem, seed)
    current_spend, current_outcome = _current(resolved)
    results = [
        solved
        if solved is not None and solved.scenario == scenario
        else allocate_budget(resolved.model_copy(update={"scenario": scenario}), seed=seed)
        for scenario in scenarios
    ]
    return ScenarioTable(
        objective=problem.objective,
        currency=problem.currency,
        current_spend=current_spend,
        current_outcome=current_outcome,
        rows=[_row(result, current_spend, current_outcome) for result in results],
        results=results,
    )


def format_table(table: ScenarioTable) -> str:
    """The table as plain text (the CLI prints it; the plan report renders the same rows)."""
    head = (
        f"{'scenario':<28} {'status':<11} {'spend':>14} {'outcome':>14} {'ROAS':>7} {'mROAS':>7} "
        f"{'cost/unit':>10}"
    )
    lines = [head, "-" * len(head)]
    if table.current_spend is not None:
        lines.append(
            f"{'current split (before)':<28} {'':<11} {table.current_spend:>14,.0f} "
            f"{table.current_outcome or 0:>14,.0f}"
        )

    def number(value: float | None, spec: str) -> str:
        return format(value, spec) if value is not None else "—"

    for row in table.rows:
        lines.append(
            f"{row.label[:28]:<28} {row.status:<11} {number(row.spend, '>14,.0f')} "
            f"{number(row.outcome, '>14,.0f')} {number(row.roas, '>7.3f')} "
            f"{number(row.marginal_roas, '>7.3f')} {number(row.cost_per_outcome, '>10.4f')}"
        )
        if row.reason:
            lines.append(f"    why: {row.reason}")
    return "\n".join(lines)
