"""Two real candidate responses for a preference comparison, from whatever model is configured.

The app never invents text: a generator either returns two model outputs (labelled with
the adapter that produced them) or is absent with the reason, and the app then says so and
takes hand-written A/B text instead. The app uses :class:`ChatModelPairGenerator` over the
runtime; tests inject one over the tiny model (in-process service, or a raw model).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from langchain_core.callbacks import BaseCallbackHandler

from rmnlora.config import Settings
from rmnlora.schemas.creative import CopyRequest
from rmnlora.schemas.feedback import CreativePrompt, decode_creative_prompt


@dataclass(frozen=True)
class Candidate:
    text: str
    source: str  # the adapter or model that produced it, recorded with the feedback


class CandidateGenerator(Protocol):
    def __call__(self, prompt: str, *, brand_id: str, task: str) -> tuple[Candidate, Candidate]: ...


@dataclass(frozen=True)
class GeneratorStatus:
    """A generator, or None with the reason it is unavailable (shown to the user as is)."""

    generator: CandidateGenerator | None
    detail: str


class ChatModelPairGenerator:
    """Two responses from the LoRA runtime (``RmnChatModel``, in-process or over HTTP).

    A: the brand + task composition, greedy. B: the task composition without the brand adapter,
    so each preference says whether the brand adapter helped (its win rate on the dashboard).
    When both resolve to the same adapter (no brand adapter yet), B is a sample at temperature 0.8.
    Each side is labelled with the adapters the runtime reports it used, e.g.
    ``brand:acme-cola+task:creative``.
    """

    def __init__(self, make_model: Callable[..., Any]) -> None:
        self.make_model = make_model

    def _ask(self, prompt: str, **options: Any) -> tuple[str, str]:
        reply = self.make_model(**options).invoke(prompt)
        components = reply.response_metadata.get("components") or {}
        label = "+".join(f"{kind}:{name}" for kind, name in sorted(components.items())) or "base"
        return str(reply.content).strip(), label

    def __call__(self, prompt: str, *, brand_id: str, task: str) -> tuple[Candidate, Candidate]:
        structured = decode_creative_prompt(prompt)
        if structured is not None:
            return self._copy_pair(structured, brand_id=brand_id, task=task)
        first, first_adapter = self._ask(prompt, brand=brand_id, task=task, temperature=0.0)
        second, second_adapter = self._ask(prompt, task=task, temperature=0.0)
        if second_adapter == first_adapter or second == first:
            second, second_adapter = self._ask(prompt, brand=brand_id, task=task, temperature=0.8)
            second_adapter += "@t0.8"
        return Candidate(first, first_adapter), Candidate(second, second_adapter)

    def _copy_pair(
        self, structured: CreativePrompt, *, brand_id: str, task: str
    ) -> tuple[Candidate, Candidate]:
        """Two candidates the creative agent writes for the brief with the *served* composition
        (retailer + brand + task, greedy then sampled, distinct, usable first): what a person
        judges is what the brand's current version writes, and what ``rmn improve`` trains on."""
        from rmnlora.agents.creative.generate import generate_copy
        from rmnlora.agents.creative.prompts import render_answer
        from rmnlora.agents.governance import available_packs, load_packs

        request = CopyRequest.model_validate(structured.request).model_copy(
            update={"k": 2, "brand": brand_id}
        )
        seen = _ComponentsSeen()
        model = self.make_model(retailer=request.retailer, brand=brand_id, task=task, callbacks=[seen])
        # a brand without a policy pack of its own is judged by the baseline and retailer packs
        own = brand_id if brand_id in available_packs()["brands"] else None
        result = generate_copy(request, model, packs=load_packs(request.retailer, own))
        if len(result.candidates) < 2:
            raise RuntimeError("the model gave only one distinct answer for this brief; try again")
        label = seen.label or "model"
        first, second = result.candidates[:2]
        return Candidate(render_answer(first.copy_text), label), Candidate(
            render_answer(second.copy_text), label
        )


class _ComponentsSeen(BaseCallbackHandler):
    """Remembers which adapters (with versions) the runtime said it composed."""

    def __init__(self) -> None:
        self.label = ""

    def on_llm_end(self, response: Any, **kwargs: Any) -> None:
        for generations in getattr(response, "generations", []):
            for generation in generations:
                message = getattr(generation, "message", None)
                components = (getattr(message, "response_metadata", None) or {}).get("components") or {}
                if components:
                    self.label = "+".join(f"{kind}:{name}" for kind, name in sorted(components.items()))


def runtime_generator(
    settings: Settings, tenant_id: str, *, api_key: str | None = None, service: Any = None
) -> GeneratorStatus:
    """Generator over the runtime at ``runtime.url`` (needs the tenant's key) or an in-process service."""
    if not settings.model.enabled:
        return GeneratorStatus(None, "the model is disabled in the configuration (model.enabled: false)")
    from rmnlora.adapters.chat_model import RmnChatModel

    if settings.runtime.url and service is None:
        if not api_key:
            return GeneratorStatus(
                None, f"sign in with your API key to use the model runtime at {settings.runtime.url}"
            )
        where = f"runtime at {settings.runtime.url}"
    else:
        where = "in-process model"

    def make_model(**options: Any) -> Any:
        return RmnChatModel.from_settings(
            settings,
            tenant=tenant_id,
            api_key=api_key,
            service=service,
            max_new_tokens=settings.model.max_new_tokens,
            **options,
        )

    return GeneratorStatus(ChatModelPairGenerator(make_model), where)
