"""Simplex-constrained ridge regression by Frank-Wolfe: the weight solver of synthetic DiD.

Why this and not a QP solver: the published synthetic-DiD estimates (Arkhangelsky et al. 2021,
R package ``synthdid``) are the output of exactly this iteration (exact line search, a first run
of 100 steps, then sparsification of weights below a quarter of the largest and a second run), and
an exact optimum differs from them in the first decimal. Reproducing the paper's table needs the
same path; it is also fast, a few hundred matrix-vector products.
"""

from __future__ import annotations

import numpy as np

FIRST_RUN_STEPS = 100


def simplex_ridge(
    y: np.ndarray,
    zeta: float,
    *,
    intercept: bool,
    start: np.ndarray | None = None,
    min_decrease: float,
    max_steps: int,
) -> np.ndarray:
    """Weights ``w`` on the simplex minimising ``zeta² |w|² + |Y[:, :-1] w - Y[:, -1]|² / rows``.

    ``y`` holds the regressors in its first columns and the target in its last; with
    ``intercept`` each column is centred first (a constant offset is free). The steps are the
    reference's (``fw.step``: the vertex of least gradient, exact line search), computed from the
    Gram matrix so that one step costs O(columns), not O(rows × columns).
    """
    rows, cols = y.shape
    k = cols - 1
    if intercept:
        y = y - y.mean(axis=0, keepdims=True)
    a, b = y[:, :k], y[:, k]
    gram, cross, target = a.T @ a, a.T @ b, float(b @ b)
    w = np.full(k, 1.0 / k) if start is None else start.astype(float).copy()
    eta = rows * zeta**2
    gw = gram @ w
    previous = current = np.inf
    for step in range(max_steps):
        if step >= 2 and previous - current <= min_decrease**2:
            break
        half_gradient = gw - cross + eta * w
        i = int(np.argmin(half_gradient))
        direction = -w
        direction[i] += 1.0
        if np.any(direction):
            w_gw = float(w @ gw)
            # |A (e_i - w)|² and eta |e_i - w|², the line search's curvature
            curvature = gram[i, i] - 2 * gw[i] + w_gw + eta * float(direction @ direction)
            if curvature > 0:
                t = min(1.0, max(0.0, float(-(half_gradient @ direction) / curvature)))
                w = w + t * direction
                gw = (1 - t) * gw + t * gram[:, i]
        squared_error = float(w @ gw) - 2 * float(cross @ w) + target
        previous, current = current, float(zeta**2 * w @ w + squared_error / rows)
    return w


def sparsify(w: np.ndarray) -> np.ndarray:
    """Drop weights at or below a quarter of the largest and renormalise (synthdid's rule)."""
    kept = np.where(w <= w.max() / 4, 0.0, w)
    return kept / kept.sum()


def fitted_weights(
    y: np.ndarray,
    zeta: float,
    *,
    intercept: bool,
    min_decrease: float,
    max_steps: int,
    start: np.ndarray | None = None,
) -> np.ndarray:
    """Two runs as in the reference implementation: 100 steps, sparsify, then to convergence.

    ``start``: where the first run begins (uniform by default; placebo refits start from the
    original weights, as the reference's placebo standard error does).
    """
    first = simplex_ridge(
        y,
        zeta,
        intercept=intercept,
        start=start,
        min_decrease=min_decrease,
        max_steps=min(FIRST_RUN_STEPS, max_steps),
    )
    return simplex_ridge(
        y, zeta, intercept=intercept, start=sparsify(first), min_decrease=min_decrease, max_steps=max_steps
    )
