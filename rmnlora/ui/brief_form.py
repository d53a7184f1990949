"""The New plan page's brief, without Streamlit: form values → brief dict → :class:`CampaignBrief`.

Every widget of the form has a key made by :func:`key` or :func:`retailer_key`; a validation
error's ``loc`` is mapped back to the key of the widget it came from (:func:`widget_key`), so the
page can show each message under its field. A brief YAML goes through the CLI's rules (size
policy, :func:`parse_brief`), except that its ``data:`` and ``mapping:`` entries are names of the
tenant's stored files, never paths on the server.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

from pydantic import ValidationError

from rmnlora.agents.creative.formats import FormatSpecError, load_format_specs
from rmnlora.agents.harmonizer.mapping import MappingError, shipped_mapping, shipped_retailers
from rmnlora.schemas.brief import (
    MAX_FILES_PER_RETAILER,
    BriefError,
    CampaignBrief,
    MeasurementBrief,
    Objective,
    RetailerPlan,
    parse_brief,
)
from rmnlora.schemas.ids import RESOURCE_ID_PATTERN, RESOURCE_ID_RULE
from rmnlora.ui.uploads import UploadError, safe_name
from rmnlora.yaml_input import parse_yaml_text

OTHER = "Other…"
MAX_RETAILER_BLOCKS = 8
MAX_CLAIMS = 20
OBJECTIVES: tuple[str, ...] = get_args(Objective)
DESIGNS: tuple[str, ...] = get_args(MeasurementBrief.model_fields["design"].annotation)

#: The form's fields outside the retailer blocks, with the label the page and the summary show.
FIELD_LABELS: dict[str, str] = {
    "name": "Campaign name",
    "budget": "Budget",
    "currency": "Currency",
    "objective": "Objective",
    "flight_start": "Flight start",
    "flight_end": "Flight end",
    "retailers": "Retailers",
    "roas_floor": "ROAS floor",
    "product": "Product",
    "key_message": "Key message",
    "tone": "Tone",
    "claims": "Claims",
    "candidates": "Copy candidates",
    "design": "Experiment design",
    "expected_lift": "Expected lift",
    "alpha": "Significance level (alpha)",
    "power": "Power",
    "brand": "Brand",
    "tenant": "Organisation",
    "brief": "Brief",
}
RETAILER_LABELS: dict[str, str] = {
    "name": "name",
    "data": "data files",
    "min_spend": "min spend",
    "max_spend": "max spend",
    "max_share": "max share",
    "current_spend": "current spend",
    "must_spend": "must spend",
    "formats": "ad formats",
}
_SECTIONS: dict[str, tuple[str, ...]] = {
    "constraints": ("roas_floor",),
    "creative": ("product", "key_message", "tone", "claims", "candidates"),
    "measurement": ("design", "expected_lift", "alpha", "power"),
}
_CURRENCY_PATTERN = r"^[A-Z]{3}$"


def key(name: str) -> str:
    """Session-state key of a form field outside the retailer blocks."""
    return f"np_{name}"


def retailer_key(index: int, name: str) -> str:
    """Session-state key of a field of retailer block ``index`` (0-based)."""
    return f"np_r{index}_{name}"


def widget_key(loc: tuple[int | str, ...]) -> str:
    """The key of the widget a validation error at ``loc`` belongs to.

    Rules a model checks as a whole land on the field a person would change: a retailer's
    max_spend below its min_spend on max_spend, a flight ending before it starts on its end,
    retailers listed twice on the retailers section.
    """
    if not loc:
        return key("retailers")
    head, rest = str(loc[0]), loc[1:]
    if head == "retailers":
        if rest and isinstance(rest[0], int):
            name = str(rest[1]) if len(rest) > 1 else "max_spend"
            return retailer_key(rest[0], name if name in RETAILER_LABELS else "name")
        return key("retailers")
    if head == "flight":
        return key(f"flight_{rest[0]}" if rest and rest[0] in ("start", "end") else "flight_end")
    if head in _SECTIONS:
        return key(str(rest[0])) if rest and str(rest[0]) in _SECTIONS[head] else key(head)
    return key(head)


def label(widget: str) -> str:
    """What the summary calls the field behind ``widget`` ("Retailer 2 · max share")."""
    name = widget.removeprefix("np_")
    if name.startswith("r") and "_" in name and name[1 : name.index("_")].isdigit():
        index, field_name = name[1:].split("_", 1)
        return f"Retailer {int(index) + 1} · {RETAILER_LABELS.get(field_name, field_name)}"
    return FIELD_LABELS.get(name, name)


def error_message(item: Mapping[str, Any]) -> str:
    """A pydantic error as a sentence for a buyer."""
    kind, ctx = item.get("type"), item.get("ctx") or {}
    if kind == "missing" or (kind == "string_too_short" and ctx.get("min_length") == 1):
        return "Required."
    if ctx.get("pattern") == RESOURCE_ID_PATTERN:
        return f"{item.get('input')!r} is not an id: use {RESOURCE_ID_RULE}."
    if ctx.get("pattern") == _CURRENCY_PATTERN:
        return "Use a three-letter currency code such as USD."
    return str(item.get("msg", "invalid")).removeprefix("Value error, ")


@dataclass
class FormCheck:
    """A checked form: the brief when it is valid, else the messages by widget key."""

    brief: CampaignBrief | None
    errors: dict[str, list[str]] = field(default_factory=dict)

    @property
    def summary(self) -> list[str]:
        return [
            f"{label(widget)}: {message}" for widget, messages in self.errors.items() for message in messages
        ]


@functools.cache
def known_retailers() -> tuple[str, ...]:
    """Retailers with a shipped mapping (the names the form offers)."""
    return tuple(shipped_retailers())


@functools.cache
def known_formats() -> dict[str, tuple[str, ...]]:
    """Ad formats per retailer that has format specs."""
    found: dict[str, tuple[str, ...]] = {}
    for retailer in known_retailers():
        try:
            found[retailer] = tuple(sorted(load_format_specs(retailer)))
        except FormatSpecError:
            continue
    return found


def all_formats() -> list[str]:
    return sorted({name for names in known_formats().values() for name in names})


def has_shipped_mapping(retailer: str) -> bool:
    if not retailer or retailer.startswith(".") or "/" in retailer or "\\" in retailer:
        return False  # a name, not a path into the package
    try:
        return shipped_mapping(retailer) is not None
    except MappingError:
        return False


def unmapped(brief: CampaignBrief) -> list[RetailerPlan]:
    """Retailers of ``brief`` with no mapping given and none shipped: they need a reviewed one."""
    return [r for r in brief.retailers if r.mapping is None and not has_shipped_mapping(r.name)]


def with_mappings(brief: CampaignBrief, mappings: Mapping[str, Path]) -> CampaignBrief:
    """``brief`` with ``mapping:`` set for each retailer named in ``mappings`` that has none."""
    retailers = [
        r.model_copy(update={"mapping": mappings[r.name]}) if r.mapping is None and r.name in mappings else r
        for r in brief.retailers
    ]
    return brief.model_copy(update={"retailers": retailers})


# --- the form -------------------------------------------------------------------------------------


def _text(values: Mapping[str, Any], widget: str) -> str:
    value = values.get(widget)
    return value.strip() if isinstance(value, str) else ""


def _number(values: Mapping[str, Any], widget: str) -> float | int | None:
    value = values.get(widget)
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def retailer_name(values: Mapping[str, Any], index: int) -> str:
    """Block ``index``'s retailer: the one chosen from the list, or the custom name typed."""
    choice = values.get(retailer_key(index, "choice"))
    if isinstance(choice, str) and choice and choice != OTHER:
        return choice
    return _text(values, retailer_key(index, "custom"))


