"""Allocation solve time and optimality gap vs the independent KKT solution; SLSQP and PyMC-Marketing's
budget optimizer on the same curves for comparison; scenario solve times.

Usage: .venv/bin/python benchmarks/optimizer.py [SIZES...] [--slsqp-size N] [--slsqp-cap SECONDS]
       [--pymc-sizes N ...] [--install-pymc]
Defaults: sizes 100 1000 10000 100000, SLSQP on the 1,000-item problem capped at 120 s, PyMC-Marketing
on 10 and 100 lines when its venv exists ($PYMC_MARKETING_PYTHON, default /tmp/pymc-venv/bin/python;
--install-pymc creates it: pymc-marketing is never a dependency of rmnlora).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from _common import write_results
from scipy import optimize

from rmnlora.agents.optimizer import allocate_budget, kkt_allocation
from rmnlora.agents.optimizer.kkt import log_objective
from rmnlora.agents.optimizer.program import problem_arrays, solve_conic
from rmnlora.agents.optimizer.scenarios import compare_scenarios
from rmnlora.schemas.optimizer import AllocationProblem, CurveParams, LineItem, Scenario

PYMC_PYTHON = Path(os.environ.get("PYMC_MARKETING_PYTHON", "/tmp/pymc-venv/bin/python"))
PYMC_SIDE = Path(__file__).with_name("pymc_marketing_side.py")


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
        "certified_gap": result.optimality_gap if result.optimality_gap is not None else float("nan"),
        "polished": any(note.startswith("polished") for note in result.notes),
        **_conic_alone(problem, a, b, x_kkt, best),
    }


def _conic_alone(
    problem: AllocationProblem, a: np.ndarray, b: np.ndarray, x_kkt: np.ndarray, best: float
) -> dict[str, float]:
    """The conic solution before polishing: the polish uses kkt.py's closed form, so this is the
    figure that compares two independent methods."""
    solved = solve_conic(problem, problem_arrays(problem))
    assert solved.x is not None
    return {
        "conic_objective_gap_rel": (best - log_objective(a, b, solved.x)) / best,
        "conic_max_abs_diff_rel": float(np.max(np.abs(solved.x - x_kkt)) / np.max(x_kkt)),
    }


def run_scenarios(n: int) -> dict[str, float | str]:
    """Each scenario's solve time on the same n lines (sales curves = the objective's)."""
    problem, _, _, _ = make_problem(n)
    out: dict[str, float | str] = {"items": n}
    for scenario in (
        Scenario(),
        Scenario(kind="target_mroas", target=1.0),
        Scenario(kind="target_roas", target=1.5),
        Scenario(kind="target_outcome", target=400.0 * n),
    ):
        started = time.perf_counter()
        row = compare_scenarios(problem, [scenario]).rows[0]
        out[f"{scenario.kind}_seconds"] = time.perf_counter() - started
        out[f"{scenario.kind}_status"] = row.status
    return out


def run_pymc(n: int) -> dict[str, float | str] | None:
    """PyMC-Marketing's BudgetOptimizer (SLSQP on PyTensor) and ours on the same log curves."""
    if not PYMC_PYTHON.exists():
        return None
    problem, a, b, hi = make_problem(n)
    spec = {
        "budget": problem.budget,
        "bounds": {f"l{i}": [0.0, None if not np.isfinite(hi[i]) else float(hi[i])] for i in range(n)},
        "curves": [{"channel": f"l{i}", "family": "log", "params": {"a": a[i], "b": b[i]}} for i in range(n)],
    }
    with tempfile.TemporaryDirectory() as tmp:
        spec_path, out_path = Path(tmp) / "spec.json", Path(tmp) / "out.json"
        spec_path.write_text(json.dumps(spec))
        done = subprocess.run(
            [str(PYMC_PYTHON), str(PYMC_SIDE), "--input", str(spec_path), "--json", str(out_path)],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if done.returncode != 0 or not out_path.exists():
            return {"items": n, "error": (done.stderr or done.stdout)[-500:]}
        theirs = json.loads(out_path.read_text())
    started = time.perf_counter()
    ours = allocate_budget(problem)
    ours_seconds = time.perf_counter() - started
    x_ours = np.array([line.spend for line in ours.lines])
    x_theirs = np.array([theirs["allocation"][f"l{i}"] for i in range(n)])
    best = log_objective(a, b, kkt_allocation(a, b, problem.budget, hi=hi)[0])
    return {
        "items": n,
        "ours_objective": float(ours.predicted_outcome or 0.0),
        "pymc_objective": float(theirs["objective"]),
        "ours_gap_to_kkt": (best - float(ours.predicted_outcome or 0.0)) / best,
        "pymc_gap_to_kkt": (best - log_objective(a, b, x_theirs)) / best,
        "allocation_max_abs_diff_rel": float(np.max(np.abs(x_ours - x_theirs)) / np.max(x_ours)),
        "ours_seconds": ours_seconds,
        "pymc_seconds": float(theirs["seconds"]),
        "pymc_seconds_optimize": float(theirs.get("seconds_optimize", float("nan"))),
        "ours_certified_gap": ours.optimality_gap if ours.optimality_gap is not None else float("nan"),
        "pymc_marketing_version": str(theirs.get("pymc_marketing_version", "?")),
    }


def install_pymc() -> None:
    """A separate venv for the comparison only (about 30 s and 790 MB, from PyPI)."""
    venv = PYMC_PYTHON.parent.parent
    subprocess.run(["python3", "-m", "venv", str(venv)], check=True)
    subprocess.run([str(PYMC_PYTHON), "-m", "pip", "install", "-q", "pymc-marketing==0.19.2"], check=True)


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
    parser.add_argument("sizes", nargs="*", type=int, default=[100, 1000, 10000, 100000])
    parser.add_argument("--slsqp-size", type=int, default=1000)
    parser.add_argument("--slsqp-cap", type=float, default=120.0)
    parser.add_argument("--pymc-sizes", nargs="*", type=int, default=[10, 100])
    parser.add_argument("--install-pymc", action="store_true")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    if args.install_pymc and not PYMC_PYTHON.exists():
        install_pymc()
    rows = []
    for n in args.sizes:
        run_cvxpy(min(n, 50))  # warm-up: imports and CVXPY's first-call caches
        row = run_cvxpy(n)
        rows.append(row)
        print(
            f"CVXPY/Clarabel {n:>6} items: {row['seconds_total']:.3f} s total "
            f"({row['seconds_canon_and_solve']:.3f} s canonicalise+solve), status {row['status']}, "
            f"objective gap {row['objective_gap_rel']:.2e}, "
            f"max |Δx|/max x {row['allocation_max_abs_diff_rel']:.2e}, "
            f"certified gap {row['certified_gap']:.1e}"
            + (" (polished)" if row["polished"] else "")
            + f"; the conic solve alone: objective gap {row['conic_objective_gap_rel']:.1e}, "
            f"max |Δx|/max x {row['conic_max_abs_diff_rel']:.1e}"
        )
    scenarios = run_scenarios(1000)
    print(
        "scenarios on 1,000 items: "
        + ", ".join(
            f"{k.removesuffix('_seconds')} {v:.3f} s" for k, v in scenarios.items() if k.endswith("_seconds")
        )
    )
    pymc_rows = []
    for n in args.pymc_sizes:
        side = run_pymc(n)
        if side is None:
            print(f"PyMC-Marketing: skipped (no venv at {PYMC_PYTHON}; run with --install-pymc)")
            break
        pymc_rows.append(side)
        if "error" in side:
            print(f"PyMC-Marketing {n:>4} items: failed: {side['error']}")
            continue
        print(
            f"PyMC-Marketing {side['pymc_marketing_version']} vs ours, {n:>4} items: objective "
            f"{side['pymc_objective']:,.4f} vs {side['ours_objective']:,.4f} "
            f"(gap to KKT {side['pymc_gap_to_kkt']:.1e} vs {side['ours_gap_to_kkt']:.1e}), "
            f"max |Δx|/max x {side['allocation_max_abs_diff_rel']:.1e}, time {side['pymc_seconds']:.2f} s "
            f"(optimise {side['pymc_seconds_optimize']:.2f} s) vs {side['ours_seconds']:.3f} s; "
            f"ours certified to {side['ours_certified_gap']:.1e}"
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
        "optimizer",
        {
            "cvxpy_clarabel": rows,
            "slsqp": slsqp,
            "scenarios": scenarios,
            "pymc_marketing": pymc_rows,
            "goal": "100,000 items under 10 s on 2 cores, certified gap <= 1e-9",
        },
    )


if __name__ == "__main__":
    main()
