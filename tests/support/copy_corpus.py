"""The hand-written copy corpus (examples/corpus/) and the labelled garbage set, as plain rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.support.paths import REPO_ROOT

CORPUS_DIR = REPO_ROOT / "examples" / "corpus"
GARBAGE = Path(__file__).resolve().parents[1] / "unit" / "agents" / "data" / "copy_garbage.yaml"


def corpus_products() -> dict[str, dict[str, Any]]:
    rows = yaml.safe_load((CORPUS_DIR / "products.yaml").read_text(encoding="utf-8"))["products"]
    return {row["id"]: row for row in rows}


def corpus_copies() -> list[dict[str, Any]]:
    copies: list[dict[str, Any]] = []
    for path in sorted((CORPUS_DIR / "copies").glob("*.yaml")):
        copies += yaml.safe_load(path.read_text(encoding="utf-8"))["copies"]
    return copies


def garbage_answers() -> list[dict[str, Any]]:
    return list(yaml.safe_load(GARBAGE.read_text(encoding="utf-8"))["answers"])
