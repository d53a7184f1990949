"""Typed I/O of the OpenAI-compatible endpoints (``/v1/chat/completions``, ``/v1/completions``).

Why our own models and not the ``openai`` package's types: the server must validate what any
client sends, bound every field, and refuse what it cannot honour (tools, penalties, ``echo``)
with a message instead of ignoring it; fields the OpenAI API has that change nothing here
(``user``, ``metadata``, ``store``, ...) are accepted and ignored, as vLLM does.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rmnlora.schemas.inference import MAX_PROMPT_CHARS, MIN_TEMPERATURE
from rmnlora.schemas.json_numbers import JSON_INT, JSON_NUMBER

MAX_STOP_SEQUENCES = 4
MAX_CHOICES = 8
MAX_TOP_LOGPROBS = 20
MAX_PROMPTS = 16


PromptText = Annotated[str, Field(min_length=1, max_length=MAX_PROMPT_CHARS)]
StopText = Annotated[str, Field(min_length=1, max_length=200)]
ONLY_ZERO: dict[str, Any] = {"minimum": 0, "maximum": 0, "description": "Not supported: only 0."}
# 0 (greedy) or 0.01-2: below 0.01 the logits divide into inf (see schemas/inference.py).
NULL_GREEDY_OR_SAMPLED: dict[str, Any] = {
    "anyOf": [{"type": "null"}, {"const": 0}, {"type": "number", "minimum": MIN_TEMPERATURE, "maximum": 2}]
}


class TextPart(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["text"]
    text: str = Field(max_length=MAX_PROMPT_CHARS)


class ChatTurn(BaseModel):
    """One message; content as a string or as text parts (images and audio are refused)."""

    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart] = Field(max_length=MAX_PROMPT_CHARS)

    def text(self) -> str:
        return self.content if isinstance(self.content, str) else "".join(p.text for p in self.content)

    def as_dict(self) -> dict[str, str]:
        return {"role": "system" if self.role == "developer" else self.role, "content": self.text()}


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")

    include_usage: bool = False


class _Sampling(BaseModel):
    """What both endpoints share; OpenAI's defaults (temperature 1, top_p 1)."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1, max_length=400)
    n: Annotated[int, Field(ge=1, le=MAX_CHOICES), JSON_INT] = 1
    temperature: Annotated[float, Field(ge=0.0, le=2.0), JSON_NUMBER] | None = Field(
        default=None, json_schema_extra=NULL_GREEDY_OR_SAMPLED
    )
    top_p: Annotated[float, Field(gt=0.0, le=1.0), JSON_NUMBER] | None = None
    max_tokens: Annotated[int, Field(ge=1, le=2048), JSON_INT] | None = None
    stop: StopText | Annotated[list[StopText], Field(max_length=MAX_STOP_SEQUENCES)] | None = None
    seed: Annotated[int, Field(ge=0, le=2**32 - 1), JSON_INT] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    # Accepted only as their no-op values (the schema says so; anything else is a 400 naming them).
    presence_penalty: float | None = Field(default=None, json_schema_extra=ONLY_ZERO)
    frequency_penalty: float | None = Field(default=None, json_schema_extra=ONLY_ZERO)
    logit_bias: dict[str, float] | None = Field(default=None, json_schema_extra={"maxProperties": 0})

    @field_validator("temperature")
    @classmethod
    def _greedy_or_sane(cls, value: float | None) -> float | None:
        if value is not None and 0 < value < MIN_TEMPERATURE:
            raise ValueError(f"temperature must be 0 (greedy) or at least {MIN_TEMPERATURE}")
        return value

    def stops(self) -> tuple[str, ...]:
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())

    def unsupported(self) -> list[str]:
        """Parameters set to something this server cannot honour (each named in the 400)."""
        found = []
        if self.presence_penalty:
            found.append("presence_penalty")
        if self.frequency_penalty:
            found.append("frequency_penalty")
        if self.logit_bias:
            found.append("logit_bias")
        return found


