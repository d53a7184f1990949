"""Two rounds of the learning loop on CPU with the real SmolLM2 and the shipped adapters.

    .venv/bin/python benchmarks/improve.py [--briefs-per-round 24] [--max-steps 20]

Each round: the served composition (retailer + acme-snacks + task) writes two candidates for Acme
training briefs through the creative agent; a scripted annotator prefers the one the create gate
would run (governance and the copy-quality judge pass it: it names the product, states no fact the
brief lacks, is not cut off...), then the one whose headline names the full product (say what is on
the shelf), then the shorter headline (punchy); it skips pairs it has no preference between.
Rejection sampling makes a refusable answer rare among those shown, so the taste is what most pairs
teach (with the first two criteria alone, 24 briefs gave 5 pairs).
The pairs go in through
the feedback store with the agent's own prompt; then ``improve`` trains on top of the served brand
adapter, judges the candidate against it and promotes or refuses. Prints the figures per round and
the time, and writes JSON.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import write_results  # noqa: E402
from rmnlora.adapters.chat_model import RmnChatModel  # noqa: E402
from rmnlora.adapters.service import InferenceService  # noqa: E402
from rmnlora.agents.creative.generate import generate_copy  # noqa: E402
from rmnlora.agents.creative.prompts import render_answer  # noqa: E402
from rmnlora.config import load_settings  # noqa: E402
from rmnlora.feedback.store import record_preference  # noqa: E402
from rmnlora.schemas.creative import CopyCandidate, CopyRequest  # noqa: E402
from rmnlora.schemas.feedback import CreativePrompt, PreferencePairIn  # noqa: E402
from rmnlora.storage import open_db  # noqa: E402
from rmnlora.storage.models import Brand, Tenant  # noqa: E402
from rmnlora.training.corpus import Corpus, Example, load_corpus, prompt_messages  # noqa: E402
from rmnlora.training.improve import ImproveConfig, improve  # noqa: E402

TENANT, BRAND = "acme", "acme-snacks"


def taste(candidate: CopyCandidate, request: CopyRequest) -> tuple[bool, bool, int]:
    """What the scripted annotator prefers, most important first: copy that can run, a headline
    naming the full product, a shorter headline."""
    headline = candidate.copy_text.headline
    return candidate.governance.passed, request.product.casefold() in headline.casefold(), -len(headline)


def annotate(
    service: InferenceService, corpus: Corpus, briefs: Sequence[Example], user: str
) -> list[dict[str, Any]]:
    """Two real candidates per brief from the served composition; the annotator's pick, or a skip."""
    items = []
    for example in briefs:
        request = example.request.model_copy(update={"k": 2})
        chat = RmnChatModel(
            tenant=TENANT, service=service, retailer=request.retailer, brand=BRAND, task="creative"
        )
        result = generate_copy(request, chat, packs=corpus.policy_packs(example))
        if len(result.candidates) < 2:
            continue
        a, b = result.candidates[:2]
        if taste(a, request) == taste(b, request):
            continue  # the annotator has no preference to give
        chosen, rejected = (a, b) if taste(a, request) > taste(b, request) else (b, a)
        prompt = CreativePrompt(
            request=request.model_dump(), messages=prompt_messages(request, corpus.spec(example))
        ).encode()
        items.append(
            {
                "brand_id": BRAND,
                "task": "creative",
                "prompt": prompt,
                "chosen": render_answer(chosen.copy_text),
                "rejected": render_answer(rejected.copy_text),
                "user": user,
            }
        )
    return items


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--briefs-per-round", type=int, default=24)
    parser.add_argument("--max-steps", type=int, default=20)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    corpus = load_corpus(Path(__file__).resolve().parents[1] / "examples" / "corpus")
    briefs = sorted(corpus.select("train", brand=BRAND), key=lambda e: e.copy.id)
    rounds: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(data_dir=Path(tmp), model={"cpu_threads": 0})
        database = open_db(settings)
        with database.get_session() as session:
            session.add(Tenant(id=TENANT, name="Acme"))
            session.flush()
            session.add(Brand(id=BRAND, tenant_id=TENANT, name="Acme Snacks"))
        service = InferenceService.from_settings(settings, database)
        config = ImproveConfig(
            min_pairs=6, min_heldout_pairs=2, max_steps=args.max_steps, trigger="benchmark"
        )
        for number in (1, 2):
            chunk = briefs[(number - 1) * args.briefs_per_round : number * args.briefs_per_round]
            started = time.perf_counter()
            items = annotate(service, corpus, chunk, user=f"scripted-{number}")
            for item in items:
                record_preference(database, TENANT, PreferencePairIn(**item))
            annotated = time.perf_counter() - started
            outcome = improve(
                settings, database, tenant_id=TENANT, brand_id=BRAND, config=config, corpus=corpus
            )
            seconds = time.perf_counter() - started
            current = outcome.metrics.get("current", {})
            candidate = outcome.metrics.get("candidate", {})
            row = {
                "round": number,
                "briefs": len(chunk),
                "pairs": len(items),
                "status": outcome.status,
                "served_before": outcome.current,
                "candidate": outcome.candidate,
                "counts": outcome.counts,
                "current": {
                    k: current.get(k)
                    for k in ("preference_accuracy", "usable_rate", "policy_pass_rate", "heldout_loss")
                },
                "candidate_figures": {
                    k: candidate.get(k)
                    for k in ("preference_accuracy", "usable_rate", "policy_pass_rate", "heldout_loss")
                },
                "message": outcome.message,
                "annotate_seconds": round(annotated, 1),
                "seconds": round(seconds, 1),
            }
            rounds.append(row)
            print(
                f"round {number}: {len(items)} pairs from {len(chunk)} briefs → {outcome.status} "
                f"({outcome.current} → {outcome.candidate}); served {row['current']} candidate "
                f"{row['candidate_figures']}; {seconds:.0f} s ({annotated:.0f} s annotating)",
                flush=True,
            )
            print(f"  {outcome.message}", flush=True)
        service.close()
    write_results("improve", {"rounds": rounds, "max_steps": args.max_steps})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
