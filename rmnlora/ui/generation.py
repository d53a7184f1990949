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

from rmnlora.config import Settings


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
        first, first_adapter = self._ask(prompt, brand=brand_id, task=task, temperature=0.0)
        second, second_adapter = self._ask(prompt, task=task, temperature=0.0)
        if second_adapter == first_adapter or second == first:
            second, second_adapter = self._ask(prompt, brand=brand_id, task=task, temperature=0.8)
            second_adapter += "@t0.8"
        return Candidate(first, first_adapter), Candidate(second, second_adapter)


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
