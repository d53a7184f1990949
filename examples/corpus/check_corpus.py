#!/usr/bin/env python3
"""Check the hand-written ad-copy corpus in this folder.

Standalone: needs only PyYAML and the standard library. Run it from anywhere:

    python3 examples/corpus/check_corpus.py            # problems, then counts
    python3 examples/corpus/check_corpus.py --quiet    # problems and the summary line only

Exit status 0 when there are no problems, 1 otherwise. Warnings (style notes, e.g. a headline
opening used often) are printed but do not fail the run.

What it checks, per copy: required fields; product_id exists and the copy file is the product's
category; key_message is one of the product's key messages; retailer format limits (headline,
body, CTA length; CTA from the allowed list; body empty where the format has none, non-empty where
it is required; no emoji; no '!' in headlines where the format forbids it); the product or brand
name appears in the headline or body; banned phrases (health, cure, ranking, guarantee,
superlative, price and promotion, retailer names, urgency, off-voice words, echoed
instructions); claim terms (gluten-free, dairy-free, zero sugar...) only where the product's
claims hold them; numbers only where the product's claims hold them; the repository's policy
packs under examples/policies when present. Corpus-wide: no duplicate ids, no duplicate
(headline, body) pair or headline; every product covered in all six formats (at least two copies
each) and Acme Snacks products at least 25 copies; at least 600 copies and 8 categories; split.yaml
names existing categories and products, keeps Acme Crunch granola bars in train and holds out one
other Acme product.
"""

from __future__ import annotations

import argparse
import collections
import re
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
POLICY_DIR = HERE.parent / "policies"
FORMAT_DIR = HERE.parent / "formats"

FORMATS: dict[tuple[str, str], dict] = {
    ("walmart", "sponsored_brands"): dict(
        headline_max=45, body_max=90, cta_max=15,
        ctas=["Shop now", "Add to cart", "Learn more", "Shop the brand"], body_required=False, no_bang=True),
    ("walmart", "display"): dict(
        headline_max=30, body_max=70, cta_max=15,
        ctas=["Shop now", "Add to cart", "Learn more"], body_required=True, no_bang=False),
    ("amazon", "sponsored_brands"): dict(
        headline_max=50, body_max=0, cta_max=15,
        ctas=["Shop now", "Learn more"], body_required=False, no_bang=True),
    ("amazon", "sponsored_display"): dict(
        headline_max=50, body_max=150, cta_max=15,
        ctas=["Shop now", "Learn more", "See more"], body_required=False, no_bang=False),
    ("kroger", "sponsored_product"): dict(
        headline_max=40, body_max=100, cta_max=20,
        ctas=["Add to cart", "Shop now", "Clip coupon", "Learn more"], body_required=False, no_bang=False),
    ("kroger", "digital_display"): dict(
        headline_max=35, body_max=80, cta_max=15,
        ctas=["Shop now", "Add to cart", "Learn more"], body_required=True, no_bang=True),
}

FIELDS = ("id", "product_id", "retailer", "ad_format", "key_message", "tone", "headline", "body", "cta")
EMOJI = re.compile("[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\uFE0F\u200D]")

