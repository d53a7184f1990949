"""What names an adapter and what makes a folder one: kinds, owners, the PEFT folder check.

Shared by the registry (who may use an adapter) and the version table (which files are served),
so neither imports the other's module.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal, cast

from sqlmodel import Session, col, select

from rmnlora.storage.models import AdapterRecord

AdapterKind = Literal["retailer", "brand", "task"]
KINDS: tuple[AdapterKind, ...] = ("retailer", "brand", "task")
SHARED_OWNER = "_shared"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class AdapterError(ValueError):
    """Bad adapter input (unknown kind, bad name, not a PEFT folder); the message says which."""


def check_kind(kind: str) -> AdapterKind:
    if kind not in KINDS:
        raise AdapterError(f"adapter kind {kind!r} is not one of {', '.join(KINDS)}")
    return cast(AdapterKind, kind)


def read_peft_config(folder: Path) -> dict[str, Any]:
    """The adapter_config.json of a PEFT LoRA folder; anything else is an AdapterError."""
    config_file = folder / "adapter_config.json"
    if not folder.is_dir() or not config_file.is_file():
        raise AdapterError(f"{folder} is not a PEFT adapter folder (no adapter_config.json)")
    if not any((folder / name).is_file() for name in ("adapter_model.safetensors", "adapter_model.bin")):
        raise AdapterError(f"{folder} has adapter_config.json but no adapter_model.safetensors")
    config: dict[str, Any] = json.loads(config_file.read_text(encoding="utf-8"))
    if str(config.get("peft_type", "")).upper() != "LORA":
        raise AdapterError(f"{folder} holds a {config.get('peft_type')!r} adapter; only LoRA is supported")
    return config


def read_lora_rank(folder: Path) -> tuple[dict[str, Any], int]:
    """The folder's PEFT config and its LoRA rank; AdapterError when the rank is missing."""
    config = read_peft_config(folder)
    rank = int(config.get("r", 0))
    if rank < 1:
        raise AdapterError(f"{folder}: adapter_config.json has no positive rank 'r'")
    return config, rank


def find_record(session: Session, kind: str, name: str, owner_tenant_id: str | None) -> AdapterRecord | None:
    """The registry row of one adapter identity: (kind, name, owner), None as owner meaning shared."""
    owned = (
        AdapterRecord.owner_tenant_id == owner_tenant_id
        if owner_tenant_id is not None
        else col(AdapterRecord.owner_tenant_id).is_(None)
    )
    return session.exec(
        select(AdapterRecord).where(AdapterRecord.kind == kind, AdapterRecord.name == name, owned)
    ).first()
