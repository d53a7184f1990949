"""`rmn optimize PROBLEM.json`: allocate a budget from a JSON allocation problem.

``--scenario KIND[=TARGET]`` (repeatable) puts scenarios side by side instead: ``fixed_budget``,
``target_roas=3``, ``target_mroas=1``, ``target_outcome=50000``; ``--scenarios`` shows the standard
ones (fixed budget, break-even at the margin, the ROAS floor as a target).

Exit codes: 0 optimal (with scenarios: at least one row solved), 3 infeasible (the report is
printed), 1 bad input or solver error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from rmnlora.cli.common import console, fail
from rmnlora.schemas.optimizer import AllocationProblem, AllocationResult, Scenario
from rmnlora.yaml_input import MAX_JSON_BYTES, read_text_file

app = typer.Typer()

EXIT_INFEASIBLE = 3


def _load(path: Path) -> AllocationProblem:
    try:
        text = read_text_file(path, "problem file", ValueError, max_bytes=MAX_JSON_BYTES)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    try:
        return AllocationProblem.model_validate_json(text)
    except ValidationError as exc:
        problems = "; ".join(
            f"field '{'.'.join(str(p) for p in e['loc']) or '<root>'}': {e['msg']}" for e in exc.errors()
        )
        raise fail(f"invalid problem {path}: {problems}") from exc


def _print_summary(result: AllocationResult) -> None:
    if result.infeasibility is not None:
        console.print(f"[red]infeasible[/red]: {result.infeasibility.summary}")
        for conflict in result.infeasibility.conflicts:
            console.print(f"  - {conflict.description}  [{', '.join(conflict.constraints)}]")
        return
    if result.predicted_outcome is None:
        console.print(f"[red]{result.status}[/red] ({result.solver_status})")
        return
    interval = (
        f" (90% {result.predicted_interval[0]:,.0f}–{result.predicted_interval[1]:,.0f})"
        if result.predicted_interval
        else ""
    )
    console.print(
        f"[green]{result.status}[/green] in {result.solve_seconds:.3f} s: predicted "
        f"{result.objective} {result.predicted_outcome:,.0f}{interval} on {result.total_spend:,.0f} "
        f"{result.currency}"
    )
    for line in sorted(result.lines, key=lambda x: x.spend, reverse=True)[:20]:
        flag = " [yellow]extrapolates[/yellow]" if line.extrapolates else ""
        mroas = f" mROAS {line.marginal_roas:.3f}" if line.marginal_roas is not None else ""
        console.print(f"  {line.id:<30} {line.spend:>14,.2f} ({line.share:6.1%}){mroas}{flag}")
    for comp in result.comparisons:
        console.print(f"  lift vs {comp.name} split: {comp.lift:+.2%}")
    if result.binding:
        shown = ", ".join(result.binding[:10]) + (" ..." if len(result.binding) > 10 else "")
        console.print(f"  binding: {shown}")
    for note in result.notes:
        console.print(f"  note: {note}")


@app.command("optimize")
def optimize(
    problem_path: Annotated[
        Path, typer.Argument(help="AllocationProblem JSON (lines carry curve or history).")
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the AllocationResult (or ScenarioTable) as JSON.")
    ] = False,
    scenario: Annotated[
        list[str] | None,
        typer.Option(
            "--scenario",
            help="KIND[=TARGET], repeatable: fixed_budget, target_roas=R, target_mroas=M, target_outcome=Y.",
        ),
    ] = None,
    scenarios: Annotated[
        bool, typer.Option("--scenarios", help="Compare the standard scenarios side by side.")
    ] = False,
    plot_dir: Annotated[Path | None, typer.Option(help="Write curves.png and allocation.png here.")] = None,
    seed: Annotated[int, typer.Option(help="Bootstrap seed for lines fitted from history.")] = 0,
) -> None:
    """Allocate a budget over response curves (CVXPY/Clarabel); report duals, lift and conflicts."""
    from rmnlora.agents.optimizer import allocate_budget, resolve_curves

    problem = _load(problem_path)
    if scenario or scenarios:
        _compare(problem, [_scenario(text) for text in scenario or []] or None, as_json, seed)
        return
    try:
        problem = resolve_curves(problem, seed)
        result = allocate_budget(problem, seed=seed)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    if plot_dir is not None and result.status in ("optimal", "optimal_inaccurate"):
        from rmnlora.agents.optimizer.plots import plot_allocation

        for path in plot_allocation(problem, result, plot_dir):
            console.print(f"wrote {path}")
    if as_json:
        typer.echo(result.model_dump_json())
    else:
        _print_summary(result)
    if result.status == "infeasible":
        raise typer.Exit(EXIT_INFEASIBLE)
    if result.status == "error":
        raise typer.Exit(1)


def _scenario(text: str) -> Scenario:
    """``target_roas=3`` → Scenario(kind='target_roas', target=3.0); errors name the option."""
    kind, _, target = text.partition("=")
    try:
        return Scenario.model_validate({"kind": kind.strip(), "target": float(target) if target else None})
    except ValueError as exc:
        kinds = "fixed_budget, target_roas=R, target_mroas=M, target_outcome=Y"
        raise fail(f"--scenario {text!r}: {_first_error(exc)} (expected one of {kinds})") from exc


def _first_error(exc: ValueError) -> str:
    if isinstance(exc, ValidationError):
        return str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
    return str(exc)


def _compare(problem: AllocationProblem, chosen: list[Scenario] | None, as_json: bool, seed: int) -> None:
    from rmnlora.agents.optimizer.scenarios import compare_scenarios, format_table

    try:
        table = compare_scenarios(problem, chosen, seed=seed)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    if as_json:
        typer.echo(table.model_dump_json())
    else:
        typer.echo(format_table(table))
    statuses = {row.status for row in table.rows}
    if statuses <= {"infeasible"}:
        raise typer.Exit(EXIT_INFEASIBLE)
    if not statuses & {"optimal", "optimal_inaccurate"}:
        raise typer.Exit(1)


@app.command("import-curves")
def import_curves_command(
    export_path: Annotated[
        Path,
        typer.Argument(help="Curves from your MMM: YAML/JSON (see docs/optimizer.md) or Meridian's CSV."),
    ],
    budget: Annotated[float, typer.Option(help="Budget of the problem to write (flight total).", min=0.01)],
    days: Annotated[int, typer.Option(help="Flight length in days.", min=1, max=3660)] = 28,
    out: Annotated[
        Path | None, typer.Option(help="Write the AllocationProblem JSON here (else stdout).")
    ] = None,
) -> None:
    """Turn an MMM's response curves (PyMC-Marketing, Meridian, tables) into a problem for `rmn optimize`."""
    from rmnlora.agents.optimizer.mmm_import import MMMImportError, describe, import_curves, load_export

    try:
        imported = import_curves(load_export(export_path))
        problem = AllocationProblem(name=export_path.stem, budget=budget, days=days, lines=imported.lines)
    except (MMMImportError, ValidationError) as exc:
        raise fail(str(exc)) from exc
    for line in describe(imported.report):
        typer.echo(line, err=True)
    text = problem.model_dump_json(indent=1, exclude_none=True)
    if out is None:
        typer.echo(text)
    else:
        out.write_text(text + "\n")
        typer.echo(f"wrote {out} ({len(problem.lines)} lines)", err=True)