# (label, pattern): case-insensitive, searched in headline, body and cta.
BANNED: list[tuple[str, str]] = [
    ("ranking", r"(?<!\w)#\s?1\b|\bnumber\s+one\b|\bno\.\s?1\b|\bbest[- ]?sell\w*"),
    ("guarantee", r"\bguarantee\w*|\brisk[- ]free\b"),
    ("cure", r"\bcur(?:e|es|ed|ing)\b|\bheal(?:s|ing)?\b|\bremed\w*"),
    ("treats/prevents", r"\b(?:prevents?|fights?|reverses?|protects?\s+against|wards?\s+off)\b"
                        r"|\btreats?\s+(?:\w+\s+){0,2}(?:diseases?|illness\w*|infections?|conditions?|symptoms?"
                        r"|pain|allerg\w*|acne|cavit\w*|plaque|gingivitis|inflammation|anxiety)\b"),
    ("immunity", r"\bimmun\w*"),
    ("cholesterol/blood", r"\bcholesterol\b|\bblood\s+(?:pressure|sugar)\b"),
    ("weight", r"\bweight[- ]loss\b|\blose\s+weight\b|\bburns?\s+(?:belly\s+)?fat\b|\bfat[- ]burning\b|\bslim\w*"),
    ("detox", r"\bdetox\w*|\bcleanse\w*"),
    ("endorsement", r"\bclinically\b|\b(?:doctor|dentist|physician|nutritionist|vet(?:erinarian)?)s?[- ]"
                    r"(?:recommended|approved)\b|\bscientifically\b|\bfda\b|\bproven\b"),
    ("superlative", r"\bbest\b|\bhealthiest\b|\btastiest\b|\bworld'?s\b|\bamerica'?s\b|\bfinest\b"
                    r"|\bultimate\b|\bunbeatable\b|\bperfect\b"),
    ("health framing", r"\bhealthy\b|\bhealth\w*|\bnutritious\b|\bgood for you\b|\bsuperfood\b|\bguilt[- ]free\b"
                       r"|\bheart[- ]healthy\b|\bimmune\b|\bdigest\w*|\bgut\b|\benergy\b|\bfuel\b|\brefuel\b"
                       r"|\bhydrat\w*|\bmetabol\w*|\bwellness\b|\bantioxidant\w*|\bvitamin\w*|\bprobiotic\w*"),
    ("cleaning efficacy", r"\bgerms?\b|\bbacteria\w*|\bdisinfect\w*|\bsanitiz\w*|\bnon[- ]toxic\b|\beco[- ]friendly\b"
                          r"|\bkills?\b|\bvirus\w*|\bchemical[- ]free\b"),
    ("price/promo", r"%|\$|\bsave\b|\bsavings?\b|\bdeals?\b|\bsale\b|\bdiscount\w*|\bcoupons?\b|\bbogo\b"
                    r"|\bbuy one\b|\bfree shipping\b|\b\d+\s*(?:cents?|dollars?)\b|\b\d+\s*off\b"
                    r"|\boff\s+(?:your|the|any)\s+(?:order|purchase|price|total|regular)\b"
                    r"|\brollback\w*|\bclearance\b|\bbargain\w*|\blow prices?\b"),
    ("urgency", r"\bact now\b|\bhurry\b|\blast chance\b|\bdon'?t miss\b|\blimited[- ]time\b|\bwhile supplies\b"
                r"|\btoday only\b|\bends soon\b"),
    ("retailer names", r"\b(?:walmart|amazon|kroger|target|costco|aldi|safeway|publix|whole foods|instacart|ebay"
                       r"|sam'?s club|trader joe'?s|prime|fuel points)\b"),
    ("competitor brands", r"\b(?:nature valley|kind bars?|clif|quaker|kellogg'?s|rxbar|larabar|general mills"
                          r"|cheerios|starbucks|keurig|nespresso|folgers|oatly|silk|lacroix|la croix|perrier"
                          r"|purina|pedigree|friskies|lysol|clorox|tide|dawn|ragu|prego|rao'?s|lay'?s|doritos"
                          r"|tostitos|stouffer'?s|lean cuisine|banquet|colgate|crest)\b"),
    ("off-voice", r"\bcheap\w*|\bjunk\s+food\b|\bdiet\b|\bcheat\s+meal\b"),
    ("echoed instructions", r"\bhere(?:'s| is) (?:a|an|the|your) (?:revised|rewritten|new|version|ad|copy)"
                            r"|\brevised version\b|\bi'?m ready\b|\bassist you\b|\bas an ai\b|\blanguage model\b"
                            r"|\bheadline\s*:|\bbody\s*:|\bcta\s*:|\bad copy\b|\bcopywrit\w*|\bkey message\b"
                            r"|\bcall to action\b|\bcharacters?\b|\btone\s*:|\bsure[,!]|\bcertainly[,!]"),
    ("placeholder", r"\[[^\]]*\]|\{[^}]*\}|<[^>]*>|\bTBD\b|\blorem\b|\bxxx\b"),
    ("contact/url", r"https?://|\bwww\.|\.com\b|@\w|\b\d{3}[\s.-]\d{3}[\s.-]\d{4}\b"),
    ("profanity", r"\b(?:damn|hell|crap|sucks?|wtf|omg)\b"),
    ("shouting", r"!{2,}|\?{2,}|(?-i:\b[A-Z]{4,}\b)"),
]

