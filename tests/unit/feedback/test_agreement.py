"""Annotator agreement: Krippendorff's alpha per question, checked against hand-computed values."""

from __future__ import annotations

import pytest

from rmnlora.feedback.agreement import agreement_of, annotators_of
from rmnlora.storage.models import Feedback


def _pair(user: str, prompt: str, chosen: str, rejected: str) -> Feedback:
    return Feedback(
        tenant_id="t",
        brand_id="b",
        task="creative",
        feedback_type="preference",
        prompt=prompt,
        chosen=chosen,
        rejected=rejected,
        user=user,
    )


def _thumb(user: str, prompt: str, up: bool) -> Feedback:
    return Feedback(
        tenant_id="t",
        brand_id="b",
        task="creative",
        feedback_type="thumbs",
        prompt=prompt,
        response="r",
        thumbs_up=up,
        user=user,
    )


def test_perfect_agreement_is_one_and_the_sides_shown_do_not_matter() -> None:
    rows = [
        _pair("ann", "p1", "good", "bad"),
        _pair("bob", "p1", "good", "bad"),
        _pair("ann", "p2", "x", "y"),
        _pair("bob", "p2", "x", "y"),
    ]
    preference = agreement_of(rows)[0]
    assert preference.units == 2 and preference.annotations == 4
    assert preference.alpha == pytest.approx(1.0)


def test_alpha_matches_the_hand_computed_nominal_value() -> None:
    # Two annotators, four units, values (1,1), (0,0), (1,0), (0,0): observed disagreement 2/8 pairs...
    # Krippendorff nominal: n = 8 pairable values (five 0s, three 1s); D_o = 2 * 1 / 8 = 0.25,
    # D_e = 2 * 5 * 3 / (8 * 7) = 0.5357; alpha = 1 - D_o / D_e = 0.5333.
    rows = [
        _thumb("ann", "p1", True),
        _thumb("bob", "p1", True),
        _thumb("ann", "p2", False),
        _thumb("bob", "p2", False),
        _thumb("ann", "p3", True),
        _thumb("bob", "p3", False),
        _thumb("ann", "p4", False),
        _thumb("bob", "p4", False),
    ]
    thumbs = agreement_of(rows)[1]
    assert thumbs.alpha == pytest.approx(1 - 0.25 / (2 * 5 * 3 / 56), abs=1e-4)


def test_alpha_is_not_a_number_it_cannot_be() -> None:
    one_annotator = [_pair("ann", f"p{i}", "a", "b") for i in range(5)]
    preference = agreement_of(one_annotator)[0]
    assert preference.alpha is None and "two or more" in preference.note
    same = [_thumb(u, p, True) for u in ("ann", "bob") for p in ("p1", "p2")]
    assert agreement_of(same)[1].alpha is None and agreement_of(same)[1].note == "every answer is the same"


def test_annotator_counts_per_kind() -> None:
    rows = [_pair("ann", "p1", "a", "b"), _thumb("ann", "p1", True), _thumb("bob", "p2", False)]
    rows.append(
        Feedback(tenant_id="t", brand_id="b", task="creative", feedback_type="rating", prompt="p", rating=4)
    )
    counts = {c.user: c for c in annotators_of(rows)}
    assert (counts["ann"].preference, counts["ann"].thumbs, counts["ann"].total) == (1, 1, 2)
    assert counts["(no name)"].rating == 1 and counts["bob"].thumbs == 1
