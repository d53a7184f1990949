"""The copy-quality judge: what is not ad copy never passes governance, hand-written copy always does,
and the create gate regenerates, then escalates, a format left with no usable candidate."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from rmnlora.agents.creative import generate_copy, load_format_spec, load_format_specs
from rmnlora.agents.creative.prompts import brief_facts
from rmnlora.agents.governance import (
    QUALITY,
    check_copy,
    format_pack,
    judge_copy,
    load_packs,
    review_copy,
)
from rmnlora.planner.signals import create_signals, govern_signals
from rmnlora.reflection import ReflectionEngine
from rmnlora.schemas.creative import CopyCandidate, CopyRequest, CreativeResult
from rmnlora.schemas.governance import AdCopy, GovernanceResult
from rmnlora.schemas.phases import CleanRoomCheck, CreateResult, GovernedCopy, GovernResult
from rmnlora.training.corpus import load_corpus
from tests.support.copy_corpus import CORPUS_DIR, corpus_products, garbage_answers
from tests.support.fake_chat import GIBBERISH, GOOD, GreedyOnlyChat

PRODUCT = "Acme Crunch granola bars"
BRAND = "acme-snacks"
ENGINE = ReflectionEngine(0.6, max_revisions=2, revisable={"create": ["candidates", "regenerate"]})


def _rules(copy: AdCopy, **kw: Any) -> set[str]:
    return {v.rule_id for v in judge_copy(copy, **{"product": PRODUCT, "brand": BRAND, **kw})}


# ---- the judge ------------------------------------------------------------------------------------


ISSUE_QUOTES = [row for row in garbage_answers() if row["batch"] == "issue"]


@pytest.mark.parametrize("row", ISSUE_QUOTES, ids=[r["headline"][:30] for r in ISSUE_QUOTES])
def test_each_quoted_bad_output_is_rejected_with_its_rule(row: dict[str, Any]) -> None:
    found = judge_copy(
        AdCopy(headline=row["headline"], cta=row["cta"]), product=row["product"], brand=row["brand"]
    )
    assert row["rule"] in {v.rule_id for v in found}
    for violation in found:
        assert violation.kind == "copy_quality" and violation.severity == "critical"
        assert violation.rule_id.startswith("quality:") and violation.message and violation.suggestion


@pytest.mark.parametrize(
    ("copy", "rule"),
    [
        (
            AdCopy(headline="Acme Crunch granola bars", body="Crunch crunch crunch, every morning."),
            "repetition",
        ),
        (AdCopy(headline="Acme Crunch", body="Serves 4 Serves 4 Serves 4 Serves 4."), "repetition"),
        (AdCopy(headline="Acme Crunch!!!!"), "repetition"),
        (AdCopy(headline='We have a new "Healthy Acme bar'), "unbalanced"),
        (AdCopy(headline="Acme Crunch (whole grain oats"), "unbalanced"),
        (AdCopy(headline="Meet [Product Name] from Acme"), "placeholder"),
        (AdCopy(headline="Acme Crunch 2014.2.49.1.2"), "number_salad"),
        (AdCopy(headline="Acme", body="1234 5678 90-12."), "number_salad"),
        (AdCopy(headline="1. Acme Crunch granola bars"), "number_salad"),
        (
            AdCopy(headline="Whole grain oats for busy mornings", body="Baked golden. Shop now."),
            "missing_product",
        ),
        (AdCopy(headline="Acne Crunch granola bars"), "misspelled_name"),
        (AdCopy(headline="Acme Crunch, baked with the"), "truncated"),
        (AdCopy(headline="Acme Crunch", body="Whole grain oats. Pack a bar for the trail and"), "truncated"),
        (
            AdCopy(headline="Acme Crunch", body="Whole grain oats, baked golden. Find Acme Crunch granola"),
            "truncated",
        ),
        (AdCopy(headline="Sure! Acme Crunch for mornings"), "chatter"),
        (AdCopy(headline="Acme Crunch granola bars", body="As an AI, I cannot taste them."), "chatter"),
        (AdCopy(headline="Acme Crunch", body="Headline: at most 45 characters."), "echoed_instruction"),
        (AdCopy(headline="Acme Crunch for the sponsored_brands slot"), "echoed_instruction"),
    ],
)
def test_each_kind_of_unusable_copy_is_named(copy: AdCopy, rule: str) -> None:
    assert f"quality:{rule}" in _rules(copy)


def test_a_violation_locates_what_it_matched() -> None:
    copy = AdCopy(headline="Acme Crunch granola bars", body="Here is a revised version of the ad copy.")
    (chatter,) = [v for v in judge_copy(copy, product=PRODUCT, brand=BRAND) if v.rule_id == "quality:chatter"]
    assert chatter.field == "body" and chatter.span is not None
    assert copy.body[chatter.span[0] : chatter.span[1]] == chatter.matched == "Here is a revised version"


def test_a_field_the_cleaner_cut_to_the_limit_mid_phrase_is_truncated() -> None:
    copy = AdCopy(headline="Brightside lemon all-purpose cleaner is a soapy")
    assert _rules(copy, product="Brightside lemon all-purpose cleaner", brand="Brightside") == set()
    cut = _rules(
        copy, product="Brightside lemon all-purpose cleaner", brand="Brightside", trimmed={"headline"}
    )
    assert cut == {"quality:truncated"}


def test_fluency_uses_the_calibrated_likelihood_floor_and_skips_unknown_likelihood() -> None:
    copy = AdCopy(headline="Acme Crunch granola bars", body="Whole grain oats, baked golden.", cta="Shop now")
    assert _rules(copy, likelihood=None) == set()
    assert _rules(copy, likelihood=QUALITY.min_mean_logprob + 0.01) == set()
    (fluency,) = judge_copy(copy, product=PRODUCT, brand=BRAND, likelihood=-10.8)
    assert fluency.rule_id == "quality:fluency" and fluency.matched == "-10.80"


ACME_FACTS = "\n".join(
    [
        "acme-snacks",
        PRODUCT,
        "Whole-grain crunch",
        "made with whole grain oats",
        "7 g sugar and 4 g protein per bar",
    ]
)


@pytest.mark.parametrize(
    ("copy", "matched"),
    [
        (AdCopy(headline="Acme Crunch granola bars", body="One bar, 8."), "8"),
        (AdCopy(headline="Acme Crunch granola bars", body="Now with 10 g protein per bar."), "10"),
        (AdCopy(headline="Gluten-free Acme Crunch granola bars"), "Gluten-free"),
        (AdCopy(headline="Acme Crunch granola bars", body="Organic oats, baked golden."), "Organic"),
        # the demo's Kroger copy once called the granola bars crackers
        (
            AdCopy(headline="Crunchy mornings", body="Acme Snacks whole grain crackers."),
            "Acme Snacks whole grain crackers",
        ),
    ],
)
def test_a_number_or_claim_the_brief_never_states_is_an_invented_fact(copy: AdCopy, matched: str) -> None:
    found = [
        v
        for v in judge_copy(copy, product=PRODUCT, brand=BRAND, facts=ACME_FACTS)
        if v.rule_id == "quality:unsupported_fact"
    ]
    assert [v.matched for v in found] == [matched]
    assert _rules(copy) - {"quality:unsupported_fact"} == _rules(copy), "not judged without the brief"


def test_a_serving_suggestion_is_not_a_product_named_as_another_kind() -> None:
    copy = AdCopy(
        headline="Acme Crunch granola bars",
        body="Acme Crunch is great with coffee, or crumbled over yogurt.",
        cta="Shop now",
    )
    assert _rules(copy, facts=ACME_FACTS) == set()


def test_numbers_and_claims_the_brief_states_may_be_repeated() -> None:
    copy = AdCopy(
        headline="Acme Crunch: whole grain oats",
        body="Only 7 g sugar, 4 g protein and whole grain oats in every bar.",
        cta="Shop now",
    )
    assert _rules(copy, facts=ACME_FACTS) == set()


def test_headlines_may_end_on_a_preposition_or_without_a_period() -> None:
    for headline in (
        "Acme Crunch: a breakfast worth waking for",
        "Spill? Grab an Acme Crunch",
        "Hello, Acme",
    ):
        assert _rules(AdCopy(headline=headline, cta="Shop now")) == set(), headline


def test_a_cited_ranking_and_a_question_answered_by_a_fragment_are_copy() -> None:
    """A '#1' claim is the policy packs' call, not number salad; 'Questions? Email us' is not cut off."""
    cited = AdCopy(headline="Acme Crunch granola bars", body="#1 granola bar in the Midwest (Circana 2025).")
    assert _rules(cited) == set()
    assert _rules(AdCopy(headline="Acme Crunch granola bars", body="Questions? Ask us anything")) == set()


