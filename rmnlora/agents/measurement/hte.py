"""Heterogeneous treatment effects per segment with econML's LinearDML.

When outcome rows carry a treatment flag (a geo test's treated markets, a holdout flag) the
average lift can hide segments that respond very differently. Double machine learning removes
what the controls explain from outcome and treatment, then fits the effect as linear in the
segment indicators, giving each segment its own effect with a confidence interval.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl
from econml.dml import LinearDML
from sklearn.linear_model import LinearRegression, LogisticRegression

from rmnlora.schemas.measurement import SegmentEffect


def segment_effects(
    frame: pl.DataFrame,
    *,
    outcome: str,
    treatment: str,
    segment: str,
    controls: Sequence[str] = (),
    alpha: float = 0.05,
    seed: int = 0,
) -> list[SegmentEffect]:
    """Effect of the 0/1 ``treatment`` on ``outcome`` in each value of ``segment``, with CIs."""
    needed = [outcome, treatment, segment, *controls]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(f"frame lacks column(s) {missing}")
    data = frame.select(needed).drop_nulls()
    flags = set(data[treatment].cast(pl.Int64).unique().to_list())
    if flags != {0, 1}:
        raise ValueError(f"treatment column {treatment!r} must hold both 0 and 1, found {sorted(flags)}")
    segments = sorted(str(s) for s in data[segment].cast(pl.String).unique().to_list())
    if len(segments) < 2:
        raise ValueError(f"segment column {segment!r} has a single value; nothing to compare")
    seg = data[segment].cast(pl.String).to_numpy()
    x = np.column_stack([(seg == s).astype(float) for s in segments[1:]])
    w = data.select(controls).to_numpy().astype(float) if controls else None
    y = data[outcome].cast(pl.Float64).to_numpy()
    t = data[treatment].cast(pl.Int64).to_numpy()
    model = LinearDML(
        model_y=LinearRegression(),
        model_t=LogisticRegression(),
        discrete_treatment=True,
        cv=3,
        random_state=seed,
    )
    model.fit(y, t, X=x, W=w)
    grid = np.vstack([np.zeros(len(segments) - 1), np.eye(len(segments) - 1)])
    effect = np.asarray(model.effect(grid)).reshape(-1)
    low, high = (np.asarray(v).reshape(-1) for v in model.effect_interval(grid, alpha=alpha))
    counts = {s: int(np.sum(seg == s)) for s in segments}
    return [
        SegmentEffect(segment=s, effect=float(e), ci_low=float(lo), ci_high=float(hi), n=counts[s])
        for s, e, lo, hi in zip(segments, effect, low, high, strict=True)
    ]
