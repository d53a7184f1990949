"""The finished plan as a media buyer reads it in the browser: status, allocation, experiment, copy.

It reads the run's LangGraph state through the planner's typed readers (``results_of``,
``reflections_of``, ``human_of``) and the written report's view model (``view_model``), so the
page and ``report.md``/``report.html`` format every number the same way and never disagree. Where
the page needs numbers rather than strings (sortable tables, charts, the CSV), it reads the typed
result fields directly; nothing is recomputed except the response-curve points, which the result
carries only as curve parameters.

Every section says so when it is missing because the plan stopped earlier, and each is rendered
inside a guard: a broken or missing part of one run becomes a message on the page, never a
traceback in the browser.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st
from pydantic import ValidationError

from rmnlora.feedback import store
from rmnlora.planner.background import RunView
from rmnlora.planner.report import view_model
from rmnlora.planner.state import human_of, reflections_of, results_of
from rmnlora.schemas.brief import CampaignBrief
from rmnlora.schemas.creative import CopyCandidate
from rmnlora.schemas.feedback import CreativePrompt, FeedbackIn
from rmnlora.schemas.measurement import ExperimentDesign
from rmnlora.schemas.optimizer import AllocationResult, CurveParams, CurveTable
from rmnlora.schemas.phases import CreateResult, OptimizeResult, PlanResults
from rmnlora.ui import app_state

log = logging.getLogger(__name__)

PHASE_ORDER = ("harmonize", "optimize", "measure", "create", "govern")
CURVE_POINTS = 40
TOP_RISKS = 3
ANSWER_LAYOUT = "Headline: …\nBody: …\nCTA: …"


# --------------------------------------------------------------------------- entry point


def render_plan(view: RunView, *, tenant_id: str, brand_id: str | None) -> None:
    """Show a finished (completed or blocked) run: banner, then one tab per part of the plan.

    ``brand_id`` is the brand chosen on Home; copy feedback is recorded for it, and only when it
    is the plan's own brand (feedback trains that brand's copywriter).
    """
    values = view.values
    try:
        brief = CampaignBrief.model_validate(values.get("brief") or {})
        results = results_of(values)
        model = view_model(values, brief)
    except (ValueError, TypeError) as exc:  # pydantic's ValidationError is a ValueError
        log.exception("run %s: state could not be read", view.run_id)
        st.error(f"This run's plan could not be read: {exc}")
        return
    _guarded("status", lambda: _status_banner(view, model))
    allocation, experiment, copy, trail, downloads = st.tabs(
        ["Allocation", "Experiment", "Ad copy", "Reflection trail", "Downloads"]
    )
    with allocation:
        _guarded("allocation", lambda: _allocation_section(values, results, model, brief))
    with experiment:
        _guarded("experiment", lambda: _experiment_section(values, results, model))
    with copy:
        _guarded(
            "ad copy",
            lambda: _copy_section(view, results, model, brief, tenant_id=tenant_id, brand_id=brand_id),
        )
    with trail:
        _guarded("reflection trail", lambda: _trail_section(model))
    with downloads:
        _guarded("downloads", lambda: _downloads_section(view, results))


def _guarded(name: str, render: Callable[[], None]) -> None:
    """One section's failure is said on the page and logged; the other sections still show.

    Streamlit's own control flow (``st.stop``, reruns) derives from BaseException and passes.
    """
    try:
        render()
    except Exception as exc:
        log.exception("plan view: the %s section failed", name)
        st.error(f"The {name} section could not be shown: {type(exc).__name__}: {exc}")


# --------------------------------------------------------------------------- shared helpers


def _unit(brief: CampaignBrief) -> str:
    """The objective's unit, as the report names it: money for sales, counts for clicks and reach."""
    return {"clicks": "clicks", "reach": "impressions"}.get(brief.objective, brief.currency)


def _stopped_at(values: dict[str, Any]) -> str | None:
    """The phase where the plan stopped: a reviewer's rejection, else the last gate that decided."""
    human = human_of(values)
    if human is not None and human.action == "reject":
        return human.phase
    reflections = reflections_of(values)
    return reflections[-1].phase.value if reflections else None


