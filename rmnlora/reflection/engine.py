"""ReflectionEngine: the seed's interface (context, confidence, risks, biases, frames, decision).

The engine only records and decides; the numbers come from the assessors (``assessors/``),
which compute confidence, risks and bias flags from each agent's measured signals. ``reflect``
runs an assessor and the decision in one call, which is what the planner graph uses.

The seed's task names are accepted as phases ("budgeting" is optimize, "creative" is create...),
so code written against the seed's example runs unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rmnlora.reflection.assessors import assess
from rmnlora.reflection.context import Evidence, ReflectionContext
from rmnlora.reflection.decision import decide
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
from rmnlora.storage.database import TENANT_KEY
from rmnlora.storage.models import ReflectionLog

if TYPE_CHECKING:
    from sqlmodel import Session

    from rmnlora.config import Settings


# The seed's task names (and the agents' names) for each phase.
PHASE_ALIASES: dict[str, Phase] = {
    "harmonization": Phase.HARMONIZE,
    "harmonizer": Phase.HARMONIZE,
    "data": Phase.HARMONIZE,
    "budgeting": Phase.OPTIMIZE,
    "budget": Phase.OPTIMIZE,
    "allocation": Phase.OPTIMIZE,
    "optimizer": Phase.OPTIMIZE,
    "optimization": Phase.OPTIMIZE,
    "measurement": Phase.MEASURE,
    "experiment": Phase.MEASURE,
    "creative": Phase.CREATE,
    "copy": Phase.CREATE,
    "governance": Phase.GOVERN,
    "compliance": Phase.GOVERN,
}


def parse_phase(phase: Phase | str) -> Phase:
    """A Phase from its value or a seed alias; an unknown name is an error listing the valid ones."""
    if isinstance(phase, Phase):
        return phase
    name = str(phase).strip().lower()
    if name in PHASE_ALIASES:
        return PHASE_ALIASES[name]
    try:
        return Phase(name)
    except ValueError:
        valid = ", ".join(p.value for p in Phase)
        aliases = ", ".join(sorted(PHASE_ALIASES))
        raise ValueError(
            f"unknown reflection phase {phase!r}; expected one of: {valid} (or an alias: {aliases})"
        ) from None


class ReflectionEngine:
    """Records confidence, risks, biases and frames for a phase, and decides what happens next."""

    def __init__(
        self,
        default_threshold: float = 0.8,
        thresholds: Mapping[str, float] | None = None,
        max_revisions: int = 2,
        revisable: Mapping[Phase | str, Iterable[str]] | None = None,
    ) -> None:
        """``revisable``: the change keys each phase's agent can apply (the planner passes its
        revision models), so a change no agent can make goes to a person in the first decision."""
        if not 0.0 <= default_threshold <= 1.0:
            raise ValueError(f"default_threshold must be within [0, 1], got {default_threshold}")
        self.default_threshold = default_threshold
        self.thresholds = {parse_phase(k): float(v) for k, v in (thresholds or {}).items()}
        self.max_revisions = max_revisions
        self.revisable = {parse_phase(k): sorted(v) for k, v in (revisable or {}).items()}

    @classmethod
    def from_settings(
        cls, settings: Settings, *, revisable: Mapping[Phase | str, Iterable[str]] | None = None
    ) -> ReflectionEngine:
        section = settings.reflection
        return cls(section.default_threshold, section.thresholds, section.max_revisions, revisable)

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
            revisable=self.revisable.get(parsed),
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
        ctx.set_confidence(value, rationale, supporting, contradicting, factors=factors)

    def assess_risk(
        self,
        ctx: ReflectionContext,
        factor: str,
        severity: Severity,
        probability: float,
        impact: str,
        mitigation: str = "",
        *,
        triggered_by: Evidence | None = None,
    ) -> Risk:
        return ctx.add_risk(factor, severity, probability, impact, mitigation, triggered_by=triggered_by)

    def check_bias(
        self,
        ctx: ReflectionContext,
        bias_type: BiasType | str,
        note: str,
        *,
        evidence: Evidence | None = None,
    ) -> BiasFlag:
        return ctx.flag_bias(bias_type, note, evidence=evidence)

    def add_alternate_frame(self, ctx: ReflectionContext, text: str, conclusion: str = "") -> AlternateFrame:
        return ctx.add_frame(text, conclusion)

    def add_memory_refs(self, ctx: ReflectionContext, refs: Iterable[MemoryRef]) -> None:
        ctx.add_memory_refs(refs)

    def propose_change(self, ctx: ReflectionContext, key: str, value: Any) -> None:
        """Something the agent should change if the decision is revise (machine readable)."""
        ctx.propose_change(key, value)

    def decide(self, ctx: ReflectionContext) -> ReflectionDecision:
        """Compute the decision from what the context holds (see ``decision.py``)."""
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
        self,
        ctx: ReflectionContext,
        session: Session,
        *,
        tenant_id: str | None = None,
        run_id: str | None = None,
    ) -> ReflectionLog:
        """Write the decision as a ReflectionLog row (making the decision first if needed).

        The tenant defaults to the session's own (``db.get_session(tenant_id=...)``), as in the
        seed's ``engine.save_to_database(context, db_session)``.
        """
        tenant_id = tenant_id or session.info.get(TENANT_KEY)
        if not tenant_id:
            raise ValueError(
                "save_to_database needs a tenant: pass tenant_id=..., or a session from "
                "db.get_session(tenant_id=...)"
            )
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
        ctx = self.create_context(phase, session_id, revisions_used=revisions_used)
        assess(ctx, signals, memory_refs=memory_refs)
        self.make_decision(ctx, data)
        return ctx
