"""POST /inference: one generation through the caller's composed adapters.

The service applies the tenant rules; this route turns its failures into HTTP answers (403 for a
brand that is not the caller's, the same answer whether another tenant has it or nobody does, 504 on
a generation timeout, 500 otherwise) and counts each outcome.
"""

import time
from concurrent.futures import TimeoutError as FutureTimeout

from fastapi import APIRouter, HTTPException, status

from rmnlora.adapters.fair_queue import TenantQueueFull
from rmnlora.adapters.registry import AdapterAccessError, not_your_brand
from rmnlora.schemas.inference import InferenceRequest, InferenceResponse
from rmnlora.serving.deps import TENANT_ERRORS, MetricsDep, ServiceDep, SettingsDep, TenantId, error

router = APIRouter(tags=["inference"], responses=TENANT_ERRORS)


@router.post(
    "/inference",
    response_model=InferenceResponse,
    responses={
        403: error("The brand is not one of the caller's brands."),
        422: {"description": "Invalid request, or max_new_tokens over runtime.max_new_tokens_cap."},
        429: error("The tenant has runtime.max_queued_per_tenant requests waiting already."),
        500: error("Generation failed (the message says why)."),
        504: error("Generation timed out, or waited past runtime.queue_timeout_s."),
    },
)
def inference(
    request: InferenceRequest,
    tenant_id: TenantId,
    service: ServiceDep,
    metrics: MetricsDep,
    settings: SettingsDep,
) -> InferenceResponse:
    """Generate with the composed adapter; 403 for a brand that is not the caller's."""
    started = time.perf_counter()
    cap = settings.runtime.max_new_tokens_cap
    if request.max_new_tokens is not None and request.max_new_tokens > cap:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"max_new_tokens {request.max_new_tokens} is over this server's cap of {cap}",
        )
    if request.brand and not service.registry.owns_brand(tenant_id, request.brand):
        metrics.requests.labels("forbidden").inc()
        raise HTTPException(status.HTTP_403_FORBIDDEN, not_your_brand(tenant_id, request.brand))
    try:
        response = service.infer(tenant_id, request)
    except AdapterAccessError as exc:
        metrics.requests.labels("forbidden").inc()
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from exc
    except TenantQueueFull as exc:
        metrics.requests.labels("throttled").inc()
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS, str(exc), headers={"Retry-After": "1"}
        ) from exc
    except FutureTimeout as exc:
        metrics.requests.labels("timeout").inc()
        raise HTTPException(status.HTTP_504_GATEWAY_TIMEOUT, "generation timed out") from exc
    except Exception as exc:
        metrics.requests.labels("error").inc()
        raise HTTPException(
            status.HTTP_500_INTERNAL_SERVER_ERROR, f"generation failed: {type(exc).__name__}: {exc}"
        ) from exc
    metrics.requests.labels("ok").inc()
    metrics.latency.observe(time.perf_counter() - started)
    metrics.tokens.inc(response.tokens)
    return response
