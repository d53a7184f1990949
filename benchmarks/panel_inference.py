"""Panel estimators under simulation: bias, interval coverage and false-positive rate per method.

Usage: python benchmarks/panel_inference.py [--experiments 400] [--units 20] [--pre 20] [--post 10]
       [--effect 0.05]
Each experiment is a fresh ``null_panels`` panel (heavy-tailed levels, latent factors, AR(1)
noise) with its last unit treated; the effect run adds ``effect`` × that unit's pre-period mean
to its post-periods. Inference is ``analyze_panel``'s: every placebo refitted, permutation
p-values and the inverted-test interval on effects scaled by each unit's pre-period fit error.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_results  # noqa: E402

from rmnlora.agents.measurement.null_panels import null_panels  # noqa: E402
from rmnlora.agents.measurement.placebo import permutation_inference, placebo_runs  # noqa: E402
from rmnlora.agents.measurement.sdid import PANEL_METHODS, fit_panel  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", type=int, default=400)
    parser.add_argument("--units", type=int, default=20)
    parser.add_argument("--pre", type=int, default=20)
    parser.add_argument("--post", type=int, default=10)
    parser.add_argument("--effect", type=float, default=0.05)
    args = parser.parse_args()
    panels = null_panels(np.random.default_rng(0), args.experiments, args.units, args.pre + args.post)
    effect = args.effect * panels[:, -1, : args.pre].mean(axis=1)
    treated = panels.copy()
    treated[:, -1, args.pre :] += effect[:, None]
    donors = args.units - 1
    results: dict[str, object] = {"args": vars(args)}
    for method in PANEL_METHODS:
        started = time.perf_counter()
        null_fit = fit_panel(panels, donors, args.pre, method)
        null_runs = placebo_runs(panels, donors, args.pre, method, null_fit)
        fpr = {
            str(alpha): float(
                np.mean(
                    permutation_inference(null_fit.att, null_fit.effects, null_runs, args.pre, alpha).p_value
                    <= alpha
                )
            )
            for alpha in (0.05, 0.10)
        }
        fit = fit_panel(treated, donors, args.pre, method)
        runs = placebo_runs(treated, donors, args.pre, method, fit)
        inference = permutation_inference(fit.att, fit.effects, runs, args.pre, 0.05)
        error = (fit.att - effect) / effect
        figures = {
            "relative_bias": float(error.mean()),
            "relative_rmse": float(np.sqrt(np.mean(error**2))),
            "coverage_95": float(np.mean(np.abs(fit.att - effect) <= inference.half_width)),
            "power_at_effect": float(np.mean(inference.p_value <= 0.05)),
            "false_positive_rate": fpr,
            "seconds": round(time.perf_counter() - started, 2),
        }
        results[method] = figures
        print(
            f"{method:<18} bias {figures['relative_bias']:+.3f}  RMSE {figures['relative_rmse']:.3f}  "
            f"coverage(95%) {figures['coverage_95']:.3f}  power {figures['power_at_effect']:.3f}  "
            f"FPR@0.05 {fpr['0.05']:.3f}  FPR@0.10 {fpr['0.1']:.3f}  ({figures['seconds']} s, "
            f"{args.experiments} experiments x {null_runs.count} placebos, twice)"
        )
    write_results("panel_inference", results)


if __name__ == "__main__":
    main()
