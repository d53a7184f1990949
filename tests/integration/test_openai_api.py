"""The OpenAI-compatible runtime, driven by the official ``openai`` client and LangChain's ChatOpenAI
over a real loopback ``rmn serve`` app (tiny model, real tokenizer, composed LoRA adapters)."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from langchain_core.messages import HumanMessage
from langchain_openai import ChatOpenAI

from rmnlora.adapters.registry import AdapterRegistry
from rmnlora.adapters.service import InferenceService
from rmnlora.adapters.tiny import build_tiny_model
from rmnlora.config import load_settings
from rmnlora.serving.app import create_app
from tests.support.adapter_helpers import make_lora, serve

ADMIN = "test-admin-token-7Hq2Zx9Lp4Wm"
COMPOSED = "walmart+oatly+creative"


def _build() -> Any:
    return build_tiny_model(0)[0]


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from rmnlora.storage import init_db

    root = tmp_path_factory.mktemp("openai")
    database = init_db(f"sqlite:///{root / 'rmn.db'}", secret_key="test-secret-passphrase")
    registry = AdapterRegistry(database, root / "adapters")
    registry.register("retailer", "walmart", make_lora(_build, root / "l1", seed=1, rank=4))
    registry.register("task", "creative", make_lora(_build, root / "l2", seed=2, rank=4))
    settings = load_settings(
        data_dir=root, runtime={"admin_token": ADMIN, "max_new_tokens_cap": 64}, model={"max_new_tokens": 12}
    )
    model, tokenizer = build_tiny_model(0)
    service = InferenceService(
        model, tokenizer, registry, max_batch_size=8, max_wait_ms=20, default_max_new_tokens=12
    )
    app = create_app(settings, database=database, engine=service)
    for base_url in serve(app):
        with httpx.Client(base_url=base_url, timeout=60) as client:
            keys = {}
            for tenant in ("acme", "globex"):
                reply = client.post(
                    "/tenants/register",
                    json={"tenant_id": tenant, "name": tenant.title()},
                    headers={"X-Admin-Token": ADMIN},
                )
                assert reply.status_code == 201, reply.text
                keys[tenant] = reply.json()["api_key"]
            registry.register(
                "brand", "oatly", make_lora(_build, root / "l3", seed=3, rank=8), owner_tenant_id="acme"
            )
            yield {"url": base_url, "http": client, "keys": keys, "service": service, "root": root}
    service.close()
    database.dispose()


def _client(rt: dict[str, Any], tenant: str = "acme") -> openai.OpenAI:
    return openai.OpenAI(base_url=rt["url"] + "/v1", api_key=rt["keys"][tenant], max_retries=0)


def test_chat_with_a_composed_model_id_names_what_it_composed(runtime: dict[str, Any]) -> None:
    reply = _client(runtime).chat.completions.create(
        model=COMPOSED,
        messages=[
            {"role": "system", "content": "You write ad copy."},
            {"role": "user", "content": "Headline?"},
        ],
        temperature=0,
        max_tokens=8,
    )
    choice = reply.choices[0]
    assert reply.object == "chat.completion" and reply.model == COMPOSED
    assert choice.message.role == "assistant" and choice.message.content
    assert choice.finish_reason in ("stop", "length")
    assert (
        reply.usage is not None and 0 < reply.usage.completion_tokens <= 8 and reply.usage.prompt_tokens > 5
    )
    extra = reply.model_extra or {}
    assert extra["rmn"]["components"] == {"retailer": "walmart", "brand": "oatly", "task": "creative"}
    weighted = _client(runtime).chat.completions.create(
        model="walmart:0.5+oatly+creative", messages=[{"role": "user", "content": "Headline?"}], max_tokens=4
    )
    assert (weighted.model_extra or {})["rmn"]["weights"] == {"retailer": 0.5, "brand": 1.0, "task": 1.0}


def test_streamed_chat_is_the_same_text_as_the_whole_answer(runtime: dict[str, Any]) -> None:
    client = _client(runtime)
    messages = [{"role": "user", "content": "Write a headline for oat milk."}]
    whole = client.chat.completions.create(model=COMPOSED, messages=messages, temperature=0, max_tokens=10)
    pieces, finishes, usage = [], [], None
    for chunk in client.chat.completions.create(
        model=COMPOSED,
        messages=messages,
        temperature=0,
        max_tokens=10,
        stream=True,
        stream_options={"include_usage": True},
    ):
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
            if choice.finish_reason:
                finishes.append(choice.finish_reason)
    assert "".join(pieces) == whole.choices[0].message.content
    assert finishes == [whole.choices[0].finish_reason]
    assert usage is not None and whole.usage is not None
    assert usage.completion_tokens == whole.usage.completion_tokens


def test_completions_with_several_prompts_n_logprobs_stop_and_seed(runtime: dict[str, Any]) -> None:
    client = _client(runtime)
    reply = client.completions.create(
        model="walmart",
        prompt=["Oat milk is", "Buy now"],
        n=2,
        max_tokens=6,
        logprobs=2,
        temperature=0.8,
        seed=3,
    )
    assert len(reply.choices) == 4 and reply.object == "text_completion"
    for choice in reply.choices:
        assert choice.logprobs is not None and choice.logprobs.tokens is not None
        assert len(choice.logprobs.tokens) == len(choice.logprobs.token_logprobs or [])
        assert all(len(top) <= 2 for top in choice.logprobs.top_logprobs or [])
    again = client.completions.create(
        model="walmart",
        prompt=["Oat milk is", "Buy now"],
        n=2,
        max_tokens=6,
        logprobs=2,
        temperature=0.8,
        seed=3,
    )
    assert [c.text for c in again.choices] == [c.text for c in reply.choices]  # a seed repeats its draw
    free = client.completions.create(model="base", prompt="Oat milk is", max_tokens=12, temperature=0)
    text = free.choices[0].text
    assert len(text) > 4
    stop = text[2:4]
    cut = client.completions.create(
        model="base", prompt="Oat milk is", max_tokens=12, temperature=0, stop=[stop]
    )
    assert cut.choices[0].text == text[: text.index(stop)] and cut.choices[0].finish_reason == "stop"


def test_models_list_what_the_tenant_may_use_with_lineage(runtime: dict[str, Any]) -> None:
    acme = {m.id: m for m in _client(runtime).models.list()}
    assert {"walmart", "creative", "oatly", COMPOSED} <= set(acme)
    lineage = (acme[COMPOSED].model_extra or {})["lineage"]
    assert lineage["components"] == {"retailer": "walmart", "brand": "oatly", "task": "creative"}
    assert lineage["base"] == runtime["service"].model_name
    globex = {m.id for m in _client(runtime, "globex").models.list()}
    assert "oatly" not in globex and COMPOSED not in globex and "walmart" in globex


def test_another_tenants_model_is_not_found_in_openais_error_shape(runtime: dict[str, Any]) -> None:
    client = _client(runtime, "globex")
    for model in (COMPOSED, "oatly", "walmart+no-such-brand+creative", "nothing-like-this"):
        with pytest.raises(openai.NotFoundError) as caught:
            client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
        assert caught.value.status_code == 404
        assert caught.value.code == "model_not_found" and model in caught.value.message
    raw = runtime["http"].post(
        "/v1/chat/completions",
        json={"model": COMPOSED, "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": f"Bearer {runtime['keys']['globex']}"},
    )
    assert raw.status_code == 404 and set(raw.json()["error"]) == {"message", "type", "param", "code"}


def test_bad_requests_are_openai_errors_that_say_what_is_wrong(runtime: dict[str, Any]) -> None:
    client = _client(runtime)
    with pytest.raises(openai.BadRequestError, match="tools"):
        client.chat.completions.create(
            model=COMPOSED,
            messages=[{"role": "user", "content": "hi"}],
            tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}],
        )
    with pytest.raises(openai.BadRequestError, match="cap of 64"):
        client.chat.completions.create(
            model=COMPOSED, messages=[{"role": "user", "content": "hi"}], max_tokens=65
        )
    with pytest.raises(openai.BadRequestError, match="messages"):
        client.chat.completions.create(model=COMPOSED, messages=[])
    with pytest.raises(openai.NotFoundError, match="composed id has 3 parts"):
        client.chat.completions.create(model="a+b", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=runtime["url"] + "/v1", api_key="wrong", max_retries=0).models.list()
    assert runtime["http"].post("/inference", json={}).json()["detail"]  # other routes keep their shape


def test_chat_openai_invokes_and_streams(runtime: dict[str, Any]) -> None:
    chat = ChatOpenAI(
        base_url=runtime["url"] + "/v1",
        api_key=runtime["keys"]["acme"],
        model=COMPOSED,
        temperature=0,
        max_tokens=8,
        max_retries=0,
    )
    answer = chat.invoke([HumanMessage("Headline for oat milk?")])
    assert isinstance(answer.content, str) and answer.content
    streamed = "".join(str(chunk.content) for chunk in chat.stream([HumanMessage("Headline for oat milk?")]))
    assert streamed == answer.content
    other = ChatOpenAI(
        base_url=runtime["url"] + "/v1", api_key=runtime["keys"]["globex"], model=COMPOSED, max_retries=0
    )
    with pytest.raises(openai.NotFoundError):
        other.invoke([HumanMessage("hi")])


def test_concurrent_requests_share_forward_passes(runtime: dict[str, Any]) -> None:
    client = _client(runtime)

    def ask(i: int) -> dict[str, Any]:
        reply = client.chat.completions.create(
            model=COMPOSED if i % 2 else "walmart",
            messages=[{"role": "user", "content": f"Headline number {i}?"}],
            temperature=0,
            max_tokens=10,
        )
        return dict((reply.model_extra or {})["rmn"]["timings_ms"])

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        timings = list(pool.map(ask, range(8)))
    assert max(t["batch_size"] for t in timings) > 2  # rows of different requests decoded together


def test_admin_loads_and_unloads_an_adapter_at_run_time(runtime: dict[str, Any]) -> None:
    http, client = runtime["http"], _client(runtime)
    folder = make_lora(_build, runtime["root"] / "summary-src", seed=9, rank=4)
    body = {"lora_name": "summary", "lora_path": str(folder), "kind": "task"}
    refused = http.post("/v1/load_lora_adapter", json=body, headers={"Authorization": "Bearer wrong"})
    assert refused.status_code == 403 and refused.json()["error"]["type"] == "permission_error"
    loaded = http.post("/v1/load_lora_adapter", json=body, headers={"Authorization": f"Bearer {ADMIN}"})
    assert loaded.status_code == 200, loaded.text
    assert "summary" in {m.id for m in client.models.list()}
    reply = client.chat.completions.create(
        model="summary", messages=[{"role": "user", "content": "hi"}], max_tokens=3
    )
    assert (reply.model_extra or {})["rmn"]["cached"] is True  # loading composed it already
    again = http.post("/v1/load_lora_adapter", json=body, headers={"X-Admin-Token": ADMIN})
    assert again.status_code == 409 and "load_inplace" in again.json()["error"]["message"]
    unloaded = http.post(
        "/v1/unload_lora_adapter", json={"lora_name": "summary"}, headers={"X-Admin-Token": ADMIN}
    )
    assert unloaded.status_code == 200, unloaded.text
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="summary", messages=[{"role": "user", "content": "hi"}])
    assert folder.is_dir() and Path(folder / "adapter_config.json").is_file()  # the source stays
