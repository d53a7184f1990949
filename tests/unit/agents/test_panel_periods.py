"""Any period through one call: daily, weekly, monthly and yearly panels, gaps as an explicit policy."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from rmnlora.agents.measurement.null_panels import null_panels
from rmnlora.agents.measurement.panel_analysis import analyze_panel
from rmnlora.agents.measurement.periods import panel_from_frame

UNITS, PERIODS, PRE = 12, 24, 16


def _dates(frequency: str) -> list[dt.date]:
    if frequency == "day":
        return [dt.date(2026, 1, 1) + dt.timedelta(days=t) for t in range(PERIODS)]
    if frequency == "week":
        return [dt.date(2026, 1, 5) + dt.timedelta(weeks=t) for t in range(PERIODS)]
    if frequency == "month":
        return [dt.date(2024 + t // 12, t % 12 + 1, 1) for t in range(PERIODS)]
    return [dt.date(1990 + t, 1, 1) for t in range(PERIODS)]


def _frame(frequency: str, effect: float = 0.0) -> pl.DataFrame:
    values = null_panels(np.random.default_rng(7), 1, UNITS, PERIODS)[0]
    values[-1, PRE:] += effect
    dates = _dates(frequency)
    return pl.DataFrame(
        {
            "market": [f"m{i:02d}" for i in range(UNITS) for _ in range(PERIODS)],
            "period": [d for _ in range(UNITS) for d in dates],
            "sales": values.ravel(),
        }
    )


@pytest.mark.parametrize("frequency", ["day", "week", "month", "year"])
def test_every_frequency_runs_through_the_same_call(frequency: str) -> None:
    frame = _frame(frequency, effect=40.0)
    result = analyze_panel(
        frame, treated=["m11"], treatment_start=_dates(frequency)[PRE], unit="market", value="sales"
    )
    assert result.frequency == frequency
    assert (result.pre_periods, result.post_periods) == (PRE, PERIODS - PRE)
    assert result.att == pytest.approx(40.0, abs=15.0)
    assert result.incremental_total == pytest.approx(result.att * (PERIODS - PRE))
    assert [p.period for p in result.periods] == _dates(frequency)


def test_years_given_as_integers_are_a_yearly_panel() -> None:
    frame = _frame("year").with_columns(pl.col("period").dt.year())
    result = analyze_panel(frame, treated=["m00"], treatment_start=1990 + PRE, unit="market", value="sales")
    assert result.frequency == "year" and result.treatment_start == dt.date(1990 + PRE, 1, 1)


def test_a_missing_period_is_named_never_zero_filled() -> None:
    frame = _frame("year").filter(~((pl.col("market") == "m03") & (pl.col("period") == dt.date(1995, 1, 1))))
    with pytest.raises(ValueError, match=r"1 missing year cell.*m03 1995-01-01.*never read as zero"):
        panel_from_frame(frame, unit="market", value="sales")
    interpolated = panel_from_frame(frame, unit="market", value="sales", missing="interpolate")
    row = interpolated.units.index("m03")
    assert interpolated.values[row, 5] == pytest.approx(interpolated.values[row, [4, 6]].mean())
    dropped = panel_from_frame(frame, unit="market", value="sales", missing="drop")
    assert dt.date(1995, 1, 1) not in dropped.periods and len(dropped.periods) == PERIODS - 1
    assert "dropped 1 year" in dropped.notes[0]


def test_a_declared_frequency_that_the_dates_contradict_is_refused() -> None:
    with pytest.raises(ValueError, match="do not fall on a month grid"):
        panel_from_frame(_frame("week"), unit="market", value="sales", frequency="month")


def test_unknown_units_and_too_short_pre_periods_are_clear_errors() -> None:
    frame = _frame("month")
    with pytest.raises(ValueError, match=r"unit\(s\) \['Atlantis'\] not in the panel"):
        analyze_panel(frame, treated=["Atlantis"], treatment_start="2025-01-01", unit="market", value="sales")
    with pytest.raises(ValueError, match="at least two periods before"):
        analyze_panel(frame, treated=["m00"], treatment_start="2024-02-01", unit="market", value="sales")


def test_yearly_events_are_not_read_as_days_with_zero_sales() -> None:
    """The old path: one row per year became 364 zero days and a zero-width interval."""
    from rmnlora.agents.measurement.panel import history_from_events

    events = _frame("year").rename({"period": "event_date", "sales": "attributed_sales"})
    with pytest.raises(ValueError, match=r"events are yearly.*analyze_panel"):
        history_from_events(events)


def test_a_multi_cell_test_compares_each_cell_with_the_units_in_no_cell() -> None:
    from rmnlora.agents.measurement.panel_analysis import analyze_cells

    values = null_panels(np.random.default_rng(11), 1, 16, PERIODS)[0]
    values[14, PRE:] += 60.0  # cell "high" gets an effect, cell "low" none
    dates = _dates("week")
    frame = pl.DataFrame(
        {
            "market": [f"m{i:02d}" for i in range(16) for _ in range(PERIODS)],
            "period": [d for _ in range(16) for d in dates],
            "sales": values.ravel(),
        }
    )
    results = analyze_cells(
        frame,
        cells={"low": ["m15"], "high": ["m14"]},
        treatment_start=dates[PRE],
        unit="market",
        value="sales",
        method="did",
    )
    assert set(results) == {"low", "high"}
    for result in results.values():
        assert result.n_donors == 14 and result.confidence_level == pytest.approx(0.975)
        assert not {"m14", "m15"} & set(result.unit_weights)
    assert results["high"].att == pytest.approx(60.0, abs=25.0)
    with pytest.raises(ValueError, match="in cells 'a' and 'b'"):
        analyze_cells(
            frame,
            cells={"a": ["m01"], "b": ["m01"]},
            treatment_start=dates[PRE],
            unit="market",
            value="sales",
        )