@app.command("flight")
def flight(
    problem_path: Annotated[
        Path, typer.Argument(help="FlightProblem JSON: lines with curves, weeks, pacing.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the FlightPlan as JSON.")] = False,
) -> None:
    """Spread a budget over lines and weeks with the fitted adstock, per-week limits and pacing."""
    from rmnlora.agents.optimizer.flighting import plan_flight
    from rmnlora.schemas.flighting import FlightProblem

    try:
        text = read_text_file(problem_path, "flight problem", ValueError, max_bytes=MAX_JSON_BYTES)
        problem = FlightProblem.model_validate_json(text)
    except ValidationError as exc:
        problems = "; ".join(
            f"field '{'.'.join(str(p) for p in e['loc']) or '<root>'}': {e['msg']}" for e in exc.errors()
        )
        raise fail(f"invalid flight problem {problem_path}: {problems}") from exc
    except ValueError as exc:
        raise fail(str(exc)) from exc
    plan = plan_flight(problem)
    if as_json:
        typer.echo(plan.model_dump_json())
    elif plan.infeasibility is not None:
        typer.echo(f"infeasible: {plan.infeasibility.summary}")
        for conflict in plan.infeasibility.conflicts:
            typer.echo(f"  - {conflict.description}  [{', '.join(conflict.constraints)}]")
    else:
        typer.echo(
            f"{plan.status}: {plan.total_spend:,.0f} {plan.currency} over {plan.weeks} weeks, "
            f"predicted {plan.predicted_outcome or 0:,.0f} (certified gap {plan.kkt_gap or 0:.1e})"
        )
        for week in plan.week_totals:
            typer.echo(f"  week {week.week + 1:>3}: {week.spend:>14,.2f} ({week.share:6.1%})")
        if plan.binding:
            typer.echo(f"  binding: {', '.join(plan.binding[:10])}")
    if plan.status == "infeasible":
        raise typer.Exit(EXIT_INFEASIBLE)
    if plan.status == "error":
        raise typer.Exit(1)
