"""Supervised fine-tuning of one LoRA adapter with TRL's SFTTrainer (prompt/completion rows).

The base model passed in is wrapped by PEFT in place; the adapter lands in
``<output_dir>/adapter`` (PEFT format the runtime loads), checkpoints in ``<output_dir>/checkpoints``
so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rmnlora.schemas.training import SplitManifest, TrainResult
from rmnlora.training.common import LoraRunConfig, new_lora, run_trainer, train_result, trainer_args
from rmnlora.training.datasets import SFT_KEYS, DatasetError, Row, as_chat, assert_no_leak


@dataclass
class SFTRunConfig(LoraRunConfig):
    """An SFT run; ``completion_only_loss``: learn the answer, not the instruction."""

    completion_only_loss: bool = True


def train_sft(
    model: Any,
    tokenizer: Any,
    train_rows: Sequence[Row],
    config: SFTRunConfig,
    manifest: SplitManifest | None = None,
    callbacks: Sequence[Any] = (),
) -> TrainResult:
    """Train a LoRA adapter on ``train_rows``; refuses rows whose prompt the ``manifest`` held out."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    rows = [dict(r) for r in train_rows]
    if not rows:
        raise DatasetError("SFT needs at least one training row")
    for i, row in enumerate(rows):
        missing = [k for k in SFT_KEYS if k not in row]
        if missing:
            raise DatasetError(f"SFT row {i + 1} lacks {missing} (rows are {{'prompt', 'completion'}})")
    if manifest is not None:
        assert_no_leak(rows, manifest)
    args = SFTConfig(
        **trainer_args(config, model),
        completion_only_loss=config.completion_only_loss,
        packing=False,
        dataset_num_proc=None,
    )
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(
            as_chat(rows, SFT_KEYS) if config.chat_format else [{k: r[k] for k in SFT_KEYS} for r in rows]
        ),
        processing_class=tokenizer,
        peft_config=new_lora(model, config),
        callbacks=list(callbacks) or None,
    )
    outcome = run_trainer(trainer, config)
    return train_result("sft", config, trainer, outcome, len(rows))
