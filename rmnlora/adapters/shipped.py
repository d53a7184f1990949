"""The adapters shipped inside the package, registered on first use so a fresh install composes them.

A shipped adapter never replaces one already in the registry (a user's own, or a newer version),
and a brand adapter is registered only to the tenant its manifest names, once that tenant exists
and the brand is not another tenant's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rmnlora.adapters.identity import find_record
from rmnlora.adapters.registry import AdapterRegistry
from rmnlora.storage.models import Brand, Tenant

SHIPPED_DIR = Path(__file__).resolve().parent / "shipped"
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class ShippedAdapter:
    kind: str
    name: str
    path: Path
    manifest: dict[str, Any]

    @property
    def owner_tenant(self) -> str | None:
        owner = self.manifest.get("owner_tenant")
        return str(owner) if owner else None


def shipped_adapters(root: Path = SHIPPED_DIR) -> list[ShippedAdapter]:
    """Every ``<kind>/<name>/`` folder under ``root`` with a manifest and weights."""
    found = []
    for manifest in sorted(root.glob(f"*/*/{MANIFEST}")):
        folder = manifest.parent
        if (folder / "adapter_model.safetensors").is_file():
            data = json.loads(manifest.read_text(encoding="utf-8"))
            found.append(ShippedAdapter(folder.parent.name, folder.name, folder, data))
    return found


def register_shipped(registry: AdapterRegistry, root: Path = SHIPPED_DIR) -> list[str]:
    """Register the shipped adapters that are missing; returns what was registered (kind/name)."""
    registered = []
    for adapter in shipped_adapters(root):
        owner = adapter.owner_tenant if adapter.kind == "brand" else None
        if not _registrable(registry, adapter, owner):
            continue
        registry.register(
            adapter.kind,
            adapter.name,
            adapter.path,
            owner_tenant_id=owner,
            metrics={"shipped": adapter.manifest},
        )
        registered.append(f"{adapter.kind}/{adapter.name}")
    return registered


def _registrable(registry: AdapterRegistry, adapter: ShippedAdapter, owner: str | None) -> bool:
    with registry.database.get_session() as session:
        existing = find_record(session, adapter.kind, adapter.name, owner or None)
        if existing is not None:
            return False
        if adapter.kind != "brand":
            return True
        if owner is None or session.get(Tenant, owner) is None:
            return False  # registered once the owning tenant exists (e.g. its first plan)
        brand = session.get(Brand, adapter.name)
        return brand is None or brand.tenant_id == owner
