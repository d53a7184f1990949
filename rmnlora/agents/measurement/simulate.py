"""Synthetic market × day KPI panels with known structure, for tests, benchmarks and demos.

Each market has a level (log-normal across markets), a shared weekly pattern and shared daily
shock (which matched pairs difference away), and its own AR(1) noise proportional to its level.
Everything is vectorised over ``panels`` so thousands of fresh experiments cost one array.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from rmnlora.schemas.measurement import MarketHistory


def market_levels(
    n_markets: int, rng: np.random.Generator, mean: float = 100.0, spread: float = 0.5
) -> np.ndarray:
    return mean * np.exp(spread * rng.standard_normal(n_markets) - spread**2 / 2)


def simulate_panels(
    levels: np.ndarray,
    days: int,
    rng: np.random.Generator,
    *,
    panels: int = 1,
    rho: float = 0.5,
    cv: float = 0.15,
    weekly: float = 0.1,
    common_sd: float = 0.05,
    day0: int = 0,
) -> np.ndarray:
    """Array ``[panels, markets, days]`` of KPI values (stationary AR(1) idiosyncratic noise)."""
    n = len(levels)
    sd = cv * levels
    noise = np.empty((panels, n, days))
    noise[:, :, 0] = rng.standard_normal((panels, n)) * sd / np.sqrt(1 - rho**2)
    innovations = rng.standard_normal((panels, n, days)) * sd[None, :, None]
    for t in range(1, days):
        noise[:, :, t] = rho * noise[:, :, t - 1] + innovations[:, :, t]
    season = weekly * np.sin(2 * np.pi * (np.arange(days) + day0) / 7.0)
    common = common_sd * rng.standard_normal((panels, 1, days))
    return levels[None, :, None] * (1.0 + season[None, None, :] + common) + noise


def panel_history(matrix: np.ndarray, start: dt.date, kpi: str = "attributed_sales") -> MarketHistory:
    markets = [f"M{i:03d}" for i in range(matrix.shape[0])]
    return MarketHistory(kpi=kpi, start=start, markets=markets, values=matrix.tolist())


def panel_events(
    matrix: np.ndarray, start: dt.date, kpi: str = "attributed_sales", retailers: int = 2
) -> pl.DataFrame:
    """RMIS-like events for a panel: each market-day split evenly over ``retailers`` rows."""
    n, days = matrix.shape
    market = np.repeat([f"M{i:03d}" for i in range(n)], days * retailers)
    day = np.tile(np.repeat(np.arange(days), retailers), n)
    retailer = np.tile([f"R{r}" for r in range(retailers)], n * days)
    value = np.repeat(matrix.reshape(-1), retailers) / retailers
    return pl.DataFrame(
        {
            "event_date": [start + dt.timedelta(days=int(d)) for d in day],
            "retailer": retailer,
            "placement": "search",
            "market": market,
            kpi: value,
        }
    )
