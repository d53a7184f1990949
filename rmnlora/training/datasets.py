"""Training data: synthetic SFT rows per adapter kind, feedback → SFT/DPO rows, held-out splits.

Row contracts (TRL's standard formats, so the trainers take them as they are):
- SFT: ``{"prompt": str, "completion": str}`` (loss on the completion only);
- DPO: ``{"prompt", "chosen", "rejected"}``, strings or conversational message lists: the
  feedback export format.

Held-out membership is decided per prompt by a seeded hash, not by position, so the same prompt
lands on the same side however the dataset grows (new feedback never leaks an old held-out
prompt into training), and the split's manifest lets every trainer re-check that.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from rmnlora.schemas.training import (
    BrandFacts,
    ColumnMappingFact,
    FormatSpec,
    RetailerFacts,
    SplitManifest,
)
from rmnlora.storage.models import Feedback
from rmnlora.training.compliance import check_copy

Row = dict[str, Any]


class DatasetError(ValueError):
    """Training data that cannot be used; the message names the file/row and what is wrong."""


class HeldoutLeakError(DatasetError):
    """A training row's prompt is in the recorded held-out set."""


# ---------------------------------------------------------------- prompts (shared with evaluation)


def creative_prompt(retailer: str, fmt: FormatSpec, brand: BrandFacts, product: str, message: str) -> str:
    """The ad-copy instruction every creative row, generation and evaluation uses."""
    needs = ", ".join(fmt.required_elements) or "none"
    return (
        f"Write {fmt.name} ad copy for {retailer}.\n"
        f"Brand: {brand.name} (voice: {brand.voice})\nProduct: {product}\nMessage: {message}\n"
        f"Rules: at most {fmt.max_chars} characters; must include: {needs}.\nCopy:"
    )


def mapping_prompt(fact: ColumnMappingFact) -> str:
    samples = ", ".join(fact.sample_values[:3]) or "n/a"
    return (
        f"Map the {fact.retailer} export column to its RMIS column.\n"
        f"Column: {fact.source_column}\nSample values: {samples}\nRMIS column:"
    )


def rationale_prompt(retailer: str, share: float, roas: float, marginal_roas: float, binding: str) -> str:
    return (
        f"Explain this allocation in one plain sentence.\nRetailer: {retailer}\nShare of budget: "
        f"{share:.0%}\nPredicted ROAS: {roas:.2f}\nMarginal ROAS: {marginal_roas:.2f}\nBinding: {binding}\n"
        "Rationale:"
    )


# ---------------------------------------------------------------- compliant ad copy


_TEMPLATES = (
    "{brand} {product}: {message}, {term}. {cta}.",
    "{brand} {product}: {message}. {cta}.",
    "{brand} {product}, {message}.",
    "{brand} {product}. {cta}.",
    "{brand} {product}.",
)


def compliant_copy(
    fmt: FormatSpec,
    brand: BrandFacts,
    retailer: RetailerFacts,
    product: str,
    message: str,
    rng: random.Random,
) -> str | None:
    """The richest template that passes every rule of ``fmt``; None when none fits."""
    term = rng.choice(brand.approved_terms) if brand.approved_terms else "made simply"
    cta = rng.choice(brand.ctas)
    for template in _TEMPLATES:
        text = template.format(brand=brand.name, product=product, message=message, term=term, cta=cta)
        if check_copy(text, fmt, brand, retailer, product).ok:
            return text
    return None


def _creative_rows(brands: Sequence[BrandFacts], retailers: Sequence[RetailerFacts], seed: int) -> list[Row]:
    rng = random.Random(seed)
    rows: list[Row] = []
    for brand, retailer in itertools.product(brands, retailers):
        for fmt, product, message in itertools.product(retailer.formats, brand.products, brand.messages):
            copy = compliant_copy(fmt, brand, retailer, product, message, rng)
            if copy is not None:
                prompt = creative_prompt(retailer.name, fmt, brand, product, message)
                meta = creative_meta(fmt, brand, retailer, product)
                rows.append({"prompt": prompt, "completion": " " + copy, "meta": meta})
    return rows


