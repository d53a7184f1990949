"""The decision rule: block, escalate, revise or proceed, and the rationale that says why.

Order matters and is deliberate:
1. any critical risk blocks, whatever the confidence (a plan on 60% quarantined data is not saved
   by good curve fits);
2. a high risk the agent cannot fix itself (no proposed change, or retries used up) needs a person;
3. any proposed change (assessors propose one only for something wrong) with retries left goes
   back to the agent, when the agent can apply it; one it cannot apply needs a person;
4. low confidence with nothing to change, or retries exhausted, needs a person;
5. otherwise proceed (noting changes left unapplied when retries ran out).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rmnlora.schemas.reflection import SEVERITY_RANK, DecisionKind, ReflectionDecision

if TYPE_CHECKING:
    from rmnlora.reflection.context import ReflectionContext


def _fmt(value: float) -> str:
    return f"{value:.2f}"


def decide(ctx: ReflectionContext) -> ReflectionDecision:
    if ctx.confidence is None:
        raise ValueError(
            f"reflection for phase {ctx.phase.value!r} has no confidence: call set_confidence or an assessor"
        )
    confidence = ctx.confidence
    critical = [r for r in ctx.risks if r.severity == "critical"]
    high = [r for r in ctx.risks if r.severity == "high"]
    retries_left = ctx.revisions_used < ctx.max_revisions
    has_changes = bool(ctx.changes)
    below = confidence < ctx.threshold

    applicable = ctx.applicable_changes()
    reasons: list[str] = []
    kind: DecisionKind
    if critical:
        kind = "block"
        reasons.append("critical risk: " + "; ".join(r.factor for r in critical) + ".")
    elif high and not (has_changes and retries_left):
        kind = "escalate"
        why = "no automatic change applies" if not has_changes else "revisions exhausted"
        reasons.append("high risk needs a person (" + why + "): " + "; ".join(r.factor for r in high) + ".")
    elif has_changes and retries_left and not applicable:
        kind = "escalate"
        reasons.append(f"No automatic revision can apply {sorted(ctx.changes)}: a person decides.")
    elif has_changes and retries_left:
        kind = "revise"
        reasons.append(
            f"revision {ctx.revisions_used + 1} of {ctx.max_revisions}: "
            + ", ".join(f"{k}={v}" for k, v in ctx.changes.items())
            + "."
        )
    elif below:
        kind = "escalate"
        why = "revisions exhausted" if has_changes else "no automatic change applies"
        reasons.append(f"confidence below threshold and {why}.")
    else:
        kind = "proceed"
        if has_changes:
            reasons.append(
                "revisions exhausted; proposed changes not applied: " + ", ".join(ctx.changes) + "."
            )

    head = (
        f"{ctx.phase.value}: {kind}; confidence {_fmt(confidence)} "
        f"{'<' if below else '>='} threshold {_fmt(ctx.threshold)}"
        + ("" if ctx.confidence_source == "signals" else f" (confidence source: {ctx.confidence_source})")
        + "."
    )
    weakest = sorted(ctx.factors, key=lambda f: f.score)[:3]
    weak_text = [
        f"{f.name}={_fmt(f.score)}" + (f" ({f.note})" if f.note else "") for f in weakest if f.score < 1
    ]
    parts = [head, *reasons]
    if weak_text:
        parts.append("weakest signals: " + ", ".join(weak_text) + ".")
    other = [r for r in ctx.risks if r.severity not in ("critical", "high")]
    if other:
        ranked = sorted(other, key=lambda r: -SEVERITY_RANK[r.severity])
        parts.append("other risks: " + "; ".join(f"{r.factor} ({r.severity})" for r in ranked) + ".")
    if ctx.biases:
        parts.append("bias flags: " + ", ".join(b.type.value for b in ctx.biases) + ".")
    parts.extend(ctx.rationale)
    return ReflectionDecision(
        phase=ctx.phase,
        session_id=ctx.session_id,
        decision=kind,
        confidence=confidence,
        threshold=ctx.threshold,
        rationale=" ".join(p for p in parts if p),
        signals=ctx.signals,
        factors=ctx.factors,
        risks=ctx.risks,
        biases=ctx.biases,
        alternate_frames=ctx.alternate_frames,
        memory_refs=ctx.memory_refs,
        changes=dict(ctx.changes) if has_changes and retries_left and not critical else {},
        revisions_used=ctx.revisions_used,
        max_revisions=ctx.max_revisions,
    )
