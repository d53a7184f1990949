"""``rmn measure design|analyze|segments``: incrementality experiments from the command line."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Literal

import polars as pl
import typer

from rmnlora.cli.common import console, fail, settings_from_cli
from rmnlora.yaml_input import MAX_JSON_BYTES, read_text_file

app = typer.Typer(
    name="measure", help="Incrementality experiments: design (power, assignment) and lift analysis."
)

DesignChoice = Literal["auto", "geo", "geo_pool", "switchback", "holdout"]
DESIGN_CHOICES = ("auto", "geo", "geo_pool", "switchback", "holdout")


def read_frame(path: Path) -> pl.DataFrame:
    """Events from a Parquet/CSV file or a harmonized output folder."""
    if path.is_dir():
        from rmnlora.agents.harmonizer.engine import read_events

        frame = read_events(path).collect()
        if frame.height == 0:
            raise fail(f"no harmonized events under {path}")
        return frame
    if not path.is_file():
        raise fail(f"{path} does not exist")
    if path.suffix.lower() == ".parquet":
        return pl.read_parquet(path)
    if path.suffix.lower() == ".csv":
        return pl.read_csv(path, try_parse_dates=True)
    raise fail(f"{path}: expected a .parquet or .csv file, or a harmonized folder")


def _emit(model_json: str, as_json: bool, human: str) -> None:
    if as_json:
        typer.echo(model_json)
    else:
        console.print(human)


@app.command("design")
def design_command(
    history: Annotated[Path, typer.Argument(help="Events: Parquet/CSV file or harmonized folder.")],
    flight_days: Annotated[int, typer.Option("--flight-days", help="Days the campaign runs.")],
    kpi: Annotated[str, typer.Option(help="KPI column.")] = "attributed_sales",
    design: Annotated[
        str,
        typer.Option(
            help="auto, geo (matched pairs), geo_pool (treated set vs donor pool), switchback or holdout."
        ),
    ] = "auto",
    treated: Annotated[
        list[str] | None,
        typer.Option("--treated", help="geo_pool: a market to treat (repeatable; default: chosen)."),
    ] = None,
    lift: Annotated[float, typer.Option(help="Expected relative lift.")] = 0.05,
    alpha: Annotated[float, typer.Option(help="Significance level.")] = 0.05,
    power: Annotated[float, typer.Option(help="Target power.")] = 0.8,
    flight_start: Annotated[dt.datetime | None, typer.Option(formats=["%Y-%m-%d"])] = None,
    retailer: Annotated[list[str] | None, typer.Option(help="Only these retailers (repeatable).")] = None,
    audience_size: Annotated[int | None, typer.Option(help="Audience size, for a holdout.")] = None,
    simulations: Annotated[int, typer.Option(help="Placebo experiments on history.")] = 400,
    seed: Annotated[int, typer.Option()] = 0,
    out: Annotated[Path | None, typer.Option(help="Also write the design JSON here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the design as JSON.")] = False,
) -> None:
    """Design an experiment: power, MDE, duration, assignment; exits 3 when infeasible."""
    from pydantic import ValidationError

    from rmnlora.agents.measurement import design_experiment, history_from_events
    from rmnlora.schemas.measurement import ExperimentRequest

    if design not in DESIGN_CHOICES:
        raise fail(f"--design must be one of {', '.join(DESIGN_CHOICES)}, not {design!r}")
    if treated and design != "geo_pool":
        raise fail("--treated names the treated markets of a geo_pool design; add --design geo_pool")
    settings_min_aggregation = _min_aggregation()
    try:
        frame = read_frame(history)
        market_history = history_from_events(frame, kpi, retailers=retailer or None)
        request = ExperimentRequest(
            history=market_history,
            design=design,  # type: ignore[arg-type]
            expected_lift=lift,
            alpha=alpha,
            power=power,
            flight_days=flight_days,
            flight_start=flight_start.date() if flight_start else market_history.end + dt.timedelta(days=1),
            audience_size=audience_size,
            treated_markets=treated or None,
            min_aggregation=settings_min_aggregation,
            simulations=simulations,
            seed=seed,
        )
        result = design_experiment(request)
    except (ValueError, ValidationError) as exc:
        raise fail(str(exc)) from exc
    text = result.model_dump_json()
    if out:
        out.write_text(result.model_dump_json(indent=2), encoding="utf-8")
    status = "[green]feasible[/green]" if result.feasible else "[red]infeasible[/red]"
    lines = [
        f"{result.kind} design {status}: power {_fmt(result.power)} "
        f"(simulated on history {_fmt(result.simulated_power)}), "
        f"MDE {_pct(result.mde)}, {result.duration_days} days",
        *(f"  problem: {p}" for p in result.problems),
        *(f"  suggestion: {s}" for s in result.suggestions),
        *(f"  warning: {w}" for w in result.warnings),
    ]
    if result.power_by_lift:
        lines.append(
            f"  simulated power at {result.duration_days} days by lift (MDE {_pct(result.simulated_mde)}): "
            + ", ".join(f"{p.lift:.1%} {p.power:.2f}" for p in result.power_by_lift)
        )
    if result.power_by_duration:
        lines.append(
            f"  simulated power at {result.expected_lift:.1%} by duration: "
            + ", ".join(f"{p.days}d {p.power:.2f}" for p in result.power_by_duration)
        )
    if result.pairs or result.kind == "geo_pool":
        lines.append(f"  treatment: {', '.join(result.treatment_markets)}")
        lines.append(f"  control:   {', '.join(result.control_markets)}")
    if result.treated_share_of_kpi is not None and result.kind == "geo_pool":
        lines.append(f"  treated share of {result.kpi}: {result.treated_share_of_kpi:.1%}")
    for candidate in result.market_candidates:
        replayed = (
            ""
            if candidate.power is None or candidate.simulated_power is None
            else f", power {candidate.power:.2f} (replayed {candidate.simulated_power:.2f})"
        )
        mark = "*" if candidate.chosen else " "
        lines.append(
            f"  {mark} candidate {len(candidate.markets)} markets ({candidate.share_of_kpi:.0%} of "
            f"{result.kpi}): no-effect error {candidate.relative_error:.1%}{replayed}"
        )
    _emit(text, as_json, "\n".join(lines))
    if not result.feasible:
        raise typer.Exit(3)


@app.command("analyze")
def analyze_command(
    results: Annotated[Path, typer.Argument(help="Events covering pre- and post-period.")],
    design_file: Annotated[
        Path, typer.Option("--design", help="Design JSON from `rmn measure design --out`.")
    ],
    start: Annotated[dt.datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Test start date.")] = None,
    method: Annotated[
        str | None,
        typer.Option(help="geo: did_pairs, synthetic_control or sdid; geo_pool: sdid or synthetic_control."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Measure the lift of a run experiment with a confidence interval."""
    from pydantic import ValidationError

    from rmnlora.agents.measurement import analyze_experiment
    from rmnlora.schemas.measurement import ExperimentDesign

    try:
        design = ExperimentDesign.model_validate_json(
            read_text_file(design_file, "design file", ValueError, max_bytes=MAX_JSON_BYTES)
        )
        lift = analyze_experiment(
            read_frame(results), design, start=start.date() if start else None, method=method
        )
    except (ValueError, ValidationError) as exc:
        raise fail(str(exc)) from exc
    human = (
        f"{lift.method}: lift {lift.relative_lift:.2%} "
        f"[{lift.relative_ci_low:.2%}, {lift.relative_ci_high:.2%}] "
        f"p={lift.p_value:.3g}; {lift.att:.4g} {lift.kpi} per treated unit-day, "
        f"{lift.incremental_total:.4g} in total"
    )
    _emit(lift.model_dump_json(), as_json, human)


