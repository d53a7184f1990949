"""The ``rmn`` command (entry point ``rmnlora.cli:app``): a root app and one Typer sub-app per area."""

from rmnlora.cli.main import app

__all__ = ["app"]
