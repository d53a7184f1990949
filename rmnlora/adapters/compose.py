"""(retailer, brand, task) → one composed LoRA adapter inside a shared PeftModel, LRU-cached.

Why ``cat``: PEFT's ``add_weighted_adapter(combination_type="cat")`` concatenates the scaled A
and B matrices, so the composed delta is exactly ``Σ wᵢ·ΔWᵢ`` for any ranks; ``linear``/``ties``
mix A and B separately (cross terms) and need equal ranks. The composed adapter lives in the
same PeftModel as its components, so mixed batches can give each row its own composition.
All mutation happens under ``lock``; whoever runs ``generate`` holds the same lock.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rmnlora.adapters.identity import KINDS, AdapterKind
from rmnlora.adapters.registry import AdapterInfo, Resolution

log = logging.getLogger(__name__)

BASE_ADAPTER = "__base__"
"""PEFT's name for 'no adapter' in ``adapter_names=`` (the row uses the base weights)."""

_NULL_ADAPTER = "rmn_null"


@dataclass(frozen=True)
class Composition:
    adapter_name: str
    components: dict[AdapterKind, str]
    weights: dict[AdapterKind, float]
    missing: tuple[AdapterKind, ...]
    cached: bool
    compose_ms: float

    def describe(self) -> str:
        used = ", ".join(f"{k}={v}×{self.weights[k]:g}" for k, v in self.components.items()) or "none"
        text = f"adapters used: {used}"
        if self.missing:
            text += f"; missing (composed without): {', '.join(self.missing)}"
        return text


def wrap_base_model(model: Any) -> Any:
    """Wrap a plain causal LM in a PeftModel with a zero 'null' adapter, ready to load components."""
    from peft import LoraConfig, PeftModel, get_peft_model

    if isinstance(model, PeftModel):
        return model
    config = LoraConfig(r=1, lora_alpha=1, target_modules=["q_proj"], init_lora_weights=True)
    peft_model = get_peft_model(model, config, adapter_name=_NULL_ADAPTER)
    peft_model.eval()
    return peft_model


