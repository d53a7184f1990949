"""POST /v1/chat/completions and POST /v1/completions: OpenAI's protocol over the composed adapters.

``model`` names the composition (``walmart+acme-snacks+creative``, one adapter, or ``base``; see
``adapters/model_ids.py``); the tenant key comes as ``Authorization: Bearer``. Both endpoints
stream with ``stream: true`` and honour ``n``, ``temperature``, ``top_p``, ``max_tokens``,
``stop``, ``seed`` and ``logprobs``; what they cannot honour is a 400 that names it.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from rmnlora.adapters.batching import GeneratedText, TokenLogprob, render_chat
from rmnlora.schemas.openai_api import ChatCompletionRequest, CompletionRequest
from rmnlora.serving import openai_generation as gen
from rmnlora.serving.deps import MetricsDep, ServiceDep, SettingsDep, TenantId
from rmnlora.serving.openai_errors import openai_error

ERRORS: dict[int | str, dict[str, Any]] = {
    400: openai_error("Invalid request, an unsupported parameter, or over a limit (the message names it)."),
    401: openai_error("No API key, or an unknown one (Authorization: Bearer)."),
    404: openai_error("The model does not exist or the caller may not use it."),
    429: openai_error("The tenant has runtime.max_queued_per_tenant requests waiting already."),
    500: openai_error("Generation failed (the message says why)."),
    503: openai_error("The database or the model is not ready yet."),
    504: openai_error(
        "Generation ran past runtime.request_timeout_s, or waited past runtime.queue_timeout_s."
    ),
}
STREAM = {
    "description": "With stream: true, server-sent events of chunks, then data: [DONE].",
    "content": {"text/event-stream": {}},
}

router = APIRouter(prefix="/v1", tags=["openai"], responses=ERRORS)


def _chat_logprobs(entry: TokenLogprob) -> dict[str, Any]:
    return {
        "token": entry.token,
        "logprob": entry.logprob,
        "bytes": list(entry.token.encode()),
        "top_logprobs": [
            {"token": token, "logprob": value, "bytes": list(token.encode())} for token, value in entry.top
        ],
    }


def _completion_logprobs(entries: list[TokenLogprob]) -> dict[str, Any]:
    offsets, at = [], 0
    for entry in entries:
        offsets.append(at)
        at += len(entry.token)
    return {
        "tokens": [e.token for e in entries],
        "token_logprobs": [e.logprob for e in entries],
        "top_logprobs": [dict(e.top) for e in entries],
        "text_offset": offsets,
    }


@router.post("/chat/completions", responses={200: STREAM})
async def chat_completions(
    body: ChatCompletionRequest,
    request: Request,
    tenant_id: TenantId,
    service: ServiceDep,
    settings: SettingsDep,
    metrics: MetricsDep,
) -> Any:
    """Chat with the composed model (OpenAI's chat completions protocol)."""
    started = time.perf_counter()
    resolution = await gen.resolve_model_async(service, tenant_id, body.model)
    prompt = render_chat(service.tokenizer, [turn.as_dict() for turn in body.messages])
    prompt_tokens = gen.count_tokens(service, prompt)
    limit = gen.check_request(body, settings, prompt_tokens, gen.context_length(service))
    wanted = (body.top_logprobs or 0) if body.logprobs else None
    jobs = gen.make_jobs(body, tenant_id, resolution, prompt, limit, wanted)
    header = {"id": gen.completion_id("chatcmpl"), "created": int(time.time()), "model": body.model}
    timeout = settings.runtime.request_timeout_s
    if body.stream:

        def write(index: int, text: str, entry: TokenLogprob | None, finish: str | None) -> dict[str, Any]:
            delta = {} if finish else {"content": text}
            logprobs = {"content": [_chat_logprobs(entry)]} if entry is not None else None
            return {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish}

        events = gen.stream(
            service,
            jobs,
            header={**header, "object": "chat.completion.chunk"},
            write=write,
            opening=lambda index: {
                "index": index,
                "delta": {"role": "assistant", "content": ""},
                "logprobs": None,
                "finish_reason": None,
            },
            prompt_tokens=prompt_tokens,
            include_usage=bool(body.stream_options and body.stream_options.include_usage),
            timeout_s=timeout,
            metrics=metrics,
        )
        return StreamingResponse(events, media_type="text/event-stream")
    outcomes = await gen.complete(
        service, jobs, timeout_s=timeout, metrics=metrics, disconnected=request.is_disconnected
    )

    def choice(index: int, output: GeneratedText) -> dict[str, Any]:
        return {
            "index": index,
            "message": {"role": "assistant", "content": output.text},
            "logprobs": {"content": [_chat_logprobs(e) for e in output.logprobs or []]}
            if wanted is not None
            else None,
            "finish_reason": gen.finish_reason(output),
        }

    return gen.reply(
        header,
        "chat.completion",
        outcomes,
        choice,
        prompt_tokens=prompt_tokens,
        started=started,
        metrics=metrics,
    )


@router.post("/completions", responses={200: STREAM})
async def completions(
    body: CompletionRequest,
    request: Request,
    tenant_id: TenantId,
    service: ServiceDep,
    settings: SettingsDep,
    metrics: MetricsDep,
) -> Any:
    """Continue plain text with the composed model (OpenAI's legacy completions protocol)."""
    started = time.perf_counter()
    resolution = await gen.resolve_model_async(service, tenant_id, body.model)
    prompts = body.prompts()
    counts = [gen.count_tokens(service, prompt) for prompt in prompts]
    limit = gen.check_request(body, settings, max(counts), gen.context_length(service))
    jobs = [
        job
        for prompt in prompts
        for job in gen.make_jobs(body, tenant_id, resolution, prompt, limit, body.logprobs)
    ]
    header = {"id": gen.completion_id("cmpl"), "created": int(time.time()), "model": body.model}
    timeout = settings.runtime.request_timeout_s
    if body.stream:

        def write(index: int, text: str, entry: TokenLogprob | None, finish: str | None) -> dict[str, Any]:
            logprobs = _completion_logprobs([entry]) if entry is not None else None
            return {"index": index, "text": text, "logprobs": logprobs, "finish_reason": finish}

        events = gen.stream(
            service,
            jobs,
            header={**header, "object": "text_completion"},
            write=write,
            opening=None,
            prompt_tokens=sum(counts),
            include_usage=bool(body.stream_options and body.stream_options.include_usage),
            timeout_s=timeout,
            metrics=metrics,
        )
        return StreamingResponse(events, media_type="text/event-stream")
    outcomes = await gen.complete(
        service, jobs, timeout_s=timeout, metrics=metrics, disconnected=request.is_disconnected
    )

    def choice(index: int, output: GeneratedText) -> dict[str, Any]:
        return {
            "index": index,
            "text": output.text,
            "logprobs": _completion_logprobs(output.logprobs or []) if body.logprobs is not None else None,
            "finish_reason": gen.finish_reason(output),
        }

    return gen.reply(
        header,
        "text_completion",
        outcomes,
        choice,
        prompt_tokens=sum(counts),
        started=started,
        metrics=metrics,
    )