def creative_meta(fmt: FormatSpec, brand: BrandFacts, retailer: RetailerFacts, product: str) -> Row:
    """What the evaluation harness needs to re-check a generation for this prompt (kept beside the row)."""
    return {
        "task": "creative",
        "product": product,
        "format": fmt.model_dump(),
        "brand": brand.model_dump(include={"name", "products", "messages", "banned_terms", "ctas"}),
        "retailer": retailer.model_dump(include={"name", "formats", "banned_terms"}),
    }


def brand_sft_rows(brand: BrandFacts, retailers: Sequence[RetailerFacts], seed: int = 0) -> list[Row]:
    """A brand adapter's data: its voice, terms and products across every retailer format."""
    rows = _creative_rows([brand], retailers, seed)
    rows += [
        {
            "prompt": f"Write a line of {brand.name} ad copy in the brand's voice.\nCopy:",
            "completion": " " + s,
        }
        for s in brand.sample_copy
    ]
    return _require(rows, f"brand {brand.name!r}")


def retailer_sft_rows(retailer: RetailerFacts, brands: Sequence[BrandFacts], seed: int = 0) -> list[Row]:
    """A retailer adapter's data: its formats, limits and banned terms across many brands."""
    return _require(_creative_rows(brands, [retailer], seed), f"retailer {retailer.name!r}")


def mapping_sft_rows(facts: Sequence[ColumnMappingFact]) -> list[Row]:
    """Mapping task rows: retailer column (+ sample values) → RMIS column name."""
    return _require(
        [
            {
                "prompt": mapping_prompt(f),
                "completion": " " + f.rmis_column,
                "meta": {"task": "mapping", "target": f.rmis_column},
            }
            for f in facts
        ],
        "mapping facts",
    )


def rationale_sft_rows(retailers: Sequence[str], n: int = 60, seed: int = 0) -> list[Row]:
    """Plan-rationale rows: allocation figures → one plain-language sentence that states them."""
    rng = random.Random(seed)
    rows: list[Row] = []
    for _ in range(n):
        retailer = rng.choice(list(retailers))
        share, roas = rng.uniform(0.05, 0.6), rng.uniform(1.2, 6.0)
        marginal = roas * rng.uniform(0.3, 0.9)
        binding = rng.choice(["none", "max_share", "min_spend", "roas_floor"])
        why = {
            "none": "spend stops where its marginal return meets the other retailers'",
            "max_share": "the per-retailer share cap stops it from taking more",
            "min_spend": "the brief's minimum spend holds it at this level",
            "roas_floor": "the ROAS floor limits how far spend can scale",
        }[binding]
        text = (
            f" {retailer} gets {share:.0%} of the budget at a predicted ROAS of {roas:.2f}; "
            f"the next dollar returns {marginal:.2f}, and {why}."
        )
        rows.append(
            {"prompt": rationale_prompt(retailer, share, roas, marginal, binding), "completion": text}
        )
    return rows


def task_sft_rows(
    task: str,
    *,
    brands: Sequence[BrandFacts] = (),
    retailers: Sequence[RetailerFacts] = (),
    mappings: Sequence[ColumnMappingFact] = (),
    seed: int = 0,
) -> list[Row]:
    """A task adapter's data: ``creative`` (copy across brands/retailers), ``rationale``, ``mapping``."""
    if task == "creative":
        return _require(_creative_rows(brands, retailers, seed), "creative task")
    if task == "rationale":
        return rationale_sft_rows([r.name for r in retailers] or ["Walmart", "Target", "Kroger"], seed=seed)
    if task == "mapping":
        return mapping_sft_rows(mappings or DEFAULT_MAPPINGS)
    raise DatasetError(f"unknown task {task!r}: expected creative, rationale or mapping")