class Composer:
    """Loads component adapters once and composes triples on demand, keeping at most ``cache_size``."""

    def __init__(
        self,
        peft_model: Any,
        *,
        weights: Mapping[str, float] | None = None,
        cache_size: int = 16,
        lock: threading.RLock | None = None,
    ) -> None:
        self.model = wrap_base_model(peft_model)
        self.weights: dict[str, float] = {k: 1.0 for k in KINDS} | dict(weights or {})
        unknown = set(self.weights) - set(KINDS)
        if unknown:
            raise ValueError(f"composition weights for unknown kinds: {sorted(unknown)}")
        if cache_size < 1:
            raise ValueError("composition cache_size must be at least 1")
        self.cache_size = cache_size
        self.lock = lock or threading.RLock()
        self._components: dict[str, str] = {}  # component key → loaded adapter name
        self._composed: OrderedDict[str, Composition] = OrderedDict()
        self._retired: set[str] = set()  # forgotten adapters still in the model until unpinned
        self._held: frozenset[str] = frozenset()  # what a decoding batch uses between its steps
        self.evictions = 0

    @staticmethod
    def _component_key(info: AdapterInfo) -> str:
        # The file's mtime is part of the key, so a re-registered adapter is reloaded, not served stale;
        # the version too, so responses name the version they were composed from.
        weights = Path(info.path) / "adapter_model.safetensors"
        stamp = weights.stat().st_mtime_ns if weights.exists() else 0
        return f"{info.id}:{info.path}:{stamp}:v{info.version}"

    def _load_component(self, info: AdapterInfo) -> str:
        key = self._component_key(info)
        name = self._components.get(key)
        if name is None:
            name = "c" + hashlib.sha1(key.encode()).hexdigest()[:12]
            self.model.load_adapter(info.path, adapter_name=name, is_trainable=False)
            self._components[key] = name
        return name

    def compose(self, resolution: Resolution, *, pinned: Collection[str] = ()) -> Composition:
        """The composed adapter for ``resolution``; built (and maybe an old one evicted) on a miss.

        ``pinned`` names adapters a batch in flight still needs; they are never evicted.
        """
        started = time.perf_counter()
        components = {kind: info for kind, info in resolution.components.items()}
        weight_of = self.weights | resolution.weights
        identity = "|".join(
            f"{kind}={self._component_key(components[kind])}×{weight_of[kind]}"
            for kind in KINDS
            if kind in components
        )
        with self.lock:
            hit = self._composed.get(identity)
            if hit is not None:
                self._composed.move_to_end(identity)
                return Composition(
                    hit.adapter_name,
                    hit.components,
                    hit.weights,
                    resolution.missing,
                    True,
                    (time.perf_counter() - started) * 1000,
                )
            if not components:
                adapter_name = BASE_ADAPTER
            else:
                names = [self._load_component(components[kind]) for kind in KINDS if kind in components]
                weights = [weight_of[kind] for kind in KINDS if kind in components]
                adapter_name = "m" + hashlib.sha1(identity.encode()).hexdigest()[:12]
                self.model.add_weighted_adapter(
                    adapters=names, weights=weights, adapter_name=adapter_name, combination_type="cat"
                )
            composition = Composition(
                adapter_name=adapter_name,
                components={kind: info.label for kind, info in components.items()},
                weights={kind: weight_of[kind] for kind in components},
                missing=resolution.missing,
                cached=False,
                compose_ms=(time.perf_counter() - started) * 1000,
            )
            self._composed[identity] = composition
            kept = {*pinned, *self._held, adapter_name}
            self._evict(pinned=kept)
            self._drop_retired(pinned=kept)
            return composition

    def hold(self, names: Collection[str]) -> None:
        """Keep ``names`` from eviction until the next call: a continuous batch decodes with them
        across many steps, and other threads (an admin loading an adapter) may compose meanwhile."""
        with self.lock:
            self._held = frozenset(names)

    def forget(self, info: AdapterInfo) -> int:
        """Stop serving every composition built from ``info`` (an adapter being unloaded).

        The next request builds again from what the registry holds. Compositions a batch in flight
        still decodes with are deleted from the model later, once no batch pins them (the next
        :meth:`compose`), so no running row loses its weights. Returns how many were forgotten.
        """
        prefix = f"{info.id}:{info.path}:"
        with self.lock:
            stale_components = [key for key in self._components if key.startswith(prefix)]
            stale = [identity for identity in self._composed if f"={prefix}" in identity]
            for identity in stale:
                composition = self._composed.pop(identity)
                if composition.adapter_name != BASE_ADAPTER:
                    self._retired.add(composition.adapter_name)
            for key in stale_components:
                self._retired.add(self._components.pop(key))
            return len(stale)

    def _drop_retired(self, pinned: Collection[str]) -> None:
        for name in list(self._retired):
            if name not in pinned and name in self.model.peft_config:
                self.model.delete_adapter(name)
            if name not in pinned:
                self._retired.discard(name)

    def _evict(self, pinned: Collection[str]) -> None:
        for identity in list(self._composed):
            if len(self._composed) <= self.cache_size:
                return
            victim = self._composed[identity]
            if victim.adapter_name in pinned:
                continue
            del self._composed[identity]
            if victim.adapter_name != BASE_ADAPTER:
                self.model.delete_adapter(victim.adapter_name)
            self.evictions += 1
            log.debug("evicted composed adapter %s", victim.adapter_name)

    @property
    def composed_names(self) -> list[str]:
        with self.lock:
            return [c.adapter_name for c in self._composed.values()]

    def invalidate(self) -> None:
        """Forget every loaded and composed adapter (after the registry changed files on disk)."""
        with self.lock:
            for composition in self._composed.values():
                if composition.adapter_name != BASE_ADAPTER:
                    self.model.delete_adapter(composition.adapter_name)
            for name in self._components.values():
                self.model.delete_adapter(name)
            self._composed.clear()
            self._components.clear()
