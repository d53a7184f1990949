"""``RmnChatModel``: a LangChain chat model over the LoRA-composed local model.

Why a small BaseChatModel rather than ChatHuggingFace: the request must carry the tenant and the
(retailer, brand, task) composition, and must work both in-process and against the runtime over
HTTP with the same behaviour. Like any local HF model it has no tool calling: callers ask for
JSON in the prompt and parse it from the text (docs/adapters.md, "Chat model"). Response metadata
says which adapters were used and which were missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict, Field, model_validator

from rmnlora.adapters.service import InferenceService
from rmnlora.config import Settings
from rmnlora.schemas.inference import ChatMessage, InferenceRequest, InferenceResponse


class RuntimeCallError(RuntimeError):
    """The runtime answered with an error; the message carries its status and detail."""


def to_chat_messages(messages: Sequence[BaseMessage]) -> list[ChatMessage]:
    """LangChain messages → role/content turns (tool and other messages are sent as user turns)."""
    turns = []
    for message in messages:
        if isinstance(message, SystemMessage):
            role = "system"
        elif isinstance(message, AIMessage):
            role = "assistant"
        else:
            role = "user"
        content = message.content if isinstance(message.content, str) else str(message.text)
        turns.append(ChatMessage(role=role, content=content))  # type: ignore[arg-type]
    return turns


def _apply_stop(text: str, stop: Sequence[str] | None) -> str:
    for marker in stop or ():
        index = text.find(marker)
        if index >= 0:
            text = text[:index]
    return text


class RmnChatModel(BaseChatModel):
    """Chat with the composed (retailer, brand, task) model as ``tenant``.

    Give ``service`` (in-process) or ``runtime_url`` + ``api_key`` (HTTP); ``from_settings`` picks
    by ``runtime.url``.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    tenant: str = Field(description="Tenant id (in-process); over HTTP the API key decides.")
    retailer: str | None = None
    brand: str | None = None
    task: str | None = None
    max_new_tokens: int | None = None
    temperature: float = 0.0
    top_p: float = 1.0
    service: InferenceService | None = Field(default=None, exclude=True)
    runtime_url: str | None = None
    api_key: str | None = Field(default=None, exclude=True, repr=False)
    timeout_s: float = 300.0

    @model_validator(mode="after")
    def _one_backend(self) -> RmnChatModel:
        if (self.service is None) == (self.runtime_url is None):
            raise ValueError(
                "RmnChatModel needs exactly one of 'service' (in-process) or 'runtime_url' (HTTP)"
            )
        if self.runtime_url is not None and not self.api_key:
            raise ValueError("RmnChatModel over HTTP needs the tenant's 'api_key'")
        return self

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        tenant: str,
        retailer: str | None = None,
        brand: str | None = None,
        task: str | None = None,
        api_key: str | None = None,
        service: InferenceService | None = None,
        **kwargs: Any,
    ) -> RmnChatModel:
        """HTTP when ``runtime.url`` is configured, else in-process (loading the base model once)."""
        if settings.runtime.url and service is None:
            return cls(
                tenant=tenant,
                retailer=retailer,
                brand=brand,
                task=task,
                runtime_url=settings.runtime.url,
                api_key=api_key,
                **kwargs,
            )
        if service is None:
            from rmnlora.storage import open_db

            service = InferenceService.from_settings(settings, open_db(settings))
        return cls(tenant=tenant, retailer=retailer, brand=brand, task=task, service=service, **kwargs)

    @property
    def _llm_type(self) -> str:
        return "rmn-lora-composed"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "retailer": self.retailer,
            "brand": self.brand,
            "task": self.task,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_new_tokens": self.max_new_tokens,
            "backend": self.runtime_url or "in-process",
        }

    def _request(self, messages: list[BaseMessage], **kwargs: Any) -> InferenceRequest:
        return InferenceRequest(
            retailer=kwargs.get("retailer", self.retailer),
            brand=kwargs.get("brand", self.brand),
            task=kwargs.get("task", self.task),
            messages=to_chat_messages(messages),
            max_new_tokens=kwargs.get("max_new_tokens", self.max_new_tokens),
            temperature=kwargs.get("temperature", self.temperature),
            top_p=kwargs.get("top_p", self.top_p),
        )

    def _result(self, response: InferenceResponse, stop: list[str] | None) -> ChatResult:
        metadata = response.model_dump(exclude={"text"})
        message = AIMessage(content=_apply_stop(response.text, stop), response_metadata=metadata)
        return ChatResult(generations=[ChatGeneration(message=message)], llm_output=metadata)

    def _headers(self) -> dict[str, str]:
        return {"X-API-Key": self.api_key or ""}

    @staticmethod
    def _check(reply: httpx.Response) -> InferenceResponse:
        if reply.status_code != 200:
            try:
                detail = reply.json().get("detail", reply.text)
            except ValueError:
                detail = reply.text
            raise RuntimeCallError(f"runtime answered {reply.status_code}: {detail}")
        return InferenceResponse.model_validate(reply.json())

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        request = self._request(messages, **kwargs)
        if self.service is not None:
            return self._result(self.service.infer(self.tenant, request, timeout=self.timeout_s), stop)
        assert self.runtime_url is not None
        reply = httpx.post(
            self.runtime_url.rstrip("/") + "/inference",
            json=request.model_dump(exclude_none=True),
            headers=self._headers(),
            timeout=self.timeout_s,
        )
        return self._result(self._check(reply), stop)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.service is not None or self.runtime_url is None:
            return await super()._agenerate(messages, stop, run_manager, **kwargs)
        request = self._request(messages, **kwargs)
        async with httpx.AsyncClient(timeout=self.timeout_s) as client:
            reply = await client.post(
                self.runtime_url.rstrip("/") + "/inference",
                json=request.model_dump(exclude_none=True),
                headers=self._headers(),
            )
        return self._result(self._check(reply), stop)


__all__ = ["RmnChatModel", "RuntimeCallError", "to_chat_messages"]
