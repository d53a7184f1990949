"""Reading the YAML files people write (config, briefs) with errors that say what is wrong and where."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError


def read_yaml_mapping(path: Path, what: str, error: type[ValueError], *, allow_empty: bool) -> dict[str, Any]:
    """The mapping in ``path``; a missing file, bad YAML or a non-mapping raises ``error`` naming ``what``."""
    if not path.is_file():
        raise error(f"{what} not found: {path}")
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise error(f"{what} {path} is not valid YAML: {exc}") from exc
    if loaded is None and allow_empty:
        return {}
    if not isinstance(loaded, dict):
        raise error(f"{what} {path} must hold a mapping at the top level")
    return loaded


def describe_validation_error(error: ValidationError, heading: str, key_label: str = "") -> str:
    """``heading: <key_label>'a.b': msg; ...`` — every problem, each with its dotted key."""
    problems = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "<root>"
        problems.append(f"{key_label}'{key}': {item['msg']}")
    return f"{heading}: " + "; ".join(problems)
