"""PyMC-Marketing's budget optimizer on fixed, given response curves (no MMM is fitted).

Runs in a separate virtualenv that has pymc-marketing installed; it imports nothing from
rmnlora, so the main benchmark can call it through a subprocess and compare allocations.

    /tmp/pymc-venv/bin/python benchmarks/pymc_marketing_side.py --channels 10 --seed 0 --json OUT.json
    /tmp/pymc-venv/bin/python benchmarks/pymc_marketing_side.py --input SPEC.json --json OUT.json
    /tmp/pymc-venv/bin/python benchmarks/pymc_marketing_side.py --preset rmnlora --channels 100 \
        --json OUT.json

How the curves reach the optimizer: a small PyMC model is built with a ``channel_data`` input
of dims ("date", "channel"), pymc-marketing's own saturation classes (``MichaelisMentenSaturation``,
``LogisticSaturation``, ``HillSaturation``, ``TanhSaturation``, ``RootSaturation``; plus a custom
``Log1pSaturation`` subclass for a*log(1+x/b)), optionally ``GeometricAdstock``, and a scalar
deterministic ``total_contribution``. The curve parameters are written into an InferenceData with
one chain and one posterior draw, and a minimal wrapper satisfying pymc-marketing's
``OptimizerCompatibleModelWrapper`` protocol hands both to ``BudgetOptimizer`` (SLSQP on a compiled
PyTensor objective and gradient). ``BudgetOptimizer.allocate_budget`` maximises the posterior mean of
``total_contribution`` s.t. sum(x) == budget and per-channel bounds.

SPEC.json (also the shape of the "curves"/"budget"/"bounds" keys of the output):
    {"budget": 1000.0,
     "bounds": {"c0": [0.0, 300.0], "c1": [10.0, null], ...},     # null = no upper bound
     "curves": [{"channel": "c0", "family": "michaelis_menten", "params": {"alpha": 5.0, "lam": 80.0}},
                {"channel": "c1", "family": "log", "params": {"a": 400.0, "b": 120.0}}, ...],
     "adstock": {"alpha": {"c0": 0.5, ...}, "l_max": 4, "normalize": true},   # optional
     "num_periods": 1}                                                           # optional
Families and formulas (x = spend per period, after adstock when adstock is given; functions are
in pymc_marketing.mmm.transformers, "x beta" = the class multiplies the function by beta):
    michaelis_menten  alpha*x/(lam+x)                       michaelis_menten
    logistic          beta*(1-exp(-lam*x))/(1+exp(-lam*x))  logistic_saturation, x beta
    hill              beta*x^slope/(kappa^slope+x^slope)    hill_function, x beta
    tanh              b*tanh(x/(b*c))                       tanh_saturation
    root              beta*x^alpha                          root_saturation, x beta
    log               a*log(1+x/b)                          Log1pSaturation below (custom, not built in)
All are concave on x >= 0 (hill only for slope <= 1, root only for alpha <= 1), so the KKT reference
solution computed below (bisection on the budget multiplier) is the certified global optimum.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import types
import warnings

T_START = time.perf_counter()

# The matrices here are tiny (N x N in SLSQP); multi-threaded BLAS only adds contention, which made the
# 100-channel solve ~10x slower on a loaded 2-core machine. Callers can override by setting these.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")


def _reexec_or_skip() -> None:
    """Under an interpreter without pymc-marketing (e.g. `make bench`, which runs every script here with
    the main venv), re-run under $PYMC_MARKETING_PYTHON (default /tmp/pymc-venv/bin/python) if it
    exists, else report a skip and exit 0 (writing {"skipped": ...} to --json if one was given)."""
    import importlib.util

    if importlib.util.find_spec("pymc_marketing") is not None:
        return
    py = os.environ.get("PYMC_MARKETING_PYTHON", "/tmp/pymc-venv/bin/python")
    if os.path.exists(py) and not os.environ.get("_PYMC_SIDE_REEXEC"):
        os.environ["_PYMC_SIDE_REEXEC"] = "1"
        os.execv(py, [py, os.path.abspath(__file__), *sys.argv[1:]])
    reason = f"pymc-marketing is not installed for {sys.executable} and {py} is missing"
    print(f"skipped: {reason} (see benchmarks/PYMC_MARKETING_NOTES.md)", file=sys.stderr)
    if "--json" in sys.argv[1:-1]:
        with open(sys.argv[sys.argv.index("--json") + 1], "w") as fh:
            json.dump({"skipped": reason}, fh)
    raise SystemExit(0)


if __name__ == "__main__":
    _reexec_or_skip()

import numpy as np  # noqa: E402

warnings.filterwarnings("ignore", category=FutureWarning)
warnings.filterwarnings("ignore", category=UserWarning)
warnings.filterwarnings("ignore", category=DeprecationWarning)

import arviz as az  # noqa: E402
import pymc as pm  # noqa: E402
import pymc.dims as pmd  # noqa: E402
import pymc_marketing  # noqa: E402
import pytensor.xtensor as ptx  # noqa: E402
from pymc.model.fgraph import clone_model  # noqa: E402
from pymc_marketing.mmm import (  # noqa: E402
    GeometricAdstock,
    HillSaturation,
    LogisticSaturation,
    MichaelisMentenSaturation,
    RootSaturation,
    TanhSaturation,
)
from pymc_marketing.mmm.budget_optimizer import BudgetOptimizer  # noqa: E402
from pymc_marketing.mmm.components.saturation import SaturationTransformation  # noqa: E402
from pymc_marketing.prior import Prior  # noqa: E402
from pytensor.xtensor import as_xtensor  # noqa: E402

T_IMPORTED = time.perf_counter()


class Log1pSaturation(SaturationTransformation):
    """a*log(1+x/b): the curve family of rmnlora's optimizer, as a custom pymc-marketing saturation."""

    lookup_name = "log1p_benchmark"

    def function(self, x, a, b, *, dim: str | None = None):
        return a * ptx.math.log1p(x / b)

    default_priors = {"a": Prior("HalfNormal", sigma=1), "b": Prior("HalfNormal", sigma=1)}


