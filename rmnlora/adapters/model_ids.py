"""OpenAI-style ``model`` ids → what to compose, and the ids a tenant may use (``GET /v1/models``).

Why ids at all: an OpenAI client names one string per request. vLLM and LoRAX serve one LoRA per
name; here a name may also be a composition, written ``retailer+brand+task`` (the positions say
the kinds; leave one empty to skip it, ``walmart++creative``), each part optionally weighted
(``walmart:0.5+acme-snacks+creative``). A single name (``walmart``) is one adapter of whatever
kind has that name; ``base`` or the base model's own name is the base without adapters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from rmnlora.adapters.identity import KINDS, NAME_PATTERN, AdapterKind
from rmnlora.adapters.registry import AdapterInfo, AdapterRegistry

BASE_ALIASES = ("base",)
MAX_MODEL_ID_CHARS = 400
MAX_LISTED_COMPOSITIONS = 200
_WEIGHT = re.compile(r"^(?P<name>[^:]+):(?P<weight>-?\d+(\.\d+)?)$")


class ModelIdError(ValueError):
    """The id is not well formed (400), or names nothing this tenant may use (404: ``missing``)."""

    def __init__(self, message: str, *, missing: bool = False) -> None:
        super().__init__(message)
        self.missing = missing


@dataclass(frozen=True)
class ModelSpec:
    """What a model id asks for: adapter names by kind and any weights it sets."""

    names: dict[AdapterKind, str] = field(default_factory=dict)
    weights: dict[AdapterKind, float] = field(default_factory=dict)

    @property
    def is_base(self) -> bool:
        return not self.names


def _part(text: str, model_id: str) -> tuple[str, float | None]:
    match = _WEIGHT.match(text)
    name, weight = (match["name"], float(match["weight"])) if match else (text, None)
    if not NAME_PATTERN.match(name):
        raise ModelIdError(f"model {model_id!r}: {name!r} is not an adapter name")
    if weight is not None and not 0 < weight <= 4:
        raise ModelIdError(f"model {model_id!r}: the weight of {name!r} must be in (0, 4], got {weight:g}")
    return name, weight


def parse_model_id(model_id: str, *, base_names: tuple[str, ...], visible: list[AdapterInfo]) -> ModelSpec:
    """The spec of ``model_id``; ``visible`` are the adapters the caller may use (to name one's kind)."""
    if not model_id or len(model_id) > MAX_MODEL_ID_CHARS:
        raise ModelIdError(f"model must be 1-{MAX_MODEL_ID_CHARS} characters")
    if model_id in base_names or model_id in BASE_ALIASES:
        return ModelSpec()
    parts = model_id.split("+")
    names: dict[AdapterKind, str] = {}
    weights: dict[AdapterKind, float] = {}
    if len(parts) == 1:
        name, weight = _part(parts[0], model_id)
        kinds = sorted({info.kind for info in visible if info.name == name})
        if not kinds:
            raise ModelIdError(
                f"The model `{model_id}` does not exist or you do not have access to it.", missing=True
            )
        if len(kinds) > 1:
            raise ModelIdError(
                f"model {model_id!r} names a {' and a '.join(kinds)} adapter; write it by position, "
                f"e.g. {name}++ for the retailer, +{name}+ for the brand, ++{name} for the task"
            )
        names[kinds[0]] = name
        if weight is not None:
            weights[kinds[0]] = weight
        return ModelSpec(names, weights)
    if len(parts) != len(KINDS):
        raise ModelIdError(
            f"model {model_id!r}: a composed id has {len(KINDS)} parts, {'+'.join(KINDS)} "
            f"(leave one empty to skip it), not {len(parts)}"
        )
    for kind, text in zip(KINDS, parts, strict=True):
        if not text:
            continue
        name, weight = _part(text, model_id)
        names[kind] = name
        if weight is not None:
            weights[kind] = weight
    if not names:
        raise ModelIdError(f"model {model_id!r} names no adapter; use 'base' for the base model")
    return ModelSpec(names, weights)


def model_cards(registry: AdapterRegistry, tenant_id: str, base_name: str) -> list[dict[str, Any]]:
    """The base, each adapter the tenant may use, and its retailer+brand+task compositions, each
    with its lineage (parent base, components with versions)."""
    visible = registry.list(tenant_id=tenant_id)
    cards: list[dict[str, Any]] = [_card(base_name, base_name, None, {})]
    for info in visible:
        cards.append(_card(info.name, base_name, info.owner_tenant_id, {info.kind: info}))
    by_kind: dict[str, list[AdapterInfo]] = {kind: [i for i in visible if i.kind == kind] for kind in KINDS}
    own_brands = [i for i in by_kind["brand"] if i.owner_tenant_id == tenant_id]
    listed = 0
    for retailer in by_kind["retailer"]:
        for brand in own_brands:
            for task in by_kind["task"]:
                if listed >= MAX_LISTED_COMPOSITIONS:
                    return cards
                parts: dict[AdapterKind, AdapterInfo] = {"retailer": retailer, "brand": brand, "task": task}
                model_id = "+".join(info.name for info in parts.values())
                cards.append(_card(model_id, base_name, tenant_id, parts))
                listed += 1
    return cards


def _card(
    model_id: str, base_name: str, owner: str | None, parts: dict[AdapterKind, AdapterInfo]
) -> dict[str, Any]:
    return {
        "id": model_id,
        "object": "model",
        "created": 0,
        "owned_by": owner or "rmnlora",
        "root": base_name,
        "parent": base_name if parts else None,
        "lineage": {
            "base": base_name,
            "components": {kind: info.name for kind, info in parts.items()},
            "versions": {kind: info.version for kind, info in parts.items()},
            "ranks": {kind: info.rank for kind, info in parts.items()},
        },
    }
