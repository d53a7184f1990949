"""Creative training and evaluation data from the copy corpus: one prompt, one checker.

- Prompt: every row's prompt is the creative agent's own request for the corpus brief
  (:meth:`rmnlora.training.corpus.Corpus.sft_rows`, built with ``agents/creative/prompts.py``).
- Checker: a target or a generation is judged as the agent judges a model answer: parsed and
  cleaned by ``agents/creative/parsing``, then governance's ``review_copy``: the planner's packs
  (baseline, retailer, brand when it has a pack) plus ``format_pack`` of the row's retailer format,
  and the copy-quality judge with the brief's facts. Rows carry ``retailer``, ``ad_format``,
  ``brand``, ``product_name`` and ``facts`` in ``meta`` for that.
- Split: the corpus's own (whole products and a whole category held out), never a prompt hash.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from rmnlora.agents.creative.formats import load_format_spec
from rmnlora.agents.creative.parsing import clean_copy, parse_copy, trimmed_fields
from rmnlora.agents.creative.prompts import brief_facts, render_answer
from rmnlora.agents.governance import available_packs, check_copy, format_pack, load_packs, review_copy
from rmnlora.agents.governance.quality import KIND as COPY_QUALITY
from rmnlora.schemas.creative import FormatSpec
from rmnlora.schemas.governance import AdCopy
from rmnlora.schemas.rmis import PolicyPack
from rmnlora.training.corpus import Corpus, Example, Split
from rmnlora.training.datasets import DatasetError, Row

CREATIVE_TASK = "creative"
CORPUS_SPLIT = "corpus split.yaml: whole products and categories held out"
_META_KEYS = ("retailer", "ad_format", "product_name")


# ---------------------------------------------------------------- one checker


@lru_cache(maxsize=64)
def _spec(retailer: str, ad_format: str) -> FormatSpec:
    return load_format_spec(retailer, ad_format)


@lru_cache(maxsize=64)
def _policy(retailer: str, brand: str | None) -> tuple[PolicyPack, ...]:
    # The corpus's fictional brands have no pack of their own; they get baseline + retailer.
    with_pack = brand if brand and brand in available_packs()["brands"] else None
    return tuple(load_packs(retailer, with_pack))


def is_creative_case(meta: Any) -> bool:
    """Whether a row's ``meta`` names what the checker needs (retailer, format, product)."""
    return isinstance(meta, dict) and all(isinstance(meta.get(k), str) and meta[k] for k in _META_KEYS)


def packs_for(meta: Row) -> list[PolicyPack]:
    """The packs the creative agent checks this brief's candidates against."""
    spec = _spec(meta["retailer"], meta["ad_format"])
    return [*_policy(meta["retailer"], meta.get("brand")), format_pack(spec, product=meta["product_name"])]


@dataclass(frozen=True)
class Verdict:
    """The creative agent's verdict on one model answer, after its parser and cleaner.

    ``passed``: usable (the policy packs and the copy-quality judge both pass it, as the create
    gate counts it); ``policy_passed``: no critical policy or format finding, the judge aside.
    """

    passed: bool
    copy: AdCopy
    reasons: list[str] = field(default_factory=list)
    cleaning: list[str] = field(default_factory=list)
    policy_passed: bool = True


def judge_answer(text: str, meta: Row) -> Verdict:
    """Parse and clean ``text`` as the agent does, then ``review_copy`` it for the row's format."""
    spec = _spec(meta["retailer"], meta["ad_format"])
    copy, cleaning = clean_copy(parse_copy(text), spec)
    result = review_copy(
        copy,
        packs_for(meta),
        product=meta["product_name"],
        brand=meta.get("brand_name") or meta.get("brand"),
        trimmed=trimmed_fields(cleaning),
        facts=meta.get("facts"),
    )
    reasons = [f"{v.field or 'copy'}: {v.message}" for v in result.critical]
    policy = [v for v in result.critical if v.kind != COPY_QUALITY]
    return Verdict(
        passed=result.passed, copy=copy, reasons=reasons, cleaning=cleaning, policy_passed=not policy
    )


# ---------------------------------------------------------------- SFT rows


def creative_meta(example: Example) -> Row:
    """What the checker needs to judge an answer to this brief as the creative agent would."""
    return {
        "task": CREATIVE_TASK,
        "retailer": example.copy.retailer,
        "ad_format": example.copy.ad_format,
        "brand": example.product.brand_id,
        "brand_name": example.product.brand,
        "product_name": example.product.name,
        "facts": brief_facts(example.request, _spec(example.copy.retailer, example.copy.ad_format)),
    }


def sft_rows(corpus: Corpus, examples: Sequence[Example]) -> list[Row]:
    """The corpus rows (agent prompt → rendered copy) with what the checker needs in ``meta``."""
    examples = list(examples)
    rows = corpus.sft_rows(examples)
    for example, row in zip(examples, rows, strict=True):
        row["meta"] = {**row["meta"], **creative_meta(example)}
    return rows


