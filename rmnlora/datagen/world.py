"""The market-level world the example exports are drawn from: why demo sales are not too clean.

Per-row noise alone averages away: a market-day sums nine placements × four products, so the
row noise of 10% left market-days within ~2% of their expectation, and the demo's geo design
claimed power 1.00 and a 1.2% minimum detectable effect for 12 markets over 28 days. Real retail
sales move together within a market (weather, local events, competitor promotions) and persist
for days. Here every market-day gets one multiplicative factor shared by its rows:

- persistent deviations: AR(1) in logs with heavy-tailed (Student-t) shocks;
- a trend per market (a log-slope drawn per market, ``trend_sd_per_year``);
- US retail holidays (Black Friday, the run-up to Christmas, Super Bowl Sunday, July 4th,
  Memorial and Labor Day weekends) and random promotion windows per market;
- price changes per product (a few steps a year) acting through a constant elasticity;
- spend that reacts to past sales: each market's spend follows its sales factor of the day before
  (``spend_reaction``; bid algorithms react within a day): the confounding that makes naive
  spend-vs-sales regressions wrong.

The levels are assumptions stated in ``WorldSettings`` and docs/measurement.md, not estimates
from a real panel (none is available offline); what they imply for the demo's design is measured
there.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class WorldSettings:
    """How noisy and structured the market-day world is (``quiet()`` turns it all off)."""

    market_noise: float = 0.12  # stationary sd of the log market-day deviation
    persistence: float = 0.6  # AR(1) coefficient of that deviation (day to day)
    tail_df: float = 4.0  # Student-t degrees of freedom of the shocks (heavy tails)
    trend_sd_per_year: float = 0.08  # sd across markets of the yearly log trend
    promo_share: float = 0.06  # share of market-days inside a promotion window
    promo_lift: float = 0.25  # sales multiplier - 1 during a promotion
    holiday_scale: float = 1.0  # multiplies every holiday's lift (0: no holidays)
    price_changes_per_year: float = 3.0  # per product
    price_step_sd: float = 0.05  # sd of the log price change at each step
    price_elasticity: float = -1.5
    spend_reaction: float = 0.5  # spend ∝ (yesterday's sales factor) ** this
    reaction_lag_days: int = 1

    @classmethod
    def quiet(cls) -> WorldSettings:
        """No market-level structure: the row noise only (the old generator)."""
        return cls(
            market_noise=0.0,
            trend_sd_per_year=0.0,
            promo_share=0.0,
            holiday_scale=0.0,
            price_changes_per_year=0.0,
            spend_reaction=0.0,
        )


@dataclass(frozen=True)
class WorldFactors:
    """Multipliers: ``sales[d, m, k]`` on expected sales, ``spend[d, m]`` on planned spend."""

    sales: np.ndarray
    spend: np.ndarray


def _thanksgiving(year: int) -> dt.date:
    november = dt.date(year, 11, 1)
    return november + dt.timedelta(days=(3 - november.weekday()) % 7 + 21)


def _last_monday(year: int, month: int) -> dt.date:
    following = dt.date(year + month // 12, month % 12 + 1, 1)
    day = following - dt.timedelta(days=1)
    return day - dt.timedelta(days=day.weekday())


def holiday_lift(day: dt.date) -> float:
    """Relative lift of US retail sales on ``day`` (0 on an ordinary day)."""
    year = day.year
    black_friday = _thanksgiving(year) + dt.timedelta(days=1)
    first_feb = dt.date(year, 2, 1)
    super_bowl = first_feb + dt.timedelta(days=(6 - first_feb.weekday()) % 7 + 7)
    labor_day = dt.date(year, 9, 1) + dt.timedelta(days=(7 - dt.date(year, 9, 1).weekday()) % 7)
    lifts = {
        black_friday: 0.6,
        black_friday + dt.timedelta(days=1): 0.3,
        black_friday + dt.timedelta(days=3): 0.25,  # Cyber Monday
        super_bowl - dt.timedelta(days=1): 0.2,
        super_bowl: 0.15,
        dt.date(year, 7, 3): 0.15,
        dt.date(year, 7, 4): 0.1,
    }
    for weekend_monday in (_last_monday(year, 5), labor_day):
        for back in (2, 1, 0):
            lifts[weekend_monday - dt.timedelta(days=back)] = 0.1
    if dt.date(year, 12, 10) <= day <= dt.date(year, 12, 23):
        return 0.15 + 0.02 * (day - dt.date(year, 12, 10)).days
    if day in (dt.date(year, 12, 25), dt.date(year, 1, 1), _thanksgiving(year)):
        return -0.4  # stores closed or short hours
    return lifts.get(day, 0.0)


def world_factors(
    rng: np.random.Generator,
    start: dt.date,
    days: int,
    markets: int,
    products: int,
    settings: WorldSettings,
) -> WorldFactors:
    """Draw the market-day (and product price) multipliers for one generated history."""
    deviation = np.zeros((days, markets))
    if settings.market_noise > 0:
        rho = settings.persistence
        shocks = rng.standard_t(settings.tail_df, size=(days, markets))
        shocks *= np.sqrt((settings.tail_df - 2) / settings.tail_df)  # unit variance
        scale = settings.market_noise * np.sqrt(1 - rho**2)
        deviation[0] = settings.market_noise * shocks[0]
        for d in range(1, days):
            deviation[d] = rho * deviation[d - 1] + scale * shocks[d]
    trend = rng.normal(0.0, settings.trend_sd_per_year, size=markets) / 365.0
    log_sales = deviation + np.arange(days)[:, None] * trend[None, :]
    holidays = np.array([holiday_lift(start + dt.timedelta(days=d)) for d in range(days)])
    log_sales += np.log1p(settings.holiday_scale * holidays)[:, None]
    if settings.promo_share > 0:
        promo = np.zeros((days, markets), dtype=bool)
        windows = int(round(settings.promo_share * days * markets / 5))
        for _ in range(windows):
            m, begin, length = rng.integers(markets), rng.integers(days), rng.integers(3, 8)
            promo[begin : begin + length, m] = True
        log_sales += np.log1p(settings.promo_lift) * promo
    log_price = np.zeros((days, products))
    steps = rng.poisson(settings.price_changes_per_year * days / 365.0, size=products)
    for k, count in enumerate(steps):
        for day in rng.integers(0, days, size=count):
            log_price[day:, k] += rng.normal(0.0, settings.price_step_sd)
    sales = np.exp(log_sales[:, :, None] + settings.price_elasticity * log_price[:, None, :])
    lag = settings.reaction_lag_days
    lagged = np.zeros_like(log_sales)
    if 0 < lag < days:
        lagged[lag:] = log_sales[:-lag]
    spend = np.exp(settings.spend_reaction * lagged)
    return WorldFactors(sales=sales, spend=spend)


def market_day_sales(
    rng: np.random.Generator,
    start: dt.date,
    markets: int,
    days: int,
    settings: WorldSettings | None = None,
) -> np.ndarray:
    """``[market, day]`` sales of one brand in this world: log-normal market sizes (sd 0.5) times the
    market-day factors (four products averaged) times 10% row noise. Why: measurement tests and
    benchmarks need the example world's panel without generating and harmonizing exports."""
    size = rng.lognormal(0.0, 0.5, markets)[:, None] * 1000.0
    factors = world_factors(rng, start, days, markets, 4, settings or WorldSettings())
    return np.asarray(size * factors.sales.mean(axis=2).T * rng.lognormal(0.0, 0.1, (markets, days)))
