"""GET /adapters: the adapters a tenant may compose, so a client can see what a request will use.

Only the shared (retailer, task) adapters and the tenant's own brand adapters are listed; the
registry applies that rule, this route only shapes the answer.
"""

from pathlib import PurePath
from typing import Any

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field

from rmnlora.adapters.compose import AdapterKind
from rmnlora.adapters.registry import AdapterError
from rmnlora.serving.deps import TENANT_ERRORS, ServiceDep, TenantId

router = APIRouter(tags=["adapters"], responses=TENANT_ERRORS)


class AdapterView(BaseModel):
    kind: str
    name: str
    shared: bool
    owner_tenant_id: str | None
    base_model: str = Field(description="The base model's name (never a path on the server).")
    rank: int
    metrics: dict[str, Any]


@router.get("/adapters", response_model=list[AdapterView])
def adapters(tenant_id: TenantId, service: ServiceDep, kind: AdapterKind | None = None) -> list[AdapterView]:
    """Adapters this tenant may use: the shared ones and its own."""
    try:
        found = service.registry.list(tenant_id=tenant_id, kind=kind)
    except AdapterError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    return [
        AdapterView(
            kind=a.kind,
            name=a.name,
            shared=a.shared,
            owner_tenant_id=a.owner_tenant_id,
            base_model=PurePath(a.base_model).name if "/" in a.base_model else a.base_model,
            rank=a.rank,
            metrics=a.metrics,
        )
        for a in found
    ]
