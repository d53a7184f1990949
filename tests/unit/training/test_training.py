"""Training and evaluation on the tiny random Llama (real SmolLM2 tokenizer): real TRL/PEFT runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rmnlora.agents.creative.parsing import parse_copy
from rmnlora.agents.governance import check_copy
from rmnlora.training.corpus import load_corpus
from rmnlora.training.creative_rows import (
    CORPUS_SPLIT,
    judge_answer,
    packs_for,
    preference_rows,
    select,
    sft_split,
)
from rmnlora.training.datasets import (
    DPO_KEYS,
    DatasetError,
    HeldoutLeakError,
    explicit_split,
    feedback_to_dpo,
    feedback_to_sft,
    prompt_hash,
    read_rows,
    split_heldout,
)
from rmnlora.training.dpo import DPORunConfig, train_dpo
from rmnlora.training.sft import SFTRunConfig, train_sft
from tests.support.paths import REPO_ROOT

CORPUS = REPO_ROOT / "examples" / "corpus"


def tiny() -> tuple[Any, Any]:
    from rmnlora.adapters.tiny import build_tiny_model

    return build_tiny_model(seed=0)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _flat(turns: list[dict[str, str]]) -> str:
    """Chat turns as one string (the Feedback table stores prompts and answers as text)."""
    return "\n\n".join(t["content"] for t in turns)


@pytest.fixture(scope="module")
def corpus() -> Any:
    return load_corpus(CORPUS)


@pytest.fixture(scope="module")
def brand_rows(corpus: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The example brand's corpus rows: (train, held-out products)."""
    return sft_split(corpus, "brand", "acme-snacks")


@pytest.fixture(scope="module")
def pairs(corpus: Any) -> list[dict[str, Any]]:
    return preference_rows(corpus, select(corpus, "brand", "acme-snacks", "train"), seed=1)


def test_corpus_rows_pass_governance_and_the_checker_catches_breaks(
    corpus: Any, brand_rows: Any, pairs: Any
) -> None:
    train, heldout = brand_rows
    assert len(train) > 40 and heldout
    for row in train + heldout:
        assert row["meta"]["retailer"] and row["meta"]["ad_format"] and row["meta"]["product_name"]
        assert judge_answer(row["completion"][0]["content"], row["meta"]).passed, row["meta"]
    assert {r["meta"]["product"] for r in train}.isdisjoint({r["meta"]["product"] for r in heldout})
    meta = next(r["meta"] for r in train if r["meta"]["retailer"] == "walmart")
    bad = "Headline: The #1 bar that cures colds\nBody: Safe for kids of all ages. At Target.\nCTA: Shop now"
    reasons = " ".join(judge_answer(bad, meta).reasons)
    for what in ("cure", "absolute safety", "may not name other retailers"):
        assert what in reasons, reasons
    assert not judge_answer("", meta).passed  # no headline: unusable
    # The agent's cleaner reads the answer first: an over-long headline is trimmed, and says so.
    long = judge_answer("Headline: " + "Crunchy oats " * 10 + "\nBody: Baked golden.\nCTA: Shop now", meta)
    assert any("trimmed the headline" in note for note in long.cleaning)
    # Preference pairs: the corpus copy (governance passes it) over a variant governance refuses,
    # both answering the agent's own prompt for the brief.
    assert len(pairs) == len(train)
    answers: dict[str, list[Any]] = {}
    for row in train:
        answers.setdefault(json.dumps(row["prompt"]), []).append(row["completion"])
    for pair in pairs:
        assert pair["chosen"] in answers[json.dumps(pair["prompt"])] and pair["chosen"] != pair["rejected"]
        packs = packs_for(pair["meta"])
        chosen, rejected = (parse_copy(pair[k][0]["content"]) for k in ("chosen", "rejected"))
        assert check_copy(chosen, packs).passed and not check_copy(rejected, packs).passed, pair


def test_heldout_prompts_never_reach_training(tmp_path: Path, corpus: Any, brand_rows: Any) -> None:
    rows, more = brand_rows
    train, heldout, manifest = split_heldout(rows, "t", heldout_fraction=0.25, seed=3)
    assert heldout and train and len(train) + len(heldout) == len(rows)
    held = set(manifest.heldout_prompt_hashes)
    assert held == {prompt_hash(r["prompt"]) for r in heldout}
    assert not held & {prompt_hash(r["prompt"]) for r in train}
    # Stable per prompt: a larger dataset keeps every earlier held-out prompt held out.
    _, heldout2, manifest2 = split_heldout(rows + more, "t", 0.25, seed=3)
    assert held <= set(manifest2.heldout_prompt_hashes)
    # Corpus rows keep the corpus's split (whole products), recorded the same way.
    c_train, c_held, c_manifest = explicit_split(rows, more, "c", CORPUS_SPLIT)
    assert c_manifest.split_by == CORPUS_SPLIT and c_manifest.heldout_rows == len(more)
    assert set(c_manifest.heldout_prompt_hashes) == {prompt_hash(r["prompt"]) for r in more}
    with pytest.raises(HeldoutLeakError, match="held-out prompts"):
        explicit_split(rows, rows[:1], "c", CORPUS_SPLIT)
    model, tokenizer = tiny()
    config = SFTRunConfig(kind="brand", name="x", output_dir=tmp_path, max_steps=1, progress=False)
    with pytest.raises(HeldoutLeakError, match="held-out prompts"):
        train_sft(model, tokenizer, train + heldout[:1], config, manifest)
    assert not (tmp_path / "adapter").exists()


