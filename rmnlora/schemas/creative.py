"""Creative I/O: what copy to write for which retailer format, and the ranked candidates.

Every candidate says where it came from (``model`` or ``template``), so template copy can never
be mistaken for model output in a plan or a report.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from rmnlora.schemas.governance import AdCopy, GovernanceResult

RequiredElement = Literal["brand_in_headline", "product_in_copy", "cta", "body"]


def _cta_only() -> list[RequiredElement]:
    return ["cta"]


class FormatSpec(BaseModel):
    """One retailer ad format as data: length limits and required/forbidden elements."""

    model_config = ConfigDict(extra="forbid")

    retailer: str
    name: str
    description: str = ""
    headline_max: int = Field(ge=1)
    body_max: int = Field(ge=0, description="0: the format has no body text.")
    cta_max: int = Field(default=20, ge=1)
    allowed_ctas: list[str] = Field(default_factory=list, description="Empty: any CTA within cta_max.")
    required: list[RequiredElement] = Field(default_factory=_cta_only)
    forbidden: dict[str, str] = Field(
        default_factory=dict,
        description="Name → case-insensitive regex that must not appear anywhere in the copy.",
    )
    headline_forbidden: dict[str, str] = Field(
        default_factory=dict, description="Name → regex that must not appear in the headline."
    )


CopySource = Literal["model", "template"]


class CopyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    retailer: str = Field(min_length=1)
    brand: str = Field(min_length=1)
    ad_format: str = Field(min_length=1, description="Format name in the retailer's format specs.")
    product: str = Field(min_length=1)
    key_message: str = ""
    tone: str = "friendly"
    claims: list[str] = Field(default_factory=list, description="Claims the brand may make.")
    k: int = Field(default=3, ge=1, le=10, description="Candidates to generate.")
    tenant: str | None = None


class CopyCandidate(BaseModel):
    """One candidate: the cleaned copy, its governance verdict and (when exposed) its likelihood."""

    copy_text: AdCopy
    source: CopySource
    governance: GovernanceResult
    likelihood: float | None = Field(default=None, description="Mean token log-probability, if exposed.")
    raw: str | None = Field(default=None, description="The model's raw text before parsing and cleaning.")
    cleaning: list[str] = Field(default_factory=list, description="What the cleaner changed, and why.")


class CreativeResult(BaseModel):
    """Candidates best first: passing governance, fewest warnings, then highest likelihood.

    ``source="none"``: no copy could be written for the format (``notes`` says why).
    """

    retailer: str
    ad_format: str
    source: CopySource | Literal["none"]
    candidates: list[CopyCandidate] = Field(default_factory=list)
    ranking: str = Field(description="How the candidates were ranked, incl. whether likelihood was used.")
    notes: list[str] = Field(default_factory=list)
    draws: int = Field(default=0, description="Model answers drawn (repeats and unusable ones drawn again).")

    @property
    def best(self) -> CopyCandidate | None:
        return self.candidates[0] if self.candidates else None

    @property
    def passing(self) -> list[CopyCandidate]:
        return [c for c in self.candidates if c.governance.passed]
