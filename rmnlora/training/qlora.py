"""QLoRA: load the base in 4-bit NF4 with bitsandbytes and train LoRA on top.

Why: this is the path for 8B-class bases on a GPU (a quarter of the weight memory). bitsandbytes
0.50 also runs NF4 on the CPU, slowly, which is what lets the tests exercise the same code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rmnlora.adapters.base_model import prepare_tokenizer, resolve_device


class QLoRAError(RuntimeError):
    """The 4-bit base cannot be built (bitsandbytes missing or the model folder unusable)."""


def nf4_config(device: str) -> Any:
    """NF4 with double quantisation; compute in bf16 on a GPU that has it, else fp32 (CPU-safe)."""
    import torch
    from transformers import BitsAndBytesConfig

    compute = torch.bfloat16 if device == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute,
    )


def load_base_4bit(model_dir: Path, device: str = "auto") -> tuple[Any, Any]:
    """``(model, tokenizer)`` from a local HF folder, linear layers quantised to NF4, ready for LoRA."""
    try:
        import bitsandbytes  # noqa: F401
    except ImportError as exc:  # pragma: no cover - bitsandbytes is a declared dependency
        raise QLoRAError("--qlora needs bitsandbytes (pip install 'bitsandbytes>=0.50,<0.51')") from exc
    from peft import prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, AutoTokenizer

    chosen = resolve_device(device)
    if not (Path(model_dir) / "config.json").is_file():
        raise QLoRAError(f"{model_dir} is not a local Hugging Face model folder (no config.json)")
    model = AutoModelForCausalLM.from_pretrained(
        model_dir,
        quantization_config=nf4_config(chosen),
        device_map={"": chosen if chosen != "cuda" else 0},
        local_files_only=True,
    )
    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    tokenizer = prepare_tokenizer(AutoTokenizer.from_pretrained(model_dir, local_files_only=True))
    return model, tokenizer


def count_4bit_layers(model: Any) -> int:
    """How many linear layers are bitsandbytes 4-bit (to check a QLoRA base really is quantised)."""
    import bitsandbytes as bnb

    return sum(1 for module in model.modules() if isinstance(module, bnb.nn.Linear4bit))
