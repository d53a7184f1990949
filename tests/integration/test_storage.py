"""Storage on SQLite, PostgreSQL and MariaDB for real.

CRUD, tenant scoping, rollback, migrations and encryption at rest."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import inspect, text
from sqlmodel import select

from rmnlora.storage import (
    AdapterRecord,
    AudienceSegment,
    Brand,
    Campaign,
    CrossTenantWriteError,
    Database,
    Feedback,
    PerformanceMetric,
    PlanRun,
    ReflectionLog,
    Retailer,
    SKUCatalog,
    Tenant,
    init_db,
)
from rmnlora.storage.migrate import current_revision, downgrade, head_revision, upgrade

TODAY = dt.date(2026, 11, 2)


def _seed_tenants(db: Database) -> None:
    with db.get_session() as session:
        session.add(Tenant(id="ta", name="Tenant A"))
        session.add(Tenant(id="tb", name="Tenant B"))
        session.add(Retailer(id="walmart", name="Walmart Connect", column_mapping={"Impr.": "impressions"}))
    with db.get_session() as session:
        session.add(Brand(id="brand-a", tenant_id="ta", name="A Snacks", voice={"tone": "warm"}))
        session.add(Brand(id="brand-b", tenant_id="tb", name="B Drinks"))


def _owned_rows(tenant: str, brand: str) -> list[Any]:
    return [
        Campaign(
            tenant_id=tenant,
            brand_id=brand,
            name=f"{tenant} q4",
            budget=1000.0,
            constraints={"roas_floor": 2.0},
            flight_start=TODAY,
            flight_end=TODAY,
        ),
        SKUCatalog(
            tenant_id=tenant,
            brand_id=brand,
            gtin14="00036000291452",
            upc_a="036000291452",
            retailer_skus={"amazon": "B000TEST"},
        ),
        AudienceSegment(
            tenant_id=tenant,
            brand_id=brand,
            name="lapsed buyers",
            definition={"days": 90},
            reach_estimate=1200,
        ),
        PerformanceMetric(
            tenant_id=tenant,
            retailer_id="walmart",
            campaign_ref="c1",
            gtin14="00036000291452",
            date=TODAY,
            impressions=100,
            clicks=5,
            spend=12.5,
            attributed_sales=40.0,
            units=4,
        ),
        Feedback(
            tenant_id=tenant,
            brand_id=brand,
            task="creative",
            feedback_type="preference",
            prompt="p",
            chosen="good",
            rejected="bad",
        ),
        ReflectionLog(
            tenant_id=tenant,
            session_id="s1",
            phase="optimize",
            decision="proceed",
            confidence=0.9,
            threshold=0.7,
            risks=[{"factor": "x", "severity": "low"}],
        ),
        PlanRun(
            id=f"run-{tenant}",
            tenant_id=tenant,
            thread_id=f"t-{tenant}",
            brief_name="q4",
            brief={"budget": 1000},
        ),
    ]


def test_crud_round_trip_for_every_model(db: Database) -> None:
    _seed_tenants(db)
    with db.get_session() as session:
        for row in _owned_rows("ta", "brand-a"):
            session.add(row)
        session.add(
            AdapterRecord(
                kind="retailer",
                name="walmart",
                base_model="smollm2",
                rank=8,
                path="/x",
                metrics={"loss": 1.5},
            )
        )

    with db.get_session() as session:
        campaign = session.exec(select(Campaign)).one()
        assert campaign.constraints == {"roas_floor": 2.0}
        assert campaign.flight_start == TODAY
        sku = session.exec(select(SKUCatalog)).one()
        assert sku.retailer_skus == {"amazon": "B000TEST"}
        metric = session.exec(select(PerformanceMetric)).one()
        assert (metric.impressions, metric.spend, metric.attributed_sales) == (100, 12.5, 40.0)
        log = session.exec(select(ReflectionLog)).one()
        assert log.risks == [{"factor": "x", "severity": "low"}]
        assert session.get(PlanRun, "run-ta").brief == {"budget": 1000}
        assert session.exec(select(AdapterRecord)).one().metrics == {"loss": 1.5}
        assert session.get(Brand, "brand-a").voice == {"tone": "warm"}

        campaign.status = "active"
        session.add(campaign)
    with db.get_session() as session:
        assert session.exec(select(Campaign)).one().status == "active"
        session.delete(session.exec(select(AudienceSegment)).one())
    with db.get_session() as session:
        assert session.exec(select(AudienceSegment)).all() == []


def test_tenant_session_sees_only_its_own_rows(db: Database) -> None:
    _seed_tenants(db)
    with db.get_session() as session:
        for row in _owned_rows("ta", "brand-a") + _owned_rows("tb", "brand-b"):
            session.add(row)

    for model in (
        Brand,
        Campaign,
        SKUCatalog,
        AudienceSegment,
        PerformanceMetric,
        Feedback,
        ReflectionLog,
        PlanRun,
    ):
        with db.get_session() as session:
            assert {row.tenant_id for row in session.exec(select(model)).all()} == {"ta", "tb"}
        with db.get_session(tenant_id="ta") as session:
            rows = session.exec(select(model)).all()
            assert rows and {row.tenant_id for row in rows} == {"ta"}, model.__name__

    with db.get_session(tenant_id="ta") as session:
        assert session.get(Brand, "brand-b") is None
        assert session.get(PlanRun, "run-tb") is None
        # shared tables stay visible to everyone
        assert session.get(Retailer, "walmart") is not None


def test_tenant_session_refuses_to_write_another_tenants_rows(db: Database) -> None:
    _seed_tenants(db)
    with pytest.raises(CrossTenantWriteError), db.get_session(tenant_id="ta") as session:
        session.add(Brand(id="sneaky", tenant_id="tb", name="x"))
    with db.get_session() as session:
        assert session.get(Brand, "sneaky") is None


def test_error_inside_a_session_rolls_back_every_row(db: Database) -> None:
    _seed_tenants(db)
    with pytest.raises(RuntimeError, match="boom"), db.get_session() as session:
        session.add(
            Campaign(
                tenant_id="ta",
                brand_id="brand-a",
                name="half",
                budget=1.0,
                flight_start=TODAY,
                flight_end=TODAY,
            )
        )
        session.flush()
        session.add(
            Feedback(
                tenant_id="ta",
                brand_id="brand-a",
                task="creative",
                feedback_type="thumbs",
                prompt="p",
                thumbs_up=True,
            )
        )
        session.flush()
        raise RuntimeError("boom")
    with db.get_session() as session:
        assert session.exec(select(Campaign)).all() == []
        assert session.exec(select(Feedback)).all() == []


def test_constraint_violation_rolls_back_the_whole_batch(db: Database) -> None:
    _seed_tenants(db)
    with pytest.raises(Exception), db.get_session() as session:  # noqa: B017 - driver-specific error class
        session.add(
            Feedback(
                tenant_id="ta",
                brand_id="brand-a",
                task="t",
                feedback_type="thumbs",
                prompt="1",
                idempotency_key="k1",
            )
        )
        session.add(
            Feedback(
                tenant_id="ta",
                brand_id="brand-a",
                task="t",
                feedback_type="thumbs",
                prompt="2",
                idempotency_key="k1",
            )
        )
    with db.get_session() as session:
        assert session.exec(select(Feedback)).all() == []


def test_retailer_api_key_is_encrypted_at_rest(db: Database) -> None:
    _seed_tenants(db)
    with db.get_session() as session:
        retailer = session.get(Retailer, "walmart")
        retailer.clean_room_api_key = "cr-secret-123"
        session.add(retailer)
    with db.engine.connect() as connection:
        raw = connection.execute(
            text("SELECT clean_room_api_key FROM retailer WHERE id = 'walmart'")
        ).scalar_one()
    assert "cr-secret-123" not in raw
    with db.get_session() as session:
        assert session.get(Retailer, "walmart").clean_room_api_key == "cr-secret-123"


def test_health_check_reports_backend_and_revision(db: Database) -> None:
    report = db.health_check()
    assert report.ok
    assert report.revision == head_revision()
    assert report.backend in {"sqlite", "postgresql", "mysql"}


def test_migrations_upgrade_an_empty_database_and_downgrade_it_again(db_url: str) -> None:
    database = init_db(db_url, secret_key="k", migrate=False)
    try:
        downgrade(database.engine, "base")
        assert current_revision(database.engine) is None
        assert "campaign" not in inspect(database.engine).get_table_names()
        upgrade(database.engine)
        assert current_revision(database.engine) == head_revision()
        tables = set(inspect(database.engine).get_table_names())
        assert {
            "tenant",
            "retailer",
            "brand",
            "campaign",
            "skucatalog",
            "audiencesegment",
            "performancemetric",
            "feedback",
            "reflectionlog",
            "planrun",
            "adapterrecord",
        } <= tables
        downgrade(database.engine, "base")
        assert not {"campaign", "feedback"} & set(inspect(database.engine).get_table_names())
    finally:
        database.dispose()


def test_unreachable_server_is_reported_unhealthy() -> None:
    database = init_db("postgresql+psycopg://postgres@127.0.0.1:1/none", migrate=False)
    report = database.health_check()
    assert not report.ok and report.detail