def test_every_hand_written_corpus_copy_passes_the_judge_given_its_brief() -> None:
    corpus = load_corpus(CORPUS_DIR)
    examples = [*corpus.select("train"), *corpus.select("heldout")]
    assert len(examples) == 648
    rejected = {}
    for example in examples:
        found = judge_copy(
            example.copy.ad,
            product=example.product.name,
            brand=example.product.brand,
            facts=brief_facts(example.request, corpus.spec(example)),
        )
        if found:
            rejected[example.copy.id] = sorted(v.rule_id for v in found)
    assert rejected == {}


def test_template_copy_passes_the_judge_for_every_corpus_product_and_format() -> None:
    for retailer in ("walmart", "amazon", "kroger"):
        packs = load_packs(retailer)
        for ad_format in load_format_specs(retailer):
            for product in corpus_products().values():
                request = CopyRequest(
                    retailer=retailer,
                    brand=product["brand_id"],
                    ad_format=ad_format,
                    product=product["name"],
                    key_message=product["key_messages"][0],
                    k=5,
                )
                for candidate in generate_copy(request, None, packs=packs).candidates:
                    quality = [v.rule_id for v in candidate.governance.violations if v.kind == "copy_quality"]
                    assert quality == [], (retailer, ad_format, candidate.copy_text)