def _optional(target: dict[str, Any], name: str, value: Any) -> None:
    if value is not None:
        target[name] = value


def _retailer(
    values: Mapping[str, Any], index: int, stored: Mapping[str, Path], errors: dict[str, list[str]]
) -> dict[str, Any]:
    name = retailer_name(values, index)
    chosen = [str(n) for n in values.get(retailer_key(index, "data")) or []][:MAX_FILES_PER_RETAILER]
    data_key = retailer_key(index, "data")
    if not chosen:
        errors.setdefault(data_key, []).append("Choose at least one stored export (upload it above).")
    gone = [n for n in chosen if n not in stored]
    if gone:
        errors.setdefault(data_key, []).append(f"No longer stored: {', '.join(gone)}; choose again.")
    formats = [str(f) for f in values.get(retailer_key(index, "formats")) or []]
    offered = known_formats().get(name.lower())
    unknown = [f for f in formats if offered is not None and f not in offered]
    if unknown:
        errors.setdefault(retailer_key(index, "formats"), []).append(
            f"{name} has no ad format {', '.join(unknown)} (its formats: {', '.join(offered or ())})."
        )
    plan: dict[str, Any] = {
        "name": name,
        "data": [str(stored[n]) for n in chosen if n in stored],
        "min_spend": _number(values, retailer_key(index, "min_spend")) or 0.0,
        "must_spend": bool(values.get(retailer_key(index, "must_spend"))),
        "formats": formats,
    }
    for optional in ("max_spend", "max_share", "current_spend"):
        _optional(plan, optional, _number(values, retailer_key(index, optional)))
    return plan