def _missing(what: str, phase: str, values: dict[str, Any]) -> str:
    """Why a section is empty, in the buyer's words: which step never ran and where the plan stopped."""
    status = str(values.get("status") or "")
    at = _stopped_at(values)
    if status == "blocked" and at in PHASE_ORDER and PHASE_ORDER.index(phase) > PHASE_ORDER.index(at):
        return f"No {what}: the plan was blocked at {at}, before the {phase} step ran."
    if status == "blocked":
        return f"No {what}: the plan was blocked before the {phase} step finished."
    return f"No {what}: this plan has no {phase} result."


def _frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    """A table with its columns even when empty (so an empty section still shows its headings)."""
    return pd.DataFrame(rows, columns=columns)


# --------------------------------------------------------------------------- status


def _status_banner(view: RunView, model: dict[str, Any]) -> None:
    """Completed or blocked (with the reasons), the reviewer's answer, and the brief in one line.

    No title: the Plan page above it already names the run.
    """
    status = str(model["status"])
    if status == "blocked":
        reasons = "\n".join(f"- {reason}" for reason in model["blocked_reasons"]) or "- no reason recorded"
        st.error(f"**Blocked**: this plan stopped before it was finished.\n\n{reasons}")
    elif status == "completed":
        st.success("**Completed**: every step passed its gate.")
    else:
        st.warning(f"This run is **{view.status.replace('_', ' ')}**: what follows is what it has so far.")
    human = model["human"]
    if human is not None:
        note = f": “{human.note}”" if human.note else ""
        ignored = (
            f" (changes not applied: {', '.join(human.ignored_changes)})" if human.ignored_changes else ""
        )
        st.info(
            f"Reviewer answer at **{human.phase}**: {human.action}{note}, "
            f"{human.at:%Y-%m-%d %H:%M} UTC{ignored}"
        )
    brief = model["brief"]
    st.caption(
        f"Run `{model['run_id']}` · brand {brief['brand']} · budget {brief['budget']} · "
        f"objective {brief['objective']} · flight {brief['flight']} · retailers {brief['retailers']} · "
        f"ROAS floor {brief['roas_floor']}"
    )


# --------------------------------------------------------------------------- allocation


def _allocation_section(
    values: dict[str, Any], results: PlanResults, model: dict[str, Any], brief: CampaignBrief
) -> None:
    st.subheader("Allocation")
    optimized = results.optimize
    if optimized is None:
        st.info(_missing("allocation", "optimize", values))
        return
    if optimized.error:
        st.error(f"The optimizer could not run: {optimized.error}")
    allocation = optimized.allocation
    if allocation is None:
        st.info("No allocation: the optimizer returned none for this plan.")
        return
    if allocation.infeasibility is not None:
        conflicts = "\n".join(f"- {c}" for c in model["conflicts"])
        st.warning(f"**Infeasible**: {allocation.infeasibility.summary}\n\n{conflicts}")
    if not allocation.lines:
        st.info(f"The allocation has no lines (status {allocation.status}).")
        return
    _allocation_totals(allocation, model, brief)
    frame = _allocation_frame(optimized)
    money = ["spend", "current spend", "current at budget", "predicted", "predicted low", "predicted high"]
    st.dataframe(
        frame.drop(columns=["id"]).round({column: 0 for column in money}),  # whole units read faster
        hide_index=True,
        width="stretch",
        column_config=_allocation_columns(brief, allocation),
    )
    by_retailer = " · ".join(
        f"{name} {spend:,.0f} {brief.currency}"
        for name, spend in sorted(optimized.spend_by_retailer().items())
    )
    st.caption(f"By retailer: {by_retailer}. Binding constraints: {', '.join(model['binding']) or 'none'}.")
    for note in model["notes"]:
        st.caption(f"Note: {note}")
    left, right = st.columns(2)
    with left:
        st.markdown("**Spend by line** (bar: this plan, tick: current split)")
        st.altair_chart(_allocation_chart(frame, brief.currency), width="stretch")
    with right:
        st.markdown("**Response curves** (over the flight; dot: this plan's spend)")
        _curves(optimized, brief)
    _scenarios_and_flighting(model)


