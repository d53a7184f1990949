"""Training and evaluation on the tiny random Llama (real SmolLM2 tokenizer): real TRL/PEFT runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rmnlora.schemas.training import BrandFacts, FormatSpec, RetailerFacts
from rmnlora.training.compliance import check_copy
from rmnlora.training.datasets import (
    DEFAULT_BRAND,
    DEFAULT_RETAILERS,
    DPO_KEYS,
    DatasetError,
    HeldoutLeakError,
    brand_sft_rows,
    feedback_to_dpo,
    feedback_to_sft,
    prompt_hash,
    read_rows,
    split_heldout,
    synthetic_preference_rows,
    task_sft_rows,
)
from rmnlora.training.dpo import DPORunConfig, train_dpo
from rmnlora.training.sft import SFTRunConfig, train_sft


def tiny() -> tuple[Any, Any]:
    from rmnlora.adapters.tiny import build_tiny_model

    return build_tiny_model(seed=0)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def test_generated_copy_is_compliant_and_checker_catches_breaks() -> None:
    rows = brand_sft_rows(DEFAULT_BRAND, DEFAULT_RETAILERS)
    assert len(rows) > 40
    for row in rows:
        meta = row.get("meta")
        if meta is None:  # the brand's own sample copy
            continue
        fmt = FormatSpec.model_validate(meta["format"])
        retailer = next(r for r in DEFAULT_RETAILERS if r.name == meta["retailer"]["name"])
        assert check_copy(row["completion"], fmt, DEFAULT_BRAND, retailer, meta["product"]).ok, row
    fmt = FormatSpec(name="headline", max_chars=30, required_elements=["brand", "product", "cta"])
    brand = BrandFacts(name="Acme", products=["Oat Crunch"], messages=["m"], banned_terms=["cure"])
    retailer = RetailerFacts(name="W", formats=[fmt], banned_terms=["cheapest"])
    result = check_copy("Oat Crunch: the cheapest cure around, really", fmt, brand, retailer, "Oat Crunch")
    assert set(result.violations) == {
        "length 44 > 30 (headline)",
        "banned term 'cure'",
        "banned term 'cheapest'",
        "missing brand name",
        "missing call to action",
    }
    assert check_copy("Acme Oat Crunch. Shop now.", fmt, brand, retailer, "Oat Crunch").ok


def test_heldout_prompts_never_reach_training(tmp_path: Path) -> None:
    rows = brand_sft_rows(DEFAULT_BRAND, DEFAULT_RETAILERS) + task_sft_rows("mapping")
    train, heldout, manifest = split_heldout(rows, "t", heldout_fraction=0.25, seed=3)
    assert heldout and train and len(train) + len(heldout) == len(rows)
    held = set(manifest.heldout_prompt_hashes)
    assert held == {prompt_hash(r["prompt"]) for r in heldout}
    assert not held & {prompt_hash(r["prompt"]) for r in train}
    # Stable per prompt: a larger dataset keeps every earlier held-out prompt held out.
    _, heldout2, manifest2 = split_heldout(rows + task_sft_rows("rationale"), "t", 0.25, seed=3)
    assert held <= set(manifest2.heldout_prompt_hashes)
    model, tokenizer = tiny()
    config = SFTRunConfig(kind="brand", name="x", output_dir=tmp_path, max_steps=1, progress=False)
    with pytest.raises(HeldoutLeakError, match="held-out prompts"):
        train_sft(model, tokenizer, train + heldout[:1], config, manifest)
    assert not (tmp_path / "adapter").exists()


def test_sft_lowers_training_loss_and_resumes(tmp_path: Path) -> None:
    model, tokenizer = tiny()
    train, _, manifest = split_heldout(brand_sft_rows(DEFAULT_BRAND, DEFAULT_RETAILERS), "b")
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


def _seed_feedback(database: Any) -> str:
    from rmnlora.storage.models import Brand, Feedback
    from rmnlora.storage.tenants import register_tenant

    with database.get_session() as session:
        register_tenant(session, "t1", "Tenant One")
        register_tenant(session, "t2", "Tenant Two")
    with database.get_session(tenant_id="t1") as session:
        session.add(Brand(id="acme", name="Acme", tenant_id="t1"))
        for row in synthetic_preference_rows(DEFAULT_BRAND, DEFAULT_RETAILERS)[:12]:
            session.add(
                Feedback(
                    tenant_id="t1",
                    brand_id="acme",
                    task="creative",
                    feedback_type="preference",
                    prompt=row["prompt"],
                    chosen=row["chosen"],
                    rejected=row["rejected"],
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


def test_dpo_trains_on_the_feedback_export_end_to_end(sqlite_db: Any, tmp_path: Path) -> None:
    from rmnlora.feedback.export import write_dpo_jsonl
    from rmnlora.schemas.feedback import ExportFilter
    from rmnlora.training.datasets import load_feedback

    tenant = _seed_feedback(sqlite_db)
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


def test_qlora_builds_4bit_base_with_lora_and_trains_a_step(tmp_path: Path) -> None:
    from rmnlora.training.qlora import count_4bit_layers, load_base_4bit

    model, tokenizer = tiny()
    model.save_pretrained(tmp_path / "base")
    tokenizer.save_pretrained(tmp_path / "base")
    quantized, tokenizer = load_base_4bit(tmp_path / "base", "cpu")
    assert count_4bit_layers(quantized) == 14  # 7 projections x 2 layers
    rows = brand_sft_rows(DEFAULT_BRAND, DEFAULT_RETAILERS)[:8]
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


def test_trained_adapter_is_registered_and_served_by_the_runtime(sqlite_db: Any, tmp_path: Path) -> None:
    from rmnlora.adapters.registry import AdapterRegistry
    from rmnlora.adapters.service import InferenceService, adapters_root
    from rmnlora.config import load_settings
    from rmnlora.schemas.inference import InferenceRequest
    from rmnlora.training.evaluate import evaluate_variants, load_adapters
    from rmnlora.training.pipeline import dataset_dir, train_and_register
    from rmnlora.training.report import write_report

    tenant = _seed_feedback(sqlite_db)
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
    rows = brand_sft_rows(DEFAULT_BRAND, DEFAULT_RETAILERS)
    result = train_and_register(settings, sqlite_db, config, rows, tenant_id=tenant, load_base=tiny)
    held = result.extra["heldout"]
    assert held["rows"] > 0 and held["adapter"]["loss"] < held["base"]["loss"]
    split = dataset_dir(settings, "sft", "brand", "acme")
    assert {p.name for p in split.iterdir()} == {"train.jsonl", "heldout.jsonl", "manifest.json"}

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
    pairs = synthetic_preference_rows(DEFAULT_BRAND, DEFAULT_RETAILERS)[:4]
    base, tokenizer = tiny()
    peft_model = load_adapters(base, {"acme": info.path, "acme2": info.path})
    scores = evaluate_variants(
        peft_model,
        tokenizer,
        ["acme"],
        sft_rows=heldout[:6],
        pairs=pairs,
        compositions=[["acme", "acme2"]],
        max_generations=2,
        max_new_tokens=4,
    )
    assert [s.name for s in scores] == ["base", "acme", "acme+acme2"]
    assert scores[1].loss is not None and scores[0].loss is not None and scores[1].loss < scores[0].loss
    assert scores[1].compliance_cases == 2 and scores[0].implicit_reward_accuracy is None
    assert scores[1].implicit_reward_accuracy is not None
    document = write_report(scores, tmp_path / "report")
    assert {p.name for p in (tmp_path / "report").iterdir()} == {"eval.json", "report.md", "eval.png"}
    assert document["vs_base"]["acme"]["heldout_loss_cut"] > 0