def test_sft_lowers_training_loss_and_resumes(tmp_path: Path, brand_rows: Any) -> None:
    model, tokenizer = tiny()
    train, _, manifest = explicit_split(*brand_rows, "b", CORPUS_SPLIT)
    config = SFTRunConfig(
        kind="brand",
        name="acme",
        output_dir=tmp_path,
        max_steps=4,
        learning_rate=5e-3,
        batch_size=4,
        save_steps=2,
        progress=False,
    )
    result = train_sft(model, tokenizer, train, config, manifest)
    assert result.steps == 4 and len(result.losses) == 4
    assert _mean(result.losses[-2:]) < _mean(result.losses[:2])
    assert (tmp_path / "adapter" / "adapter_config.json").is_file()
    # A longer run with the same output folder resumes from checkpoint-4 instead of restarting.
    config.max_steps = 5
    model2, _ = tiny()
    again = train_sft(model2, tokenizer, train, config, manifest)
    assert again.resumed_from is not None and again.resumed_from.endswith("checkpoint-4")
    assert again.steps == 5 and len(again.losses) >= 1


def _seed_feedback(database: Any, pairs: list[dict[str, Any]]) -> str:
    from rmnlora.storage.models import Brand, Feedback
    from rmnlora.storage.tenants import register_tenant

    with database.get_session() as session:
        register_tenant(session, "t1", "Tenant One")
        register_tenant(session, "t2", "Tenant Two")
    with database.get_session(tenant_id="t1") as session:
        session.add(Brand(id="acme", name="Acme", tenant_id="t1"))
        for row in pairs[:12]:
            session.add(
                Feedback(
                    tenant_id="t1",
                    brand_id="acme",
                    task="creative",
                    feedback_type="preference",
                    prompt=_flat(row["prompt"]),
                    chosen=_flat(row["chosen"]),
                    rejected=_flat(row["rejected"]),
                )
            )
        session.add(
            Feedback(
                tenant_id="t1",
                brand_id="acme",
                task="creative",
                feedback_type="correction",
                prompt="Write a headline.",
                response="Acme: the cure!",
                correction="Acme Oat Crunch.",
            )
        )
        session.add(
            Feedback(
                tenant_id="t1",
                brand_id="acme",
                task="creative",
                feedback_type="thumbs",
                prompt="Write a banner.",
                response="Acme Honey Os.",
                thumbs_up=True,
            )
        )
        session.add(
            Feedback(
                tenant_id="t1",
                brand_id="acme",
                task="creative",
                feedback_type="rating",
                prompt="Write a banner.",
                response="Honey Os, number one!",
                rating=1,
            )
        )
    with database.get_session(tenant_id="t2") as session:
        session.add(Brand(id="other", name="Other", tenant_id="t2"))
        session.add(
            Feedback(
                tenant_id="t2",
                brand_id="other",
                task="creative",
                feedback_type="preference",
                prompt="secret",
                chosen="a",
                rejected="b",
            )
        )
    return "t1"


def test_dpo_trains_on_the_feedback_export_end_to_end(sqlite_db: Any, tmp_path: Path, pairs: Any) -> None:
    from rmnlora.feedback.export import write_dpo_jsonl
    from rmnlora.schemas.feedback import ExportFilter
    from rmnlora.training.datasets import load_feedback

    tenant = _seed_feedback(sqlite_db, pairs)
    export = tmp_path / "export.jsonl"
    assert write_dpo_jsonl(sqlite_db, tenant, ExportFilter(brand_id="acme"), export) == 13
    rows = read_rows(export, DPO_KEYS)
    items = load_feedback(sqlite_db, tenant, "acme")
    assert {i.tenant_id for i in items} == {"t1"}
    from_table = feedback_to_dpo(items)
    # The table path adds the liked-vs-disliked pair the export does not carry.
    assert {
        "prompt": "Write a banner.",
        "chosen": "Acme Honey Os.",
        "rejected": "Honey Os, number one!",
    } in from_table
    assert {(r["prompt"], r["chosen"], r["rejected"]) for r in rows} <= {
        (r["prompt"], r["chosen"], r["rejected"]) for r in from_table
    }
    sft = feedback_to_sft(items)
    assert {"prompt": "Write a headline.", "completion": "Acme Oat Crunch."} in sft
    assert all(r["completion"] != "Honey Os, number one!" for r in sft)

    train, _, manifest = split_heldout(rows, "dpo/acme", 0.2)
    model, tokenizer = tiny()
    config = DPORunConfig(
        kind="brand",
        name="acme-dpo",
        output_dir=tmp_path / "run",
        max_steps=4,
        learning_rate=5e-3,
        batch_size=4,
        progress=False,
    )
    result = train_dpo(model, tokenizer, train, config, manifest)
    assert result.method == "dpo" and result.steps == 4
    assert result.losses[0] == pytest.approx(0.6931, abs=1e-3)  # log 2: policy == reference at the start
    assert _mean(result.losses[-2:]) < result.losses[0]
    assert (tmp_path / "run" / "adapter" / "adapter_model.safetensors").is_file()


