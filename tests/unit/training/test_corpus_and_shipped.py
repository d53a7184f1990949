"""The copy corpus as training rows, and the shipped adapters' training and first-use registration.

What a user relies on: an adapter learns the very request the creative agent sends (same
messages, same rendering), from copies governance passes, never from a held-out product; and a
fresh install composes the shipped adapters without replacing anything already registered.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import BaseMessage

from rmnlora.adapters.chat_model import to_chat_messages
from rmnlora.adapters.registry import AdapterRegistry
from rmnlora.adapters.shipped import register_shipped, shipped_adapters
from rmnlora.adapters.tiny import build_tiny_model
from rmnlora.agents.creative.generate import generate_copy
from rmnlora.agents.creative.parsing import parse_copy
from rmnlora.storage.models import Brand, Tenant
from rmnlora.training.corpus import CorpusError, load_corpus
from rmnlora.training.shipped import ShipRun, save_fp16, train_shipped
from tests.support.adapter_helpers import make_lora
from tests.support.paths import REPO_ROOT

CORPUS = REPO_ROOT / "examples" / "corpus"


SENT: list[list[BaseMessage]] = []


class RecordingChat(FakeListChatModel):
    """Answers with a fixed copy and keeps the messages the agent sent."""

    def invoke(self, input: Any, config: Any = None, **kwargs: Any) -> Any:  # noqa: A002
        SENT.append(list(input))
        return super().invoke(input, config, **kwargs)


@pytest.fixture(scope="module")
def corpus() -> Any:
    return load_corpus(CORPUS)


def test_the_split_holds_out_whole_products_and_a_whole_category(corpus: Any) -> None:
    split = yaml.safe_load((CORPUS / "split.yaml").read_text())
    train = corpus.select("train")
    heldout = corpus.select("heldout")
    assert len(train) + len(heldout) == len(corpus.examples) >= 600
    train_products = {e.product.id for e in train}
    assert not train_products & {e.product.id for e in heldout}
    assert not {e.product.category for e in train} & set(split["heldout_categories"])
    assert "acme-crunch-granola-bars" in train_products  # the demo's product is learned
    assert len({e.product.category for e in corpus.examples}) >= 8


def test_training_rows_are_exactly_what_the_creative_agent_sends(corpus: Any) -> None:
    example = next(e for e in corpus.select("train") if e.copy.retailer == "kroger")
    chat = RecordingChat(responses=["Headline: x\nBody: y\nCTA: Shop now"])
    SENT.clear()
    generate_copy(example.request.model_copy(update={"k": 1}), chat)
    sent = [turn.model_dump() for turn in to_chat_messages(SENT[0])]
    row = corpus.sft_rows([example])[0]
    assert row["prompt"] == sent
    target = parse_copy(row["completion"][0]["content"])
    assert (target.headline, target.body, target.cta) == (
        example.copy.headline,
        example.copy.body,
        example.copy.cta,
    )


def test_every_corpus_target_passes_governance_and_a_failing_one_is_refused(corpus: Any) -> None:
    assert len(corpus.sft_rows(corpus.examples)) == len(corpus.examples)
    example = corpus.select("train")[0]
    bad = example.copy.model_copy(update={"headline": "The granola that cures colds"})
    with pytest.raises(CorpusError, match=f"{example.copy.id} fails governance"):
        corpus.sft_rows([type(example)(copy=bad, product=example.product, split="train")])


def test_a_missing_corpus_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="no copy corpus"):
        load_corpus(tmp_path)


def _shipped_root(tmp_path: Path) -> Path:
    root = tmp_path / "shipped"
    for kind, name, owner in (
        ("task", "creative", None),
        ("retailer", "walmart", None),
        ("brand", "acme-snacks", "acme"),
    ):
        raw = make_lora(lambda: build_tiny_model()[0], tmp_path / "raw" / name, seed=1, rank=2)
        save_fp16(raw, root / kind / name, {"kind": kind, "name": name, "owner_tenant": owner})
    return root


def test_shipped_adapters_register_on_first_use_without_replacing_a_users_own(
    tmp_path: Path, sqlite_db: Any
) -> None:
    root = _shipped_root(tmp_path)
    registry = AdapterRegistry(sqlite_db, tmp_path / "registry")
    own = make_lora(lambda: build_tiny_model()[0], tmp_path / "own", seed=7, rank=2)
    registry.register("retailer", "walmart", own)

    assert register_shipped(registry, root) == ["task/creative"]  # brand waits for its tenant
    assert {a.name for a in registry.list(kind="retailer")} == {"walmart"}
    assert Path(registry.list(kind="retailer")[0].path).joinpath("manifest.json").exists() is False

    with sqlite_db.get_session() as session:
        session.add(Tenant(id="acme", name="Acme"))
        session.flush()
        session.add(Brand(id="acme-snacks", tenant_id="acme", name="Acme Snacks"))
    assert register_shipped(registry, root) == ["brand/acme-snacks"]
    assert register_shipped(registry, root) == []  # idempotent
    resolution = registry.resolve("acme", retailer="walmart", brand="acme-snacks", task="creative")
    assert set(resolution.components) == {"retailer", "brand", "task"}


def test_shipped_weights_are_fp16_and_load_into_the_fp32_model(tmp_path: Path) -> None:
    from peft import PeftModel
    from safetensors.torch import load_file

    root = _shipped_root(tmp_path)
    adapter = next(a for a in shipped_adapters(root) if a.kind == "task")
    weights = load_file(str(adapter.path / "adapter_model.safetensors"))
    assert {str(t.dtype) for t in weights.values()} == {"torch.float16"}
    model = PeftModel.from_pretrained(build_tiny_model()[0], str(adapter.path))
    assert {str(p.dtype) for n, p in model.named_parameters() if "lora_" in n} == {"torch.float32"}


def test_train_shipped_trains_children_on_top_of_the_task_adapter(corpus: Any, tmp_path: Path) -> None:
    run = ShipRun(
        work_dir=tmp_path / "work", out_dir=tmp_path / "out", max_steps=1, batch_size=2, progress=False
    )
    results = train_shipped(
        corpus, lambda: build_tiny_model(), run, only=("task/creative", "brand/acme-snacks")
    )
    assert set(results) == {"task/creative", "brand/acme-snacks"}
    manifest = json.loads((tmp_path / "out" / "brand" / "acme-snacks" / "manifest.json").read_text())
    assert manifest["parent"] == "task/creative" and manifest["owner_tenant"] == "acme"
    assert all(p.startswith("acme-") for p in manifest["train_products"])
    assert "acme-trail-mix-bites" not in manifest["train_products"]  # held out


def test_a_child_without_its_parent_is_refused(corpus: Any, tmp_path: Path) -> None:
    run = ShipRun(
        work_dir=tmp_path / "work", out_dir=tmp_path / "out", max_steps=1, batch_size=2, progress=False
    )
    with pytest.raises(FileNotFoundError, match="train that first"):
        train_shipped(corpus, build_tiny_model, run, only=("retailer/walmart",))