def synthetic_preference_rows(
    brand: BrandFacts, retailers: Sequence[RetailerFacts], seed: int = 0
) -> list[Row]:
    """DPO rows as a reviewer would give them: the compliant copy beats a near-copy that breaks a rule.

    The rejected side differs by one rule break of similar length (a banned term in place of an
    approved one, or a dropped brand name), so length alone does not decide the preference.
    """
    rng = random.Random(seed)
    banned = [*brand.banned_terms, *(t for r in retailers for t in r.banned_terms)]
    if not banned:
        raise DatasetError(f"brand {brand.name!r} and its retailers have no banned terms to build pairs from")
    rows: list[Row] = []
    for retailer in retailers:
        for fmt, product, message in itertools.product(retailer.formats, brand.products, brand.messages):
            chosen = compliant_copy(fmt, brand, retailer, product, message, rng)
            if chosen is None:
                continue
            bad = rng.choice(banned)
            if ", " in chosen and rng.random() < 0.7:
                head, _, tail = chosen.rpartition(", ")
                rejected = f"{head}, {bad}. {tail.split('. ', 1)[-1]}" if ". " in tail else f"{head}, {bad}."
            elif rng.random() < 0.5:
                rejected = chosen.replace(brand.name + " ", "", 1)
            else:
                rejected = chosen.replace(": ", f": {bad}, ", 1) if ": " in chosen else f"{bad} {chosen}"
            if rejected == chosen:
                continue
            prompt = creative_prompt(retailer.name, fmt, brand, product, message)
            meta = creative_meta(fmt, brand, retailer, product)
            rows.append({"prompt": prompt, "chosen": " " + chosen, "rejected": " " + rejected, "meta": meta})
    return _require(rows, f"preference pairs for {brand.name!r}")


def _require(rows: list[Row], what: str) -> list[Row]:
    if not rows:
        raise DatasetError(f"{what}: no training rows could be generated (do any formats fit the copy?)")
    return rows


# ---------------------------------------------------------------- feedback → data


def _good(item: Feedback) -> bool:
    return item.thumbs_up is True or (item.rating is not None and item.rating >= 4)


def _bad(item: Feedback) -> bool:
    return item.thumbs_up is False or (item.rating is not None and item.rating <= 2)


def feedback_to_dpo(items: Iterable[Feedback]) -> list[Row]:
    """Preference pairs as they are; corrections as (correction ≻ response); liked ≻ disliked answers
    to the same prompt. Pairs whose chosen side a reviewer disliked are dropped (ratings filter)."""
    items = list(items)
    disliked = {(i.prompt, i.response) for i in items if i.response and _bad(i)}
    rows: list[Row] = []
    for item in items:
        if item.feedback_type == "preference" and item.chosen and item.rejected:
            rows.append({"prompt": item.prompt, "chosen": item.chosen, "rejected": item.rejected})
        elif (
            item.feedback_type == "correction"
            and item.correction
            and item.response
            and item.correction.strip() != item.response.strip()
        ):
            rows.append({"prompt": item.prompt, "chosen": item.correction, "rejected": item.response})
    liked: dict[str, list[str]] = {}
    for item in items:
        if item.response and _good(item):
            liked.setdefault(item.prompt, []).append(item.response)
    for prompt, bad_response in sorted(disliked):
        for good_response in liked.get(prompt, []):
            rows.append({"prompt": prompt, "chosen": good_response, "rejected": bad_response})
    return [r for r in rows if (r["prompt"], r["chosen"]) not in disliked]


def feedback_to_sft(items: Iterable[Feedback]) -> list[Row]:
    """Corrections and liked responses become SFT rows; anything a reviewer disliked is filtered out."""
    items = list(items)
    disliked = {(i.prompt, i.response) for i in items if i.response and _bad(i)}
    rows: list[Row] = []
    for item in items:
        if item.feedback_type == "correction" and item.correction:
            rows.append({"prompt": item.prompt, "completion": item.correction})
        elif item.response and _good(item):
            rows.append({"prompt": item.prompt, "completion": item.response})
        elif item.feedback_type == "preference" and item.chosen:
            rows.append({"prompt": item.prompt, "completion": item.chosen})
    return [r for r in rows if (r["prompt"], r["completion"]) not in disliked]


def load_feedback(database: Any, tenant_id: str, brand_id: str, task: str | None = None) -> list[Feedback]:
    """The brand's feedback rows, read in a tenant-scoped session (another tenant's rows are invisible)."""
    from sqlmodel import col, select

    with database.get_session(tenant_id=tenant_id) as session:
        query = select(Feedback).where(Feedback.brand_id == brand_id)
        if task is not None:
            query = query.where(Feedback.task == task)
        items = list(session.exec(query.order_by(col(Feedback.id))).all())
        for item in items:
            session.expunge(item)
    return items


# ---------------------------------------------------------------- files


