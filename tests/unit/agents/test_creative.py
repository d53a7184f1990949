"""Creative agent: template copy, parsing/cleaning/ranking of model output, and the real SmolLM2."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from rmnlora.agents.creative import (
    CreativeError,
    clean_copy,
    generate_copy,
    load_format_spec,
    load_format_specs,
    parse_copy,
)
from rmnlora.agents.creative.formats import FormatSpecError
from rmnlora.agents.creative.generate import DEFAULT_SAMPLING
from rmnlora.schemas.creative import CopyRequest
from rmnlora.schemas.governance import AdCopy

FORMATS = [(r, f) for r in ("walmart", "amazon", "kroger") for f in load_format_specs(r)]


class RecordingFakeChat(GenericFakeChatModel):
    """langchain-core's fake chat model, recording the keyword arguments of each call."""

    calls: list[dict[str, Any]] = []

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):  # type: ignore[no-untyped-def]
        self.calls.append({"messages": messages, **kwargs})
        return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)


def _request(**overrides: Any) -> CopyRequest:
    values: dict[str, Any] = {
        "retailer": "walmart",
        "brand": "acme-snacks",
        "ad_format": "sponsored_brands",
        "product": "Acme Crunch granola bars",
        "key_message": "Made with whole grain oats",
        "k": 3,
    }
    return CopyRequest(**{**values, **overrides})


def _fits(copy: AdCopy, retailer: str, ad_format: str) -> bool:
    spec = load_format_spec(retailer, ad_format)
    return (
        len(copy.headline) <= spec.headline_max
        and len(copy.body) <= spec.body_max
        and len(copy.cta) <= spec.cta_max
    )


@pytest.mark.parametrize(("retailer", "ad_format"), FORMATS)
def test_template_copy_is_labelled_fits_and_passes(retailer: str, ad_format: str) -> None:
    result = generate_copy(_request(retailer=retailer, ad_format=ad_format, k=3), None)
    assert result.source == "template" and len(result.candidates) == 3
    assert any("template" in note for note in result.notes)
    assert len({c.copy_text.model_dump_json() for c in result.candidates}) == 3
    for candidate in result.candidates:
        assert candidate.source == "template" and candidate.raw is None
        assert candidate.governance.passed, candidate.governance.violations
        assert _fits(candidate.copy_text, retailer, ad_format)


@pytest.mark.parametrize(
    "text",
    [
        "Headline: Crunchy oats\nBody: Acme Crunch bars.\nCTA: Shop now",
        '{"headline": "Crunchy oats", "body": "Acme Crunch bars.", "cta": "Shop now"}',
        "**Headline:** Crunchy oats\n- **Body:** Acme Crunch bars.\n- **CTA:** Shop now",
        'Sure! Here it is:\n```json\n{"Title": "Crunchy oats", "Text": "Acme Crunch bars.", '
        '"Button": "Shop now"}\n```',
    ],
)
def test_parse_accepts_the_shapes_small_models_answer_in(text: str) -> None:
    copy = parse_copy(text)
    cleaned, _ = clean_copy(copy, load_format_spec("walmart", "sponsored_brands"))
    assert (cleaned.headline, cleaned.body, cleaned.cta) == ("Crunchy oats", "Acme Crunch bars.", "Shop now")


def test_unlabelled_prose_becomes_headline_and_body() -> None:
    copy = parse_copy("Crunchy oats for busy days\nAcme Crunch bars in every lunchbox.")
    assert copy.headline == "Crunchy oats for busy days"
    assert copy.body == "Acme Crunch bars in every lunchbox."


def test_echoed_request_lines_are_not_copy() -> None:
    copy = parse_copy(
        "Brand: Acme-Snacks\nProduct: Acme Crunch granola bars\nCrunchy oats, honey sweet\nTone: friendly"
    )
    assert copy.headline == "Crunchy oats, honey sweet" and copy.body == ""


def test_cleaner_fits_the_format_and_says_what_it_changed() -> None:
    spec = load_format_spec("amazon", "sponsored_brands")
    long = AdCopy(
        headline="Acme Crunch granola bars with whole grain oats and golden honey", body="x y", cta=""
    )
    cleaned, notes = clean_copy(long, spec)
    assert len(cleaned.headline) <= spec.headline_max and not cleaned.headline.endswith(" ")
    assert cleaned.headline == "Acme Crunch granola bars with whole grain oats and"
    assert cleaned.body == "" and cleaned.cta == spec.allowed_ctas[0]
    assert any("trimmed the headline" in n for n in notes)
    assert any("dropped the body" in n for n in notes) and any("no CTA" in n for n in notes)


