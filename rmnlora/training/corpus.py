"""The project's copy corpus as training rows: one prompt (the creative agent's), one checker.

Every row's prompt is built by :func:`rmnlora.agents.creative.prompts.build_messages` from the same
:class:`CopyRequest` the planner would send for that brief, rendered to chat turns the way the
runtime renders them; every target is checked by governance's ``review_copy`` (the packs the
planner uses and the copy-quality judge, with the brief's facts), and a copy that fails is refused
with its reasons instead of trained on.

The held-out split is by product and by category (``split.yaml``): whole products, and one whole
category, are never seen in training.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from rmnlora.adapters.chat_model import to_chat_messages
from rmnlora.agents.creative.formats import load_format_spec
from rmnlora.agents.creative.prompts import brief_facts, build_messages, render_answer
from rmnlora.agents.governance import available_packs, format_pack, load_packs, review_copy
from rmnlora.schemas.creative import CopyRequest, FormatSpec
from rmnlora.schemas.governance import AdCopy
from rmnlora.schemas.rmis import PolicyPack

Split = Literal["train", "heldout"]
DEFAULT_CORPUS = Path("examples/corpus")


class CorpusError(ValueError):
    """A corpus file that cannot be used; the message names the file and entry."""


class Product(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    brand_id: str
    brand: str
    name: str
    category: str
    key_messages: list[str]
    tone: str
    claims: list[str] = Field(default_factory=list)


class CorpusCopy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    product_id: str
    retailer: str
    ad_format: str
    key_message: str
    tone: str
    headline: str
    body: str = ""
    cta: str

    @property
    def ad(self) -> AdCopy:
        return AdCopy(headline=self.headline, body=self.body, cta=self.cta)


@dataclass(frozen=True)
class Example:
    """One brief and the copy that answers it, with the side of the split it belongs to."""

    copy: CorpusCopy
    product: Product
    split: Split

    @property
    def request(self) -> CopyRequest:
        """What the creative agent is asked for this brief (brand by id, as a plan names it)."""
        return CopyRequest(
            retailer=self.copy.retailer,
            brand=self.product.brand_id,
            ad_format=self.copy.ad_format,
            product=self.product.name,
            key_message=self.copy.key_message,
            tone=self.copy.tone,
            claims=self.product.claims,
        )


def prompt_messages(request: CopyRequest, spec: FormatSpec) -> list[dict[str, str]]:
    """The agent's messages as the runtime's chat turns: exactly what a served adapter receives."""
    return [turn.model_dump() for turn in to_chat_messages(build_messages(request, spec))]


@dataclass
class Corpus:
    root: Path
    products: dict[str, Product]
    examples: list[Example]

    def select(self, split: Split, *, retailer: str | None = None, brand: str | None = None) -> list[Example]:
        return [
            e
            for e in self.examples
            if e.split == split
            and (retailer is None or e.copy.retailer == retailer)
            and (brand is None or e.product.brand_id == brand)
        ]

    @cached_property
    def _specs(self) -> dict[tuple[str, str], FormatSpec]:
        pairs = {(e.copy.retailer, e.copy.ad_format) for e in self.examples}
        return {pair: load_format_spec(*pair) for pair in sorted(pairs)}

    @cached_property
    def _brand_packs(self) -> set[str]:
        """Brands with a policy pack of their own (the corpus's fictional others have none)."""
        return set(available_packs()["brands"])

    def policy_packs(self, example: Example) -> list[PolicyPack]:
        """Baseline + retailer packs, and the brand's own when it has one (the fictional others do not)."""
        brand = example.product.brand_id if example.product.brand_id in self._brand_packs else None
        return load_packs(example.copy.retailer, brand)

    def spec(self, example: Example) -> FormatSpec:
        return self._specs[(example.copy.retailer, example.copy.ad_format)]

    def sft_rows(self, examples: Iterable[Example]) -> list[dict[str, Any]]:
        """TRL conversational prompt/completion rows; a copy governance refuses is an error.

        Governance here is the creative agent's own verdict (``review_copy``: policy packs, format
        limits and the copy-quality judge with the brief's facts), so no row teaches copy the
        product would reject.
        """
        rows = []
        for example in examples:
            spec = self.spec(example)
            brand = example.product.brand_id if example.product.brand_id in self._brand_packs else None
            packs = [
                *load_packs(example.copy.retailer, brand),
                format_pack(spec, product=example.product.name),
            ]
            verdict = review_copy(
                example.copy.ad,
                packs,
                product=example.product.name,
                brand=example.product.brand,
                facts=brief_facts(example.request, spec),
            )
            if not verdict.passed:
                reasons = "; ".join(v.message for v in verdict.critical)
                raise CorpusError(f"corpus copy {example.copy.id} fails governance: {reasons}")
            rows.append(
                {
                    "prompt": prompt_messages(example.request, spec),
                    "completion": [{"role": "assistant", "content": render_answer(example.copy.ad)}],
                    "meta": {"id": example.copy.id, "product": example.product.id, "split": example.split},
                }
            )
        return rows


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CorpusError(f"cannot read {path}: {exc}") from exc


def load_corpus(root: Path = DEFAULT_CORPUS) -> Corpus:
    """Products, copies and the held-out split of the corpus at ``root``."""
    if not (root / "products.yaml").is_file():
        raise CorpusError(f"no copy corpus at {root} (expected products.yaml, copies/, split.yaml)")
    products = {p["id"]: Product.model_validate(p) for p in _read_yaml(root / "products.yaml")["products"]}
    split = _read_yaml(root / "split.yaml") or {}
    held_categories = set(split.get("heldout_categories") or [])
    held_products = set(split.get("heldout_products") or [])
    unknown = held_products - set(products)
    if unknown:
        raise CorpusError(f"{root / 'split.yaml'} names unknown products: {sorted(unknown)}")
    examples: list[Example] = []
    for path in sorted((root / "copies").glob("*.yaml")):
        for entry in _read_yaml(path).get("copies") or []:
            copy = CorpusCopy.model_validate(entry)
            product = products.get(copy.product_id)
            if product is None:
                raise CorpusError(f"{path}: copy {copy.id} names unknown product {copy.product_id!r}")
            held = product.id in held_products or product.category in held_categories
            examples.append(Example(copy=copy, product=product, split="heldout" if held else "train"))
    if not examples:
        raise CorpusError(f"no copies under {root / 'copies'}")
    return Corpus(root=root, products=products, examples=examples)


def retailers(examples: Sequence[Example]) -> list[str]:
    return sorted({e.copy.retailer for e in examples})
