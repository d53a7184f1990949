"""The planner's writes: PlanRun rows, ReflectionLog rows, memory. Each is safe to repeat.

A run killed mid-node re-executes that node on resume, so every write here is keyed (run id,
reflection session id, scenario id) and skipped or replaced when it already exists.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlmodel import select

from rmnlora.memory.store import ScenarioMemory, summarize_brief
from rmnlora.planner.state import reflections_of, results_of
from rmnlora.reflection import ReflectionContext, ReflectionEngine
from rmnlora.schemas.brief import CampaignBrief
from rmnlora.schemas.reflection import Outcome
from rmnlora.storage.database import Database
from rmnlora.storage.models import Brand, PlanRun, ReflectionLog, Tenant


class BrandOwnershipError(PermissionError):
    """The brief names a brand another tenant owns: nothing is written for this run."""


def check_brand_owner(database: Database, *, tenant_id: str, brand_id: str) -> None:
    """Raise BrandOwnershipError when ``brand_id`` exists under another tenant (before any write)."""
    with database.get_session() as session:
        brand = session.get(Brand, brand_id)
    if brand is not None and brand.tenant_id != tenant_id:
        raise BrandOwnershipError(
            f"brand {brand_id!r} belongs to another tenant, not to {tenant_id!r}: "
            "check the brief's 'tenant' and 'brand'"
        )


def start_run(database: Database, *, run_id: str, tenant_id: str, brief: CampaignBrief) -> None:
    check_brand_owner(database, tenant_id=tenant_id, brand_id=brief.brand)
    with database.get_session() as session:
        if session.get(Tenant, tenant_id) is None:
            session.add(Tenant(id=tenant_id, name=tenant_id))
            session.flush()
        if session.get(Brand, brief.brand) is None:
            session.add(Brand(id=brief.brand, tenant_id=tenant_id, name=brief.brand))
    with database.get_session(tenant_id=tenant_id) as session:
        if session.get(PlanRun, run_id) is None:
            session.add(
                PlanRun(
                    id=run_id,
                    tenant_id=tenant_id,
                    thread_id=run_id,
                    brief_name=brief.name,
                    brief=brief.model_dump(mode="json"),
                )
            )


def log_reflection(
    database: Database, engine: ReflectionEngine, ctx: ReflectionContext, *, tenant_id: str, run_id: str
) -> None:
    """One ReflectionLog row per (run, phase, attempt): a repeated node does not write it twice."""
    with database.get_session(tenant_id=tenant_id) as session:
        exists = session.exec(
            select(ReflectionLog.id).where(
                ReflectionLog.run_id == run_id, ReflectionLog.session_id == ctx.session_id
            )
        ).first()
        if exists is None:
            engine.save_to_database(ctx, session, tenant_id=tenant_id, run_id=run_id)


def finish_run(
    database: Database, *, run_id: str, status: str, state: dict[str, Any], report_path: str | None
) -> None:
    tenant_id = state["tenant_id"]
    with database.get_session(tenant_id=tenant_id) as session:
        run = session.get(PlanRun, run_id)
        if run is None:
            raise LookupError(f"run {run_id!r} was never started")
        run.status = status
        run.finished_at = dt.datetime.now(dt.UTC)
        run.report_path = report_path
        run.result = {
            "status": status,
            "blocked_reasons": state.get("blocked_reasons", []),
            "results": state.get("results", {}),
        }
        session.add(run)


def remember(
    memory: ScenarioMemory,
    tenant_id: str,
    run_id: str,
    brief: CampaignBrief,
    state: dict[str, Any],
    status: str,
) -> None:
    """Store the finished scenario (upsert by run id) so later plans can recall it."""
    optimized = results_of(state).optimize
    allocation = optimized.allocation if optimized else None
    plan = {
        "status": status,
        "budget": brief.budget,
        "roas": allocation.roas if allocation else None,
        "spend_by_line": {line.id: line.spend for line in allocation.lines} if allocation else {},
        "blocked_reasons": state.get("blocked_reasons", []),
    }
    decisions = [
        {"phase": r.phase.value, "decision": r.decision, "confidence": r.confidence}
        for r in reflections_of(state)
    ]
    outcome: Outcome = "blocked" if status == "blocked" else "unknown"
    memory.store_scenario(
        tenant_id, run_id, summarize_brief(brief, plan), plan=plan, decisions=decisions, outcome=outcome
    )
