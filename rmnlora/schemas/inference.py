"""Typed I/O of the inference runtime (POST /inference, the in-process service, the chat model)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rmnlora.schemas.json_numbers import JSON_INT, JSON_NUMBER

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"


# One bound on the text a request asks the model to read, prompt or chat turns alike: a long prompt
# holds the shared batch for every tenant (prefill is the costly part on a CPU).
MAX_PROMPT_CHARS = 16_000
MIN_TEMPERATURE = 0.01


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant"]
    content: str = Field(max_length=MAX_PROMPT_CHARS)


class InferenceRequest(BaseModel):
    """One generation for a (retailer, brand, task) composition; give ``prompt`` or ``messages``."""

    # The schema says what the validator below enforces: exactly one of the two inputs.
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "oneOf": [
                {"required": ["prompt"], "properties": {"prompt": {"type": "string"}}},
                {"required": ["messages"], "properties": {"messages": {"type": "array"}}},
            ]
        },
    )

    retailer: str | None = Field(default=None, pattern=_NAME, description="Retailer adapter name.")
    brand: str | None = Field(default=None, pattern=_NAME, description="Brand adapter name (yours only).")
    task: str | None = Field(default=None, pattern=_NAME, description="Task adapter, e.g. 'creative'.")
    prompt: str | None = Field(default=None, min_length=1, max_length=MAX_PROMPT_CHARS)
    messages: list[ChatMessage] | None = Field(default=None, min_length=1, max_length=64)
    # JSON numbers only: true is not 1, nor "3" three (the schema says number, so must the server).
    max_new_tokens: Annotated[int, Field(ge=1, le=2048), JSON_INT] | None = None
    temperature: Annotated[float, Field(ge=0.0, le=2.0), JSON_NUMBER] = Field(
        default=0.0,
        description="0: greedy (deterministic); else at least 0.01.",
        json_schema_extra={"anyOf": [{"const": 0}, {"minimum": MIN_TEMPERATURE, "maximum": 2}]},
    )
    top_p: Annotated[float, Field(ge=0.01, le=1.0), JSON_NUMBER] = 1.0

    @field_validator("temperature")
    @classmethod
    def _greedy_or_sane(cls, value: float) -> float:
        """A temperature of 1e-300 divides the logits into inf, and sampling fails on NaN."""
        if 0 < value < MIN_TEMPERATURE:
            raise ValueError(f"temperature must be 0 (greedy) or at least {MIN_TEMPERATURE}")
        return value

    @model_validator(mode="after")
    def _one_input(self) -> InferenceRequest:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("give exactly one of 'prompt' (plain text) or 'messages' (chat turns)")
        total = sum(len(m.content) for m in self.messages or [])
        if total > MAX_PROMPT_CHARS:  # one bound for a request, however it is split into turns
            raise ValueError(
                f"the messages hold {total:,} characters together; the limit is {MAX_PROMPT_CHARS:,}"
            )
        return self

    def chat(self) -> list[dict[str, str]]:
        """The request as chat turns (a plain prompt becomes one user turn)."""
        if self.messages is not None:
            return [m.model_dump() for m in self.messages]
        return [{"role": "user", "content": self.prompt or ""}]


class InferenceResponse(BaseModel):
    text: str
    finish_reason: Literal["stop", "length"]
    tokens: int
    adapter: str = Field(description="Composed adapter name ('__base__' when no component was found).")
    components: dict[str, str] = Field(
        description="kind → adapter actually used, with its version when it has one ('acme-snacks@3')."
    )
    weights: dict[str, float]
    missing: list[str] = Field(description="Kinds requested but not found: composed from the rest.")
    note: str = Field(description="Human-readable summary of the composition.")
    cached: bool = Field(description="The composed adapter was already in the LRU cache.")
    timings_ms: dict[str, float]
    mean_logprob: float | None = Field(
        default=None, description="Mean log-probability of the generated tokens (ranks candidates)."
    )
    batch_path: str = Field(
        default="plain",
        description="Forward the batch ran on: single (one adapter for all rows), grouped (our grouped LoRA "
        "matmul for mixed adapters), peft (PEFT's adapter_names= mixed path), base, or plain (no PEFT).",
    )