# family -> (pymc-marketing class, parameter names in the order the class declares them)
FAMILIES: dict[str, tuple[type, tuple[str, ...]]] = {
    "michaelis_menten": (MichaelisMentenSaturation, ("alpha", "lam")),
    "logistic": (LogisticSaturation, ("lam", "beta")),
    "hill": (HillSaturation, ("slope", "kappa", "beta")),
    "tanh": (TanhSaturation, ("b", "c")),
    "root": (RootSaturation, ("alpha", "beta")),
    "log": (Log1pSaturation, ("a", "b")),
}


# ---------------------------------------------------------------------------------------------
# Independent numpy implementation of the same curves (value and derivative), for the reference.
# ---------------------------------------------------------------------------------------------
def curve_value(family: str, p: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if family == "michaelis_menten":
            return p["alpha"] * x / (p["lam"] + x)
        if family == "logistic":
            e = np.exp(-p["lam"] * x)
            return p["beta"] * (1 - e) / (1 + e)
        if family == "hill":
            xs, ks = np.power(x, p["slope"]), np.power(p["kappa"], p["slope"])
            return p["beta"] * xs / (ks + xs)
        if family == "tanh":
            return p["b"] * np.tanh(x / (p["b"] * p["c"]))
        if family == "root":
            return p["beta"] * np.power(x, p["alpha"])
        if family == "log":
            return p["a"] * np.log1p(x / p["b"])
    raise ValueError(family)


def curve_deriv(family: str, p: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if family == "michaelis_menten":
            return p["alpha"] * p["lam"] / (p["lam"] + x) ** 2
        if family == "logistic":
            t = np.tanh(p["lam"] * x / 2)  # (1-e)/(1+e) == tanh(lam*x/2)
            return p["beta"] * p["lam"] / 2 * (1 - t * t)
        if family == "hill":
            s, k = p["slope"], p["kappa"]
            ks, xs = np.power(k, s), np.power(x, s)
            return p["beta"] * s * ks * np.power(x, s - 1) / (ks + xs) ** 2
        if family == "tanh":
            t = np.tanh(x / (p["b"] * p["c"]))
            return (1 - t * t) / p["c"]
        if family == "root":
            return p["beta"] * p["alpha"] * np.power(x, p["alpha"] - 1)
        if family == "log":
            return p["a"] / (p["b"] + x)
    raise ValueError(family)


def is_concave(family: str, p: dict[str, float]) -> bool:
    if family == "hill":
        return p["slope"] <= 1.0
    if family == "root":
        return p["alpha"] <= 1.0
    return True


class NumpyCurves:
    """sum_t f_c(b_c * s_ct): the total response of a constant per-period budget b_c over the horizon.

    s_ct are the adstock "exposure" factors: with no adstock and one period s_c = [1]. With
    geometric adstock of length L over T periods, spend b in periods 0..T-1 and zeros in the L
    carry-over periods give adstocked x_t = b * sum_{k=max(0,t-T+1)}^{min(t,L-1)} w_k, where
    w_k = alpha^k (/ sum_j alpha^j when normalised), exactly as BudgetOptimizer builds the input.
    """

    def __init__(self, curves: list[dict], adstock: dict | None, num_periods: int):
        self.n = len(curves)
        self.groups: dict[str, tuple[np.ndarray, dict[str, np.ndarray]]] = {}
        for fam in dict.fromkeys(c["family"] for c in curves):
            idx = np.array([i for i, c in enumerate(curves) if c["family"] == fam])
            names = FAMILIES[fam][1]
            params = {k: np.array([curves[i]["params"][k] for i in idx], float)[:, None] for k in names}
            self.groups[fam] = (idx, params)
        t_total = num_periods + (adstock["l_max"] if adstock else 0)
        s = np.zeros((self.n, t_total))
        if adstock:
            lmax = adstock["l_max"]
            for i, c in enumerate(curves):
                a = float(adstock["alpha"][c["channel"]])
                w = a ** np.arange(lmax)
                if adstock.get("normalize", True):
                    w = w / w.sum()
                for t in range(t_total):
                    k0, k1 = max(0, t - num_periods + 1), min(t, lmax - 1)
                    s[i, t] = w[k0 : k1 + 1].sum() if k1 >= k0 else 0.0
        else:
            s[:, :num_periods] = 1.0
        self.s = s

    def value(self, b: np.ndarray) -> np.ndarray:
        out = np.zeros(self.n)
        for fam, (idx, p) in self.groups.items():
            xs = b[idx, None] * self.s[idx]
            out[idx] = np.nansum(np.where(self.s[idx] > 0, curve_value(fam, p, xs), 0.0), axis=1)
        return out

    def value_rows(self, X: np.ndarray) -> np.ndarray:
        """Total response of each row of X (rows = allocations), vectorised."""
        tot = np.zeros(len(X))
        for fam, (idx, p) in self.groups.items():
            s = self.s[idx]
            xs = X[:, idx, None] * s[None]
            pp = {k: v[None] for k, v in p.items()}
            tot += np.nansum(np.where(s[None] > 0, curve_value(fam, pp, xs), 0.0), axis=(1, 2))
        return tot

    def deriv(self, b: np.ndarray) -> np.ndarray:
        out = np.zeros(self.n)
        for fam, (idx, p) in self.groups.items():
            xs = b[idx, None] * self.s[idx]
            d = np.where(self.s[idx] > 0, self.s[idx] * curve_deriv(fam, p, xs), 0.0)
            out[idx] = d.sum(axis=1)
        return out


def kkt_reference(nc: NumpyCurves, lo: np.ndarray, hi: np.ndarray, budget: float, iters: int = 200):
    """Exact solution of max sum F_c(x_c) s.t. sum x = B, lo <= x <= hi for concave F_c.

    KKT: x_c(lam) = argmax F_c(x) - lam*x on [lo_c, hi_c] = clip(F_c'^{-1}(lam)); sum_c x_c(lam) is
    non-increasing in lam, so bisection on lam finds the multiplier; each x_c(lam) is itself a
    bisection on the decreasing derivative. Returns (x, lam).
    """
    hi_eff = np.where(np.isfinite(hi), hi, np.maximum(lo, 0) + 10.0 * budget + 1.0)

    def x_of(lam: float) -> np.ndarray:
        a, b = lo.copy(), hi_eff.copy()
        for _ in range(iters):
            m = 0.5 * (a + b)
            g = nc.deriv(m)
            up = g > lam
            a = np.where(up, m, a)
            b = np.where(up, b, m)
        x = 0.5 * (a + b)
        x = np.where(nc.deriv(lo) <= lam, lo, x)
        x = np.where(nc.deriv(hi_eff) >= lam, hi_eff, x)
        return x

    g_lo = nc.deriv(lo)
    lam_hi = float(np.nanmax(np.where(np.isfinite(g_lo), g_lo, np.nan))) if np.isfinite(g_lo).any() else 1.0
    lam_hi = max(lam_hi, 1e-300) * 2.0 + 1.0
    lam_lo = 0.0
    for _ in range(iters):
        lam = 0.5 * (lam_lo + lam_hi)
        if x_of(lam).sum() > budget:
            lam_lo = lam
        else:
            lam_hi = lam
        if lam_hi - lam_lo <= 1e-15 * max(1.0, lam_hi):
            break
    lam = 0.5 * (lam_lo + lam_hi)
    x = x_of(lam)
    # distribute the tiny remaining budget residual over the interior channels
    interior = (x > lo + 1e-12 * (1 + budget)) & (x < hi_eff - 1e-12 * (1 + budget))
    if interior.any():
        x[interior] += (budget - x.sum()) / interior.sum()
    return x, lam


def kkt_check(nc: NumpyCurves, x: np.ndarray, lo: np.ndarray, hi: np.ndarray, budget: float, lam_ref: float):
    """KKT residuals of an allocation, relative to the multiplier: stationarity on interior channels,
    sign conditions at active bounds, and budget/bound feasibility."""
    tol = 1e-6 * max(1.0, budget / max(1, len(x)))
    g = nc.deriv(np.maximum(x, 0.0))
    at_lo = x <= lo + tol
    at_hi = np.isfinite(hi) & (x >= hi - tol)
    inter = ~(at_lo | at_hi)
    lam = float(np.median(g[inter])) if inter.any() else lam_ref
    scale = max(abs(lam), 1e-300)
    viol = np.zeros_like(x)
    viol[inter] = np.abs(g[inter] - lam) / scale
    viol[at_lo & ~at_hi] = np.maximum(0.0, g[at_lo & ~at_hi] - lam) / scale  # could gain by moving up
    viol[at_hi & ~at_lo] = np.maximum(0.0, lam - g[at_hi & ~at_lo]) / scale  # could gain by moving down
    return {
        "lambda_estimate": lam,
        "lambda_reference": lam_ref,
        "max_rel_violation": float(viol.max()) if len(viol) else 0.0,
        "n_interior": int(inter.sum()),
        "n_at_lower": int((at_lo & ~at_hi).sum()),
        "n_at_upper": int((at_hi & ~at_lo).sum()),
        "budget_residual": float(x.sum() - budget),
        "max_bound_violation": float(
            max(0.0, np.max(lo - x), np.max(np.where(np.isfinite(hi), x - hi, -np.inf)))
        ),
    }


def brute_force(nc: NumpyCurves, lo: np.ndarray, hi: np.ndarray, budget: float, points: int):
    """Grid search over the feasible budget set for N <= 3 (independent check of the KKT reference).

    N = 2: `points` values of x1 on its feasible interval (x2 = B - x1). N = 3: `points` values of x1
    and, for each, `points` values of x2 on the interval left feasible for x2 and x3 = B - x1 - x2.
    """
    n = len(lo)
    hi_eff = np.where(np.isfinite(hi), hi, budget)
    if n == 1:
        return float(nc.value(np.array([budget])).sum()), [budget]
    if n == 2:
        x1 = np.linspace(max(lo[0], budget - hi_eff[1]), min(hi_eff[0], budget - lo[1]), points)
        X = np.stack([x1, budget - x1], axis=1)
    elif n == 3:
        rows = []
        for a in np.linspace(
            max(lo[0], budget - hi_eff[1] - hi_eff[2]), min(hi_eff[0], budget - lo[1] - lo[2]), points
        ):
            rest = budget - a
            l2, u2 = max(lo[1], rest - hi_eff[2]), min(hi_eff[1], rest - lo[2])
            if l2 > u2:
                continue
            x2 = np.linspace(l2, u2, points)
            rows.append(np.stack([np.full(points, a), x2, rest - x2], axis=1))
        X = np.concatenate(rows)
    else:
        return None, None
    v = nc.value_rows(X)
    k = int(np.argmax(v))
    return float(v[k]), X[k].tolist()


# ---------------------------------------------------------------------------------------------
# The pymc-marketing side.
# ---------------------------------------------------------------------------------------------
class FixedCurvesWrapper:
    """Minimal object satisfying pymc_marketing.mmm.budget_optimizer.OptimizerCompatibleModelWrapper.

    The protocol needs ``adstock`` (only ``.l_max`` is read), ``_channel_scales`` (budgets are divided
    by it before entering ``channel_data``), ``idata`` (posterior draws of every free RV) and
    ``_set_predictors_for_optimization(num_periods) -> pm.Model`` with a ``channel_data`` variable of
    dims ("date", "channel"); the optimizer swaps ``channel_data`` for num_periods copies of the budget
    vector followed by ``l_max`` carry-over zeros, so the date length here is num_periods + l_max.
    (pymc-marketing's own ``CustomModelWrapper`` does the same but fixes l_max = 0.)
    """

    def __init__(self, base_model: pm.Model, idata: az.InferenceData, channels: list[str], l_max: int):
        self.base_model = base_model
        self.idata = idata
        self.channels = list(channels)
        self.adstock = types.SimpleNamespace(l_max=int(l_max))
        self._channel_scales = 1.0

    def _set_predictors_for_optimization(self, num_periods: int) -> pm.Model:
        n_rows = num_periods + self.adstock.l_max
        model = clone_model(self.base_model)
        pm.set_data(
            {"channel_data": np.zeros((n_rows, len(self.channels)))},
            model=model,
            coords={"date": np.arange(n_rows), "channel": self.channels},
        )
        return model


def build_pymc_model(curves: list[dict], adstock: dict | None, num_periods: int):
    names = [c["channel"] for c in curves]
    l_max = int(adstock["l_max"]) if adstock else 0
    n_rows = num_periods + l_max
    posterior: dict[str, np.ndarray] = {}
    dims: dict[str, list[str]] = {}
    coords: dict[str, list[str]] = {"channel": names}
    families = list(dict.fromkeys(c["family"] for c in curves))
    with pm.Model(coords={"date": np.arange(n_rows), "channel": names}) as model:
        x = pmd.Data("channel_data", np.zeros((n_rows, len(names))), dims=("date", "channel"))
        if adstock:
            ad = GeometricAdstock(
                l_max=l_max,
                normalize=bool(adstock.get("normalize", True)),
                priors={"alpha": Prior("Beta", alpha=1, beta=3, dims="channel")},
            )
            x = ad.apply(x, core_dim="date")
            posterior["adstock_alpha"] = np.array([float(adstock["alpha"][n]) for n in names])[None, None, :]
            dims["adstock_alpha"] = ["channel"]
        total = None
        for fam in families:
            cls, pnames = FAMILIES[fam]
            idx = [i for i, c in enumerate(curves) if c["family"] == fam]
            if len(families) == 1:
                dim, xs = "channel", x
                prefix = "saturation"
            else:  # one saturation block per family, on its own channel sub-dimension
                dim, prefix = f"channel_{fam}", f"saturation_{fam}"
                model.add_coord(dim, [names[i] for i in idx])
                coords[dim] = [names[i] for i in idx]
                xs = as_xtensor(x.transpose("date", "channel").values[:, idx], dims=("date", dim))
            sat = cls(priors={p: Prior("HalfNormal", sigma=1, dims=dim) for p in pnames}, prefix=prefix)
            contrib = sat.apply(xs, core_dim="date")
            part = contrib.sum()
            total = part if total is None else total + part
            for p in pnames:
                var = f"{prefix}_{p}"
                posterior[var] = np.array([float(curves[i]["params"][p]) for i in idx])[None, None, :]
                dims[var] = [dim]
        pmd.Deterministic("total_contribution", total)
    idata = az.from_dict(posterior=posterior, coords=coords, dims=dims)
    return model, idata, names, l_max


# ---------------------------------------------------------------------------------------------
# Problem generation.
# ---------------------------------------------------------------------------------------------
def generate(n: int, seed: int, family: str, spend_scale: float) -> dict:
    """Random curves whose half-saturation spends h_c ~ U(0.5, 5) * spend_scale; responses ~ spend_scale."""
    rng = np.random.default_rng(seed)
    h = rng.uniform(0.5, 5.0, n) * spend_scale
    top = rng.uniform(1.0, 10.0, n) * spend_scale  # saturation level (response units)
    curves = []
    for i in range(n):
        if family == "michaelis_menten":
            p = {"alpha": top[i], "lam": h[i]}
        elif family == "logistic":
            p = {"lam": 2 * math.atanh(0.5) / h[i], "beta": top[i]}
        elif family == "tanh":
            p = {"b": top[i], "c": h[i] / (math.atanh(0.5) * top[i])}
        elif family == "hill":
            p = {"slope": float(rng.uniform(0.5, 1.0)), "kappa": h[i], "beta": top[i]}
        elif family == "root":
            a = float(rng.uniform(0.3, 0.8))
            p = {"alpha": a, "beta": 0.5 * top[i] / h[i] ** a}
        elif family == "log":
            p = {"a": top[i], "b": h[i]}
        else:
            raise SystemExit(f"unknown family {family!r}; choose from {sorted(FAMILIES)}")
        curves.append({"channel": f"c{i}", "family": family, "params": {k: float(v) for k, v in p.items()}})
    lo = np.where(rng.random(n) < 0.2, rng.uniform(0.2, 0.5, n) * h, 0.0)
    hi = np.where(rng.random(n) < 0.4, rng.uniform(0.3, 1.5, n) * h, np.inf)
    hi = np.maximum(hi, lo)
    budget = float(h.sum())
    if np.isfinite(hi).all():
        budget = min(budget, 0.9 * hi.sum() + 0.1 * lo.sum())
    bounds = {
        c["channel"]: [float(lo[i]), None if not np.isfinite(hi[i]) else float(hi[i])]
        for i, c in enumerate(curves)
    }
    return {"budget": budget, "bounds": bounds, "curves": curves}


def generate_rmnlora(n: int, seed: int) -> dict:
    """Same draws, in the same order, as benchmarks/optimizer.py:make_problem (log curves a*log1p(x/b))."""
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(100, 1000, n), rng.uniform(50, 500, n)
    hi = np.where(rng.random(n) < 0.3, rng.uniform(250, 600, n), np.inf)
    curves = [
        {"channel": f"l{i}", "family": "log", "params": {"a": float(a[i]), "b": float(b[i])}}
        for i in range(n)
    ]
    bounds = {f"l{i}": [0.0, None if not np.isfinite(hi[i]) else float(hi[i])] for i in range(n)}
    return {"budget": 300.0 * n, "bounds": bounds, "curves": curves}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--channels", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--family", default="michaelis_menten", choices=sorted(FAMILIES))
    ap.add_argument(
        "--preset",
        choices=["random", "rmnlora"],
        default="random",
        help="rmnlora: the log-curve problem of benchmarks/optimizer.py make_problem(n, seed)",
    )
    ap.add_argument("--spend-scale", type=float, default=100.0, help="spend units of the random problem")
    ap.add_argument("--input", help="problem spec JSON (overrides --channels/--seed/--family/--preset)")
    ap.add_argument(
        "--adstock-alpha", type=float, default=None, help="geometric adstock alpha for every channel"
    )
    ap.add_argument("--l-max", type=int, default=4)
    ap.add_argument("--num-periods", type=int, default=None)
    ap.add_argument(
        "--x0",
        choices=["uniform", "feasible"],
        default="uniform",
        help="uniform: pymc-marketing's default start budget/N; feasible: a point inside the bounds",
    )
    ap.add_argument("--ftol", type=float, default=None, help="SLSQP ftol (pymc-marketing default 1e-9)")
    ap.add_argument("--maxiter", type=int, default=None, help="SLSQP maxiter (pymc-marketing default 1000)")
    ap.add_argument("--brute-points", type=int, default=2001)
    ap.add_argument(
        "--warm-repeat",
        choices=["auto", "yes", "no"],
        default="auto",
        help="solve a second time on the compiled objective (auto: only up to 200 channels)",
    )
    ap.add_argument("--json", help="write the result here")
    args = ap.parse_args(argv)

    if args.input:
        with open(args.input) as fh:
            spec = json.load(fh)
    elif args.preset == "rmnlora":
        spec = generate_rmnlora(args.channels, args.seed)
    else:
        spec = generate(args.channels, args.seed, args.family, args.spend_scale)
    curves = spec["curves"]
    names = [c["channel"] for c in curves]
    if len(set(names)) != len(names):
        raise SystemExit("channel names must be unique")
    for c in curves:
        if c["family"] not in FAMILIES:
            raise SystemExit(f"unknown family {c['family']!r}")
    adstock = spec.get("adstock")
    if args.adstock_alpha is not None:
        adstock = {"alpha": {n: args.adstock_alpha for n in names}, "l_max": args.l_max, "normalize": True}
    num_periods = int(args.num_periods or spec.get("num_periods", 1))
    budget = float(spec["budget"])
    bspec = spec.get("bounds") or {}
    lo = np.array([float((bspec.get(n) or [0.0, None])[0] or 0.0) for n in names])
    hi = np.array(
        [math.inf if (bspec.get(n) or [0.0, None])[1] is None else float(bspec[n][1]) for n in names]
    )
    if lo.sum() > budget * (1 + 1e-12) or hi.sum() < budget * (1 - 1e-12):
        raise SystemExit("infeasible: sum(lower) > budget or sum(upper) < budget")
    concave = all(is_concave(c["family"], c["params"]) for c in curves)

    # ---- pymc-marketing ----
    t0 = time.perf_counter()
    model, idata, names, l_max = build_pymc_model(curves, adstock, num_periods)
    wrapper = FixedCurvesWrapper(model, idata, names, l_max)
    optimizer = BudgetOptimizer(model=wrapper, num_periods=num_periods)
    t1 = time.perf_counter()
    bounds = {n: (float(lo[i]), float(hi[i])) for i, n in enumerate(names)}
    if args.x0 == "feasible":
        room = np.where(np.isfinite(hi), hi - lo, budget)
        x0 = lo + (budget - lo.sum()) * room / room.sum()
    else:
        x0 = None
    minimize_kwargs = None
    if args.ftol is not None or args.maxiter is not None:
        opts = dict(BudgetOptimizer.DEFAULT_MINIMIZE_KWARGS["options"])
        if args.ftol is not None:
            opts["ftol"] = args.ftol
        if args.maxiter is not None:
            opts["maxiter"] = args.maxiter
        minimize_kwargs = {"method": "SLSQP", "options": opts}
    alloc_da, res = optimizer.allocate_budget(
        total_budget=budget, budget_bounds=bounds, x0=x0, minimize_kwargs=minimize_kwargs, return_if_fail=True
    )
    t2 = time.perf_counter()
    repeat = args.warm_repeat == "yes" or (args.warm_repeat == "auto" and len(names) <= 200)
    if repeat:  # same solve again on the already compiled objective: the steady-state cost of one allocation
        optimizer.allocate_budget(
            total_budget=budget,
            budget_bounds=bounds,
            x0=x0,
            minimize_kwargs=minimize_kwargs,
            return_if_fail=True,
        )
    t3 = time.perf_counter()
    x_pm = np.asarray(alloc_da.sel(channel=names).values, float)
    obj_pm = float(-res.fun)

    # ---- independent checks (numpy only) ----
    nc = NumpyCurves(curves, adstock, num_periods)
    obj_pm_numpy = float(nc.value(x_pm).sum())
    ref = None
    if concave:
        t4 = time.perf_counter()
        x_ref, lam_ref = kkt_reference(nc, lo, hi, budget)
        t5 = time.perf_counter()
        obj_ref = float(nc.value(x_ref).sum())
        ref = {
            "allocation": dict(zip(names, map(float, x_ref), strict=True)),
            "objective": obj_ref,
            "lambda": lam_ref,
            "seconds": t5 - t4,
            "kkt": kkt_check(nc, x_ref, lo, hi, budget, lam_ref),
        }
    out = {
        "allocation": dict(zip(names, map(float, x_pm), strict=True)),
        "objective": obj_pm,
        "objective_numpy": obj_pm_numpy,
        "seconds": (t1 - t0) + (t2 - t1),
        "seconds_build_and_compile": t1 - t0,
        "seconds_optimize": t2 - t1,
        "seconds_optimize_warm": (t3 - t2) if repeat else None,
        "seconds_import": T_IMPORTED - T_START,
        "scipy": {
            "success": bool(res.success),
            "status": int(res.status),
            "message": str(res.message),
            "nit": int(getattr(res, "nit", -1)),
            "nfev": int(getattr(res, "nfev", -1)),
            "njev": int(getattr(res, "njev", -1)),
            "method": (minimize_kwargs or BudgetOptimizer.DEFAULT_MINIMIZE_KWARGS)["method"],
            "options": (minimize_kwargs or BudgetOptimizer.DEFAULT_MINIMIZE_KWARGS)["options"],
            "x0": args.x0,
        },
        "curves": curves,
        "budget": budget,
        "bounds": {
            n: [float(lo[i]), None if not np.isfinite(hi[i]) else float(hi[i])] for i, n in enumerate(names)
        },
        "adstock": adstock,
        "num_periods": num_periods,
        "concave": concave,
        "kkt": kkt_check(nc, x_pm, lo, hi, budget, ref["lambda"] if ref else float("nan")),
        "reference": ref,
        "pymc_marketing_version": pymc_marketing.__version__,
        "pymc_version": pm.__version__,
        "python": sys.version.split()[0],
        "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
    }
    if ref:
        out["gap"] = {
            "objective_abs": ref["objective"] - obj_pm,
            "objective_rel": (ref["objective"] - obj_pm) / abs(ref["objective"]) if ref["objective"] else 0.0,
            "allocation_max_abs_diff": float(np.max(np.abs(x_pm - x_ref))),
            "allocation_max_abs_diff_rel": float(
                np.max(np.abs(x_pm - x_ref)) / max(np.max(np.abs(x_ref)), 1e-300)
            ),
            "allocation_l1_diff_rel_budget": float(np.abs(x_pm - x_ref).sum() / budget),
        }
    if len(names) <= 3:
        bf_obj, bf_x = brute_force(nc, lo, hi, budget, args.brute_points)
        out["brute_force"] = {"objective": bf_obj, "allocation": bf_x, "points_per_axis": args.brute_points}

    text = json.dumps(out, indent=2, allow_nan=True)
    if args.json:
        with open(args.json, "w") as fh:
            fh.write(text + "\n")
    summary = {
        "channels": len(names),
        "objective": obj_pm,
        "objective_reference": ref["objective"] if ref else None,
        "gap_rel": out.get("gap", {}).get("objective_rel"),
        "alloc_max_abs_diff_rel": out.get("gap", {}).get("allocation_max_abs_diff_rel"),
        "kkt_max_rel_violation": out["kkt"]["max_rel_violation"],
        "seconds": out["seconds"],
        "seconds_optimize_warm": out["seconds_optimize_warm"],
        "scipy_success": out["scipy"]["success"],
        "nit": out["scipy"]["nit"],
    }
    if "brute_force" in out:
        summary["brute_force_objective"] = out["brute_force"]["objective"]
    print(json.dumps(summary))
    if os.environ.get("PYMC_SIDE_VERBOSE"):
        for n in names:
            r = ref["allocation"][n] if ref else float("nan")
            print(f"{n:>8s}  pymc={out['allocation'][n]:12.4f}  ref={r:12.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
