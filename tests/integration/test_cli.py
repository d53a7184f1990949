"""The installed `rmn` console script, run as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

RMN = str(Path(sys.executable).parent / "rmn")


def run(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [RMN, *args], capture_output=True, text=True, env={**os.environ, **(env or {})}, cwd=cwd, timeout=120
    )


def test_help_lists_the_commands() -> None:
    result = run("--help")
    assert result.returncode == 0
    for command in ("version", "db", "schemas"):
        assert command in result.stdout


def test_db_upgrade_and_health_on_a_fresh_data_dir(tmp_path: Path) -> None:
    env = {"RMN_DATA_DIR": str(tmp_path / "data")}
    assert run("db", "upgrade", env=env).returncode == 0
    health = run("db", "health", "--json", env=env)
    assert health.returncode == 0, health.stderr
    report = json.loads(health.stdout)
    assert report["ok"] and report["backend"] == "sqlite" and report["revision"]
    assert (tmp_path / "data" / "rmn.db").is_file()
    assert (tmp_path / "data" / "secret.key").stat().st_mode & 0o077 == 0


def test_health_of_an_unmigrated_database_fails(tmp_path: Path) -> None:
    result = run("db", "health", env={"RMN_DATA_DIR": str(tmp_path)})
    assert result.returncode == 1
    assert "rmn db upgrade" in result.stderr


def test_bad_config_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("runtime:\n  port: -3\n")
    result = run("--config", str(config), "db", "health")
    assert result.returncode == 2
    assert "runtime.port" in result.stderr
