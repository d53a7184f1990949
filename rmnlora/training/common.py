"""What SFT and DPO runs share: LoRA config, CPU-safe precision, checkpoint resume, loss capture.

Why explicit precision: TRL configs default to bf16 and gradient checkpointing, which break or
crawl on a CPU; every run here states its precision from the device it actually runs on.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rmnlora.schemas.training import TrainResult

DEFAULT_TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass
class LoraRunConfig:
    """Fields common to SFT and DPO runs (the method configs extend it)."""

    kind: str
    name: str
    output_dir: Path
    max_steps: int = 60
    learning_rate: float = 2e-4
    batch_size: int = 8
    grad_accum: int = 1
    max_length: int = 256
    lora_rank: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.0
    target_modules: Sequence[str] = field(default_factory=lambda: list(DEFAULT_TARGET_MODULES))
    seed: int = 0
    qlora: bool = False
    save_steps: int = 20
    resume: bool = True
    progress: bool = True
    chat_format: bool = True

    def __post_init__(self) -> None:
        self.output_dir = Path(self.output_dir)
        if self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {self.max_steps}")
        if self.lora_rank < 1:
            raise ValueError(f"lora_rank must be >= 1, got {self.lora_rank}")

    @property
    def checkpoint_dir(self) -> Path:
        return self.output_dir / "checkpoints"

    @property
    def adapter_dir(self) -> Path:
        return self.output_dir / "adapter"


def lora_config(config: LoraRunConfig) -> Any:
    from peft import LoraConfig

    return LoraConfig(
        r=config.lora_rank,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=list(config.target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )


def new_lora(model: Any, config: LoraRunConfig) -> Any:
    """The LoRA config for a fresh adapter, or None when ``model`` already carries the adapter to train.

    Why: improving an adapter trains its own weights further (a PeftModel loaded trainable), and
    TRL refuses a PeftModel together with a second ``peft_config``.
    """
    from peft import PeftModel

    return None if isinstance(model, PeftModel) else lora_config(config)


def model_device(model: Any) -> str:
    try:
        return str(next(model.parameters()).device.type)
    except StopIteration:
        return "cpu"


def trainer_args(config: LoraRunConfig, model: Any) -> dict[str, Any]:
    """TrainingArguments fields every run sets explicitly (precision, checkpoints, logging, seed)."""
    import torch

    on_gpu = model_device(model) == "cuda"
    bf16 = bool(on_gpu and torch.cuda.is_bf16_supported())
    return {
        "output_dir": str(config.checkpoint_dir),
        "max_steps": config.max_steps,
        "per_device_train_batch_size": config.batch_size,
        "gradient_accumulation_steps": config.grad_accum,
        "learning_rate": config.learning_rate,
        "lr_scheduler_type": "constant",
        "warmup_steps": 0,
        "logging_steps": 1,
        "save_strategy": "steps",
        "save_steps": config.save_steps,
        "save_total_limit": 2,
        "report_to": [],
        "use_cpu": not on_gpu,
        "bf16": bf16,
        "fp16": False,
        "gradient_checkpointing": False,
        "seed": config.seed,
        "data_seed": config.seed,
        "disable_tqdm": not config.progress,
        "dataloader_num_workers": 0,
        "max_length": config.max_length,
    }


def last_checkpoint(config: LoraRunConfig) -> str | None:
    """The newest ``checkpoint-N`` folder of an interrupted run, when resuming is on."""
    if not config.resume or not config.checkpoint_dir.is_dir():
        return None
    from transformers.trainer_utils import get_last_checkpoint

    found: str | None = get_last_checkpoint(str(config.checkpoint_dir))
    return found


@dataclass
class TrainOutcome:
    losses: list[float]
    steps_run: int
    seconds: float
    resumed_from: str | None
    log_history: list[dict[str, Any]]


def run_trainer(trainer: Any, config: LoraRunConfig) -> TrainOutcome:
    """Train (resuming from the last checkpoint when there is one), save the adapter, capture losses."""
    if not config.progress:  # quiet: no progress bar and no per-step log lines on stdout
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)
    resume = last_checkpoint(config)
    start_step = 0
    if resume is not None:
        start_step = int(Path(resume).name.split("-")[-1])
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=resume)
    seconds = time.perf_counter() - started
    config.adapter_dir.mkdir(parents=True, exist_ok=True)
    model = trainer.model
    if len(getattr(model, "peft_config", {})) > 1 and "default" in model.peft_config:
        # DPO on an existing adapter adds a frozen "ref" copy as its reference: save only the trained one.
        model.save_pretrained(str(config.adapter_dir), selected_adapters=["default"])
    else:
        model.save_pretrained(str(config.adapter_dir))
    history = list(trainer.state.log_history)
    losses = [float(entry["loss"]) for entry in history if "loss" in entry]
    return TrainOutcome(
        losses=losses,
        steps_run=max(int(trainer.state.global_step) - start_step, 0),
        seconds=seconds,
        resumed_from=resume,
        log_history=history,
    )


def train_result(
    method: Literal["sft", "dpo"],
    config: LoraRunConfig,
    trainer: Any,
    outcome: TrainOutcome,
    train_rows: int,
    extra: dict[str, Any] | None = None,
) -> TrainResult:
    """The run's summary, built the same way for every trainer."""
    steps = max(outcome.steps_run, 1)
    return TrainResult(
        method=method,
        kind=config.kind,
        name=config.name,
        adapter_path=str(config.adapter_dir),
        steps=int(trainer.state.global_step),
        train_rows=train_rows,
        first_loss=outcome.losses[0] if outcome.losses else None,
        last_loss=outcome.losses[-1] if outcome.losses else None,
        losses=outcome.losses,
        seconds=outcome.seconds,
        seconds_per_step=outcome.seconds / steps,
        qlora=config.qlora,
        resumed_from=outcome.resumed_from,
        extra=extra or {},
    )
