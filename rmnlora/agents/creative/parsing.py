"""Parse and clean model output into :class:`AdCopy`, recording every change the cleaner made.

Small models answer in many shapes: labelled lines, JSON, markdown bullets, or plain prose.
The parser accepts all of them; the cleaner strips markup and quotes, drops fields the format
does not have, and trims over-long fields at a word boundary (noting it), because a truncated
headline is still reviewed by governance while an over-long one is rejected by the retailer.
"""

from __future__ import annotations

import json
import re

from rmnlora.schemas.creative import FormatSpec
from rmnlora.schemas.governance import AdCopy

_LABEL = re.compile(
    r"^\s*[-*#>\s]*\**\s*(headline|title|body|text|description|copy|cta|call to action|button)"
    r"\s*\**\s*[:\-–]\s*(.*)$",
    re.IGNORECASE,
)
_FIELD_OF = {
    "headline": "headline",
    "title": "headline",
    "body": "body",
    "text": "body",
    "description": "body",
    "copy": "body",
    "cta": "cta",
    "call to action": "cta",
    "button": "cta",
}


# Small models often echo the request's own labelled lines back; those are not copy.
_ECHO = re.compile(r"^\s*(brand|product|key message|tone|allowed claims|format)\s*:", re.IGNORECASE)


def parse_copy(text: str) -> AdCopy:
    """Best-effort parse of one model answer; unlabelled prose becomes headline + body."""
    stripped = text.strip()
    match = re.search(r"\{[\s\S]*\}", stripped)
    if match:
        try:
            data = json.loads(match.group(0))
            if isinstance(data, dict):
                fields = {_FIELD_OF.get(str(k).lower()): str(v) for k, v in data.items()}
                return AdCopy(**{k: v for k, v in fields.items() if k})
        except json.JSONDecodeError:
            pass
    found: dict[str, str] = {}
    loose: list[str] = []
    current: str | None = None
    for line in stripped.splitlines():
        if _ECHO.match(line):
            current = None
            continue
        labelled = _LABEL.match(line)
        if labelled:
            current = _FIELD_OF[labelled.group(1).lower()]
            if current not in found:
                found[current] = labelled.group(2)
            else:
                current = None
        elif line.strip() and current and current != "cta":
            found[current] = f"{found[current]} {line.strip()}".strip()
        elif line.strip():
            loose.append(line.strip())
    if not found and loose:
        found = {"headline": loose[0], "body": " ".join(loose[1:])}
    return AdCopy(**found)


def _scrub(value: str) -> str:
    # Markdown emphasis and heading marks only: '#1' or '50%' are claims governance must still see.
    value = re.sub(r"\*\*|__|`+", "", value)
    value = re.sub(r"^\s*(?:#{1,6}\s+|[-*]\s+)", "", value)
    value = re.sub(r"\s+", " ", value).strip()
    return value.strip("\"'“”‘’ ").strip()


_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")


def _trim(value: str, limit: int) -> str:
    """Fit ``value`` to ``limit``: at the last whole sentence that fits when there is one of at least
    half the limit (the model's own complete words), else at a word boundary (which the judge then
    checks for a phrase left hanging)."""
    if len(value) <= limit:
        return value
    ends = [m.end() for m in _SENTENCE_END.finditer(value[:limit])]
    if ends and ends[-1] >= limit // 2:
        return value[: ends[-1]]
    cut = value[: limit + 1].rsplit(" ", 1)[0] if " " in value[: limit + 1] else value[:limit]
    return cut[:limit].rstrip(" ,;:-–")


_TRIM_NOTE = "trimmed the {name} to {length} characters (limit {limit})"


def trimmed_fields(notes: list[str]) -> set[str]:
    """The fields :func:`clean_copy` cut to the format's limit, read back from its notes."""
    return {
        name
        for name in ("headline", "body", "cta")
        if any(n.startswith(f"trimmed the {name} ") for n in notes)
    }


def clean_copy(copy: AdCopy, spec: FormatSpec, default_cta: str | None = None) -> tuple[AdCopy, list[str]]:
    """Scrub markup, fit the format's limits, fill a missing CTA; returns the notes of each change."""
    notes: list[str] = []
    fields = {name: _scrub(getattr(copy, name)) for name in ("headline", "body", "cta", "disclosure")}
    limits = {"headline": spec.headline_max, "body": spec.body_max, "cta": spec.cta_max}
    if spec.body_max == 0 and fields["body"]:
        notes.append("dropped the body: the format has none")
        fields["body"] = ""
    for name, limit in limits.items():
        if limit and len(fields[name]) > limit:
            fields[name] = _trim(fields[name], limit)
            notes.append(_TRIM_NOTE.format(name=name, length=len(fields[name]), limit=limit))
    if not fields["cta"]:
        cta = default_cta or (spec.allowed_ctas[0] if spec.allowed_ctas else "")
        if cta:
            fields["cta"] = cta[: spec.cta_max]
            notes.append(f"the model gave no CTA; used the format's '{fields['cta']}'")
    elif spec.allowed_ctas and fields["cta"].lower().rstrip(".!") not in {
        c.lower() for c in spec.allowed_ctas
    }:
        closest = spec.allowed_ctas[0]
        notes.append(f"replaced the CTA '{fields['cta']}' with the format's '{closest}'")
        fields["cta"] = closest
    return AdCopy(**fields), notes
