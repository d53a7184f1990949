"""Encryption at rest for secrets stored in rows (retailer clean-room API keys).

A column type encrypts on write and decrypts on read, so no caller can forget to, and the
raw table only ever holds Fernet tokens.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class EncryptionNotConfiguredError(RuntimeError):
    pass


_cipher: Fernet | None = None


def fernet_from_secret(secret: str) -> Fernet:
    """A Fernet key as given, or one derived from a passphrase."""
    try:
        return Fernet(secret.encode())
    except (ValueError, TypeError):
        digest = hashlib.sha256(secret.encode()).digest()
        return Fernet(base64.urlsafe_b64encode(digest))


def configure_encryption(secret: str) -> None:
    global _cipher
    _cipher = fernet_from_secret(secret)


def load_or_create_secret(path: Path, new_value: str | None = None) -> str:
    """The embedded default: a key file in the data dir, readable by its owner only.

    ``new_value``: what to write when the file does not exist yet (default: a new Fernet key).
    """
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = new_value or Fernet.generate_key().decode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key)
    return key


def _require_cipher() -> Fernet:
    if _cipher is None:
        raise EncryptionNotConfiguredError(
            "encrypted columns need a key: call init_db(..., secret_key=...) or set RMN_SECRET_KEY"
        )
    return _cipher


class EncryptedString(TypeDecorator[str]):
    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return _require_cipher().encrypt(str(value).encode()).decode()

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        try:
            return _require_cipher().decrypt(str(value).encode()).decode()
        except InvalidToken as exc:
            raise EncryptionNotConfiguredError(
                "a stored secret cannot be decrypted with the configured key (was the key changed?)"
            ) from exc
