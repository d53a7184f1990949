"""Policy packs as data: YAML files per retailer and per brand, plus a baseline every copy obeys.

Layout of a policy folder (the shipped one is ``examples/policies``)::

    baseline.yaml              rules for every copy (PII, cure claims, guarantees, "#1")
    retailers/<retailer>.yaml  a retailer's ad policy and its clean-room query policy
    brands/<brand>.yaml        a brand's own rules (its competitors, claims it may not make)

A missing retailer pack is an error, not an empty pack: checking copy against nothing would
report "passed" for copy nobody checked.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import ValidationError

from rmnlora.agents.governance.detectors import DETECTORS
from rmnlora.schemas.rmis import PolicyPack
from rmnlora.yaml_input import read_yaml_document

EXAMPLES_DIR = Path(__file__).resolve().parents[3] / "examples"
DEFAULT_POLICY_DIR = EXAMPLES_DIR / "policies"


class PolicyPackError(ValueError):
    """A pack that is missing, unreadable or invalid; the message names the file."""


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.strip().lower()).strip("-")


def load_pack(path: Path) -> PolicyPack:
    """One pack file, validated; every regular expression is compiled here so a typo fails at load."""
    data = read_yaml_document(path, "policy pack", PolicyPackError)
    try:
        pack = PolicyPack.model_validate(data)
    except ValidationError as exc:
        raise PolicyPackError(f"policy pack {path} is invalid: {exc}") from exc
    for rule in pack.rules:
        if rule.detector and rule.detector not in DETECTORS:
            raise PolicyPackError(
                f"policy pack {path}, rule {rule.rule_id!r}: unknown detector {rule.detector!r} "
                f"(known: {', '.join(sorted(DETECTORS))})"
            )
        for pattern in [*rule.patterns, *rule.allow_patterns, *rule.trigger_patterns]:
            try:
                re.compile(pattern, re.IGNORECASE)
            except re.error as exc:
                raise PolicyPackError(
                    f"policy pack {path}, rule {rule.rule_id!r}: bad pattern {pattern!r}: {exc}"
                ) from exc
    return pack


def available_packs(policy_dir: Path | None = None) -> dict[str, list[str]]:
    """``{"retailers": [...], "brands": [...]}`` found in the policy folder."""
    root = policy_dir or DEFAULT_POLICY_DIR
    return {kind: sorted(p.stem for p in (root / kind).glob("*.yaml")) for kind in ("retailers", "brands")}


def load_packs(retailer: str, brand: str | None = None, policy_dir: Path | None = None) -> list[PolicyPack]:
    """Baseline + the retailer's pack + the brand's pack (when a brand is given).

    Raises PolicyPackError naming the missing file and the packs that do exist.
    """
    root = policy_dir or DEFAULT_POLICY_DIR
    if not root.is_dir():
        raise PolicyPackError(f"policy folder not found: {root} (pass policy_dir=...)")
    packs = [load_pack(root / "baseline.yaml")]
    wanted = [("retailers", retailer)] + ([("brands", brand)] if brand else [])
    for kind, name in wanted:
        path = root / kind / f"{_slug(name)}.yaml"
        if not path.is_file():
            known = ", ".join(available_packs(root)[kind]) or "none"
            raise PolicyPackError(f"no {kind[:-1]} policy pack for {name!r} at {path} (available: {known})")
        packs.append(load_pack(path))
    return packs
