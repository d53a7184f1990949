"""From each agent's JSON result to the measured signals its reflection assesses.

Only numbers the agents measured go in; where an agent could not run, its error becomes a
signal (no data, infeasible, model down) rather than a default that looks healthy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from rmnlora.schemas.brief import CampaignBrief
from rmnlora.schemas.reflection import (
    ComponentStatus,
    CreateSignals,
    GovernSignals,
    HarmonizeSignals,
    LineSignals,
    MeasureSignals,
    OptimizeSignals,
    PhaseSignals,
    Violation,
)

REQUIRED_HISTORY_DAYS = 28


def _components(components: Sequence[Mapping[str, Any]], names: Sequence[str]) -> list[ComponentStatus]:
    return [
        ComponentStatus(name=str(c["name"]), status=c["status"], detail=str(c.get("detail", "")))
        for c in components
        if c.get("name") in names
    ]


def harmonize_signals(
    brief: CampaignBrief, result: Mapping[str, Any], components: Sequence[Mapping[str, Any]] = ()
) -> HarmonizeSignals:
    summaries = result.get("summaries", [])
    reasons: dict[str, int] = {}
    for summary in summaries:
        for code, count in summary.get("quarantine_reasons", {}).items():
            reasons[code] = reasons.get(code, 0) + int(count)
    return HarmonizeSignals(
        rows_in=sum(int(s["rows_in"]) for s in summaries),
        rows_quarantined=sum(int(s["rows_quarantined"]) for s in summaries),
        quarantine_reasons=reasons,
        coverage_days=int((result.get("coverage") or {}).get("days", 0)),
        required_days=REQUIRED_HISTORY_DAYS,
        retailers_expected=[r.name for r in brief.retailers],
        retailers_with_data=[s["retailer"] for s in summaries if int(s["rows_accepted"]) > 0],
        current_spend_by_retailer={r.name: r.current_spend for r in brief.retailers if r.current_spend},
        components=_components(components, ("memory",)),
    )


def optimize_signals(
    brief: CampaignBrief, result: Mapping[str, Any], components: Sequence[Mapping[str, Any]] = ()
) -> OptimizeSignals:
    allocation = result.get("allocation")
    if not allocation:
        return OptimizeSignals(
            solver_status="error",
            budget=brief.budget,
            roas_floor=brief.constraints.roas_floor,
            components=[
                ComponentStatus(name="optimizer", status="down", detail=str(result.get("error", "")))
            ],
        )
    problem = result.get("problem") or {}
    days = int(problem.get("days", brief.flight.days))
    curves = {line["id"]: line.get("curve") or {} for line in problem.get("lines", [])}
    currents = {line["id"]: line.get("current_spend") for line in problem.get("lines", [])}
    history = result.get("history") or {}
    lines = []
    for line in allocation.get("lines", []):
        curve = curves.get(line["id"], {})
        observed = history.get(f"{line['retailer']}/{line['placement']}", {})
        lines.append(
            LineSignals(
                name=line["id"],
                planned_spend=max(0.0, float(line["spend"])),
                current_spend=float(currents.get(line["id"]) or 0.0),
                observed_max_spend=float(curve.get("spend_max") or 0.0) * days,
                # Attributed sales only: for clicks or reach the outcome is not money.
                predicted_return=max(0.0, float(line.get("predicted_sales") or 0.0)),
                marginal_roas=max(0.0, float(line.get("marginal_roas") or 0.0)),
                fit_r2=curve.get("r2"),
                data_points=int(curve.get("n_obs") or observed.get("rows", 0)),
                history_roas=observed.get("history_roas"),
                recent_roas=observed.get("recent_roas"),
            )
        )
    status = str(allocation.get("status", "error"))
    solver_status = (
        "infeasible" if status == "infeasible" else str(allocation.get("solver_status", status)).lower()
    )
    return OptimizeSignals(
        solver_status=solver_status,
        lines=lines,
        budget=brief.budget,
        roas_floor=brief.constraints.roas_floor,
        predicted_roas=allocation.get("roas"),
        binding_constraints=list(allocation.get("binding", [])),
        components=_components(components, ("memory",)),
    )


def measure_signals(
    brief: CampaignBrief, result: Mapping[str, Any], components: Sequence[Mapping[str, Any]] = ()
) -> MeasureSignals:
    design = result.get("design")
    if not design:
        return MeasureSignals(
            power=0.0,
            target_power=brief.measurement.power,
            mde=1.0,
            expected_lift=brief.measurement.expected_lift,
            feasible=False,
            problems=[str(result.get("error", "no experiment design"))],
            max_duration_days=brief.flight.days,
        )
    return MeasureSignals(
        design=str(design.get("kind", "geo")),
        power=float(design.get("power") or 0.0),
        target_power=float(design.get("target_power", brief.measurement.power)),
        mde=float(design.get("mde") if design.get("mde") is not None else 1.0),
        expected_lift=float(design.get("expected_lift", brief.measurement.expected_lift)),
        simulated_power=design.get("simulated_power"),
        simulations=int(design.get("simulations", 0)),
        duration_days=int(design.get("duration_days", 0)),
        max_duration_days=brief.flight.days,
        feasible=bool(design.get("feasible", False)),
        problems=list(design.get("problems", [])),
        components=_components(components, ("clean_room",)),
    )


# Governance speaks the ad-review scale; reflection weighs risks on its own scale.
GOVERNANCE_TO_RISK_SEVERITY = {"info": "low", "warning": "medium", "critical": "critical"}


def _violations(governance: Mapping[str, Any], target: str) -> list[Violation]:
    return [
        Violation(
            rule=v["rule_id"],
            severity=GOVERNANCE_TO_RISK_SEVERITY.get(v["severity"], v["severity"]),
            message=v.get("message", ""),
            target=target,
        )
        for v in governance.get("violations", [])
    ]


def create_signals(
    brief: CampaignBrief, result: Mapping[str, Any], components: Sequence[Mapping[str, Any]] = ()
) -> CreateSignals:
    copies = result.get("copies", [])
    violations: list[Violation] = []
    for copy in copies:
        best = (copy.get("candidates") or [None])[0]
        if best is not None:
            violations += _violations(best["governance"], f"{copy['retailer']}/{copy['ad_format']}")
    statuses = _components(components, ("model",)) + [
        ComponentStatus(name=str(c["name"]), status=c["status"], detail=str(c.get("detail", "")))
        for c in components
        if str(c.get("name", "")).startswith("adapters:")
    ]
    return CreateSignals(
        violations=violations,
        candidates=sum(len(c.get("candidates", [])) for c in copies),
        formats_expected=len(copies),
        formats_covered=sum(1 for c in copies if c.get("candidates")),
        template_fallback_used=any(c.get("source") == "template" for c in copies),
        model_available=any(s.name == "model" and s.status == "ok" for s in statuses),
        components=statuses,
    )


def govern_signals(
    brief: CampaignBrief, result: Mapping[str, Any], components: Sequence[Mapping[str, Any]] = ()
) -> GovernSignals:
    violations: list[Violation] = []
    for copy in result.get("copies", []):
        chosen = copy.get("chosen")
        if chosen is not None:
            violations += _violations(chosen["governance"], f"{copy['retailer']}/{copy['ad_format']}")
    budget = result.get("budget")
    if budget is not None:
        violations += _violations(budget, "budget")
    statuses = _components(components, ("clean_room", "model"))
    return GovernSignals(
        violations=violations,
        candidates=len(result.get("copies", [])),
        formats_expected=len(result.get("copies", [])),
        formats_covered=sum(1 for c in result.get("copies", []) if c.get("chosen")),
        template_fallback_used=any(c.get("source") == "template" for c in result.get("copies", [])),
        model_available=not any(s.name == "model" and s.status != "ok" for s in statuses),
        # No allocation (e.g. an infeasible brief a person let through) is not a budget within the brief.
        budget_within_brief=bool(budget is not None and budget.get("passed", False)),
        clean_room_checked=(result.get("clean_room") or {}).get("status") == "configured",
        components=statuses,
    )


_CONVERTERS = {
    "harmonize": harmonize_signals,
    "optimize": optimize_signals,
    "measure": measure_signals,
    "create": create_signals,
    "govern": govern_signals,
}


def signals_for(
    phase: str,
    brief: CampaignBrief,
    result: Mapping[str, Any],
    *,
    components: Sequence[Mapping[str, Any]] = (),
) -> PhaseSignals:
    try:
        converter = _CONVERTERS[phase]
    except KeyError as exc:
        raise ValueError(f"unknown phase {phase!r}; expected one of {', '.join(_CONVERTERS)}") from exc
    return cast(PhaseSignals, converter(brief, result, components))
