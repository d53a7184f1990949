"""The copy-quality judge: is this ad copy at all, before asking whether it is allowed?

Policy packs ask whether copy may run (claims, competitors, lengths). A small model also writes
things that are not ad copy: assistant chatter ("Here is a revised version..."), the prompt's own
labels and rules echoed back ("Allowed claims", "At most 50 characters"), sentences cut off by the
token limit, loops, outline numbers ("#3.2.1.1"), and prose that never names the product. None of
that can ship, so every finding here is a critical :class:`Violation` (rule ``quality:<name>``,
kind ``copy_quality``), and the create gate counts a candidate with one as unusable.

The rules are deliberately plain (regular expressions and counts, thresholds as data below) so a
person can read why a candidate was rejected. They were calibrated on the project's hand-written
corpus (``examples/corpus/``: every one of its 648 copies must pass) and on real SmolLM2 answers;
the measured rates and the command that measures them are in docs/governance.md ("Copy quality").
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass

from rmnlora.schemas.governance import COPY_FIELDS, AdCopy, Violation

PACK = "copy_quality"
KIND = "copy_quality"


@dataclass(frozen=True)
class QualityThresholds:
    """Every number the judge uses; see docs/governance.md for how each was measured."""

    # Mean token log-probability of the answer (CopyCandidate.likelihood) below which the text is
    # not language. Measured under SmolLM2-135M (benchmarks/copy_quality.py --fluency): the 648
    # corpus copies, scored as the answer the prompt asks for, lie in -3.97..-0.88 (median -2.53);
    # the same copies with their words shuffled median -4.80; a random-weights model's greedy answers
    # about -9.7. Base-model chatter scores *higher* than the corpus (median -1.25 as the runtime
    # reports it), so likelihood cannot catch fluent garbage (the other rules do); it only catches
    # word salad and degenerate decoding. Set half a nat below the corpus minimum, so no hand-written
    # copy is rejected for fluency.
    min_mean_logprob: float = -4.5
    # The same content word this many times in one field is a loop, not emphasis (corpus max: 2).
    max_word_repeats: int = 2
    # A run of this many words appearing twice in one field (with a content word in it) is a loop.
    repeated_ngram: int = 3
    # A field with fewer letters than this share of its visible characters is numbers/punctuation.
    min_letter_share: float = 0.5
    # Shorter fields are not judged on letter share (a CTA such as "Go" is fine).
    min_chars_for_share: int = 4


QUALITY = QualityThresholds()


@dataclass(frozen=True)
class Context:
    """What a per-field rule may know besides the text: the thresholds and the names being advertised."""

    thresholds: QualityThresholds = QUALITY
    names: frozenset[str] = frozenset()
    proper_names: frozenset[str] = frozenset()
    # The brief's own text (product, key message, allowed claims), folded; None: facts not judged.
    facts: str | None = None


@dataclass(frozen=True)
class Pattern:
    """One named regular expression (case-insensitive unless it says ``(?-i:...)``)."""

    name: str
    regex: str


# Assistant chatter and meta-text: the model talking to the requester or about the ad, not the ad.
CHATTER: tuple[Pattern, ...] = (
    Pattern("greeting", r"^\s*(?:hi|hey|hello)\s+(?:there|everyone|all|team|[A-Z][\w'-]*)\b\s*[,!:]"),
    Pattern("greeting", r"^\s*dear\b|^\s*greetings\b"),
    Pattern("assent", r"^\s*(?:sure|certainly|of course|absolutely|okay|ok|great|got it)\s*[!,.:]"),
    Pattern(
        "here is",
        r"\bhere(?:'s|’s| is| are)\s+(?:a |an |the |your |my |some |one |two |three )?(?:[\w-]+ ){0,3}"
        r"(?:version|ad|ads|copy|headline|headlines|text|draft|options?|examples?|suggestions?|rewrite"
        r"|revision|response|answer|attempt|taglines?)\b",
    ),
    Pattern("revised version", r"\b(?:revised|rewritten|updated|edited|improved|new|shorter) version\b"),
    Pattern("revised version", r"\bversion of (?:the|your|this|my) (?:text|ad|copy|headline|message)\b"),
    Pattern(
        "assistant",
        r"\bI(?:'m|’m| am) (?:ready|happy|glad|here|an ai|sorry|unable|not able|going to)\b"
        r"|\bI(?:'d|’d| would) (?:be happy|be glad|love to help|suggest)\b"
        r"|\bI (?:can|will|could) (?:help|assist|write|create|provide|rewrite|revise)\b"
        r"|\bassist you\b|\bhow can i help\b|\blet me know\b|\bfeel free to\b|\bhope this helps\b"
        r"|\bhappy to help\b|\bas an ai\b|\blanguage model\b|\bI hope this (?:message|email|finds)\b"
        r"|\bgood luck\b",
    ),
    # Brand copy speaks as "we" or not at all; "I" is the assistant (the corpus never uses it).
    Pattern("first person", r"(?-i:\bI\b)|\bI(?:'m|’m|'ll|’ll|'ve|’ve|'d|’d)\b"),
    Pattern(
        "about the ad",
        r"\bthis (?:ad|advertisement|copy|headline|text|tagline) (?:is|was|will|aims|has|should|can)\b"
        r"|\b(?:ad|advertisement|copy) (?:is )?designed to\b"
        r"|\bthe (?:text|copy|ad|headline) (?:above|below)\b"
        r"|\byour (?:creative )?project\b|\byour (?:request|response|message|email|feedback|prompt)\b"
        r"|\bthis product\b|\b(?:customers|consumers|users|target audience)\b",
    ),
)

# The prompt's own labels and rule text, echoed back as if it were copy.
ECHO: tuple[Pattern, ...] = (
    Pattern(
        "label",
        r"\b(?:brand|product|key message|tone|allowed claims?|claims|format|headline|body|cta"
        r"|call to action|retailer|item|name|title|tagline|slogan|description|text|copy|ad|message|subject"
        r"|category|note|instructions|marketer|sender|recipient|target|key)\s*:",
    ),
    Pattern("allowed claims", r"\ballowed claims?\b|\bkey messages?\b"),
    Pattern("numbered option", r"\b(?:option|version|variant|variation|draft|alternative)\s*#?\d+\s*[:.)-]"),
    Pattern(
        "length rule",
        r"\b(?:at most|up to|no more than|maximum of|max\.?)\s+\d+\s*(?:characters|chars|words)\b"
        r"|\b\d+\s*(?:characters|chars)\b",
    ),
    Pattern("choice rule", r"\bchoose one of\b|\bone of\s*:|\banswer with\b|\b(?:exactly )?three lines\b"),
    Pattern("empty rule", r"\bleave (?:it |the body )?empty\b"),
    Pattern(
        "policy rule",
        r"\b(?:health|cure|nutrition|allowed|factual|no|'#1'|#1) claims?\b|\bno guarantees\b"
        r"|\bno (?:other )?retailers\b|\bpersonal data\b|\bproduct description\b",
    ),
    Pattern("prompt words", r"\bretail media\b|\bad copy\b|\bcall to action\b|(?-i:\bCTA\b)"),
    Pattern("format name", r"\b[a-z]+_[a-z_]+\b"),
)

# Template or prompt slots that were never filled in.
PLACEHOLDER = Pattern(
    "placeholder",
    r"\[[^\]]*\]|\{[^}]*\}|<[^>]*>|\bTBD\b|\blorem ipsum\b|\bXXX\b|\bplaceholder\b"
    r"|\b(?:insert|your) (?:brand|product) (?:name|here)\b",
)

# Outline numbers, version strings and list markers: the model numbering things.
NUMBER_SALAD: tuple[Pattern, ...] = (
    # dates ("Offer ends 12/31/2026", "2026-06-30") are the small print's terms, not numbering
    Pattern(
        "outline number",
        r"(?<![\d/.\-:])(?!\d{1,2}/\d{1,2}/(?:\d{4}|\d{2})(?![\d/.\-:]))(?!\d{4}-\d{2}-\d{2}(?![\d/.\-:]))"
        r"#?\d+(?:[.\-/:]\d+){2,}",
    ),
    # "#1 granola bar (Circana 2025)" is a ranking claim for the policy packs, not a list marker.
    Pattern("list marker", r"^\s*(?:\d+[.)]|[ivx]+\))\s"),
)

# Quantities and claim words an ad may state only when its brief does: a number nobody approved
# ("One burro, 8.", "20 g protein") or a diet/health/origin claim ("gluten-free", "organic") is an
# invented fact. Measured on the corpus: its 142 numbers and 83 claim words all appear in their briefs.
QUANTITY = re.compile(r"\d+(?:[.,]\d+)?")
CLAIM_WORDS = re.compile(
    r"\b(?:organic|gluten[- ]free|grain[- ]free|dairy[- ]free|nut[- ]free|sugar[- ]free|fat[- ]free"
    r"|vegan|keto|paleo|non[- ]?gmo|no added sugars?|zero sugar|low[- ](?:fat|sugar|sodium|calorie|carb)"
    r"|high[- ](?:protein|fiber)|protein[- ]packed|(?:all[- ])?natural|healthy|healthier|superfood"
    r"|plant[- ]based|vitamins?|fiber|kosher|fair[- ]trade|sustainabl[a-z]*|compostable|recyclable"
    r"|eco[- ]friendly|hypoallergenic|clinically|doctor[- ]recommended|award[- ]winning)\b",
    re.IGNORECASE,
)

# What a product is, when the copy names it: "Acme Snacks whole grain crackers" for granola bars is an
# invented product. Only a kind named right after the brand or product name counts (a serving
# suggestion, "pours easy over cereal", is not a claim about the product); what a product is *for*
# (dinner, snack, meal) and adjectives (crisp) are not kinds. Measured on the corpus: none of its
# 648 copies names its product as another kind.
PRODUCT_KINDS = frozenset(
    ("cracker", "chip", "cookie", "biscuit", "cereal", "granola", "bar", "oatmeal", "yogurt", "milk")
    + ("cheese", "butter", "juice", "soda", "water", "tea", "coffee", "espresso", "latte", "beer", "wine")
    + ("candy", "chocolate", "gum", "pretzel", "popcorn", "cake", "muffin", "bread", "bagel", "waffle")
    + ("pancake", "pizza", "burrito", "taco", "pasta", "noodle", "sauce", "soup", "salsa", "hummus")
    + ("jerky", "kibble", "detergent", "cleaner", "spray", "wipe", "soap", "shampoo", "lotion")
    + ("smoothie", "shake", "sandwich", "salad", "syrup", "jam", "rice")
)
# A word that ends the name's noun phrase: past it, a kind is something else ("tastes bright").
_PHRASE_BREAKERS = frozenset(
    ("is", "are", "was", "tastes", "taste", "over", "lets", "let", "for", "with", "and", "or", "in", "on")
    + ("to", "pours", "pour", "makes", "brings", "goes", "stands", "into", "your", "a", "the", "than")
    + ("from", "at", "by", "of", "our", "you", "it", "its")
)

# Words that cannot end a phrase: a field ending on one was cut off (by the token limit or the
# cleaner's trim). Prepositions such as "for" or "to" are not here: "a breakfast worth waking for"
# and "the bowl they come running to" are corpus headlines.
DANGLING_ALWAYS = frozenset(
    ("the", "a", "an", "and", "or", "but", "nor", "of", "with", "your", "our", "my", "their", "its")
    + ("his", "will", "would", "shall", "should", "very", "than", "every", "whose")
)
# Modal verbs may close a sentence ("We think it will."); the other words above never do.
_MAY_CLOSE = frozenset(("will", "would", "shall", "should"))
# Also dangling in body text without closing punctuation (a body is sentences: the corpus ends
# every body with '.', '!' or '?'), but not in headlines ("Ready when the school bus is").
DANGLING_IN_BODY = frozenset(
    ("to", "for", "in", "on", "at", "by", "from", "into", "onto", "as", "that", "is", "are", "was")
    + ("were", "be", "can")
)
SENTENCE_FIELDS = frozenset(("body", "disclosure"))
_TRAILING_CUT = re.compile(r"[,;:\-–—(\[{“&/]\s*$")
# A full stop inside the text, before another sentence; abbreviations ("Clover & Co. laundry pods")
# are not one, and a question may be answered by a fragment ("Questions? Email us").
_SENTENCE_END = re.compile(r"(?<!\bCo)(?<!\bMr)(?<!\bMs)(?<!\bDr)(?<!\bSt)(?<!\boz)(?<!\blb)\.\s+\S")
_SENTENCE_BREAK = re.compile(r"[.!?;]")
# Hashtags or handles closing a field ("Fiery ginger. #MuleNight", "Say hi @AcmeSnacks"): a sign-off.
_TAGS_AT_END = re.compile(r"(?:^|[.!?]\s+|\s)(?:[#@][A-Za-z][\w-]*\s*)+$")
_END_PUNCT = ".!?…\"'”’)"
# Word fragments with no vowel at all are cut-off words ("gr", "T"); units and abbreviations are not.
_VOWELLESS_OK = frozenset(("lb", "lbs", "oz", "ct", "pk", "ml", "fl", "g", "kg", "mg", "hr", "hrs"))
_VOWELLESS_OK |= frozenset(("min", "mr", "mrs", "ms", "dr", "st", "tv"))

STOPWORDS = frozenset(
    ("a", "an", "the", "and", "or", "but", "nor", "of", "to", "in", "on", "at", "by", "for", "from")
    + ("with", "into", "onto", "as", "is", "are", "was", "were", "be", "been", "it", "its", "it's")
    + ("this", "that", "these", "those", "your", "you", "our", "we", "my", "their", "they", "them")
    + ("he", "she", "his", "her", "one", "so", "if", "than", "then", "just", "all", "any", "each")
    + ("every", "no", "not")
)
# Words in a brand or product name too generic to count as naming it.
GENERIC_NAME_WORDS = frozenset(
    ("bar", "bars", "snack", "snacks", "food", "foods", "co", "company", "product", "products")
    + ("pack", "box", "bag", "brand", "brands", "inc")
)

BRACKETS = (("(", ")"), ("[", "]"), ("{", "}"), ("“", "”"), ("«", "»"))

MESSAGES = {
    "chatter": (
        "assistant chatter or meta-text ({what}: '{matched}'): the model is talking, not writing the ad",
        "Regenerate; the ad must contain only the copy itself.",
    ),
    "echoed_instruction": (
        "echoed instructions ({what}: '{matched}'): the prompt's own labels or rules, not ad copy",
        "Regenerate; never repeat the request's labels or rules in the ad.",
    ),
    "placeholder": ("unfilled placeholder '{matched}'", "Replace the placeholder with real copy."),
    "number_salad": (
        "number salad ({what}: '{matched}'): outline numbers or digits and punctuation, not words",
        "Regenerate; numbers may appear only where a claim holds them.",
    ),
    "truncated": (
        "cut off mid-phrase ('{matched}')",
        "Regenerate, or finish the phrase within the length limit.",
    ),
    "repetition": ("repetition ('{matched}'): the text loops", "Regenerate; say each thing once."),
    "unbalanced": (
        "unbalanced quotes or brackets ('{matched}')",
        "Close or remove the quote or bracket.",
    ),
    "misspelled_name": (
        "misspells the brand or product name ('{matched}')",
        "Regenerate; spell the brand and product exactly as given.",
    ),
    "unsupported_fact": (
        "states a {what} the brief does not ('{matched}'): an invented fact is an unapproved claim",
        "Regenerate; state only the product facts and claims the brief gives.",
    ),
    "missing_product": (
        "names neither the brand nor the product",
        "Name the brand or the product in the headline or the body.",
    ),
    "fluency": (
        "not fluent language: mean token log-probability {matched} is below {threshold}",
        "Regenerate; the model's answer reads as word salad.",
    ),
}


def _violation(
    name: str, field: str | None, span: tuple[int, int] | None, matched: str, **extra: object
) -> Violation:
    message, suggestion = MESSAGES[name]
    return Violation(
        rule_id=f"quality:{name}",
        kind=KIND,
        severity="critical",
        pack=PACK,
        field=field,
        span=span,
        matched=matched,
        message=message.format(matched=matched, **extra),
        suggestion=suggestion,
    )


_CACHE: dict[str, re.Pattern[str]] = {}


def _compiled(regex: str) -> re.Pattern[str]:
    if regex not in _CACHE:
        _CACHE[regex] = re.compile(regex, re.IGNORECASE)
    return _CACHE[regex]


def _first(patterns: Iterable[Pattern], text: str) -> tuple[Pattern, re.Match[str]] | None:
    """The earliest match of any pattern, with the pattern that matched."""
    found = [(p, m) for p in patterns if (m := _compiled(p.regex).search(text))]
    return min(found, key=lambda item: item[1].start()) if found else None


def _words(text: str) -> list[tuple[str, int, int]]:
    """Lower-cased words with their spans; apostrophes inside words kept ("dinner's")."""
    return [(m.group(0).lower(), m.start(), m.end()) for m in re.finditer(r"[^\W_]+(?:['’][^\W_]+)*", text)]


def _fold(text: str) -> str:
    """Lower-case, accents removed, possessive 's dropped: 'Nonna Rosa's pâté' -> 'nonna rosa pate'."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"['’]s\b", "", plain)


def _pattern_rule(name: str, patterns: Iterable[Pattern], field: str, text: str) -> Iterator[Violation]:
    first = _first(patterns, text)
    if first:
        pattern, match = first
        yield _violation(name, field, match.span(), match.group(0), what=pattern.name)


def chatter(field: str, text: str, ctx: Context) -> Iterator[Violation]:
    """The model addressing someone or describing the ad: no buyer pastes that into a console.

    In the small print "This product is not intended to..." is the required wording, not chatter."""
    for violation in _pattern_rule("chatter", CHATTER, field, text):
        if not (field == "disclosure" and violation.matched.lower() == "this product"):
            yield violation


def echoed_instruction(field: str, text: str, ctx: Context) -> Iterator[Violation]:
    """The prompt's labels and rule text ('Allowed claims', 'At most 50 characters') copied back."""
    yield from _pattern_rule("echoed_instruction", ECHO, field, text)


def placeholder(field: str, text: str, ctx: Context) -> Iterator[Violation]:
    """Slots like '[Product Name]' or '{brand}' that nobody filled in."""
    yield from _pattern_rule("placeholder", (PLACEHOLDER,), field, text)


_CODE_LABEL = re.compile(
    r"\b(?:lot|batch|upc|ean|sku|item|model|serial|ref|gtin|asin)\.?\s*(?:no\.?|number)?\s*#?:?\s*$", re.I
)


def number_salad(field: str, text: str, ctx: Context) -> Iterator[Violation]:
    """Outline numbers ('#3.2.1.1'), list markers, or a field that is mostly digits and punctuation.

    Plain quantities ('24 oz jar', 'ready in 4 minutes') pass: they are words with a number.
    """
    first = _first(NUMBER_SALAD, text)
    if first and not _CODE_LABEL.search(text[: first[1].start()]):  # "UPC 0 41234 56789 0" is a code
        pattern, match = first
        yield _violation("number_salad", field, match.span(), match.group(0), what=pattern.name)
        return
    visible = [c for c in text if not c.isspace()]
    if len(visible) >= ctx.thresholds.min_chars_for_share:
        letters = sum(1 for c in visible if c.isalpha())
        if letters / len(visible) < ctx.thresholds.min_letter_share:
            yield _violation(
                "number_salad", field, (0, len(text)), text, what="mostly digits and punctuation"
            )


def _cut_word(text: str, words: list[tuple[str, int, int]], field: str) -> bool:
    """Whether the last word shows the text was cut (see :func:`truncated`)."""
    last = words[-1][0]
    closed = text[-1] in _END_PUNCT
    if last in DANGLING_ALWAYS:
        return not (closed and last in _MAY_CLOSE)
    if closed:
        return False
    if _TAGS_AT_END.search(text):  # "... in a glass bottle. #MuleNight": a hashtag, not a sentence
        return False
    if field in SENTENCE_FIELDS and (last in DANGLING_IN_BODY or _SENTENCE_END.search(text)):
        # "Crunchy oats. Pack a bar for" / "... Find Acme Crunch granola": a last sentence left
        # open after punctuated ones is one the token limit or the trim cut.
        return True
    written = text[words[-1][1] : words[-1][2]]
    if len(written) >= 2 and written.isupper():  # an acronym ("LDL", "BBQ", "DHA"), not a cut word
        return False
    fragment = len(last) <= 3 and not re.search(r"[aeiouy\d]", last) and last not in _VOWELLESS_OK
    return fragment and (len(words) > 1 or len(last) == 1)


def truncated(field: str, text: str, ctx: Context) -> Iterator[Violation]:
    """A field cut off mid-phrase: a dangling article/conjunction/determiner, a trailing comma or
    open bracket, a vowelless word fragment, or (in body text) a last sentence left unpunctuated.

    Headlines legitimately end without a period, may be a question and an answer ("Spill? Grab a
    wipe") and may end on a preposition ("worth waking for"), so those alone are never a cut.
    """
    stripped = text.rstrip()
    cut = _TRAILING_CUT.search(stripped)
    if cut:
        yield _violation("truncated", field, cut.span(), stripped[max(0, cut.start() - 20) :].lstrip())
        return
    words = _words(stripped)
    if words and _cut_word(stripped, words, field):
        start, end = words[-1][1], words[-1][2]
        yield _violation("truncated", field, (start, end), stripped[max(0, start - 20) : end].lstrip())


def trimmed_mid_phrase(copy: AdCopy, trimmed: Collection[str]) -> Iterator[Violation]:
    """A field the cleaner cut to the format's limit, left without closing punctuation.

    The model wrote more than the format allows and the cleaner cut it at a word boundary
    (``parsing.clean_copy`` notes it): what is left is the start of a longer sentence
    ("Brightside lemon all-purpose cleaner is a soapy"), not a headline someone wrote to fit.
    """
    for field in COPY_FIELDS:
        text = copy.field_text(field).rstrip()
        if field in trimmed and text and text[-1] not in _END_PUNCT:
            words = _words(text)
            start = words[-1][1] if words else 0
            yield _violation("truncated", field, (start, len(text)), text[max(0, start - 20) :].lstrip())


def repetition(field: str, text: str, ctx: Context) -> Iterator[Violation]:
    """Loops: a word straight after itself three times or a function word twice ('the the'), a content
    word more than ``max_word_repeats`` times, a run of ``repeated_ngram`` words twice in a sentence,
    or a run of one character ('!!!!'). "Here, kitty kitty" and "one for the kitchen, one for the car"
    pass, and words of the advertised names are not counted alone ("Kettle Hollow sea salt kettle
    chips" says "kettle" twice before the copy says "kettle-cooked")."""
    t = ctx.thresholds
    run = re.search(r"(\S)\1{3,}", text)
    if run and not run.group(0).isdigit():
        yield _violation("repetition", field, run.span(), run.group(0))
        return
    words = _words(text)
    names = [w for w, _, _ in words]
    for i in range(1, len(words)):
        same = names[i] == names[i - 1]
        if same and (names[i] in STOPWORDS or (i >= 2 and names[i - 2] == names[i])):
            yield _violation(
                "repetition", field, (words[i - 1][1], words[i][2]), text[words[i - 1][1] : words[i][2]]
            )
            return
    counts = Counter(
        w for w in names if w not in STOPWORDS and len(w) >= 3 and _stem(_fold(w)) not in ctx.names
    )
    for word, count in counts.items():
        if count > t.max_word_repeats:
            first = next(s for w, s, _ in words if w == word)
            yield _violation("repetition", field, (first, first + len(word)), f"{word} ×{count}")
            return
    # Runs of words within a sentence: "...from Meadowlark. Soft-baked..." is two sentences.
    n = t.repeated_ngram
    sentence = [len(_SENTENCE_BREAK.findall(text, 0, s)) for _, s, _ in words]
    seen: set[tuple[str, ...]] = set()
    for i in range(len(names) - n + 1):
        if sentence[i] != sentence[i + n - 1]:
            continue
        gram = tuple(names[i : i + n])
        if all(w in STOPWORDS for w in gram):
            continue
        if gram in seen:
            yield _violation("repetition", field, (words[i][1], words[i + n - 1][2]), " ".join(gram))
            return
        seen.add(gram)


def unbalanced(field: str, text: str, ctx: Context) -> Iterator[Violation]:
    """An opening quote or bracket never closed (or the reverse): the text was cut or mangled."""
    for left, right in BRACKETS:
        if text.count(left) != text.count(right):
            where = text.find(left) if text.count(left) > text.count(right) else text.find(right)
            yield _violation("unbalanced", field, (where, where + 1), text[where])
            return
    if text.count('"') % 2:
        where = text.find('"')
        yield _violation("unbalanced", field, (where, where + 1), '"')


def name_tokens(*names: str | None) -> set[str]:
    """Distinctive words of a brand or product name: 'acme-snacks' -> {'acme'},
    'Nonna Rosa's marinara sauce' -> {'nonna', 'rosa', 'marinara', 'sauce'}."""
    tokens: set[str] = set()
    for name in names:
        for word in re.findall(r"[a-z0-9]+", _fold(name or "")):
            if len(word) >= 3 and word not in STOPWORDS and word not in GENERIC_NAME_WORDS:
                tokens.add(word)
    return tokens


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") else word


def _stemmed_names(product: str | None, brand: str | None) -> frozenset[str]:
    return frozenset(_stem(t) for t in name_tokens(product, brand))


def proper_names(product: str | None, brand: str | None) -> frozenset[str]:
    """The capitalised words of the product name and every word of the brand, folded:
    'Nonna Rosa's marinara sauce', 'nonna-rosas' -> {'nonna', 'rosa', 'rosas'}."""
    words = {w for w in re.findall(r"[^\W\d_]+", product or "") if w[0].isupper()}
    words |= set(re.findall(r"[^\W\d_]+", brand or ""))
    return frozenset(
        f for w in words if len(f := _fold(w)) >= 4 and f not in GENERIC_NAME_WORDS and f not in STOPWORDS
    )


def _one_letter_off(a: str, b: str) -> bool:
    return len(a) == len(b) and a != b and sum(x != y for x, y in zip(a, b, strict=True)) == 1


def misspelled_name(field: str, text: str, ctx: Context) -> Iterator[Violation]:
    """A capitalised word one letter off the brand's or product's name ('Tonna Rosa's' for 'Nonna
    Rosa's'): a small model garbling the name it was given. Copy must spell the name right."""
    if not ctx.proper_names:
        return
    for match in re.finditer(r"[^\W\d_]+", text):
        word = match.group(0)
        if not word[0].isupper() or len(word) < 4:
            continue
        folded = _fold(word)
        if folded in ctx.proper_names:
            continue
        if any(_one_letter_off(folded, name) for name in ctx.proper_names):
            yield _violation("misspelled_name", field, match.span(), word)
            return


def _claim_key(text: str) -> str:
    return re.sub(r"[\s-]+", "-", _fold(text))


def unsupported_fact(field: str, text: str, ctx: Context) -> Iterator[Violation]:
    """A number or a claim word ('gluten-free', 'organic') that the brief never states.

    Judged only when the brief's text is given (``facts``): the copy may repeat what the brief
    says, never add to it.
    """
    if ctx.facts is None:
        return
    numbers = set(QUANTITY.findall(ctx.facts))
    for match in QUANTITY.finditer(text):
        if match.group(0) not in numbers:
            yield _violation("unsupported_fact", field, match.span(), match.group(0), what="number")
            return
    facts = _claim_key(ctx.facts)
    for match in CLAIM_WORDS.finditer(text):
        if _claim_key(match.group(0)) not in facts:
            yield _violation("unsupported_fact", field, match.span(), match.group(0), what="claim")
            return
    renamed = _named_as_another_kind(text, ctx)
    if renamed is not None:
        yield _violation("unsupported_fact", field, renamed[0], renamed[1], what="product kind")


def _kind(word: str) -> str | None:
    for candidate in (word, word.removesuffix("s"), word.removesuffix("es")):
        if candidate in PRODUCT_KINDS:
            return candidate
    return None


def _named_as_another_kind(text: str, ctx: Context) -> tuple[tuple[int, int], str] | None:
    """The span and words of "<name> ... <kind>" when the brief never says the product is a <kind>."""
    folded_facts = _fold(ctx.facts or "")
    words = list(re.finditer(r"[^\W\d_][\w'’-]*", text))
    for start, name in enumerate(words):
        if _fold(name.group(0)) not in ctx.proper_names:
            continue
        for index in range(start + 1, min(start + 6, len(words))):
            gap = text[words[index - 1].end() : words[index].start()]
            word = _fold(words[index].group(0))
            if gap.strip() or word in _PHRASE_BREAKERS:
                break
            kind = _kind(word)
            if kind is None:
                continue
            if not re.search(rf"\b{kind}", folded_facts):
                span = (name.start(), words[index].end())
                return span, text[span[0] : span[1]]
            break
    return None


def missing_product(copy: AdCopy, product: str | None, brand: str | None) -> Iterator[Violation]:
    """Neither the brand nor a distinctive word of the product name in headline or body.

    Copy that never says what it sells is not an ad for this product (and most chatter fails here
    too). Judged only when a product or brand is given.
    """
    wanted = _stemmed_names(product, brand)
    if not wanted:
        return
    text = f"{copy.headline}\n{copy.body}"
    present = {_stem(w) for w in re.findall(r"[a-z0-9]+", _fold(text))}
    if wanted & present:
        return
    yield _violation("missing_product", "headline", (0, len(copy.headline)), copy.headline)


def fluency(likelihood: float | None, t: QualityThresholds = QUALITY) -> Iterator[Violation]:
    """The runtime's mean token log-probability below the calibrated floor: word salad.

    None (a model that reports no log-probabilities, or template copy) is not judged.
    """
    if likelihood is None or likelihood >= t.min_mean_logprob:
        return
    yield _violation("fluency", None, None, f"{likelihood:.2f}", threshold=f"{t.min_mean_logprob:.2f}")


FIELD_RULES = (
    chatter,
    echoed_instruction,
    placeholder,
    number_salad,
    truncated,
    repetition,
    unbalanced,
    misspelled_name,
    unsupported_fact,
)


def judge_copy(
    copy: AdCopy,
    *,
    product: str | None = None,
    brand: str | None = None,
    likelihood: float | None = None,
    trimmed: Collection[str] = (),
    facts: str | None = None,
    thresholds: QualityThresholds = QUALITY,
) -> list[Violation]:
    """Every copy-quality violation of ``copy`` (critical, rule ``quality:<name>``); [] when it is ad copy.

    ``brand`` may be an id ('acme-snacks') or a display name; ``likelihood`` is the candidate's mean
    token log-probability (None: not judged); ``trimmed`` names the fields the cleaner cut to the
    format's limit; ``facts`` is the brief's text (product, key message, allowed claims), against
    which numbers and claim words are checked (None: not checked). At most one violation per rule
    and field.
    """
    ctx = Context(
        thresholds,
        _stemmed_names(product, brand),
        proper_names(product, brand),
        None if facts is None else unicodedata.normalize("NFKC", facts),
    )
    found: list[Violation] = []
    for field in COPY_FIELDS:
        text = copy.field_text(field)
        if not text.strip():
            continue
        for rule in FIELD_RULES:
            found += rule(field, text, ctx)
    cut = {v.field for v in found if v.rule_id == "quality:truncated"}
    found += [v for v in trimmed_mid_phrase(copy, trimmed) if v.field not in cut]
    found += missing_product(copy, product, brand)
    found += fluency(likelihood, thresholds)
    return found
