"""The template generator: deterministic copy when no model is configured, labelled as such.

Templates only restate the product, the brand and the brief's key message, so they make no
claim the brief did not; they are still checked by governance like any other candidate.
"""

from __future__ import annotations

from rmnlora.agents.creative.parsing import clean_copy
from rmnlora.schemas.creative import CopyRequest, FormatSpec
from rmnlora.schemas.governance import AdCopy

_HEADLINES = (
    "{product}",
    "Meet {product}",
    "{brand}: {message}",
    "Snack time, sorted: {product}",
    "Try {product} today",
)
_BODIES = (
    "{message}. Find {product} here.",
    "{product} from {brand}. {message}.",
    "{message}, from {brand}.",
    "Stock up on {product} for the week.",
    "A {tone} pick for snack time: {product}.",
)
# Used only when none of the above fits the format: a cut sentence is not copy (the quality judge
# rejects it), so a short whole one is written instead.
_SHORT_HEADLINES = ("{brand}",)
_SHORT_BODIES = ("{message}.", "{product}.", "From {brand}.")


def brand_display_name(brand: str) -> str:
    """'acme-snacks' → 'Acme Snacks'."""
    return " ".join(part.capitalize() for part in brand.replace("_", "-").split("-") if part)


def _fitting(
    templates: tuple[str, ...], fallbacks: tuple[str, ...], values: dict[str, str], limit: int
) -> list[str]:
    """The filled templates within ``limit``; else the fallbacks that fit; else all (the cleaner trims)."""
    for group in (templates, fallbacks):
        filled = [t.format(**values) for t in group]
        fitting = [text for text in filled if len(text) <= limit]
        if fitting:
            return fitting
    return [t.format(**values) for t in templates]


def template_copies(request: CopyRequest, spec: FormatSpec) -> list[tuple[AdCopy, list[str]]]:
    """``request.k`` distinct template copies fitted to the format, each with its cleaning notes.

    Headlines and bodies that fit without trimming are used, so the copy reads as written (a body
    cut at the limit ends mid-phrase); shorter fallbacks are used when none fits.
    """
    values = {
        "product": request.product.strip(),
        "brand": brand_display_name(request.brand),
        "message": (request.key_message or f"Enjoy {request.product.strip()}").strip().rstrip("."),
        "tone": request.tone.strip() or "friendly",
    }
    fitting = _fitting(_HEADLINES, _SHORT_HEADLINES, values, spec.headline_max)
    bodies = _fitting(_BODIES, _SHORT_BODIES, values, spec.body_max) if spec.body_max else [""]
    # Templates make no offers, so CTAs that promise one (coupons) are left to people.
    ctas = [c for c in spec.allowed_ctas if "coupon" not in c.lower()] or ["Shop now"]
    out: list[tuple[AdCopy, list[str]]] = []
    seen: set[tuple[str, str, str]] = set()
    for i in range(len(fitting) * len(bodies)):
        if len(out) >= request.k:
            break
        draft = AdCopy(
            headline=fitting[i % len(fitting)],
            body=bodies[(i + i // len(fitting)) % len(bodies)],
            cta=ctas[i % len(ctas)],
        )
        copy, notes = clean_copy(draft, spec)
        key = (copy.headline, copy.body, copy.cta)
        if key not in seen:
            seen.add(key)
            out.append((copy, notes))
    return out