def form_data(
    values: Mapping[str, Any], count: int, *, tenant: str, brand: str, stored: Mapping[str, Path]
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The brief dict the form's ``values`` describe, and the app's own errors (files, formats).

    ``count`` retailer blocks (bounded by ``MAX_RETAILER_BLOCKS``); tenant and brand are given,
    never read from the form; ``stored`` maps the tenant's export names to their paths.
    """
    errors: dict[str, list[str]] = {}
    claims = [line.strip() for line in _text(values, key("claims")).splitlines() if line.strip()]
    if len(claims) > MAX_CLAIMS:
        errors.setdefault(key("claims"), []).append(f"At most {MAX_CLAIMS} claims, one per line.")
    brief: dict[str, Any] = {
        "name": _text(values, key("name")),
        "tenant": tenant,
        "brand": brand,
        "currency": _text(values, key("currency")).upper(),
        "objective": values.get(key("objective")) or OBJECTIVES[0],
        "flight": {"start": values.get(key("flight_start")), "end": values.get(key("flight_end"))},
        "retailers": [
            _retailer(values, i, stored, errors) for i in range(max(1, min(count, MAX_RETAILER_BLOCKS)))
        ],
        "constraints": {},
        "creative": {
            "product": _text(values, key("product")),
            "key_message": _text(values, key("key_message")),
            "tone": _text(values, key("tone")) or "friendly",
            "claims": claims[:MAX_CLAIMS],
            "candidates": _number(values, key("candidates")) or 3,
        },
        "measurement": {"design": values.get(key("design")) or DESIGNS[0]},
    }
    _optional(brief, "budget", _number(values, key("budget")))
    _optional(brief["constraints"], "roas_floor", _number(values, key("roas_floor")))
    for name in ("expected_lift", "alpha", "power"):
        _optional(brief["measurement"], name, _number(values, key(name)))
    for end in ("start", "end"):
        if not isinstance(brief["flight"][end], dt.date):
            del brief["flight"][end]
    return brief, errors


def check_form(
    values: Mapping[str, Any], count: int, *, tenant: str, brand: str, stored: Mapping[str, Path]
) -> FormCheck:
    """Validate the form as :class:`CampaignBrief` does; every message keyed by its widget."""
    data, errors = form_data(values, count, tenant=tenant, brand=brand, stored=stored)
    try:
        brief = CampaignBrief.model_validate(data)
    except ValidationError as exc:
        for item in exc.errors():
            messages = errors.setdefault(widget_key(tuple(item["loc"])), [])
            if (text := error_message(item)) not in messages:
                messages.append(text)
        return FormCheck(None, errors)
    return FormCheck(None if errors else brief, errors)


# --- a brief YAML -------------------------------------------------------------------------------


def _stored_name(entry: Path | str, names: Mapping[str, Path]) -> Path | None:
    """The stored file a brief entry names: by its file name, as stored or as uploads clean it."""
    plain = str(entry).replace("\\", "/").rsplit("/", 1)[-1]
    if plain in names:
        return names[plain]
    try:
        return names.get(safe_name(plain))
    except UploadError:
        return None


def brief_from_yaml(
    raw: bytes,
    source: str,
    *,
    tenant: str,
    brand: str,
    exports: Mapping[str, Path],
    mappings: Mapping[str, Path],
) -> CampaignBrief:
    """The brief in ``raw`` (a YAML file's bytes) by the CLI's rules, its files the tenant's.

    ``tenant`` and ``brand`` fill in what the brief leaves out and must match what it says.
    ``data:`` entries are resolved by file name against ``exports`` and ``mapping:`` against
    ``mappings`` (the tenant's stored files); a name not stored is a BriefError naming it.
    """
    data = parse_yaml_text(raw, source, "brief file", BriefError)
    if data is None:
        raise BriefError(f"brief file {source} is empty")
    if not isinstance(data, dict):
        raise BriefError(f"brief file {source} must hold a mapping at the top level")
    given_tenant, given_brand = data.get("tenant", tenant), data.get("brand", brand)
    if given_tenant != tenant:
        raise BriefError(f"the brief is for tenant {given_tenant!r}, but you are signed in as {tenant!r}")
    if given_brand != brand:
        raise BriefError(
            f"the brief is for brand {given_brand!r}, but the brand chosen on Home is {brand!r}: "
            "choose that brand on Home, or change the brief"
        )
    brief = parse_brief({**data, "tenant": tenant, "brand": brand})
    problems: list[str] = []
    retailers: list[RetailerPlan] = []
    for index, retailer in enumerate(brief.retailers):
        where = f"retailers.{index}"
        files: list[Path] = []
        if not retailer.data:
            problems.append(f"{where}.data ({retailer.name}): no exports named")
        for entry in retailer.data:
            path = _stored_name(entry, exports)
            if path is None:
                problems.append(f"{where}.data ({retailer.name}): {entry} is not among your stored exports")
            else:
                files.append(path)
        mapping = None
        if retailer.mapping is not None:
            plain = str(retailer.mapping).replace("\\", "/").rsplit("/", 1)[-1]
            mapping = mappings.get(plain)
            if mapping is None:
                problems.append(
                    f"{where}.mapping ({retailer.name}): {retailer.mapping} is not among your saved mappings"
                )
        retailers.append(retailer.model_copy(update={"data": files, "mapping": mapping}))
    if problems:
        raise BriefError(
            f"brief {source}: files not stored: "
            + "; ".join(problems)
            + ". Upload them above, then check again."
        )
    return brief.model_copy(update={"retailers": retailers})