def _check_row(row: Any, keys: tuple[str, ...], where: str) -> Row:
    if not isinstance(row, dict):
        raise DatasetError(f"{where}: expected an object with keys {list(keys)}, got {type(row).__name__}")
    missing = [k for k in keys if k not in row]
    if missing:
        raise DatasetError(f"{where}: missing key(s) {missing} (expected {list(keys)})")
    for key in keys:
        value = row[key]
        ok = isinstance(value, str) and value.strip() != ""
        ok = ok or (
            isinstance(value, list)
            and bool(value)
            and all(isinstance(m, dict) and {"role", "content"} <= m.keys() for m in value)
        )
        if not ok:
            raise DatasetError(f"{where}: {key!r} must be a non-empty string or a list of chat messages")
    checked = {k: row[k] for k in keys}
    if isinstance(row.get("meta"), dict):
        checked["meta"] = row["meta"]
    return checked


SFT_KEYS = ("prompt", "completion")
DPO_KEYS = ("prompt", "chosen", "rejected")


def read_rows(path: Path, keys: tuple[str, ...]) -> list[Row]:
    """Rows from JSON lines, a JSON array, or a JSON object holding them under ``rows``/``pairs``/``data``."""
    if not path.is_file():
        raise DatasetError(f"data file not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        loaded: Any = json.loads(text)
    except json.JSONDecodeError:
        loaded = None
    if isinstance(loaded, dict):
        wrapped = next(
            (loaded[k] for k in ("rows", "pairs", "data") if isinstance(loaded.get(k), list)), None
        )
        loaded = wrapped if wrapped is not None else [loaded]  # a wrapper object, or a one-line JSONL file
    if loaded is None:
        loaded = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    loaded.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise DatasetError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
    if not isinstance(loaded, list) or not loaded:
        raise DatasetError(f"{path}: no rows")
    return [_check_row(row, keys, f"{path} row {i + 1}") for i, row in enumerate(loaded)]


def write_jsonl(path: Path, rows: Iterable[Row]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


# ---------------------------------------------------------------- chat format


def as_chat(rows: Sequence[Row], keys: tuple[str, ...]) -> list[Row]:
    """String rows → TRL conversational rows (user prompt, assistant answers).

    Why: the runtime renders every request with the model's chat template, so adapters must be
    trained on that same rendering; TRL applies the template to conversational rows itself.
    """
    converted: list[Row] = []
    for row in rows:
        out: Row = {}
        for key in keys:
            value = row[key]
            if isinstance(value, str):
                role = "user" if key == "prompt" else "assistant"
                value = [{"role": role, "content": value.strip()}]
            out[key] = value
        converted.append(out)
    return converted


# ---------------------------------------------------------------- held-out splits


def prompt_hash(prompt: Any) -> str:
    text = prompt if isinstance(prompt, str) else json.dumps(prompt, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def _bucket(prompt: Any, seed: int) -> float:
    digest = hashlib.sha256(f"{seed}:{prompt_hash(prompt)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_heldout(
    rows: Sequence[Row], dataset: str, heldout_fraction: float = 0.2, seed: int = 0
) -> tuple[list[Row], list[Row], SplitManifest]:
    """Split by prompt (all rows of one prompt on one side); at least one held-out prompt when possible."""
    if not 0 < heldout_fraction < 1:
        raise DatasetError(f"heldout_fraction must be within (0, 1), got {heldout_fraction}")
    prompts = {prompt_hash(r["prompt"]): r["prompt"] for r in rows}
    held = {h for h, p in prompts.items() if _bucket(p, seed) < heldout_fraction}
    if not held and len(prompts) >= 2:
        held = {min(prompts, key=lambda h: _bucket(prompts[h], seed))}
    if len(held) == len(prompts) and len(prompts) >= 2:
        held.discard(max(held, key=lambda h: _bucket(prompts[h], seed)))
    train = [r for r in rows if prompt_hash(r["prompt"]) not in held]
    heldout = [r for r in rows if prompt_hash(r["prompt"]) in held]
    manifest = SplitManifest(
        dataset=dataset,
        seed=seed,
        heldout_fraction=heldout_fraction,
        train_rows=len(train),
        heldout_rows=len(heldout),
        heldout_prompt_hashes=sorted(held),
    )
    return train, heldout, manifest


def assert_no_leak(train_rows: Iterable[Row], manifest: SplitManifest) -> None:
    """Raise when any training prompt is in the manifest's held-out set."""
    held = set(manifest.heldout_prompt_hashes)
    leaked = [r for r in train_rows if prompt_hash(r["prompt"]) in held]
    if leaked:
        raise HeldoutLeakError(
            f"{len(leaked)} training row(s) use held-out prompts of dataset {manifest.dataset!r}, "
            f"e.g. {str(leaked[0]['prompt'])[:80]!r}"
        )


def save_split(folder: Path, train: Sequence[Row], heldout: Sequence[Row], manifest: SplitManifest) -> Path:
    """``train.jsonl``, ``heldout.jsonl`` and ``manifest.json`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    write_jsonl(folder / "train.jsonl", train)
    write_jsonl(folder / "heldout.jsonl", heldout)
    (folder / "manifest.json").write_text(manifest.model_dump_json(indent=2), encoding="utf-8")
    return folder


def load_manifest(folder: Path) -> SplitManifest | None:
    path = folder / "manifest.json"
    return SplitManifest.model_validate_json(path.read_text(encoding="utf-8")) if path.is_file() else None


# ---------------------------------------------------------------- default facts (examples, benchmark, tests)


DEFAULT_MAPPINGS: tuple[ColumnMappingFact, ...] = tuple(
    ColumnMappingFact(retailer=r, source_column=s, rmis_column=t, sample_values=v)
    for r, s, t, v in [
        ("Walmart", "Impr", "impressions", ["1200", "980"]),
        ("Walmart", "Ad Spend ($)", "spend", ["12.50", "8.00"]),
        ("Walmart", "Item UPC", "gtin14", ["036000291452"]),
        ("Walmart", "Attributed Sales (14d)", "attributed_sales", ["120.00"]),
        ("Walmart", "Day", "event_date", ["2025-03-01"]),
        ("Target", "impression_count", "impressions", ["4410"]),
        ("Target", "cost_usd", "spend", ["44.10"]),
        ("Target", "tcin_gtin", "gtin14", ["00036000291452"]),
        ("Target", "click_count", "clicks", ["12"]),
        ("Target", "report_date", "event_date", ["03/01/2025"]),
        ("Kroger", "IMPRESSIONS", "impressions", ["77"]),
        ("Kroger", "SPEND_AMT", "spend", ["3.10"]),
        ("Kroger", "EAN", "gtin14", ["4006381333931"]),
        ("Kroger", "CLICKS", "clicks", ["2"]),
        ("Kroger", "SALES_ATTR", "attributed_sales", ["40.2"]),
        ("Kroger", "UNITS_SOLD", "units", ["5"]),
        ("Instacart", "ad_group", "placement", ["search"]),
        ("Instacart", "region", "market", ["US-CA"]),
        ("Instacart", "cpc_spend", "spend", ["9.20"]),
        ("Instacart", "date", "event_date", ["2025-03-01"]),
    ]
)

DEFAULT_RETAILERS: tuple[RetailerFacts, ...] = (
    RetailerFacts(
        name="Walmart",
        formats=[
            FormatSpec(
                name="sponsored product headline", max_chars=60, required_elements=["brand", "product"]
            ),
            FormatSpec(name="display banner", max_chars=90, required_elements=["brand", "product", "cta"]),
        ],
        banned_terms=["guaranteed", "cheapest"],
    ),
    RetailerFacts(
        name="Target",
        formats=[
            FormatSpec(name="search ad", max_chars=70, required_elements=["brand", "product", "cta"]),
            FormatSpec(name="onsite display", max_chars=120, required_elements=["brand", "product"]),
        ],
        banned_terms=["best ever", "miracle"],
    ),
)

DEFAULT_BRAND = BrandFacts(
    name="Acme",
    voice="warm, simple, confident",
    products=[
        "Oat Crunch",
        "Maple Granola",
        "Berry Bites",
        "Honey Os",
        "Cocoa Puffs Lite",
        "Fruit Loops Plus",
    ],
    messages=[
        "whole grain goodness",
        "a breakfast kids ask for",
        "less sugar, same crunch",
        "ready in a minute",
    ],
    approved_terms=["simply made", "real oats", "family favorite"],
    banned_terms=["cure", "number one", "healthiest"],
    sample_copy=["Acme Oat Crunch: real oats, simply made. Shop now.", "Acme Honey Os, a family favorite."],
)
