"""`rmn app` (the Streamlit app; `rmn feedback-app` is its old name) and `rmn feedback export-dpo|stats`."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError

from rmnlora.cli.common import CliState, console, fail, settings_from_cli
from rmnlora.schemas.feedback import ExportFilter

if TYPE_CHECKING:
    from rmnlora.storage import Database

app = typer.Typer()
feedback_app = typer.Typer(
    name="feedback", help="Human feedback: DPO export and statistics.", no_args_is_help=True
)

STREAMLIT_APP = Path(__file__).resolve().parents[1] / "ui" / "streamlit_app.py"


def _tenant_of_brand(brand_id: str, tenant_id: str | None) -> tuple[Database, str]:
    from rmnlora.storage import Brand, open_db

    database = open_db(settings_from_cli())
    with database.get_session() as session:
        brand = session.get(Brand, brand_id)
    if brand is None or (tenant_id is not None and brand.tenant_id != tenant_id):
        raise fail(f"brand {brand_id!r} not found" + (f" for tenant {tenant_id!r}" if tenant_id else ""))
    return database, brand.tenant_id


def _filter(
    brand: str, task: str | None, since: dt.datetime | None, until: dt.datetime | None, corrections: bool
) -> ExportFilter:
    try:
        return ExportFilter(
            brand_id=brand,
            task=task,
            since=since.date() if since else None,
            until=until.date() if until else None,
            include_corrections=corrections,
        )
    except ValidationError as exc:
        raise fail("; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())) from exc


Brand = Annotated[str, typer.Option("--brand", help="Brand id (its tenant is looked up).")]
Tenant = Annotated[str | None, typer.Option("--tenant", help="Refuse unless the brand belongs to it.")]
Task = Annotated[str | None, typer.Option("--task", help="Only this task, e.g. creative.")]
Since = Annotated[dt.datetime | None, typer.Option("--since", formats=["%Y-%m-%d"], help="From (UTC date).")]
Until = Annotated[dt.datetime | None, typer.Option("--until", formats=["%Y-%m-%d"], help="To, inclusive.")]


@feedback_app.command("export-dpo")
def export_dpo(
    brand: Brand,
    out: Annotated[Path, typer.Option("--out", help="JSON-lines file to write.")],
    tenant: Tenant = None,
    task: Task = None,
    since: Since = None,
    until: Until = None,
    corrections: Annotated[
        bool,
        typer.Option("--corrections/--no-corrections", help="Corrections as chosen-over-original pairs."),
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
) -> None:
    """Write the brand's preference pairs as TRL DPO JSON lines (prompt / chosen / rejected)."""
    from rmnlora.feedback.export import write_dpo_jsonl

    flt = _filter(brand, task, since, until, corrections)
    database, tenant_id = _tenant_of_brand(brand, tenant)
    rows = write_dpo_jsonl(database, tenant_id, flt, out)
    if as_json:
        typer.echo(json.dumps({"rows": rows, "out": str(out), "brand": brand, "tenant": tenant_id}))
    else:
        console.print(f"wrote {rows} DPO rows for brand {brand} to {out}")
    if rows == 0:
        console.print(
            "[yellow]warning:[/yellow] no preference pairs or corrections matched: the file is empty"
        )


@feedback_app.command("stats")
def feedback_stats(
    brand: Brand,
    tenant: Tenant = None,
    task: Task = None,
    since: Since = None,
    until: Until = None,
) -> None:
    """Print the brand's feedback statistics as one JSON object."""
    from rmnlora.feedback.store import stats

    flt = _filter(brand, task, since, until, True)
    database, tenant_id = _tenant_of_brand(brand, tenant)
    typer.echo(stats(database, tenant_id, flt).model_dump_json())


@app.command("app")
@app.command("feedback-app", hidden=True)
def feedback_app_command(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8501,
    tenant: Annotated[
        str | None,
        typer.Option(help="Serve one tenant without sign-in (local use); default: API-key sign-in."),
    ] = None,
) -> None:
    """Start the app: the buyer's workspace (new plan, plans, review) and the copywriter's feedback pages."""
    settings_from_cli()  # a broken config fails here, not inside the browser
    env = dict(os.environ)
    if CliState.config_path is not None:
        env["RMN_CONFIG"] = str(CliState.config_path.resolve())
    if tenant:
        env["RMN_FEEDBACK_TENANT"] = tenant
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(STREAMLIT_APP),
        f"--server.address={host}",
        f"--server.port={port}",
        "--server.headless=true",
        "--browser.gatherUsageStats=false",
        "--client.toolbarMode=viewer",  # buyers get no developer menu ("Deploy", rerun settings)
    ]
    console.print(f"rmnlora app on http://{host}:{port} (Ctrl-C to stop)")
    try:
        raise typer.Exit(subprocess.call(command, env=env))
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
