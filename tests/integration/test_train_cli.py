"""`rmn train` / `rmn eval` end to end on a tiny model folder configured as the base model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rmnlora.cli import app


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from rmnlora.adapters.tiny import build_tiny_model

    model, tokenizer = build_tiny_model(seed=1)
    model.save_pretrained(tmp_path / "base")
    tokenizer.save_pretrained(tmp_path / "base")
    monkeypatch.setenv("RMN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RMN_MODEL__BASE_MODEL", str(tmp_path / "base"))
    monkeypatch.setenv("RMN_MODEL__DEVICE", "cpu")
    monkeypatch.delenv("RMN_CONFIG", raising=False)
    return tmp_path


def test_train_then_eval_print_one_json_object_each(env: Path) -> None:
    runner = CliRunner()
    trained = runner.invoke(
        app,
        [
            "train",
            "sft",
            "--kind",
            "retailer",
            "--name",
            "kroger",
            "--example",
            "--steps",
            "1",
            "--batch-size",
            "4",
            "--json",
        ],
    )
    assert trained.exit_code == 0, trained.output
    result = json.loads(trained.stdout)
    assert result["method"] == "sft" and result["registered_id"] is not None
    assert result["extra"]["heldout"]["rows"] > 0  # the corpus's held-out products
    evaluated = runner.invoke(
        app,
        ["eval", "--adapter", "retailer:kroger", "--generations", "2", "--out", str(env / "rep"), "--json"],
    )
    assert evaluated.exit_code == 0, evaluated.output
    document = json.loads(evaluated.stdout)
    names = [v["name"] for v in document["variants"]]
    assert names == ["base", "kroger"] and document["variants"][1]["governance_cases"] == 2
    assert (env / "rep" / "report.md").is_file()


def test_train_sft_names_what_the_corpus_lacks(env: Path) -> None:
    runner = CliRunner()
    nothing = runner.invoke(app, ["train", "sft", "--kind", "task", "--name", "creative"])
    assert nothing.exit_code == 1 and "--corpus DIR or --example" in nothing.output
    unknown = runner.invoke(app, ["train", "sft", "--kind", "brand", "--name", "nope", "--example"])
    assert unknown.exit_code == 1 and "no training copies for brand 'nope'" in unknown.output
    assert "acme-snacks" in unknown.output
    task = runner.invoke(app, ["train", "sft", "--kind", "task", "--name", "mapping", "--example"])
    assert task.exit_code == 1 and "creative' task only" in task.output


def test_dpo_needs_a_tenant_and_one_data_source(env: Path) -> None:
    runner = CliRunner()
    both = runner.invoke(app, ["train", "dpo", "--brand", "acme", "--tenant", "t1"])
    assert both.exit_code == 1 and "exactly one of --from-feedback or --data" in both.output
    no_tenant = runner.invoke(app, ["train", "dpo", "--brand", "acme", "--from-feedback"])
    assert no_tenant.exit_code == 1 and "--tenant is required" in no_tenant.output
