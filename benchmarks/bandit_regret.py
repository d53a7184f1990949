"""Cumulative regret of contextual Thompson sampling vs uniform and epsilon-greedy splits.

Usage: .venv/bin/python benchmarks/bandit_regret.py [ROUNDS] [SEEDS]   (defaults 2000, 10)
The simulated world: 72 arms (4 retailers × 3 placements × 3 audiences × 2 seasons), linear
returns in one-hot context features, Gaussian reward noise; each round spends one budget chunk.
"""

from __future__ import annotations

import sys

import numpy as np
from _common import write_results

from rmnlora.agents.optimizer.bandit import simulate_regret


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    seeds = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    figures: dict[str, dict[str, float]] = {}
    for policy in ("thompson", "epsilon_greedy", "uniform"):
        finals = np.array([simulate_regret(policy, rounds=rounds, seed=s)[-1] for s in range(seeds)])  # type: ignore[arg-type]
        figures[policy] = {"mean_cumulative_regret": float(finals.mean()), "std": float(finals.std(ddof=1))}
        print(
            f"{policy:<15} cumulative regret after {rounds} rounds: "
            f"{finals.mean():9.1f} ± {finals.std(ddof=1):.1f} "
            f"(mean ± sd over {seeds} worlds)"
        )
    write_results("bandit_regret", {"rounds": rounds, "seeds": seeds, "epsilon": 0.1, "policies": figures})


if __name__ == "__main__":
    main()
