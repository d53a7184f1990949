"""Governance scores on the labelled golden set, synthetic PII recall, and check throughput.

Usage: .venv/bin/python benchmarks/governance.py [REPEATS] [--misses]   (default 20)

Prints, for the golden set's train and held-out splits (tests/data/governance_golden), precision
and recall per rule family and per severity and the confusion table by severity; PII recall per
shape on Faker-made personal data (two seeds: 7, the one the detectors were checked on, and 11,
never looked at); copies checked per second; and the older acme corpus's critical recall. The
held-out split's misses are only printed with --misses (look after a rule change, not during).
Writes benchmarks/results/governance.json.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import synthetic_pii  # noqa: E402
from rmnlora.agents.creative import generate_copy, load_format_spec  # noqa: E402
from rmnlora.agents.governance import check_copy, format_pack, load_packs  # noqa: E402
from rmnlora.agents.governance.evaluation import GoldenReport, format_report, load_golden, score  # noqa: E402
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


GOLDEN_DIR = ROOT / "tests/data/governance_golden"


def _golden_figures(split: str, report: GoldenReport) -> dict[str, float | None]:
    pii = report.family_tally("pii_")
    figures: dict[str, float | None] = {f"{split}_copies": report.copies, f"{split}_pii_recall": pii.recall}
    for severity, tally in report.severities.items():
        figures[f"{split}_{severity}_recall"] = tally.recall
        figures[f"{split}_{severity}_precision"] = tally.precision
    for family, tally in report.families.items():
        figures[f"{split}_recall[{family}]"] = tally.recall
        figures[f"{split}_precision[{family}]"] = tally.precision
    return figures


HELDOUT = "heldout4"  # the current held-out split (GUIDE.md); train4, train5 and train6 are the retired ones


def main(repeats: int = 20, show_heldout_misses: bool = False) -> dict[str, float | None]:
    golden: dict[str, float | None] = {}
    splits = [path.stem for path in sorted(GOLDEN_DIR.glob("train*.yaml"))] + [HELDOUT]
    for split in splits:
        report = score(load_golden(GOLDEN_DIR / f"{split}.yaml"))
        print(format_report(split, report, show_misses=split != HELDOUT or show_heldout_misses))
        golden.update(_golden_figures(split, report))
    for seed in (7, 11):
        print(f"== synthetic PII (Faker, seed {seed})")
        golden.update({f"seed{seed}_{k}": v for k, v in synthetic_pii.main(100, seed).items()})
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
    figures: dict[str, float | None] = {
        **golden,
        "corpus_copies": len(cases),
        "critical_recall": crit_hit / crit,
        "precision": tp / (tp + fp),
        "checks": len(cases) * repeats,
        "checks_per_s": len(cases) * repeats / check_s,
        "mean_check_ms": 1000 * check_s / (len(cases) * repeats),
        "template_candidates_per_s": runs * request.k / template_s,
    }
    for key, value in figures.items():
        if key not in golden:
            print(f"{key:28} {value:,.3f}" if isinstance(value, float) else f"{key:28} {value}")
    out = ROOT / "benchmarks/results/governance.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2))
    return figures


if __name__ == "__main__":
    numbers = [a for a in sys.argv[1:] if a.isdigit()]
    main(int(numbers[0]) if numbers else 20, show_heldout_misses="--misses" in sys.argv)
