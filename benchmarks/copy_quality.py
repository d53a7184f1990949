"""The copy-quality judge, measured: false positives on the hand-written corpus, recall on garbage.

Usage:
  .venv/bin/python benchmarks/copy_quality.py             # judge only (no model), seconds
  .venv/bin/python benchmarks/copy_quality.py --fluency   # + mean token log-probs under SmolLM2 (minutes)
  .venv/bin/python benchmarks/copy_quality.py --collect OUT.json [--batch b]
                                                          # new base-model answers to label

Without flags it judges every copy of ``examples/corpus/`` (all must pass: the false-positive
rate), template copy for every corpus product, key message and shipped format, and the labelled
garbage set ``tests/unit/agents/data/copy_garbage.yaml`` (the issue's quoted outputs and real
SmolLM2 answers through the creative agent, each labelled usable or not by a person): recall on
what a person calls unusable, per batch, and which rules fired. ``--fluency`` scores each corpus
copy as the answer the prompt asks for (``Headline:/Body:/CTA:`` lines) with one forward pass of
the base model, the garbage answers the same way, and the corpus copies with their words shuffled
(word salad), and prints the distributions the fluency threshold is set from.
Writes benchmarks/results/copy_quality.json.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import write_results  # noqa: E402
from rmnlora.agents.creative import generate_copy, load_format_spec, load_format_specs  # noqa: E402
from rmnlora.agents.creative.prompts import build_messages  # noqa: E402
from rmnlora.agents.governance import QUALITY, judge_copy, load_packs  # noqa: E402
from rmnlora.schemas.creative import CopyRequest  # noqa: E402
from rmnlora.schemas.governance import AdCopy  # noqa: E402

CORPUS = ROOT / "examples" / "corpus"
GARBAGE = ROOT / "tests" / "unit" / "agents" / "data" / "copy_garbage.yaml"
# Copy written for the policy checks by another hand, at another time: a small out-of-sample check.
POLICY_CORPUS = ROOT / "tests" / "unit" / "agents" / "data" / "governance_corpus.yaml"
RETAILERS = ("walmart", "amazon", "kroger")


def load_corpus() -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    products = {p["id"]: p for p in yaml.safe_load((CORPUS / "products.yaml").read_text())["products"]}
    copies = []
    for path in sorted((CORPUS / "copies").glob("*.yaml")):
        copies += yaml.safe_load(path.read_text(encoding="utf-8"))["copies"]
    return products, copies


def load_garbage() -> list[dict[str, Any]]:
    return list(yaml.safe_load(GARBAGE.read_text(encoding="utf-8"))["answers"])


def _copy(row: dict[str, Any]) -> AdCopy:
    return AdCopy(headline=row.get("headline", ""), body=row.get("body", ""), cta=row.get("cta", ""))


def judge_corpus(products: dict[str, dict[str, Any]], copies: list[dict[str, Any]]) -> dict[str, Any]:
    rejected = []
    for row in copies:
        product = products[row["product_id"]]
        found = judge_copy(_copy(row), product=product["name"], brand=product["brand"])
        if found:
            rejected.append({"id": row["id"], "rules": sorted({v.rule_id for v in found})})
    return {
        "copies": len(copies),
        "rejected": len(rejected),
        "rate": len(rejected) / len(copies),
        "which": rejected,
    }


def judge_policy_corpus() -> dict[str, Any]:
    """The policy corpus's clean copies (no violation expected), all written for Acme Crunch."""
    rows = [
        r for r in yaml.safe_load(POLICY_CORPUS.read_text(encoding="utf-8"))["copies"] if not r["expected"]
    ]
    rejected = []
    for row in rows:
        found = judge_copy(
            _copy(row), product="Acme Crunch granola bars", brand=row.get("brand", "acme-snacks")
        )
        if found:
            rejected.append(
                {"id": row["id"], "rules": sorted({v.rule_id for v in found}), "headline": row["headline"]}
            )
    return {"copies": len(rows), "rejected": len(rejected), "which": rejected}


