"""Tenant registration and API-key checks, shared by the runtime and the feedback API.

Keys are 32 random bytes, so a plain SHA-256 is a sound, fast verifier (no salt or slow hash
is needed for high-entropy secrets); only the hash is stored, the key is shown once.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlmodel import Session, select

from rmnlora.schemas.ids import RESOURCE_ID, RESOURCE_ID_RULE
from rmnlora.storage.models import Tenant

KEY_PREFIX = "rmn_"


class TenantExistsError(ValueError):
    pass


class InvalidTenantIdError(ValueError):
    pass


def hash_api_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def register_tenant(session: Session, tenant_id: str, name: str) -> str:
    """Create a tenant and return its API key; the key cannot be recovered later."""
    if not RESOURCE_ID.match(tenant_id):
        raise InvalidTenantIdError(f"tenant id {tenant_id!r} must be {RESOURCE_ID_RULE}")
    if session.get(Tenant, tenant_id) is not None:
        raise TenantExistsError(f"tenant {tenant_id!r} already exists")
    api_key = KEY_PREFIX + secrets.token_urlsafe(32)
    session.add(Tenant(id=tenant_id, name=name, api_key_hash=hash_api_key(api_key)))
    session.flush()
    return api_key


def tenant_for_api_key(session: Session, api_key: str) -> Tenant | None:
    if not api_key or not api_key.startswith(KEY_PREFIX):
        return None
    return session.exec(select(Tenant).where(Tenant.api_key_hash == hash_api_key(api_key))).first()
