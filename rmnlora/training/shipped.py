"""The adapters the product ships: trained by one reproducible command from the copy corpus.

Layout of the composition they serve (``task`` + ``retailer`` + ``brand``, summed by ``cat``):
- ``task/creative`` learns the job on every training copy: the answer layout, format limits, tone;
- each ``retailer/<name>`` is trained *on top of* the task adapter (merged into the base while it
  trains) on that retailer's copies, so task + retailer at weights 1 + 1 is exactly the model the
  retailer adapter was trained against, not a sum of two deltas that never met;
- ``brand/acme-snacks`` is trained on top of the task adapter on the brand's copies.
Weights are saved in fp16 (the runtime loads them into its fp32 model), a few MB in all.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rmnlora.adapters.shipped import MANIFEST, SHIPPED_DIR
from rmnlora.schemas.training import TrainResult
from rmnlora.training.corpus import Corpus, Example
from rmnlora.training.sft import SFTRunConfig, train_sft


@dataclass(frozen=True)
class ShippedSpec:
    """One adapter to ship: what it learns from, what it sits on, and its LoRA shape."""

    kind: str
    name: str
    parent: str | None = None  # "kind/name" trained first and merged under this one
    retailer: str | None = None
    brand: str | None = None
    owner_tenant: str | None = None  # brand adapters belong to a tenant
    rank: int = 8
    targets: tuple[str, ...] = ("q_proj", "v_proj")
    epochs: float = 1.0
    learning_rate: float = 3e-4

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.name}"


SHIPPED: tuple[ShippedSpec, ...] = (
    ShippedSpec("task", "creative", targets=("q_proj", "k_proj", "v_proj", "o_proj"), epochs=1.0),
    ShippedSpec(
        "brand", "acme-snacks", parent="task/creative", brand="acme-snacks", owner_tenant="acme", epochs=2.0
    ),
    ShippedSpec("retailer", "walmart", parent="task/creative", retailer="walmart"),
    ShippedSpec("retailer", "amazon", parent="task/creative", retailer="amazon"),
    ShippedSpec("retailer", "kroger", parent="task/creative", retailer="kroger"),
)


@dataclass
class ShipRun:
    """Where a run trains (checkpoints) and where finished adapters go."""

    work_dir: Path
    out_dir: Path = SHIPPED_DIR
    seed: int = 0
    batch_size: int = 8
    progress: bool = True
    max_steps: int | None = None  # a cap for smoke runs; None trains the specs' epochs
    results: dict[str, TrainResult] = field(default_factory=dict)


def examples_for(spec: ShippedSpec, corpus: Corpus) -> list[Example]:
    return corpus.select("train", retailer=spec.retailer, brand=spec.brand)


def _model_on_parent(load_base: Callable[[], tuple[Any, Any]], parent: Path | None) -> tuple[Any, Any]:
    """The base with the parent adapter merged in (the model a child adapter is trained against)."""
    model, tokenizer = load_base()
    if parent is None:
        return model, tokenizer
    from peft import PeftModel

    return PeftModel.from_pretrained(model, str(parent)).merge_and_unload(), tokenizer


def save_fp16(adapter_dir: Path, target: Path, manifest: dict[str, Any]) -> Path:
    """Copy a PEFT adapter folder with its weights cast to fp16, plus the manifest of how it was made."""
    from safetensors.torch import load_file, save_file

    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    weights = {
        k: v.half().contiguous() for k, v in load_file(str(adapter_dir / "adapter_model.safetensors")).items()
    }
    save_file(weights, str(target / "adapter_model.safetensors"))
    shutil.copy2(adapter_dir / "adapter_config.json", target / "adapter_config.json")
    (target / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
    return target


def train_shipped(
    corpus: Corpus,
    load_base: Callable[[], tuple[Any, Any]],
    run: ShipRun,
    only: Sequence[str] = (),
) -> dict[str, TrainResult]:
    """Train every shipped adapter (or ``only`` those keys) in order, parents first."""
    wanted = [s for s in SHIPPED if not only or s.key in only]
    for spec in wanted:
        rows = corpus.sft_rows(examples_for(spec, corpus))
        steps = math.ceil(spec.epochs * len(rows) / run.batch_size)
        if run.max_steps is not None:
            steps = min(steps, run.max_steps)
        config = SFTRunConfig(
            kind=spec.kind,
            name=spec.name,
            output_dir=run.work_dir / spec.kind / spec.name,
            max_steps=steps,
            learning_rate=spec.learning_rate,
            batch_size=run.batch_size,
            lora_rank=spec.rank,
            lora_alpha=2 * spec.rank,
            target_modules=list(spec.targets),
            seed=run.seed,
            save_steps=max(10, steps // 4),
            progress=run.progress,
        )
        parent = run.out_dir / spec.parent if spec.parent else None
        if parent is not None and not (parent / "adapter_model.safetensors").is_file():
            raise FileNotFoundError(f"{spec.key} trains on top of {spec.parent}: train that first ({parent})")
        model, tokenizer = _model_on_parent(load_base, parent)
        result = train_sft(
            model, tokenizer, [{"prompt": r["prompt"], "completion": r["completion"]} for r in rows], config
        )
        manifest = {
            "kind": spec.kind,
            "name": spec.name,
            "parent": spec.parent,
            "owner_tenant": spec.owner_tenant,
            "train_rows": len(rows),
            "train_products": sorted({r["meta"]["product"] for r in rows}),
            "steps": result.steps,
            "epochs": spec.epochs,
            "batch_size": run.batch_size,
            "learning_rate": spec.learning_rate,
            "rank": spec.rank,
            "targets": list(spec.targets),
            "seed": run.seed,
            "first_loss": result.first_loss,
            "last_loss": result.last_loss,
            "seconds": round(result.seconds, 1),
        }
        save_fp16(config.adapter_dir, run.out_dir / spec.kind / spec.name, manifest)
        run.results[spec.key] = result
        del model
    return run.results
