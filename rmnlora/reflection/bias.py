"""Bias detectors: each looks at measured numbers and returns a flag with the numbers that tripped it.

A detector returns ``None`` when the data do not show the trap, so a flag always has evidence.
Thresholds are keyword arguments with defaults chosen to stay quiet on ordinary noise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from rmnlora.schemas.reflection import BiasFlag, BiasType, LineSignals


def _shares(values: Sequence[float]) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    total = array.sum()
    return array / total if total > 0 else np.zeros_like(array)


def _rank_corr(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman correlation (ranks, then Pearson); 0 when either side is constant."""
    ra = np.argsort(np.argsort(np.asarray(a, dtype=float))).astype(float)
    rb = np.argsort(np.argsort(np.asarray(b, dtype=float))).astype(float)
    if ra.std() == 0 or rb.std() == 0:
        return 0.0
    return float(np.corrcoef(ra, rb)[0, 1])


def _line_return(line: LineSignals) -> float:
    if line.history_roas is not None:
        return line.history_roas
    return line.predicted_return / line.planned_spend if line.planned_spend > 0 else 0.0


def detect_recency(
    lines: Sequence[LineSignals], *, tolerance: float = 0.3, min_share: float = 0.1
) -> BiasFlag | None:
    """The last weeks disagree with the full history on lines that carry real budget."""
    shares = _shares([line.planned_spend for line in lines])
    worst: tuple[float, LineSignals] | None = None
    disagreeing_share = 0.0
    for share, line in zip(shares, lines, strict=True):
        if line.recent_roas is None or not line.history_roas:
            continue
        gap = abs(line.recent_roas - line.history_roas) / line.history_roas
        if gap > tolerance:
            disagreeing_share += float(share)
            if worst is None or gap > worst[0]:
                worst = (gap, line)
    if worst is None or disagreeing_share < min_share:
        return None
    gap, line = worst
    return BiasFlag(
        type=BiasType.RECENCY,
        note=(
            f"recent ROAS disagrees with the full history on {disagreeing_share:.0%} of planned spend "
            f"(worst: {line.name}, recent {line.recent_roas:.2f} vs history {line.history_roas:.2f}); "
            "check which period the curves trust"
        ),
        evidence={
            "line": line.name,
            "recent_roas": line.recent_roas,
            "history_roas": line.history_roas,
            "relative_gap": round(gap, 4),
            "share_of_plan_disagreeing": round(disagreeing_share, 4),
        },
    )


def detect_anchoring(
    lines: Sequence[LineSignals], *, near: float = 0.1, spread: float = 1.5
) -> BiasFlag | None:
    """The plan stays near the current split although marginal returns differ a lot between lines."""
    if len(lines) < 2 or sum(line.current_spend for line in lines) <= 0:
        return None
    planned = _shares([line.planned_spend for line in lines])
    current = _shares([line.current_spend for line in lines])
    distance = float(0.5 * np.abs(planned - current).sum())
    funded = [line.marginal_roas for line in lines if line.planned_spend > 0]
    if len(funded) < 2 or min(funded) <= 0:
        ratio = float("inf") if funded and max(funded) > 0 else 1.0
    else:
        ratio = max(funded) / min(funded)
    if distance >= near or ratio < spread:
        return None
    return BiasFlag(
        type=BiasType.ANCHORING,
        note=(
            f"planned split moves only {distance:.0%} of budget from the current split while marginal ROAS "
            f"differs {ratio:.1f}x between funded lines: the curves say to reallocate"
        ),
        evidence={"split_distance": round(distance, 4), "marginal_roas_ratio": round(ratio, 4)},
    )


def detect_availability(
    lines: Sequence[LineSignals], *, volume_corr: float = 0.8, return_corr: float = 0.3
) -> BiasFlag | None:
    """Spend follows how much data a line has rather than what it returns."""
    if len(lines) < 3:
        return None
    planned = [line.planned_spend for line in lines]
    with_volume = _rank_corr(planned, [line.data_points for line in lines])
    with_return = _rank_corr(planned, [_line_return(line) for line in lines])
    if with_volume < volume_corr or with_return > return_corr:
        return None
    return BiasFlag(
        type=BiasType.AVAILABILITY,
        note=(
            f"planned spend ranks with data volume (rho {with_volume:.2f}) but not with return "
            f"(rho {with_return:.2f}): well-documented lines are favoured"
        ),
        evidence={
            "rank_corr_spend_volume": round(with_volume, 4),
            "rank_corr_spend_return": round(with_return, 4),
        },
    )


