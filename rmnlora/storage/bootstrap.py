"""Open the configured database with its encryption key: the one call the CLI and services make."""

from __future__ import annotations

from rmnlora.config import Settings
from rmnlora.storage.crypto import load_or_create_secret
from rmnlora.storage.database import Database, init_db


def secret_key_for(settings: Settings) -> str:
    if settings.secret_key:
        return settings.secret_key
    return load_or_create_secret(settings.ensure_data_dir() / "secret.key")


def open_db(settings: Settings, *, migrate: bool = True) -> Database:
    settings.ensure_data_dir()
    return init_db(
        settings.database_url,
        secret_key=secret_key_for(settings),
        migrate=migrate,
        pool_size=settings.database.pool_size,
        max_overflow=settings.database.max_overflow,
        pool_recycle_s=settings.database.pool_recycle_s,
        echo=settings.database.echo,
    )
