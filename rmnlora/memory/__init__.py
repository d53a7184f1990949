"""memory: past scenarios in ChromaDB with offline embeddings, recalled per tenant."""

from rmnlora.memory.embeddings import EmbeddingModelMissing, OfflineMiniLM, minilm_path
from rmnlora.memory.store import MemoryUnavailable, ScenarioMemory, collection_name, summarize_brief

__all__ = [
    "EmbeddingModelMissing",
    "MemoryUnavailable",
    "OfflineMiniLM",
    "ScenarioMemory",
    "collection_name",
    "minilm_path",
    "summarize_brief",
]
