"""Two real candidate responses for a preference comparison, from whatever model is configured.

The app never invents text: a generator either returns two model outputs (labelled with
where they came from) or is absent with the reason, and the app then says so and takes
hand-written A/B text instead. Tests inject a generator over the tiny in-process model.
"""

from __future__ import annotations

import importlib
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


class TransformersPairGenerator:
    """Two sampled continuations from a local causal LM (and tokenizer), different seeds."""

    def __init__(self, model: Any, tokenizer: Any, *, label: str, max_new_tokens: int = 48) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.label = label
        self.max_new_tokens = max_new_tokens

    def _encode(self, prompt: str) -> Any:
        if getattr(self.tokenizer, "chat_template", None):
            text = self.tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
            )
        else:
            text = prompt
        return self.tokenizer(text, return_tensors="pt")

    def _sample(self, inputs: Any, seed: int) -> str:
        import torch

        torch.manual_seed(seed)
        with torch.no_grad():
            output = self.model.generate(
                **inputs,
                do_sample=True,
                temperature=0.9,
                top_p=0.95,
                max_new_tokens=self.max_new_tokens,
                pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
            )
        new_tokens = output[0, inputs["input_ids"].shape[1] :]
        return str(self.tokenizer.decode(new_tokens, skip_special_tokens=True)).strip()

    def __call__(self, prompt: str, *, brand_id: str, task: str) -> tuple[Candidate, Candidate]:
        inputs = self._encode(prompt)
        first = self._sample(inputs, seed=1)
        second = self._sample(inputs, seed=2)
        for seed in range(3, 6):  # a small model can repeat itself; resample a few times
            if second != first:
                break
            second = self._sample(inputs, seed=seed)
        return Candidate(first, f"{self.label}#sample1"), Candidate(second, f"{self.label}#sample2")


def generator_from_settings(settings: Settings) -> GeneratorStatus:
    """The configured model as a generator, or the reason there is none (never a fake)."""
    if not settings.model.enabled:
        return GeneratorStatus(None, "the model is disabled in the configuration (model.enabled: false)")
    if settings.runtime.url:
        return _runtime_generator(settings)
    try:
        from rmnlora.adapters.base_model import load_base_model

        model, tokenizer = load_base_model(settings)
    except Exception as exc:  # shown to the person; the app still takes hand-written text
        return GeneratorStatus(None, f"the base model could not be loaded: {exc}")
    label = "base" if settings.model.base_model.startswith("bundled:") else settings.model.base_model
    generator = TransformersPairGenerator(
        model, tokenizer, label=label, max_new_tokens=settings.model.max_new_tokens
    )
    return GeneratorStatus(generator, f"in-process model {settings.model.base_model}")


def _runtime_generator(settings: Settings) -> GeneratorStatus:
    try:
        chat_model = importlib.import_module("rmnlora.adapters.chat_model")
    except ImportError as exc:
        return GeneratorStatus(
            None, f"the runtime client is not installed ({exc}); runtime {settings.runtime.url}"
        )
    factory = getattr(chat_model, "pair_generator", None)
    if factory is None:
        return GeneratorStatus(
            None, f"the runtime client cannot sample two responses yet; runtime {settings.runtime.url}"
        )
    try:
        return GeneratorStatus(factory(settings), f"runtime at {settings.runtime.url}")
    except Exception as exc:
        return GeneratorStatus(None, f"the runtime at {settings.runtime.url} is unavailable: {exc}")