def test_the_labelled_base_model_answers_are_rejected() -> None:
    """Real SmolLM2 answers a person read and called unusable (recall measured on batch b, which
    was collected after the rules were written: see docs/governance.md)."""
    answers = [row for row in garbage_answers() if row["batch"].startswith("base-model")]
    assert len(answers) >= 40 and not any(row["usable"] for row in answers)
    caught = sum(
        bool(
            judge_copy(
                AdCopy(headline=row["headline"], body=row["body"], cta=row["cta"]),
                product=row["product"],
                brand=row["brand"],
                likelihood=row["likelihood"],
                trimmed=row["trimmed"],
            )
        )
        for row in answers
    )
    assert caught / len(answers) >= 0.95


# ---- the governance entry point -------------------------------------------------------------------


def test_review_copy_runs_the_packs_and_the_judge_and_check_copy_stays_policy_only() -> None:
    spec = load_format_spec("walmart", "sponsored_brands")
    packs = [*load_packs("walmart", BRAND), format_pack(spec, product=PRODUCT)]
    chatter = AdCopy(headline="I'm ready to assist you with your project", cta="Shop now")
    assert check_copy(chatter, packs).passed
    reviewed = review_copy(chatter, packs, product=PRODUCT, brand=BRAND)
    assert not reviewed.passed
    assert {"quality:chatter", "quality:missing_product"} <= {v.rule_id for v in reviewed.violations}
    assert "judge:copy_quality" in reviewed.packs
    claim = AdCopy(headline="The #1 Acme Crunch granola bar", cta="Shop now")
    assert {v.rule_id for v in review_copy(claim, packs, product=PRODUCT, brand=BRAND).violations} == {
        v.rule_id for v in check_copy(claim, packs).violations
    }


def _request(k: int = 3) -> CopyRequest:
    return CopyRequest(
        retailer="walmart",
        brand=BRAND,
        ad_format="sponsored_brands",
        product=PRODUCT,
        key_message="Busy mornings",
        k=k,
    )


