"""ScenarioMemory: finished plans in ChromaDB, one collection per tenant, recalled by similarity.

A tenant's scenarios live in their own collection (named from the tenant id), so a recall for
one tenant cannot return another's plans even if a query matched them perfectly. The client is a
PersistentClient on a local folder by default and an HttpClient when a server is configured.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import chromadb
from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection

from rmnlora.memory.embeddings import OfflineMiniLM
from rmnlora.schemas.reflection import MemoryRef, Outcome, ScenarioRecord

if TYPE_CHECKING:
    from rmnlora.config import Settings
    from rmnlora.schemas.brief import CampaignBrief

COLLECTION_PREFIX = "rmn_scenarios"
_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]+")
_OUTCOMES: tuple[str, ...] = ("success", "failure", "blocked", "escalated", "unknown")


class MemoryUnavailable(RuntimeError):
    """The configured ChromaDB (folder or server) cannot be used; the message says which."""


def collection_name(tenant_id: str) -> str:
    """A Chroma-legal, collision-free collection name for a tenant (readable part + hash)."""
    if not tenant_id:
        raise ValueError("tenant_id must not be empty")
    readable = _UNSAFE.sub("_", tenant_id)[:40].strip("_-") or "t"
    digest = hashlib.sha256(tenant_id.encode("utf-8")).hexdigest()[:10]
    return f"{COLLECTION_PREFIX}_{readable}_{digest}"


def summarize_brief(brief: CampaignBrief, plan: Mapping[str, Any] | None = None) -> str:
    """The text a scenario is embedded by: what was asked, where, under which constraints, and the plan."""
    retailers = ", ".join(r.name for r in brief.retailers)
    parts = [
        f"brand {brief.brand}; campaign {brief.name}; objective {brief.objective}",
        f"budget {brief.budget:,.0f} {brief.currency} over {brief.flight.days} days",
        f"retailers {retailers}",
        f"product {brief.creative.product}",
    ]
    if brief.constraints.roas_floor is not None:
        parts.append(f"ROAS floor {brief.constraints.roas_floor}")
    if brief.audiences:
        parts.append("audiences " + ", ".join(brief.audiences))
    parts.append(
        f"measurement {brief.measurement.design}, expected lift {brief.measurement.expected_lift:.0%}"
    )
    if plan:
        parts.append("plan " + json.dumps(dict(plan), sort_keys=True, default=str)[:600])
    return "; ".join(parts)


class ScenarioMemory:
    """Store and recall finished scenarios per tenant."""

    def __init__(self, client: ClientAPI, *, location: str, embedding: OfflineMiniLM | None = None) -> None:
        self.client = client
        self.location = location
        self.embedding = embedding or OfflineMiniLM()

    @classmethod
    def persistent(cls, path: str | Path) -> ScenarioMemory:
        folder = Path(path)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            client = chromadb.PersistentClient(path=str(folder))
        except Exception as exc:  # chromadb raises several types for a bad folder
            raise MemoryUnavailable(f"ChromaDB folder {folder} cannot be opened: {exc}") from exc
        return cls(client, location=f"folder {folder}")

    @classmethod
    def http(cls, host: str, port: int) -> ScenarioMemory:
        try:
            client = chromadb.HttpClient(host=host, port=port)
            client.heartbeat()
        except Exception as exc:
            raise MemoryUnavailable(f"ChromaDB server {host}:{port} is unreachable: {exc}") from exc
        return cls(client, location=f"server {host}:{port}")

    @classmethod
    def from_settings(cls, settings: Settings) -> ScenarioMemory:
        """HttpClient when ``memory.chroma_host`` is set, else a PersistentClient in ``chroma_path``."""
        if settings.memory.chroma_host:
            return cls.http(settings.memory.chroma_host, settings.memory.chroma_port)
        return cls.persistent(settings.chroma_path)

    def _collection(self, tenant_id: str) -> Collection:
        return self.client.get_or_create_collection(
            name=collection_name(tenant_id),
            embedding_function=self.embedding,  # type: ignore[arg-type]
            metadata={"tenant_id": tenant_id, "hnsw:space": "cosine"},
        )

    def store_scenario(
        self,
        tenant_id: str,
        scenario_id: str,
        summary: str,
        *,
        plan: Mapping[str, Any] | None = None,
        decisions: Sequence[Mapping[str, Any]] = (),
        outcome: Outcome = "unknown",
    ) -> ScenarioRecord:
        """Upsert one finished scenario (same id replaces it, e.g. when its outcome becomes known)."""
        if not summary.strip():
            raise ValueError("scenario summary must not be empty: it is what recall matches on")
        if outcome not in _OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}; expected one of {', '.join(_OUTCOMES)}")
        record = ScenarioRecord(
            scenario_id=scenario_id,
            summary=summary,
            plan=dict(plan or {}),
            decisions=[dict(d) for d in decisions],
            outcome=outcome,
        )
        self._collection(tenant_id).upsert(
            ids=[scenario_id],
            documents=[summary],
            metadatas=[
                {
                    "tenant_id": tenant_id,
                    "outcome": outcome,
                    "plan_json": json.dumps(record.plan, default=str),
                    "decisions_json": json.dumps(record.decisions, default=str),
                }
            ],
        )
        return record

    def set_outcome(self, tenant_id: str, scenario_id: str, outcome: Outcome) -> None:
        """Record how a stored scenario turned out; an unknown id is an error."""
        if outcome not in _OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}; expected one of {', '.join(_OUTCOMES)}")
        collection = self._collection(tenant_id)
        if not collection.get(ids=[scenario_id])["ids"]:
            raise KeyError(f"no scenario {scenario_id!r} stored for tenant {tenant_id!r}")
        collection.update(ids=[scenario_id], metadatas=[{"outcome": outcome}])

    def count(self, tenant_id: str) -> int:
        return self._collection(tenant_id).count()

    def recall(
        self, tenant_id: str, query: str, k: int = 3, *, exclude: Sequence[str] = ()
    ) -> list[MemoryRef]:
        """The ``k`` most similar scenarios of this tenant, most similar first, with their outcomes."""
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        collection = self._collection(tenant_id)
        available = collection.count()
        if available == 0:
            return []
        n = min(available, k + len(exclude))
        result = collection.query(
            query_texts=[query], n_results=n, include=["documents", "metadatas", "distances"]
        )
        ids = result["ids"][0]
        docs = (result["documents"] or [[]])[0]
        metas = (result["metadatas"] or [[]])[0]
        dists = (result["distances"] or [[]])[0]
        refs: list[MemoryRef] = []
        for sid, doc, meta, dist in zip(ids, docs, metas, dists, strict=True):
            if sid in exclude:
                continue
            meta = dict(meta or {})
            outcome = str(meta.get("outcome", "unknown"))
            refs.append(
                MemoryRef(
                    scenario_id=sid,
                    summary=doc or "",
                    outcome=cast(Outcome, outcome if outcome in _OUTCOMES else "unknown"),
                    similarity=round(1.0 - float(dist), 4),
                    decisions=json.loads(str(meta.get("decisions_json", "[]"))),
                    metadata={"plan": json.loads(str(meta.get("plan_json", "{}")))},
                )
            )
        return refs[:k]

    def health(self) -> dict[str, Any]:
        """Whether the store answers, and where it is."""
        try:
            self.client.heartbeat()
        except Exception as exc:
            return {"ok": False, "location": self.location, "detail": str(exc)}
        return {"ok": True, "location": self.location}