def test_bad_dpo_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"prompt": "p", "chosen": "c"}) + "\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"row 1: missing key\(s\) \['rejected'\]"):
        read_rows(path, DPO_KEYS)


def test_qlora_builds_4bit_base_with_lora_and_trains_a_step(tmp_path: Path, brand_rows: Any) -> None:
    from rmnlora.training.qlora import count_4bit_layers, load_base_4bit

    model, tokenizer = tiny()
    model.save_pretrained(tmp_path / "base")
    tokenizer.save_pretrained(tmp_path / "base")
    quantized, tokenizer = load_base_4bit(tmp_path / "base", "cpu")
    assert count_4bit_layers(quantized) == 14  # 7 projections x 2 layers
    rows = brand_rows[0][:8]
    config = SFTRunConfig(
        kind="brand",
        name="q",
        output_dir=tmp_path / "run",
        max_steps=1,
        batch_size=4,
        progress=False,
        qlora=True,
    )
    result = train_sft(quantized, tokenizer, rows, config)
    assert result.qlora and result.steps == 1 and result.losses
    assert (tmp_path / "run" / "adapter" / "adapter_model.safetensors").is_file()


def test_trained_adapter_is_registered_and_served_by_the_runtime(
    sqlite_db: Any, tmp_path: Path, corpus: Any, brand_rows: Any, pairs: Any
) -> None:
    from rmnlora.adapters.registry import AdapterRegistry
    from rmnlora.adapters.service import InferenceService, adapters_root
    from rmnlora.config import load_settings
    from rmnlora.schemas.inference import InferenceRequest
    from rmnlora.training.evaluate import evaluate_variants, load_adapters
    from rmnlora.training.pipeline import dataset_dir, train_and_register
    from rmnlora.training.report import write_report

    tenant = _seed_feedback(sqlite_db, pairs)
    settings = load_settings(None, data_dir=tmp_path / "data")
    config = SFTRunConfig(
        kind="brand",
        name="acme",
        output_dir=tmp_path,
        max_steps=2,
        batch_size=4,
        learning_rate=5e-3,
        progress=False,
    )
    rows, held_rows = brand_rows
    result = train_and_register(
        settings,
        sqlite_db,
        config,
        rows,
        tenant_id=tenant,
        heldout=held_rows,
        split_by=CORPUS_SPLIT,
        load_base=tiny,
    )
    held = result.extra["heldout"]
    assert held["rows"] == len(held_rows) > 0 and held["adapter"]["loss"] < held["base"]["loss"]
    split = dataset_dir(settings, "sft", "brand", "acme")
    assert {p.name for p in split.iterdir()} == {"train.jsonl", "heldout.jsonl", "manifest.json"}
    manifest = json.loads((split / "manifest.json").read_text())
    assert manifest["split_by"] == CORPUS_SPLIT and manifest["train_rows"] == len(rows)

    registry = AdapterRegistry(sqlite_db, adapters_root(settings))
    [info] = registry.list(tenant_id=tenant, kind="brand")
    assert info.name == "acme" and info.owner_tenant_id == tenant and info.metrics["steps"] == 2
    model, tokenizer = tiny()
    service = InferenceService(model, tokenizer, registry, max_batch_size=2)
    try:
        response = service.infer(
            tenant, InferenceRequest(brand="acme", prompt="Write ad copy.", max_new_tokens=3)
        )
    finally:
        service.close()
    assert response.components.get("brand") == "acme" or "acme" in str(response.components)

    heldout = read_rows(split / "heldout.jsonl", ("prompt", "completion"))
    held_pairs = preference_rows(corpus, select(corpus, "brand", "acme-snacks", "heldout"))[:4]
    base, tokenizer = tiny()
    peft_model = load_adapters(base, {"acme": info.path, "acme2": info.path})
    scores = evaluate_variants(
        peft_model,
        tokenizer,
        ["acme"],
        sft_rows=heldout[:6],
        pairs=held_pairs,
        compositions=[["acme", "acme2"]],
        max_generations=2,
        max_new_tokens=4,
    )
    assert [s.name for s in scores] == ["base", "acme", "acme+acme2"]
    assert scores[1].loss is not None and scores[0].loss is not None and scores[1].loss < scores[0].loss
    assert scores[1].governance_cases == 2 and scores[0].implicit_reward_accuracy is None
    assert scores[1].governance_pass_rate is not None and scores[1].samples[0]["copy"].keys() >= {"headline"}
    assert scores[1].implicit_reward_accuracy is not None
    document = write_report(scores, tmp_path / "report")
    assert {p.name for p in (tmp_path / "report").iterdir()} == {"eval.json", "report.md", "eval.png"}
    assert document["vs_base"]["acme"]["heldout_loss_cut"] > 0
