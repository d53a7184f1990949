"""Governance's planner phase: budget sanity, the chosen copy's verdicts, and audience reach as the
retailers' clean rooms report it.

The clean room is reached through a query function the caller supplies (the planner passes the
clean-room client), so this module never opens a connection itself; without one the result says
``unconfigured`` and nothing is assumed checked.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from rmnlora.agents.governance.budget import budget_plan_from_brief, check_budget
from rmnlora.schemas.brief import CampaignBrief
from rmnlora.schemas.clean_room import CleanRoomQuery, CleanRoomResult
from rmnlora.schemas.phases import (
    AudienceCheck,
    CleanRoomCheck,
    CreateResult,
    GovernedCopy,
    GovernResult,
    OptimizeResult,
)

CleanRoomQueryFn = Callable[[CleanRoomQuery], CleanRoomResult]
REACH_METRIC = "buyers"
REACH_WINDOW_DAYS = 28
UNCONFIGURED = "no clean_room.endpoint: audience reach and holdout sizes are not verified"


def govern_plan(
    brief: CampaignBrief, optimized: OptimizeResult, created: CreateResult, clean_room: CleanRoomCheck
) -> GovernResult:
    """The verdicts a reviewer reads before the plan goes out."""
    by_retailer = optimized.spend_by_retailer()
    budget = check_budget(budget_plan_from_brief(brief, by_retailer)) if by_retailer else None
    copies = []
    for result in created.copies:
        best = result.candidates[0] if result.candidates else None
        copies.append(
            GovernedCopy(
                retailer=result.retailer,
                ad_format=result.ad_format,
                source=result.source,
                chosen=best,
                passed=bool(best and best.governance.passed),
                alternatives_passing=sum(1 for c in result.candidates if c.governance.passed),
            )
        )
    return GovernResult(budget=budget, copies=copies, clean_room=clean_room)


def check_audiences(
    brief: CampaignBrief, query: CleanRoomQueryFn | None, *, endpoint: str | None = None
) -> CleanRoomCheck:
    """Each brief audience's buyers over the four weeks before the flight, per retailer.

    An audience the clean room suppresses (below its aggregation minimum) or does not know fails:
    it could be neither targeted nor measured there.
    """
    if query is None:
        return CleanRoomCheck(status="unconfigured", detail=UNCONFIGURED)
    if not brief.audiences:
        return CleanRoomCheck(status="no_audiences", endpoint=endpoint, detail="the brief names no audiences")
    date_to = brief.flight.start - dt.timedelta(days=1)
    date_from = date_to - dt.timedelta(days=REACH_WINDOW_DAYS - 1)
    checks: list[AudienceCheck] = []
    for retailer in brief.retailers:
        answer = query(
            CleanRoomQuery(
                retailer=retailer.name,
                dimensions=["audience"],
                metrics=[REACH_METRIC],
                date_from=date_from,
                date_to=date_to,
                filters={"audience": list(brief.audiences)},
            )
        )
        checks += _audience_checks(retailer.name, brief.audiences, answer)
    failed = [c for c in checks if c.status != "ok"]
    return CleanRoomCheck(
        status="failed" if failed else "checked",
        endpoint=endpoint,
        audiences=checks,
        detail="; ".join(sorted({f"{c.retailer}: {c.status} {c.detail}".strip() for c in failed})),
    )


def _audience_checks(retailer: str, audiences: list[str], answer: CleanRoomResult) -> list[AudienceCheck]:
    if not answer.ok:
        return [
            AudienceCheck(retailer=retailer, audience=a, status=answer.status, detail=answer.detail)
            for a in audiences
        ]
    cells = {row.dimensions.get("audience"): row for row in answer.rows}
    checks = []
    for audience in audiences:
        cell = cells.get(audience)
        if cell is None:
            checks.append(
                AudienceCheck(
                    retailer=retailer,
                    audience=audience,
                    status="ok",
                    min_aggregation=answer.min_aggregation,
                    detail=f"suppressed or unknown: fewer than {answer.min_aggregation} buyers",
                )
            )
            continue
        checks.append(
            AudienceCheck(
                retailer=retailer,
                audience=audience,
                status="ok",
                reach=cell.metrics.get(REACH_METRIC, float(cell.cell_size)),
                min_aggregation=answer.min_aggregation,
                passed=cell.cell_size >= answer.min_aggregation,
            )
        )
    return checks
