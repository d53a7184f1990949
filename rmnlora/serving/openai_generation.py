"""What ``/v1/chat/completions`` and ``/v1/completions`` share: the model id → a composition the
tenant may use, jobs for the ``n`` choices, waiting for them, and streaming them as server-sent
events in OpenAI's chunk format.

Why one module: the two endpoints differ only in how the prompt is built and how a choice and
its logprobs are written; access rules, limits, errors and the streaming protocol must not.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import Future
from typing import Any

from fastapi import status
from starlette.concurrency import run_in_threadpool

from rmnlora.adapters.batching import GeneratedText, GenerationJob, TokenLogprob
from rmnlora.adapters.compose import Composition
from rmnlora.adapters.fair_queue import TenantQueueFull
from rmnlora.adapters.model_ids import ModelIdError, parse_model_id
from rmnlora.adapters.registry import AdapterAccessError, Resolution
from rmnlora.adapters.service import InferenceService, Outcome
from rmnlora.config import Settings
from rmnlora.schemas.openai_api import ChatCompletionRequest, CompletionRequest
from rmnlora.serving.metrics import Metrics
from rmnlora.serving.openai_errors import OpenAIHTTPError, error_body

Sampling = ChatCompletionRequest | CompletionRequest
ChunkWriter = Callable[[int, str, TokenLogprob | None, str | None], dict[str, Any]]
"""(choice index, text piece, its logprob entry, finish reason or None) → one chunk's ``choices[0]``."""


def not_found(model: str) -> OpenAIHTTPError:
    return OpenAIHTTPError(
        status.HTTP_404_NOT_FOUND,
        f"The model `{model}` does not exist or you do not have access to it.",
        param="model",
        code="model_not_found",
    )


def resolve_model(service: InferenceService, tenant_id: str, model: str) -> Resolution:
    """The composition ``model`` names for this tenant; 404 for anything it may not use, as for
    what does not exist (another tenant's brand cannot be told from no brand)."""
    registry = service.registry
    visible = registry.list(tenant_id=tenant_id)
    try:
        spec = parse_model_id(model, base_names=(service.model_name,), visible=visible)
    except ModelIdError as exc:  # an id that cannot name a model names none: 404, saying why
        if exc.missing:
            raise not_found(model) from exc
        raise OpenAIHTTPError(
            status.HTTP_404_NOT_FOUND, str(exc), param="model", code="model_not_found"
        ) from exc
    brand = spec.names.get("brand")
    if brand is not None and not registry.owns_brand(tenant_id, brand):
        raise not_found(model)
    try:
        resolution = registry.resolve(
            tenant_id, retailer=spec.names.get("retailer"), brand=brand, task=spec.names.get("task")
        )
    except AdapterAccessError as exc:
        raise not_found(model) from exc
    absent = [kind for kind in resolution.missing if kind != "brand"]  # an own brand may be untrained
    if absent:
        raise not_found(model)
    return dataclasses.replace(resolution, weights=dict(spec.weights))


def check_request(body: Sampling, settings: Settings, prompt_tokens: int, context: int) -> int:
    """The token limit this request gets; 400 for what it asks that cannot be honoured."""
    unsupported = body.unsupported()
    if unsupported:
        raise OpenAIHTTPError(
            status.HTTP_400_BAD_REQUEST,
            f"not supported by this server: {', '.join(unsupported)}",
            param=unsupported[0].split(" ")[0],
        )
    cap = settings.runtime.max_new_tokens_cap
    asked = body.token_limit()
    if asked is not None and asked > cap:
        raise OpenAIHTTPError(
            status.HTTP_400_BAD_REQUEST,
            f"max_tokens {asked} is over this server's cap of {cap}",
            param="max_tokens",
        )
    limit = asked or settings.model.max_new_tokens
    if prompt_tokens + limit > context:
        raise OpenAIHTTPError(
            status.HTTP_400_BAD_REQUEST,
            f"This model's maximum context length is {context} tokens; the prompt has {prompt_tokens} and "
            f"{limit} more were asked for",
            param="messages" if isinstance(body, ChatCompletionRequest) else "prompt",
            code="context_length_exceeded",
        )
    return limit


def context_length(service: InferenceService) -> int:
    config = service.composer.model.config
    return int(getattr(config, "max_position_embeddings", 2048) or 2048)


def count_tokens(service: InferenceService, prompt: str) -> int:
    return len(service.tokenizer(prompt, add_special_tokens=False)["input_ids"])


