"""``rmn reflect PHASE SIGNALS.json`` and ``rmn memory recall|store|health``.

``reflect`` runs the phase's assessor on a signals file (the JSON of HarmonizeSignals,
OptimizeSignals, ...) and prints the decision; with ``--tenant`` and ``--query`` it also recalls
similar past scenarios from memory. ``memory`` inspects and fills the tenant's scenario store.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.markup import escape

from rmnlora.cli.common import console, fail, settings_from_cli
from rmnlora.yaml_input import MAX_JSON_BYTES, read_text_file

app = typer.Typer()
memory_app = typer.Typer(
    name="memory",
    help="Past scenarios in ChromaDB (per tenant): recall, store, health.",
    no_args_is_help=True,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object to stdout.")]


def _open_memory() -> Any:
    from rmnlora.memory import MemoryUnavailable, ScenarioMemory

    try:
        return ScenarioMemory.from_settings(settings_from_cli())
    except MemoryUnavailable as exc:
        raise fail(str(exc)) from exc


def _read_json(path: Path) -> dict[str, Any]:
    try:
        text = read_text_file(path, "signals file", ValueError, max_bytes=MAX_JSON_BYTES)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise fail(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise fail(f"{path} must hold a JSON object")
    return data


@app.command("reflect")
def reflect_command(
    phase: Annotated[str, typer.Argument(help="harmonize, optimize, measure, create or govern.")],
    signals: Annotated[Path, typer.Argument(help="JSON file with the phase's signals.")],
    session: Annotated[str, typer.Option(help="Session id recorded with the decision.")] = "cli",
    tenant: Annotated[str | None, typer.Option(help="Recall similar scenarios of this tenant.")] = None,
    query: Annotated[str | None, typer.Option(help="Text to recall by (with --tenant).")] = None,
    revisions_used: Annotated[int, typer.Option(help="Revisions already made in this phase.")] = 0,
    as_json: JsonFlag = False,
) -> None:
    """Assess SIGNALS for PHASE and print the decision (exit 0 whatever the decision)."""
    from rmnlora.reflection import ReflectionEngine

    settings = settings_from_cli()
    engine = ReflectionEngine.from_settings(settings)
    data = _read_json(signals)
    refs = []
    if tenant:
        if not query:
            raise fail("--tenant needs --query: the text to find similar scenarios by")
        refs = _open_memory().recall(tenant, query, k=settings.memory.recall_k)
    try:
        ctx = engine.reflect(phase, data, session_id=session, memory_refs=refs, revisions_used=revisions_used)
    except ValidationError as exc:
        problems = "; ".join(f"'{'.'.join(map(str, e['loc']))}': {e['msg']}" for e in exc.errors())
        raise fail(f"invalid {phase} signals in {signals}: {problems}") from exc
    except (ValueError, TypeError) as exc:
        raise fail(str(exc)) from exc
    assert ctx.decision is not None
    if as_json:
        typer.echo(ctx.decision.model_dump_json())
        return
    d = ctx.decision
    colour = {"proceed": "green", "revise": "yellow", "escalate": "magenta", "block": "red"}[d.decision]
    console.print(
        f"[bold {colour}]{d.decision}[/bold {colour}] confidence {d.confidence:.2f} / {d.threshold:.2f}"
    )
    console.print(escape(d.rationale))
    for risk in d.risks:
        console.print(escape(f"  risk ({risk.severity}) {risk.factor}: {risk.triggered_by}"))
    for flag in d.biases:
        console.print(escape(f"  bias {flag.type.value}: {flag.note}"))
    if d.changes:
        console.print(f"  changes: {json.dumps(d.changes)}")


@memory_app.command("recall")
def memory_recall(
    tenant: Annotated[str, typer.Option(help="Tenant whose scenarios to search.")],
    query: Annotated[str, typer.Argument(help="Text describing the scenario.")],
    k: Annotated[int | None, typer.Option(help="How many (default: memory.recall_k).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """The k most similar past scenarios of TENANT, most similar first, with outcomes."""
    store = _open_memory()
    refs = store.recall(tenant, query, k=k or settings_from_cli().memory.recall_k)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "tenant": tenant,
                    "location": store.location,
                    "refs": [r.model_dump(mode="json") for r in refs],
                }
            )
        )
        return
    if not refs:
        console.print(f"no scenarios stored for tenant {tenant!r} ({store.location})")
    for ref in refs:
        console.print(escape(f"{ref.similarity:.3f} ({ref.outcome}) {ref.scenario_id}: {ref.summary[:120]}"))


@memory_app.command("store")
def memory_store(
    tenant: Annotated[str, typer.Option(help="Tenant that owns the scenario.")],
    scenario_id: Annotated[str, typer.Option("--id", help="Scenario id (same id replaces).")],
    summary: Annotated[str, typer.Argument(help="Text the scenario is recalled by.")],
    outcome: Annotated[
        str, typer.Option(help="success, failure, blocked, escalated or unknown.")
    ] = "unknown",
    as_json: JsonFlag = False,
) -> None:
    """Store (or replace) one scenario in TENANT's memory."""
    store = _open_memory()
    try:
        record = store.store_scenario(tenant, scenario_id, summary, outcome=outcome)  # type: ignore[arg-type]
    except ValueError as exc:
        raise fail(str(exc)) from exc
    if as_json:
        typer.echo(json.dumps({"stored": record.model_dump(mode="json"), "location": store.location}))
    else:
        console.print(f"stored {scenario_id} for {tenant} in {store.location}")


@memory_app.command("health")
def memory_health(as_json: JsonFlag = False) -> None:
    """Whether the configured ChromaDB answers (exit 1 if not)."""
    report = _open_memory().health()
    if as_json:
        typer.echo(json.dumps(report))
    else:
        console.print(("ok " if report["ok"] else "DOWN ") + report["location"])
    if not report["ok"]:
        raise typer.Exit(1)
