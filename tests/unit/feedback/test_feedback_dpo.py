"""The export streamed by the API loads into TRL's DPOTrainer as is, and a training step runs on it."""

from __future__ import annotations

import math
from pathlib import Path

import httpx

from rmnlora.serving.app import create_feedback_app
from rmnlora.storage import Database
from tests.support.feedback_support import add_tenant, serve


def test_api_export_trains_one_dpo_step_on_the_tiny_model(sqlite_db: Database, tmp_path: Path) -> None:
    from datasets import load_dataset
    from peft import LoraConfig
    from trl import DPOConfig, DPOTrainer

    from rmnlora.adapters.tiny import build_tiny_model

    key = add_tenant(sqlite_db, "acme", ("acme-cola",))
    export = tmp_path / "dpo.jsonl"
    with (
        serve(create_feedback_app(None, sqlite_db)) as url,
        httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=10) as client,
    ):
        for i in range(3):
            client.post(
                "/feedback/preference-pair",
                json={
                    "brand_id": "acme-cola",
                    "task": "creative",
                    "prompt": f"Headline {i} for Acme Cola:",
                    "chosen": f"Ice-cold Acme Cola, deal {i}.",
                    "rejected": f"cola {i}",
                },
            ).raise_for_status()
        client.post(
            "/feedback/",
            json={
                "brand_id": "acme-cola",
                "task": "creative",
                "prompt": "Tagline for Acme Cola:",
                "response": "drink",
                "correction": "Acme Cola: crisp refreshment, every day.",
            },
        ).raise_for_status()
        with client.stream("GET", "/feedback/export-dpo") as response, export.open("wb") as handle:
            for chunk in response.iter_bytes():
                handle.write(chunk)

    dataset = load_dataset("json", data_files=str(export), split="train")
    assert dataset.column_names == ["prompt", "chosen", "rejected"] and len(dataset) == 4

    model, tokenizer = build_tiny_model(seed=0)
    args = DPOConfig(
        output_dir=str(tmp_path / "out"),
        max_steps=1,
        per_device_train_batch_size=2,
        learning_rate=1e-3,
        report_to=[],
        use_cpu=True,
        bf16=False,
        fp16=False,
        gradient_checkpointing=False,
        save_strategy="no",
        logging_steps=1,
        max_length=64,
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    trainer = DPOTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"),
    )
    result = trainer.train()
    assert result.global_step == 1
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert losses and math.isfinite(losses[0])
