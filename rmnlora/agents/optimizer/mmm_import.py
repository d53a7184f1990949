"""Response curves from the user's own MMM (PyMC-Marketing, Meridian, or any sampled table).

Why import instead of fit: a team with a fitted MMM trusts its curves more than ours, fitted on a
few months of retail-media history; rmnlora's allocator, scenarios and planner should run on them.
Each channel becomes a line whose curve is a :class:`CurveTable`: formulas are sampled onto a grid
dense near zero (where curves bend most) and the largest gap between the table and the formula on
a 20x finer grid is reported; tables are taken as given. A curve that is not concave (Hill with
slope > 1, the sigmoid Hill) cannot be optimised exactly by a convex program, so its least concave
majorant is used and the report says from where to where it departs from the exporter's curve.

The formulas are PyMC-Marketing 0.19's (``mmm/transformers.py``, ``components/saturation.py``) and
Meridian's Hill (``model/adstock_hill.py``); scales as they document them: PyMC-Marketing divides
channel spend by ``channel_scale`` and multiplies the contribution by ``target_scale``; Meridian
scales media by the channel's median (give it as ``channel_scale``). Adstock is normalised in both,
so a constant spend per period meets the saturation at that spend: the curve per period is the
steady state, divided by ``period_days`` to the daily curve the optimizer works in.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from rmnlora.schemas.optimizer import CurveTable, LineItem
from rmnlora.yaml_input import MAX_JSON_BYTES, read_text_file, read_yaml_mapping

Family = Literal[
    "log",
    "logistic",
    "inverse_scaled_logistic",
    "michaelis_menten",
    "hill",
    "hill_sigmoid",
    "tanh",
    "root",
    "meridian_hill",
]
PARAMS: dict[str, tuple[str, ...]] = {
    "log": ("a", "b"),
    "logistic": ("lam", "beta"),
    "inverse_scaled_logistic": ("lam", "beta"),
    "michaelis_menten": ("alpha", "lam"),
    "hill": ("slope", "kappa", "beta"),
    "hill_sigmoid": ("sigma", "beta", "lam"),
    "tanh": ("b", "c"),
    "root": ("alpha", "beta"),
    "meridian_hill": ("ec", "slope", "beta"),
}
GRID_POINTS = 400
CHECK_FACTOR = 20
MAX_CHANNELS = 500


class MMMImportError(ValueError):
    """An export that cannot be imported; the message names the file, the channel and the field."""


def saturation(family: str, params: dict[str, float]) -> Callable[[np.ndarray], np.ndarray]:
    """The exporter's response of one channel to scaled spend x ≥ 0 (before ``target_scale``)."""
    p = params
    if family == "log":
        return lambda x: p["a"] * np.log1p(x / p["b"])
    if family == "logistic":
        return lambda x: p["beta"] * (1 - np.exp(-p["lam"] * x)) / (1 + np.exp(-p["lam"] * x))
    if family == "inverse_scaled_logistic":
        lam = math.log(3) / p["lam"]
        return lambda x: p["beta"] * (1 - np.exp(-lam * x)) / (1 + np.exp(-lam * x))
    if family == "michaelis_menten":
        return lambda x: p["alpha"] * x / (p["lam"] + x)
    if family == "hill":
        return lambda x: p["beta"] * x ** p["slope"] / (p["kappa"] ** p["slope"] + x ** p["slope"])
    if family == "hill_sigmoid":
        offset = p["sigma"] / (1 + math.exp(p["beta"] * p["lam"]))
        return lambda x: p["sigma"] / (1 + np.exp(-p["beta"] * (x - p["lam"]))) - offset
    if family == "tanh":
        return lambda x: p["b"] * np.tanh(x / (p["b"] * p["c"]))
    if family == "root":
        return lambda x: p["beta"] * x ** p["alpha"]
    if family == "meridian_hill":
        return lambda x: p["beta"] * x ** p["slope"] / (x ** p["slope"] + p["ec"] ** p["slope"])
    raise MMMImportError(f"unknown curve family {family!r}; known: {', '.join(PARAMS)}")


