"""Scripted chat models for the creative path: gibberish a small model really writes, and one good answer."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models.fake_chat_models import FakeListChatModel

# Answers in the shapes SmolLM2-135M gives (issue 16): chatter, echoed instructions, number salad.
GIBBERISH = [
    "Here is a revised version of the text with slight",
    "I'm ready to assist you with your creative project",
    "Headline: #3.2.1.1\nBody: At most 90 characters. Choose one of: Shop now",
]
# Fits every format of the test brief (Kroger's 40-character headline is the shortest).
GOOD = "Headline: Acme Crunch for busy mornings\nBody: Whole grain oats, baked crunchy.\nCTA: Shop now"


class GreedyOnlyChat(FakeListChatModel):
    """The greedy call (temperature 0, the creative agent's first per format) answers ``greedy``;
    sampled calls cycle through ``responses``. So each format gets exactly one usable candidate."""

    greedy: str = ""

    def _call(self, *args: Any, **kwargs: Any) -> str:
        if self.greedy and kwargs.get("temperature") == 0.0:
            return self.greedy
        return super()._call(*args, **kwargs)
