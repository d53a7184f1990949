"""The working record of one reflection, and the few ways an assessor may add to it.

Assessors and the engine both write through these methods, so a risk, a bias flag or a proposed
change is recorded the same way whether it came from measured signals or from a person's code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, Field

from rmnlora.schemas.reflection import (
    AlternateFrame,
    BiasFlag,
    BiasType,
    ConfidenceFactor,
    MemoryRef,
    Phase,
    ReflectionDecision,
    Risk,
    Severity,
)

Evidence = Mapping[str, float | int | str | None]


class ReflectionContext(BaseModel):
    """Mutable and JSON-serialisable: it is logged whole once the decision is made."""

    phase: Phase
    session_id: str
    threshold: float
    max_revisions: int = 0
    revisions_used: int = 0
    revisable: list[str] | None = Field(
        default=None,
        description="Change keys the phase's agent can apply; None: the caller applies any change.",
    )
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

    def set_confidence(
        self,
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
        self.confidence = float(value)
        self.confidence_source = "signals" if factors else "manual"
        self.factors = list(factors)
        self.rationale.append(rationale)
        self.supporting.extend(supporting)
        self.contradicting.extend(contradicting)

    def add_risk(
        self,
        factor: str,
        severity: Severity,
        probability: float,
        impact: str,
        mitigation: str = "",
        *,
        triggered_by: Evidence | None = None,
    ) -> Risk:
        risk = Risk(
            factor=factor,
            severity=severity,
            probability=probability,
            impact=impact,
            mitigation=mitigation,
            triggered_by=dict(triggered_by or {}),
        )
        self.risks.append(risk)
        return risk

    def flag_bias(
        self, bias_type: BiasType | str, note: str, *, evidence: Evidence | None = None
    ) -> BiasFlag:
        flag = BiasFlag(type=BiasType(bias_type), note=note, evidence=dict(evidence or {}))
        self.biases.append(flag)
        return flag

    def record_bias(self, flag: BiasFlag | None) -> None:
        """Keep a detector's flag; detectors return None when they found nothing."""
        if flag is not None:
            self.biases.append(flag)

    def add_frame(self, text: str, conclusion: str = "") -> AlternateFrame:
        frame = AlternateFrame(frame=text, conclusion=conclusion)
        self.alternate_frames.append(frame)
        return frame

    def add_memory_refs(self, refs: Iterable[MemoryRef]) -> None:
        self.memory_refs.extend(refs)

    def propose_change(self, key: str, value: Any) -> None:
        """Something the agent should change if the decision is revise (machine readable)."""
        self.changes[key] = value

    def applicable_changes(self) -> dict[str, Any]:
        """The proposed changes the phase's agent can apply (all of them when that is unknown)."""
        if self.revisable is None:
            return dict(self.changes)
        return {k: v for k, v in self.changes.items() if k in self.revisable}