class ChatCompletionRequest(_Sampling):
    messages: list[ChatTurn] = Field(min_length=1, max_length=64)
    max_completion_tokens: Annotated[int, Field(ge=1, le=2048), JSON_INT] | None = None
    logprobs: bool = Field(default=False, strict=True)  # true/false only, not "yes" or 1
    top_logprobs: Annotated[int, Field(ge=0, le=MAX_TOP_LOGPROBS), JSON_INT] | None = None
    tools: list[Any] | None = Field(default=None, json_schema_extra={"maxItems": 0})
    functions: list[Any] | None = Field(default=None, json_schema_extra={"maxItems": 0})
    response_format: dict[str, Any] | None = Field(
        default=None, json_schema_extra={"properties": {"type": {"const": "text"}}}
    )

    @model_validator(mode="after")
    def _bounded(self) -> ChatCompletionRequest:
        total = sum(len(turn.text()) for turn in self.messages)
        if total > MAX_PROMPT_CHARS:
            raise ValueError(f"the messages hold {total:,} characters; the limit is {MAX_PROMPT_CHARS:,}")
        return self  # top_logprobs without logprobs: true returns no logprobs (nothing asked for them)

    def unsupported(self) -> list[str]:
        found = super().unsupported()
        if self.tools or self.functions:
            found.append("tools (the local model has no tool calling; ask for JSON in the prompt)")
        if self.response_format and self.response_format.get("type") not in (None, "text"):
            found.append("response_format (only text)")
        return found

    def token_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


class CompletionRequest(_Sampling):
    prompt: PromptText | Annotated[list[PromptText], Field(min_length=1, max_length=MAX_PROMPTS)]
    logprobs: Annotated[int, Field(ge=0, le=MAX_TOP_LOGPROBS), JSON_INT] | None = None
    echo: bool = Field(default=False, json_schema_extra={"const": False})
    suffix: str | None = Field(default=None, json_schema_extra={"maxLength": 0})
    best_of: int | None = Field(default=None, ge=1, le=1, description="Not supported beyond 1.")

    @field_validator("prompt")
    @classmethod
    def _bounded_prompts(cls, value: str | list[str]) -> str | list[str]:
        prompts = [value] if isinstance(value, str) else value
        if not prompts:
            raise ValueError("prompt must be a non-empty string or a list of non-empty strings")
        total = sum(len(p) for p in prompts)
        if total > MAX_PROMPT_CHARS:
            raise ValueError(f"the prompts hold {total:,} characters; the limit is {MAX_PROMPT_CHARS:,}")
        return value

    def prompts(self) -> list[str]:
        return [self.prompt] if isinstance(self.prompt, str) else list(self.prompt)

    def unsupported(self) -> list[str]:
        found = super().unsupported()
        if self.echo:
            found.append("echo")
        if self.suffix:
            found.append("suffix")
        return found

    def token_limit(self) -> int | None:
        return self.max_tokens


class LoadAdapterRequest(BaseModel):
    """vLLM's ``/v1/load_lora_adapter`` body, plus the kind (and owner, for a brand) it is."""

    model_config = ConfigDict(extra="forbid")

    lora_name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
    lora_path: str = Field(min_length=1, max_length=4096)
    kind: Literal["retailer", "brand", "task"] = Field(description="What the adapter specialises in.")
    owner_tenant_id: str | None = Field(default=None, description="Required for a brand adapter.")
    load_inplace: bool = Field(default=False, description="Replace an adapter of that name.")


class UnloadAdapterRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lora_name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
    kind: Literal["retailer", "brand", "task"] | None = None
    owner_tenant_id: str | None = None


class OpenAIErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIErrorBody(BaseModel):
    """OpenAI's error shape, which its clients turn into typed exceptions."""

    error: OpenAIErrorDetail
