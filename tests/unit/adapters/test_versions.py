"""Adapter versions: one served at a time, promotion and rollback take effect on the next request,
and every change is an audited event."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from rmnlora.adapters.registry import AdapterRegistry
from rmnlora.adapters.service import InferenceService
from rmnlora.adapters.tiny import build_tiny_model
from rmnlora.adapters.versions import AdapterVersions, VersionError
from rmnlora.schemas.inference import InferenceRequest
from rmnlora.storage import Brand
from rmnlora.storage.tenants import register_tenant
from tests.support.adapter_helpers import make_lora


def _tiny() -> Any:
    return build_tiny_model(0)[0]


@pytest.fixture(scope="module")
def loras(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("version-loras")
    return {
        "v1": make_lora(_tiny, root / "v1", seed=11, rank=4, scale=1.0),
        "v2": make_lora(_tiny, root / "v2", seed=12, rank=4, scale=1.0),
        "v3": make_lora(_tiny, root / "v3", seed=13, rank=8, scale=1.0),
    }


@pytest.fixture
def registry(sqlite_db: Any, tmp_path: Path, loras: dict[str, Path]) -> AdapterRegistry:
    with sqlite_db.get_session() as session:
        register_tenant(session, "acme", "Acme")
        session.add(Brand(id="oatly", name="Oatly", tenant_id="acme"))
    reg = AdapterRegistry(sqlite_db, tmp_path / "adapters")
    reg.register("brand", "oatly", loras["v1"], owner_tenant_id="acme")
    return reg


def _versions(registry: AdapterRegistry) -> AdapterVersions:
    return AdapterVersions(registry.database, registry.root)


def test_an_adapter_registered_before_versions_is_version_one_and_served(registry: AdapterRegistry) -> None:
    versions = _versions(registry)
    (first,) = versions.history("brand", "oatly", owner_tenant_id="acme")
    assert (first.version, first.status, first.label) == (1, "promoted", "oatly@1")
    resolved = registry.resolve("acme", retailer=None, brand="oatly", task=None).components["brand"]
    assert resolved.version == 1 and resolved.label == "oatly@1" and resolved.path == first.path


def test_a_candidate_is_not_served_until_promoted_and_rollback_serves_its_parent(
    registry: AdapterRegistry, loras: dict[str, Path]
) -> None:
    versions = _versions(registry)
    candidate = versions.add_candidate(
        "brand",
        "oatly",
        loras["v2"],
        owner_tenant_id="acme",
        parent_version=1,
        feedback_after=0,
        feedback_through=12,
        rows={"dpo": 10, "sft": 2},
    )
    assert (candidate.version, candidate.status, candidate.parent_version) == (2, "candidate", 1)
    assert Path(candidate.path).name == "oatly@2" and Path(candidate.path).is_dir()
    served = registry.resolve("acme", retailer=None, brand="oatly", task=None).components["brand"]
    assert served.version == 1

    versions.promote("brand", "oatly", 2, owner_tenant_id="acme", actor="tester", reason="better")
    served = registry.resolve("acme", retailer=None, brand="oatly", task=None).components["brand"]
    assert (served.version, served.path) == (2, candidate.path)
    assert [(v.version, v.status) for v in versions.history("brand", "oatly", owner_tenant_id="acme")] == [
        (1, "retired"),
        (2, "promoted"),
    ]
    with pytest.raises(VersionError, match="already the served version"):
        versions.promote("brand", "oatly", 2, owner_tenant_id="acme")

    back = versions.rollback("brand", "oatly", owner_tenant_id="acme", actor="tester")
    assert back.version == 1
    assert registry.resolve("acme", retailer=None, brand="oatly", task=None).components["brand"].version == 1
    events = [
        (e.action, e.from_version, e.to_version, e.actor)
        for e in versions.events("brand", "oatly", owner_tenant_id="acme")
    ]
    assert events == [("promote", 1, 2, "tester"), ("rollback", 2, 1, "tester")]


def test_a_refused_candidate_keeps_its_reason_and_the_served_version_cannot_be_refused(
    registry: AdapterRegistry, loras: dict[str, Path]
) -> None:
    versions = _versions(registry)
    candidate = versions.add_candidate(
        "brand", "oatly", loras["v2"], owner_tenant_id="acme", parent_version=1
    )
    refused = versions.refuse(
        "brand", "oatly", candidate.version, owner_tenant_id="acme", actor="improve", reason="loss rose"
    )
    assert (refused.status, refused.reason) == ("refused", "loss rose")
    assert versions.current("brand", "oatly", owner_tenant_id="acme").version == 1
    with pytest.raises(VersionError, match="roll back instead"):
        versions.refuse("brand", "oatly", 1, owner_tenant_id="acme", reason="no")
    with pytest.raises(VersionError, match="no earlier served version"):
        versions.rollback("brand", "oatly", owner_tenant_id="acme")
    with pytest.raises(VersionError, match="has no version 9"):
        versions.promote("brand", "oatly", 9, owner_tenant_id="acme")
    with pytest.raises(VersionError, match="no brand adapter 'nope'"):
        versions.history("brand", "nope", owner_tenant_id="acme")


def test_registering_again_over_a_versioned_adapter_adds_a_version_and_delete_removes_every_folder(
    registry: AdapterRegistry, loras: dict[str, Path]
) -> None:
    versions = _versions(registry)
    versions.history("brand", "oatly", owner_tenant_id="acme")  # now versioned
    info = registry.register("brand", "oatly", loras["v3"], owner_tenant_id="acme", replace=True)
    assert (info.version, info.rank) == (2, 8)
    history = versions.history("brand", "oatly", owner_tenant_id="acme")
    assert [(v.version, v.status) for v in history] == [(1, "retired"), (2, "promoted")]
    assert [e.action for e in versions.events("brand", "oatly", owner_tenant_id="acme")] == ["register"]
    folders = [Path(v.path) for v in history]
    assert registry.delete("brand", "oatly", owner_tenant_id="acme")
    assert not any(folder.exists() for folder in folders)


def test_the_runtime_serves_a_promoted_version_from_the_next_request_without_a_restart(
    registry: AdapterRegistry, loras: dict[str, Path]
) -> None:
    model, tokenizer = build_tiny_model(0)
    service = InferenceService(model, tokenizer, registry, max_wait_ms=0)
    request = InferenceRequest(
        brand="oatly", messages=[{"role": "user", "content": "Write a headline"}], max_new_tokens=8
    )
    try:
        before = service.infer("acme", request)
        assert before.components == {"brand": "oatly"}  # not versioned yet
        versions = _versions(registry)
        candidate = versions.add_candidate(
            "brand", "oatly", loras["v2"], owner_tenant_id="acme", parent_version=1
        )
        versions.promote("brand", "oatly", candidate.version, owner_tenant_id="acme")
        after = service.infer("acme", request)
        assert after.components == {"brand": "oatly@2"}
        assert after.text != before.text
        versions.rollback("brand", "oatly", owner_tenant_id="acme")
        again = service.infer("acme", request)
        assert again.components == {"brand": "oatly@1"} and again.text == before.text
    finally:
        service.close()


def test_a_request_in_flight_during_a_promotion_finishes_on_the_version_it_started_on(
    registry: AdapterRegistry, loras: dict[str, Path]
) -> None:
    model, tokenizer = build_tiny_model(0)
    service = InferenceService(model, tokenizer, registry, max_wait_ms=0)
    request = InferenceRequest(
        brand="oatly", messages=[{"role": "user", "content": "Write a headline"}], max_new_tokens=8
    )
    versions = _versions(registry)
    submitted = threading.Event()
    submit = service.engine.submit

    def submit_and_signal(job: Any) -> Any:
        future = submit(job)
        submitted.set()
        return future

    service.engine.submit = submit_and_signal  # type: ignore[method-assign]
    try:
        served_before = service.infer("acme", request)
        submitted.clear()
        candidate = versions.add_candidate(
            "brand", "oatly", loras["v2"], owner_tenant_id="acme", parent_version=1
        )
        with ThreadPoolExecutor(max_workers=1) as pool:
            with service.composer.lock:  # the worker holds the request, it cannot generate yet
                in_flight = pool.submit(service.infer, "acme", request)
                assert submitted.wait(30), "the request never reached the batching engine"
                versions.promote("brand", "oatly", candidate.version, owner_tenant_id="acme")
            finished = in_flight.result(timeout=120)
        following = service.infer("acme", request)
    finally:
        service.close()
    assert finished.components == {"brand": "oatly@1"} and finished.text == served_before.text
    assert following.components == {"brand": "oatly@2"} and following.text != served_before.text