def judge_templates(products: dict[str, dict[str, Any]]) -> dict[str, Any]:
    total = 0
    rejected: Counter[str] = Counter()
    for retailer in RETAILERS:
        packs = load_packs(retailer)
        for ad_format in load_format_specs(retailer):
            for product in products.values():
                for message in product["key_messages"]:
                    request = CopyRequest(
                        retailer=retailer,
                        brand=product["brand_id"],
                        ad_format=ad_format,
                        product=product["name"],
                        key_message=message,
                        tone=product["tone"],
                        k=5,
                    )
                    for candidate in generate_copy(request, None, packs=packs).candidates:
                        total += 1
                        for rule in {
                            v.rule_id for v in candidate.governance.violations if v.pack == "copy_quality"
                        }:
                            rejected[rule] += 1
    return {"candidates": total, "rejected_by_rule": dict(rejected)}


def judge_garbage(rows: list[dict[str, Any]]) -> dict[str, Any]:
    by_batch: dict[str, dict[str, int]] = {}
    rules: Counter[str] = Counter()
    missed = []
    for row in rows:
        found = judge_copy(
            _copy(row),
            product=row.get("product"),
            brand=row.get("brand"),
            likelihood=row.get("likelihood"),
            trimmed=row.get("trimmed", []),
        )
        batch = by_batch.setdefault(
            row["batch"],
            {
                "unusable": 0,
                "caught": 0,
                "with_headline": 0,
                "with_headline_caught": 0,
                "usable": 0,
                "usable_rejected": 0,
            },
        )
        if row["usable"]:
            batch["usable"] += 1
            batch["usable_rejected"] += bool(found)
            continue
        batch["unusable"] += 1
        batch["caught"] += bool(found)
        # Answers with no headline left after parsing are also rejected by the format pack.
        if str(row.get("headline", "")).strip():
            batch["with_headline"] += 1
            batch["with_headline_caught"] += bool(found)
        rules.update({v.rule_id for v in found})
        if not found:
            missed.append(f"{row['batch']}: {row['headline']!r} / {row.get('body', '')!r}")
    for batch in by_batch.values():
        batch["recall"] = round(batch["caught"] / batch["unusable"], 4) if batch["unusable"] else None  # type: ignore[assignment]
    return {"batches": by_batch, "rules": dict(rules.most_common()), "missed": missed}


# ---------------------------------------------------------------------------- fluency (the model)


def _answer(row: dict[str, Any]) -> str:
    """The answer layout the prompt asks for, as a model that wrote this copy would have answered."""
    return f"Headline: {row['headline']}\nBody: {row.get('body', '')}\nCTA: {row.get('cta', '')}"


