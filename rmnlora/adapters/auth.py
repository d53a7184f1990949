"""FastAPI dependencies for tenant API keys and the admin token (runtime and feedback API share them)."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Header, HTTPException, status

from rmnlora.storage.database import Database
from rmnlora.storage.tenants import tenant_for_api_key


def tenant_dependency(get_database: Callable[[], Database]) -> Callable[..., str]:
    """A dependency returning the caller's tenant id from ``X-API-Key`` (or ``Authorization: Bearer``)."""

    def require_tenant(
        x_api_key: Annotated[str | None, Header()] = None,
        authorization: Annotated[str | None, Header()] = None,
        database: Database = Depends(get_database),
    ) -> str:
        api_key = x_api_key
        if api_key is None and authorization and authorization.lower().startswith("bearer "):
            api_key = authorization[7:].strip()
        if not api_key:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "missing API key: send it in the X-API-Key header"
            )
        with database.get_session() as session:
            tenant = tenant_for_api_key(session, api_key)
        if tenant is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid API key")
        return tenant.id

    return require_tenant


def admin_dependency(admin_token: str | None) -> Callable[..., None]:
    """A dependency that accepts only the configured admin token (``X-Admin-Token``)."""

    def require_admin(x_admin_token: Annotated[str | None, Header()] = None) -> None:
        if not admin_token:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                "tenant registration is disabled: no runtime.admin_token configured",
            )
        if x_admin_token is None or not hmac.compare_digest(x_admin_token, admin_token):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "admin token required in X-Admin-Token")

    return require_admin
