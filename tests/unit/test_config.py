"""Settings: YAML + ${VAR} interpolation + RMN_* overrides, with errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from rmnlora.config import BUNDLED_BASE_MODEL, ConfigError, interpolate, load_settings
from tests.support.paths import REPO_ROOT


def test_embedded_defaults_need_no_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RMN_CONFIG", raising=False)
    settings = load_settings()
    assert settings.data_dir == Path(".rmn")
    assert settings.database_url == "sqlite:///.rmn/rmn.db"
    assert settings.chroma_path == Path(".rmn/chroma")
    assert settings.model.base_model == BUNDLED_BASE_MODEL


def test_yaml_interpolation_and_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "data_dir: ${RMN_TEST_DIR:-/tmp/fallback}\n"
        "database:\n  url: postgresql+psycopg://${PGUSER_T}@127.0.0.1/rmn\n"
        "runtime:\n  port: 8100\n"
    )
    monkeypatch.setenv("PGUSER_T", "alice")
    monkeypatch.setenv("RMN_RUNTIME__PORT", "9001")
    settings = load_settings(config)
    assert settings.data_dir == Path("/tmp/fallback")
    assert settings.database_url == "postgresql+psycopg://alice@127.0.0.1/rmn"
    assert settings.runtime.port == 9001  # environment beats the file


def test_rmn_config_env_selects_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("memory:\n  recall_k: 7\n")
    monkeypatch.setenv("RMN_CONFIG", str(config))
    assert load_settings().memory.recall_k == 7


def test_missing_variable_names_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    config = tmp_path / "c.yaml"
    config.write_text("clean_room:\n  api_key: ${NOT_SET_ANYWHERE}\n")
    with pytest.raises(ConfigError, match=r"'clean_room.api_key'.*NOT_SET_ANYWHERE"):
        load_settings(config)


def test_invalid_value_names_the_key(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("runtime:\n  port: 99999\n")
    with pytest.raises(ConfigError, match=r"'runtime.port'"):
        load_settings(config)


def test_unknown_key_is_an_error(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("databse:\n  url: sqlite://\n")
    with pytest.raises(ConfigError, match="databse"):
        load_settings(config)


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "absent.yaml")


def test_interpolation_reaches_lists_and_keeps_non_strings() -> None:
    tree = {"a": ["${X}", 3, {"b": "pre-${Y:-dflt}-post"}], "c": True}
    assert interpolate(tree, {"X": "x"}) == {"a": ["x", 3, {"b": "pre-dflt-post"}], "c": True}


def test_shipped_example_config_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    example = REPO_ROOT / "config" / "config.example.yaml"
    monkeypatch.delenv("RMN_DATA_DIR", raising=False)
    settings = load_settings(example)
    assert settings.reflection.thresholds["harmonize"] == 0.7
    assert settings.runtime.admin_token is None  # `rmn serve` generates one


@pytest.mark.parametrize("token", ["change-me", "short-token", "a" * 40])
def test_a_weak_admin_token_is_refused_at_start_up(token: str) -> None:
    with pytest.raises(ConfigError, match="runtime.admin_token is too weak"):
        load_settings(runtime={"admin_token": token})
    strong = "Zq3-8vRk_w1LmN4pXy7TbC2d"
    assert load_settings(runtime={"admin_token": strong}).runtime.admin_token == strong


def test_serve_generates_an_admin_token_once_and_reads_it_back(tmp_path: Path) -> None:
    import stat

    from rmnlora.cli.adapters import ADMIN_TOKEN_FILE, with_admin_token

    first = with_admin_token(load_settings(data_dir=tmp_path, runtime={"admin_token": None}))
    token = first.runtime.admin_token
    assert token and len(token) >= 32
    token_file = tmp_path / ADMIN_TOKEN_FILE
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    again = with_admin_token(load_settings(data_dir=tmp_path, runtime={"admin_token": None}))
    assert again.runtime.admin_token == token
