"""Response curves: fit ``outcome = a·log(1 + spend/b)`` per line item from daily history.

Why this family: it is concave and saturating (diminishing returns), has zero outcome at zero
spend, and stays in the same family when scaled to a flight, which keeps the allocation an
exponential-cone program and gives an exact KKT check. For a fixed ``b`` the best ``a`` is a
one-line least-squares solution, so the fit is a bounded 1-D search over ``log b`` — robust
without starting guesses. Adstock (geometric carry-over) is tried on a grid and kept only
when an F-test says the extra parameter earns its place. Uncertainty comes from a bootstrap
over days.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import polars as pl
from scipy import optimize, stats

from rmnlora.schemas.optimizer import CurveFit, CurveParams

ADSTOCK_GRID = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
MIN_DAYS = 8
OUTCOMES = ("attributed_sales", "clicks", "impressions", "units")


class CurveFitError(ValueError):
    """History that cannot support a curve (too few days, no spend variation, no outcome)."""


def adstock(spend: np.ndarray, decay: float) -> np.ndarray:
    """Geometric carry-over: s_t = x_t + decay·s_{t-1}."""
    if decay == 0.0:
        return spend.astype(float)
    out = np.empty(len(spend), dtype=float)
    carry = 0.0
    for i, value in enumerate(spend):
        carry = float(value) + decay * carry
        out[i] = carry
    return out


def _best_a(x: np.ndarray, y: np.ndarray, b: float) -> tuple[float, float]:
    """Least-squares a for a fixed b, and the residual sum of squares."""
    g = np.log1p(x / b)
    denom = float(g @ g)
    if denom <= 0:
        return 0.0, float(y @ y)
    a = max(float(g @ y) / denom, 0.0)
    resid = y - a * g
    return a, float(resid @ resid)


def _fit_ab(x: np.ndarray, y: np.ndarray, b_low: float, b_high: float) -> tuple[float, float, float]:
    """(a, b, sse) minimising squared error, by a bounded search over log b."""
    res = optimize.minimize_scalar(
        lambda logb: _best_a(x, y, float(np.exp(logb)))[1],
        bounds=(np.log(b_low), np.log(b_high)),
        method="bounded",
        options={"xatol": 1e-7},
    )
    b = float(np.exp(res.x))
    a, sse = _best_a(x, y, b)
    return a, b, sse


def fit_log_curve(
    spend: Sequence[float] | np.ndarray,
    outcome: Sequence[float] | np.ndarray,
    *,
    contiguous: bool = True,
    bootstrap: int = 200,
    seed: int = 0,
    level: float = 0.9,
    keep_samples: int = 200,
) -> CurveParams:
    """Fit one daily curve; ``contiguous`` says the rows are consecutive days (needed for adstock).

    Raises :class:`CurveFitError` naming what is wrong with the history.
    """
    x = np.asarray(spend, dtype=float)
    y = np.asarray(outcome, dtype=float)
    if x.shape != y.shape:
        raise CurveFitError(f"spend and outcome lengths differ ({len(x)} vs {len(y)})")
    if len(x) < MIN_DAYS:
        raise CurveFitError(f"only {len(x)} days of history; need at least {MIN_DAYS}")
    if not np.all(np.isfinite(x)) or not np.all(np.isfinite(y)) or (x < 0).any() or (y < 0).any():
        raise CurveFitError("history has negative or non-finite spend/outcome values")
    positive = x[x > 0]
    if len(positive) < MIN_DAYS // 2:
        raise CurveFitError(f"only {len(positive)} days with spend; need at least {MIN_DAYS // 2}")
    if float(positive.max()) <= float(positive.min()) * 1.05:
        raise CurveFitError("daily spend barely varies; a response curve is not identifiable")
    if float(y.sum()) <= 0:
        raise CurveFitError("outcome is zero on every day")

    b_low, b_high = float(positive.min()) * 1e-3, float(positive.max()) * 1e3
    a, b, sse = _fit_ab(x, y, b_low, b_high)
    decay = 0.0
    if contiguous and len(x) >= 3 * MIN_DAYS:
        best = (sse, 0.0, a, b)
        for lam in ADSTOCK_GRID[1:]:
            a_l, b_l, sse_l = _fit_ab(adstock(x, lam), y, b_low, b_high / (1 - lam))
            if sse_l < best[0]:
                best = (sse_l, lam, a_l, b_l)
        # F-test for one extra parameter (decay): keep carry-over only when the data supports it.
        dof = len(x) - 3
        if best[1] > 0 and best[0] > 0 and dof > 0:
            f_stat = (sse - best[0]) / (best[0] / dof)
            if stats.f.sf(f_stat, 1, dof) < 0.01:
                sse, decay, a, b = best
    xs = adstock(x, decay)
    total = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - sse / total if total > 0 else 0.0
    steady_b = b * (1.0 - decay)

    rng = np.random.default_rng(seed)
    draws: list[tuple[float, float]] = []
    for _ in range(bootstrap):
        idx = rng.integers(0, len(x), len(x))
        if np.ptp(xs[idx]) <= 0:
            continue
        a_k, b_k, _ = _fit_ab(xs[idx], y[idx], b_low, b_high / (1 - decay))
        if a_k > 0:
            draws.append((a_k, b_k * (1.0 - decay)))
    tail = (1 - level) / 2
    a_interval = b_interval = None
    if draws:
        arr = np.asarray(draws)
        a_interval = (float(np.quantile(arr[:, 0], tail)), float(np.quantile(arr[:, 0], 1 - tail)))
        b_interval = (float(np.quantile(arr[:, 1], tail)), float(np.quantile(arr[:, 1], 1 - tail)))
    if a <= 0:
        raise CurveFitError("outcome does not increase with spend (fitted scale is zero)")
    return CurveParams(
        a=a,
        b=steady_b,
        adstock=decay,
        r2=r2,
        n_obs=len(x),
        spend_min=float(positive.min()),
        spend_max=float(x.max()),
        residual_std=float(np.sqrt(sse / max(len(x) - 2, 1))),
        a_interval=a_interval,
        b_interval=b_interval,
        samples=draws[:keep_samples] or None,
    )


def daily_history(
    events: pl.DataFrame, by: Sequence[str] = ("retailer", "placement"), outcome: str = "attributed_sales"
) -> pl.DataFrame:
    """Aggregate RMIS events (many rows per day) to one row per line item and day, calendar-filled.

    Missing days inside a line's date range become zero-spend, zero-outcome days: RMIS rows are
    complete daily exports, so a missing day means nothing ran.
    """
    needed = {"event_date", "spend", outcome, *by}
    missing = sorted(needed - set(events.columns))
    if missing:
        raise ValueError(f"events lack column(s): {', '.join(missing)}")
    keys = list(by)
    daily = events.group_by([*keys, "event_date"]).agg(
        pl.col("spend").sum().cast(pl.Float64), pl.col(outcome).sum().cast(pl.Float64).alias("outcome")
    )
    frames = []
    for _, group in daily.group_by(keys, maintain_order=True):
        start, end = group["event_date"].min(), group["event_date"].max()
        assert isinstance(start, dt.date) and isinstance(end, dt.date)
        calendar = pl.DataFrame({"event_date": pl.date_range(start, end, "1d", eager=True)})
        filled = calendar.join(group.drop(keys), on="event_date", how="left").fill_null(0.0)
        for key in keys:
            filled = filled.with_columns(pl.lit(group[key][0]).alias(key))
        frames.append(filled)
    if not frames:
        return pl.DataFrame(
            schema={
                **{k: pl.String for k in keys},
                "event_date": pl.Date,
                "spend": pl.Float64,
                "outcome": pl.Float64,
            }
        )
    return pl.concat(frames, how="diagonal").sort([*keys, "event_date"])


def fit_response_curves(
    events: pl.DataFrame,
    *,
    by: Sequence[str] = ("retailer", "placement"),
    outcome: str = "attributed_sales",
    seed: int = 0,
    bootstrap: int = 200,
) -> list[CurveFit]:
    """One :class:`CurveFit` per line item (``by`` columns) of harmonized RMIS events.

    A line whose history cannot support a curve comes back with ``ok=False`` and the reason,
    so the planner can route it to exploration instead of silently dropping it.
    """
    if outcome not in events.columns:
        raise ValueError(f"outcome column '{outcome}' not in events (columns: {', '.join(events.columns)})")
    keys = list(by)
    daily = daily_history(events, keys, outcome)
    fits: list[CurveFit] = []
    for index, (_, group) in enumerate(daily.group_by(keys, maintain_order=True)):
        labels = [str(group[k][0]) for k in keys]
        retailer = str(group["retailer"][0]) if "retailer" in keys else "all"
        placement = str(group["placement"][0]) if "placement" in keys else "all"
        line_id = "/".join(labels)
        spend = group["spend"].to_numpy()
        params: CurveParams | None = None
        issue: str | None = None
        try:
            params = fit_log_curve(spend, group["outcome"].to_numpy(), seed=seed + index, bootstrap=bootstrap)
        except CurveFitError as exc:
            issue = str(exc)
        fits.append(
            CurveFit(
                line_id=line_id,
                retailer=retailer,
                placement=placement,
                outcome=outcome,
                ok=issue is None,
                issue=issue,
                params=params,
                mean_daily_spend=float(spend.mean()),
                days=len(spend),
            )
        )
    return fits
