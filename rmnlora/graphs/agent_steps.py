"""The five agent steps of the planner. Each turns state into agent inputs and the output into JSON.

``changes`` are what the reflection asked for on a revise (or a reviewer on an edit); each step
applies only the keys it knows and records which it applied, so a revision is never silent.
"""

from __future__ import annotations

import datetime as dt
import shutil
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

from rmnlora.graphs.services import PlannerServices
from rmnlora.graphs.state import PlannerState
from rmnlora.graphs.steps import _out_dir, _result, brief_of, load_events

# The revision keys each step knows how to apply; a revise asking only for others goes to a person.
REVISABLE: dict[str, frozenset[str]] = {
    "harmonize": frozenset(),
    "optimize": frozenset({"bootstrap", "cap_at_observed"}),
    "measure": frozenset({"simulations", "design", "switchback_block_days", "carryover_days"}),
    "create": frozenset({"candidates", "regenerate"}),
    "govern": frozenset(),
}


def harmonize(state: PlannerState, services: PlannerServices, changes: dict[str, Any]) -> dict[str, Any]:
    from rmnlora.agents.harmonizer import HarmonizeError, MappingError
    from rmnlora.agents.harmonizer import harmonize as run_harmonizer
    from rmnlora.schemas.harmonize import HarmonizeRequest

    brief = brief_of(state)
    events_dir = _out_dir(state) / "harmonized"
    if events_dir.exists():  # a re-run (or reused --out) must never plan on an earlier run's rows
        shutil.rmtree(events_dir)
    summaries: list[dict[str, Any]] = []
    errors: dict[str, str] = {}
    for retailer in brief.retailers:
        if not retailer.data:
            errors[retailer.name] = "the brief lists no data files for this retailer"
            continue
        request = HarmonizeRequest(
            inputs=retailer.data,
            retailer=retailer.name,
            mapping=retailer.mapping,
            out=events_dir,
            target_currency=brief.currency,
        )
        try:
            summaries.append(run_harmonizer(request).model_dump(mode="json"))
        except (HarmonizeError, MappingError, FileNotFoundError, ValueError) as exc:
            errors[retailer.name] = str(exc)
    harmonized = {"events_dir": str(events_dir), "summaries": summaries}
    dates = load_events({**state, "results": {"harmonize": harmonized}})
    coverage: dict[str, Any] = {"days": 0, "first": None, "last": None}
    if dates.height:
        first, last = cast(dt.date, dates["event_date"].min()), cast(dt.date, dates["event_date"].max())
        coverage = {"days": (last - first).days + 1, "first": str(first), "last": str(last)}
    return {
        "events_dir": str(events_dir),
        "summaries": summaries,
        "errors": errors,
        "coverage": coverage,
        "applied_changes": {},
    }


def optimize(state: PlannerState, services: PlannerServices, changes: dict[str, Any]) -> dict[str, Any]:
    from rmnlora.agents.optimizer import allocate_budget, build_problem, fit_response_curves
    from rmnlora.agents.optimizer.plots import plot_allocation
    from rmnlora.agents.optimizer.problem import OUTCOME_FOR_OBJECTIVE

    brief = brief_of(state)
    events = load_events(state)
    outcome = OUTCOME_FOR_OBJECTIVE[brief.objective]
    bootstrap = int(changes.get("bootstrap", 200))
    applied: dict[str, Any] = {"bootstrap": bootstrap} if "bootstrap" in changes else {}
    if events.height == 0:
        return {
            "error": "no harmonized history to fit response curves on",
            "curves": [],
            "applied_changes": applied,
        }
    curves = fit_response_curves(events, outcome=outcome, seed=0, bootstrap=bootstrap)
    sales_curves = None
    if outcome != "attributed_sales" and brief.constraints.roas_floor is not None:
        sales_curves = fit_response_curves(events, outcome="attributed_sales", seed=0, bootstrap=bootstrap)
    try:
        problem = build_problem(brief, curves, sales_curves=sales_curves)
    except ValueError as exc:
        return {
            "error": str(exc),
            "curves": [c.model_dump(mode="json") for c in curves],
            "applied_changes": applied,
        }
    caps = _observed_caps(problem, changes.get("cap_at_observed") or [])
    if caps:
        lines = [
            line.model_copy(update={"max_spend": caps[line.id]}) if line.id in caps else line
            for line in problem.lines
        ]
        note = "revision: capped at observed max spend over the flight: " + ", ".join(sorted(caps))
        problem = problem.model_copy(update={"lines": lines, "notes": [*problem.notes, note]})
        applied["cap_at_observed"] = sorted(caps)
    allocation = allocate_budget(problem)
    exploration = _explore_thin_lines(brief, problem, curves, events, outcome)
    solved = allocation.status in ("optimal", "optimal_inaccurate")
    plots = plot_allocation(problem, allocation, _out_dir(state) / "plots") if solved else []
    history = _line_history(events, outcome)
    return {
        "curves": [c.model_dump(mode="json") for c in curves],
        "problem": problem.model_dump(mode="json"),
        "allocation": allocation.model_dump(mode="json"),
        "history": history,
        "plots": [str(p) for p in plots],
        "exploration": exploration,
        "applied_changes": applied,
    }