class ChannelCurve(BaseModel):
    """One channel of an export: a formula with its parameters, or points."""

    model_config = ConfigDict(extra="forbid")

    channel: str = Field(min_length=1, max_length=200)
    retailer: str = Field(min_length=1, max_length=100)
    placement: str = Field(default="all", max_length=100)
    family: Family | Literal["table"] = "table"
    params: dict[str, float] = Field(default_factory=dict)
    points: list[tuple[float, float]] | None = Field(
        default=None, max_length=2000, description="(spend per period, outcome per period) for tables."
    )
    channel_scale: float = Field(default=1.0, gt=0, description="Spend per period the model calls 1.0.")
    target_scale: float = Field(default=1.0, gt=0, description="Outcome units per model unit.")
    max_spend: float | None = Field(default=None, gt=0, description="Spend per period to tabulate up to.")
    observed_max: float | None = Field(
        default=None, gt=0, description="Highest spend per period in the data."
    )
    predictions: list[tuple[float, float]] | None = Field(
        default=None, max_length=2000, description="The exporter's own (spend, outcome) per period, to check."
    )

    @model_validator(mode="after")
    def _complete(self) -> ChannelCurve:
        if self.family == "table":
            if not self.points or len(self.points) < 2:
                raise ValueError("a table curve needs at least two points")
            return self
        missing = [name for name in PARAMS[self.family] if name not in self.params]
        extra = sorted(set(self.params) - set(PARAMS[self.family]))
        if missing:
            raise ValueError(
                f"{self.family} needs params {', '.join(PARAMS[self.family])}; missing {', '.join(missing)}"
            )
        if extra:
            raise ValueError(
                f"{self.family} takes params {', '.join(PARAMS[self.family])}; unknown {', '.join(extra)}"
            )
        bad = [name for name, value in self.params.items() if not (math.isfinite(value) and value > 0)]
        if bad:
            raise ValueError(f"params must be positive and finite: {', '.join(bad)}")
        return self


class CurveExport(BaseModel):
    """A curves file: which MMM wrote it, its period, and its channels."""

    model_config = ConfigDict(extra="forbid")

    exporter: str = Field(default="table", max_length=100, description="pymc-marketing, meridian, robyn...")
    period_days: float = Field(default=7.0, gt=0, le=366, description="Days in one period of the MMM.")
    channels: list[ChannelCurve] = Field(min_length=1, max_length=MAX_CHANNELS)


class ChannelImport(BaseModel):
    """What importing one channel did, for the user to check."""

    channel: str
    family: str
    points: int
    max_table_error: float = Field(description="Largest |table − formula| / max outcome on a 20x finer grid.")
    max_prediction_error: float | None = Field(
        description="Largest |ours − exporter's prediction| / max outcome over the given predictions."
    )
    concave: bool
    envelope: str | None = Field(description="Where the concave envelope departs from the curve, if it does.")


class ImportedCurves(BaseModel):
    lines: list[LineItem]
    report: list[ChannelImport]


def _grid(top: float) -> np.ndarray:
    """Points from 0 to ``top``, quadratically denser near zero where saturation curves bend most."""
    return top * np.linspace(0.0, 1.0, GRID_POINTS) ** 2


