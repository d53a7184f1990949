"""Experiment design time at planner scale, and the power check against simulated experiments.

Usage: python benchmarks/measurement.py [MARKETS] [DAYS] [--experiments N] [--flight-days F]
       [--panel-experiments N]
Defaults: 200 markets × 365 days of history, a 28-day flight, 2000 fresh simulated experiments;
then, per method (geo pairs DiD here; DiD, synthetic control and synthetic DiD from
panel_inference.py): bias, 95% interval coverage and false-positive rate.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_results  # noqa: E402
from panel_inference import panel_method_figures, report  # noqa: E402

from rmnlora.agents.measurement import design_experiment, history_from_events, paired_did  # noqa: E402
from rmnlora.agents.measurement.simulate import (  # noqa: E402
    market_levels,
    panel_events,
    simulate_panels,
)
from rmnlora.schemas.measurement import ExperimentRequest  # noqa: E402

START = dt.date(2024, 1, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("markets", nargs="?", type=int, default=200)
    parser.add_argument("days", nargs="?", type=int, default=365)
    parser.add_argument("--experiments", type=int, default=2000)
    parser.add_argument("--flight-days", type=int, default=28)
    parser.add_argument("--panel-experiments", type=int, default=400, help="per panel method (DiD, SC, SDID)")
    args = parser.parse_args()

    rng = np.random.default_rng(7)
    levels = market_levels(args.markets, rng)
    matrix = simulate_panels(levels, args.days, rng)[0]
    events = panel_events(matrix, START, retailers=3)

    started = time.perf_counter()
    history = history_from_events(events)
    aggregate_s = time.perf_counter() - started

    timings: dict[str, float] = {}
    designs = {}
    for kind in ("geo", "switchback", "auto"):
        request = ExperimentRequest(
            history=history, design=kind, flight_days=args.flight_days, expected_lift=0.03
        )
        started = time.perf_counter()
        designs[kind] = design_experiment(request)
        timings[kind] = time.perf_counter() - started

    geo = designs["geo"]
    index = {m: i for i, m in enumerate(history.markets)}
    t = np.array([index[p.treatment] for p in geo.pairs])
    c = np.array([index[p.control] for p in geo.pairs])
    pre, post = geo.pre_days, geo.duration_days
    lift = geo.mde or geo.expected_lift
    power_at_lift = design_experiment(
        ExperimentRequest(history=history, design="geo", flight_days=post, expected_lift=lift)
    ).power
    started = time.perf_counter()
    rejections = null_rejections = covered = 0
    errors: list[np.ndarray] = []
    for chunk in np.array_split(np.arange(args.experiments), max(1, args.experiments // 250)):
        sims = simulate_panels(levels, pre + post, rng, panels=len(chunk), day0=args.days - pre)
        after = sims[:, :, pre:].copy()
        after[:, t] *= 1 + lift
        est = paired_did(
            sims[:, t, :pre].mean(-1),
            after[:, t].mean(-1),
            sims[:, c, :pre].mean(-1),
            after[:, c].mean(-1),
            0.05,
        )
        rejections += int(np.sum(est.p_value < 0.05))
        truth = (after[:, t] - sims[:, t, pre:]).mean(axis=(1, 2))
        covered += int(np.sum((est.ci_low <= truth) & (truth <= est.ci_high)))
        errors.append((est.att - truth) / truth)
        null = paired_did(
            sims[:, t, :pre].mean(-1),
            sims[:, t, pre:].mean(-1),
            sims[:, c, :pre].mean(-1),
            sims[:, c, pre:].mean(-1),
            0.05,
        )
        null_rejections += int(np.sum(null.p_value < 0.05))
    check_s = time.perf_counter() - started
    simulated = rejections / args.experiments

    print(
        f"history: {args.markets} markets × {args.days} days from {events.height} events, "
        f"aggregated in {aggregate_s:.2f} s"
    )
    for kind, seconds in timings.items():
        d = designs[kind]
        print(
            f"design {kind:<10} {seconds:6.2f} s  -> {d.kind}, feasible={d.feasible}, power={d.power:.3f}, "
            f"placebo={d.simulated_power}, MDE={d.mde:.4f}"
        )
    print(
        f"power check at lift {lift:.4f}: designed {power_at_lift:.3f}, rejection rate of "
        f"{args.experiments} simulated experiments {simulated:.3f} (diff {simulated - power_at_lift:+.3f}), "
        f"{check_s:.1f} s"
    )
    relative_errors = np.concatenate(errors)
    did_pairs = {
        "relative_bias": float(relative_errors.mean()),
        "coverage_95": covered / args.experiments,
        "false_positive_rate_0.05": null_rejections / args.experiments,
    }
    print(
        f"did_pairs (geo)    bias {did_pairs['relative_bias']:+.3f}  "
        f"coverage(95%) {did_pairs['coverage_95']:.3f}  "
        f"FPR@0.05 {did_pairs['false_positive_rate_0.05']:.3f}  "
        f"({args.experiments} fresh experiments at lift {lift:.4f})"
    )
    panel = panel_method_figures(args.panel_experiments, 20, 20, 10, 0.05)
    report(panel, args.panel_experiments)
    write_results(
        "measurement",
        {
            "markets": args.markets,
            "days": args.days,
            "flight_days": args.flight_days,
            "aggregate_s": aggregate_s,
            "design_s": timings,
            "geo": {
                "power": geo.power,
                "placebo_power": geo.simulated_power,
                "mde": geo.mde,
                "min_days_for_power": geo.min_days_for_power,
            },
            "power_check": {
                "lift": lift,
                "designed_power": power_at_lift,
                "simulated_rejection_rate": simulated,
                "experiments": args.experiments,
            },
            "did_pairs": did_pairs,
            "panel_methods": panel,
        },
    )


if __name__ == "__main__":
    main()
