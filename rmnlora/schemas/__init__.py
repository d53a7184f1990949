"""RMIS records, the campaign brief and tool I/O models."""

from rmnlora.schemas.brief import BriefError, CampaignBrief, load_brief, parse_brief
from rmnlora.schemas.gtin import GtinError, GtinErrorReason, gs1_check_digit, is_valid_gtin, to_gtin14
from rmnlora.schemas.rmis import (
    RMIS_EVENT_SCHEMA,
    SKU,
    Audience,
    EventType,
    PolicyPack,
    PolicyRule,
    QuarantineReason,
    RMISEvent,
)

__all__ = [
    "RMIS_EVENT_SCHEMA",
    "SKU",
    "Audience",
    "BriefError",
    "CampaignBrief",
    "EventType",
    "GtinError",
    "GtinErrorReason",
    "PolicyPack",
    "PolicyRule",
    "QuarantineReason",
    "RMISEvent",
    "gs1_check_digit",
    "is_valid_gtin",
    "load_brief",
    "parse_brief",
    "to_gtin14",
]