def _shuffled(row: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    out = dict(row)
    for field in ("headline", "body"):
        words = str(row.get(field, "")).split()
        rng.shuffle(words)
        out[field] = " ".join(words)
    return out


def _request(product: dict[str, Any], row: dict[str, Any]) -> CopyRequest:
    return CopyRequest(
        retailer=row["retailer"],
        brand=product["brand_id"],
        ad_format=row["ad_format"],
        product=product["name"],
        key_message=row.get("key_message") or product["key_messages"][0],
        tone=row.get("tone") or product["tone"],
        claims=product["claims"],
    )


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

    return {
        "n": len(ordered),
        "min": round(ordered[0], 3),
        "p01": at(0.01),
        "p05": at(0.05),
        "median": round(statistics.median(ordered), 3),
        "p95": at(0.95),
        "max": round(ordered[-1], 3),
    }


def fluency(
    products: dict[str, dict[str, Any]], copies: list[dict[str, Any]], garbage: list[dict[str, Any]]
) -> dict[str, Any]:
    import torch

    from rmnlora.adapters.base_model import load_base_model
    from rmnlora.adapters.batching import render_chat
    from rmnlora.config import load_settings

    torch.set_num_threads(1)
    model, tokenizer = load_base_model(load_settings())

    def mean_logprob(request: CopyRequest, answer: str) -> float:
        spec = load_format_spec(request.retailer, request.ad_format)
        turns = [
            {"role": "system" if m.type == "system" else "user", "content": str(m.content)}
            for m in build_messages(request, spec)
        ]
        prompt = render_chat(tokenizer, turns)
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        ids = tokenizer(prompt + answer, add_special_tokens=False)["input_ids"]
        with torch.inference_mode():
            logits = model(torch.tensor([ids])).logits[0].float()
        logprobs = torch.log_softmax(logits[:-1], dim=-1)
        targets = torch.tensor(ids[1:])
        chosen = logprobs[torch.arange(len(targets)), targets][len(prompt_ids) - 1 :]
        return float(chosen.mean())

    rng = random.Random(0)
    started = time.perf_counter()
    corpus = [mean_logprob(_request(products[r["product_id"]], r), _answer(r)) for r in copies]
    salad = [mean_logprob(_request(products[r["product_id"]], r), _answer(_shuffled(r, rng))) for r in copies]
    model_rows = [g for g in garbage if g.get("raw") and g.get("product_id") in products]
    forward = [mean_logprob(_request(products[g["product_id"]], g), g["raw"]) for g in model_rows]
    reported = [g["likelihood"] for g in model_rows if g.get("likelihood") is not None]
    tiny = _tiny_random_model_reported(products, copies[:4])
    threshold = QUALITY.min_mean_logprob
    groups = {
        "corpus": corpus,
        "shuffled_corpus": salad,
        "base_model_reported": reported,
        "tiny_reported": tiny,
    }
    return {
        "seconds": round(time.perf_counter() - started, 1),
        "threshold": threshold,
        "corpus": _percentiles(corpus),
        "shuffled_corpus": _percentiles(salad),
        "base_model_answers_forward": _percentiles(forward) if forward else None,
        "base_model_answers_reported": _percentiles(reported) if reported else None,
        "tiny_random_model_reported": _percentiles(tiny),
        "below": {
            str(t): {name: sum(v < t for v in values) for name, values in groups.items()}
            for t in (-3.5, -4.0, threshold, -5.0, -5.5)
        },
        "values": {name: [round(v, 4) for v in values] for name, values in groups.items()},
    }


def _tiny_random_model_reported(
    products: dict[str, dict[str, Any]], rows: list[dict[str, Any]]
) -> list[float]:
    """What the runtime reports for a model that writes no language at all (random weights, the
    tests' tiny model): greedy and sampled answers, the runtime's own mean log-probability."""
    from rmnlora.adapters.batching import generate_rows, render_chat
    from rmnlora.adapters.tiny import build_tiny_model

    model, tokenizer = build_tiny_model()
    values = []
    for row in rows:
        request = _request(products[row["product_id"]], row)
        turns = [
            {"role": "system" if m.type == "system" else "user", "content": str(m.content)}
            for m in build_messages(request, load_format_spec(request.retailer, request.ad_format))
        ]
        prompt = render_chat(tokenizer, turns)
        for temperature in (0.0, 0.8, 0.8):
            (out,) = generate_rows(
                model, tokenizer, [prompt], ["base"], max_new_tokens=48, temperature=temperature
            )
            if out.mean_logprob is not None:
                values.append(out.mean_logprob)
    return values


# ---------------------------------------------------------------------------- collecting answers


COLLECT_PRODUCTS = {
    "a": [
        "acme-crunch-granola-bars",
        "ridgeline-morning-roast",
        "oatfield-original-oat-milk",
        "barkwell-chicken-rice-dog-food",
        "brightside-lemon-all-purpose-cleaner",
        "kettle-hollow-sea-salt-chips",
        "nonna-rosa-marinara",
        "brightwell-lime-sparkling-water",
    ],
    "b": [
        "acme-crunch-chocolate-chip-bars",
        "acme-oat-clusters-cereal",
        "ember-oak-dark-roast",
        "almond-grove-unsweetened-almond-milk",
        "fireside-chicken-pot-pie",
        "whisker-bay-salmon-pate",
        "clover-laundry-pods",
        "crisp-acre-tortilla-chips",
        "tidepool-yuzu-sparkling-tonic",
    ],
}
COLLECT_FORMATS = [
    ("walmart", "sponsored_brands"),
    ("amazon", "sponsored_display"),
    ("kroger", "digital_display"),
    ("walmart", "display"),
    ("amazon", "sponsored_brands"),
    ("kroger", "sponsored_product"),
]


def collect(out: Path, batch: str) -> None:
    """Answers of the base model (no adapters) through the creative agent, k=3 per request as the
    planner asks (first greedy, then sampled at 0.8): what the judge sees in a plan."""
    import torch

    from rmnlora.adapters.chat_model import RmnChatModel
    from rmnlora.adapters.service import InferenceService
    from rmnlora.agents.creative.parsing import trimmed_fields
    from rmnlora.config import load_settings
    from rmnlora.storage import open_db

    torch.set_num_threads(1)
    products, _ = load_corpus()
    settings = load_settings()
    service = InferenceService.from_settings(settings, open_db(settings))
    offset = 0 if batch == "a" else 1
    rows = []
    for i, product_id in enumerate(COLLECT_PRODUCTS[batch]):
        product = products[product_id]
        for j in range(2):
            retailer, ad_format = COLLECT_FORMATS[(i + j * 3 + offset) % len(COLLECT_FORMATS)]
            chat = RmnChatModel.from_settings(
                settings,
                tenant="acme",
                retailer=retailer,
                brand=product["brand_id"],
                task="creative",
                service=service,
            )
            request = CopyRequest(
                retailer=retailer,
                brand=product["brand_id"],
                ad_format=ad_format,
                product=product["name"],
                key_message=product["key_messages"][(j + offset) % len(product["key_messages"])],
                tone=product["tone"],
                claims=product["claims"],
                k=3,
            )
            brand_pack = product["brand_id"] if product["brand_id"] == "acme-snacks" else None
            result = generate_copy(request, chat, packs=load_packs(retailer, brand_pack))
            for candidate in result.candidates:
                rows.append(
                    {
                        "batch": f"base-model-{batch}",
                        "product_id": product_id,
                        "product": product["name"],
                        "brand": product["brand"],
                        "retailer": retailer,
                        "ad_format": ad_format,
                        **candidate.copy_text.model_dump(exclude={"disclosure"}),
                        "trimmed": sorted(trimmed_fields(candidate.cleaning)),
                        "likelihood": candidate.likelihood,
                        "raw": candidate.raw,
                    }
                )
            print(product_id, retailer, ad_format, flush=True)
    service.close()
    out.write_text(json.dumps(rows, indent=1, ensure_ascii=False), encoding="utf-8")
    print(f"wrote {len(rows)} answers to {out}: label each 'usable' by reading it, then add to {GARBAGE}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--fluency", action="store_true", help="also score log-probs under the base model")
    parser.add_argument("--collect", type=Path, help="write new base-model answers here and stop")
    parser.add_argument("--batch", default="a", choices=sorted(COLLECT_PRODUCTS))
    args = parser.parse_args()
    if args.collect:
        collect(args.collect, args.batch)
        return
    products, copies = load_corpus()
    garbage = load_garbage()
    started = time.perf_counter()
    figures: dict[str, Any] = {
        "corpus": judge_corpus(products, copies),
        "policy_corpus_clean": judge_policy_corpus(),
        "templates": judge_templates(products),
        "garbage": judge_garbage(garbage),
    }
    figures["judge_seconds"] = round(time.perf_counter() - started, 2)
    corpus, templates, junk = figures["corpus"], figures["templates"], figures["garbage"]
    rate = f"{corpus['rate']:.2%}"
    print(f"corpus: {corpus['rejected']} of {corpus['copies']} hand-written copies rejected ({rate})")
    for item in corpus["which"]:
        print(f"  {item['id']}: {', '.join(item['rules'])}")
    other = figures["policy_corpus_clean"]
    print(f"policy corpus, clean copies: {other['rejected']} of {other['copies']} rejected")
    for item in other["which"]:
        print(f"  {item['id']} {item['headline']!r}: {', '.join(item['rules'])}")
    rejections = sum(templates["rejected_by_rule"].values())
    print(f"templates: {rejections} rejections in {templates['candidates']} candidates")
    for name, batch in junk["batches"].items():
        print(
            f"garbage {name}: caught {batch['caught']} of {batch['unusable']} unusable"
            f" (recall {batch['recall']});"
            f" with a headline {batch['with_headline_caught']} of {batch['with_headline']};"
            f" usable rejected {batch['usable_rejected']} of {batch['usable']}"
        )
    print("rules on unusable answers:", ", ".join(f"{k} {v}" for k, v in junk["rules"].items()))
    for line in junk["missed"]:
        print("  missed:", line)
    if args.fluency:
        figures["fluency"] = fluency(products, copies, garbage)
        print(json.dumps({k: v for k, v in figures["fluency"].items() if k != "values"}, indent=1))
    write_results("copy_quality", figures)


if __name__ == "__main__":
    main()
