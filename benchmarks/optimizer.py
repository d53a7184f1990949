"""Allocation solve time and optimality gap vs the independent KKT solution; SLSQP for comparison.

Usage: .venv/bin/python benchmarks/optimizer.py [SIZES...] [--slsqp-size N] [--slsqp-cap SECONDS]
Defaults: sizes 100 1000 10000, SLSQP on the 1,000-item problem capped at 120 s of iterations.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from _common import write_results
from scipy import optimize

from rmnlora.agents.optimizer import allocate_budget, kkt_allocation
from rmnlora.agents.optimizer.kkt import log_objective
from rmnlora.schemas.optimizer import AllocationProblem, CurveParams, LineItem


def make_problem(n: int, seed: int = 0) -> tuple[AllocationProblem, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(100, 1000, n), rng.uniform(50, 500, n)
    hi = np.where(rng.random(n) < 0.3, rng.uniform(250, 600, n), np.inf)
    lines = [
        LineItem(
            id=f"l{i}",
            retailer=f"r{i % 50}",
            curve=CurveParams(a=a[i], b=b[i]),
            max_spend=None if not np.isfinite(hi[i]) else float(hi[i]),
        )
        for i in range(n)
    ]
    return AllocationProblem(name=f"bench-{n}", budget=300.0 * n, lines=lines), a, b, hi


def run_cvxpy(n: int) -> dict[str, float | str]:
    problem, a, b, hi = make_problem(n)
    started = time.perf_counter()
    result = allocate_budget(problem)
    total = time.perf_counter() - started
    x = np.array([line.spend for line in result.lines])
    x_kkt, _ = kkt_allocation(a, b, problem.budget, hi=hi)
    best = log_objective(a, b, x_kkt)
    return {
        "items": n,
        "status": result.status,
        "seconds_total": total,
        "seconds_canon_and_solve": result.solve_seconds,
        "objective_gap_rel": (best - float(result.predicted_outcome or 0.0)) / best,
        "allocation_max_abs_diff_rel": float(np.max(np.abs(x - x_kkt)) / np.max(x_kkt)),
        "budget_residual_rel": abs(float(x.sum()) - problem.budget) / problem.budget,
    }


def run_slsqp(n: int, cap: float) -> dict[str, float | str | int]:
    problem, a, b, hi = make_problem(n)
    x_kkt, _ = kkt_allocation(a, b, problem.budget, hi=hi)
    best = log_objective(a, b, x_kkt)
    scale = problem.budget / n
    started = time.perf_counter()
    iterations = 0

    def stop(_: np.ndarray) -> None:
        nonlocal iterations
        iterations += 1
        if time.perf_counter() - started > cap:
            raise StopIteration

    res = optimize.minimize(
        lambda u: -log_objective(a, b, u * scale) / best,
        np.full(n, 1.0),
        jac=lambda u: -(a / (b + u * scale)) * scale / best,
        method="SLSQP",
        bounds=[(0.0, h / scale if np.isfinite(h) else None) for h in hi],
        constraints=[{"type": "eq", "fun": lambda u: u.sum() - n, "jac": lambda u: np.ones_like(u)}],
        callback=stop,
        options={"maxiter": 1000, "ftol": 1e-12},
    )
    seconds = time.perf_counter() - started
    x = np.clip(res.x * scale, 0, hi)
    return {
        "items": n,
        "seconds": seconds,
        "capped_at_seconds": cap,
        "iterations": iterations,
        "success": bool(res.success),
        "message": str(res.message),
        "objective_gap_rel": (best - log_objective(a, b, x)) / best,
        "allocation_max_abs_diff_rel": float(np.max(np.abs(x - x_kkt)) / np.max(x_kkt)),
        "gradient": "analytic",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("sizes", nargs="*", type=int, default=[100, 1000, 10000])
    parser.add_argument("--slsqp-size", type=int, default=1000)
    parser.add_argument("--slsqp-cap", type=float, default=120.0)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    rows = []
    for n in args.sizes:
        run_cvxpy(min(n, 50))  # warm-up: imports and CVXPY's first-call caches
        row = run_cvxpy(n)
        rows.append(row)
        print(
            f"CVXPY/Clarabel {n:>6} items: {row['seconds_total']:.3f} s total "
            f"({row['seconds_canon_and_solve']:.3f} s canonicalise+solve), status {row['status']}, "
            f"objective gap {row['objective_gap_rel']:.2e}, "
            f"max |Δx|/max x {row['allocation_max_abs_diff_rel']:.2e}"
        )
    slsqp = run_slsqp(args.slsqp_size, args.slsqp_cap) if args.slsqp_size > 0 else None
    if slsqp:
        print(
            f"SciPy SLSQP   {slsqp['items']:>6} items: {slsqp['seconds']:.2f} s, "
            f"{slsqp['iterations']} iterations, success={slsqp['success']} ({slsqp['message']}), "
            f"objective gap {slsqp['objective_gap_rel']:.2e}, "
            f"max |Δx|/max x {slsqp['allocation_max_abs_diff_rel']:.2e}"
        )
    write_results(
        "optimizer", {"cvxpy_clarabel": rows, "slsqp": slsqp, "goal": "10,000 items under 2 s, gap <= 1e-6"}
    )


if __name__ == "__main__":
    main()
