"""Training benchmark on the real SmolLM2-135M (CPU): a brand SFT adapter and a DPO adapter.

Data: the copy corpus (examples/corpus), the example brand acme-snacks: SFT rows are the creative
agent's own request for each brief and the copy that answers it; DPO pairs are a corpus copy over
a variant governance refuses; held out are the corpus's held-out products (never trained on).
Prints held-out loss and governance pass rate (greedy generations read by the agent's parser and
judged by governance's check_copy with the retailer format) of base vs brand adapter, DPO
preference accuracy of base vs DPO adapter, the composition of both, and seconds per step;
writes benchmarks/results/training.json.
Usage: .venv/bin/python benchmarks/training.py [SFT_STEPS=20] [DPO_STEPS=12] [GENERATIONS=8] [HELDOUT_CAP=16]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import write_results  # noqa: E402
from rmnlora.adapters.base_model import load_base_model  # noqa: E402
from rmnlora.config import load_settings  # noqa: E402
from rmnlora.training.corpus import load_corpus  # noqa: E402
from rmnlora.training.creative_rows import CORPUS_SPLIT, preference_rows, select, sft_split  # noqa: E402
from rmnlora.training.datasets import explicit_split  # noqa: E402
from rmnlora.training.dpo import DPORunConfig, train_dpo  # noqa: E402
from rmnlora.training.evaluate import evaluate_variants, improvement, load_adapters  # noqa: E402
from rmnlora.training.sft import SFTRunConfig, train_sft  # noqa: E402

BRAND = "acme-snacks"
CORPUS = Path(__file__).resolve().parent.parent / "examples" / "corpus"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def main(sft_steps: int = 20, dpo_steps: int = 12, generations: int = 8, heldout_cap: int = 16) -> None:
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    started = time.perf_counter()
    settings = load_settings(None, model={"device": "cpu"})
    work = Path(tempfile.mkdtemp(prefix="rmn-train-bench-"))
    corpus = load_corpus(CORPUS)
    train, heldout, manifest = explicit_split(*sft_split(corpus, "brand", BRAND), "bench/brand", CORPUS_SPLIT)
    pair_train, pair_heldout, pair_manifest = explicit_split(
        preference_rows(corpus, select(corpus, "brand", BRAND, "train"), seed=1),
        preference_rows(corpus, select(corpus, "brand", BRAND, "heldout"), seed=1),
        "bench/dpo",
        CORPUS_SPLIT,
    )
    print(
        f"brand rows {len(train)} train / {len(heldout)} held out; "
        f"pairs {len(pair_train)} / {len(pair_heldout)}"
    )

    model, tokenizer = load_base_model(settings)
    sft = train_sft(
        model,
        tokenizer,
        train,
        SFTRunConfig(
            kind="brand",
            name="acme",
            output_dir=work / "sft",
            max_steps=sft_steps,
            learning_rate=1e-3,
            batch_size=4,
            save_steps=10_000,
            progress=False,
        ),
        manifest,
    )
    print(
        f"SFT: {sft.steps} steps, loss {sft.first_loss:.3f} -> {sft.last_loss:.3f}, "
        f"{sft.seconds_per_step:.2f} s/step"
    )
    model, tokenizer = load_base_model(settings)
    dpo = train_dpo(
        model,
        tokenizer,
        pair_train,
        DPORunConfig(
            kind="brand",
            name="acme-dpo",
            output_dir=work / "dpo",
            max_steps=dpo_steps,
            learning_rate=5e-4,
            beta=0.1,
            batch_size=4,
            save_steps=10_000,
            progress=False,
        ),
        pair_manifest,
    )
    print(
        f"DPO: {dpo.steps} steps, loss {dpo.first_loss:.3f} -> {dpo.last_loss:.3f}, "
        f"{dpo.seconds_per_step:.2f} s/step"
    )

    base, tokenizer = load_base_model(settings)
    peft_model = load_adapters(base, {"acme": sft.adapter_path, "acme-dpo": dpo.adapter_path})
    eval_started = time.perf_counter()
    scores = evaluate_variants(
        peft_model,
        tokenizer,
        ["acme", "acme-dpo"],
        sft_rows=heldout[:heldout_cap],
        pairs=pair_heldout[:heldout_cap],
        compositions=[["acme", "acme-dpo"]],
        max_generations=generations,
        max_new_tokens=64,
    )
    eval_seconds = time.perf_counter() - eval_started
    by_name = {s.name: s for s in scores}
    for s in scores:
        print(
            f"{s.name:>14}: held-out loss {s.loss:.3f}  governance pass {_pct(s.governance_pass_rate)} "
            f"({s.governance_cases})  pref. acc. {_pct(s.preference_accuracy)}  "
            f"implicit-reward acc. {_pct(s.implicit_reward_accuracy)}"
        )
    gains = {name: improvement(by_name["base"], s) for name, s in by_name.items() if name != "base"}
    brand_gain, dpo_gain = gains["acme"], gains["acme-dpo"]
    print(
        f"brand adapter: held-out loss cut {brand_gain['heldout_loss_cut']:.1%} (goal >= 10%), "
        f"governance pass {_pct(by_name['base'].governance_pass_rate)} -> "
        f"{_pct(by_name['acme'].governance_pass_rate)}"
    )
    print(
        f"DPO adapter: preference accuracy {by_name['base'].preference_accuracy:.0%} -> "
        f"{by_name['acme-dpo'].preference_accuracy:.0%} "
        f"({dpo_gain['preference_accuracy_gain']:+.0%}, goal >= +10 points)"
    )
    for s in scores:
        for sample in s.samples[:2]:
            print(f"  {s.name}: {sample['output'][:90]!r} ok={sample['ok']} {sample['violations']}")
    total = time.perf_counter() - started
    print(f"total {total:.0f} s (evaluation {eval_seconds:.0f} s)")
    write_results(
        "training",
        {
            "device": "cpu",
            "data": f"copy corpus, brand {BRAND}, {CORPUS_SPLIT}",
            "sizes": {
                "sft_steps": sft_steps,
                "dpo_steps": dpo_steps,
                "generations": generations,
                "sft_train_rows": len(train),
                "sft_heldout_rows": len(heldout),
                "dpo_train_pairs": len(pair_train),
                "dpo_heldout_pairs": len(pair_heldout),
            },
            "sft": sft.model_dump(),
            "dpo": dpo.model_dump(),
            "scores": [s.as_dict() for s in scores],
            "vs_base": gains,
            "seconds_total": total,
            "seconds_eval": eval_seconds,
        },
    )


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:5]]
    main(*args)
