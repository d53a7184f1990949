"""Built-in detectors for what a regular expression alone gets wrong: phones, cards, addresses, profanity.

Why not patterns in the pack: a phone number's shape depends on its country (libphonenumber knows
them: "030 901820" is a Berlin number, "24-count" is not), a card number is only a card number
when its Luhn digit checks, a street address ends in one of ~200 USPS suffixes, and profanity is
written masked ("f*ck", "sh!t"). A rule names one of these with ``detector:``; its matches join the
rule's patterns and are reported, overridden and rewritten like any other match.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import yaml

from rmnlora.agents.governance.claim_model import CLAIM_FAMILIES, DETECTOR_PREFIX
from rmnlora.agents.governance.claim_model import detector as claim_detector

Span = tuple[int, int]

# Regions whose national formats are recognised without a leading "+" (international numbers
# are recognised in every region). The US first: its fictional 555 numbers are handled by shape.
PHONE_REGIONS = ("US", "CA", "GB", "IE", "DE", "FR", "ES", "IT", "NL", "AU", "NZ", "IN", "BR", "MX", "JP")
# North-American shapes, valid or not (a 555 or otherwise unassigned number is still a number to
# call): optional +1/1, 3-3-4 digits with separators, and toll-free vanity numbers (1-800-FLOWERS).
_NANP = re.compile(
    r"(?<![\w$.+])(?:(?:\+?1|001)[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}(?:\s?(?:x|ext\.?)\s?\d{1,5})?(?!\d)"
    r"|(?<![\w$.+])(?:\+?1[\s.-]?)?\(?8(?:00|33|44|55|66|77|88)\)?[\s.-]?(?:[A-Z0-9]{3,4}[\s.-]?[A-Z0-9]{3,4}|[A-Z]{7})\b"
)
_INTERNATIONAL = re.compile(
    r"(?<![\w+])\+\d{1,3}(?:[\s.-]?\(0\))?[\s.-]?\(?\d{1,5}\)?(?:[\s.-]?\d){5,12}(?!\d)"
)
# A number a phone word introduces: "Call us on 4656 3414", "Tel: 020 7946 0958".
_AFTER_PHONE_WORD = re.compile(
    r"\b(?:call|phone|tel|telephone|text|sms|ring|dial|fax|whatsapp|hotline|helpline|mobile|cell|"
    r"contact|reach)\b[^0-9+\n]{0,30}((?:\+|\()?\d[\d\s().-]{5,18}\d)",
    re.IGNORECASE,
)
_DIGIT_RUN = re.compile(r"\d")
_CODE_LABEL = re.compile(
    r"\b(?:lot|batch|upc|ean|sku|item|model|order|serial|ref|code|gtin|asin|no)\.?\s*#?:?\s*$", re.I
)
_SSN_SHAPE = re.compile(r"\d{3}([-\s.])\d{2}\1\d{4}")

# Payment cards: 12-19 digits (Maestro starts at 12) in groups, checked by issuer prefix and Luhn digit.
_CARD_CANDIDATE = re.compile(r"(?<![\d.,+])(?:\d[ -]?){11,18}\d(?![\d.,]\d)")
# Visa, Mastercard, Amex, Diners, Discover/UnionPay, JCB (incl. 2131/1800), Maestro (50, 56-69, 0604).
_CARD_PREFIX = re.compile(r"^(?:3|4|5|6|2[2-7]|2131|1800|0604)")

_LEXICON = yaml.safe_load((Path(__file__).with_name("lexicon.yaml")).read_text(encoding="utf-8"))
# USPS Publication 28 street suffixes (common forms and abbreviations) and unit designators.
_STREET_SUFFIXES: list[str] = _LEXICON["street_suffixes"].split()
_GUARDED_SUFFIXES: list[str] = _LEXICON["street_suffixes_guarded"].split()
_LISTICLE = "|".join(_LEXICON["listicle_words"].split())
_UNITS = r"(?:,?\s+(?:Apt|Apartment|Suite|Ste|Unit|Fl|Floor|#)\.?\s*#?\s*\w{1,6})?"
_ADDRESS_ENDS = r"(?=\s*(?:$|[,.;:)\n]|(?:Suite|Apt|Unit|Ste|Fl|Floor)\b|#|[a-z]))"
_NAME_WORDS = r"(?:(?:\d{1,3}(?:st|nd|rd|th)|[A-Z][a-zA-Z'’-]*)\.?\s+){1,3}"
_EU_STREET_FIRST = (
    "rue|avenue|av\\.|boulevard|bd|place|chemin|allée|impasse|quai|via|viale|piazza|calle|avenida|rua|carrer"
)
_EU_STREET_SUFFIX = "straße|strasse|str\\.|weg|platz|gasse|allee|laan|straat|gracht|plein"
_SUFFIX = (
    rf"(?:(?:{'|'.join(_STREET_SUFFIXES)})\b\.?" + rf"|(?:{'|'.join(_GUARDED_SUFFIXES)})\b{_ADDRESS_ENDS})"
)
_STREET_ADDRESS = re.compile(
    # 742 Evergreen Terrace / 82/2 Jerry Crossway / 1600 N. Main St. Apt 4 / 12B Baker Street
    rf"(?<![\w$.,/-])\d{{1,6}}(?:/\d{{1,5}})?[A-Za-z]?\s+(?!(?:{_LISTICLE})\b)"
    r"(?:(?:[NSEW]|North|South|East|West)\.?\s+)?"
    + _NAME_WORDS
    + _SUFFIX
    + _UNITS
    # Flat 67, Wendy Harbors (a unit first, the UK way)
    + r"|\b(?:Flat|Studio|Unit|Apartment|Suite|Apt\.?)\s+\w{1,5}\s*[,\n]\s*"
    + _NAME_WORDS
    + _SUFFIX
    # 12 Rue des Lices / 5 bis, avenue Foch / Hauptstraße 5 / Calle Mayor 10 (European shapes)
    + rf"|\b\d{{1,4}}(?:\s?(?:bis|ter))?,?\s+(?i:{_EU_STREET_FIRST})\s+"
    + r"(?:(?i:d[eu']\s?|des|la|del|de\s+la)\s+)?[A-Z][\w'’-]+"
    + rf"|\b(?:[A-Z][a-zäöüß]+(?:{_EU_STREET_SUFFIX})|(?:Calle|Via|Rua|Avenida|Carrer)\s+[A-Z][\w'’-]+)"
    + r"\s+\d{1,4}[a-z]?\b"
    + r"|\b(?:P\.?\s?O\.?\s?Box|Post Office Box)\s+\d{1,6}\b",
)

# Profanity: each word may be written with symbols or digits for some of its inner letters.
_STRONG: list[str] = _LEXICON["profanity_strong"]["words"].split()
_STRONG_PHRASES: list[str] = _LEXICON["profanity_strong"]["phrases"]
_MILD: list[str] = _LEXICON["profanity_mild"]["words"].split()
_MILD_PHRASES: list[str] = _LEXICON["profanity_mild"]["phrases"]
_MASK = "*#@!$%1_."


def _masked(word: str) -> str:
    """'shit' -> 'sh[i*#@!$%1_.]t': inner letters may be symbols ($ for s, 1 for i, 0 for o too)."""
    inner = []
    for letter in word[1:-1]:
        extra = {"s": "$5", "i": "1!", "o": "0", "a": "@4", "e": "3", "u": "v"}.get(letter, "")
        inner.append(f"[{re.escape(letter + _MASK + extra)}]")
    return re.escape(word[0]) + "".join(inner) + re.escape(word[-1])


@lru_cache(maxsize=2)
def _profanity(strength: str) -> re.Pattern[str]:
    words, phrases = (_STRONG, _STRONG_PHRASES) if strength == "strong" else (_MILD, _MILD_PHRASES)
    alternatives = sorted((_masked(w) for w in words), key=len, reverse=True)
    return re.compile(r"(?<![\w*])(?:" + "|".join([*phrases, *alternatives]) + r")(?![\w*])", re.IGNORECASE)


def phone_spans(text: str) -> list[Span]:
    """Phone numbers, national (in PHONE_REGIONS) or international, and North-American shapes."""
    if len(_DIGIT_RUN.findall(text)) < 6 and not re.search(r"8(?:00|33|44|55|66|77|88)", text):
        return []
    import phonenumbers

    spans = {m.span() for m in _NANP.finditer(text)} | {m.span() for m in _INTERNATIONAL.finditer(text)}
    spans |= {m.span(1) for m in _AFTER_PHONE_WORD.finditer(text) if len(_DIGIT_RUN.findall(m.group(1))) >= 7}
    for region in PHONE_REGIONS:
        for match in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID):
            spans.add((match.start, match.end))
    # a social-security number (3-2-4) is its own finding, and a labelled code is not a phone
    return [
        span
        for span in _outermost(spans)
        if not _SSN_SHAPE.fullmatch(text[span[0] : span[1]]) and not _CODE_LABEL.search(text[: span[0]])
    ]


def _luhn_ok(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def payment_card_spans(text: str) -> list[Span]:
    """12-19 digit numbers with an issuer prefix whose Luhn check digit is right."""
    spans = []
    for match in _CARD_CANDIDATE.finditer(text):
        digits = re.sub(r"\D", "", match.group(0))
        if 12 <= len(digits) <= 19 and _CARD_PREFIX.match(digits) and _luhn_ok(digits):
            spans.append(match.span())
    return spans


# A British or Canadian postcode after a town name or a comma: an address whatever its street is
# called ("27 Kingsway, London WC2B 6UN"); not a dose ("Vitamin B12 5MG").
_POSTCODE = re.compile(
    # the house number and street before it, when written ("27 Kingsway, "), and the town
    r"(?:(\b\d{1,5}[A-Za-z]?\s+(?:[A-Z][\w'’.-]*\s+){0,3}[A-Z][\w'’.-]*,\s*(?:[A-Z][a-z]+\s+)?)|,\s*(?:[A-Z]{2}\s+)?|\b[A-Z][a-z]+\s+)"
    r"((?:[A-Z]{1,2}\d[A-Z\d]?\s?(?!\d(?:MG|ML|KG|LB|OZ|GB|MB|TB|HD|CT|PK|MM|CM)\b)\d[ABD-HJLNP-UW-Z]{2}"
    r"|[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z]\s?\d[ABCEGHJ-NPRSTV-Z]\d))\b"
)


def street_address_spans(text: str) -> list[Span]:
    """A house number, up to three capitalised name words and a USPS suffix; a PO box; or a UK or
    Canadian postcode where an address puts it."""
    spans = {m.span() for m in _STREET_ADDRESS.finditer(text)}
    spans |= {(m.start(1) if m.group(1) else m.start(2), m.end(2)) for m in _POSTCODE.finditer(text)}
    return _outermost(spans)


def profanity_strong_spans(text: str) -> list[Span]:
    return [m.span() for m in _profanity("strong").finditer(text)]


def profanity_mild_spans(text: str) -> list[Span]:
    return [m.span() for m in _profanity("mild").finditer(text)]


def _outermost(spans: set[Span]) -> list[Span]:
    """Drop spans inside another ('91234-5678' inside '(11) 91234-5678')."""
    ordered = sorted(spans, key=lambda s: (s[0], -s[1]))
    kept: list[Span] = []
    for start, end in ordered:
        if kept and start >= kept[-1][0] and end <= kept[-1][1]:
            continue
        kept.append((start, end))
    return kept


_COMPETITOR_BRANDS = re.compile(
    r"(?<![\w'’&-])(?:"
    + "|".join(sorted((re.escape(b) for b in _LEXICON["competitor_brands"]), key=len, reverse=True))
    + r")(?![\w'’&-])"
)


def competitor_brand_spans(text: str) -> list[Span]:
    """National brands other advertisers own, as written (case-sensitive): naming one in an ad is
    a comparison or borrowed equity, whatever the sentence around it ("Skip the Red Bull")."""
    return [m.span() for m in _COMPETITOR_BRANDS.finditer(text)]


DETECTORS: dict[str, Callable[[str], list[Span]]] = {
    "phone": phone_spans,
    "payment_card": payment_card_spans,
    "street_address": street_address_spans,
    "profanity_strong": profanity_strong_spans,
    "profanity_mild": profanity_mild_spans,
    "competitor_brand": competitor_brand_spans,
    **{f"{DETECTOR_PREFIX}{family}": claim_detector(family) for family in CLAIM_FAMILIES},
}
