"""`rmn plan`, `rmn runs`, `rmn graph`, `rmn demo`: run the planner graph from the command line.

Exit codes tell scripts how a plan ended: 0 finished, 2 bad input, 3 paused for a person's
review (resume with --resume RUN_ID --approve|--reject), 4 blocked by a critical risk.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from langchain_core.runnables import RunnableConfig
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from rmnlora.cli.common import console, fail, settings_from_cli
from rmnlora.planner.state import ReviewRequest, human_of, reflections_of

if TYPE_CHECKING:
    from rmnlora.storage.database import Database

EXIT_PAUSED = 3
EXIT_BLOCKED = 4

app = typer.Typer()
runs_app = typer.Typer(name="runs", help="Past and paused planner runs.", no_args_is_help=True)


def _decision_style(decision: str) -> str:
    return {"proceed": "green", "revise": "yellow", "escalate": "magenta", "block": "red"}.get(
        decision, "white"
    )


def _print_update(node: str, update: dict[str, Any]) -> None:
    seconds = (update.get("timings") or {}).get(node)
    took = f" ({seconds:.1f}s)" if seconds is not None else ""
    if node.startswith("reflect_"):
        verdict = reflections_of(update)[-1]
        style = _decision_style(verdict.decision)
        console.print(
            f"  [bold]{verdict.phase.value}[/bold] gate: [{style}]{verdict.decision}[/{style}] "
            f"confidence {verdict.confidence:.2f} (threshold {verdict.threshold:.2f}){took}"
        )
        if verdict.rationale:
            console.print(f"    {escape(verdict.rationale)}")
        for risk in verdict.risks[:4]:
            console.print(f"    risk {escape(f'[{risk.severity}]')} {escape(risk.factor)}")
    elif node == "human_review":
        answer = human_of(update)
        if answer is not None:
            console.print(f"  review: {answer.action} {answer.note}")
    else:
        console.print(f"[cyan]✓ {node}[/cyan]{took}")


def _stream(
    graph: Any, graph_input: Any, config: RunnableConfig, as_json: bool, out_dir: str, database: Database
) -> dict[str, Any]:
    """Drive the run to its next stop, holding its lock, printing and logging each node."""
    from rmnlora.planner import progress
    from rmnlora.planner.background import LOCK_TTL_S, lock_key, stream_into_log
    from rmnlora.storage.locks import LockHeldError, process_holder, run_lock

    run = str((config.get("configurable") or {}).get("thread_id"))
    holder = process_holder("cli")
    interrupted: list[Any] = []
    try:
        with run_lock(database, lock_key(run), holder, LOCK_TTL_S):
            kind = "started" if isinstance(graph_input, dict) else "resumed"
            progress.note(out_dir, kind, f"from the command line ({holder})")
            stream_into_log(
                graph,
                graph_input,
                config,
                out_dir,
                lambda node, update: _show(node, update, interrupted, as_json),
            )
    except LockHeldError as exc:
        raise fail(f"run {run!r} is being planned by another process: {exc}", 2) from exc
    snapshot = graph.get_state(config)
    values: dict[str, Any] = dict(snapshot.values)
    if interrupted or snapshot.next:
        values["status"] = "awaiting_review"
        values["interrupt"] = [getattr(item, "value", item) for item in interrupted]
    return values


def _show(node: str, update: Any, interrupted: list[Any], as_json: bool) -> None:
    if node == "__interrupt__":
        interrupted.extend(update)
    elif not as_json and isinstance(update, dict):
        _print_update(node, update)


def _finish(values: dict[str, Any], as_json: bool) -> None:
    status = values.get("status", "unknown")
    run_id = values.get("run_id", "?")
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "run_id": run_id,
                    "status": status,
                    "report": values.get("report", {}),
                    "blocked_reasons": values.get("blocked_reasons", []),
                    "results": values.get("results", {}),
                    "reflections": values.get("reflections", []),
                    "interrupt": values.get("interrupt", []),
                },
                default=str,
            )
        )
    if status == "awaiting_review":
        if not as_json:
            for item in values.get("interrupt", []):
                request = ReviewRequest.model_validate(item)
                console.print(f"[magenta]paused for review at {request.phase}:[/magenta] {request.rationale}")
            console.print(f"resume with: rmn plan --resume {run_id} --approve|--reject [--note TEXT]")
        raise typer.Exit(EXIT_PAUSED)
    if status == "blocked":
        if not as_json:
            console.print("[red]plan blocked:[/red] " + "; ".join(values.get("blocked_reasons", [])))
            if values.get("report"):
                console.print(f"report: {values['report'].get('markdown')}")
        raise typer.Exit(EXIT_BLOCKED)
    if not as_json:
        report = values.get("report", {})
        console.print(f"[green]plan {status}[/green] run {run_id}")
        for kind, path in report.items():
            console.print(f"  {kind}: {path}")


@app.command()
def plan(
    brief: Annotated[Path | None, typer.Argument(help="Campaign brief YAML.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object with the outcome.")] = False,
    out: Annotated[
        Path | None, typer.Option("--out", help="Report folder (default: <data_dir>/runs/ID).")
    ] = None,
    resume: Annotated[str | None, typer.Option("--resume", help="RUN_ID of a run paused for review.")] = None,
    approve: Annotated[bool, typer.Option("--approve", help="With --resume: continue the plan.")] = False,
    reject: Annotated[bool, typer.Option("--reject", help="With --resume: stop the plan.")] = False,
    note: Annotated[
        str | None, typer.Option("--note", help="Reviewer's note, kept in the audit trail.")
    ] = None,
    run_id: Annotated[
        str | None, typer.Option("--run-id", help="Id for a new run (default: random).")
    ] = None,
) -> None:
    """Plan a campaign brief: harmonize → optimize → measure → create → govern, gated by reflection."""
    from langgraph.types import Command

    from rmnlora.planner.graph import build_planner_graph
    from rmnlora.planner.persistence import BrandOwnershipError, check_brand_owner
    from rmnlora.planner.services import PlannerServices
    from rmnlora.schemas.brief import BriefError, load_brief

    settings = settings_from_cli()
    services = PlannerServices(settings)  # one database for the graph, the lock and the owner check
    if resume:
        graph = build_planner_graph(settings, services=services)
        config: RunnableConfig = {"configurable": {"thread_id": resume}}
        snapshot = graph.get_state(config)
        if not snapshot.values:
            raise fail(f"no run {resume!r} in the checkpoint store ({settings.data_dir})", 2)
        if not snapshot.next:
            raise fail(
                f"run {resume!r} has ended (status {snapshot.values.get('status')}); nothing to resume", 2
            )
        out_dir = str(snapshot.values.get("out_dir") or settings.data_dir / "runs" / resume)
        waiting = any(task.interrupts for task in snapshot.tasks)
        if waiting:
            if approve == reject:
                raise fail(f"run {resume!r} waits for review: give exactly one of --approve or --reject", 2)
            answer = {"action": "approve" if approve else "reject", "note": note or ""}
            _finish(_stream(graph, Command(resume=answer), config, as_json, out_dir, services.db), as_json)
            return
        if approve or reject:
            raise fail(
                f"run {resume!r} is not waiting for review (it stopped at {', '.join(snapshot.next)}); "
                f"continue it with: rmn plan --resume {resume}",
                2,
            )
        _finish(
            _stream(graph, None, config, as_json, out_dir, services.db), as_json
        )  # a crashed or killed run goes on
        return
    if brief is None:
        raise fail("give a brief file, or --resume RUN_ID", 2)
    if approve or reject:
        raise fail("--approve/--reject only make sense with --resume RUN_ID", 2)
    try:
        campaign = load_brief(brief)
    except BriefError as exc:
        raise fail(str(exc), 2) from exc
    run = run_id or f"run-{uuid.uuid4().hex[:12]}"
    graph = build_planner_graph(settings, services=services)
    try:  # before anything is checkpointed or written for this run
        check_brand_owner(services.db, tenant_id=campaign.tenant, brand_id=campaign.brand)
    except BrandOwnershipError as exc:
        raise fail(str(exc), 2) from exc
    if graph.get_state({"configurable": {"thread_id": run}}).values:
        raise fail(f"run id {run!r} is taken: choose another, or continue it with rmn plan --resume {run}", 2)
    if not as_json:
        console.print(f"planning [bold]{campaign.name}[/bold] for {campaign.brand} (run {run})")
    state = {
        "run_id": run,
        "tenant_id": campaign.tenant,
        "brief": campaign.model_dump(mode="json"),
        "out_dir": str(out or settings.data_dir / "runs" / run),
    }
    new_config: RunnableConfig = {"configurable": {"thread_id": run}}
    _finish(_stream(graph, state, new_config, as_json, str(state["out_dir"]), services.db), as_json)


@runs_app.command("list")
def runs_list(
    as_json: Annotated[bool, typer.Option("--json")] = False,
    limit: Annotated[int, typer.Option(help="Newest N runs.")] = 20,
) -> None:
    """List planner runs, newest first."""
    from sqlmodel import col, select

    from rmnlora.storage import PlanRun, open_db

    database = open_db(settings_from_cli())
    with database.get_session() as session:
        rows = session.exec(select(PlanRun).order_by(col(PlanRun.started_at).desc()).limit(limit)).all()
    if as_json:
        typer.echo(json.dumps([row.model_dump(mode="json", exclude={"brief", "result"}) for row in rows]))
        return
    table = Table("run", "tenant", "brief", "status", "started", "report")
    for row in rows:
        table.add_row(
            row.id, row.tenant_id, row.brief_name, row.status, str(row.started_at)[:19], row.report_path or ""
        )
    Console(soft_wrap=True).print(table)


@runs_app.command("show")
def runs_show(run_id: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """One run: status, decisions at each gate, report."""
    from sqlmodel import col, select

    from rmnlora.storage import PlanRun, ReflectionLog, open_db

    database = open_db(settings_from_cli())
    with database.get_session() as session:
        run = session.get(PlanRun, run_id)
        if run is None:
            raise fail(f"no run {run_id!r}", 2)
        logs = session.exec(
            select(ReflectionLog).where(ReflectionLog.run_id == run_id).order_by(col(ReflectionLog.id))
        ).all()
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "run": run.model_dump(mode="json"),
                    "reflections": [log.model_dump(mode="json") for log in logs],
                },
                default=str,
            )
        )
        return
    typer.echo(f"run {run.id}  status {run.status}  brief {run.brief_name}  report {run.report_path}")
    for log in logs:
        typer.echo(f"  {log.phase:10s} {log.decision:9s} confidence {log.confidence:.2f}  {log.rationale}")


@app.command("graph")
def graph_command(
    mermaid: Annotated[bool, typer.Option("--mermaid", help="Print the mermaid drawing (default).")] = True,
) -> None:
    """Draw the planner graph (mermaid text; works offline)."""
    from rmnlora.planner.graph import build_planner_graph

    graph = build_planner_graph(settings_from_cli(), checkpointer=False)
    typer.echo(graph.get_graph().draw_mermaid())


@app.command()
def demo(
    brief: Annotated[Path, typer.Option(help="Brief to plan.")] = Path("examples/brief.yaml"),
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object with the outcome.")] = False,
) -> None:
    """The main job on the embedded defaults: write the example exports, harmonize and plan the brief."""
    from rmnlora.datagen.retail_exports import GENERATOR_VERSION, generate_exports

    if not brief.is_file():
        raise fail(f"brief {brief} not found (run from the repository root, or pass --brief)", 2)
    data_dir = brief.parent / "data"
    written_by = _example_generator_version(data_dir / "ground_truth.json")
    if written_by != GENERATOR_VERSION:
        why = "" if written_by is None else f" (the files there are from generator version {written_by})"
        console.print(f"writing the example retailer exports to {data_dir} (deterministic, seed 0){why}")
        generate_exports(data_dir, seed=0)
    plan(
        brief=brief,
        as_json=as_json,
        out=None,
        resume=None,
        approve=False,
        reject=False,
        note=None,
        run_id=None,
    )


def _example_generator_version(truth_file: Path) -> int | None:
    """Which generator wrote the example data (None: none there, or unreadable)."""
    if not truth_file.is_file():
        return None
    from pydantic import ValidationError

    from rmnlora.datagen.retail_exports import GroundTruth

    try:
        return GroundTruth.model_validate_json(truth_file.read_text(encoding="utf-8")).generator_version
    except (ValidationError, OSError, UnicodeDecodeError):
        return None
