"""Format compliance of one piece of ad copy: length limit, banned terms, required elements.

Why here and small: the dataset generators must only ever emit compliant targets, and the
evaluation harness scores generations with the very same rules, so both share this check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rmnlora.schemas.training import BrandFacts, FormatSpec, RetailerFacts


@dataclass(frozen=True)
class ComplianceResult:
    ok: bool
    violations: list[str] = field(default_factory=list)


def _contains(text: str, term: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(term)}(?!\w)", text, flags=re.IGNORECASE) is not None


def check_copy(
    text: str,
    fmt: FormatSpec,
    brand: BrandFacts,
    retailer: RetailerFacts,
    product: str,
) -> ComplianceResult:
    """All rule breaks of ``text`` for ``fmt``; ``ok`` only when there are none (empty copy fails)."""
    violations: list[str] = []
    stripped = text.strip()
    if not stripped:
        violations.append("empty copy")
    if len(stripped) > fmt.max_chars:
        violations.append(f"length {len(stripped)} > {fmt.max_chars} ({fmt.name})")
    for term in [*brand.banned_terms, *retailer.banned_terms]:
        if _contains(stripped, term):
            violations.append(f"banned term {term!r}")
    for element in fmt.required_elements:
        if element == "brand" and not _contains(stripped, brand.name):
            violations.append("missing brand name")
        elif element == "product" and not _contains(stripped, product):
            violations.append("missing product name")
        elif element == "cta" and not any(_contains(stripped, cta) for cta in brand.ctas):
            violations.append("missing call to action")
    return ComplianceResult(ok=not violations, violations=violations)