def _upper_hull(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Indices of the least concave majorant's vertices (monotone chain, upper side)."""
    hull: list[int] = []
    for i in range(len(xs)):
        while len(hull) >= 2:
            j, k = hull[-2], hull[-1]
            if (ys[k] - ys[j]) * (xs[i] - xs[j]) <= (ys[i] - ys[j]) * (xs[k] - xs[j]):
                hull.pop()
            else:
                break
        hull.append(i)
    return np.asarray(hull)


def _points(
    curve: ChannelCurve,
) -> tuple[np.ndarray, np.ndarray, float, Callable[[np.ndarray], np.ndarray] | None]:
    """(spend, outcome) per period, the sampling error, and the exact function (None for tables)."""
    if curve.family == "table":
        assert curve.points is not None
        pts = np.asarray(sorted(curve.points), dtype=float)
        xs, ys = pts[:, 0], pts[:, 1]
        if xs[0] > 0:
            xs, ys = np.concatenate([[0.0], xs]), np.concatenate([[0.0], ys])
        return xs, ys, 0.0, None
    scaled = saturation(curve.family, curve.params)

    def exact(spend: np.ndarray) -> np.ndarray:
        return curve.target_scale * scaled(spend / curve.channel_scale)

    top = curve.max_spend or 3.0 * max(curve.observed_max or 0.0, curve.channel_scale)
    xs = _grid(top)
    ys = exact(xs)
    fine = np.linspace(0.0, top, GRID_POINTS * CHECK_FACTOR)
    scale = max(float(np.max(np.abs(ys))), 1e-300)
    error = float(np.max(np.abs(np.interp(fine, xs, ys) - exact(fine)))) / scale
    return xs, ys, error, exact


def import_channel(curve: ChannelCurve, period_days: float) -> tuple[LineItem, ChannelImport]:
    """One channel as a line with a daily :class:`CurveTable`, and the report of how it was made."""
    xs, ys, error, exact = _points(curve)
    if np.any(np.diff(xs) <= 0):
        raise MMMImportError(f"channel {curve.channel}: spend points must be distinct")
    if ys[0] != 0:
        ys = ys - ys[0]  # the exporter's curve at zero spend is its baseline: the response is above it
    hull = _upper_hull(xs, ys)
    concave = len(hull) == len(xs) or bool(
        np.allclose(np.interp(xs, xs[hull], ys[hull]), ys, rtol=1e-9, atol=1e-12)
    )
    envelope = None
    if not concave:
        lifted = np.interp(xs, xs[hull], ys[hull]) - ys
        away = xs[lifted > 1e-9 * max(float(ys.max()), 1e-300)]
        envelope = (
            f"not concave between spend {away.min():,.2f} and {away.max():,.2f} per period: the allocator "
            f"uses the concave envelope there (up to {float(lifted.max()):,.4g} above the curve), so it "
            "spends on this channel either past that range or not at all"
        )
    xs, ys = xs[hull], ys[hull]
    ys = np.maximum.accumulate(ys)  # a falling tail (none of the families falls) is flat: spend buys nothing
    prediction_error = None
    if curve.predictions:
        pts = np.asarray(curve.predictions, dtype=float)
        ours = np.interp(pts[:, 0], xs, ys)
        theirs = pts[:, 1] - (exact(np.zeros(1))[0] if exact is not None else 0.0)
        prediction_error = float(np.max(np.abs(ours - theirs))) / max(float(np.max(np.abs(theirs))), 1e-300)
    table = CurveTable(
        spend=[float(x) / period_days for x in xs],
        outcome=[float(y) / period_days for y in ys],
        source=f"{curve.family} ({curve.channel})",
        spend_max=curve.observed_max / period_days if curve.observed_max else None,
    )
    line = LineItem(id=curve.channel, retailer=curve.retailer, placement=curve.placement, curve=table)
    report = ChannelImport(
        channel=curve.channel,
        family=curve.family,
        points=len(xs),
        max_table_error=error,
        max_prediction_error=prediction_error,
        concave=concave,
        envelope=envelope,
    )
    return line, report


def load_export(path: Path) -> CurveExport:
    """A curves file: YAML/JSON (:class:`CurveExport`) or a Meridian response-curves CSV."""
    if path.suffix.lower() == ".csv":
        return _meridian_csv(path)
    data = read_yaml_mapping(path, "curves export", MMMImportError, allow_empty=False)
    try:
        return CurveExport.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {str(e['msg']).removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise MMMImportError(f"curves export {path}: {problems}") from exc


def _meridian_csv(path: Path) -> CurveExport:
    """``Analyzer.response_curves().to_dataframe().reset_index()`` as written to CSV: one table per
    channel from its ``spend`` and mean ``incremental_outcome`` (totals over the analysed window,
    whose length in days the caller gives as ``period_days`` in a YAML wrapper if it is not 7)."""
    text = read_text_file(path, "curves export", MMMImportError, max_bytes=MAX_JSON_BYTES)
    try:
        frame = pl.read_csv(text.encode())
    except pl.exceptions.PolarsError as exc:
        raise MMMImportError(f"curves export {path}: not a readable CSV ({exc})") from exc
    needed = {"channel", "spend", "incremental_outcome"}
    if not needed <= set(frame.columns):
        raise MMMImportError(
            f"curves export {path}: needs columns {', '.join(sorted(needed))}; has {', '.join(frame.columns)}"
        )
    if "metric" in frame.columns:
        frame = frame.filter(pl.col("metric") == "mean")
    channels = []
    for name, rows in frame.group_by("channel", maintain_order=True):
        points = [(float(s), float(o)) for s, o in rows.select("spend", "incremental_outcome").iter_rows()]
        channel = str(name[0])
        channels.append(
            ChannelCurve(channel=channel, retailer=channel.split("_")[0], family="table", points=points)
        )
    return CurveExport(exporter="meridian", channels=channels)


def import_curves(export: CurveExport) -> ImportedCurves:
    """Every channel of an export as lines for an :class:`AllocationProblem`."""
    lines, report = [], []
    for curve in export.channels:
        try:
            line, done = import_channel(curve, export.period_days)
        except (ValueError, ValidationError) as exc:
            raise MMMImportError(f"channel {curve.channel}: {exc}") from exc
        lines.append(line)
        report.append(done)
    return ImportedCurves(lines=lines, report=report)


def describe(report: list[ChannelImport]) -> list[str]:
    """One line per channel for the CLI."""
    out = []
    for item in report:
        checked = (
            f", vs the exporter's predictions {item.max_prediction_error:.2e}"
            if item.max_prediction_error is not None
            else ""
        )
        out.append(
            f"{item.channel}: {item.family}, {item.points} points, "
            f"table error {item.max_table_error:.2e}{checked}"
            + (f"; {item.envelope}" if item.envelope else "")
        )
    return out
