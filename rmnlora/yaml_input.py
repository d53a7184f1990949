"""Reading the YAML files people write (config, briefs) with errors that say what is wrong and where.

Every YAML file a user hands us goes through :func:`read_yaml_mapping`, which is also where the
size policy lives: at most ``MAX_YAML_BYTES`` of UTF-8 text, and at most ``MAX_YAML_NODES`` nodes
once aliases are expanded. Why count expanded nodes: PyYAML shares an aliased node instead of
copying it, so a 500-byte "billion laughs" file loads in microseconds, and the blow-up happens later,
in whatever walks the data (config interpolation, pydantic validation of a list). Counting on the
composed node graph, with each node's expanded size memoised, costs one pass over the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

MAX_YAML_BYTES = 1_000_000
MAX_YAML_NODES = 100_000
# JSON inputs (allocation problems, designs, signals) may hold many line items.
MAX_JSON_BYTES = 50_000_000


def _expanded_nodes(root: yaml.Node) -> int:
    """Nodes the document would have with every alias copied out, stopping early past the limit."""
    sizes: dict[int, int] = {}

    def size(node: yaml.Node) -> int:
        known = sizes.get(id(node))
        if known is not None:
            return known
        sizes[id(node)] = 1  # a recursive alias counts once instead of looping
        total = 1
        if isinstance(node, yaml.SequenceNode):
            for child in node.value:
                total += size(child)
                if total > MAX_YAML_NODES:
                    break
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                total += size(key) + size(value)
                if total > MAX_YAML_NODES:
                    break
        sizes[id(node)] = total
        return total

    return size(root)


def parse_yaml_text(raw: bytes, source: str, what: str, error: type[ValueError]) -> Any:
    """The YAML document in ``raw`` under the size policy; every failure is ``error`` naming ``source``."""
    if len(raw) > MAX_YAML_BYTES:
        raise error(f"{what} {source} is {len(raw):,} bytes; the limit is {MAX_YAML_BYTES:,}")
    text = _decode(raw, source, what, error)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is not None and _expanded_nodes(node) > MAX_YAML_NODES:
            raise error(
                f"{what} {source} expands to more than {MAX_YAML_NODES:,} YAML nodes (nested aliases?); "
                "write the values out or split the file"
            )
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise error(f"{what} {source} is not valid YAML: {exc}") from exc
    except RecursionError as exc:
        raise error(f"{what} {source} is nested too deeply to read") from exc


def read_text_file(path: Path, what: str, error: type[ValueError], *, max_bytes: int = MAX_YAML_BYTES) -> str:
    """The UTF-8 text of ``path``; missing, oversized, unreadable or binary is ``error`` naming it."""
    return _decode(_read_bounded(path, what, error, max_bytes), str(path), what, error)


def read_yaml_document(path: Path, what: str, error: type[ValueError]) -> Any:
    """Any YAML document in ``path`` (mapping, list or scalar) under the size policy."""
    return parse_yaml_text(_read_bounded(path, what, error, MAX_YAML_BYTES), str(path), what, error)


def _read_bounded(path: Path, what: str, error: type[ValueError], max_bytes: int) -> bytes:
    if not path.is_file():
        raise error(f"{what} not found: {path}")
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise error(f"{what} {path} is {size:,} bytes; the limit is {max_bytes:,}")
        return path.read_bytes()
    except OSError as exc:
        raise error(f"{what} {path} cannot be read: {exc.strerror or exc}") from exc


def _decode(raw: bytes, source: str, what: str, error: type[ValueError]) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(
            f"{what} {source} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
            "is it the right file?"
        ) from exc
    if "\x00" in text:
        raise error(f"{what} {source} contains NUL bytes: it is a binary file, not text")
    return text


def read_yaml_mapping(path: Path, what: str, error: type[ValueError], *, allow_empty: bool) -> dict[str, Any]:
    """The mapping in ``path``; a missing, oversized, binary or bad-YAML file or a non-mapping raises
    ``error`` naming ``what`` and the path."""
    loaded = read_yaml_document(path, what, error)
    if loaded is None and allow_empty:
        return {}
    if not isinstance(loaded, dict):
        raise error(f"{what} {path} must hold a mapping at the top level")
    return loaded


def describe_validation_error(error: ValidationError, heading: str, key_label: str = "") -> str:
    """``heading: <key_label>'a.b': msg; ...`` — every problem, each with its dotted key."""
    from rmnlora.schemas.ids import RESOURCE_ID_PATTERN, RESOURCE_ID_RULE

    problems = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "<root>"
        message = item["msg"]
        if item.get("ctx", {}).get("pattern") == RESOURCE_ID_PATTERN:
            message = f"{item.get('input')!r} is not an id: use {RESOURCE_ID_RULE}"
        problems.append(f"{key_label}'{key}': {message}")
    return f"{heading}: " + "; ".join(problems)
