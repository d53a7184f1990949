"""An independent solution of the log-curve allocation, from its KKT conditions.

maximise Σ A_i·log(1 + x_i/B_i)  s.t.  Σ x_i = budget,  lo_i ≤ x_i ≤ hi_i.

Stationarity gives A_i/(B_i + x_i) = λ for every line strictly inside its bounds, so
x_i(λ) = clip(A_i/λ − B_i, lo_i, hi_i), which is non-increasing in λ; bisection on λ finds
Σ x_i(λ) = budget. It shares no code with the CVXPY path, which is the point: tests and the
benchmark measure the conic solution against it.
"""

from __future__ import annotations

import numpy as np


class KKTInfeasible(ValueError):
    """The bounds cannot sum to the budget."""


def kkt_allocation(
    a: np.ndarray,
    b: np.ndarray,
    budget: float,
    lo: np.ndarray | None = None,
    hi: np.ndarray | None = None,
    *,
    offset: np.ndarray | None = None,
    iterations: int = 200,
) -> tuple[np.ndarray, float]:
    """(x, λ): the optimal spends and the budget multiplier (marginal outcome per currency unit).

    ``offset`` adds a fixed part to each line's price, x_i = clip(A_i/(λ + offset_i) − B_i, ...): the
    retailer multipliers of a solved problem, held while λ alone is found (``polish.py``).
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    lo = np.zeros_like(a) if lo is None else np.asarray(lo, dtype=float)
    hi = np.full_like(a, np.inf) if hi is None else np.asarray(hi, dtype=float)
    if lo.sum() > budget * (1 + 1e-12) or hi.sum() < budget * (1 - 1e-12):
        raise KKTInfeasible(f"bounds sum to [{lo.sum():.6g}, {hi.sum():.6g}], budget {budget:.6g}")

    shift = np.zeros_like(a) if offset is None else np.asarray(offset, dtype=float)

    def spend(lam: float) -> np.ndarray:
        return np.clip(a / np.maximum(lam + shift, 1e-300) - b, lo, hi)

    # Bracket λ in log space: at λ_hi every line sits at its lower bound, at λ_lo at its upper.
    lam_hi = max(float(np.max(a / (b + lo) - shift)) * 2.0, 1e-300)
    lam_lo = max(float(np.min(a / (b + np.where(np.isfinite(hi), hi, budget)) - shift)) / 2.0, 1e-300)
    for _ in range(2000):
        if spend(lam_lo).sum() >= budget:
            break
        lam_lo /= 2.0
    else:  # the offsets price every line too high for the budget to be placed at any λ > 0
        raise KKTInfeasible(f"no budget price places {budget:.6g} with these price offsets")
    if spend(lam_hi).sum() > budget * (1 + 1e-12):
        raise KKTInfeasible(f"every line above its floor even at λ = {lam_hi:.3g}: offsets too low")
    log_lo, log_hi = np.log(lam_lo), np.log(lam_hi)
    for _ in range(iterations):
        mid = 0.5 * (log_lo + log_hi)
        if spend(float(np.exp(mid))).sum() > budget:
            log_lo = mid
        else:
            log_hi = mid
        if log_hi - log_lo < 1e-15:
            break
    lam = float(np.exp(0.5 * (log_lo + log_hi)))
    x = spend(lam)
    # Put the last rounding residue on the lines strictly inside their bounds (exact budget).
    free = (x > lo) & (x < hi)
    if free.any():
        x[free] += (budget - x.sum()) / free.sum()
    return x, lam


def log_objective(a: np.ndarray, b: np.ndarray, x: np.ndarray) -> float:
    return float(np.sum(a * np.log1p(x / b)))
