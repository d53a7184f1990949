"""Does the geo_pool design's power come true, and does its analysis reject at alpha under no effect?

Usage: python benchmarks/geo_pool.py [--worlds N] [--markets M] [--history D] [--flight F] [--lift L]
Defaults: 40 worlds of the realistic example world (rmnlora/datagen/world.py), 24 markets, 120 days
of history then a 28-day flight, an expected lift of 8%.

Per world: design on the history (treated set chosen by the design), then the flight analysed
twice on fresh days, once with nothing done (a false positive if significant) and once with the
lift applied to the treated markets (a detection if significant). Printed: the design's replayed
and analytic power, averaged over worlds, against the detection rate realised; the realised
false-positive rate at alpha; time per design.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_results  # noqa: E402

from rmnlora.agents.measurement import analyze_geo, design_experiment  # noqa: E402
from rmnlora.agents.measurement.simulate import panel_history  # noqa: E402
from rmnlora.datagen.world import market_day_sales  # noqa: E402
from rmnlora.schemas.measurement import ExperimentRequest  # noqa: E402

START = dt.date(2025, 1, 6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--worlds", type=int, default=40)
    parser.add_argument("--markets", type=int, default=24)
    parser.add_argument("--history", type=int, default=120)
    parser.add_argument("--flight", type=int, default=28)
    parser.add_argument("--lift", type=float, default=0.08)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    replayed, analytic, detected, false_pos, seconds, shares = [], [], [], [], [], []
    for world in range(args.worlds):
        matrix = market_day_sales(rng, START, args.markets, args.history + args.flight)
        history = panel_history(matrix[:, : args.history], START)
        started = time.perf_counter()
        design = design_experiment(
            ExperimentRequest(
                history=history,
                design="geo_pool",
                flight_days=args.flight,
                flight_start=history.end + dt.timedelta(days=1),
                expected_lift=args.lift,
                seed=world,
            )
        )
        seconds.append(time.perf_counter() - started)
        replayed.append(design.simulated_power or 0.0)
        analytic.append(design.power or 0.0)
        shares.append(design.treated_share_of_kpi or 0.0)
        index = {m: i for i, m in enumerate(history.markets)}
        treated = [index[m] for m in design.treatment_markets]
        lifted = matrix.copy()
        lifted[treated, args.history :] *= 1 + args.lift
        for panel, outcomes in ((matrix, false_pos), (lifted, detected)):
            result = analyze_geo(panel_history(panel, START), design)
            outcomes.append(result.significant)
        print(
            f"world {world}: {len(treated)} treated ({design.treated_share_of_kpi:.0%} of sales), replayed "
            f"{design.simulated_power:.2f}, analytic {design.power:.2f}; detected {detected[-1]}, "
            f"false positive {false_pos[-1]} ({seconds[-1]:.1f} s)",
            flush=True,
        )
    n = args.worlds
    low, high = stats.binom.interval(0.95, n, 0.05)
    figures = {
        "worlds": n,
        "markets": args.markets,
        "history_days": args.history,
        "flight_days": args.flight,
        "lift": args.lift,
        "mean_replayed_power": float(np.mean(replayed)),
        "mean_analytic_power": float(np.mean(analytic)),
        "realised_power": float(np.mean(detected)),
        "realised_power_se": float(np.sqrt(np.mean(detected) * (1 - np.mean(detected)) / n)),
        "false_positive_rate": float(np.mean(false_pos)),
        "false_positive_95_band_at_0.05": [float(low / n), float(high / n)],
        "mean_treated_share": float(np.mean(shares)),
        "design_seconds_mean": float(np.mean(seconds)),
    }
    print(
        f"\n{n} worlds: power promised {figures['mean_replayed_power']:.2f} (replayed), "
        f"{figures['mean_analytic_power']:.2f} (analytic); realised {figures['realised_power']:.2f} "
        f"± {figures['realised_power_se']:.2f}; false positives {figures['false_positive_rate']:.3f} at 0.05 "
        f"(95% band {low / n:.3f}-{high / n:.3f}); design {figures['design_seconds_mean']:.1f} s"
    )
    write_results("geo_pool", figures)


if __name__ == "__main__":
    main()
