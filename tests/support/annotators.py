"""Scripted annotators with a known preference, for the learning-loop tests.

They prefer copy that names the product and stays inside the format's headline limit; each item
is a structured creative prompt (the agent's own turns), as the feedback app records it.
"""

from __future__ import annotations

import random
from typing import Any

from rmnlora.agents.creative.formats import load_format_spec
from rmnlora.agents.creative.prompts import render_answer
from rmnlora.schemas.creative import CopyRequest
from rmnlora.schemas.feedback import CreativePrompt
from rmnlora.schemas.governance import AdCopy
from rmnlora.training.corpus import prompt_messages

PRODUCTS = (
    ("Acme Crunch granola bars", "Whole-grain crunch for busy mornings"),
    ("Acme Oat Clusters cereal", "Big oat clusters that stay crunchy in milk"),
    ("Acme Trail Mix bites", "A handful of energy for the trail"),
    ("Acme Honey Almond bars", "Golden honey and roasted almonds"),
    ("Acme Crunch chocolate chip bars", "The after-school snack kids ask for"),
    ("Acme Cheddar crisps", "Baked cheddar crunch in every bite"),
)
FORMATS = (("walmart", "sponsored_brands"), ("amazon", "sponsored_brands"), ("kroger", "sponsored_product"))
OPENERS = ("Meet", "Try", "Grab", "Pack", "Discover", "Enjoy", "Say hello to", "Reach for")
TAILS = ("today", "this week", "for the road", "for lunch", "at snack time", "after school")


def prompt_for(index: int, brand: str = "acme-snacks") -> tuple[str, CopyRequest]:
    product, message = PRODUCTS[index % len(PRODUCTS)]
    retailer, ad_format = FORMATS[(index // len(PRODUCTS)) % len(FORMATS)]
    request = CopyRequest(
        retailer=retailer,
        brand=brand,
        ad_format=ad_format,
        product=product,
        key_message=f"{message} ({TAILS[index % len(TAILS)]})",
        tone="friendly",
    )
    spec = load_format_spec(retailer, ad_format)
    encoded = CreativePrompt(request=request.model_dump(), messages=prompt_messages(request, spec)).encode()
    return encoded, request


GENERIC = ("our new snack", "this tasty pick", "a crunchy favorite", "the perfect bite", "something good")
WORDS = ("crunchy", "golden", "wholesome", "tasty", "simple", "fresh", "bright", "easy", "honest", "bold")
PLACES = ("the trail", "the office", "school", "the road", "the park", "movie night", "the gym", "lunch")


def _headline(rng: random.Random, subject: str) -> str:
    return f"{rng.choice(OPENERS)} {subject}, {rng.choice(WORDS)} for {rng.choice(PLACES)}"


def names_product_within_limit(text: str, request: CopyRequest) -> bool:
    """The scripted annotators' whole taste: the headline names the product and fits the format."""
    spec = load_format_spec(request.retailer, request.ad_format)
    headline = text.split("\n", 1)[0].removeprefix("Headline: ")
    return request.product.lower() in headline.lower() and len(headline) <= spec.headline_max


def pair_for(index: int, brand: str = "acme-snacks", seed: int = 0) -> dict[str, Any]:
    """One item: the prompt and two varied answers, ``good`` naming the product inside the limit,
    ``bad`` either naming no product or running past the headline limit."""
    rng = random.Random(seed * 10_007 + index)
    prompt, request = prompt_for(index, brand)
    spec = load_format_spec(request.retailer, request.ad_format)
    cta = spec.allowed_ctas[0] if spec.allowed_ctas else "Shop now"

    def body() -> str:
        return (
            f"{rng.choice(WORDS).capitalize()} and {rng.choice(WORDS)}, made for {rng.choice(PLACES)}."
            if spec.body_max
            else ""
        )

    fitting = [h for o in OPENERS if len(h := f"{o} {request.product}") <= spec.headline_max]
    good = AdCopy(headline=rng.choice(fitting or [request.product]), body=body(), cta=cta)
    if rng.random() < 0.5:
        bad = AdCopy(headline=_headline(rng, rng.choice(GENERIC)), body=body(), cta=cta)
    else:
        bad = AdCopy(
            headline=_headline(rng, request.product) + f" and {rng.choice(PLACES)}", body=body(), cta=cta
        )
    good_text, bad_text = render_answer(good), render_answer(bad)
    assert names_product_within_limit(good_text, request) and not names_product_within_limit(
        bad_text, request
    )
    return {"prompt": prompt, "good": good_text, "bad": bad_text, "request": request}


def answers(
    start: int, count: int, *, brand: str = "acme-snacks", swapped: bool = False
) -> list[dict[str, Any]]:
    """``count`` preference items as the feedback API takes them; ``swapped``: a bad batch (chosen
    and rejected exchanged, as a careless or malicious annotator would submit)."""
    out = []
    for index in range(start, start + count):
        item = pair_for(index, brand)
        chosen, rejected = (item["bad"], item["good"]) if swapped else (item["good"], item["bad"])
        out.append(
            {
                "brand_id": brand,
                "task": "creative",
                "prompt": item["prompt"],
                "chosen": chosen,
                "rejected": rejected,
                "user": f"annotator-{index % 3}",
            }
        )
    return out
