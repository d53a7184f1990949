"""Whether a candidate adapter replaces the served one: better by a stated margin, worse nowhere.

Plain rules a person can check against the figures, with every reason written down:
- *better*: held-out preference accuracy (what the feedback teaches) rises by ``margin`` or more;
- *worse nowhere*: usable-copy and governance pass rates fall by no more than ``tolerance``
  (points), and held-out loss rises by no more than ``loss_tolerance`` (relative).
A figure that cannot be computed (no held-out pairs) cannot show a gain, so there is no promotion.
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


def decide(current: VersionScores, candidate: VersionScores, rule: PromotionRule) -> Decision:
    deltas = {
        "preference_accuracy": _delta(current.preference_accuracy, candidate.preference_accuracy),
        "usable_rate": _delta(current.usable_rate, candidate.usable_rate),
        "policy_pass_rate": _delta(current.policy_pass_rate, candidate.policy_pass_rate),
        "heldout_loss": _delta(current.heldout_loss, candidate.heldout_loss),
    }
    reasons: list[str] = []
    better = False
    gain = deltas["preference_accuracy"]
    if gain is None:
        reasons.append("no held-out preference pairs to judge the candidate on")
    elif gain >= rule.margin:
        better = True
        reasons.append(
            f"preference accuracy {current.preference_accuracy:.0%} → {candidate.preference_accuracy:.0%} "
            f"(+{gain:.1%}, margin {rule.margin:.0%})"
        )
    else:
        reasons.append(
            f"preference accuracy {current.preference_accuracy:.0%} → {candidate.preference_accuracy:.0%} "
            f"({gain:+.1%}) is not the {rule.margin:.0%} gain a promotion needs"
        )
    regressed = False
    for name, label in (("usable_rate", "usable copy"), ("policy_pass_rate", "governance pass")):
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
