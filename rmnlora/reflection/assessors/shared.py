"""Factors every gate adds: parts that are unconfigured or down, and similar past scenarios that failed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rmnlora.reflection.assessors.scoring import clip
from rmnlora.reflection.context import ReflectionContext
from rmnlora.schemas.reflection import FAILED_OUTCOMES, ComponentStatus, ConfidenceFactor, MemoryRef


@dataclass(frozen=True)
class SharedThresholds:
    unconfigured_score: float = 0.85
    down_score: float = 0.7
    memory_similarity: float = 0.7  # a past failure this similar is a risk
    near_duplicate_similarity: float = 0.9  # ... and a high one from here


T = SharedThresholds()


def assess_components(
    ctx: ReflectionContext, components: Sequence[ComponentStatus]
) -> list[ConfidenceFactor]:
    factors = []
    for part in components:
        if part.status == "ok":
            continue
        score = T.unconfigured_score if part.status == "unconfigured" else T.down_score
        factors.append(
            ConfidenceFactor(name=f"component:{part.name}", score=score, value=part.status, note=part.detail)
        )
        ctx.rationale.append(f"{part.name} is {part.status}" + (f": {part.detail}." if part.detail else "."))
        ctx.add_risk(
            f"{part.name} {part.status}",
            "medium" if part.status == "down" else "low",
            1.0,
            "the step ran without it",
            f"configure or restart {part.name}",
            triggered_by={"component": part.name, "status": part.status},
        )
    return factors


def assess_memory(ctx: ReflectionContext, refs: Sequence[MemoryRef]) -> list[ConfidenceFactor]:
    ctx.add_memory_refs(refs)
    failures = [r for r in refs if r.outcome in FAILED_OUTCOMES and r.similarity >= T.memory_similarity]
    if not failures:
        return []
    worst = max(failures, key=lambda r: r.similarity)
    ctx.add_risk(
        f"a similar past scenario ended '{worst.outcome}' ({worst.scenario_id})",
        "high" if worst.similarity >= T.near_duplicate_similarity else "medium",
        round(worst.similarity, 4),
        "the same failure may repeat: " + worst.summary[:200],
        "review what went wrong last time",
        triggered_by={"similarity": round(worst.similarity, 4), "similar_failures": len(failures)},
    )
    return [
        ConfidenceFactor(
            name="similar_past_failure",
            score=clip(1 - 0.5 * worst.similarity),
            value=round(worst.similarity, 4),
        )
    ]
