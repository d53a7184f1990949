"""Settings-level training: split → train → score on held-out → register, in one call.

Why one place: the CLI, the benchmark and the planner's retraining step must all keep held-out
data apart the same way, store runs in the same folders, and register adapters so the runtime
can use them at once (``<data_dir>/adapters`` through the AdapterRegistry).
Layout: ``<data_dir>/datasets/<method>/<kind>/<name>/{train,heldout}.jsonl + manifest.json``,
``<data_dir>/training/<method>/<kind>/<name>/{checkpoints,adapter}``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from rmnlora.config import Settings
from rmnlora.schemas.training import TrainResult
from rmnlora.storage.database import Database
from rmnlora.training.datasets import (
    DPO_KEYS,
    SFT_KEYS,
    Row,
    explicit_split,
    read_rows,
    save_split,
    split_heldout,
)
from rmnlora.training.dpo import DPORunConfig, train_dpo
from rmnlora.training.evaluate import load_adapters, score_model
from rmnlora.training.sft import SFTRunConfig, train_sft

Method = Literal["sft", "dpo"]
BaseLoader = Callable[[], tuple[Any, Any]]


def dataset_dir(settings: Settings, method: Method, kind: str, name: str) -> Path:
    return settings.data_dir / "datasets" / method / kind / name


def run_dir(settings: Settings, method: Method, kind: str, name: str) -> Path:
    return settings.data_dir / "training" / method / kind / name


def default_loader(settings: Settings, qlora: bool = False) -> BaseLoader:
    """The configured base model, in fp32 or (``qlora``) NF4 4-bit."""

    def load() -> tuple[Any, Any]:
        if qlora:
            from rmnlora.adapters.base_model import base_model_path
            from rmnlora.training.qlora import load_base_4bit

            return load_base_4bit(base_model_path(settings), settings.model.device)
        from rmnlora.adapters.base_model import load_base_model

        return load_base_model(settings)

    return load


def train_and_register(
    settings: Settings,
    database: Database,
    config: SFTRunConfig | DPORunConfig,
    rows: Sequence[Row],
    *,
    tenant_id: str | None = None,
    heldout_fraction: float = 0.2,
    heldout: Sequence[Row] | None = None,
    split_by: str = "given held-out rows",
    load_base: BaseLoader | None = None,
    register: bool = True,
) -> TrainResult:
    """Split ``rows`` (held-out recorded), train on the rest, score base vs adapter, register it.

    ``heldout``: a split decided by the data's source (the corpus holds out whole products): then
    ``rows`` are all trained on, ``heldout`` only scored, and ``split_by`` is recorded; without it
    ``rows`` are split by prompt hash (``heldout_fraction``). ``config.output_dir`` is replaced by
    the run folder for (method, kind, name), so a repeated command resumes the interrupted run.
    Brand adapters are registered to ``tenant_id``.
    """
    from rmnlora.adapters.registry import AdapterRegistry
    from rmnlora.adapters.service import adapters_root

    method: Method = "dpo" if isinstance(config, DPORunConfig) else "sft"
    keys = DPO_KEYS if method == "dpo" else SFT_KEYS
    if config.kind == "brand" and register and not tenant_id:
        raise ValueError("brand adapters belong to a tenant: give tenant_id (--tenant)")
    folder = dataset_dir(settings, method, config.kind, config.name)
    dataset = f"{method}/{config.kind}/{config.name}"
    if heldout is None:
        train, held, manifest = split_heldout(rows, dataset, heldout_fraction, config.seed)
    else:
        train, held, manifest = explicit_split(rows, heldout, dataset, split_by)
    save_split(folder, train, held, manifest)
    config.output_dir = run_dir(settings, method, config.kind, config.name)
    loader = load_base or default_loader(settings, config.qlora)
    model, tokenizer = loader()
    if method == "dpo":
        assert isinstance(config, DPORunConfig)
        result = train_dpo(model, tokenizer, [{k: r[k] for k in keys} for r in train], config, manifest)
    else:
        assert isinstance(config, SFTRunConfig)
        result = train_sft(model, tokenizer, [{k: r[k] for k in keys} for r in train], config, manifest)
    del model
    result.extra["heldout"] = heldout_metrics(
        loader, tokenizer, config.name, str(config.adapter_dir), held, method, config.chat_format
    )
    result.extra["dataset_dir"] = str(folder)
    if register:
        registry = AdapterRegistry(database, adapters_root(settings))
        info = registry.register(
            config.kind,
            config.name,
            config.adapter_dir,
            owner_tenant_id=tenant_id if config.kind == "brand" else None,
            metrics=result.model_dump(exclude={"losses"}),
            replace=True,
        )
        result.registered_id = info.id
        result.adapter_path = info.path
    return result


def heldout_metrics(
    loader: BaseLoader,
    tokenizer: Any,
    name: str,
    adapter_path: str,
    heldout: Sequence[Row],
    method: Method,
    chat_format: bool = True,
) -> dict[str, Any]:
    """Held-out loss (SFT) or preference accuracy (DPO) of the base and of the new adapter."""
    from rmnlora.training.evaluate import active

    if not heldout:
        return {"rows": 0, "base": None, "adapter": None}
    base, _ = loader()
    model = load_adapters(base, {name: adapter_path})
    kwargs: dict[str, Any] = {"max_generations": 0, "chat_format": chat_format}
    if method == "dpo":
        kwargs["pairs"] = heldout
    else:
        kwargs["sft_rows"] = heldout
    with active(model, None):
        base_scores, base_logps = score_model("base", model, tokenizer, **kwargs)
    with active(model, name):
        scores, _ = score_model(name, model, tokenizer, reference_pair_logps=base_logps or None, **kwargs)
    return {"rows": len(heldout), "base": base_scores.as_dict(), "adapter": scores.as_dict()}


def feedback_dpo_rows(
    database: Database, tenant_id: str, brand_id: str, task: str | None = None
) -> list[Row]:
    """The brand's feedback as DPO rows (tenant-scoped read); an empty result is an error upstream."""
    from rmnlora.training.datasets import feedback_to_dpo, load_feedback

    return feedback_to_dpo(load_feedback(database, tenant_id, brand_id, task))


def rows_from_file(path: Path, method: Method) -> list[Row]:
    return read_rows(path, DPO_KEYS if method == "dpo" else SFT_KEYS)
