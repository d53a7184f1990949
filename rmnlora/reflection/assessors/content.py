"""Create and govern gates: violations by severity, format coverage, usable copy per format, template
copy, budget, clean room."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rmnlora.reflection.assessors.scoring import clip
from rmnlora.reflection.context import ReflectionContext
from rmnlora.schemas.reflection import ConfidenceFactor, ContentSignals, CreateSignals, GovernSignals


@dataclass(frozen=True)
class ContentThresholds:
    critical_penalty: float = 0.5  # confidence lost per violation of each severity
    high_penalty: float = 0.25
    medium_penalty: float = 0.1
    low_penalty: float = 0.02
    template_score: float = 0.85  # labelled template copy instead of model copy
    # A format whose every candidate governance rejected (not ad copy, or a critical violation):
    # certain to need new copy before anything can run there.
    unusable_probability: float = 1.0
    clean_room_unchecked_score: float = 0.8


T = ContentThresholds()


def assess_content(ctx: ReflectionContext, s: ContentSignals) -> list[ConfidenceFactor]:
    counts = s.counts()
    factors = [
        ConfidenceFactor(
            name="violations",
            value=sum(counts.values()),
            score=clip(
                1
                - T.critical_penalty * counts["critical"]
                - T.high_penalty * counts["high"]
                - T.medium_penalty * counts["medium"]
                - T.low_penalty * counts["low"]
            ),
            weight=2,
        )
    ]
    by_sev: dict[str, list[Any]] = {}
    for violation in s.violations:
        by_sev.setdefault(violation.severity, []).append(violation)
    for severity in ("critical", "high", "medium"):
        items = by_sev.get(severity, [])
        if not items:
            continue
        rules = sorted({v.rule for v in items})
        ctx.add_risk(
            f"{len(items)} {severity} violation(s): " + ", ".join(rules),
            severity,  # type: ignore[arg-type]
            0.9 if severity == "critical" else 0.6,
            "copy or plan breaks " + ", ".join(rules),
            "remove the offending claims or terms" if severity != "critical" else "a person must rewrite it",
            triggered_by={severity: len(items)},
        )
        if severity == "high":
            _regenerate(ctx, sorted({v.target for v in items if v.target}) or ["all"])
            ctx.propose_change("avoid_rules", rules)
    if s.formats_expected:
        cov = s.formats_covered / s.formats_expected
        factors.append(ConfidenceFactor(name="format_coverage", score=clip(cov), value=round(cov, 4)))
        if s.candidates == 0:
            ctx.add_risk(
                "no copy candidates",
                "high",
                1.0,
                "nothing to run",
                "generate again",
                triggered_by={"candidates": 0},
            )
            _regenerate(ctx, ["all"])
    if isinstance(s, CreateSignals):
        factors += _assess_usable(ctx, s)
    if s.template_fallback_used or not s.model_available:
        factors.append(
            ConfidenceFactor(
                name="generation_model",
                score=T.template_score,
                value="template",
                note="model unavailable, template copy used",
            )
        )
        ctx.rationale.append("Creative used labelled template copy because the model is unavailable.")
        ctx.add_risk(
            "template copy instead of model copy",
            "low",
            1.0,
            "copy is generic",
            "configure the model and regenerate",
            triggered_by={"template_fallback_used": 1},
        )
    if isinstance(s, GovernSignals):
        if not s.budget_within_brief:
            ctx.add_risk(
                "no allocation within the brief's budget (none was made, or it breaks a budget check)",
                "critical",
                1.0,
                "overspend",
                "re-run the optimizer",
                triggered_by={"budget_within_brief": 0},
            )
            factors.append(ConfidenceFactor(name="budget_sanity", score=0.0, value=0))
        if not s.clean_room_checked:
            factors.append(
                ConfidenceFactor(
                    name="clean_room_check",
                    score=T.clean_room_unchecked_score,
                    value="skipped",
                    note="aggregation thresholds not verified",
                )
            )
            ctx.add_risk(
                "clean-room aggregation thresholds not verified",
                "medium",
                0.3,
                "audience counts could be below the minimum",
                "run the clean-room check",
                triggered_by={"clean_room_checked": 0},
            )
    ctx.add_frame(
        "worst case: the retailer's reviewer reads the copy strictly",
        "no blocking issue"
        if not (counts["critical"] or counts["high"])
        else f"{counts['critical'] + counts['high']} issue(s) would be rejected",
    )
    return factors


def _regenerate(ctx: ReflectionContext, targets: list[str]) -> None:
    """Propose writing ``targets`` again, merged with formats already proposed ('all' wins)."""
    current = ctx.changes.get("regenerate") or []
    merged = sorted(set(current) | set(targets))
    ctx.propose_change("regenerate", ["all"] if "all" in merged else merged)


def _assess_usable(ctx: ReflectionContext, s: CreateSignals) -> list[ConfidenceFactor]:
    """A format with no usable candidate is a high risk naming it and why; regenerate it (bounded by
    the engine's max_revisions), after which the high risk escalates to a person: unusable copy is
    never proceeded on."""
    if not s.usable_by_format:
        return []
    empty = sorted(target for target, n in s.usable_by_format.items() if n == 0)
    share = 1 - len(empty) / len(s.usable_by_format)
    for target in empty:
        reasons = s.unusable_reasons.get(target) or ["every candidate fails governance"]
        ctx.add_risk(
            f"no usable copy for {target}: " + "; ".join(reasons),
            "high",
            T.unusable_probability,
            "the format has no copy a buyer could run",
            "regenerate; if that fails, a person writes the copy",
            triggered_by={"format": target, "usable_candidates": 0},
        )
    if empty:
        _regenerate(ctx, empty)
    return [
        ConfidenceFactor(
            name="usable_copy",
            score=clip(share),
            value=round(share, 4),
            note=f"no usable candidate for {', '.join(empty)}" if empty else "",
        )
    ]
