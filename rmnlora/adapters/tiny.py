"""A tiny randomly initialised Llama with the REAL SmolLM2 tokenizer, for fast tests.

Why: tests of composition, batching, training and feedback need a causal LM that behaves like
the real one (same tokenizer, chat template, PEFT target modules) but builds in milliseconds.
The tokenizer is read from the bundled GGUF once (a few seconds), saved as a plain tokenizer
folder in a cache dir, and afterwards loaded from there (tens of ms) and memoised per process.
"""

from __future__ import annotations

import copy
import os
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

from rmnlora.adapters.base_model import BUNDLED_GGUF, bundled_gguf_folder, prepare_tokenizer

TOKENIZER_CACHE_ENV = "RMN_TOKENIZER_CACHE"
_MARK = ".rmn-complete"
_lock = threading.Lock()

TINY_CONFIG: dict[str, Any] = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 2048,
    "rms_norm_eps": 1e-5,
    "tie_word_embeddings": True,
}


def tokenizer_cache_dir() -> Path:
    """``$RMN_TOKENIZER_CACHE``, else ``~/.cache/rmnlora/smollm2-tokenizer``."""
    configured = os.environ.get(TOKENIZER_CACHE_ENV)
    if configured:
        return Path(configured)
    return Path.home() / ".cache" / "rmnlora" / "smollm2-tokenizer"


def _ensure_tokenizer_folder() -> Path:
    from transformers import AutoTokenizer

    target = tokenizer_cache_dir()
    with _lock:
        if not (target / _MARK).is_file():
            tokenizer = AutoTokenizer.from_pretrained(bundled_gguf_folder(), gguf_file=BUNDLED_GGUF)
            tmp = target.with_name(target.name + f".tmp-{os.getpid()}")
            tmp.mkdir(parents=True, exist_ok=True)
            tokenizer.save_pretrained(tmp)
            (tmp / _MARK).write_text("ok", encoding="utf-8")
            if not (target / _MARK).is_file():
                if target.exists():
                    import shutil

                    shutil.rmtree(target)
                tmp.rename(target)
    return target


@lru_cache(maxsize=1)
def _cached_tokenizer() -> Any:
    from transformers import AutoTokenizer

    return prepare_tokenizer(AutoTokenizer.from_pretrained(_ensure_tokenizer_folder(), local_files_only=True))


def smollm2_tokenizer() -> Any:
    """A fresh copy of the SmolLM2 tokenizer (left padding, pad = eos); cheap after the first call."""
    return copy.deepcopy(_cached_tokenizer())


def build_tiny_model(seed: int = 0) -> tuple[Any, Any]:
    """``(LlamaForCausalLM, tokenizer)``: ~3 M random parameters, deterministic for a given ``seed``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = smollm2_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **TINY_CONFIG,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.eval()
    return model, tokenizer