def make_jobs(
    body: Sampling,
    tenant_id: str,
    resolution: Resolution,
    prompt: str,
    limit: int,
    logprobs: int | None,
) -> list[GenerationJob]:
    """One job per choice; with a seed, choice i draws with seed + i (so the n choices differ)."""
    temperature = 1.0 if body.temperature is None else body.temperature
    return [
        GenerationJob(
            prompt=prompt,
            resolution=resolution,
            max_new_tokens=limit,
            temperature=temperature,
            top_p=1.0 if body.top_p is None else body.top_p,
            tenant_id=tenant_id,
            stop=body.stops(),
            seed=None if body.seed is None else body.seed + i,
            logprobs=logprobs,
        )
        for i in range(body.n)
    ]


def submit_all(service: InferenceService, jobs: Sequence[GenerationJob]) -> list[Future[Outcome]]:
    """Queue every choice; 429 (nothing left queued) when the tenant's line is full."""
    futures: list[Future[Outcome]] = []
    try:
        for job in jobs:
            futures.append(service.submit(job))
    except TenantQueueFull as exc:
        for job in jobs:
            job.cancelled = True
        raise OpenAIHTTPError(
            status.HTTP_429_TOO_MANY_REQUESTS,
            str(exc),
            code="rate_limit_exceeded",
            headers={"Retry-After": "1"},
        ) from exc
    except ValueError as exc:  # an option the configured engine lacks
        raise OpenAIHTTPError(status.HTTP_400_BAD_REQUEST, str(exc)) from exc
    return futures


POLL_S = 0.25
"""How often a waiting non-streamed request asks whether its client is still there."""

Disconnected = Callable[[], Awaitable[bool]]


async def complete(
    service: InferenceService,
    jobs: Sequence[GenerationJob],
    *,
    timeout_s: float,
    metrics: Metrics,
    disconnected: Disconnected,
) -> list[Outcome]:
    """Queue the jobs and wait for every choice.

    Whatever ends the wait before the rows finish (the deadline, a client that went away, a
    failed choice, the server shutting down) cancels every row still decoding: an answer nobody
    will read must not keep its rows in the batch, taking steps from other tenants.
    """
    futures = submit_all(service, jobs)
    try:
        return await _wait(futures, timeout_s, metrics, disconnected)
    finally:
        for job in jobs:
            job.cancelled = True  # a no-op for rows that finished


async def _wait(
    futures: Sequence[Future[Outcome]], timeout_s: float, metrics: Metrics, disconnected: Disconnected
) -> list[Outcome]:
    """504 past ``timeout_s``; 499 when the client closed the connection; 500 naming a failure."""
    waiting = asyncio.gather(*map(asyncio.wrap_future, futures))
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                metrics.requests.labels("timeout").inc()
                raise OpenAIHTTPError(
                    status.HTTP_504_GATEWAY_TIMEOUT, f"generation timed out after {timeout_s:g} s"
                )
            done, _ = await asyncio.wait({waiting}, timeout=min(left, POLL_S))
            if done:
                return list(waiting.result())
            if await disconnected():
                metrics.requests.labels("disconnected").inc()
                raise OpenAIHTTPError(CLIENT_CLOSED, "the client closed the connection")
    except OpenAIHTTPError:
        raise
    except Exception as exc:
        metrics.requests.labels("error").inc()
        raise OpenAIHTTPError(
            status.HTTP_500_INTERNAL_SERVER_ERROR, f"generation failed: {type(exc).__name__}: {exc}"
        ) from exc
    finally:
        waiting.cancel()  # a no-op once it is done


CLIENT_CLOSED = 499
"""nginx's status for a request whose client left; it is logged, never read by anyone."""


def reply(
    header: dict[str, Any],
    kind: str,
    outcomes: Sequence[Outcome],
    choice: Callable[[int, GeneratedText], dict[str, Any]],
    *,
    prompt_tokens: int,
    started: float,
    metrics: Metrics,
) -> dict[str, Any]:
    """A non-streamed answer: OpenAI's envelope around the endpoint's choices, counted."""
    outputs = [output for output, _, _ in outcomes]
    metrics.requests.labels("ok").inc()
    metrics.latency.observe(time.perf_counter() - started)
    metrics.tokens.inc(sum(len(o.token_ids) for o in outputs))
    composition, timings = outcomes[0][1], outcomes[0][2]
    return {
        **header,
        "object": kind,
        "system_fingerprint": composition.adapter_name,
        "choices": [choice(index, output) for index, output in enumerate(outputs)],
        "usage": usage(prompt_tokens, outputs),
        "rmn": composition_note(composition, timings),
    }


