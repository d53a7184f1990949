"""Curves from the user's own MMM: PyMC-Marketing's formulas against PyMC-Marketing's own predictions
(tests/data/mmm/pymc_marketing_export.json, written by the library: make_pymc_marketing_export.py),
Meridian's response-curve table, and allocation over table curves against an exact greedy fill."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rmnlora.agents.optimizer.allocate import allocate_budget
from rmnlora.agents.optimizer.mmm_import import MMMImportError, import_curves, load_export
from rmnlora.cli import app
from rmnlora.schemas.optimizer import AllocationProblem, CurveTable, LineItem

DATA = Path(__file__).resolve().parents[2] / "data" / "mmm"
PYMC_EXPORT = DATA / "pymc_marketing_export.json"


def test_pymc_marketing_curves_reproduce_its_own_predictions() -> None:
    imported = import_curves(load_export(PYMC_EXPORT))
    report = {item.channel: item for item in imported.report}
    concave = [name for name, item in report.items() if item.concave]
    assert sorted(concave) == ["amazon_sp", "criteo_onsite", "kroger_display", "walmart_search"]
    for name in concave:  # logistic, Michaelis-Menten, Hill slope 0.8, tanh
        error = report[name].max_prediction_error
        assert error is not None and error < 1e-4, (name, error)
    # Hill with slope 2.2 is S-shaped: its concave envelope departs from the curve, and says where
    s_shaped = report["target_roundel"]
    assert not s_shaped.concave and s_shaped.envelope and "not concave between spend" in s_shaped.envelope
    assert (s_shaped.max_prediction_error or 0) > 0.01
    daily = next(line for line in imported.lines if line.id == "walmart_search").curve
    assert isinstance(daily, CurveTable)
    export = json.loads(PYMC_EXPORT.read_text())["channels"][0]
    spend, outcome = export["predictions"][12]  # a weekly point, read back as a daily curve
    assert daily.value(spend / 7) == pytest.approx(outcome / 7, rel=1e-4)


def _greedy(tables: list[CurveTable], budget: float, days: int) -> np.ndarray:
    """The exact optimum over concave piecewise-linear curves: fill segments best slope first."""
    segments = []
    for i, table in enumerate(tables):
        xs, ys = np.asarray(table.spend) * days, np.asarray(table.outcome) * days
        for k in range(len(xs) - 1):
            segments.append(((ys[k + 1] - ys[k]) / (xs[k + 1] - xs[k]), i, xs[k + 1] - xs[k]))
    spend = np.zeros(len(tables))
    left = budget
    for _, i, width in sorted(segments, key=lambda s: -s[0]):
        take = min(width, left)
        spend[i] += take
        left -= take
        if left <= 0:
            break
    return spend


def test_allocation_over_imported_curves_is_the_exact_piecewise_optimum() -> None:
    imported = import_curves(load_export(PYMC_EXPORT))
    problem = AllocationProblem(budget=400_000, days=28, lines=imported.lines)
    result = allocate_budget(problem)
    assert result.status == "optimal"
    tables = [line.curve for line in imported.lines]
    assert all(isinstance(t, CurveTable) for t in tables)
    expected = _greedy(tables, 400_000, 28)  # type: ignore[arg-type]
    spends = np.array([line.spend for line in result.lines])
    outcome_expected = sum(
        28 * t.value(s / 28)  # type: ignore[union-attr]
        for t, s in zip(tables, expected, strict=True)
    )
    assert result.predicted_outcome == pytest.approx(outcome_expected, rel=1e-9)
    np.testing.assert_allclose(spends, expected, rtol=1e-5, atol=1.0)
    assert result.optimality_gap is not None and abs(result.optimality_gap) < 1e-8


def test_a_table_line_is_capped_at_its_last_point() -> None:
    table = CurveTable(spend=[0, 100, 200], outcome=[0, 300, 400])
    other = CurveTable(spend=[0, 1000], outcome=[0, 100])
    problem = AllocationProblem(
        budget=10_000,
        days=10,
        lines=[LineItem(id="t", retailer="r", curve=table), LineItem(id="o", retailer="r", curve=other)],
    )
    result = allocate_budget(problem)
    assert result.lines[0].spend == pytest.approx(2_000, rel=1e-7)  # 200 a day over 10 days, no more
    assert result.lines[1].spend == pytest.approx(8_000, rel=1e-7)


def test_meridian_response_curves_csv_is_read_as_tables(tmp_path: Path) -> None:
    rows = ["spend_multiplier,channel,metric,spend,incremental_outcome"]
    for m in (0.0, 0.5, 1.0, 1.5, 2.0):
        for channel, spend, top in (("walmart_search", 50_000, 210_000), ("amazon_sp", 80_000, 260_000)):
            mean = top * (1 - np.exp(-1.4 * m))
            rows += [
                f"{m},{channel},mean,{spend * m},{mean}",
                f"{m},{channel},ci_lo,{spend * m},{0.8 * mean}",
                f"{m},{channel},ci_hi,{spend * m},{1.2 * mean}",
            ]
    path = tmp_path / "response_curves.csv"
    path.write_text("\n".join(rows) + "\n")
    imported = import_curves(load_export(path))
    assert [line.id for line in imported.lines] == ["walmart_search", "amazon_sp"]
    walmart = imported.lines[0].curve
    assert isinstance(walmart, CurveTable) and len(walmart.spend) == 5
    assert walmart.value(50_000 / 7) == pytest.approx(210_000 * (1 - np.exp(-1.4)) / 7, rel=1e-12)  # the mean


def test_bad_exports_name_the_channel_and_what_is_wrong(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "channels:\n  - {channel: c1, retailer: walmart, family: hill, params: {slope: 1.0, beta: 2}}\n"
    )
    with pytest.raises(MMMImportError, match="hill needs params slope, kappa, beta; missing kappa"):
        load_export(bad)
    bad.write_text("channels:\n  - {channel: c1, retailer: walmart, family: gompertz, params: {a: 1}}\n")
    with pytest.raises(MMMImportError, match="channels.0.family"):
        load_export(bad)
    falling = tmp_path / "falling.yaml"
    falling.write_text("channels:\n  - {channel: c2, retailer: kroger, points: [[0, 0], [10, 5], [10, 6]]}\n")
    with pytest.raises(MMMImportError, match="channel c2: spend points must be distinct"):
        import_curves(load_export(falling))
    with pytest.raises(ValueError, match="not concave"):
        CurveTable(spend=[0, 1, 2], outcome=[0, 1, 3])


def test_rmn_import_curves_writes_a_problem_rmn_optimize_solves(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "problem.json"
    done = runner.invoke(app, ["import-curves", str(PYMC_EXPORT), "--budget", "400000", "--out", str(out)])
    assert done.exit_code == 0, done.output
    assert "target_roundel: hill" in done.output and "not concave" in done.output
    solved = runner.invoke(app, ["optimize", str(out), "--json"])
    assert solved.exit_code == 0, solved.output
    assert json.loads(solved.stdout)["total_spend"] == pytest.approx(400_000, rel=1e-7)
    missing = runner.invoke(app, ["import-curves", str(tmp_path / "nope.yaml"), "--budget", "1"])
    assert missing.exit_code == 1 and "nope.yaml" in missing.output
