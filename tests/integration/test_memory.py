"""Scenario memory: offline embeddings, tenant isolation, similarity order, persistence, a Chroma server."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rmnlora.config import load_settings
from rmnlora.memory import MemoryUnavailable, ScenarioMemory, collection_name, summarize_brief
from rmnlora.reflection import ReflectionEngine
from rmnlora.schemas.brief import parse_brief
from rmnlora.schemas.reflection import OptimizeSignals
from tests.support.loopback import free_port
from tests.support.paths import REPO_ROOT

SCENARIOS = {
    "snacks-walmart": "brand Crunchy; salty snacks; retailers Walmart, Target; budget 120,000 USD; "
    "ROAS floor 3; search and sponsored products",
    "shampoo-kroger": "brand Silky; hair care shampoo; retailer Kroger; budget 40,000 USD; "
    "awareness; display video",
    "petfood-chewy": "brand Barkly; dry dog food; retailer Chewy; budget 75,000 USD; "
    "new customer acquisition",
    "coffee-amazon": "brand Roastly; ground coffee pods; retailer Amazon; budget 200,000 USD; "
    "subscribe and save",
}


@pytest.fixture(scope="module")
def memory(tmp_path_factory: pytest.TempPathFactory) -> ScenarioMemory:
    store = ScenarioMemory.persistent(tmp_path_factory.mktemp("chroma"))
    for sid, text in SCENARIOS.items():
        store.store_scenario("acme", sid, text, plan={"id": sid}, outcome="success")
    return store


def test_recall_returns_the_truly_similar_scenario_first(memory: ScenarioMemory) -> None:
    queries = {
        "dog kibble campaign on Chewy to win new pet owners": "petfood-chewy",
        "coffee capsules on Amazon with a subscription push": "coffee-amazon",
        "chips and pretzels at Walmart and Target with a minimum ROAS": "snacks-walmart",
        "conditioner and shampoo awareness video at Kroger": "shampoo-kroger",
    }
    for query, expected in queries.items():
        refs = memory.recall("acme", query, k=3)
        assert refs[0].scenario_id == expected, (query, [r.scenario_id for r in refs])
        assert len(refs) == 3
        assert refs[0].similarity > refs[1].similarity >= refs[2].similarity
        assert refs[0].metadata["plan"] == {"id": expected} and refs[0].outcome == "success"


def test_a_tenant_never_recalls_another_tenants_scenarios(memory: ScenarioMemory) -> None:
    memory.store_scenario("globex", "globex-only", SCENARIOS["snacks-walmart"], outcome="failure")
    acme = memory.recall("acme", SCENARIOS["snacks-walmart"], k=10)
    assert "globex-only" not in {r.scenario_id for r in acme}
    assert len(acme) == len(SCENARIOS)
    globex = memory.recall("globex", SCENARIOS["snacks-walmart"], k=10)
    assert [r.scenario_id for r in globex] == ["globex-only"]
    assert globex[0].similarity == pytest.approx(1.0, abs=1e-3)
    assert memory.recall("initech", "anything", k=3) == []


def test_collection_names_are_legal_and_distinct_for_lookalike_tenants() -> None:
    a, b = collection_name("a-b"), collection_name("a_b")
    assert a != b
    assert collection_name("tenant with spaces/ünïcode").replace("_", "").replace("-", "").isalnum()
    with pytest.raises(ValueError):
        collection_name("")


def test_outcome_update_and_persistence_across_clients(tmp_path: Path) -> None:
    first = ScenarioMemory.persistent(tmp_path)
    first.store_scenario("acme", "run-1", SCENARIOS["coffee-amazon"], decisions=[{"phase": "optimize"}])
    first.set_outcome("acme", "run-1", "failure")
    with pytest.raises(KeyError, match="run-404"):
        first.set_outcome("acme", "run-404", "success")
    with pytest.raises(ValueError, match="unknown outcome"):
        first.set_outcome("acme", "run-1", "great")  # type: ignore[arg-type]
    reopened = ScenarioMemory.persistent(tmp_path)
    refs = reopened.recall("acme", "Amazon coffee pods", k=1)
    assert refs[0].scenario_id == "run-1" and refs[0].outcome == "failure"
    assert refs[0].decisions == [{"phase": "optimize"}]


def test_similar_past_failure_from_memory_raises_a_risk_in_the_assessor(tmp_path: Path) -> None:
    store = ScenarioMemory.persistent(tmp_path)
    store.store_scenario("acme", "q3-snacks", SCENARIOS["snacks-walmart"], outcome="failure")
    store.store_scenario("acme", "coffee", SCENARIOS["coffee-amazon"], outcome="success")
    refs = store.recall("acme", SCENARIOS["snacks-walmart"].replace("120,000", "110,000"), k=2)
    signals = OptimizeSignals(solver_status="optimal", lines=[], budget=1.0)
    decision = ReflectionEngine(0.7).reflect("optimize", signals, session_id="s", memory_refs=refs).decision
    assert decision is not None
    assert any("q3-snacks" in r.factor for r in decision.risks)
    assert decision.decision != "proceed"


def test_summarize_brief_names_what_recall_matches_on() -> None:
    brief = parse_brief(
        {
            "name": "Q4 snacks",
            "brand": "crunchy",
            "budget": 100000,
            "flight": {"start": "2026-10-01", "end": "2026-12-31"},
            "retailers": [{"name": "walmart"}, {"name": "target"}],
            "constraints": {"roas_floor": 3.0},
            "creative": {"product": "sea salt chips"},
        }
    )
    text = summarize_brief(brief, {"walmart": 60000})
    for part in ("crunchy", "walmart, target", "ROAS floor 3.0", "sea salt chips", "walmart"):
        assert part in text


def test_settings_choose_the_persistent_folder(tmp_path: Path) -> None:
    store = ScenarioMemory.from_settings(load_settings(data_dir=tmp_path))
    assert store.location == f"folder {tmp_path / 'chroma'}"
    assert store.health()["ok"] is True


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A real ChromaDB server (`chroma run`) on a free loopback port."""
    binary = shutil.which("chroma") or str(REPO_ROOT / ".venv" / "bin" / "chroma")
    port = free_port()
    path = tmp_path_factory.mktemp("chroma-server")
    proc = subprocess.Popen(
        [binary, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError("chroma run exited early") from None
                time.sleep(0.2)
        else:
            raise RuntimeError("chroma server did not start within 60 s")
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_http_client_against_a_real_chroma_server(chroma_server: int, tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=tmp_path, memory={"chroma_host": "127.0.0.1", "chroma_port": chroma_server}
    )
    store = ScenarioMemory.from_settings(settings)
    assert store.location == f"server 127.0.0.1:{chroma_server}"
    store.store_scenario("acme", "srv-1", SCENARIOS["petfood-chewy"], outcome="blocked")
    store.store_scenario("other", "srv-2", SCENARIOS["petfood-chewy"])
    refs = store.recall("acme", "dog food at Chewy", k=5)
    assert [r.scenario_id for r in refs] == ["srv-1"] and refs[0].outcome == "blocked"
    assert not (tmp_path / "chroma").exists()


def test_unreachable_server_is_a_clear_error() -> None:
    port = free_port()
    with pytest.raises(MemoryUnavailable, match=f"127.0.0.1:{port} is unreachable"):
        ScenarioMemory.from_settings(load_settings(memory={"chroma_host": "127.0.0.1", "chroma_port": port}))
