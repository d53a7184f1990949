"""Whether a candidate adapter replaces the served one: better by a stated margin, worse nowhere.

Plain rules a person can check against the figures, with every reason written down:
- *better*: held-out preference accuracy (what the feedback teaches) or the usable-copy rate (what
  the create gate counts) rises by ``margin`` or more. Both count because either can sit at its
  ceiling: a brand whose served version already ranks every held-out pair right can still gain
  usable copy, and a version that already writes usable copy can still learn the brand's taste;
- *worse nowhere*: preference accuracy, usable-copy and governance pass rates fall by no more than
  ``tolerance`` (points), and held-out loss rises by no more than ``loss_tolerance`` (relative), so
  feedback that teaches the wrong preference (chosen and rejected swapped) is refused even when
  the copy happens to come out usable.
A candidate with no held-out pairs cannot be checked against the feedback it learned: no promotion.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rmnlora.training.improve_eval import VersionScores


@dataclass(frozen=True)
class PromotionRule:
    margin: float = 0.05
    tolerance: float = 0.05
    loss_tolerance: float = 0.02


@dataclass(frozen=True)
class Decision:
    promote: bool
    reasons: list[str] = field(default_factory=list)
    deltas: dict[str, float | None] = field(default_factory=dict)

    def summary(self) -> str:
        verdict = "promoted" if self.promote else "kept the current version"
        return f"{verdict}: " + "; ".join(self.reasons)


def _delta(current: float | None, candidate: float | None) -> float | None:
    return None if current is None or candidate is None else candidate - current


def _gain_reason(
    name: str, before: float | None, after: float | None, rule: PromotionRule
) -> tuple[bool, str]:
    gain = _delta(before, after)
    if gain is None or before is None or after is None:
        return False, f"no held-out {name} to compare"
    if gain >= rule.margin:
        return True, f"{name} {before:.0%} → {after:.0%} (+{gain:.1%}, margin {rule.margin:.0%})"
    return False, (
        f"{name} {before:.0%} → {after:.0%} ({gain:+.1%}) is not the {rule.margin:.0%} gain a promotion needs"
    )


def decide(current: VersionScores, candidate: VersionScores, rule: PromotionRule) -> Decision:
    deltas = {
        "preference_accuracy": _delta(current.preference_accuracy, candidate.preference_accuracy),
        "usable_rate": _delta(current.usable_rate, candidate.usable_rate),
        "policy_pass_rate": _delta(current.policy_pass_rate, candidate.policy_pass_rate),
        "heldout_loss": _delta(current.heldout_loss, candidate.heldout_loss),
    }
    if deltas["preference_accuracy"] is None:
        return Decision(
            promote=False, reasons=["no held-out preference pairs to judge the candidate on"], deltas=deltas
        )
    reasons: list[str] = []
    gains = [
        _gain_reason("preference accuracy", current.preference_accuracy, candidate.preference_accuracy, rule),
        _gain_reason("usable copy", current.usable_rate, candidate.usable_rate, rule),
    ]
    better = any(gained for gained, _ in gains)
    reasons.extend(reason for gained, reason in gains if gained == better)
    regressed = False
    for name, label in (
        ("preference_accuracy", "preference accuracy"),
        ("usable_rate", "usable copy"),
        ("policy_pass_rate", "governance pass"),
    ):
        change = deltas[name]
        if change is not None and change < -rule.tolerance:
            regressed = True
            reasons.append(f"{label} fell {change:+.0%} (tolerance {rule.tolerance:.0%})")
    loss_change = deltas["heldout_loss"]
    if loss_change is not None and current.heldout_loss:
        relative = loss_change / current.heldout_loss
        if relative > rule.loss_tolerance:
            regressed = True
            reasons.append(
                f"held-out loss rose {current.heldout_loss:.3f} → {candidate.heldout_loss:.3f} "
                f"({relative:+.1%}, tolerance {rule.loss_tolerance:.0%})"
            )
    if better and not regressed:
        reasons.append("no metric regressed beyond its tolerance")
    return Decision(promote=better and not regressed, reasons=reasons, deltas=deltas)