# Claim terms a copy may use only when the product's claims contain the trigger words given.
CLAIM_TERMS: list[tuple[str, str]] = [
    (r"\bgluten[- ]free\b", "gluten-free"),
    (r"\bgrain[- ]free\b", "grain-free"),
    (r"\bsugar[- ]free\b|\bno sugar\b|\bzero sugar\b|\blow[- ]sugar\b|\bless sugar\b|\bsugar\b", "sugar"),
    (r"\bno added sugar\b|\bnothing added\b", "no added sugar"),
    (r"\bunsweetened\b", "unsweetened"),
    (r"\bdairy[- ]free\b|\bnon[- ]dairy\b|\blactose[- ]free\b", "dairy-free"),
    (r"\bvegan\b|\bplant[- ]based\b", "vegan"),
    (r"\bvegetarian\b|\bmeatless\b|\bmeat[- ]free\b", "vegetarian"),
    (r"\borganic\b", "organic"),
    (r"\bnon[- ]gmo\b", "non-gmo"),
    (r"\bketo\b|\blow[- ]carb\b|\bpaleo\b", "keto"),
    (r"\bprotein\b", "protein"),
    (r"\bfiber\b", "fiber"),
    (r"\bcalories?\b|\bcalorie[- ]free\b|\blow[- ]cal\w*", "calorie"),
    (r"\blow[- ]fat\b|\bfat[- ]free\b|\breduced[- ]fat\b", "low fat"),
    (r"\blow[- ]sodium\b|\bsodium\b", "sodium"),
    (r"\bcaffeine\w*|\bdecaf\w*", "caffeine"),
    (r"\bfair trade\b", "fair trade"),
    (r"\bkosher\b|\bhalal\b", "kosher"),
    (r"\bpreservatives?\b", "preservative"),
    (r"\bartificial\b", "artificial"),
    (r"\bwhole[- ]grains?\b", "whole grain"),
    (r"\bnut[- ]free\b|\bpeanut[- ]free\b|\ballergen\w*|\bhypoallergenic\b", "allergen"),
    (r"\bfragrance[- ]free\b|\bunscented\b", "fragrance-free"),
    (r"\bbiodegradable\b|\brecyclable\b|\bcompostable\b|\bsustainabl\w*", "recyclable"),
    (r"\bgrass[- ]fed\b|\bcage[- ]free\b|\bfree[- ]range\b|\bwild[- ]caught\b", "grass-fed"),
    (r"\bfirst ingredient\b", "first ingredient"),
    (r"\bsmall[- ]batch\w*|\bsmall batches\b", "small-batch"),
    (r"\bair[- ]popped\b", "air-popped"),
    (r"\bgreases?\b|\bgreasy\b", "grease"),
    (r"\bconcentrated\b", "concentrated"),
    (r"\bcane sugar\b", "cane sugar"),
    (r"\bmade in (?:the )?usa\b|\bamerican[- ]made\b", "made in usa"),
]

# Acme Snacks may never say these, whatever a claim list holds.
ACME_NEVER = [r"\bgluten[- ]free\b", r"\bsugar[- ]free\b", r"\bno\s+(?:added\s+)?sugar\b", r"\bzero\s+sugar\b",
              r"\bnut[- ]free\b", r"\bketo\b", r"\bhigh[- ]protein\b", r"\bprotein[- ]packed\b",
              r"\b(?:packed|loaded)\s+with\s+protein\b", r"\bdiet\b", r"\bcheap\w*", r"\bjunk\s+food\b",
              r"\bguilt[- ]free\b", r"\b\d+\s?g\b"]

NUMBER_WORDS = r"\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|dozen)\b"


