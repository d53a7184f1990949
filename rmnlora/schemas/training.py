"""Typed inputs and outputs of training and evaluation.

The dataset generators take these small facts (format limits, banned terms, voice) rather than
reading policy files directly, so they work before and after the governance/creative areas ship
their policy packs: ``RetailerFacts.from_policy_pack`` adapts a shipped pack.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from rmnlora.schemas.rmis import PolicyPack

AdapterKind = Literal["retailer", "brand", "task"]
TaskName = Literal["creative", "rationale", "mapping"]
RequiredElement = Literal["brand", "product", "cta"]
_DEFAULT_ELEMENTS: tuple[RequiredElement, ...] = ("brand", "product")


class FormatSpec(BaseModel):
    """One ad format of a retailer: a name, a hard length limit, and elements the copy must carry."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    max_chars: int = Field(ge=10, le=2000)
    required_elements: list[RequiredElement] = Field(default_factory=lambda: list(_DEFAULT_ELEMENTS))


class RetailerFacts(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    formats: list[FormatSpec] = Field(min_length=1)
    banned_terms: list[str] = Field(default_factory=list)
    policy_style: str = Field(default="plain, factual, no superlatives")

    @classmethod
    def from_policy_pack(
        cls, pack: PolicyPack, formats: list[FormatSpec], policy_style: str = ""
    ) -> RetailerFacts:
        """Banned terms from the pack's banned_term/prohibited_phrase rules (literal patterns only)."""
        banned: list[str] = []
        for rule in pack.rules:
            if rule.kind in ("banned_term", "prohibited_phrase"):
                banned.extend(p for p in rule.patterns if p.replace(" ", "").isalnum())
        return cls(
            name=pack.owner,
            formats=formats,
            banned_terms=banned,
            policy_style=policy_style or "plain, factual, no superlatives",
        )


class BrandFacts(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    voice: str = Field(default="warm, simple, confident")
    products: list[str] = Field(min_length=1)
    messages: list[str] = Field(min_length=1, description="Key messages the brand wants to land.")
    approved_terms: list[str] = Field(default_factory=list)
    banned_terms: list[str] = Field(default_factory=list)
    ctas: list[str] = Field(default_factory=lambda: ["Shop now", "Add to cart", "Try it today"])
    sample_copy: list[str] = Field(default_factory=list)


class ColumnMappingFact(BaseModel):
    """A retailer column and the RMIS column it maps to (the mapping task's ground truth)."""

    model_config = ConfigDict(extra="forbid")

    retailer: str
    source_column: str
    rmis_column: str
    sample_values: list[str] = Field(default_factory=list)


class SplitManifest(BaseModel):
    """What was held out, recorded so a later training run can prove it never trains on it."""

    dataset: str
    seed: int
    heldout_fraction: float
    train_rows: int
    heldout_rows: int
    heldout_prompt_hashes: list[str]


class TrainResult(BaseModel):
    """Outcome of one training run, also stored as the adapter's metrics."""

    method: Literal["sft", "dpo"]
    kind: str
    name: str
    adapter_path: str
    steps: int
    train_rows: int
    first_loss: float | None
    last_loss: float | None
    losses: list[float]
    seconds: float
    seconds_per_step: float
    qlora: bool = False
    resumed_from: str | None = None
    registered_id: int | None = None
    extra: dict[str, Any] = Field(default_factory=dict)
