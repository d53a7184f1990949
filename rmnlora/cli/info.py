"""``rmn version`` and ``rmn schemas``: this installation's version and its tools' JSON Schemas."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from rmnlora import __version__

app = typer.Typer()


@app.command()
def version() -> None:
    """Print the rmnlora version."""
    typer.echo(__version__)


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