def select(corpus: Corpus, kind: str, name: str, split: Split) -> list[Example]:
    """The corpus briefs an adapter of ``kind``/``name`` learns from (or is evaluated on)."""
    if kind == "brand":
        return corpus.select(split, brand=name)
    if kind == "retailer":
        return corpus.select(split, retailer=name.strip().lower())
    if kind == "task":
        if name != CREATIVE_TASK:
            raise DatasetError(f"the copy corpus trains the {CREATIVE_TASK!r} task only, not {name!r}")
        return corpus.select(split)
    raise DatasetError(f"unknown adapter kind {kind!r}: expected retailer, brand or task")


def sft_split(corpus: Corpus, kind: str, name: str) -> tuple[list[Row], list[Row]]:
    """``(train, heldout)`` rows for one adapter, split as the corpus splits (by product/category)."""
    train = select(corpus, kind, name, "train")
    if not train:
        names = {
            e.product.brand_id
            if kind == "brand"
            else e.copy.retailer
            if kind == "retailer"
            else CREATIVE_TASK
            for e in corpus.select("train")
        }
        raise DatasetError(
            f"the corpus at {corpus.root} has no training copies for {kind} {name!r} "
            f"(known: {', '.join(sorted(names)) or 'none'})"
        )
    return sft_rows(corpus, train), sft_rows(corpus, select(corpus, kind, name, "heldout"))


# ---------------------------------------------------------------- synthetic preference pairs


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


_CLAIMS = ("The #1 pick in the aisle.", "Guaranteed to satisfy.", "Clinically proven.")


def _with_claim(ad: AdCopy, example: Example, spec: FormatSpec, rng: random.Random) -> AdCopy:
    """A claim the agent's prompt forbids and governance refuses ('#1', a guarantee, 'clinically proven').

    With a body, its last sentence becomes the claim (so the copy may get shorter, not only longer).
    """
    claim = rng.choice(_CLAIMS)
    if ad.body:
        first = ad.body.split(". ")[0].rstrip(".")
        return ad.model_copy(update={"body": f"{first}. {claim}"})
    if claim.startswith("The #1"):
        return ad.model_copy(update={"headline": f"#1 {ad.headline}"})
    return ad.model_copy(update={"headline": f"{ad.headline.rstrip('.!')}, {_lower_first(claim)}"})


def _over_long(ad: AdCopy, example: Example, spec: FormatSpec, rng: random.Random) -> AdCopy:
    """The body crammed into the headline, past the format's limit (the retailer rejects it)."""
    headline = f"{ad.headline.rstrip('.!')}: {ad.body or example.copy.key_message}"
    if len(headline) <= spec.headline_max:
        headline = f"{headline.rstrip('.')}, {example.product.name}"
    return ad.model_copy(update={"headline": headline})


def _off_format(ad: AdCopy, example: Example, spec: FormatSpec, rng: random.Random) -> AdCopy:
    """Not the format's shape: body text where the format has none, or no call to action."""
    if spec.body_max == 0:
        return ad.model_copy(update={"body": example.copy.key_message})
    return ad.model_copy(update={"cta": ""})


Breaker = Callable[[AdCopy, Example, FormatSpec, random.Random], AdCopy]
BREAKERS: tuple[Breaker, ...] = (_with_claim, _over_long, _off_format)


def preference_rows(corpus: Corpus, examples: Sequence[Example], seed: int = 0) -> list[Row]:
    """DPO pairs for demos and tests: the corpus copy ≻ a plausibly bad variant of it, same prompt.

    The rejected side breaks one rule a reviewer would refuse: a forbidden claim, an over-long
    headline, or an off-format answer; the kinds rotate, so the rejected side is sometimes longer
    and sometimes shorter and length alone does not decide. A variant governance would still pass
    is never used as the rejected side (the next kind is tried).
    """
    rng = random.Random(seed)
    examples = list(examples)
    out: list[Row] = []
    for example, row in zip(examples, sft_rows(corpus, examples), strict=True):
        spec = corpus.spec(example)
        packs = packs_for(row["meta"])
        start = rng.randrange(len(BREAKERS))
        for offset in range(len(BREAKERS)):
            rejected = BREAKERS[(start + offset) % len(BREAKERS)](example.copy.ad, example, spec, rng)
            if not check_copy(rejected, packs).passed:
                out.append(
                    {
                        "prompt": row["prompt"],
                        "chosen": row["completion"],
                        "rejected": [{"role": "assistant", "content": render_answer(rejected)}],
                        "meta": row["meta"],
                    }
                )
                break
    if not out:
        raise DatasetError("no preference pairs could be built from the selected corpus copies")
    return out
