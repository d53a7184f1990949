"""Feedback REST API over a real loopback socket: writes, idempotent retries, tenant isolation, export."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import select

from rmnlora.serving.app import create_feedback_app
from rmnlora.storage import Database, Feedback
from tests.support.feedback_support import add_tenant, serve


@pytest.fixture
def api(sqlite_db: Database) -> Iterator[dict[str, Any]]:
    keys = {
        "acme": add_tenant(sqlite_db, "acme", ("acme-cola", "acme-chips")),
        "globex": add_tenant(sqlite_db, "globex", ("globex-soap",)),
    }
    with serve(create_feedback_app(None, sqlite_db)) as url:
        yield {"url": url, "keys": keys, "db": sqlite_db}


def _client(api: dict[str, Any], tenant: str) -> httpx.Client:
    return httpx.Client(base_url=api["url"], headers={"X-API-Key": api["keys"][tenant]}, timeout=10)


def _rows(database: Database) -> int:
    with database.get_session() as session:
        return int(session.exec(select(func.count()).select_from(Feedback)).one())


PAIR = {
    "brand_id": "acme-cola",
    "task": "creative",
    "prompt": "Write a headline for Acme Cola at Walmart.",
    "chosen": "Ice-cold Acme Cola, now at Walmart.",
    "rejected": "Cola is a drink.",
    "chosen_adapter": "brand-acme-v2",
    "rejected_adapter": "brand-acme-v1",
}


def test_feedback_and_pairs_are_stored_and_exported_in_dpo_format(db: Database) -> None:
    """On every backend: a rating, a correction and a pair go in; the export has the two DPO rows."""
    key = add_tenant(db, "acme", ("acme-cola",))
    with (
        serve(create_feedback_app(None, db)) as url,
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=10) as client,
    ):
        rating = client.post(
            "/feedback/",
            json={"brand_id": "acme-cola", "task": "creative", "prompt": "p1", "response": "r1", "rating": 4},
        )
        assert rating.status_code == 201, rating.text
        assert rating.json()["feedback_type"] == "rating"
        correction = client.post(
            "/feedback/",
            json={
                "brand_id": "acme-cola",
                "task": "plan_explanation",
                "prompt": "Explain the split.",
                "response": "Because.",
                "correction": "Walmart gets 60% because its marginal ROAS is highest.",
                "thumbs_up": False,
            },
        )
        assert correction.status_code == 201 and correction.json()["feedback_type"] == "correction"
        assert client.post("/feedback/preference-pair", json=PAIR).status_code == 201

        lines = client.get("/feedback/export-dpo").text.splitlines()
        rows = [json.loads(line) for line in lines]
        assert rows == [
            {
                "prompt": "Explain the split.",
                "chosen": "Walmart gets 60% because its marginal ROAS is highest.",
                "rejected": "Because.",
            },
            {"prompt": PAIR["prompt"], "chosen": PAIR["chosen"], "rejected": PAIR["rejected"]},
        ]
        only_pairs = client.get("/feedback/export-dpo", params={"include_corrections": "false"}).text
        assert len(only_pairs.splitlines()) == 1
        stats = client.get("/feedback/stats").json()
        assert stats["total"] == 3 and stats["dpo_pairs"] == 2
        assert {r["key"]: r["count"] for r in stats["by_type"]} == {
            "correction": 1,
            "preference": 1,
            "rating": 1,
        }
        creative = next(r for r in stats["ratings"] if r["task"] == "creative")
        assert creative["ratings"] == 1 and creative["mean_rating"] == 4.0
        assert {w["adapter"]: w["win_rate"] for w in stats["win_rates"]} == {
            "brand-acme-v1": 0.0,
            "brand-acme-v2": 1.0,
        }
        assert stats["by_day"][0]["count"] == 3


def test_retried_post_with_same_idempotency_key_stores_one_row(api: dict[str, Any]) -> None:
    with _client(api, "acme") as client:
        first = client.post("/feedback/preference-pair", json=PAIR, headers={"Idempotency-Key": "k-1"})
        again = client.post("/feedback/preference-pair", json=PAIR, headers={"Idempotency-Key": "k-1"})
        assert first.status_code == 201 and again.status_code == 200
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.json()["id"] == first.json()["id"]
        changed = client.post(
            "/feedback/preference-pair", json={**PAIR, "chosen": "Other"}, headers={"Idempotency-Key": "k-1"}
        )
        assert changed.status_code == 409 and "different request" in changed.json()["detail"]
    assert _rows(api["db"]) == 1


def test_concurrent_retries_race_to_one_row(api: dict[str, Any]) -> None:
    body = {"brand_id": "acme-cola", "task": "creative", "prompt": "p", "thumbs_up": True}
    statuses: list[int] = []

    def post() -> None:
        with _client(api, "acme") as client:
            statuses.append(
                client.post("/feedback/", json=body, headers={"Idempotency-Key": "race"}).status_code
            )

    threads = [threading.Thread(target=post) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] * 7 + [201]
    assert _rows(api["db"]) == 1


def test_same_key_from_two_tenants_stores_two_rows(api: dict[str, Any]) -> None:
    with _client(api, "acme") as acme, _client(api, "globex") as globex:
        a = acme.post("/feedback/", json={**_thumbs("acme-cola")}, headers={"Idempotency-Key": "shared"})
        g = globex.post("/feedback/", json={**_thumbs("globex-soap")}, headers={"Idempotency-Key": "shared"})
    assert a.status_code == g.status_code == 201
    assert _rows(api["db"]) == 2


def _thumbs(brand: str) -> dict[str, Any]:
    return {"brand_id": brand, "task": "creative", "prompt": "p", "response": "r", "thumbs_up": True}


def test_cross_tenant_reads_and_writes_are_refused(api: dict[str, Any]) -> None:
    with _client(api, "acme") as acme, _client(api, "globex") as globex:
        assert acme.post("/feedback/preference-pair", json=PAIR).status_code == 201
        # globex writing feedback on acme's brand: the brand does not exist for globex
        refused = globex.post("/feedback/preference-pair", json=PAIR)
        assert refused.status_code == 404 and "acme-cola" in refused.json()["detail"]
        # globex reads: nothing of acme's, even when asking for acme's brand by name
        assert globex.get("/feedback/export-dpo").text == ""
        assert globex.get("/feedback/export-dpo", params={"brand": "acme-cola"}).text == ""
        assert globex.get("/feedback/stats").json()["total"] == 0
        assert acme.get("/feedback/stats").json()["total"] == 1
    assert _rows(api["db"]) == 1


def test_missing_or_wrong_api_key_is_401(api: dict[str, Any]) -> None:
    with httpx.Client(base_url=api["url"]) as client:
        assert client.post("/feedback/", json=_thumbs("acme-cola")).status_code == 401
        assert client.get("/feedback/stats", headers={"X-API-Key": "rmn_nope"}).status_code == 401


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"brand_id": "acme-cola", "task": "creative", "prompt": "p"}, "at least one of"),
        (
            {"brand_id": "acme-cola", "task": "creative", "prompt": "p", "rating": 6},
            "less than or equal to 5",
        ),
        ({"brand_id": "acme-cola", "task": "creative", "prompt": "", "rating": 3}, "at least 1 character"),
        ({"brand_id": "acme cola!", "task": "creative", "prompt": "p", "rating": 3}, "pattern"),
        (
            {"brand_id": "acme-cola", "task": "creative", "prompt": "p", "rating": 3, "extra": 1},
            "Extra inputs",
        ),
    ],
)
def test_invalid_feedback_is_422_with_a_message(
    api: dict[str, Any], body: dict[str, Any], message: str
) -> None:
    with _client(api, "acme") as client:
        answer = client.post("/feedback/", json=body)
    assert answer.status_code == 422
    assert message in json.dumps(answer.json())


def test_invalid_pair_and_filters_are_4xx_with_messages(api: dict[str, Any]) -> None:
    with _client(api, "acme") as client:
        same = client.post("/feedback/preference-pair", json={**PAIR, "rejected": PAIR["chosen"]})
        assert same.status_code == 422 and "identical" in same.text
        backwards = client.get("/feedback/export-dpo", params={"since": "2026-02-01", "until": "2026-01-01"})
        assert backwards.status_code == 422 and "after until" in backwards.text
        for endpoint in ("/feedback/stats", "/feedback/export-dpo"):  # '0' is not 1970-01-01
            epoch = client.get(endpoint, params={"until": "0"})
            assert epoch.status_code == 422 and "write YYYY-MM-DD" in epoch.text
        too_long = client.post(
            "/feedback/", json=_thumbs("acme-cola"), headers={"Idempotency-Key": "x" * 300}
        )
        assert too_long.status_code == 422 and "Idempotency-Key" in too_long.text


def test_export_filters_by_brand_task_and_date(api: dict[str, Any]) -> None:
    with _client(api, "acme") as client:
        client.post("/feedback/preference-pair", json=PAIR)
        client.post("/feedback/preference-pair", json={**PAIR, "brand_id": "acme-chips", "prompt": "chips"})
        client.post("/feedback/preference-pair", json={**PAIR, "task": "plan_explanation", "prompt": "plan"})

        def prompts(**params: str) -> list[str]:
            text = client.get("/feedback/export-dpo", params=params).text
            return [json.loads(line)["prompt"] for line in text.splitlines()]

        assert prompts(brand="acme-chips") == ["chips"]
        assert prompts(task="plan_explanation") == ["plan"]
        assert len(prompts()) == 3
        assert prompts(until="2000-01-01") == []
        assert len(prompts(since="2000-01-01")) == 3
