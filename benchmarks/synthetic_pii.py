"""Synthetic personal data of every shape the PII rules claim to catch, from Faker, inside ad copy.

Why Faker: its generators (phone formats of a dozen countries, USPS and Australia Post street
addresses, issuer-correct card numbers, SSNs) were written by other people for other purposes, so a
detector tuned on our own examples is checked against shapes we did not choose. Each value is put
into one of several ad sentences, some with a cue word ("Call", "Visit us at") and some without.

    .venv/bin/python benchmarks/synthetic_pii.py [N] [SEED]   # recall per shape, N values each
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rmnlora.agents.governance.checks import check_copy  # noqa: E402
from rmnlora.agents.governance.packs import load_packs  # noqa: E402
from rmnlora.schemas.governance import AdCopy  # noqa: E402

PHONE_LOCALES = (
    "en_US",
    "en_CA",
    "en_GB",
    "de_DE",
    "fr_FR",
    "es_ES",
    "it_IT",
    "nl_NL",
    "en_AU",
    "en_IN",
    "pt_BR",
)
ADDRESS_LOCALES = ("en_US", "en_CA", "en_GB", "en_AU")
CARD_TYPES = ("visa16", "visa13", "mastercard", "amex", "discover", "jcb15", "jcb16", "diners", "maestro")

TEMPLATES: dict[str, tuple[str, ...]] = {
    "pii_phone": (
        "Questions? Call {value} today.",
        "Order by phone: {value}",
        "Text {value} for weekly deals on our granola.",
        "Our snack hotline {value} is open 9 to 5.",
        "Reach the Morning Ridge team at {value}.",
    ),
    "pii_email": (
        "Write to {value} for recipes.",
        "Questions about our coffee? {value}",
        "Send your pet's photo to {value} and win a bag of treats.",
    ),
    "pii_ssn": (
        "Enter your SSN {value} to claim the rebate.",
        "Rebate form needs {value} on line 3.",
        "Social security number: {value} required for the sweepstakes.",
    ),
    "pii_card": (
        "Pay with card {value} at checkout.",
        "Use {value} to unlock the member price.",
        "Card no. {value} gets you free shipping.",
    ),
    "pii_address": (
        "Visit our bakery at {value} this weekend.",
        "Free samples at {value}, Saturday only.",
        "Mail your proof of purchase to {value}.",
    ),
}


@dataclass(frozen=True)
class SyntheticPii:
    family: str
    shape: str
    value: str
    copy: AdCopy


def _cards(fake: object, card_type: str) -> str:
    number: str = fake.credit_card_number(card_type=card_type)  # type: ignore[attr-defined]
    style = random.Random(number).choice(["plain", "spaces", "dashes"])
    if style == "plain":
        return number
    groups = [number[i : i + 4] for i in range(0, len(number), 4)]
    if len(number) == 15:  # Amex and friends print 4-6-5
        groups = [number[:4], number[4:10], number[10:]]
    return (" " if style == "spaces" else "-").join(groups)


def generate(n_per_shape: int = 100, seed: int = 7) -> Iterator[SyntheticPii]:
    """``n_per_shape`` values of each shape (locale or card type), each inside an ad sentence."""
    from faker import Faker

    rng = random.Random(seed)
    shapes: list[tuple[str, str, Callable[[], str]]] = []
    for locale in PHONE_LOCALES:
        fake = Faker(locale)
        fake.seed_instance(seed)
        shapes.append(("pii_phone", f"phone {locale}", fake.phone_number))
    for locale in ADDRESS_LOCALES:
        fake = Faker(locale)
        fake.seed_instance(seed)
        shapes.append(
            ("pii_address", f"address {locale}", lambda f=fake: f.street_address().replace("\n", ", "))
        )
    us = Faker("en_US")
    us.seed_instance(seed)
    shapes.append(("pii_ssn", "ssn dashes", us.ssn))
    shapes.append(("pii_ssn", "ssn spaces", lambda: us.ssn().replace("-", " ")))
    shapes.append(("pii_email", "email", us.email))
    shapes.append(("pii_email", "email company", us.company_email))
    for card_type in CARD_TYPES:
        shapes.append(("pii_card", f"card {card_type}", lambda t=card_type: _cards(us, t)))
    for family, shape, make in shapes:
        for _ in range(n_per_shape):
            value = make()
            body = rng.choice(TEMPLATES[family]).format(value=value)
            yield SyntheticPii(
                family, shape, value, AdCopy(headline="Morning Ridge coffee", body=body, cta="Shop now")
            )


def recall_by_shape(n_per_shape: int = 100, seed: int = 7) -> dict[str, tuple[int, int, list[str]]]:
    """shape -> (caught, total, up to 5 missed values)."""
    packs = load_packs("walmart")
    out: dict[str, tuple[int, int, list[str]]] = {}
    for item in generate(n_per_shape, seed):
        body = item.copy.body
        start = body.index(item.value)
        end = start + len(item.value)
        # caught: a violation of its family covers at least half of the value's characters
        found = any(
            v.family == item.family
            and v.field == "body"
            and v.span is not None
            and min(v.span[1], end) - max(v.span[0], start) >= len(item.value) / 2
            for v in check_copy(item.copy, packs).violations
        )
        caught, total, missed = out.get(item.shape, (0, 0, []))
        out[item.shape] = (
            caught + found,
            total + 1,
            missed if found or len(missed) >= 5 else [*missed, item.value],
        )
    return out


def main(n_per_shape: int = 100, seed: int = 7) -> dict[str, float]:
    results = recall_by_shape(n_per_shape, seed)
    caught = sum(c for c, _, _ in results.values())
    total = sum(t for _, t, _ in results.values())
    for shape, (c, t, missed) in results.items():
        shown = "missed: " + "; ".join(missed) if missed else ""
        print(f"{shape:22} {c:4d}/{t:<4d} recall {c / t:.3f}  {shown}")
    print(f"{'all shapes':22} {caught:4d}/{total:<4d} recall {caught / total:.3f}")
    return {"pii_recall": caught / total, **{f"pii_recall[{s}]": c / t for s, (c, t, _) in results.items()}}


if __name__ == "__main__":
    from benchmarks._common import write_results

    count, seed = (
        (int(sys.argv[1]) if len(sys.argv) > 1 else 100),
        (int(sys.argv[2]) if len(sys.argv) > 2 else 7),
    )
    write_results("synthetic_pii", {"n_per_shape": count, "seed": seed, **main(count, seed)})
