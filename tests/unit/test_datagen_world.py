"""The realistic example world has the structure its docs promise; the quiet one changes nothing."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np

from rmnlora.datagen.world import WorldSettings, holiday_lift, world_factors

START = dt.date(2025, 1, 6)


def test_quiet_world_is_exactly_neutral() -> None:
    factors = world_factors(np.random.default_rng(0), START, 120, 12, 4, WorldSettings.quiet())
    assert np.all(factors.sales == 1.0) and np.all(factors.spend == 1.0)


def test_realistic_world_moves_markets_persistently_and_spend_follows_sales() -> None:
    settings = dataclasses.replace(
        WorldSettings(), promo_share=0.0, holiday_scale=0.0, price_changes_per_year=0
    )
    factors = world_factors(np.random.default_rng(1), START, 730, 40, 4, settings)
    log_market = np.log(factors.sales[:, :, 0])
    detrended = log_market - np.polyval(np.polyfit(np.arange(730), log_market, 1), np.arange(730)[:, None])
    assert 0.09 < detrended.std() < 0.15  # market_noise 0.12 (trend removed)
    lag1 = np.mean([np.corrcoef(detrended[1:, m], detrended[:-1, m])[0, 1] for m in range(40)])
    assert 0.5 < lag1 < 0.7  # persistence 0.6
    spend_vs_yesterday = np.corrcoef(np.log(factors.spend[1:]).ravel(), log_market[:-1].ravel())[0, 1]
    assert spend_vs_yesterday > 0.99  # spend reacts to yesterday's sales
    shocks = np.diff(detrended, axis=0).ravel()
    kurtosis = np.mean((shocks - shocks.mean()) ** 4) / shocks.var() ** 2
    assert kurtosis > 3.5  # Student-t shocks: heavier tails than a normal's 3


def test_holidays_and_promotions_show_up() -> None:
    assert holiday_lift(dt.date(2025, 11, 28)) == 0.6  # Black Friday 2025
    assert holiday_lift(dt.date(2025, 12, 25)) < 0 and holiday_lift(dt.date(2025, 3, 12)) == 0
    settings = dataclasses.replace(
        WorldSettings(), market_noise=0.0, trend_sd_per_year=0.0, price_changes_per_year=0
    )
    factors = world_factors(np.random.default_rng(2), START, 365, 20, 1, settings)
    lifted = factors.sales[:, :, 0] > 1.2
    assert 0.03 < lifted.mean() < 0.12  # promotion windows (6% of market-days) plus holidays
