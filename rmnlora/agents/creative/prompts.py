"""Prompt building: the format's limits and the brand's allowed claims go into every request.

The model is small; a fixed, labelled answer layout (Headline/Body/CTA lines) is what it
follows most reliably, and what :mod:`parsing` reads back.
"""

from __future__ import annotations

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from rmnlora.schemas.creative import CopyRequest, FormatSpec
from rmnlora.schemas.governance import AdCopy


def key_message(request: CopyRequest) -> str:
    return request.key_message or "a tasty everyday snack"


def brief_facts(request: CopyRequest, spec: FormatSpec) -> str:
    """Everything the prompt tells the model about the product: the only facts a copy may state.

    Governance checks the copy's numbers and claim words against it (``review_copy(facts=...)``).
    """
    return "\n".join(
        [request.brand, request.product, key_message(request), *request.claims, *spec.allowed_ctas]
    )


def build_messages(request: CopyRequest, spec: FormatSpec) -> list[BaseMessage]:
    """System + user messages asking for one copy in the format's layout."""
    body_line = f"Body: at most {spec.body_max} characters." if spec.body_max > 0 else "Body: leave empty."
    ctas = f" Choose one of: {', '.join(spec.allowed_ctas)}." if spec.allowed_ctas else ""
    system = (
        f"You write {request.retailer} retail media ad copy for the {spec.name} format. "
        "Answer with exactly three lines:\n"
        f"Headline: at most {spec.headline_max} characters.\n{body_line}\n"
        f"CTA: at most {spec.cta_max} characters.{ctas}\n"
        "No health, cure or '#1' claims, no guarantees, no other retailers or brands, no personal data."
    )
    claims = "; ".join(request.claims) if request.claims else "none beyond the product description"
    user = (
        f"Brand: {request.brand}\nProduct: {request.product}\n"
        f"Key message: {key_message(request)}\n"
        f"Tone: {request.tone}\nAllowed claims: {claims}"
    )
    return [SystemMessage(content=system), HumanMessage(content=user)]


def render_answer(copy: AdCopy) -> str:
    """A finished copy in the answer layout the system message asks for and ``parsing`` reads back.

    Training targets are written with it, so an adapter learns exactly the layout it is asked for.
    """
    return f"Headline: {copy.headline}\nBody: {copy.body}\nCTA: {copy.cta}".replace("Body: \n", "Body:\n")
