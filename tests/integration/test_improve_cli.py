"""``rmn improve`` and ``rmn adapters versions|promote|rollback`` as a user (or cron) runs them."""

from __future__ import annotations

import json
from pathlib import Path

from rmnlora.adapters.registry import AdapterRegistry
from rmnlora.adapters.service import adapters_root
from rmnlora.adapters.tiny import build_tiny_model
from rmnlora.adapters.versions import AdapterVersions
from rmnlora.config import load_settings
from rmnlora.feedback.store import record_preference
from rmnlora.schemas.feedback import PreferencePairIn
from rmnlora.storage import Brand, open_db
from rmnlora.storage.tenants import register_tenant
from tests.integration.test_cli import run
from tests.support.adapter_helpers import make_lora
from tests.support.annotators import answers


def _setup(tmp_path: Path) -> dict[str, str]:
    env = {"RMN_DATA_DIR": str(tmp_path / "data")}
    settings = load_settings(data_dir=tmp_path / "data")
    database = open_db(settings)
    with database.get_session() as session:
        register_tenant(session, "acme", "Acme")
        session.add(Brand(id="acme-snacks", name="Acme Snacks", tenant_id="acme"))
    registry = AdapterRegistry(database, adapters_root(settings))
    build = lambda: build_tiny_model(0)[0]  # noqa: E731
    registry.register(
        "brand", "acme-snacks", make_lora(build, tmp_path / "v1", seed=1, rank=4), owner_tenant_id="acme"
    )
    versions = AdapterVersions(database, adapters_root(settings))
    candidate = versions.add_candidate(
        "brand",
        "acme-snacks",
        make_lora(build, tmp_path / "v2", seed=2, rank=4),
        owner_tenant_id="acme",
        parent_version=1,
    )
    versions.promote(
        "brand", "acme-snacks", candidate.version, owner_tenant_id="acme", actor="test", reason="seed"
    )
    for item in answers(0, 3):
        record_preference(database, "acme", PreferencePairIn(**item))
    database.dispose()
    return env


def test_improve_says_how_much_more_feedback_it_needs_and_cron_treats_that_as_normal(tmp_path: Path) -> None:
    env = _setup(tmp_path)
    one = run("improve", "--brand", "acme-snacks", "--tenant", "acme", env=env)
    assert one.returncode == 3, one.stderr
    assert "not enough feedback" in one.stderr and "acme-snacks@2" in one.stderr and "more" in one.stderr
    every = run("improve", "--all", "--quiet", "--json", env=env)
    assert every.returncode == 0, every.stderr
    (result,) = [json.loads(line) for line in every.stdout.splitlines()]
    assert result["status"] == "not_enough_feedback" and result["counts"]["new_feedback"] == 3
    unknown = run("improve", "--brand", "nope", env=env)
    assert unknown.returncode == 2 and "no brand 'nope'" in unknown.stderr
    assert run("improve", env=env).returncode == 1  # neither --brand nor --all


def test_versions_promote_and_rollback_from_the_command_line(tmp_path: Path) -> None:
    env = _setup(tmp_path)
    listed = run("adapters", "versions", "acme-snacks", "--tenant", "acme", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    payload = json.loads(listed.stdout)
    assert [(v["version"], v["status"]) for v in payload["versions"]] == [(1, "retired"), (2, "promoted")]
    back = run(
        "adapters", "rollback", "acme-snacks", "--tenant", "acme", "--reason", "copy got worse", env=env
    )
    assert back.returncode == 0 and "serving acme-snacks@1" in back.stderr
    again = run("adapters", "promote", "acme-snacks", "2", "--tenant", "acme", env=env)
    assert again.returncode == 0 and "serving acme-snacks@2" in again.stderr
    assert run("adapters", "promote", "acme-snacks", "2", "--tenant", "acme", env=env).returncode == 2
    events = json.loads(
        run("adapters", "versions", "acme-snacks", "--tenant", "acme", "--json", env=env).stdout
    )
    assert [e["action"] for e in events["events"]] == ["promote", "rollback", "promote"]
    assert events["events"][1]["reason"] == "copy got worse"
