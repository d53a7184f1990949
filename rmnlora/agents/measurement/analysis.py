"""Lift analysis once results exist: paired difference-in-differences and synthetic control.

``paired_did`` is the estimator the geo design's power refers to, written over arrays with a
leading batch axis so thousands of simulated experiments run in one call; ``analyze_experiment``
is the same estimator on a real panel, returning a :class:`LiftResult`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl
from scipy import stats

from rmnlora.agents.measurement.panel import date_offset, history_from_events, history_matrix
from rmnlora.agents.measurement.randomization import RandomizationRuns, pair_flip_sets, randomization_runs
from rmnlora.schemas.measurement import ExperimentDesign, LiftResult, MarketHistory

SYNTHETIC_FIT_DAYS = 365
#: Other assignments a geo_pool analysis fits (p-values in steps of 1/200).
POOL_PLACEBOS = 199


@dataclass(frozen=True)
class PairedEstimate:
    """Arrays (one entry per batch element) of the paired DiD estimate."""

    att: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    p_value: np.ndarray
    treated_post_mean: np.ndarray


def paired_did(
    pre_t: np.ndarray, post_t: np.ndarray, pre_c: np.ndarray, post_c: np.ndarray, alpha: float
) -> PairedEstimate:
    """Paired DiD over pairs (last axis) of per-market period means; t interval across pairs."""
    d = (post_t - pre_t) - (post_c - pre_c)
    n = d.shape[-1]
    if n < 2:
        raise ValueError(f"paired analysis needs at least 2 pairs, got {n}")
    mean = d.mean(axis=-1)
    se = d.std(axis=-1, ddof=1) / np.sqrt(n)
    critical = stats.t.ppf(1 - alpha / 2, n - 1)
    t = np.divide(mean, se, out=np.zeros_like(mean), where=se > 0)
    p = 2 * stats.t.sf(np.abs(t), n - 1)
    return PairedEstimate(mean, mean - critical * se, mean + critical * se, p, post_t.mean(axis=-1))


def _as_history(data: pl.DataFrame | MarketHistory, kpi: str) -> MarketHistory:
    return data if isinstance(data, MarketHistory) else history_from_events(data, kpi)


def _windows(history: MarketHistory, design: ExperimentDesign, start: dt.date | None) -> tuple[int, int, int]:
    begin = start or design.flight_start
    if begin is None:
        raise ValueError("experiment start unknown: the design has no flight_start; pass start=")
    s = date_offset(history, begin)
    if s < 1:
        raise ValueError(f"no pre-period: data starts {history.start}, experiment starts {begin}")
    if s >= history.days:
        raise ValueError(f"no post-period data: data ends {history.end}, experiment starts {begin}")
    pre = min(design.pre_days or s, s)
    post = min(design.duration_days, history.days - s)
    return s, pre, post


def _result(
    design: ExperimentDesign,
    method: str,
    att: float,
    lo: float,
    hi: float,
    p: float,
    baseline: float,
    units: int,
    n: int,
    post: int,
    pre: int,
    alpha: float,
    notes: list[str],
) -> LiftResult:
    scale = baseline if baseline > 0 else float("nan")
    return LiftResult(
        kind=design.kind,
        method=method,  # type: ignore[arg-type]
        kpi=design.kpi,
        att=att,
        ci_low=lo,
        ci_high=hi,
        p_value=p,
        relative_lift=att / scale,
        relative_ci_low=lo / scale,
        relative_ci_high=hi / scale,
        incremental_total=att * units * post,
        confidence_level=1 - alpha,
        significant=bool(p <= alpha),
        n_units=n,
        post_days=post,
        pre_days=pre,
        notes=notes,
    )


def analyze_geo(
    data: pl.DataFrame | MarketHistory,
    design: ExperimentDesign,
    *,
    start: dt.date | None = None,
    method: str | None = None,
    alpha: float | None = None,
) -> LiftResult:
    """Lift of a geo design from a panel covering pre- and post-period.

    A ``geo_pool`` design is analysed as it was powered: its treated markets against all the others
    with synthetic DiD (or ``method="synthetic_control"``) and a randomization test over other sets
    of as many markets (:mod:`rmnlora.agents.measurement.randomization`).
    """
    if design.kind == "geo_pool":
        return _pool(data, design, start, method, alpha)
    if design.kind != "geo":
        raise ValueError(f"analyze_geo needs a geo or geo_pool design, got {design.kind!r}")
    method = method or "did_pairs"
    if not design.pairs:
        raise ValueError("design has no market pairs (was it feasible?)")
    alpha = design.alpha if alpha is None else alpha
    history = _as_history(data, design.kpi)
    index = {m: i for i, m in enumerate(history.markets)}
    missing = [m for p in design.pairs for m in (p.treatment, p.control) if m not in index]
    if missing:
        raise ValueError(f"results lack design market(s): {sorted(missing)[:10]}")
    matrix = history_matrix(history)
    s, pre, post = _windows(history, design, start)
    notes: list[str] = []
    if post < design.duration_days:
        notes.append(f"only {post} of {design.duration_days} planned days observed")
    t_idx = np.array([index[p.treatment] for p in design.pairs])
    c_idx = np.array([index[p.control] for p in design.pairs])
    pre_means = matrix[:, s - pre : s].mean(axis=1)
    post_means = matrix[:, s : s + post].mean(axis=1)
    if method == "did_pairs":
        est = paired_did(pre_means[t_idx], post_means[t_idx], pre_means[c_idx], post_means[c_idx], alpha)
        att = float(est.att)
        baseline = float(est.treated_post_mean) - att
        return _result(
            design,
            method,
            att,
            float(est.ci_low),
            float(est.ci_high),
            float(est.p_value),
            baseline,
            len(t_idx),
            len(t_idx),
            post,
            pre,
            alpha,
            notes,
        )
    if method in ("synthetic_control", "sdid"):
        # Weights fitted on a short pre-period overfit (many donors, few days): use up to a year.
        fit_days = min(s, SYNTHETIC_FIT_DAYS)
        return _synthetic(method, matrix, t_idx, c_idx, s, fit_days, post, design, alpha, notes)  # type: ignore[arg-type]
    raise ValueError(f"unknown method {method!r}; use 'did_pairs', 'synthetic_control' or 'sdid'")


def _synthetic(
    method: Literal["synthetic_control", "sdid"],
    matrix: np.ndarray,
    t_idx: np.ndarray,
    c_idx: np.ndarray,
    s: int,
    pre: int,
    post: int,
    design: ExperimentDesign,
    alpha: float,
    notes: list[str],
) -> LiftResult:
    """The treated markets (each its own row) against a synthetic control (or synthetic DiD) of the
    control markets, with the pairs' own randomization as the reference: other coin flips within
    the pairs, each fitted the same way (:mod:`rmnlora.agents.measurement.randomization`).

    Why not each control market in turn against the treated markets' mean: a single market is far
    noisier than a mean of many, so those placebos were no reference for the real estimate.
    """
    rows = np.concatenate([c_idx, t_idx])
    y = matrix[rows, s - pre : s + post]
    position = {int(r): i for i, r in enumerate(rows)}
    treated = np.array([position[int(t)] for t in t_idx])
    control = np.array([position[int(c)] for c in c_idx])
    sets = pair_flip_sets(treated, control, POOL_PLACEBOS, design.seed)
    runs = randomization_runs(y, treated, pre, method, placebos=POOL_PLACEBOS, sets=sets)
    label = "synthetic control" if method == "synthetic_control" else "synthetic DiD"
    notes.append(f"{label} against the control markets; {runs.count} other coin flips within the pairs")
    return _randomization_result(design, method, runs, y, treated, post, pre, alpha, notes)


def _randomization_result(
    design: ExperimentDesign,
    method: str,
    runs: RandomizationRuns,
    y: np.ndarray,
    treated: np.ndarray,
    post: int,
    pre: int,
    alpha: float,
    notes: list[str],
) -> LiftResult:
    att = float(runs.att[0, 0])
    low, high, bounded = runs.interval(alpha)
    if runs.count + 1 < 1 / alpha:
        notes.append(
            f"only {runs.count} other assignments: the smallest p-value is {1 / (runs.count + 1):.3f}"
        )
    if not bounded:
        notes.append(
            f"the {1 - alpha:.0%} interval reaches the edge of the effects tried: it is wider than shown"
        )
    baseline = float(y[treated, pre:].mean()) - att
    return _result(
        design,
        method,
        att,
        low,
        high,
        float(runs.p_values(runs.att)[0]),
        baseline,
        len(treated),
        runs.count,
        post,
        pre,
        alpha,
        notes,
    )


def _pool(
    data: pl.DataFrame | MarketHistory,
    design: ExperimentDesign,
    start: dt.date | None,
    method: str | None,
    alpha: float | None,
) -> LiftResult:
    """The treated markets against all the others, with the randomization test the design replayed."""
    method = method or design.analysis_method or "sdid"
    if method not in ("sdid", "synthetic_control"):
        raise ValueError(f"a geo_pool design is analysed with 'sdid' or 'synthetic_control', not {method!r}")
    if not design.treatment_markets or not design.control_markets:
        raise ValueError("design has no treated or control markets (was it feasible?)")
    alpha = design.alpha if alpha is None else alpha
    history = _as_history(data, design.kpi)
    index = {m: i for i, m in enumerate(history.markets)}
    names = [*design.control_markets, *design.treatment_markets]
    missing = [m for m in names if m not in index]
    if missing:
        raise ValueError(f"results lack design market(s): {sorted(missing)[:10]}")
    s, pre, post = _windows(history, design, start)
    notes = (
        []
        if post >= design.duration_days
        else [f"only {post} of {design.duration_days} planned days observed"]
    )
    y = history_matrix(history)[[index[m] for m in names], s - pre : s + post]
    treated = np.arange(len(design.control_markets), len(names))
    runs = randomization_runs(y, treated, pre, method, placebos=POOL_PLACEBOS, seed=design.seed)  # type: ignore[arg-type]
    notes.append(
        f"randomization test: {runs.count} other sets of {len(treated)} markets played treated, each against "
        "all markets outside it"
    )
    return _randomization_result(design, method, runs, y, treated, post, pre, alpha, notes)


def analyze_switchback(
    data: pl.DataFrame | MarketHistory,
    design: ExperimentDesign,
    *,
    start: dt.date | None = None,
    alpha: float | None = None,
) -> LiftResult:
    """On-block minus off-block mean of the total KPI (buffer days dropped), pooled two-sample t."""
    if design.kind != "switchback" or not design.blocks:
        raise ValueError("analyze_switchback needs a switchback design with blocks")
    alpha = design.alpha if alpha is None else alpha
    history = _as_history(data, design.kpi)
    markets = [m for m in design.treatment_markets if m in history.markets] or history.markets
    index = [history.markets.index(m) for m in markets]
    series = history_matrix(history)[index].sum(axis=0)
    begin = start or design.flight_start
    if begin is None:
        raise ValueError("experiment start unknown: the design has no flight_start; pass start=")
    s = date_offset(history, begin)
    means, labels = [], []
    for block in design.blocks:
        lo, hi = s + block.start + block.buffer_days, s + block.start + block.days
        if lo < 0 or hi > history.days:
            continue
        means.append(series[lo:hi].mean())
        labels.append(block.treated)
    on = np.array([m for m, t in zip(means, labels, strict=True) if t])
    off = np.array([m for m, t in zip(means, labels, strict=True) if not t])
    if len(on) < 2 or len(off) < 2:
        raise ValueError(f"results cover {len(on)} on- and {len(off)} off-blocks; need at least 2 of each")
    diff = float(on.mean() - off.mean())
    df = len(on) + len(off) - 2
    pooled = (np.sum((on - on.mean()) ** 2) + np.sum((off - off.mean()) ** 2)) / df
    se = float(np.sqrt(pooled * (1 / len(on) + 1 / len(off))))
    critical = float(stats.t.ppf(1 - alpha / 2, df))
    p = float(2 * stats.t.sf(abs(diff) / se, df)) if se > 0 else 0.0
    observed_days = int(sum(b.days - b.buffer_days for b in design.blocks if b.treated))
    notes = (
        []
        if len(means) == len(design.blocks)
        else [f"{len(design.blocks) - len(means)} block(s) not observed"]
    )
    result = _result(
        design,
        "switchback_t",
        diff,
        diff - critical * se,
        diff + critical * se,
        p,
        float(off.mean()),
        1,
        len(means),
        1,
        0,
        alpha,
        notes,
    )
    return result.model_copy(
        update={"incremental_total": diff * observed_days, "post_days": len(means) * design.blocks[0].days}
    )


@dataclass(frozen=True)
class GroupStats:
    """A clean-room aggregate: users in the group, mean KPI per user, its standard deviation."""

    n: int
    mean: float
    sd: float


def analyze_holdout(
    exposed: GroupStats,
    holdout: GroupStats,
    design: ExperimentDesign,
    *,
    min_aggregation: int = 50,
    alpha: float | None = None,
) -> LiftResult:
    """Welch t-test of exposed vs held-out users' mean KPI, from clean-room aggregates."""
    alpha = design.alpha if alpha is None else alpha
    for name, group in (("exposed", exposed), ("holdout", holdout)):
        if group.n < min_aggregation:
            raise ValueError(
                f"{name} group has {group.n} users, below the clean room's minimum aggregation "
                f"{min_aggregation}"
            )
    v1, v2 = exposed.sd**2 / exposed.n, holdout.sd**2 / holdout.n
    se = float(np.sqrt(v1 + v2))
    df = (
        (v1 + v2) ** 2 / (v1**2 / (exposed.n - 1) + v2**2 / (holdout.n - 1))
        if se > 0
        else exposed.n + holdout.n - 2
    )
    diff = exposed.mean - holdout.mean
    critical = float(stats.t.ppf(1 - alpha / 2, df))
    p = float(2 * stats.t.sf(abs(diff) / se, df)) if se > 0 else 0.0
    return _result(
        design,
        "holdout_t",
        diff,
        diff - critical * se,
        diff + critical * se,
        p,
        holdout.mean,
        exposed.n,
        exposed.n + holdout.n,
        1,
        0,
        alpha,
        [f"Welch t-test, {df:.0f} degrees of freedom; per-user effect"],
    ).model_copy(update={"post_days": design.duration_days})


def analyze_experiment(
    data: pl.DataFrame | MarketHistory,
    design: ExperimentDesign,
    *,
    start: dt.date | None = None,
    method: str | None = None,
    alpha: float | None = None,
) -> LiftResult:
    """Measured lift of a geo or switchback design from a results panel (events or history).

    Holdout results come from clean-room aggregates instead: use :func:`analyze_holdout`.
    """
    if design.kind in ("geo", "geo_pool"):
        return analyze_geo(data, design, start=start, method=method, alpha=alpha)
    if design.kind == "switchback":
        return analyze_switchback(data, design, start=start, alpha=alpha)
    raise ValueError(
        "holdout results are clean-room aggregates: call analyze_holdout(exposed, holdout, design)"
    )
