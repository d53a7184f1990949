"""Units × periods panels with no treatment effect, for calibrating panel inference.

Why these ingredients: a test of false positives on white noise proves little, since every method
is calibrated there. These panels have what breaks naive intervals in real sales data: log-normal
unit levels (a few units much larger than the rest), two latent factors with unit-specific
loadings (units that trend differently, so no single donor matches), a shared seasonal cycle, and
AR(1) noise (persistent errors) proportional to each unit's level. Units are exchangeable, so any
one of them (the last, by convention) may be called treated.
"""

from __future__ import annotations

import numpy as np


def null_panels(
    rng: np.random.Generator,
    count: int,
    units: int = 20,
    periods: int = 30,
    *,
    factor_drift: float = 0.03,
    noise: float = 0.04,
    persistence: float = 0.5,
    season_amplitude: float = 0.05,
    season_periods: int = 12,
) -> np.ndarray:
    """``count`` panels of shape (units, periods): level × (1 + factors + season + AR(1) noise)."""
    level = rng.lognormal(4.0, 0.6, (count, units, 1))
    loadings = rng.normal(1.0, 0.3, (count, units, 2))
    factors = np.cumsum(rng.normal(0.0, factor_drift, (count, 2, periods)), axis=2)
    season = season_amplitude * np.sin(np.arange(periods) * 2 * np.pi / season_periods)
    shocks = rng.normal(0.0, noise, (count, units, periods))
    errors = np.zeros_like(shocks)
    errors[:, :, 0] = shocks[:, :, 0]
    for t in range(1, periods):
        errors[:, :, t] = persistence * errors[:, :, t - 1] + shocks[:, :, t]
    return np.asarray(level * (1.0 + loadings @ factors + season + errors))
