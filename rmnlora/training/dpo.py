"""Direct preference optimisation of one LoRA adapter with TRL's DPOTrainer.

Rows are the feedback export's TRL format ``{"prompt", "chosen", "rejected"}``. With a LoRA
``peft_config`` TRL uses the same weights with the adapter disabled as the reference policy, so no
second copy of the base model is held in memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rmnlora.schemas.training import SplitManifest, TrainResult
from rmnlora.training.common import LoraRunConfig, new_lora, run_trainer, train_result, trainer_args
from rmnlora.training.datasets import DPO_KEYS, DatasetError, Row, as_chat, assert_no_leak


@dataclass
class DPORunConfig(LoraRunConfig):
    """A DPO run; ``beta`` scales the implicit reward (how far the policy may move from the base)."""

    beta: float = 0.1
    learning_rate: float = 5e-5

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.beta <= 0:
            raise ValueError(f"beta must be > 0, got {self.beta}")


def check_dpo_rows(rows: Sequence[Row]) -> list[Row]:
    """Rows reduced to the three TRL keys; a clear error naming the first bad row."""
    if not rows:
        raise DatasetError("DPO needs at least one preference pair")
    clean: list[Row] = []
    for i, row in enumerate(rows):
        missing = [k for k in DPO_KEYS if k not in row or not row[k]]
        if missing:
            raise DatasetError(
                f"DPO row {i + 1} lacks {missing} (rows are {{'prompt', 'chosen', 'rejected'}})"
            )
        if row["chosen"] == row["rejected"]:
            raise DatasetError(f"DPO row {i + 1}: chosen and rejected are identical")
        clean.append({k: row[k] for k in DPO_KEYS})
    return clean


def train_dpo(
    model: Any,
    tokenizer: Any,
    train_rows: Sequence[Row],
    config: DPORunConfig,
    manifest: SplitManifest | None = None,
    callbacks: Sequence[Any] = (),
) -> TrainResult:
    """Train a LoRA adapter on preference pairs; refuses rows whose prompt the ``manifest`` held out."""
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    rows = check_dpo_rows(train_rows)
    if manifest is not None:
        assert_no_leak(rows, manifest)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    args = DPOConfig(**trainer_args(config, model), beta=config.beta, dataset_num_proc=None)
    trainer = DPOTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(as_chat(rows, DPO_KEYS) if config.chat_format else rows),
        processing_class=tokenizer,
        peft_config=new_lora(model, config),
        callbacks=list(callbacks) or None,
    )
    outcome = run_trainer(trainer, config)
    rewards = [
        float(entry["rewards/accuracies"]) for entry in outcome.log_history if "rewards/accuracies" in entry
    ]
    extra = {"train_reward_accuracies": rewards, "beta": config.beta}
    return train_result("dpo", config, trainer, outcome, len(rows), extra)