def test_model_gibberish_fails_governance_with_the_quality_reason() -> None:
    result = generate_copy(_request(), FakeListChatModel(responses=GIBBERISH))
    assert result.passing == []
    for candidate in result.candidates:
        assert any(v.kind == "copy_quality" for v in candidate.governance.critical), candidate.copy_text


def test_the_usable_model_candidate_ranks_first() -> None:
    result = generate_copy(_request(), GreedyOnlyChat(responses=GIBBERISH, greedy=GOOD))
    assert len(result.passing) == 1
    assert result.best is not None and result.best.copy_text.headline == "Acme Crunch for busy mornings"


# ---- the create and govern gates ------------------------------------------------------------------


def _created(chat: FakeListChatModel, k: int = 3) -> CreateResult:
    return CreateResult(copies=[generate_copy(_request(k), chat)])


def test_create_signals_count_usable_candidates_and_keep_quality_out_of_policy_violations() -> None:
    signals = create_signals(None, _created(FakeListChatModel(responses=GIBBERISH)))  # type: ignore[arg-type]
    assert signals.usable_by_format == {"walmart/sponsored_brands": 0}
    reasons = signals.unusable_reasons["walmart/sponsored_brands"]
    assert any(r.startswith("quality:") and "of 3 candidates" in r for r in reasons)
    assert not any(v.rule.startswith("quality:") for v in signals.violations)


def test_no_usable_candidate_revises_the_format_then_escalates_with_the_reason() -> None:
    signals = create_signals(None, _created(FakeListChatModel(responses=GIBBERISH)))  # type: ignore[arg-type]
    first = ENGINE.reflect("create", signals, session_id="s").decision
    assert first is not None and first.decision == "revise"
    assert first.changes["regenerate"] == ["walmart/sponsored_brands"]
    last = ENGINE.reflect("create", signals, session_id="s", revisions_used=2).decision
    assert last is not None and last.decision == "escalate"
    assert "no usable copy for walmart/sponsored_brands" in last.rationale
    assert "quality:" in last.rationale


def test_one_usable_candidate_is_enough_to_proceed() -> None:
    signals = create_signals(None, _created(GreedyOnlyChat(responses=GIBBERISH, greedy=GOOD)))  # type: ignore[arg-type]
    assert signals.usable_by_format == {"walmart/sponsored_brands": 1}
    decision = ENGINE.reflect("create", signals, session_id="s").decision
    assert decision is not None and decision.decision != "escalate" and not decision.changes.get("regenerate")
    assert not any(r.severity in ("high", "critical") for r in decision.risks)


def test_an_unknown_format_stays_a_coverage_gap_not_a_regeneration() -> None:
    gap = CreativeResult(retailer="walmart", ad_format="billboard", source="none", ranking="")
    signals = create_signals(None, CreateResult(copies=[gap]))  # type: ignore[arg-type]
    assert signals.usable_by_format == {} and signals.formats_covered == 0


def test_unusable_copy_a_person_let_through_blocks_at_govern() -> None:
    best = generate_copy(_request(), FakeListChatModel(responses=GIBBERISH)).candidates[0]
    assert isinstance(best, CopyCandidate) and not best.governance.passed
    governed = GovernResult(
        budget=GovernanceResult(passed=True),
        copies=[GovernedCopy(retailer="walmart", ad_format="sponsored_brands", source="model", chosen=best)],
        clean_room=CleanRoomCheck(status="checked"),
    )
    signals = govern_signals(None, governed)  # type: ignore[arg-type]
    decision = ENGINE.reflect("govern", signals, session_id="s").decision
    assert decision is not None and decision.decision == "block"
    assert "quality:" in decision.rationale
    # The same verdict with usable copy chosen goes through: the block is the copy's.
    usable = generate_copy(_request(), GreedyOnlyChat(responses=GIBBERISH, greedy=GOOD)).candidates[0]
    fine = governed.model_copy(update={"copies": [governed.copies[0].model_copy(update={"chosen": usable})]})
    assert ENGINE.reflect("govern", govern_signals(None, fine), session_id="s").decision.decision != "block"  # type: ignore[arg-type,union-attr]
