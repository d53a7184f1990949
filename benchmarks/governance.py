"""Governance and creative throughput, and the corpus scores.

Usage: .venv/bin/python benchmarks/governance.py [REPEATS]   (default 20: corpus × 20 checks)

Prints copies checked per second (baseline + retailer + brand + format packs), template
candidates per second, and the labelled corpus's critical recall and precision; writes
benchmarks/results/governance.json.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rmnlora.agents.creative import generate_copy, load_format_spec  # noqa: E402
from rmnlora.agents.governance import check_copy, format_pack, load_packs  # noqa: E402
from rmnlora.schemas.creative import CopyRequest  # noqa: E402
from rmnlora.schemas.governance import AdCopy  # noqa: E402

RETAILERS = {"w": "walmart", "a": "amazon", "k": "kroger"}
FORMATS = {
    "sb": "sponsored_brands",
    "d": "display",
    "sd": "sponsored_display",
    "sp": "sponsored_product",
    "dd": "digital_display",
}


def main(repeats: int = 20) -> dict[str, float]:
    entries = yaml.safe_load((ROOT / "tests/unit/agents/data/governance_corpus.yaml").read_text())["copies"]
    cases = []
    for e in entries:
        retailer = RETAILERS[e["r"]]
        packs = load_packs(retailer, "acme-snacks") + [
            format_pack(load_format_spec(retailer, FORMATS[e["f"]]))
        ]
        copy = AdCopy(
            headline=e["headline"], body=e["body"], cta=e["cta"], disclosure=e.get("disclosure", "")
        )
        cases.append((copy, packs, {tuple(x) for x in e["expected"]}))
    tp = fp = crit = crit_hit = 0
    for copy, packs, expected in cases:
        predicted = {(v.kind, v.severity, v.field) for v in check_copy(copy, packs).violations}
        tp, fp = tp + len(predicted & expected), fp + len(predicted - expected)
        c = {x for x in expected if x[1] == "critical"}
        crit, crit_hit = crit + len(c), crit_hit + len(c & predicted)
    started = time.perf_counter()
    for _ in range(repeats):
        for copy, packs, _expected in cases:
            check_copy(copy, packs)
    check_s = time.perf_counter() - started
    request = CopyRequest(
        retailer="walmart",
        brand="acme-snacks",
        ad_format="sponsored_brands",
        product="Acme Crunch granola bars",
        key_message="Made with whole grain oats",
        k=5,
    )
    started = time.perf_counter()
    runs = max(repeats, 5)
    for _ in range(runs):
        generate_copy(request, None)
    template_s = time.perf_counter() - started
    figures = {
        "corpus_copies": len(cases),
        "critical_recall": crit_hit / crit,
        "precision": tp / (tp + fp),
        "checks": len(cases) * repeats,
        "checks_per_s": len(cases) * repeats / check_s,
        "mean_check_ms": 1000 * check_s / (len(cases) * repeats),
        "template_candidates_per_s": runs * request.k / template_s,
    }
    for key, value in figures.items():
        print(f"{key:28} {value:,.3f}" if isinstance(value, float) else f"{key:28} {value}")
    out = ROOT / "benchmarks/results/governance.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2))
    return figures


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