def _allocation_totals(allocation: AllocationResult, model: dict[str, Any], brief: CampaignBrief) -> None:
    """The four numbers a buyer checks first: spend, predicted return (with interval), ROAS, lift."""
    current = next((c for c in allocation.comparisons if c.name == "current"), None)
    spend, predicted, roas, lift = st.columns(4)
    spend.metric("Total spend", f"{allocation.total_spend:,.0f} {brief.currency}")
    predicted.metric(f"Predicted {brief.objective.replace('_', ' ')}", model["predicted"])
    roas.metric("ROAS", model["roas"])
    lift.metric("Lift vs current split", f"{current.lift:+.1%}" if current else "n/a")
    if allocation.predicted_interval is not None:
        st.caption(
            f"{allocation.interval_level:.0%} interval of the predicted outcome: {model['interval']}. "
            f"Status {allocation.status}."
        )


def _allocation_frame(optimized: OptimizeResult) -> pd.DataFrame:
    """One row per allocated line with the result's own numbers (the table, the chart and the CSV).

    ``current spend`` is the line's current spend as the problem holds it; ``current at budget`` is
    the same split scaled to the budget, which the lift compares against.
    """
    allocation = optimized.allocation
    current = {line.id: line.current_spend for line in (optimized.problem.lines if optimized.problem else [])}
    scaled = next((c.spends for c in allocation.comparisons if c.name == "current"), {}) if allocation else {}
    rows = [
        {
            "id": line.id,
            "retailer": line.retailer,
            "line": line.placement,
            "spend": line.spend,
            "share": line.share,
            "current spend": current.get(line.id),
            "current at budget": scaled.get(line.id),
            "predicted": line.predicted_outcome,
            "predicted low": line.outcome_interval[0] if line.outcome_interval else None,
            "predicted high": line.outcome_interval[1] if line.outcome_interval else None,
            "ROAS": line.roas,
            "marginal ROAS": line.marginal_roas,
            "fit R²": line.r2,
            "beyond observed": line.extrapolation if line.extrapolates else "",
        }
        for line in sorted(allocation.lines if allocation else [], key=lambda item: -item.spend)
    ]
    columns = [
        "id",
        "retailer",
        "line",
        "spend",
        "share",
        "current spend",
        "current at budget",
        "predicted",
        "predicted low",
        "predicted high",
        "ROAS",
        "marginal ROAS",
        "fit R²",
        "beyond observed",
    ]
    return _frame(rows, columns)


def _allocation_columns(brief: CampaignBrief, allocation: AllocationResult) -> dict[str, Any]:
    money = f"spend ({brief.currency})"
    level = f"{allocation.interval_level:.0%}"
    number = st.column_config.NumberColumn
    return {
        "spend": number(money, format="localized"),
        "share": number("share", format="percent"),
        "current spend": number(f"current ({brief.currency})", format="localized"),
        "current at budget": number(
            "current, scaled to budget", format="localized", help="The current split at this budget."
        ),
        "predicted": number(f"predicted ({_unit(brief)})", format="localized"),
        "predicted low": number(f"low ({level})", format="localized"),
        "predicted high": number(f"high ({level})", format="localized"),
        "ROAS": number("ROAS", format="%.2f"),
        "marginal ROAS": number("marginal ROAS", format="%.2f"),
        "fit R²": number("fit R²", format="%.2f"),
    }


