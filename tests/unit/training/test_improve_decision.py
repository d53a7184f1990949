"""The promotion rule: better by the stated margin, worse nowhere beyond its tolerance, reasons written."""

from __future__ import annotations

from rmnlora.training.improve_decision import PromotionRule, decide
from rmnlora.training.improve_eval import VersionScores

RULE = PromotionRule(margin=0.05, tolerance=0.05, loss_tolerance=0.02)


def _scores(pref: float | None, usable: float = 0.8, policy: float = 1.0, loss: float = 1.5) -> VersionScores:
    return VersionScores(
        preference_accuracy=pref, usable_rate=usable, policy_pass_rate=policy, heldout_loss=loss
    )


def test_a_gain_of_the_margin_with_nothing_worse_is_promoted() -> None:
    decision = decide(_scores(0.50), _scores(0.60, usable=0.78, loss=1.52), RULE)
    assert decision.promote and decision.deltas["preference_accuracy"] == 0.6 - 0.5
    assert "no metric regressed" in decision.summary()


def test_a_gain_below_the_margin_is_refused_with_the_figures() -> None:
    decision = decide(_scores(0.50), _scores(0.53), RULE)
    assert not decision.promote and "is not the 5% gain" in decision.summary()


def test_a_gain_that_costs_usable_copy_or_loss_is_refused() -> None:
    usable = decide(_scores(0.5), _scores(0.9, usable=0.7), RULE)
    assert not usable.promote and "usable copy fell -10%" in usable.summary()
    loss = decide(_scores(0.5), _scores(0.9, loss=1.6), RULE)
    assert not loss.promote and "held-out loss rose 1.500 → 1.600" in loss.summary()


def test_no_held_out_pairs_means_no_promotion() -> None:
    decision = decide(_scores(None), _scores(None), RULE)
    assert not decision.promote and "no held-out preference pairs" in decision.summary()


def test_usable_copy_gained_with_preference_accuracy_at_its_ceiling_is_promoted() -> None:
    decision = decide(_scores(1.0, usable=0.33), _scores(1.0, usable=0.5), RULE)
    assert decision.promote and "usable copy 33% → 50%" in decision.summary()


def test_swapped_feedback_is_refused_even_when_the_copy_comes_out_more_usable() -> None:
    decision = decide(_scores(0.56, usable=0.5), _scores(0.44, usable=0.7), RULE)
    assert not decision.promote and "preference accuracy fell -12%" in decision.summary()
