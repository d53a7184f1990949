"""POST /tenants/register: create a tenant and hand out its API key, once.

Admin only (``X-Admin-Token``), because a tenant key opens that tenant's adapters and feedback;
only the key's hash is stored, so the answer here is the one chance to read it.
"""

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import BaseModel, Field

from rmnlora.schemas.ids import RESOURCE_ID_PATTERN, RESOURCE_ID_RULE
from rmnlora.serving.deps import ADMIN_ERRORS, DatabaseDep, error, require_admin
from rmnlora.storage.tenants import InvalidTenantIdError, TenantExistsError, register_tenant

router = APIRouter(tags=["tenants"], responses={**ADMIN_ERRORS, 409: error("The tenant id is taken.")})


class TenantRegistration(BaseModel):
    tenant_id: str = Field(
        pattern=RESOURCE_ID_PATTERN, description=f"Lowercase id, e.g. 'acme': {RESOURCE_ID_RULE}."
    )
    name: str = Field(min_length=1, max_length=255)


class TenantCredentials(BaseModel):
    tenant_id: str
    api_key: str = Field(description="Shown once; only its hash is stored.")


@router.post(
    "/tenants/register",
    response_model=TenantCredentials,
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(require_admin)],
)
def tenants_register(body: TenantRegistration, db: DatabaseDep, request: Request) -> Any:
    """Create a tenant (admin token required); its API key is returned once. A shipped brand
    adapter made for this tenant is registered to it at once, not at the runtime's next start."""
    try:
        with db.get_session() as session:
            api_key = register_tenant(session, body.tenant_id, body.name)
    except TenantExistsError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    except InvalidTenantIdError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    service = getattr(request.app.state, "service", None)  # not loaded yet: it registers them at load
    if service is not None:
        service.register_shipped()
    return TenantCredentials(tenant_id=body.tenant_id, api_key=api_key)