def _explore_thin_lines(
    brief: Any, problem: Any, curves: list[Any], events: Any, outcome: str
) -> dict[str, Any] | None:
    """Thompson-sampling split of the budget set aside for lines whose history is too thin to fit.

    The set-aside is what the brief commits to retailers without a usable curve (build_problem
    removes it from the optimised budget); the priors used are stated in the split.
    """
    from rmnlora.agents.optimizer import daily_history, thompson_split
    from rmnlora.schemas.optimizer import BanditArm, HistoryPoint

    wanted = {r.name for r in brief.retailers}
    thin = [c for c in curves if not c.ok and c.retailer in wanted]
    reserve = brief.budget - problem.budget
    if not thin:
        return None
    if reserve <= 0:
        return {
            "status": "not_funded",
            "lines": [c.line_id for c in thin],
            "note": "lines without a usable curve get no spend: give their retailer a min_spend "
            "or must_spend to fund exploration",
        }
    daily = daily_history(events, ("retailer", "placement"), outcome)
    arms = []
    for fit in thin:
        rows = daily.filter((daily["retailer"] == fit.retailer) & (daily["placement"] == fit.placement))
        history = [HistoryPoint(spend=r["spend"], outcome=r["outcome"]) for r in rows.iter_rows(named=True)]
        arms.append(
            BanditArm(id=fit.line_id, retailer=fit.retailer, placement=fit.placement, history=history)
        )
    split = thompson_split(arms, reserve, seed=0)
    return {"status": "split", **split.model_dump(mode="json")}


def _observed_caps(problem: Any, line_ids: list[str]) -> dict[str, float]:
    """Flight spend at each named line's highest observed daily spend (a conservative revision)."""
    caps: dict[str, float] = {}
    for line in problem.lines:
        if line.id in line_ids and line.curve is not None and line.curve.spend_max:
            cap = max(line.min_spend, line.curve.spend_max * problem.days)
            caps[line.id] = cap if line.max_spend is None else min(cap, line.max_spend)
    return caps


def _line_history(events: Any, outcome: str) -> dict[str, dict[str, float]]:
    """Full-history and last-four-weeks ROAS per line: what the recency and sunk-cost checks read."""
    import polars as pl

    last = events["event_date"].max()
    recent_start = last - dt.timedelta(days=27)
    grouped = (
        events.with_columns((pl.col("retailer") + "/" + pl.col("placement")).alias("line"))
        .group_by("line")
        .agg(
            pl.col("spend").sum().alias("spend"),
            pl.col("attributed_sales").sum().alias("sales"),
            pl.col("spend").filter(pl.col("event_date") >= recent_start).sum().alias("recent_spend"),
            pl.col("attributed_sales")
            .filter(pl.col("event_date") >= recent_start)
            .sum()
            .alias("recent_sales"),
            pl.len().alias("rows"),
        )
    )
    return {
        row["line"]: {
            "history_roas": row["sales"] / row["spend"] if row["spend"] else 0.0,
            "recent_roas": row["recent_sales"] / row["recent_spend"] if row["recent_spend"] else 0.0,
            "rows": row["rows"],
            "spend": row["spend"],
        }
        for row in grouped.iter_rows(named=True)
    }


def measure(state: PlannerState, services: PlannerServices, changes: dict[str, Any]) -> dict[str, Any]:
    from rmnlora.agents.measurement import design_experiment, request_from_brief

    brief = brief_of(state)
    events = load_events(state)
    allocation = _result(state, "optimize").get("allocation") or {}
    total = allocation.get("total_spend") or None
    request = request_from_brief(brief, events, allocation_total=total)
    known = set(type(request).model_fields)
    applied = {k: v for k, v in changes.items() if k in known}
    if applied:
        request = request.model_copy(update=applied)
    try:
        design = design_experiment(request)
    except ValueError as exc:
        return {
            "error": str(exc),
            "request": request.model_dump(mode="json", exclude={"history"}),
            "applied_changes": applied,
        }
    return {
        "request": request.model_dump(mode="json", exclude={"history"}),
        "design": design.model_dump(mode="json"),
        "applied_changes": applied,
    }