def load_yaml(path: Path):
    with path.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def brand_token(brand: str) -> str:
    """'Nonna Rosa's' -> 'Nonna', 'Ember & Oak' -> 'Ember', 'Acme Snacks' -> 'Acme'."""
    return re.sub(r"'s$", "", brand.split()[0])


def format_limits_from_repo() -> list[str]:
    """Compare the embedded limits with examples/formats/*.yaml (when present); differences are problems."""
    out: list[str] = []
    if not FORMAT_DIR.is_dir():
        return out
    for path in sorted(FORMAT_DIR.glob("*.yaml")):
        for spec in load_yaml(path) or []:
            key = (spec["retailer"], spec["name"])
            mine = FORMATS.get(key)
            if mine is None:
                continue
            for field in ("headline_max", "body_max", "cta_max"):
                if spec.get(field) != mine[field]:
                    out.append(f"format {key}: {field} is {spec.get(field)} in {path.name}, {mine[field]} here")
            if list(spec.get("allowed_ctas", [])) != mine["ctas"]:
                out.append(f"format {key}: allowed_ctas differ from {path.name}")
            if ("body" in spec.get("required", [])) != mine["body_required"]:
                out.append(f"format {key}: body requirement differs from {path.name}")
            if ("exclamation" in (spec.get("headline_forbidden") or {})) != mine["no_bang"]:
                out.append(f"format {key}: headline exclamation rule differs from {path.name}")
    return out


def policy_rules(retailer: str, brand_id: str) -> list[dict]:
    """Pattern and triggered-disclosure rules of the repository's packs that apply to this copy."""
    rules: list[dict] = []
    paths = [POLICY_DIR / "baseline.yaml", POLICY_DIR / "retailers" / f"{retailer}.yaml",
             POLICY_DIR / "brands" / f"{brand_id}.yaml"]
    for path in paths:
        if path.is_file():
            rules += (load_yaml(path) or {}).get("rules", [])
    return rules


_POLICY_CACHE: dict[tuple[str, str], list[dict]] = {}


def policy_problems(copy: dict, brand_id: str) -> list[str]:
    key = (copy["retailer"], brand_id)
    if key not in _POLICY_CACHE:
        _POLICY_CACHE[key] = policy_rules(*key)
    out: list[str] = []
    fields = {"headline": copy["headline"], "body": copy["body"], "cta": copy["cta"], "disclosure": ""}
    whole = "\n".join(fields.values())
    for rule in _POLICY_CACHE[key]:
        kind = rule.get("kind")
        if kind in ("required_disclosure", "required_element"):
            triggers = rule.get("trigger_patterns") or []
            if triggers and any(re.search(p, whole, re.I) for p in triggers):
                out.append(f"policy {rule['rule_id']}: triggers a disclosure the copy cannot carry")
            continue
        if kind == "length_limit":
            continue
        names = [rule["field"]] if rule.get("field") else list(fields)
        for name in names:
            text = fields[name]
            allowed = [m.span() for p in rule.get("allow_patterns", []) for m in re.finditer(p, text, re.I)]
            for pattern in rule.get("patterns", []):
                for m in re.finditer(pattern, text, re.I):
                    if m.start() == m.end() or any(a <= m.start() and m.end() <= b for a, b in allowed):
                        continue
                    out.append(f"policy {rule['rule_id']} ({rule.get('severity')}): {name} has {m.group(0)!r}")
    return out


