"""Governance agent: policy packs, copy checks, the copy-quality judge, budget sanity and clean-room
query policy."""

from rmnlora.agents.governance.budget import budget_plan_from_brief, check_budget
from rmnlora.agents.governance.checks import apply_rule, check_copy, format_pack, review_copy
from rmnlora.agents.governance.clean_room_policy import check_clean_room_query, clean_room_policy
from rmnlora.agents.governance.packs import PolicyPackError, available_packs, load_pack, load_packs
from rmnlora.agents.governance.quality import QUALITY, QualityThresholds, judge_copy

__all__ = [
    "QUALITY",
    "PolicyPackError",
    "QualityThresholds",
    "apply_rule",
    "available_packs",
    "budget_plan_from_brief",
    "check_budget",
    "check_clean_room_query",
    "check_copy",
    "clean_room_policy",
    "format_pack",
    "judge_copy",
    "load_pack",
    "load_packs",
    "review_copy",
]