def _allocation_chart(frame: pd.DataFrame, currency: str) -> alt.LayerChart:
    """Bars for this plan's spend per line, a tick at the current split; the legend picks a retailer."""
    data = frame.assign(label=frame["id"])
    pick = alt.selection_point(fields=["retailer"], bind="legend")
    order = list(data["label"])  # the frame is sorted by spend, largest first
    bars = (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=alt.X("spend:Q", title=f"spend ({currency})"),
            y=alt.Y("label:N", title=None, sort=order),
            color=alt.Color("retailer:N"),
            opacity=alt.condition(pick, alt.value(1.0), alt.value(0.25)),
            tooltip=[
                alt.Tooltip("label:N", title="line"),
                alt.Tooltip("spend:Q", format=",.0f"),
                alt.Tooltip("current spend:Q", format=",.0f"),
                alt.Tooltip("ROAS:Q", format=".2f"),
            ],
        )
        .add_params(pick)
    )
    ticks = (
        alt.Chart(data.dropna(subset=["current spend"]))
        .mark_tick(color="black", thickness=2, size=18)
        .encode(x="current spend:Q", y=alt.Y("label:N", sort=order))
    )
    return alt.LayerChart(layer=[bars, ticks])


def _curve_rows(optimized: OptimizeResult) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Flight response curves sampled from the fitted parameters, and each line's chosen point.

    The result carries curves as parameters (the problem's curve per line, else the fit), not as
    points; the flight curve is ``incrementality · days · daily(spend / days)``, exactly as the
    report's plot draws it, and the dot is the allocation's own predicted outcome.
    """
    allocation, problem = optimized.allocation, optimized.problem
    if allocation is None:
        return [], []
    days = problem.days if problem else 1
    items = {line.id: line for line in (problem.lines if problem else [])}
    fits = {fit.line_id: fit.params for fit in optimized.curves if fit.ok and fit.params is not None}
    curve_rows: list[dict[str, Any]] = []
    point_rows: list[dict[str, Any]] = []
    floor = problem.budget / max(1, len(problem.lines)) if problem else 0.0
    for line in allocation.lines:
        item = items.get(line.id)
        curve: CurveParams | CurveTable | None = item.curve if item and item.curve else fits.get(line.id)
        if curve is None:
            continue
        weight = item.incrementality if item else 1.0
        top = max(line.spend * 1.6, (curve.spend_max or 0.0) * days * 1.1, floor)
        for i in range(CURVE_POINTS + 1):
            spend = top * i / CURVE_POINTS
            curve_rows.append(
                {"line": line.id, "spend": spend, "outcome": weight * days * curve.value(spend / days)}
            )
        point_rows.append(
            {
                "line": line.id,
                "spend": line.spend,
                "outcome": line.predicted_outcome,
                "beyond observed": "yes" if line.extrapolates else "no",
            }
        )
    return curve_rows, point_rows


def _curves(optimized: OptimizeResult, brief: CampaignBrief) -> None:
    """Interactive curves from the parameters; the report's PNGs when no curve can be drawn."""
    curve_rows, point_rows = _curve_rows(optimized)
    if curve_rows:
        pick = alt.selection_point(fields=["line"], bind="legend")
        x = alt.X("spend:Q", title=f"flight spend ({brief.currency})")
        y = alt.Y("outcome:Q", title=f"predicted {brief.objective.replace('_', ' ')} ({_unit(brief)})")
        fade = alt.condition(pick, alt.value(1.0), alt.value(0.15))
        lines = (
            alt.Chart(pd.DataFrame(curve_rows))
            .mark_line()
            .encode(x=x, y=y, color="line:N", opacity=fade)
            .add_params(pick)
        )
        dots = (
            alt.Chart(pd.DataFrame(point_rows))
            .mark_point(filled=True, size=70)
            .encode(
                x=x,
                y=y,
                color="line:N",
                opacity=fade,
                shape=alt.Shape("beyond observed:N", title="beyond observed spend"),
                tooltip=[
                    "line:N",
                    alt.Tooltip("spend:Q", format=",.0f"),
                    alt.Tooltip("outcome:Q", format=",.0f"),
                    "beyond observed:N",
                ],
            )
        )
        st.altair_chart(alt.layer(lines, dots).interactive(), width="stretch")
        return
    plots = [path for path in optimized.plots if Path(path).is_file()]
    for path in plots:
        st.image(path, caption=Path(path).name)
    if not plots:
        st.caption("No response curves: the result has no curve parameters and no plot files.")


def _scenarios_and_flighting(model: dict[str, Any]) -> None:
    """The report's scenario, weekly-flighting and exploration tables, folded away below the plan."""
    if model["scenario_rows"]:
        with st.expander("Scenarios on the same curves", expanded=False):
            st.caption(f"Before (current split): {model['scenario_before']}.")
            st.dataframe(pd.DataFrame(model["scenario_rows"]), hide_index=True, width="stretch")
    if model["week_rows"]:
        with st.expander("Weekly flighting", expanded=False):
            st.caption(model["flight_note"])
            rows = [
                {"week": w["week"], "spend": w["spend"], "share": w["share"]}
                | dict(zip(model["flight_retailers"], w["by_retailer"], strict=True))
                for w in model["week_rows"]
            ]
            st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    exploration = model["exploration"]
    if exploration is not None:
        with st.expander("Exploration of thin-history lines", expanded=False):
            if model["explore_rows"]:
                st.dataframe(pd.DataFrame(model["explore_rows"]), hide_index=True, width="stretch")
            else:
                st.caption(exploration.note or "No exploration budget was split.")


# --------------------------------------------------------------------------- experiment


def _experiment_section(values: dict[str, Any], results: PlanResults, model: dict[str, Any]) -> None:
    st.subheader("Experiment")
    measured = results.measure
    if measured is None:
        st.info(_missing("experiment design", "measure", values))
        return
    design = measured.design
    if design is None:
        st.error(f"No experiment design: {measured.error or 'the measurement step returned none'}")
        return
    shown = model["design"]
    kind, feasible, duration, power, simulated, mde = st.columns(6)
    kind.metric("Design", design.kind)
    feasible.metric("Feasible", "yes" if design.feasible else "no")
    duration.metric("Duration", f"{design.duration_days} days")
    power.metric("Power", shown["power"], help=f"Analytic power at a {design.expected_lift:.1%} lift.")
    simulated.metric(
        "Simulated power", shown["simulated_power"], help="Placebo experiments replayed on history."
    )
    mde.metric("MDE", shown["mde"], help=f"Simulated MDE: {shown['simulated_mde']}.")
    st.caption(
        f"Target power {design.target_power:.0%} at α = {design.alpha:g}, expected lift "
        f"{design.expected_lift:.1%} on {design.kpi}"
        + (f"; {design.simulations} simulations ({design.noise_model})" if design.simulations else "")
        + "."
    )
    for problem in shown["problems"]:
        st.warning(f"Problem: {problem}")
    for suggestion in shown["suggestions"]:
        st.caption(f"Suggestion: {suggestion}")
    for warning in design.warnings:
        st.caption(f"Warning: {warning}")
    by_lift = [{"lift": p.lift, "power": p.power} for p in design.power_by_lift]
    by_days = [{"days": p.days, "power": p.power} for p in design.power_by_duration]
    if by_lift or by_days:
        left, right = st.columns(2)
        if by_lift:
            with left:
                st.markdown(f"**Simulated power by lift** (at {design.duration_days} days)")
                chart = _power_chart(by_lift, "lift", "lift", design.target_power, percent=True)
                st.altair_chart(chart, width="stretch")
        if by_days:
            with right:
                st.markdown(f"**Simulated power by duration** (at a {design.expected_lift:.1%} lift)")
                chart = _power_chart(by_days, "days", "days", design.target_power, percent=False)
                st.altair_chart(chart, width="stretch")
    else:
        st.caption("No simulated power curves in this design.")
    _assignment(design)
    if design.alternatives:
        with st.expander("Other designs considered", expanded=False):
            for name, summary in design.alternatives.items():
                st.markdown(f"- **{name}**: {summary}")


def _power_chart(
    rows: list[dict[str, Any]], field: str, title: str, target: float, *, percent: bool
) -> alt.LayerChart:
    """Power against lift or duration, with the target power as a dashed rule."""
    axis = alt.Axis(format="%") if percent else alt.Axis()
    curve = (
        alt.Chart(pd.DataFrame(rows))
        .mark_line(point=True)
        .encode(
            x=alt.X(f"{field}:Q", title=title, axis=axis),
            y=alt.Y("power:Q", title="power", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
            tooltip=[
                alt.Tooltip(f"{field}:Q", format=".1%" if percent else "d"),
                alt.Tooltip("power:Q", format=".1%"),
            ],
        )
    )
    rule = alt.Chart(pd.DataFrame({"target": [target]})).mark_rule(strokeDash=[4, 4]).encode(y="target:Q")
    return alt.LayerChart(layer=[curve, rule])


def _assignment(design: ExperimentDesign) -> None:
    """Which markets are treated and which are controls: pairs when the design has them."""
    st.markdown("**Market assignment**")
    if design.pairs:
        rows = [
            {
                "treatment": p.treatment,
                "control": p.control,
                "pre-period correlation": p.pre_correlation,
                "level ratio": p.level_ratio,
            }
            for p in design.pairs
        ]
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    elif design.treatment_markets or design.control_markets:
        size = max(len(design.treatment_markets), len(design.control_markets))
        rows = [
            {
                "treatment": design.treatment_markets[i] if i < len(design.treatment_markets) else "",
                "control": design.control_markets[i] if i < len(design.control_markets) else "",
            }
            for i in range(size)
        ]
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    elif design.blocks:
        rows = [
            {"start day": b.start, "days": b.days, "treated": b.treated, "buffer days": b.buffer_days}
            for b in design.blocks
        ]
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    elif design.holdout_share is not None:
        users = f", {design.holdout_size:,} users" if design.holdout_size else ""
        st.caption(f"Holdout: {design.holdout_share:.1%} of the audience kept unexposed{users}.")
    else:
        st.caption("This design assigns no markets.")
    if design.excluded_markets:
        st.caption(f"Excluded markets: {', '.join(design.excluded_markets)}.")


# --------------------------------------------------------------------------- ad copy


@dataclass(frozen=True)
class _Copy:
    """One retailer format's chosen copy and its verdict, from governance or, failing that, create."""

    retailer: str
    ad_format: str
    source: str
    candidate: CopyCandidate | None
    passed: bool

    @property
    def target(self) -> str:
        return f"{self.retailer}/{self.ad_format}"

    @property
    def verdict(self) -> str:
        if self.candidate is None:
            return "no copy"
        return "passed" if self.passed else "FAILED"


def _copies(results: PlanResults) -> tuple[list[_Copy], bool]:
    """The copies to show and whether governance judged them (False: the creative agent's own check)."""
    if results.govern is not None:
        return [
            _Copy(c.retailer, c.ad_format, c.source, c.chosen, c.passed) for c in results.govern.copies
        ], True
    created = results.create.copies if results.create else []
    return [
        _Copy(c.retailer, c.ad_format, c.source, c.best, bool(c.best and c.best.governance.passed))
        for c in created
    ], False


def _copy_section(
    view: RunView,
    results: PlanResults,
    model: dict[str, Any],
    brief: CampaignBrief,
    *,
    tenant_id: str,
    brand_id: str | None,
) -> None:
    st.subheader("Ad copy")
    copies, governed = _copies(results)
    if not copies:
        st.info(_missing("ad copy", "create", view.values))
        return
    if not governed:
        st.warning(
            "Governance did not run on this copy: "
            + _missing("governance verdict", "govern", view.values).removeprefix("No governance verdict: ")
            + " The verdicts below are the creative agent's own policy check."
        )
    else:
        st.caption(f"Budget check: {model['budget_check']}. Clean room: {model['clean_room']}.")
        for violation in model["budget_violations"]:
            st.warning(f"Budget: {violation}")
    for error in model["creative_errors"]:
        st.caption(f"Copywriter error: {error}")
    st.dataframe(pd.DataFrame([_copy_row(c) for c in copies]), hide_index=True, width="stretch")
    can_rate = _feedback_gate(brief, brand_id)
    for index, item in enumerate(copies):
        with st.container(border=True):
            _copy_card(item)
            if can_rate and brand_id is not None and item.candidate is not None:
                _copy_feedback(
                    view, results.create, brief, item, index, tenant_id=tenant_id, brand_id=brand_id
                )


def _copy_row(item: _Copy) -> dict[str, Any]:
    violations = item.candidate.governance.violations if item.candidate else []
    return {
        "retailer": item.retailer,
        "format": item.ad_format,
        "source": item.source,
        "headline": item.candidate.copy_text.headline if item.candidate else "",
        "governance": item.verdict,
        "critical": sum(1 for v in violations if v.severity == "critical"),
        "other violations": sum(1 for v in violations if v.severity != "critical"),
    }


def _feedback_gate(brief: CampaignBrief, brand_id: str | None) -> bool:
    """Feedback trains the plan's brand: it needs that brand chosen on Home, and says so otherwise."""
    if brand_id is None:
        st.info("Choose a brand on Home to give feedback on this copy.")
        return False
    if brand_id != brief.brand:
        st.info(f"This plan is for brand {brief.brand}; choose it on Home to give feedback on its copy.")
        return False
    return True


def _copy_card(item: _Copy) -> None:
    """The copy as the shopper would see it, its verdict, and each violation with where and how to fix."""
    verdict = {"passed": ":green[passed]", "FAILED": ":red[FAILED]"}.get(item.verdict, item.verdict)
    st.markdown(f"**{item.retailer} / {item.ad_format}** · {item.source} copy · governance {verdict}")
    candidate = item.candidate
    if candidate is None:
        st.caption("No copy was written for this format.")
        return
    text = candidate.copy_text
    lines = [f"> **{text.headline}**"] + ([f"> {text.body}"] if text.body else []) + [f"> [{text.cta}]"]
    if text.disclosure:
        lines.append(f"> *{text.disclosure}*")
    st.markdown("\n>\n".join(lines))
    violations = candidate.governance.violations
    if violations:
        rows = [
            {
                "rule": v.rule_id,
                "severity": v.severity,
                "field": v.field or "",
                "span": f"{v.span[0]}–{v.span[1]}" if v.span else "",
                "matched": v.matched,
                "message": v.message,
                "suggestion": v.suggestion,
                "rewrite": v.rewrite or "",
            }
            for v in violations
        ]
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    else:
        st.caption("No policy violations.")


def _copy_feedback(
    view: RunView,
    created: CreateResult | None,
    brief: CampaignBrief,
    item: _Copy,
    index: int,
    *,
    tenant_id: str,
    brand_id: str,
) -> None:
    """Thumbs and an optional correction, stored once per distinct answer (a double click stores one)."""
    key = f"plan_{view.run_id}_copy_{index}"
    st.feedback("thumbs", key=f"{key}_thumbs")
    st.text_area(
        "Correction: what should it have said? (optional)",
        key=f"{key}_correction",
        placeholder=ANSWER_LAYOUT,
        height=100,
    )
    if st.button("Save feedback", key=f"{key}_save"):
        _save_copy_feedback(view, created, brief, item, key, tenant_id=tenant_id, brand_id=brand_id)


def _save_copy_feedback(
    view: RunView,
    created: CreateResult | None,
    brief: CampaignBrief,
    item: _Copy,
    key: str,
    *,
    tenant_id: str,
    brand_id: str,
) -> None:
    from rmnlora.agents.creative.prompts import render_answer

    assert item.candidate is not None  # only copy that was written is offered for feedback
    thumbs = st.session_state.get(f"{key}_thumbs")
    correction = str(st.session_state.get(f"{key}_correction") or "").strip() or None
    response = render_answer(item.candidate.copy_text)
    try:
        feedback = FeedbackIn(
            brand_id=brand_id,
            task="creative",
            prompt=_copy_prompt(view, created, brief, item),
            response=response,
            thumbs_up=None if thumbs is None else bool(thumbs),
            correction=correction,
            user=app_state.user(),
        )
    except ValidationError as exc:
        st.error("Not saved: " + "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors()))
        return
    submission = app_state.submission_key("plan-copy", view.run_id, item.target, response, thumbs, correction)
    try:
        result = store.record_feedback(app_state.database(), tenant_id, feedback, idempotency_key=submission)
    except (LookupError, ValueError) as exc:  # unknown brand, a reused key: said, not raised
        st.error(f"Not saved: {exc}")
        return
    if result.created:
        st.success(f"Feedback on {item.target} saved (#{result.record.id}). Thank you!")
    else:
        st.info(f"You already saved this feedback on {item.target} (#{result.record.id}).")


def _copy_prompt(view: RunView, created: CreateResult | None, brief: CampaignBrief, item: _Copy) -> str:
    """The request the creative agent sent for this format, as the structured prompt feedback stores.

    Stored that way, ``rmn improve`` trains on (and judges against) the agent's own turns, exactly
    like feedback from the Ad copy page. A format without a spec falls back to a plain prompt that
    names the plan and the format.
    """
    from rmnlora.agents.creative.formats import FormatSpecError, load_format_spec
    from rmnlora.agents.creative.phase import copy_request
    from rmnlora.training.corpus import prompt_messages

    candidates = (created.applied_changes.candidates if created else None) or brief.creative.candidates
    request = copy_request(brief, item.retailer, item.ad_format, candidates)
    try:
        spec = load_format_spec(item.retailer, item.ad_format)
    except FormatSpecError:
        return f"Ad copy for {item.target} in plan {view.run_id} ({brief.name}): {brief.creative.product}"
    return CreativePrompt(request=request.model_dump(), messages=prompt_messages(request, spec)).encode()


# --------------------------------------------------------------------------- reflection trail


def _trail_section(model: dict[str, Any]) -> None:
    """One row per gate decision, as the report words it; the details per gate fold out below."""
    st.subheader("Reflection trail")
    trail = model["trail"]
    if not trail:
        st.info("No gate has decided yet in this run.")
        return
    rows = [
        {
            "phase": t["phase"],
            "decision": t["decision"],
            "confidence": t["confidence"],
            "threshold": t["threshold"],
            "rationale": t["rationale"],
            "top risks": "; ".join(t["risks"][:TOP_RISKS]) or "none",
        }
        for t in trail
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    with st.expander("Biases, alternate frames and similar past plans per gate", expanded=False):
        for t in trail:
            details = [*t["risks"][TOP_RISKS:], *t["biases"], *t["frames"], *t["memory"]]
            st.markdown(f"**{t['phase']}: {t['decision']}**")
            st.markdown("\n".join(f"- {d}" for d in details) if details else "- nothing more")


# --------------------------------------------------------------------------- downloads


DOWNLOADS = (
    ("json", "plan.json", "application/json"),
    ("html", "report.html", "text/html"),
    ("markdown", "report.md", "text/markdown"),
)


def _read(path: str | None) -> tuple[bytes | None, str]:
    """A report file's bytes, or None and why (not written, gone, unreadable): a caption, not a crash."""
    if not path:
        return None, "not written for this run"
    try:
        return Path(path).read_bytes(), ""
    except FileNotFoundError:
        return None, f"no longer at {path}"
    except OSError as exc:
        return None, f"could not be read ({exc.strerror or exc})"


def _downloads_section(view: RunView, results: PlanResults) -> None:
    st.subheader("Downloads")
    paths = view.values.get("report") or {}
    for kind, name, mime in DOWNLOADS:
        data, why = _read(paths.get(kind))
        if data is None:
            st.caption(f"{name}: {why}.")
        else:
            st.download_button(
                f"Download {name}", data, file_name=name, mime=mime, key=f"plan_{view.run_id}_download_{kind}"
            )
    optimized = results.optimize
    if optimized is None or optimized.allocation is None or not optimized.allocation.lines:
        st.caption("allocation.csv: this plan has no allocation.")
        return
    csv = _allocation_frame(optimized).to_csv(index=False).encode("utf-8")
    st.download_button(
        "Download allocation.csv",
        csv,
        file_name=f"{view.run_id}-allocation.csv",
        mime="text/csv",
        key=f"plan_{view.run_id}_download_csv",
    )