def test_an_over_long_body_is_cut_after_its_last_whole_sentence_that_fits() -> None:
    spec = load_format_spec("walmart", "sponsored_brands")
    first = "Acme Crunch bars are baked from whole grain oats."
    body = f"{first} Pack one for the trail, the commute and every lunchbox in the house this week."
    assert len(first) >= spec.body_max // 2 and len(body) > spec.body_max
    cleaned, notes = clean_copy(AdCopy(headline="Acme Crunch", body=body, cta="Shop now"), spec)
    assert cleaned.body == first
    assert any("trimmed the body" in n for n in notes)
    # no sentence end within the limit: cut at a word boundary, and the judge sees the hanging phrase
    words = "Acme Crunch bars are baked from whole grain oats and golden honey " * 3
    cleaned, _ = clean_copy(AdCopy(headline="Acme Crunch", body=words, cta="Shop now"), spec)
    assert len(cleaned.body) <= spec.body_max and not cleaned.body.endswith(".")


def test_model_candidates_are_governed_and_ranked_by_likelihood() -> None:
    replies = iter(
        2
        * [
            AIMessage(
                "Headline: The #1 granola bar\nBody: Cures hunger.\nCTA: Shop now",
                response_metadata={"mean_logprob": -0.2},
            ),
            AIMessage(
                "Headline: Crunchy oat bars\nBody: Acme Crunch, baked golden.\nCTA: Shop now",
                response_metadata={"mean_logprob": -1.5},
            ),
            AIMessage(
                "Headline: Acme Crunch granola bars\nBody: Made with whole grain oats.\nCTA: Add to cart",
                response_metadata={"logprobs": [-0.4, -0.6, -0.5]},
            ),
        ]
    )
    chat = RecordingFakeChat(messages=replies)
    chat.calls = []
    result = generate_copy(_request(k=3), chat)
    assert result.source == "model"
    headlines = [c.copy_text.headline for c in result.candidates]
    assert headlines == ["Acme Crunch granola bars", "Crunchy oat bars", "The #1 granola bar"]
    assert [c.governance.passed for c in result.candidates] == [True, True, False]
    assert result.candidates[0].likelihood == pytest.approx(-0.5)
    assert "adapter likelihood" in result.ranking and "not used" not in result.ranking
    assert all(c.source == "model" and c.raw for c in result.candidates)
    assert any("1 of 3 candidates fail governance" in note for note in result.notes)
    # the prompt carries the format's limits; the first call is greedy, the rest sample
    system = chat.calls[0]["messages"][0].content
    assert "at most 45 characters" in system and "Shop now" in system
    # the refused answer is drawn again (best-of-K with rejection); the budget is 2k draws, and the
    # answers that come back are repeats, so the refused one is shown last
    # draws go out concurrently in waves, so the calls are compared as a multiset
    assert sorted(call["temperature"] for call in chat.calls) == [0.0] + [DEFAULT_SAMPLING.temperature] * 5
    assert sorted((call.get("top_p") or 0) for call in chat.calls) == [0] + [DEFAULT_SAMPLING.top_p] * 5
    assert result.draws == 6


def test_a_repeated_answer_is_drawn_again_so_the_buyer_gets_k_different_options() -> None:
    same = "Headline: Acme Crunch granola bars\nBody: Made with whole grain oats.\nCTA: Shop now"
    # the second answer differs only in case and spacing: the same option for a buyer
    other = "Headline: Acme Crunch, baked golden\nBody: Whole grain oats in every bar.\nCTA: Shop now"
    chat = RecordingFakeChat(messages=iter([same, same.upper().replace(" ", "  "), other, same]))
    chat.calls = []
    result = generate_copy(_request(k=2), chat)
    assert [c.copy_text.headline for c in result.candidates] == [
        "Acme Crunch granola bars",
        "Acme Crunch, baked golden",
    ]
    assert len(chat.calls) == 3
    assert any("1 model answers repeated an earlier candidate" in n for n in result.notes)


