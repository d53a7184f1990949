"""PNG plots for the plan report: each line's flight curve with its chosen point, and the split.

Agg backend only: the report is written on servers without a display.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from rmnlora.schemas.optimizer import AllocationProblem, AllocationResult, CurveTable  # noqa: E402

MAX_CURVES = 24


def plot_allocation(problem: AllocationProblem, result: AllocationResult, out_dir: Path) -> list[Path]:
    """Write ``curves.png`` (up to 24 largest lines) and ``allocation.png``; returns the paths.

    ``problem`` must be resolved (every line has a curve), as :func:`allocate_budget` leaves it.
    """
    if result.status not in ("optimal", "optimal_inaccurate"):
        raise ValueError(f"nothing to plot: allocation status is {result.status}")
    out_dir.mkdir(parents=True, exist_ok=True)
    by_id = {line.id: line for line in problem.lines}
    chosen = sorted(result.lines, key=lambda line: line.spend, reverse=True)[:MAX_CURVES]
    cols = min(4, len(chosen))
    rows = math.ceil(len(chosen) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False)
    days = problem.days
    for ax, alloc in zip(axes.flat, chosen, strict=False):
        curve = by_id[alloc.id].curve
        assert curve is not None, "plot_allocation needs a resolved problem"
        weight = by_id[alloc.id].incrementality
        top = max(alloc.spend * 1.6, (curve.spend_max or 0) * days * 1.1, problem.budget / len(problem.lines))
        xs = np.linspace(0, top, 200)
        if isinstance(curve, CurveTable):
            ys = np.interp(xs / days, curve.spend, curve.outcome)
            ax.plot(xs, weight * days * ys, color="tab:blue")
        else:
            ax.plot(xs, weight * days * curve.a * np.log1p(xs / (days * curve.b)), color="tab:blue")
        if curve.samples:
            s = np.asarray(curve.samples)
            band = weight * days * s[:, :1] * np.log1p(xs[None, :] / (days * s[:, 1:]))
            lo, hi = np.quantile(band, [0.05, 0.95], axis=0)
            ax.fill_between(xs, lo, hi, color="tab:blue", alpha=0.15)
        if curve.spend_min is not None and curve.spend_max is not None:
            ax.axvspan(curve.spend_min * days, curve.spend_max * days, color="grey", alpha=0.12)
        ax.plot([alloc.spend], [alloc.predicted_outcome], "o", color="tab:red" if alloc.extrapolates else "k")
        r2 = f"R²={alloc.r2:.2f}" if alloc.r2 is not None else "R² n/a"
        ax.set_title(f"{alloc.id} ({r2})", fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(chosen) :]:
        ax.axis("off")
    fig.suptitle(
        f"{problem.name}: flight response curves (grey: observed range, red: extrapolated)", fontsize=10
    )
    fig.tight_layout()
    curves_path = out_dir / "curves.png"
    fig.savefig(curves_path, dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, max(3.0, 0.3 * len(chosen))))
    labels = [line.id for line in chosen][::-1]
    ax.barh(labels, [line.spend for line in chosen][::-1], color="tab:blue", label="optimal")
    current = next((c for c in result.comparisons if c.name == "current"), None)
    if current is not None:
        ax.plot([current.spends[i] for i in labels], labels, "k|", markersize=12, label="current")
    ax.set_xlabel(f"spend ({result.currency})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    split_path = out_dir / "allocation.png"
    fig.savefig(split_path, dpi=100)
    plt.close(fig)
    return [curves_path, split_path]
