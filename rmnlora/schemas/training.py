"""Typed records of training runs: the recorded held-out split and a run's outcome.

Format limits, policy and prompts are not modelled here: creative training rows are the creative
agent's own request (``agents/creative/prompts.py``) for a corpus brief, judged by governance's
``check_copy`` with the retailer format's ``format_pack`` (``rmnlora/training/creative_rows.py``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class SplitManifest(BaseModel):
    """What was held out, recorded so a later training run can prove it never trains on it."""

    dataset: str
    seed: int
    heldout_fraction: float
    train_rows: int
    heldout_rows: int
    heldout_prompt_hashes: list[str]
    split_by: str = Field(
        default="prompt hash", description="How rows were assigned: 'prompt hash' or the corpus's own split."
    )


class TrainResult(BaseModel):
    """Outcome of one training run, also stored as the adapter's metrics."""

    method: Literal["sft", "dpo"]
    kind: str
    name: str
    adapter_path: str
    steps: int
    train_rows: int
    first_loss: float | None
    last_loss: float | None
    losses: list[float]
    seconds: float
    seconds_per_step: float
    qlora: bool = False
    resumed_from: str | None = None
    registered_id: int | None = None
    extra: dict[str, Any] = Field(default_factory=dict)
