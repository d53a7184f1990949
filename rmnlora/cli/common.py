"""What every ``rmn`` area needs: the console, error exits, and the settings of this invocation."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from rmnlora.config import ConfigError, Settings, load_settings

console = Console(stderr=True, soft_wrap=True)


class CliState:
    """Set by the root callback (``rmn --config FILE``) before any command runs."""

    config_path: Path | None = None


def settings_from_cli() -> Settings:
    """Settings for this invocation; a config problem ends the command with its message."""
    try:
        return load_settings(CliState.config_path)
    except ConfigError as exc:
        console.print(f"[red]configuration error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from exc


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print a one-line error and return the Exit to raise."""
    console.print(f"[red]error:[/red] {escape(message)}")  # brackets in a message are text, not markup
    return typer.Exit(code)


def quiet_third_party_noise() -> None:
    """Hide warnings libraries print about themselves, not about the user's work.

    bitsandbytes logs that an optional CPU kernel package is absent (4-bit still works, see
    PITFALLS); transformers warns about its own renamed attributes when PEFT touches them.
    """
    import logging
    import warnings

    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"transformers(\.|$)")
