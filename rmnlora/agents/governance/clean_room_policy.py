"""Clean-room query policy: refuse queries that could single out shoppers before they are sent.

Forbidden (identifying) dimensions, a requested cell size below the retailer's minimum, and
metrics outside the allowed list are critical; unknown dimensions, too many dimensions at once
and over-long date ranges are warnings.
"""

from __future__ import annotations

from rmnlora.schemas.clean_room import CleanRoomPolicy, CleanRoomQuery
from rmnlora.schemas.governance import GovernanceResult, Violation
from rmnlora.schemas.rmis import PolicyPack, Severity


def clean_room_policy(packs: list[PolicyPack], min_aggregation: int | None = None) -> CleanRoomPolicy:
    """The retailer pack's clean-room policy, with the threshold raised to ``min_aggregation``.

    Our configured threshold can only make the policy stricter, never looser.
    """
    policy = next((p.clean_room for p in packs if p.clean_room is not None), None) or CleanRoomPolicy()
    if min_aggregation is not None and min_aggregation > policy.min_aggregation:
        policy = policy.model_copy(update={"min_aggregation": min_aggregation})
    return policy


def _v(rule: str, severity: Severity, field: str, message: str, suggestion: str) -> Violation:
    return Violation(
        rule_id=f"clean_room:{rule}",
        kind=f"clean_room_{rule}",
        severity=severity,
        pack="clean_room",
        field=field,
        message=message,
        suggestion=suggestion,
    )


def check_clean_room_query(query: CleanRoomQuery, policy: CleanRoomPolicy) -> GovernanceResult:
    """Check an aggregate query against the policy; ``passed`` False means do not send it."""
    found: list[Violation] = []
    forbidden = {d.lower() for d in policy.forbidden_dimensions}
    allowed = {d.lower() for d in policy.allowed_dimensions}
    for dim in query.dimensions:
        if dim.lower() in forbidden:
            found.append(
                _v(
                    "forbidden_dimension",
                    "critical",
                    f"dimensions.{dim}",
                    f"'{dim}' identifies people and may not be a dimension",
                    "Aggregate by market, week, audience or placement instead.",
                )
            )
        elif dim.lower() not in allowed:
            found.append(
                _v(
                    "unknown_dimension",
                    "warning",
                    f"dimensions.{dim}",
                    f"'{dim}' is not among the allowed dimensions",
                    "Use one of: " + ", ".join(policy.allowed_dimensions),
                )
            )
    for key in query.filters:
        if key.lower() in forbidden:
            found.append(
                _v(
                    "forbidden_filter",
                    "critical",
                    f"filters.{key}",
                    f"filtering on '{key}' targets individuals",
                    "Remove the filter.",
                )
            )
    metrics = {m.lower() for m in policy.allowed_metrics}
    for metric in query.metrics:
        if metric.lower() not in metrics:
            found.append(
                _v(
                    "metric",
                    "critical",
                    f"metrics.{metric}",
                    f"'{metric}' is not an allowed metric",
                    "Use one of: " + ", ".join(policy.allowed_metrics),
                )
            )
    if query.min_cell_size is not None and query.min_cell_size < policy.min_aggregation:
        found.append(
            _v(
                "min_aggregation",
                "critical",
                "min_cell_size",
                f"requested cells of {query.min_cell_size}; the minimum is {policy.min_aggregation}",
                f"Ask for at least {policy.min_aggregation} per cell (or leave it unset).",
            )
        )
    if len(query.dimensions) > policy.max_dimensions:
        found.append(
            _v(
                "too_many_dimensions",
                "warning",
                "dimensions",
                f"{len(query.dimensions)} dimensions at once; cells shrink and get suppressed "
                f"(policy: at most {policy.max_dimensions})",
                "Drop a dimension.",
            )
        )
    days = (query.date_to - query.date_from).days + 1
    if days > policy.max_days:
        found.append(
            _v(
                "date_range",
                "warning",
                "date_to",
                f"{days} days exceeds the {policy.max_days}-day limit",
                "Split the query by period.",
            )
        )
    order = {"critical": 0, "warning": 1, "info": 2}
    found.sort(key=lambda v: order[v.severity])
    return GovernanceResult(
        passed=not any(v.severity == "critical" for v in found), violations=found, packs=["clean_room"]
    )
