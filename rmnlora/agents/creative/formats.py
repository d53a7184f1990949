"""Retailer ad format specs as data (``examples/formats/<retailer>.yaml``), one list per retailer."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import TypeAdapter, ValidationError

from rmnlora.agents.governance.packs import EXAMPLES_DIR
from rmnlora.schemas.creative import FormatSpec

DEFAULT_FORMATS_DIR = EXAMPLES_DIR / "formats"
_SPECS = TypeAdapter(list[FormatSpec])


class FormatSpecError(ValueError):
    """A missing or invalid format spec; the message names the file or the format."""


def load_format_specs(retailer: str, formats_dir: Path | None = None) -> dict[str, FormatSpec]:
    """All formats of ``retailer`` by name."""
    path = (formats_dir or DEFAULT_FORMATS_DIR) / f"{retailer.strip().lower()}.yaml"
    if not path.is_file():
        raise FormatSpecError(f"no ad format specs for retailer {retailer!r} at {path}")
    try:
        specs = _SPECS.validate_python(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (yaml.YAMLError, ValidationError) as exc:
        raise FormatSpecError(f"format specs {path} are invalid: {exc}") from exc
    return {spec.name: spec for spec in specs}


def load_format_spec(retailer: str, ad_format: str, formats_dir: Path | None = None) -> FormatSpec:
    specs = load_format_specs(retailer, formats_dir)
    if ad_format not in specs:
        raise FormatSpecError(
            f"retailer {retailer!r} has no ad format {ad_format!r} (formats: {', '.join(sorted(specs))})"
        )
    return specs[ad_format]
