"""GET /v1/models, and vLLM's admin calls POST /v1/load_lora_adapter and /v1/unload_lora_adapter.

``/v1/models`` lists what the caller's tenant may name as ``model``: the base, each adapter it may
use, and its retailer+brand+task compositions, each with its lineage (base, components, versions).
Loading registers a PEFT folder on the server under a name and composes it once, so the first
request is served from the composition cache; unloading stops serving it and removes it from the
registry (its files in the registry folder go too; the source folder is never touched).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fastapi import APIRouter, status
from starlette.concurrency import run_in_threadpool

from rmnlora.adapters.identity import AdapterError
from rmnlora.adapters.model_ids import model_cards
from rmnlora.adapters.registry import Resolution
from rmnlora.schemas.openai_api import LoadAdapterRequest, UnloadAdapterRequest
from rmnlora.serving.deps import AdminKey, ServiceDep, TenantId
from rmnlora.serving.openai_errors import OpenAIHTTPError, openai_error

router = APIRouter(prefix="/v1", tags=["openai"])
ADMIN_ERRORS: dict[int | str, dict[str, Any]] = {
    400: openai_error("Invalid request, or a folder PEFT cannot read as a LoRA adapter."),
    403: openai_error("Wrong or missing admin token (X-Admin-Token or Authorization: Bearer)."),
    404: openai_error("No adapter at lora_path (load), or none of that name (unload)."),
    409: openai_error("An adapter of that kind and name exists (set load_inplace to replace it)."),
    503: openai_error("No runtime.admin_token is configured, or the model is not ready."),
}


@router.get(
    "/models",
    responses={
        401: openai_error("No API key, or an unknown one (Authorization: Bearer)."),
        503: openai_error("The database or the model is not ready yet."),
    },
)
def list_models(tenant_id: TenantId, service: ServiceDep) -> dict[str, Any]:
    """The model ids this tenant may use, each with its lineage."""
    return {"object": "list", "data": model_cards(service.registry, tenant_id, service.model_name)}


@router.post("/load_lora_adapter", responses=ADMIN_ERRORS)
async def load_lora_adapter(
    body: LoadAdapterRequest, _admin: AdminKey, service: ServiceDep
) -> dict[str, Any]:
    """Register a LoRA folder under ``lora_name`` and compose it, ready to serve."""
    source = Path(body.lora_path)
    try:
        found = (source / "adapter_config.json").is_file()
    except OSError:  # a name too long for the file system, say: there is no adapter there either
        found = False
    if not found:
        raise OpenAIHTTPError(
            status.HTTP_404_NOT_FOUND,
            f"no PEFT adapter at {body.lora_path} (no adapter_config.json there)",
            param="lora_path",
        )
    if body.kind == "brand" and not body.owner_tenant_id:
        raise OpenAIHTTPError(
            status.HTTP_400_BAD_REQUEST, "a brand adapter needs owner_tenant_id", param="owner_tenant_id"
        )
    owner = body.owner_tenant_id if body.kind == "brand" else body.owner_tenant_id or None

    def load() -> dict[str, Any]:
        registry = service.registry
        existing = [
            info
            for info in registry.list(kind=body.kind)
            if info.name == body.lora_name and info.owner_tenant_id == owner
        ]
        if existing and not body.load_inplace:
            raise OpenAIHTTPError(
                status.HTTP_409_CONFLICT,
                f"a {body.kind} adapter {body.lora_name!r} is already loaded; set load_inplace to replace it",
                param="lora_name",
            )
        for info in existing:
            service.composer.forget(info)
        try:
            info = registry.register(body.kind, body.lora_name, source, owner_tenant_id=owner, replace=True)
        except (AdapterError, OSError, ValueError) as exc:
            raise OpenAIHTTPError(status.HTTP_400_BAD_REQUEST, str(exc), param="lora_path") from exc
        started = time.perf_counter()
        service.composer.compose(Resolution(components={info.kind: info}, missing=(), requested={}))
        return {
            "status": "loaded",
            "lora_name": info.name,
            "kind": info.kind,
            "owner_tenant_id": info.owner_tenant_id,
            "version": info.version,
            "rank": info.rank,
            "compose_ms": (time.perf_counter() - started) * 1000,
        }

    return await run_in_threadpool(load)


@router.post("/unload_lora_adapter", responses=ADMIN_ERRORS)
async def unload_lora_adapter(
    body: UnloadAdapterRequest, _admin: AdminKey, service: ServiceDep
) -> dict[str, Any]:
    """Stop serving ``lora_name`` and remove it from the registry."""

    def unload() -> dict[str, Any]:
        registry = service.registry
        found = [
            info
            for info in registry.list()
            if info.name == body.lora_name
            and (body.kind is None or info.kind == body.kind)
            and (body.owner_tenant_id is None or info.owner_tenant_id == body.owner_tenant_id)
        ]
        if not found:
            raise OpenAIHTTPError(
                status.HTTP_404_NOT_FOUND, f"no adapter named {body.lora_name!r} is loaded", param="lora_name"
            )
        if len(found) > 1:
            kinds = ", ".join(sorted(f"{i.kind} ({i.owner_tenant_id or 'shared'})" for i in found))
            raise OpenAIHTTPError(
                status.HTTP_400_BAD_REQUEST,
                f"{body.lora_name!r} names several adapters: {kinds}; give kind (and owner_tenant_id)",
                param="kind",
            )
        info = found[0]
        forgotten = service.composer.forget(info)
        registry.delete(info.kind, info.name, owner_tenant_id=info.owner_tenant_id)
        return {"status": "unloaded", "lora_name": info.name, "kind": info.kind, "compositions": forgotten}

    return await run_in_threadpool(unload)
