"""The plan report, Markdown and self-contained HTML (plots inlined), written from the final state.

One view model feeds both templates, so the two formats always tell the same story; each format
has its own Jinja template (the HTML one autoescaped), so neither is derived from the other.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from rmnlora.planner.state import human_of, reflections_of, results_of
from rmnlora.schemas.brief import CampaignBrief
from rmnlora.schemas.phases import CleanRoomCheck

_ENV = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html.j2"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _money(value: float | None, currency: str) -> str:
    return "n/a" if value is None else f"{float(value):,.0f} {currency}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{float(value):.1%}"


def _num(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{float(value):.{digits}f}"


def _clean_room_line(check: CleanRoomCheck | None) -> str:
    if check is None:
        return "not checked"
    if check.status != "checked":
        return f"{check.status}" + (f" ({check.detail})" if check.detail else "")
    small = [f"{a.retailer}/{a.audience}" for a in check.audiences if not a.passed]
    reached = ", ".join(
        f"{a.retailer}/{a.audience} {a.reach:,.0f}"
        for a in check.audiences
        if a.passed and a.reach is not None
    )
    return (
        "checked"
        + (f"; reach {reached}" if reached else "")
        + (f"; below the aggregation minimum: {', '.join(small)}" if small else "")
    )


def view_model(state: dict[str, Any], brief: CampaignBrief) -> dict[str, Any]:
    """Everything the templates show, as plain strings and lists."""
    results = results_of(state)
    cur = brief.currency
    # The objective's unit: money for sales objectives, counts for clicks and reach.
    unit = {"clicks": "clicks", "reach": "impressions"}.get(brief.objective, cur)

    def outcome(value: float | None) -> str:
        return _money(value, unit)

    harmonized, optimized, measured = results.harmonize, results.optimize, results.measure
    created, governed = results.create, results.govern
    allocation = optimized.allocation if optimized else None
    design = measured.design if measured else None

    data_rows = [
        {
            "retailer": s.retailer,
            "rows_in": f"{s.rows_in:,}",
            "accepted": f"{s.rows_accepted:,}",
            "quarantined": f"{s.rows_quarantined:,}",
            "reasons": ", ".join(f"{k} {v}" for k, v in sorted(s.quarantine_reasons.items())) or "none",
            "spend": _money(s.totals.spend, cur),
            "sales": _money(s.totals.attributed_sales, cur),
        }
        for s in (harmonized.summaries if harmonized else [])
    ]
    lines = [
        {
            "id": line.id,
            "spend": _money(line.spend, cur),
            "share": _pct(line.share),
            "predicted": outcome(line.predicted_outcome),
            "roas": _num(line.roas),
            "mroas": _num(line.marginal_roas),
            "extrapolates": "yes: " + (line.extrapolation or "") if line.extrapolates else "no",
        }
        for line in sorted(allocation.lines if allocation else [], key=lambda item: -item.spend)
    ]
    interval = allocation.predicted_interval if allocation else None
    comparisons = [
        {
            "name": c.name,
            "predicted": outcome(c.predicted_outcome),
            "lift": _pct(c.lift),
            "feasible": "yes" if c.feasible else "no",
        }
        for c in (allocation.comparisons if allocation else [])
    ]
    table = optimized.scenarios if optimized else None
    scenario_rows = [
        {
            "label": row.label + (" (chosen)" if i == 0 else ""),
            "status": row.status,
            "spend": _money(row.spend, cur),
            "outcome": outcome(row.outcome),
            "roas": _num(row.roas),
            "mroas": _num(row.marginal_roas),
            "cost": _num(row.cost_per_outcome, 4),
            "change": "n/a"
            if row.spend_change is None
            else f"{row.spend_change:+,.0f} {cur} spend, {row.outcome_change or 0:+,.0f} outcome",
            "reason": row.reason or "",
        }
        for i, row in enumerate(table.rows if table else [])
    ]
    flight = optimized.flighting if optimized else None
    retailer_of = {line.id: line.retailer for line in (allocation.lines if allocation else [])}
    flight_retailers = sorted(set(retailer_of.values()))
    week_rows = []
    for week in flight.week_totals if flight else []:
        spend_by: dict[str, float] = {}
        for cell in flight.cells if flight else []:
            if cell.week == week.week:
                name = retailer_of.get(cell.line_id, "?")
                spend_by[name] = spend_by.get(name, 0.0) + cell.spend
        week_rows.append(
            {
                "week": week.week + 1,
                "spend": _money(week.spend, cur),
                "share": _pct(week.share),
                "by_retailer": [_money(spend_by.get(r, 0.0), cur) for r in flight_retailers],
            }
        )
    composed = {
        c.name.removeprefix("adapters:"): f"{c.detail} ({c.status})"
        for c in (created.components if created else [])
        if c.name.startswith("adapters:")
    }
    creative = []
    for copy in governed.copies if governed else []:
        chosen = copy.chosen
        creative.append(
            {
                "target": f"{copy.retailer} / {copy.ad_format}",
                "source": copy.source,
                "adapters": composed.get(
                    copy.retailer, "none (template copy)" if copy.source == "template" else "n/a"
                ),
                "headline": chosen.copy_text.headline if chosen else "",
                "body": chosen.copy_text.body if chosen else "",
                "cta": chosen.copy_text.cta if chosen else "",
                "verdict": "passed" if copy.passed else "FAILED",
                "violations": [
                    f"[{v.severity}] {v.rule_id}: {v.message}"
                    for v in (chosen.governance.violations if chosen else [])
                ],
            }
        )
    trail = [
        {
            "phase": r.phase.value,
            "decision": r.decision,
            "confidence": _num(r.confidence),
            "threshold": _num(r.threshold),
            "rationale": r.rationale,
            "risks": [f"[{k.severity}] {k.factor} (p={k.probability:.2f}): {k.mitigation}" for k in r.risks],
            "biases": [f"{b.type.value}: {b.note}" for b in r.biases],
            "frames": [f"{f.frame}: {f.conclusion}" for f in r.alternate_frames],
            "memory": [
                f"{m.scenario_id} (similarity {m.similarity:.2f}, outcome {m.outcome})" for m in r.memory_refs
            ],
        }
        for r in reflections_of(state)
    ]
    exploration = optimized.exploration if optimized else None
    explore_rows = [
        {
            "id": arm.id,
            "spend": _money(arm.spend, cur),
            "share": _pct(arm.share),
            "mean": _num(arm.posterior_mean_return),
            "std": _num(arm.posterior_std_return),
            "days": arm.days_of_history,
        }
        for arm in (exploration.arms if exploration else [])
    ]
    budget = governed.budget if governed else None
    coverage = harmonized.coverage if harmonized else None
    infeasibility = allocation.infeasibility if allocation else None
    problems = list(design.problems) if design else []
    if measured and measured.error:
        problems.append(measured.error)
    return {
        "title": f"Plan: {brief.name}",
        "status": state.get("status", "unknown"),
        "run_id": state.get("run_id", ""),
        "brief": {
            "brand": brief.brand,
            "budget": _money(brief.budget, cur),
            "objective": brief.objective,
            "flight": f"{brief.flight.start} to {brief.flight.end} ({brief.flight.days} days)",
            "retailers": ", ".join(r.name for r in brief.retailers),
            "roas_floor": _num(brief.constraints.roas_floor),
        },
        "blocked_reasons": state.get("blocked_reasons", []),
        "human": human_of(state),
        "data_rows": data_rows,
        "harmonize_errors": [f"{k}: {v}" for k, v in (harmonized.errors if harmonized else {}).items()],
        "coverage": {
            "days": coverage.days if coverage else 0,
            "first": coverage.first if coverage else None,
            "last": coverage.last if coverage else None,
        },
        "plots": [p for p in (optimized.plots if optimized else []) if Path(p).is_file()],
        "optimizer_error": optimized.error if optimized else None,
        "allocation_status": allocation.status if allocation else None,
        "lines": lines,
        "predicted": outcome(allocation.predicted_outcome if allocation else None),
        "interval": f"{outcome(interval[0])} to {outcome(interval[1])}" if interval else "n/a",
        "roas": _num(allocation.roas if allocation else None),
        "binding": allocation.binding if allocation else [],
        "comparisons": comparisons,
        "scenario_rows": scenario_rows,
        "week_rows": week_rows,
        "flight_retailers": flight_retailers,
        "flight_note": (
            f"{flight.weeks} weeks, line totals as allocated, timed with the fitted adstock "
            f"(carry-over after the flight counted; certified gap {flight.kkt_gap:.1e})"
            if flight and flight.kkt_gap is not None
            else ""
        ),
        "scenario_before": (
            f"{_money(table.current_spend, cur)} spend, {outcome(table.current_outcome)} predicted"
            if table and table.current_spend is not None
            else "no current split given"
        ),
        "infeasibility": infeasibility.summary if infeasibility else None,
        "conflicts": [c.description for c in infeasibility.conflicts] if infeasibility else [],
        "notes": allocation.notes if allocation else [],
        "exploration": exploration,
        "explore_rows": explore_rows,
        "design": {
            "kind": design.kind if design else "none",
            "feasible": design.feasible if design else None,
            "duration": design.duration_days if design else None,
            "power": _num(design.power if design else None),
            "simulated_power": _num(design.simulated_power if design else None),
            "mde": _pct(design.mde if design else None),
            "simulated_mde": _pct(design.simulated_mde if design else None),
            "power_by_lift": [(_pct(p.lift), _num(p.power)) for p in design.power_by_lift] if design else [],
            "power_by_duration": [(p.days, _num(p.power)) for p in design.power_by_duration]
            if design
            else [],
            "treatment": ", ".join(design.treatment_markets) if design else "",
            "control": ", ".join(design.control_markets) if design else "",
            "problems": problems,
            "suggestions": design.suggestions if design else [],
        },
        "creative": creative,
        "creative_errors": created.errors if created else [],
        "budget_check": "passed" if budget and budget.passed else ("not run" if budget is None else "FAILED"),
        "budget_violations": [f"[{v.severity}] {v.message}" for v in (budget.violations if budget else [])],
        "clean_room": _clean_room_line(governed.clean_room if governed else None),
        "trail": trail,
        "timings": {k: f"{v:.2f}s" for k, v in (state.get("timings") or {}).items()},
    }


def write_report(state: dict[str, Any], out_dir: Path, brief: CampaignBrief) -> dict[str, str]:
    """Write report.md, report.html and plan.json to ``out_dir``; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    view = view_model(state, brief)
    images = {p: base64.b64encode(Path(p).read_bytes()).decode() for p in view["plots"]}
    paths = {
        "markdown": out_dir / "report.md",
        "html": out_dir / "report.html",
        "json": out_dir / "plan.json",
    }
    paths["markdown"].write_text(_ENV.get_template("report.md.j2").render(**view), encoding="utf-8")
    paths["html"].write_text(
        _ENV.get_template("report.html.j2").render(**view, images=images), encoding="utf-8"
    )
    plan = {
        "run_id": state.get("run_id"),
        "status": state.get("status"),
        "blocked_reasons": state.get("blocked_reasons", []),
        "results": state.get("results", {}),
        "reflections": state.get("reflections", []),
    }
    paths["json"].write_text(json.dumps(plan, indent=2, default=str), encoding="utf-8")
    return {kind: str(path) for kind, path in paths.items()}
