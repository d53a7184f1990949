"""Write pymc_marketing_export.json: channel curves in PyMC-Marketing's parametrisations with the
predictions PyMC-Marketing itself computes for them, so the import test checks our reading of its
formulas against the library, not against our own transcription.

Run in a venv with pymc-marketing (not a dependency of rmnlora; see benchmarks/PYMC_MARKETING_NOTES.md):
    python3 -m venv /tmp/pymc-venv && /tmp/pymc-venv/bin/pip install pymc-marketing==0.19.2
    /tmp/pymc-venv/bin/python tests/data/mmm/make_pymc_marketing_export.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pymc_marketing
from pymc_marketing.mmm import transformers as tr
from pytensor.xtensor import as_xtensor

CHANNELS = [
    ("walmart_search", "walmart", "logistic", {"lam": 1.7, "beta": 0.31}, 18_000.0, 420_000.0),
    ("amazon_sp", "amazon", "michaelis_menten", {"alpha": 0.52, "lam": 0.9}, 25_000.0, 420_000.0),
    ("kroger_display", "kroger", "hill", {"slope": 0.8, "kappa": 0.6, "beta": 0.22}, 9_000.0, 420_000.0),
    ("criteo_onsite", "criteo", "tanh", {"b": 0.18, "c": 1.3}, 6_000.0, 420_000.0),
    ("target_roundel", "target", "hill", {"slope": 2.2, "kappa": 0.7, "beta": 0.15}, 7_000.0, 420_000.0),
]


def response(family: str, params: dict[str, float], values: np.ndarray) -> np.ndarray:
    """PyMC-Marketing's own functions (``mmm/transformers.py``), times beta where its class applies it."""
    x = as_xtensor(values, dims=("x",))  # its functions take labelled tensors since 0.16
    if family == "logistic":
        return params["beta"] * np.asarray(tr.logistic_saturation(x, params["lam"]).eval())
    if family == "michaelis_menten":
        return np.asarray(tr.michaelis_menten(x, params["alpha"], params["lam"]).eval())
    if family == "hill":
        return params["beta"] * np.asarray(tr.hill_function(x, params["slope"], params["kappa"]).eval())
    if family == "tanh":
        return np.asarray(tr.tanh_saturation(x, params["b"], params["c"]).eval())
    raise ValueError(family)


def main() -> None:
    channels = []
    for name, retailer, family, params, scale, target in CHANNELS:
        spend = np.linspace(0, 3 * scale, 25)
        predicted = target * response(family, params, spend / scale)
        channels.append(
            {
                "channel": name,
                "retailer": retailer,
                "family": family,
                "params": params,
                "channel_scale": scale,
                "target_scale": target,
                "observed_max": 2 * scale,
                "predictions": [[float(s), float(p)] for s, p in zip(spend, predicted, strict=True)],
            }
        )
    out = {"exporter": f"pymc-marketing {pymc_marketing.__version__}", "period_days": 7, "channels": channels}
    path = Path(__file__).with_name("pymc_marketing_export.json")
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
