"""Autocorrelated noise model: pooled autocovariance → AR(p) by Yule-Walker → variances of means.

A KPI's daily values are correlated (yesterday's promotion lingers), so the variance of a
28-day mean is not the daily variance / 28. Fitting a low-order AR model to the history and
extending its autocovariance lets the analytic power use every day of history at once, which
is far less noisy than counting variances over a few non-overlapping historical windows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import solve_toeplitz


@dataclass(frozen=True)
class ARNoise:
    """An AR(p) noise model; ``gamma[k]`` is its autocovariance at lag k (k up to ``max_lag``)."""

    order: int
    phi: np.ndarray
    gamma: np.ndarray

    def describe(self) -> str:
        lag1 = self.gamma[1] / self.gamma[0] if self.gamma[0] > 0 and len(self.gamma) > 1 else 0.0
        sd = np.sqrt(self.gamma[0])
        return f"AR({self.order}) by Yule-Walker, daily sd {sd:.4g}, lag-1 autocorr {lag1:.2f}"

    def sum_variance(self, n: np.ndarray | int) -> np.ndarray:
        """Var of the sum of ``n`` consecutive values: n·γ0 + 2·Σ_{k<n} (n−k)·γ(k)."""
        counts = np.atleast_1d(np.asarray(n, dtype=int))
        if counts.max(initial=0) > len(self.gamma):
            raise ValueError(f"noise model covers sums of up to {len(self.gamma)} days, asked {counts.max()}")
        lags = np.arange(len(self.gamma))
        g1 = np.concatenate([[0.0], np.cumsum(self.gamma[1:])])  # g1[m] = Σ_{k=1}^{m} γ(k)
        g2 = np.concatenate([[0.0], np.cumsum(lags[1:] * self.gamma[1:])])
        m = np.maximum(counts - 1, 0)
        return counts * self.gamma[0] + 2.0 * (counts * g1[m] - g2[m])

    def did_variance(self, pre: int, post: int) -> float:
        """Var(mean of ``post`` days − mean of the ``pre`` days right before them)."""
        v_pre, v_post, v_all = self.sum_variance(np.array([pre, post, pre + post]))
        cov = (v_all - v_pre - v_post) / 2.0
        return float(v_post / post**2 + v_pre / pre**2 - 2.0 * cov / (pre * post))

    def mean_variance(self, n: int) -> float:
        """Var of the mean of ``n`` consecutive days."""
        return float(self.sum_variance(n)[0] / n**2)


def fit_ar_noise(series: np.ndarray, max_lag: int, order: int = 7) -> ARNoise:
    """Fit one AR(p) to the rows of ``series`` (each row demeaned), pooling their autocovariances.

    Pooling estimates the *average* autocovariance across rows, which is what the variance of
    an average over pairs or markets needs.
    """
    data = np.atleast_2d(np.asarray(series, dtype=float))
    days = data.shape[1]
    if days < 8:
        raise ValueError(f"need at least 8 days to fit a noise model, got {days}")
    p = int(min(order, days // 4))
    centred = data - data.mean(axis=1, keepdims=True)
    sample = np.array(
        [np.mean(np.sum(centred[:, : days - k] * centred[:, k:], axis=1) / days) for k in range(p + 1)]
    )
    length = max(max_lag + 1, p + 1)
    gamma = np.zeros(length)
    gamma[: p + 1] = sample
    if sample[0] <= 0:
        return ARNoise(order=0, phi=np.zeros(0), gamma=gamma)
    phi = solve_toeplitz(sample[:p], sample[1 : p + 1]) if p > 0 else np.zeros(0)
    for k in range(p + 1, length):
        gamma[k] = float(np.dot(phi, gamma[k - 1 : k - p - 1 : -1])) if p > 0 else 0.0
    return ARNoise(order=p, phi=phi, gamma=gamma)
