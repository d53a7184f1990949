"""Held-out ad copy, composition by composition: usable copy, governance passes, held-out loss.

    .venv/bin/python benchmarks/creative.py [--briefs 36] [--k 3] [--temperature 0.8] [--top-p 1.0]
        [--variants task+retailer,retailer+brand+task]

Briefs are the corpus's held-out copies (products and a whole category never trained on), taken
evenly across the six retailer formats; each is asked of the real SmolLM2-135M through the
product's own path (InferenceService + RmnChatModel + generate_copy, K candidates, governance and
the copy-quality judge on each). Variants are compositions of the shipped adapters; the brand
adapter exists for Acme Snacks only, so brand variants are scored on the Acme briefs alone.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import write_results  # noqa: E402
from rmnlora.adapters.chat_model import RmnChatModel  # noqa: E402
from rmnlora.adapters.service import InferenceService  # noqa: E402
from rmnlora.agents.creative.generate import DEFAULT_SAMPLING, CandidateSampling, generate_copy  # noqa: E402
from rmnlora.agents.creative.prompts import render_answer  # noqa: E402
from rmnlora.config import load_settings  # noqa: E402
from rmnlora.storage import open_db  # noqa: E402
from rmnlora.storage.models import Brand, Tenant  # noqa: E402
from rmnlora.training.corpus import Corpus, Example, load_corpus, prompt_messages  # noqa: E402

TENANT = "acme"
BRAND = "acme-snacks"
# (label, use retailer adapter, use brand adapter, use task adapter)
VARIANTS: tuple[tuple[str, bool, bool, bool], ...] = (
    ("base", False, False, False),
    ("task", False, False, True),
    ("retailer", True, False, False),
    ("task+retailer", True, False, True),
    ("brand", False, True, False),
    ("task+brand", False, True, True),
    ("retailer+brand+task", True, True, True),
)
QUALITY_PREFIX = "quality:"


def pick_briefs(corpus: Corpus, n: int) -> list[Example]:
    """``n`` held-out briefs spread evenly over the formats and, within each, over the products
    (deterministic), with two of Acme's per format so the brand adapter can be scored."""
    heldout = sorted(corpus.select("heldout"), key=lambda e: e.copy.id)
    by_format: dict[tuple[str, str], list[Example]] = {}
    for example in heldout:
        by_format.setdefault((example.copy.retailer, example.copy.ad_format), []).append(example)
    per_format = max(3, n // len(by_format))
    chosen: list[Example] = []
    for offset, examples in enumerate(by_format.values()):
        acme = [e for e in examples if e.product.brand_id == BRAND][:2]
        by_product: dict[str, list[Example]] = {}
        for e in examples:
            if e.product.brand_id != BRAND:
                by_product.setdefault(e.product.id, []).append(e)
        products = sorted(by_product)
        products = products[offset % len(products) :] + products[: offset % len(products)]
        others = [by_product[p][0] for p in products]  # one brief per product, rotated per format
        chosen += acme + others[: per_format - len(acme)]
    return chosen


def heldout_loss(service: InferenceService, corpus: Corpus, examples: Sequence[Example], parts: Any) -> float:
    """Mean token NLL of the written copy given the agent's prompt, under the variant's composition."""
    tok = service.tokenizer
    model = service.composer.model
    total, tokens = 0.0, 0
    for example in examples:
        resolution = service.registry.resolve(TENANT, **parts(example))
        messages = prompt_messages(example.request, corpus.spec(example))
        prompt = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        answer = render_answer(example.copy.ad) + tok.eos_token
        ids = tok(prompt + answer, return_tensors="pt", add_special_tokens=False)["input_ids"]
        start = len(tok(prompt, add_special_tokens=False)["input_ids"])
        with service.composer.lock, torch.no_grad():
            composition = service.composer.compose(resolution)
            if composition.components:
                model.set_adapter(composition.adapter_name)
                logits = model(input_ids=ids).logits
            else:
                with model.disable_adapter():
                    logits = model(input_ids=ids).logits
        logp = torch.log_softmax(logits[0, start - 1 : -1].float(), dim=-1)
        target = ids[0, start:]
        total += float(-logp.gather(1, target[:, None]).sum())
        tokens += int(target.numel())
    return total / max(tokens, 1)


def score(
    service: InferenceService,
    corpus: Corpus,
    examples: Sequence[Example],
    k: int,
    use: tuple[bool, bool, bool],
    sampling: CandidateSampling,
):
    retailer_on, brand_on, task_on = use

    def parts(example: Example) -> dict[str, str | None]:
        return {
            "retailer": example.copy.retailer if retailer_on else None,
            "brand": example.product.brand_id if brand_on else None,
            "task": "creative" if task_on else None,
        }

    def one(example: Example) -> dict[str, Any]:
        chat = RmnChatModel(tenant=TENANT, service=service, **parts(example))
        result = generate_copy(
            example.request.model_copy(update={"k": k}),
            chat,
            packs=corpus.policy_packs(example),
            sampling=sampling,
        )
        rows = []
        seen: set[tuple[str, str, str]] = set()
        for cand in result.candidates:
            text = (cand.copy_text.headline, cand.copy_text.body, cand.copy_text.cta)
            repeat = text in seen
            seen.add(text)
            quality = [v for v in cand.governance.violations if v.rule_id.startswith(QUALITY_PREFIX)]
            policy = [v for v in cand.governance.critical if not v.rule_id.startswith(QUALITY_PREFIX)]
            rows.append(
                {
                    "usable": cand.governance.passed,
                    "distinct_usable": cand.governance.passed and not repeat,
                    "policy_pass": not policy,
                    "quality": bool(quality),
                    "rejected_by": sorted({v.rule_id for v in cand.governance.critical}),
                }
            )
        top = result.candidates[0] if result.candidates else None
        return {
            "id": example.copy.id,
            "draws": result.draws,
            "brand": example.product.brand_id,
            "rows": rows,
            "top": {"headline": top.copy_text.headline, "body": top.copy_text.body, "cta": top.copy_text.cta}
            if top
            else None,
            "top_usable": bool(top and top.governance.passed),
        }

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=8) as pool:  # concurrent briefs share batched forward passes
        outputs = list(pool.map(one, examples))
    seconds = time.perf_counter() - started
    candidates = [row for out in outputs for row in out["rows"]]
    acme = [o for o in outputs if o["brand"] == BRAND]
    acme_rows = [row for out in acme for row in out["rows"]]
    return {
        "acme": {
            "briefs": len(acme),
            "top_usable": sum(o["top_usable"] for o in acme) / max(len(acme), 1),
            "usable": sum(r["usable"] for r in acme_rows) / max(len(acme_rows), 1),
            "distinct_usable": sum(r["distinct_usable"] for r in acme_rows) / max(len(acme_rows), 1),
        },
        "briefs": len(examples),
        "top_usable": sum(o["top_usable"] for o in outputs) / len(outputs),
        "usable": sum(r["usable"] for r in candidates) / max(len(candidates), 1),
        "distinct_usable": sum(r["distinct_usable"] for r in candidates) / max(len(candidates), 1),
        # usable answers per model answer drawn: the model's own rate before rejection sampling
        "usable_per_draw": sum(r["usable"] for r in candidates) / max(sum(o["draws"] for o in outputs), 1),
        "policy_pass": sum(r["policy_pass"] for r in candidates) / max(len(candidates), 1),
        "heldout_loss": heldout_loss(service, corpus, examples, parts),
        "seconds": round(seconds, 1),
        "samples": outputs,
    }


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--briefs", type=int, default=36, help="held-out briefs (spread over formats)")
    parser.add_argument("--k", type=int, default=3, help="candidates per brief")
    parser.add_argument("--temperature", type=float, default=DEFAULT_SAMPLING.temperature)
    parser.add_argument("--top-p", type=float, default=DEFAULT_SAMPLING.top_p)
    parser.add_argument(
        "--variants",
        default=",".join(label for label, *_ in VARIANTS),
        help="comma-separated compositions to score: " + ", ".join(label for label, *_ in VARIANTS),
    )
    parser.add_argument(
        "--weights",
        default="",
        help="composition weights, e.g. brand=0.5 (default: the settings' model.composition_weights)",
    )
    parser.add_argument("--name", default="creative", help="results file name (benchmarks/results/NAME.json)")
    args = parser.parse_args(argv)
    known = {label for label, *_ in VARIANTS}
    unknown = set(args.variants.split(",")) - known
    if unknown:
        parser.error(f"unknown variant(s) {sorted(unknown)}; choose from {sorted(known)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    n, k = args.briefs, args.k
    sampling = CandidateSampling(temperature=args.temperature, top_p=args.top_p)
    weights = {
        kind: float(value) for kind, value in (item.split("=") for item in args.weights.split(",") if item)
    }
    wanted = args.variants.split(",")
    corpus = load_corpus(Path(__file__).resolve().parents[1] / "examples" / "corpus")
    briefs = pick_briefs(corpus, n)
    acme = [b for b in briefs if b.product.brand_id == BRAND]
    with tempfile.TemporaryDirectory() as tmp:
        model: dict[str, Any] = {"cpu_threads": 0}
        if weights:
            model["composition_weights"] = weights
        settings = load_settings(data_dir=Path(tmp), model=model)
        database = open_db(settings)
        with database.get_session() as session:
            session.add(Tenant(id=TENANT, name="Acme"))
            session.flush()
            session.add(Brand(id=BRAND, tenant_id=TENANT, name="Acme Snacks"))
        service = InferenceService.from_settings(settings, database)
        table: dict[str, Any] = {}
        for label, *use in VARIANTS:
            if label not in wanted:
                continue
            subset = acme if use[1] else briefs
            table[label] = score(service, corpus, subset, k, tuple(use), sampling)  # type: ignore[arg-type]
            row = table[label]
            print(
                f"{label:22s} briefs {row['briefs']:3d}  top usable {row['top_usable']:5.0%}  usable "
                f"{row['usable']:5.0%}  per draw {row['usable_per_draw']:5.0%}  "
                f"policy pass {row['policy_pass']:5.0%}  held-out loss "
                f"{row['heldout_loss']:.3f}  ({row['seconds']} s)",
                flush=True,
            )
            if not use[1] and row["acme"]["briefs"]:
                a = row["acme"]
                print(
                    f"{'  Acme briefs only':22s} briefs {a['briefs']:3d}  top usable {a['top_usable']:5.0%}  "
                    f"usable {a['usable']:5.0%}  distinct usable {a['distinct_usable']:5.0%}",
                    flush=True,
                )
        service.close()
    write_results(
        args.name,
        {
            "briefs": len(briefs),
            "acme_briefs": len(acme),
            "k": k,
            "sampling": {"temperature": sampling.temperature, "top_p": sampling.top_p},
            "weights": weights or "settings default",
            "variants": table,
            "note": "brand variants on the Acme held-out briefs only",
        },
    )
    if any(math.isnan(row["heldout_loss"]) for row in table.values()):
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
