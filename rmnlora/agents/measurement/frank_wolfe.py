"""Simplex-constrained ridge regression by Frank-Wolfe: the weight solver of synthetic DiD.

Why this and not a QP solver: the published synthetic-DiD estimates (Arkhangelsky et al. 2021,
R package ``synthdid``) are the output of exactly this iteration (exact line search, a first run
of 100 steps, then sparsification of weights below a quarter of the largest and a second run), and
an exact optimum differs from them in the first decimal. Reproducing the paper's table needs the
same path.

Every function solves a batch of problems of one shape in lockstep (a leading batch axis), each
stopping by its own rule: placebo inference and simulated experiments solve hundreds at once, and
a Python loop per problem would cost a second per experiment.
"""

from __future__ import annotations

import numpy as np

FIRST_RUN_STEPS = 100


def simplex_ridge(
    y: np.ndarray,
    zeta: np.ndarray,
    *,
    intercept: bool,
    start: np.ndarray | None = None,
    min_decrease: np.ndarray,
    max_steps: int,
) -> np.ndarray:
    """Weights ``w[b]`` on the simplex minimising ``zeta[b]² |w|² + |A w - t|² / rows`` per problem.

    ``y[b]`` holds the regressors ``A`` in its first columns and the target ``t`` in its last; with
    ``intercept`` each column is centred first (a constant offset is free). The steps are the
    reference's (``fw.step``: the vertex of least gradient, exact line search), computed from the
    Gram matrix; a problem stops once a step lowers its objective by at most ``min_decrease²``.
    """
    batch, rows, cols = y.shape
    k = cols - 1
    if intercept:
        y = y - y.mean(axis=1, keepdims=True)
    a, b = y[:, :, :k], y[:, :, k]
    gram = np.einsum("bri,brj->bij", a, a)
    cross = np.einsum("bri,br->bi", a, b)
    target = np.einsum("br,br->b", b, b)
    w = np.full((batch, k), 1.0 / k) if start is None else start.astype(float).copy()
    zeta2 = np.asarray(zeta, dtype=float) ** 2 * np.ones(batch)
    eta = rows * zeta2
    threshold = np.asarray(min_decrease, dtype=float) ** 2 * np.ones(batch)
    gw = np.einsum("bij,bj->bi", gram, w)
    previous = np.full(batch, np.inf)
    current = np.full(batch, np.inf)
    active = np.ones(batch, dtype=bool)
    rows_index = np.arange(batch)
    for step in range(max_steps):
        if step >= 2:
            active &= previous - current > threshold
            if not active.any():
                break
        half_gradient = gw - cross + eta[:, None] * w
        i = np.argmin(half_gradient, axis=1)
        direction = -w
        direction[rows_index, i] += 1.0
        w_gw = np.einsum("bi,bi->b", w, gw)
        curvature = (
            gram[rows_index, i, i]
            - 2 * gw[rows_index, i]
            + w_gw
            + eta * np.einsum("bi,bi->b", direction, direction)
        )
        slope = np.einsum("bi,bi->b", half_gradient, direction)
        t = np.clip(np.divide(-slope, curvature, out=np.zeros(batch), where=curvature > 0), 0.0, 1.0)
        t = np.where(active, t, 0.0)
        w = w + t[:, None] * direction
        gw = (1 - t)[:, None] * gw + t[:, None] * gram[rows_index, :, i]
        squared_error = np.einsum("bi,bi->b", w, gw) - 2 * np.einsum("bi,bi->b", cross, w) + target
        value = zeta2 * np.einsum("bi,bi->b", w, w) + squared_error / rows
        previous = np.where(active, current, previous)
        current = np.where(active, value, current)
    return w


def sparsify(w: np.ndarray) -> np.ndarray:
    """Drop weights at or below a quarter of each row's largest and renormalise (synthdid's rule)."""
    kept = np.where(w <= w.max(axis=-1, keepdims=True) / 4, 0.0, w)
    return kept / kept.sum(axis=-1, keepdims=True)


def fitted_weights(
    y: np.ndarray,
    zeta: np.ndarray,
    *,
    intercept: bool,
    min_decrease: np.ndarray,
    max_steps: int,
) -> np.ndarray:
    """Two runs as in the reference implementation: 100 steps from uniform weights, sparsify, then
    to convergence from the sparsified weights."""
    first = simplex_ridge(
        y,
        zeta,
        intercept=intercept,
        min_decrease=min_decrease,
        max_steps=min(FIRST_RUN_STEPS, max_steps),
    )
    return simplex_ridge(
        y, zeta, intercept=intercept, start=sparsify(first), min_decrease=min_decrease, max_steps=max_steps
    )