def detect_sunk_cost(
    lines: Sequence[LineSignals], roas_floor: float | None, *, min_share: float = 0.02, margin: float = 0.2
) -> BiasFlag | None:
    """Lines already running keep budget although their marginal ROAS is under the floor.

    With a floor on average ROAS, an optimum equalises marginal ROAS across lines, possibly below
    the floor; that is not a bias. A line is flagged only when its marginal ROAS is under the floor
    AND clearly (``margin``) under the best other funded line's: money would return more elsewhere.
    """
    floor = roas_floor if roas_floor is not None else 1.0
    budget = sum(line.planned_spend for line in lines)
    if budget <= 0:
        return None
    funded = [line for line in lines if line.planned_spend > 0]

    def reference(item: LineSignals) -> float:
        others = [other.marginal_roas for other in funded if other is not item]
        return max(others) if others else floor

    offenders = [
        line
        for line in funded
        if line.current_spend > 0
        and line.planned_spend / budget >= min_share
        and line.marginal_roas < floor
        and line.marginal_roas < (1 - margin) * reference(line)
    ]
    if not offenders:
        return None
    share = sum(line.planned_spend for line in offenders) / budget
    worst = min(offenders, key=lambda line: line.marginal_roas)
    return BiasFlag(
        type=BiasType.SUNK_COST,
        note=(
            f"{len(offenders)} running line(s) keep {share:.0%} of budget with marginal ROAS under the "
            f"floor {floor:.2f} (worst: {worst.name} at {worst.marginal_roas:.2f})"
        ),
        evidence={
            "lines": ",".join(line.name for line in offenders),
            "share_of_budget": round(share, 4),
            "worst_marginal_roas": worst.marginal_roas,
            "floor": floor,
        },
    )


def detect_overconfidence(
    lines: Sequence[LineSignals],
    *,
    exploration_share: float = 0.0,
    min_points: int = 10,
    max_share: float = 0.25,
) -> BiasFlag | None:
    """Thin-history lines get a large, unhedged share of budget, or a near-perfect fit on few points."""
    budget = sum(line.planned_spend for line in lines)
    if budget <= 0:
        return None
    thin = [line for line in lines if line.planned_spend > 0 and line.data_points < min_points]
    thin_share = sum(line.planned_spend for line in thin) / budget
    overfit = [
        line
        for line in thin
        if line.fit_r2 is not None and line.fit_r2 >= 0.95 and line.data_points < min_points
    ]
    if thin_share - exploration_share < max_share and not overfit:
        return None
    return BiasFlag(
        type=BiasType.OVERCONFIDENCE,
        note=(
            f"{thin_share:.0%} of budget rests on lines with fewer than {min_points} history points "
            f"(exploration share {exploration_share:.0%})"
            + (
                f"; near-perfect fits on thin data: {', '.join(line.name for line in overfit)}"
                if overfit
                else ""
            )
        ),
        evidence={
            "thin_lines": ",".join(line.name for line in thin),
            "thin_share": round(thin_share, 4),
            "exploration_share": exploration_share,
            "overfit_lines": len(overfit),
        },
    )


def detect_survivorship(
    expected: Sequence[str], with_data: Sequence[str], current_spend: Mapping[str, float] | None = None
) -> BiasFlag | None:
    """The plan is built only on the retailers whose data made it through, not on all that were asked."""
    missing = [name for name in expected if name not in set(with_data)]
    if not missing:
        return None
    spend = current_spend or {}
    missing_spend = sum(spend.get(name, 0.0) for name in missing)
    total_spend = sum(spend.values())
    return BiasFlag(
        type=BiasType.SURVIVORSHIP,
        note=(
            f"{len(missing)} of {len(expected)} retailers have no usable data ({', '.join(missing)}); "
            "conclusions drawn from the rest may not hold for them"
        ),
        evidence={
            "missing": ",".join(missing),
            "expected": len(expected),
            "missing_current_spend_share": round(missing_spend / total_spend, 4) if total_spend > 0 else None,
        },
    )


def detect_confirmation(
    expected_lift: float, historical_lift: float | None, *, ratio: float = 2.0
) -> BiasFlag | None:
    """The design is sized for the lift we hope for, well above what past experiments found."""
    if historical_lift is None or historical_lift <= 0 or expected_lift <= ratio * historical_lift:
        return None
    return BiasFlag(
        type=BiasType.CONFIRMATION,
        note=(
            f"expected lift {expected_lift:.1%} is {expected_lift / historical_lift:.1f}x the lift past "
            f"experiments measured ({historical_lift:.1%}): the test is sized to confirm a hoped-for result"
        ),
        evidence={"expected_lift": expected_lift, "historical_lift": historical_lift},
    )
