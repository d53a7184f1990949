"""The root ``rmn`` app: the ``--config`` option and every area's sub-app; the logic lives in the agents.

Each area module in this package defines its own Typer app(s) and knows nothing of this one. An
unnamed sub-app's commands become top-level commands (``rmn plan``); a named one is a group
(``rmn runs list``). The order below is the order ``rmn --help`` lists them in: top-level
commands first, then the groups.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rmnlora.cli import (
    adapters,
    creative,
    db,
    feedback,
    harmonize,
    improve,
    info,
    measure,
    optimize,
    plan,
    reflection,
    train,
)
from rmnlora.cli.common import CliState, quiet_third_party_noise
from rmnlora.config import CONFIG_ENV_VAR

app = typer.Typer(
    name="rmn",
    help="rmnlora: retail-media planning with reflection-gated agents and LoRA-composed local models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


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
    quiet_third_party_noise()


# Top-level commands: rmn version, schemas, serve, check-copy, ..., eval.
for area in (info, adapters, creative, feedback, harmonize, optimize, plan, reflection, train, improve):
    app.add_typer(area.app)

# Command groups: rmn db ..., rmn adapters ..., ..., rmn train ...
for group in (
    db.app,
    adapters.adapters_app,
    feedback.feedback_app,
    harmonize.examples_app,
    measure.app,
    plan.runs_app,
    reflection.memory_app,
    train.train_app,
):
    app.add_typer(group)
