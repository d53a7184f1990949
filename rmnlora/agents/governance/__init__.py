"""Governance agent: policy packs, copy checks, budget sanity and clean-room query policy."""

from rmnlora.agents.governance.budget import budget_plan_from_brief, check_budget
from rmnlora.agents.governance.checks import apply_rule, check_copy, format_pack
from rmnlora.agents.governance.clean_room_policy import check_clean_room_query, clean_room_policy
from rmnlora.agents.governance.packs import PolicyPackError, available_packs, load_pack, load_packs

__all__ = [
    "PolicyPackError",
    "apply_rule",
    "available_packs",
    "budget_plan_from_brief",
    "check_budget",
    "check_clean_room_query",
    "check_copy",
    "clean_room_policy",
    "format_pack",
    "load_pack",
    "load_packs",
]
