"""Typed requests and answers of the feedback API and app (one model per wire shape).

The API and the Streamlit app both validate through these, so a rating of 6 or an empty
prompt is refused the same way everywhere, with a message naming the field.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

FeedbackType = Literal["thumbs", "rating", "correction", "preference"]

_SLUG = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class FeedbackIn(_Base):
    """Feedback on one response: thumbs, a 1-5 rating and/or a corrected text (at least one)."""

    brand_id: str = Field(pattern=_SLUG, description="A brand of the caller's tenant.")
    task: str = Field(pattern=_SLUG, description="e.g. 'creative' or 'plan_explanation'.")
    prompt: str = Field(min_length=1, max_length=20_000)
    response: str | None = Field(default=None, max_length=20_000, description="The text judged.")
    thumbs_up: bool | None = None
    rating: int | None = Field(default=None, ge=1, le=5)
    correction: str | None = Field(default=None, max_length=20_000, description="What it should have said.")
    adapter: str | None = Field(default=None, max_length=255, description="Adapter that produced it.")
    user: str | None = Field(default=None, max_length=255)

    @model_validator(mode="after")
    def _has_a_judgement(self) -> FeedbackIn:
        if self.correction == "":
            self.correction = None
        if self.thumbs_up is None and self.rating is None and self.correction is None:
            raise ValueError("give at least one of thumbs_up, rating or correction")
        if self.correction is not None and self.response is not None and self.correction == self.response:
            raise ValueError("correction is identical to response: nothing was corrected")
        return self

    @property
    def feedback_type(self) -> FeedbackType:
        """The strongest signal given: a correction beats a rating beats a thumb."""
        if self.correction is not None:
            return "correction"
        if self.rating is not None:
            return "rating"
        return "thumbs"


class PreferencePairIn(_Base):
    """Two responses to one prompt and which one a person preferred."""

    brand_id: str = Field(pattern=_SLUG)
    task: str = Field(pattern=_SLUG)
    prompt: str = Field(min_length=1, max_length=20_000)
    chosen: str = Field(min_length=1, max_length=20_000)
    rejected: str = Field(min_length=1, max_length=20_000)
    chosen_adapter: str | None = Field(default=None, max_length=120)
    rejected_adapter: str | None = Field(default=None, max_length=120)
    user: str | None = Field(default=None, max_length=255)

    @model_validator(mode="after")
    def _different(self) -> PreferencePairIn:
        if self.chosen == self.rejected:
            raise ValueError("chosen and rejected are identical: a preference needs two different texts")
        for name in ("chosen_adapter", "rejected_adapter"):
            value = getattr(self, name)
            if value is not None and ">" in value:
                raise ValueError(f"{name} may not contain '>'")
        return self


class FeedbackRecord(_Base):
    """One stored feedback row as the API returns it."""

    model_config = ConfigDict(extra="ignore", from_attributes=True)

    id: int
    brand_id: str
    task: str
    feedback_type: str
    prompt: str
    response: str | None = None
    chosen: str | None = None
    rejected: str | None = None
    correction: str | None = None
    thumbs_up: bool | None = None
    rating: int | None = None
    adapter: str | None = None
    user: str | None = None
    created_at: dt.datetime


class DPORow(BaseModel):
    """One line of the export, exactly TRL's DPO format."""

    prompt: str
    chosen: str
    rejected: str


class ExportFilter(_Base):
    brand_id: str | None = None
    task: str | None = None
    since: dt.date | None = Field(default=None, description="Inclusive, UTC date.")
    until: dt.date | None = Field(default=None, description="Inclusive, UTC date.")
    include_corrections: bool = Field(
        default=True, description="A correction of a response becomes chosen=correction, rejected=response."
    )

    @model_validator(mode="after")
    def _ordered(self) -> ExportFilter:
        if self.since and self.until and self.since > self.until:
            raise ValueError(f"since ({self.since}) is after until ({self.until})")
        return self


class CountByKey(BaseModel):
    key: str
    count: int


class DailyCount(BaseModel):
    date: dt.date
    count: int


class RatingSummary(BaseModel):
    task: str
    ratings: int
    mean_rating: float | None
    thumbs_up: int
    thumbs_down: int


class AdapterWinRate(BaseModel):
    adapter: str
    wins: int
    losses: int
    win_rate: float


class FeedbackStats(BaseModel):
    """Counts by brand, task, type and day; ratings per task; preference win rates per adapter."""

    total: int
    by_brand: list[CountByKey]
    by_task: list[CountByKey]
    by_type: list[CountByKey]
    by_day: list[DailyCount]
    ratings: list[RatingSummary]
    win_rates: list[AdapterWinRate]
    dpo_pairs: int = Field(description="Rows the DPO export would emit with the same filter.")


CREATIVE_PROMPT_KIND: Literal["rmn.creative.v1"] = "rmn.creative.v1"


class CreativePrompt(BaseModel):
    """A creative feedback item's prompt: the brief asked, and the exact chat turns the agent sent.

    Stored in ``Feedback.prompt`` as JSON (:meth:`encode`), so ``rmn improve`` trains on the
    agent's own request (one prompt), and judges a new adapter's answers to it as the create gate
    would (the brief names the format, product and claims the judge needs).
    """

    model_config = ConfigDict(extra="forbid")

    kind: Literal["rmn.creative.v1"] = CREATIVE_PROMPT_KIND
    request: dict[str, object] = Field(description="The CopyRequest's fields (retailer, ad_format...).")
    messages: list[dict[str, str]] = Field(min_length=1, description="Chat turns: role and content.")

    def encode(self) -> str:
        return self.model_dump_json()


def decode_creative_prompt(text: str) -> CreativePrompt | None:
    """The structured prompt a feedback row holds, or None for a free-text prompt."""
    if not text.startswith("{") or CREATIVE_PROMPT_KIND not in text[:200]:
        return None
    try:
        return CreativePrompt.model_validate_json(text)
    except ValueError:
        return None