@app.command("panel")
def panel_command(
    data: Annotated[Path, typer.Argument(help="Panel: Parquet/CSV, long (unit, period, value) or --wide.")],
    treated: Annotated[list[str], typer.Option("--treated", help="Treated unit (repeatable).")],
    start: Annotated[str, typer.Option("--start", help="First treated period: a date or a year.")],
    method: Annotated[str, typer.Option(help="sdid, synthetic_control or did.")] = "sdid",
    unit: Annotated[str, typer.Option(help="Unit column (long layout).")] = "unit",
    period: Annotated[str, typer.Option(help="Period column: dates or years.")] = "period",
    value: Annotated[str, typer.Option(help="Outcome column (long layout).")] = "value",
    wide: Annotated[
        bool, typer.Option("--wide", help="One column per unit beside the period column.")
    ] = False,
    donor: Annotated[
        list[str] | None, typer.Option(help="Donor unit (repeatable; default: all others).")
    ] = None,
    frequency: Annotated[
        str | None, typer.Option(help="day, week, month, quarter or year (default: inferred).")
    ] = None,
    missing: Annotated[str, typer.Option(help="Missing periods: error, interpolate or drop.")] = "error",
    alpha: Annotated[float, typer.Option(help="Significance level.")] = 0.05,
    plot: Annotated[
        Path | None, typer.Option(help="Write observed vs synthetic and the effect as a PNG.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """A treated set against a donor pool at any period: effect, weights, placebo interval."""
    from rmnlora.agents.measurement.panel_analysis import analyze_panel
    from rmnlora.agents.measurement.panel_plot import plot_panel_lift
    from rmnlora.agents.measurement.periods import ADJECTIVE

    frame = read_frame(data)
    if wide:
        if period not in frame.columns:
            raise fail(f"--wide needs the period column {period!r}; {data} has {frame.columns[:8]}")
        frame = frame.unpivot(index=period, variable_name=unit, value_name=value)
    try:
        lift = analyze_panel(
            frame,
            treated=treated,
            treatment_start=start,
            method=method,  # type: ignore[arg-type]
            donors=donor,
            alpha=alpha,
            unit=unit,
            period=period,
            value=value,
            frequency=frequency,  # type: ignore[arg-type]
            missing=missing,  # type: ignore[arg-type]
        )
    except ValueError as exc:
        raise fail(str(exc)) from exc
    if plot is not None:
        plot_panel_lift(lift, plot)
    top = ", ".join(f"{name} {weight:.2f}" for name, weight in list(lift.unit_weights.items())[:5])
    human = "\n".join(
        [
            f"{lift.method} on a {ADJECTIVE[lift.frequency]} panel: {lift.att:+.4g} {lift.outcome} per "
            f"treated unit and {lift.frequency} [{lift.ci_low:+.4g}, {lift.ci_high:+.4g}] "
            f"({lift.confidence_level:.0%}), p={lift.p_value:.3f} over {lift.placebo_count} placebos; "
            f"placebo s.e. {lift.standard_error:.4g}",
            f"  relative {lift.relative_lift:+.1%} "
            f"[{lift.relative_ci_low:+.1%}, {lift.relative_ci_high:+.1%}]; "
            f"{lift.incremental_total:+.4g} in total over {len(lift.treated_units)} unit(s) x "
            f"{lift.post_periods} period(s) from {lift.treatment_start}",
            f"  donors ({lift.n_donors}), largest weights: {top}",
            *(f"  note: {note}" for note in lift.notes),
            *([f"  plot: {plot}"] if plot is not None else []),
        ]
    )
    _emit(lift.model_dump_json(), as_json, human)


@app.command("segments")
def segments_command(
    data: Annotated[Path, typer.Argument(help="Rows with outcome, 0/1 treatment and segment columns.")],
    outcome: Annotated[str, typer.Option()],
    treatment: Annotated[str, typer.Option()],
    segment: Annotated[str, typer.Option()],
    control: Annotated[list[str] | None, typer.Option(help="Control columns (repeatable).")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Heterogeneous effects per segment (econML LinearDML)."""
    from rmnlora.agents.measurement import segment_effects

    try:
        effects = segment_effects(
            read_frame(data), outcome=outcome, treatment=treatment, segment=segment, controls=control or ()
        )
    except ValueError as exc:
        raise fail(str(exc)) from exc
    payload = {"segments": [e.model_dump() for e in effects]}
    human = "\n".join(
        f"{e.segment}: {e.effect:.4g} [{e.ci_low:.4g}, {e.ci_high:.4g}] n={e.n}" for e in effects
    )
    _emit(json.dumps(payload), as_json, human)


def _min_aggregation() -> int:
    return settings_from_cli().clean_room.min_aggregation


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"
