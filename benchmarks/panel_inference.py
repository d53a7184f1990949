"""Panel estimators under simulation: bias, interval coverage and false-positive rate per method.

Usage: python benchmarks/panel_inference.py [--experiments 400] [--units 20] [--pre 20] [--post 10]
       [--effect 0.05]
Each experiment is a fresh ``null_panels`` panel (heavy-tailed levels, latent factors, AR(1)
noise) with its last unit treated; the effect run adds ``effect`` × that unit's pre-period mean
to its post-periods. Inference is ``analyze_panel``'s: randomization inference, each other unit
refitted as treated against all units outside it, p-values and the inverted-test interval on
effects scaled by each fit's pre-period error.
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
from rmnlora.agents.measurement.randomization import randomization_runs  # noqa: E402
from rmnlora.agents.measurement.sdid import PANEL_METHODS  # noqa: E402


def panel_method_figures(experiments: int, units: int, pre: int, post: int, effect_share: float) -> dict:
    """Per panel method: bias, RMSE, coverage and power with an effect; false positives without."""
    panels = null_panels(np.random.default_rng(0), experiments, units, pre + post)
    effect = effect_share * panels[:, -1, :pre].mean(axis=1)
    treated = panels.copy()
    treated[:, -1, pre:] += effect[:, None]
    treated_unit = np.array([units - 1])
    results: dict[str, object] = {}
    for method in PANEL_METHODS:
        started = time.perf_counter()
        null_runs = randomization_runs(panels, treated_unit, pre, method, placebos=200)
        null_p = null_runs.p_values(null_runs.att)
        fpr = {str(alpha): float(np.mean(null_p <= alpha)) for alpha in (0.05, 0.10)}
        runs = randomization_runs(treated, treated_unit, pre, method, placebos=200)
        att = runs.att[:, 0]
        covered = runs.p_values(runs.att - effect[:, None] * runs.shift) > 0.05
        error = (att - effect) / effect
        results[method] = {
            "relative_bias": float(error.mean()),
            "relative_rmse": float(np.sqrt(np.mean(error**2))),
            "coverage_95": float(np.mean(covered)),
            "power_at_effect": float(np.mean(runs.p_values(runs.att) <= 0.05)),
            "false_positive_rate": fpr,
            "placebos": null_runs.count,
            "seconds": round(time.perf_counter() - started, 2),
        }
    return results


def report(results: dict, experiments: int) -> None:
    for method, f in results.items():
        fpr = f["false_positive_rate"]
        print(
            f"{method:<18} bias {f['relative_bias']:+.3f}  RMSE {f['relative_rmse']:.3f}  "
            f"coverage(95%) {f['coverage_95']:.3f}  power {f['power_at_effect']:.3f}  "
            f"FPR@0.05 {fpr['0.05']:.3f}  FPR@0.10 {fpr['0.1']:.3f}  ({f['seconds']} s, "
            f"{experiments} experiments x {f['placebos']} placebos, twice)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", type=int, default=400)
    parser.add_argument("--units", type=int, default=20)
    parser.add_argument("--pre", type=int, default=20)
    parser.add_argument("--post", type=int, default=10)
    parser.add_argument("--effect", type=float, default=0.05)
    args = parser.parse_args()
    results = panel_method_figures(args.experiments, args.units, args.pre, args.post, args.effect)
    report(results, args.experiments)
    write_results("panel_inference", {"args": vars(args), **results})


if __name__ == "__main__":
    main()