def create(state: PlannerState, services: PlannerServices, changes: dict[str, Any]) -> dict[str, Any]:
    from rmnlora.agents.creative.formats import FormatSpecError, load_format_specs
    from rmnlora.agents.creative.generate import CreativeError, generate_copy
    from rmnlora.agents.governance import PolicyPackError
    from rmnlora.schemas.creative import CopyRequest

    brief = brief_of(state)
    k = int(changes.get("candidates", brief.creative.candidates))
    if "regenerate" in changes:
        k = min(10, max(k, brief.creative.candidates) * 2)
    applied = {"candidates": k} if {"candidates", "regenerate"} & set(changes) else {}
    jobs = []
    missing: list[dict[str, Any]] = []
    for retailer in brief.retailers:
        try:
            formats = retailer.formats or sorted(load_format_specs(retailer.name))[:1]
        except FormatSpecError as exc:
            missing.append(_no_copy(retailer.name, ", ".join(retailer.formats) or "(default)", str(exc)))
            continue
        model = services.chat_model(
            tenant=brief.tenant, retailer=retailer.name, brand=brief.brand, task="creative"
        )
        for ad_format in formats:
            request = CopyRequest(
                retailer=retailer.name,
                brand=brief.brand,
                ad_format=ad_format,
                product=brief.creative.product,
                key_message=brief.creative.key_message,
                tone=brief.creative.tone,
                claims=brief.creative.claims,
                k=k,
                tenant=brief.tenant,
            )
            jobs.append((request, model))

    def write(job: tuple[Any, Any]) -> tuple[dict[str, Any], str | None]:
        request, model = job
        try:
            return generate_copy(request, model).model_dump(mode="json"), None
        except CreativeError as exc:  # said in the result and the gate; the copy shown is labelled template
            label = f"{request.retailer}/{request.ad_format}: {exc}"
            return generate_copy(request, None).model_dump(mode="json"), label
        except (FormatSpecError, PolicyPackError) as exc:  # an unknown format: no copy, and the gate sees it
            return _no_copy(request.retailer, request.ad_format, str(exc)), str(exc)

    # Formats run concurrently so the runtime's batching engine serves them as one mixed batch.
    with ThreadPoolExecutor(max_workers=max(1, len(jobs))) as pool:
        outcomes = list(pool.map(write, jobs))
    return {
        "copies": [copy for copy, _ in outcomes] + missing,
        "errors": [error for _, error in outcomes if error] + [m["notes"][0] for m in missing],
        "applied_changes": applied,
    }


def _no_copy(retailer: str, ad_format: str, reason: str) -> dict[str, Any]:
    """A creative result with no candidates, carrying why: shown in the report and counted at the gate."""
    return {
        "retailer": retailer,
        "ad_format": ad_format,
        "source": "none",
        "candidates": [],
        "ranking": "",
        "notes": [f"{retailer}/{ad_format}: no copy written: {reason}"],
    }


def govern(state: PlannerState, services: PlannerServices, changes: dict[str, Any]) -> dict[str, Any]:
    from rmnlora.agents.governance import budget_plan_from_brief, check_budget

    brief = brief_of(state)
    allocation = _result(state, "optimize").get("allocation") or {}
    by_retailer: dict[str, float] = {}
    for line in allocation.get("lines", []):
        by_retailer[line["retailer"]] = by_retailer.get(line["retailer"], 0.0) + float(line["spend"])
    budget = check_budget(budget_plan_from_brief(brief, by_retailer)) if by_retailer else None
    copies = []
    for result in _result(state, "create").get("copies", []):
        best = (result.get("candidates") or [None])[0]
        copies.append(
            {
                "retailer": result["retailer"],
                "ad_format": result["ad_format"],
                "source": result["source"],
                "chosen": best,
                "passed": bool(best and best["governance"]["passed"]),
                "alternatives_passing": sum(
                    1 for c in result.get("candidates", []) if c["governance"]["passed"]
                ),
            }
        )
    clean_room = _clean_room_status(services)
    return {
        "budget": budget.model_dump(mode="json") if budget else None,
        "copies": copies,
        "clean_room": clean_room,
        "applied_changes": {},
    }


def _clean_room_status(services: PlannerServices) -> dict[str, Any]:
    """Whether audience checks could run against a clean room; unconfigured is said, never faked."""
    endpoint = services.settings.clean_room.endpoint
    if not endpoint:
        services.component_status["clean_room"] = {
            "status": "unconfigured",
            "detail": "no clean_room.endpoint: audience reach and holdout sizes are not verified",
        }
        return {"status": "unconfigured"}
    services.component_status["clean_room"] = {"status": "ok", "detail": endpoint}
    return {"status": "configured", "endpoint": endpoint}
