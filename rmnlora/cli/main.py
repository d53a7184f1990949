"""The ``rmn`` command. Each area registers its commands here; the logic lives in the agents."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from rmnlora import __version__
from rmnlora.config import CONFIG_ENV_VAR, ConfigError, Settings, load_settings

app = typer.Typer(
    name="rmn",
    help="rmnlora: retail-media planning with reflection-gated agents and LoRA-composed local models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema and health (Alembic migrations).", no_args_is_help=True)
app.add_typer(db_app, name="db")

console = Console(stderr=True, soft_wrap=True)


class CliState:
    config_path: Path | None = None


def settings_from_cli() -> Settings:
    """Settings for this invocation; a config problem ends the command with its message."""
    try:
        return load_settings(CliState.config_path)
    except ConfigError as exc:
        console.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print a one-line error and return the Exit to raise."""
    console.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


@app.callback()
def main(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help=f"YAML config file (default: ${CONFIG_ENV_VAR}, else built-in).",
            envvar=CONFIG_ENV_VAR,
        ),
    ] = None,
) -> None:
    CliState.config_path = config
    _quiet_third_party_noise()


def _quiet_third_party_noise() -> None:
    """Hide warnings libraries print about themselves, not about the user's work.

    bitsandbytes logs that an optional CPU kernel package is absent (4-bit still works, see
    PITFALLS); transformers warns about its own renamed attributes when PEFT touches them.
    """
    import logging
    import warnings

    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"transformers(\.|$)")


@app.command()
def version() -> None:
    """Print the rmnlora version."""
    typer.echo(__version__)


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Apply migrations up to REVISION."""
    from rmnlora.storage import open_db
    from rmnlora.storage.migrate import current_revision, upgrade

    database = open_db(settings_from_cli(), migrate=False)
    upgrade(database.engine, revision)
    console.print(
        f"database at revision [bold]{current_revision(database.engine)}[/bold] ({database.backend})"
    )


@db_app.command("downgrade")
def db_downgrade(revision: str = typer.Argument(..., help="Target revision, e.g. 'base' or '-1'.")) -> None:
    """Revert migrations down to REVISION."""
    from rmnlora.storage import open_db
    from rmnlora.storage.migrate import current_revision, downgrade

    database = open_db(settings_from_cli(), migrate=False)
    downgrade(database.engine, revision)
    console.print(f"database at revision [bold]{current_revision(database.engine)}[/bold]")


@db_app.command("health")
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


@app.command("schemas")
def schemas(
    out: Annotated[Path | None, typer.Option(help="Write to this file instead of stdout.")] = None,
) -> None:
    """Export the JSON Schema of every tool's input and output."""
    from rmnlora.schemas.tools import export_json_schemas

    text = json.dumps(export_json_schemas(), indent=2)
    if out:
        out.write_text(text, encoding="utf-8")
    else:
        typer.echo(text)


# Area command modules register on `app` when imported; kept last so the app above exists first.
from rmnlora.commands import (  # noqa: E402,F401
    adapters,
    creative,
    feedback,
    harmonize,
    measure,
    optimize,
    plan,
    reflection,
    train,
)
