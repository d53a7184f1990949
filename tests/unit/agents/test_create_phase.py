"""The creative phase: a revision that names formats writes only those again."""

from __future__ import annotations

import copy
from typing import Any

from rmnlora.agents.creative.phase import create_for_brief
from rmnlora.schemas.brief import parse_brief
from rmnlora.schemas.phases import CreateRevision
from tests.support.fake_chat import GOOD, GreedyOnlyChat
from tests.support.planner_fixtures import BASE_BRIEF


def _brief() -> Any:
    data = copy.deepcopy(BASE_BRIEF)
    data["tenant"] = "acme"
    data["name"] = "acme-phase"
    return parse_brief(data)


def test_regenerating_one_format_keeps_the_usable_copy_of_the_others() -> None:
    brief = _brief()
    first = create_for_brief(brief, lambda retailer: GreedyOnlyChat(responses=[GOOD], greedy=GOOD))
    keys = [f"{c.retailer}/{c.ad_format}" for c in first.copies]
    assert len(keys) >= 2
    target = keys[0]
    other = "Headline: Acme Crunch, baked golden\nBody: Whole grain oats in every bar.\nCTA: Shop now"
    calls: list[str] = []

    def model_for(retailer: str) -> GreedyOnlyChat:
        calls.append(retailer)
        return GreedyOnlyChat(responses=[other], greedy=other)

    again = create_for_brief(brief, model_for, CreateRevision(regenerate=[target]), previous=first)
    assert [f"{c.retailer}/{c.ad_format}" for c in again.copies] == keys  # the brief's order
    assert again.copies[0].candidates[0].copy_text.headline == "Acme Crunch, baked golden"
    for kept, before in zip(again.copies[1:], first.copies[1:], strict=True):
        assert kept == before
    everything = create_for_brief(brief, model_for, CreateRevision(regenerate=["all"]), previous=first)
    assert all(c.candidates[0].copy_text.headline == "Acme Crunch, baked golden" for c in everything.copies)
