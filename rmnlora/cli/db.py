"""``rmn db upgrade|downgrade|health``: database schema and health (Alembic migrations)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from rmnlora.cli.common import console, settings_from_cli

app = typer.Typer(name="db", help="Database schema and health (Alembic migrations).", no_args_is_help=True)


@app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Apply migrations up to REVISION."""
    from rmnlora.storage import open_db
    from rmnlora.storage.migrate import current_revision, upgrade

    database = open_db(settings_from_cli(), migrate=False)
    upgrade(database.engine, revision)
    console.print(
        f"database at revision [bold]{current_revision(database.engine)}[/bold] ({database.backend})"
    )


@app.command("downgrade")
def db_downgrade(revision: str = typer.Argument(..., help="Target revision, e.g. 'base' or '-1'.")) -> None:
    """Revert migrations down to REVISION."""
    from rmnlora.storage import open_db
    from rmnlora.storage.migrate import current_revision, downgrade

    database = open_db(settings_from_cli(), migrate=False)
    downgrade(database.engine, revision)
    console.print(f"database at revision [bold]{current_revision(database.engine)}[/bold]")


@app.command("health")
def db_health(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Check the database connection and schema revision; exits 1 when unhealthy."""
    from dataclasses import asdict

    from rmnlora.storage import open_db

    settings = settings_from_cli()
    report = open_db(settings, migrate=False).health_check()
    if as_json:
        typer.echo(json.dumps(asdict(report)))
    else:
        colour = "green" if report.ok else "red"
        console.print(
            f"[{colour}]{'ok' if report.ok else 'unhealthy'}[/{colour}] {report.backend} "
            f"revision={report.revision} latency={report.latency_ms:.1f} ms {report.detail}"
        )
    if not report.ok:
        raise typer.Exit(1)