def check(quiet: bool = False) -> int:
    problems: list[str] = []
    warnings: list[str] = []
    problems += format_limits_from_repo()

    products_doc = load_yaml(HERE / "products.yaml")
    products = {p["id"]: p for p in products_doc["products"]}
    if len(products) != len(products_doc["products"]):
        problems.append("products.yaml: duplicate product ids")
    kebab = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
    for pid, p in products.items():
        for field in ("id", "brand_id", "brand", "name", "category", "key_messages", "tone", "claims"):
            if not p.get(field):
                problems.append(f"product {pid}: missing {field}")
        if not kebab.match(pid) or not kebab.match(p.get("brand_id", "")):
            problems.append(f"product {pid}: id and brand_id must be kebab-case")
        if not 2 <= len(p.get("key_messages", [])) <= 4:
            problems.append(f"product {pid}: needs 2-4 key messages")
        if not 1 <= len(p.get("claims", [])) <= 3:
            problems.append(f"product {pid}: needs 1-3 claims")
        if not p["name"].startswith(brand_token(p["brand"])):
            warnings.append(f"product {pid}: name does not start with the brand token")
    categories = sorted({p["category"] for p in products.values()})

    brand_file = HERE / "brands" / "acme-snacks.yaml"
    if not brand_file.is_file():
        problems.append("brands/acme-snacks.yaml is missing")
    else:
        brand_doc = load_yaml(brand_file)
        for field in ("voice", "words_to_use", "words_to_avoid", "facts", "examples"):
            if not brand_doc.get(field):
                problems.append(f"brands/acme-snacks.yaml: missing {field}")
    if "acme-crunch-granola-bars" not in products:
        problems.append("products.yaml: acme-crunch-granola-bars is missing")

    copies: list[dict] = []
    for path in sorted((HERE / "copies").glob("*.yaml")):
        doc = load_yaml(path)
        items = doc.get("copies", []) if isinstance(doc, dict) else []
        file_category = doc.get("category") if isinstance(doc, dict) else None
        if file_category != path.stem:
            problems.append(f"{path.name}: category key {file_category!r} does not match the file name")
        for item in items:
            item["_file"] = path.name
            item["_category"] = file_category
            copies.append(item)

    seen_ids: set[str] = set()
    seen_pairs: dict[tuple[str, str], str] = {}
    seen_headlines: dict[str, str] = {}
    coverage: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    openings: collections.Counter = collections.Counter()
    per_product_openings: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)

    for c in copies:
        cid = c.get("id", "?")
        where = f"{c['_file']}:{cid}"
        missing = [f for f in FIELDS if f not in c or c[f] is None]
        if missing:
            problems.append(f"{where}: missing {', '.join(missing)}")
            continue
        bad_types = [f for f in FIELDS if not isinstance(c[f], str)]
        if bad_types:
            problems.append(f"{where}: not strings: {', '.join(bad_types)}")
            continue
        if cid in seen_ids:
            problems.append(f"{where}: duplicate id")
        seen_ids.add(cid)
        product = products.get(c["product_id"])
        if product is None:
            problems.append(f"{where}: unknown product_id {c['product_id']!r}")
            continue
        if product["category"] != c["_category"]:
            problems.append(f"{where}: product is {product['category']}, file is {c['_category']}")
        if c["key_message"] not in product["key_messages"]:
            problems.append(f"{where}: key_message is not one of the product's key messages")
        if not c["tone"].strip():
            problems.append(f"{where}: empty tone")
        spec = FORMATS.get((c["retailer"], c["ad_format"]))
        if spec is None:
            problems.append(f"{where}: unknown format {c['retailer']}/{c['ad_format']}")
            continue
        coverage[c["product_id"]][(c["retailer"], c["ad_format"])] += 1
        h, b, cta = c["headline"], c["body"], c["cta"]

        # format limits
        if not h.strip():
            problems.append(f"{where}: empty headline")
        if len(h) > spec["headline_max"]:
            problems.append(f"{where}: headline {len(h)} > {spec['headline_max']}: {h!r}")
        if len(b) > spec["body_max"]:
            problems.append(f"{where}: body {len(b)} > {spec['body_max']}: {b!r}")
        if len(cta) > spec["cta_max"]:
            problems.append(f"{where}: cta {len(cta)} > {spec['cta_max']}")
        if cta not in spec["ctas"]:
            problems.append(f"{where}: cta {cta!r} not in {spec['ctas']}")
        if spec["body_max"] == 0 and b != "":
            problems.append(f"{where}: body must be empty for {c['retailer']}/{c['ad_format']}")
        if spec["body_required"] and not b.strip():
            problems.append(f"{where}: body is required")
        if spec["no_bang"] and "!" in h:
            problems.append(f"{where}: '!' in headline is not allowed in this format")
        for name, text in (("headline", h), ("body", b), ("cta", cta)):
            if EMOJI.search(text):
                problems.append(f"{where}: emoji in {name}")
            if text != text.strip() or "  " in text:
                problems.append(f"{where}: stray whitespace in {name}")
            if "\n" in text:
                problems.append(f"{where}: line break in {name}")
        if b and b[-1] not in ".!?":
            warnings.append(f"{where}: body does not end with punctuation: {b!r}")
        if h.endswith("."):
            warnings.append(f"{where}: headline ends with a full stop")

        # name present
        text = f"{h}\n{b}"
        token = brand_token(product["brand"])
        if not re.search(rf"(?<!\w){re.escape(token)}", text):
            problems.append(f"{where}: neither the brand nor the product is named ({token!r})")

        # banned phrases
        whole = f"{h}\n{b}\n{cta}"
        for label, pattern in BANNED:
            for m in re.finditer(pattern, whole, re.I):
                if label == "price/promo" and m.group(0).lower() == "coupon" and cta == "Clip coupon":
                    continue
                problems.append(f"{where}: banned ({label}): {m.group(0)!r}")
        if cta == "Clip coupon":
            problems.append(f"{where}: 'Clip coupon' promises an offer the corpus does not make")

        # claims
        claims_text = "; ".join(product["claims"]).lower()
        for pattern, label in CLAIM_TERMS:
            m = re.search(pattern, text, re.I)
            if m and not re.search(pattern, claims_text, re.I):
                problems.append(f"{where}: claim term {m.group(0)!r} ({label}) is not in the product's claims")
        for m in re.finditer(r"\bno artificial (\w+)(?:,? or (\w+))?", text, re.I):
            for word in filter(None, m.groups()):
                if not re.search(rf"\bno artificial\b[^,;]*\b{word.lower()}", claims_text):
                    problems.append(f"{where}: 'no artificial {word}' is not in the product's claims")
        for m in re.finditer(r"\d+", text):
            if not re.search(rf"(?<!\d){m.group(0)}(?!\d)", claims_text):
                problems.append(f"{where}: number {m.group(0)!r} is not in the product's claims")
        for m in re.finditer(NUMBER_WORDS, text, re.I):
            word = m.group(0).lower()
            if word == "one":
                continue
            if word not in claims_text and word not in product["name"].lower():
                warnings.append(f"{where}: number word {word!r} (check it is not a product claim)")
        if product["brand_id"] == "acme-snacks":
            for pattern in ACME_NEVER:
                m = re.search(pattern, whole, re.I)
                if m:
                    problems.append(f"{where}: Acme may never say {m.group(0)!r}")

        # the repository's policy packs
        problems += [f"{where}: {p}" for p in policy_problems(c, product["brand_id"])]

        # duplicates
        pair = (h.strip().lower(), b.strip().lower())
        if pair in seen_pairs:
            problems.append(f"{where}: duplicate (headline, body) of {seen_pairs[pair]}")
        seen_pairs.setdefault(pair, cid)
        if h.lower() in seen_headlines:
            problems.append(f"{where}: duplicate headline of {seen_headlines[h.lower()]}: {h!r}")
        seen_headlines.setdefault(h.lower(), cid)
        opening = " ".join(re.findall(r"[\w'&]+", h.lower())[:2])
        openings[opening] += 1
        per_product_openings[c["product_id"]][opening] += 1
        if b:
            body_opening = " ".join(re.findall(r"[\w'&]+", b.lower())[:2])
            per_product_openings[c["product_id"]]["body: " + body_opening] += 1

    # coverage
    for pid, p in products.items():
        cov = coverage.get(pid, collections.Counter())
        for fmt in FORMATS:
            if cov[fmt] < 2:
                problems.append(f"coverage: {pid} has {cov[fmt]} copies for {fmt[0]}/{fmt[1]} (needs 2)")
        total = sum(cov.values())
        if p["brand_id"] == "acme-snacks" and total < 25:
            problems.append(f"coverage: Acme product {pid} has {total} copies (needs 25)")
        for opening, n in per_product_openings[pid].items():
            if n > max(3, total // 5):
                warnings.append(f"variety: {pid} opens {n} lines with {opening!r}")
    if len(copies) < 600:
        problems.append(f"corpus: {len(copies)} copies (needs 600)")
    if len(categories) < 8:
        problems.append(f"corpus: {len(categories)} categories (needs 8)")
    if len(products) < 40:
        problems.append(f"corpus: {len(products)} products (needs 40)")
    for opening, n in openings.most_common():
        if n > max(8, len(copies) // 60):
            warnings.append(f"variety: {n} headlines open with {opening!r}")

    # split
    split = load_yaml(HERE / "split.yaml") or {}
    held_cats = list(split.get("heldout_categories") or [])
    held_prods = list(split.get("heldout_products") or [])
    for cat in held_cats:
        if cat not in categories:
            problems.append(f"split: unknown category {cat!r}")
    for pid in held_prods:
        if pid not in products:
            problems.append(f"split: unknown product {pid!r}")
        elif products[pid]["category"] in held_cats:
            problems.append(f"split: {pid} is already held out with its category")
    if len(held_cats) != 1:
        problems.append(f"split: expected exactly one held-out category, got {len(held_cats)}")
    if "acme-crunch-granola-bars" in held_prods or products.get("acme-crunch-granola-bars", {}).get("category") in held_cats:
        problems.append("split: acme-crunch-granola-bars must stay in train")
    acme_held = [pid for pid in held_prods if products.get(pid, {}).get("brand_id") == "acme-snacks"]
    if len(acme_held) != 1:
        problems.append(f"split: expected one held-out Acme product, got {acme_held}")

    def split_of(pid: str) -> str:
        return "heldout" if pid in held_prods or products[pid]["category"] in held_cats else "train"

    others = [pid for pid, p in products.items() if p["category"] not in held_cats]
    share = len([pid for pid in others if pid in held_prods]) / max(1, len(others))
    if not 0.15 <= share <= 0.25:
        problems.append(f"split: {share:.0%} of products outside held-out categories are held out (about 1 in 5)")
    for cat in categories:
        if cat in held_cats:
            continue
        in_train = [pid for pid in others if products[pid]["category"] == cat and pid not in held_prods]
        if not in_train:
            problems.append(f"split: category {cat} has no product left in train")

    # report
    for line in problems:
        print("PROBLEM", line)
    for line in warnings:
        print("WARNING", line)
    valid = [c for c in copies if c.get("product_id") in products]
    if not quiet:
        by_cat = collections.Counter(products[c["product_id"]]["category"] for c in valid)
        by_fmt = collections.Counter(f"{c['retailer']}/{c['ad_format']}" for c in valid)
        by_split = collections.Counter(split_of(c["product_id"]) for c in valid)
        prod_split = collections.Counter(split_of(pid) for pid in products)
        print("\ncopies per category:")
        for cat in categories:
            n_prod = sum(1 for p in products.values() if p["category"] == cat)
            tag = "  (held out)" if cat in held_cats else ""
            print(f"  {cat:22s} {by_cat[cat]:4d} copies, {n_prod} products{tag}")
        print("copies per format:")
        for fmt in FORMATS:
            print(f"  {fmt[0] + '/' + fmt[1]:28s} {by_fmt[fmt[0] + '/' + fmt[1]]:4d}")
        print("split:")
        for name in ("train", "heldout"):
            print(f"  {name:8s} {by_split[name]:4d} copies, {prod_split[name]} products")
        acme = collections.Counter(c["product_id"] for c in valid if products[c["product_id"]]["brand_id"] == "acme-snacks")
        print("Acme Snacks copies:")
        for pid, n in sorted(acme.items()):
            print(f"  {pid:34s} {n:4d}  ({split_of(pid)})")
    print(f"\n{len(copies)} copies, {len(products)} products, {len(categories)} categories: "
          f"{len(problems)} problems, {len(warnings)} warnings")
    return 1 if problems else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quiet", action="store_true", help="print problems and the summary only")
    args = parser.parse_args()
    return check(quiet=args.quiet)


if __name__ == "__main__":
    sys.exit(main())
