"""The registry every adapter test composes from: two tenants, shared retailer/task adapters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rmnlora.adapters.registry import AdapterRegistry
from rmnlora.adapters.tiny import build_tiny_model
from rmnlora.storage import Brand
from rmnlora.storage.tenants import register_tenant
from tests.support.adapter_helpers import make_lora


def _tiny() -> Any:
    return build_tiny_model(0)[0]


@pytest.fixture(scope="module")
def lora_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("loras")
    return {
        "retailer": make_lora(_tiny, root / "retailer", seed=1, rank=4),
        "brand": make_lora(_tiny, root / "brand", seed=2, rank=8),
        "task": make_lora(_tiny, root / "task", seed=3, rank=4),
        "brand2": make_lora(_tiny, root / "brand2", seed=4, rank=4),
    }


@pytest.fixture
def registry(sqlite_db: Any, tmp_path: Path, lora_dirs: dict[str, Path]) -> AdapterRegistry:
    with sqlite_db.get_session() as session:
        register_tenant(session, "acme", "Acme")
        register_tenant(session, "globex", "Globex")
        session.add(Brand(id="oatly", name="Oatly", tenant_id="acme"))
    reg = AdapterRegistry(sqlite_db, tmp_path / "adapters")
    reg.register("retailer", "walmart", lora_dirs["retailer"])
    reg.register("brand", "oatly", lora_dirs["brand"], owner_tenant_id="acme")
    reg.register("brand", "acme-cola", lora_dirs["brand2"], owner_tenant_id="globex")
    reg.register("task", "creative", lora_dirs["task"])
    return reg