def finish_reason(output: GeneratedText) -> str:
    return "stop" if output.finish_reason == "stop" else "length"


def usage(prompt_tokens: int, outputs: Sequence[GeneratedText]) -> dict[str, int]:
    completion = sum(len(output.token_ids) for output in outputs)
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": prompt_tokens + completion,
    }


def composition_note(composition: Composition, timings: dict[str, float]) -> dict[str, Any]:
    """What was composed and how long each stage took, beside OpenAI's fields (clients ignore
    keys they do not know); ``timings_ms.batch_size`` is the mean rows per forward it shared."""
    return {
        "timings_ms": timings,
        "adapter": composition.adapter_name,
        "components": dict(composition.components),
        "weights": dict(composition.weights),
        "missing": list(composition.missing),
        "note": composition.describe(),
        "cached": composition.cached,
    }


def completion_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def _sse(payload: dict[str, Any] | str) -> str:
    return f"data: {payload if isinstance(payload, str) else json.dumps(payload)}\n\n"


def stream(
    service: InferenceService,
    jobs: list[GenerationJob],
    *,
    header: dict[str, Any],
    write: ChunkWriter,
    opening: Callable[[int], dict[str, Any]] | None,
    prompt_tokens: int,
    include_usage: bool,
    timeout_s: float,
    metrics: Metrics,
) -> AsyncIterator[str]:
    """Queue the jobs (429 now, before any byte is sent) and return their server-sent events.

    Each job's text arrives from the engine's thread through the event loop; a client that goes
    away cancels its rows, which then leave the batch at the next step.
    """
    loop = asyncio.get_running_loop()
    events: asyncio.Queue[tuple[int, str, TokenLogprob | None, Future[Outcome] | None]] = asyncio.Queue()

    def listener(index: int) -> Callable[[str, TokenLogprob | None], None]:
        def on_text(text: str, entry: TokenLogprob | None) -> None:
            loop.call_soon_threadsafe(events.put_nowait, (index, text, entry, None))

        return on_text

    def finished(index: int) -> Callable[[Future[Outcome]], None]:
        def on_done(done: Future[Outcome]) -> None:
            loop.call_soon_threadsafe(events.put_nowait, (index, "", None, done))

        return on_done

    for index, job in enumerate(jobs):
        job.on_text = listener(index)
    futures = submit_all(service, jobs)
    for index, future in enumerate(futures):
        future.add_done_callback(finished(index))

    async def chunks() -> AsyncIterator[str]:
        outputs: list[GeneratedText] = []
        deadline = time.monotonic() + timeout_s
        try:
            if opening is not None:
                for index in range(len(jobs)):
                    yield _sse({**header, "choices": [opening(index)]})
            remaining = len(jobs)
            while remaining:
                try:
                    index, text, entry, done = await asyncio.wait_for(
                        events.get(), deadline - time.monotonic()
                    )
                except TimeoutError:
                    metrics.requests.labels("timeout").inc()
                    yield _sse(error_body(504, "generation timed out"))
                    return
                if done is None:
                    yield _sse({**header, "choices": [write(index, text, entry, None)]})
                    continue
                remaining -= 1
                failure = done.exception()
                if failure is not None:
                    metrics.requests.labels("error").inc()
                    yield _sse(error_body(500, f"generation failed: {type(failure).__name__}: {failure}"))
                    return
                output = done.result()[0]
                outputs.append(output)
                yield _sse({**header, "choices": [write(index, "", None, finish_reason(output))]})
            metrics.requests.labels("ok").inc()
            metrics.tokens.inc(sum(len(o.token_ids) for o in outputs))
            if include_usage:
                yield _sse({**header, "choices": [], "usage": usage(prompt_tokens, outputs)})
            yield _sse("[DONE]")
        finally:
            for job in jobs:
                job.cancelled = True  # a no-op for finished rows; a closed stream frees its rows

    return chunks()


async def resolve_model_async(service: InferenceService, tenant_id: str, model: str) -> Resolution:
    """:func:`resolve_model` off the event loop (it reads the database)."""
    return await run_in_threadpool(resolve_model, service, tenant_id, model)
