"""Harmonize gate: how much of the data survived, how much history it spans, which retailers it covers."""

from __future__ import annotations

from dataclasses import dataclass

from rmnlora.reflection import bias
from rmnlora.reflection.assessors.scoring import bias_factor, clip
from rmnlora.reflection.context import ReflectionContext
from rmnlora.schemas.reflection import ConfidenceFactor, HarmonizeSignals


@dataclass(frozen=True)
class HarmonizeThresholds:
    quarantine_zero_score: float = 0.25  # a quarantine rate this high scores 0
    quarantine_critical: float = 0.5
    quarantine_high: float = 0.2
    quarantine_medium: float = 0.05
    unmapped_penalty: float = 0.1  # per unmapped source column
    short_history_ratio: float = 0.5  # of the days curve fitting wants


T = HarmonizeThresholds()


def assess_harmonize(ctx: ReflectionContext, s: HarmonizeSignals) -> list[ConfidenceFactor]:
    factors: list[ConfidenceFactor] = []
    why = "; ".join(f"{name}: {error}" for name, error in sorted(s.input_errors.items()))
    if s.rows_in == 0:
        ctx.add_risk(
            "no rows to plan on" + (f" ({why})" if why else ""),
            "critical",
            1.0,
            "no curve can be fitted",
            "fix the inputs named above" if why else "supply the retailer exports",
            triggered_by={"rows_in": 0, "unreadable_retailers": len(s.input_errors)},
        )
        return [ConfidenceFactor(name="rows", score=0.0, value=0, weight=2)]
    for retailer, warnings in sorted(s.mapping_warnings.items()):
        ctx.add_risk(
            f"{retailer}'s export contradicts its mapping: {warnings[0]}",
            "high",
            0.8,
            "spend or sales may be read from the wrong column: every return figure would be off",
            f"check the {retailer} mapping's columns against the export (rmn harmonize --propose)",
            triggered_by={"retailer": retailer, "failed_ratio_checks": len(warnings)},
        )
    for retailer, note in sorted(s.missing_crosswalks.items()):
        ctx.add_risk(
            f"{retailer}'s product crosswalk is missing: {note}",
            "medium",
            0.5,
            "products the brand does not sell are kept instead of quarantined, and these events "
            "cannot be joined to GTINs",
            f"put the crosswalk file the {retailer} mapping names next to its export",
            triggered_by={"retailer": retailer},
        )
    if s.mapping_warnings:
        factors.append(
            ConfidenceFactor(
                name="ratio_checks",
                score=0.2,
                value=len(s.mapping_warnings),
                weight=2,
            )
        )
    rate = s.rows_quarantined / s.rows_in
    top_reason = (
        max(s.quarantine_reasons, key=lambda k: s.quarantine_reasons[k]) if s.quarantine_reasons else None
    )
    factors.append(
        ConfidenceFactor(
            name="quarantine_rate",
            score=clip(1 - rate / T.quarantine_zero_score),
            value=round(rate, 4),
            weight=2,
        )
    )
    trig = {
        "rows_in": s.rows_in,
        "rows_quarantined": s.rows_quarantined,
        "quarantine_rate": round(rate, 4),
        "top_reason": top_reason,
    }
    fix = (
        f"fix the exports or mapping behind '{top_reason}'" if top_reason else "inspect the quarantine table"
    )
    if rate >= T.quarantine_critical:
        ctx.add_risk(
            f"{rate:.0%} of rows quarantined",
            "critical",
            0.95,
            "the plan would rest on a minority of the data",
            fix,
            triggered_by=trig,
        )
    elif rate >= T.quarantine_high:
        ctx.add_risk(
            f"{rate:.0%} of rows quarantined",
            "high",
            0.7,
            "returns may be misjudged for the affected lines",
            fix,
            triggered_by=trig,
        )
    elif rate >= T.quarantine_medium:
        ctx.add_risk(
            f"{rate:.0%} of rows quarantined",
            "medium",
            0.4,
            "some lines have gaps",
            fix,
            triggered_by=trig,
        )

    if s.missing_required_fields:
        ctx.add_risk(
            "required RMIS fields unmapped: " + ", ".join(s.missing_required_fields),
            "critical",
            1.0,
            "spend or returns cannot be computed",
            "map the fields for this retailer",
            triggered_by={"missing_required_fields": len(s.missing_required_fields)},
        )
        factors.append(
            ConfidenceFactor(name="required_fields", score=0.0, value=len(s.missing_required_fields))
        )
    n_unmapped = len(s.unmapped_columns)
    factors.append(
        ConfidenceFactor(
            name="unmapped_columns",
            score=clip(1 - T.unmapped_penalty * n_unmapped),
            value=n_unmapped,
            weight=0.5,
        )
    )
    if n_unmapped:
        ctx.add_risk(
            f"{n_unmapped} source column(s) unmapped",
            "medium",
            0.3,
            "information in those columns is ignored",
            "review the mapping proposals",
            triggered_by={"unmapped_columns": ",".join(s.unmapped_columns)},
        )
        ctx.propose_change("apply_mapping_proposals", list(s.unmapped_columns))

    days_ratio = s.coverage_days / s.required_days
    factors.append(ConfidenceFactor(name="coverage_days", score=clip(days_ratio), value=s.coverage_days))
    if days_ratio < T.short_history_ratio:
        ctx.add_risk(
            f"only {s.coverage_days} days of history",
            "medium",
            0.6,
            "response curves will be uncertain",
            "use an exploration split with stated priors",
            triggered_by={"coverage_days": s.coverage_days, "required_days": s.required_days},
        )

    if s.retailers_expected:
        have = [r for r in s.retailers_expected if r in set(s.retailers_with_data)]
        coverage = len(have) / len(s.retailers_expected)
        factors.append(
            ConfidenceFactor(name="retailer_coverage", score=coverage, value=round(coverage, 4), weight=1.5)
        )
        missing = [r for r in s.retailers_expected if r not in set(have)]
        if missing:
            spent = sum(s.current_spend_by_retailer.get(r, 0.0) for r in missing)
            ctx.add_risk(
                "no usable data for " + ", ".join(missing),
                "high" if coverage < 0.5 or spent > 0 else "medium",
                0.8,
                "these retailers would be planned blind",
                "obtain their exports or drop them from the brief",
                triggered_by={
                    "retailers_missing": len(missing),
                    "retailer_coverage": round(coverage, 4),
                    "missing_current_spend": spent,
                },
            )
        ctx.record_bias(
            bias.detect_survivorship(s.retailers_expected, s.retailers_with_data, s.current_spend_by_retailer)
        )

    ctx.add_frame(
        "worst case: every quarantined row belonged to the best-performing line",
        f"{rate:.0%} of rows unseen; "
        + ("tolerable" if rate < T.quarantine_medium else "the ranking of lines could change"),
    )
    ctx.add_frame(
        "cost vs benefit: fix the data first vs plan now",
        "plan now: the data are nearly complete"
        if rate < T.quarantine_medium and not s.missing_required_fields
        else "fixing the data first is cheaper than a misallocated budget",
    )
    factors.append(bias_factor(len(ctx.biases)))
    for name, error in sorted(s.input_errors.items()):  # some retailers read, these did not
        ctx.add_risk(
            f"{name} exports could not be read: {error}",
            "high",
            1.0,
            f"{name} is planned without its own data",
            "fix or replace the file named, then re-run",
            triggered_by={"retailer": name},
        )
    return factors
