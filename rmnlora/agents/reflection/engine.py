"""ReflectionEngine: the seed's interface (context, confidence, risks, biases, frames, decision).

The engine only records and decides; the numbers come from the assessors (``assessors.py``),
which compute confidence, risks and bias flags from each agent's measured signals. ``reflect``
runs an assessor and the decision in one call, which is what the planner graph uses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from rmnlora.schemas.reflection import (
    AlternateFrame,
    BiasFlag,
    BiasType,
    ConfidenceFactor,
    MemoryRef,
    Phase,
    PhaseSignals,
    ReflectionDecision,
    Risk,
    Severity,
)

if TYPE_CHECKING:
    from sqlmodel import Session

    from rmnlora.config import Settings
    from rmnlora.storage.models import ReflectionLog


class ReflectionContext(BaseModel):
    """The working record of one reflection; mutable, JSON-serialisable."""

    phase: Phase
    session_id: str
    threshold: float
    max_revisions: int = 0
    revisions_used: int = 0
    confidence: float | None = None
    confidence_source: str = "unset"
    rationale: list[str] = Field(default_factory=list)
    supporting: list[str] = Field(default_factory=list)
    contradicting: list[str] = Field(default_factory=list)
    factors: list[ConfidenceFactor] = Field(default_factory=list)
    signals: dict[str, Any] = Field(default_factory=dict)
    risks: list[Risk] = Field(default_factory=list)
    biases: list[BiasFlag] = Field(default_factory=list)
    alternate_frames: list[AlternateFrame] = Field(default_factory=list)
    memory_refs: list[MemoryRef] = Field(default_factory=list)
    changes: dict[str, Any] = Field(default_factory=dict)
    decision: ReflectionDecision | None = None


def parse_phase(phase: Phase | str) -> Phase:
    """A Phase from its value; an unknown name is an error listing the valid ones."""
    if isinstance(phase, Phase):
        return phase
    try:
        return Phase(str(phase).strip().lower())
    except ValueError:
        valid = ", ".join(p.value for p in Phase)
        raise ValueError(f"unknown reflection phase {phase!r}; expected one of: {valid}") from None


class ReflectionEngine:
    """Records confidence, risks, biases and frames for a phase, and decides what happens next."""

    def __init__(
        self,
        default_threshold: float = 0.8,
        thresholds: Mapping[str, float] | None = None,
        max_revisions: int = 2,
    ) -> None:
        if not 0.0 <= default_threshold <= 1.0:
            raise ValueError(f"default_threshold must be within [0, 1], got {default_threshold}")
        self.default_threshold = default_threshold
        self.thresholds = {parse_phase(k): float(v) for k, v in (thresholds or {}).items()}
        self.max_revisions = max_revisions

    @classmethod
    def from_settings(cls, settings: Settings) -> ReflectionEngine:
        section = settings.reflection
        return cls(section.default_threshold, section.thresholds, section.max_revisions)

    def threshold_for(self, phase: Phase | str) -> float:
        return self.thresholds.get(parse_phase(phase), self.default_threshold)

    # -- the seed's interface ------------------------------------------------------------------

    def create_context(
        self, phase: Phase | str, session_id: str, *, revisions_used: int = 0
    ) -> ReflectionContext:
        parsed = parse_phase(phase)
        return ReflectionContext(
            phase=parsed,
            session_id=session_id,
            threshold=self.threshold_for(parsed),
            max_revisions=self.max_revisions,
            revisions_used=revisions_used,
        )

    def set_confidence(
        self,
        ctx: ReflectionContext,
        value: float,
        rationale: str,
        supporting: Sequence[str] = (),
        contradicting: Sequence[str] = (),
        *,
        factors: Sequence[ConfidenceFactor] = (),
    ) -> None:
        """Record confidence. Without ``factors`` it is marked as a manual value in the audit trail."""
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"confidence must be within [0, 1], got {value}")
        ctx.confidence = float(value)
        ctx.confidence_source = "signals" if factors else "manual"
        ctx.factors = list(factors)
        ctx.rationale.append(rationale)
        ctx.supporting.extend(supporting)
        ctx.contradicting.extend(contradicting)

    def assess_risk(
        self,
        ctx: ReflectionContext,
        factor: str,
        severity: Severity,
        probability: float,
        impact: str,
        mitigation: str = "",
        *,
        triggered_by: Mapping[str, float | int | str | None] | None = None,
    ) -> Risk:
        risk = Risk(
            factor=factor,
            severity=severity,
            probability=probability,
            impact=impact,
            mitigation=mitigation,
            triggered_by=dict(triggered_by or {}),
        )
        ctx.risks.append(risk)
        return risk

    def check_bias(
        self,
        ctx: ReflectionContext,
        bias_type: BiasType | str,
        note: str,
        *,
        evidence: Mapping[str, float | int | str | None] | None = None,
    ) -> BiasFlag:
        flag = BiasFlag(type=BiasType(bias_type), note=note, evidence=dict(evidence or {}))
        ctx.biases.append(flag)
        return flag

    def add_alternate_frame(self, ctx: ReflectionContext, text: str, conclusion: str = "") -> AlternateFrame:
        frame = AlternateFrame(frame=text, conclusion=conclusion)
        ctx.alternate_frames.append(frame)
        return frame

    def add_memory_refs(self, ctx: ReflectionContext, refs: Iterable[MemoryRef]) -> None:
        ctx.memory_refs.extend(refs)

    def propose_change(self, ctx: ReflectionContext, key: str, value: Any) -> None:
        """Something the agent should change if the decision is revise (machine readable)."""
        ctx.changes[key] = value

    def decide(self, ctx: ReflectionContext) -> ReflectionDecision:
        """Compute the decision from what the context holds (see ``decision.py``)."""
        from rmnlora.agents.reflection.decision import decide

        return decide(ctx)

    def should_proceed(self, ctx: ReflectionContext) -> bool:
        return (ctx.decision or self.decide(ctx)).decision == "proceed"

    def make_decision(
        self, ctx: ReflectionContext, data: Mapping[str, Any] | None = None, rationale: str = ""
    ) -> ReflectionDecision:
        """Fix the decision on the context, with the caller's data summary and extra rationale."""
        decision = self.decide(ctx)
        updates: dict[str, Any] = {"data": dict(data or {})}
        if rationale:
            updates["rationale"] = f"{decision.rationale} {rationale}".strip()
        ctx.decision = decision.model_copy(update=updates)
        return ctx.decision

    def save_to_database(
        self, ctx: ReflectionContext, session: Session, *, tenant_id: str, run_id: str | None = None
    ) -> ReflectionLog:
        """Write the decision as a ReflectionLog row (making the decision first if needed)."""
        from rmnlora.storage.models import ReflectionLog

        decision = ctx.decision or self.make_decision(ctx)
        row = ReflectionLog(
            tenant_id=tenant_id,
            run_id=run_id,
            session_id=ctx.session_id,
            phase=decision.phase.value,
            decision=decision.decision,
            confidence=decision.confidence,
            threshold=decision.threshold,
            rationale=decision.rationale,
            signals={
                "signals": decision.signals,
                "factors": [f.model_dump(mode="json") for f in decision.factors],
                "changes": decision.changes,
                "revisions_used": decision.revisions_used,
            },
            risks=[r.model_dump(mode="json") for r in decision.risks],
            biases=[b.model_dump(mode="json") for b in decision.biases],
            alternate_frames=[f.model_dump(mode="json") for f in decision.alternate_frames],
            memory_refs=[m.model_dump(mode="json") for m in decision.memory_refs],
        )
        session.add(row)
        session.flush()
        return row

    # -- one call for the graph ----------------------------------------------------------------

    def reflect(
        self,
        phase: Phase | str,
        signals: PhaseSignals | Mapping[str, Any],
        *,
        session_id: str,
        memory_refs: Sequence[MemoryRef] = (),
        revisions_used: int = 0,
        data: Mapping[str, Any] | None = None,
    ) -> ReflectionContext:
        """Assess ``signals`` for ``phase``, decide, and return the context (``ctx.decision`` set)."""
        from rmnlora.agents.reflection.assessors import assess

        ctx = self.create_context(phase, session_id, revisions_used=revisions_used)
        assess(self, ctx, signals, memory_refs=memory_refs)
        self.make_decision(ctx, data)
        return ctx