def test_an_unusable_answer_is_drawn_again_and_a_usable_one_takes_its_place() -> None:
    chatter = "Headline: Here is a revised version of the ad\nBody: I hope this helps.\nCTA: Shop now"
    first = "Headline: Acme Crunch granola bars\nBody: Made with whole grain oats.\nCTA: Shop now"
    second = "Headline: Acme Crunch, baked golden\nBody: Whole grain oats in every bar.\nCTA: Shop now"
    chat = RecordingFakeChat(messages=iter([chatter, first, second]))
    chat.calls = []
    result = generate_copy(_request(k=2), chat)
    assert [c.copy_text.headline for c in result.candidates] == [
        "Acme Crunch granola bars",
        "Acme Crunch, baked golden",
    ]
    assert all(c.governance.passed for c in result.candidates) and result.draws == 3
    assert any("1 unusable model answers were drawn again" in n for n in result.notes)


def test_draws_stop_after_k_extra_and_say_how_many_distinct_candidates_there_are() -> None:
    same = "Headline: Acme Crunch granola bars\nBody: Made with whole grain oats.\nCTA: Shop now"
    chat = RecordingFakeChat(messages=iter([same] * 10))
    chat.calls = []
    result = generate_copy(_request(k=3), chat)
    assert len(result.candidates) == 1 and len(chat.calls) == 6
    assert any("only 1 distinct candidates of 3" in n for n in result.notes)


def test_ranking_says_when_the_model_reports_no_likelihood() -> None:
    chat = GenericFakeChatModel(
        messages=iter(2 * ["Headline: Oat bars\nCTA: Shop now", "Headline: Acme Crunch"])
    )
    result = generate_copy(_request(k=2), chat)
    assert result.candidates[0].likelihood is None
    assert "adapter likelihood not used" in result.ranking


def test_model_failure_is_an_error_not_a_silent_template() -> None:
    chat = GenericFakeChatModel(messages=iter([]))  # exhausted: raises on the first call
    with pytest.raises(CreativeError, match="GenericFakeChatModel failed"):
        generate_copy(_request(k=1), chat)


def test_unknown_format_names_the_known_ones() -> None:
    with pytest.raises(FormatSpecError, match="display, sponsored_brands"):
        generate_copy(_request(ad_format="video"), None)


# ---- the real SmolLM2 through composed (retailer + brand + task) adapters ------------------------


@pytest.fixture(scope="module")
def smollm2_chat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from rmnlora.adapters.base_model import load_base_model
    from rmnlora.adapters.chat_model import RmnChatModel
    from rmnlora.adapters.registry import AdapterRegistry
    from rmnlora.adapters.service import InferenceService
    from rmnlora.config import load_settings
    from rmnlora.storage import init_db
    from rmnlora.storage.tenants import register_tenant
    from tests.support.adapter_helpers import make_lora

    root: Path = tmp_path_factory.mktemp("smollm2")
    settings = load_settings(data_dir=root, model={"device": "cpu"})
    database = init_db(f"sqlite:///{root / 'rmn.db'}", secret_key="creative-test-secret")
    with database.get_session() as session:
        register_tenant(session, "acme", "Acme Snacks")
    registry = AdapterRegistry(database, root / "adapters")

    def build() -> Any:
        return load_base_model(settings)[0]

    registry.register("retailer", "walmart", make_lora(build, root / "l1", seed=1, rank=4, scale=0.01))
    registry.register(
        "brand",
        "acme-snacks",
        make_lora(build, root / "l2", seed=2, rank=4, scale=0.01),
        owner_tenant_id="acme",
    )
    registry.register("task", "creative", make_lora(build, root / "l3", seed=3, rank=4, scale=0.01))
    model, tokenizer = load_base_model(settings)
    service = InferenceService(model, tokenizer, registry, max_wait_ms=0, default_max_new_tokens=48)
    chat = RmnChatModel(
        tenant="acme",
        retailer="walmart",
        brand="acme-snacks",
        task="creative",
        service=service,
        max_new_tokens=48,
    )
    yield chat
    service.close()
    database.dispose()


@pytest.mark.slow
def test_real_smollm2_copy_respects_format_limits_after_governance(smollm2_chat: Any) -> None:
    request = _request(ad_format="display", k=3)
    result = generate_copy(request, smollm2_chat)
    assert result.source == "model" and len(result.candidates) == 3
    reply_components = smollm2_chat.invoke("Say hi.").response_metadata["components"]
    assert reply_components == {"retailer": "walmart", "brand": "acme-snacks", "task": "creative"}
    for candidate in result.candidates:
        assert candidate.raw is not None
        print(repr(candidate.raw), "->", candidate.copy_text.model_dump(), candidate.governance.passed)
    for candidate in result.passing:
        assert _fits(candidate.copy_text, "walmart", "display")
        assert not any(v.kind == "length_limit" for v in candidate.governance.violations)
