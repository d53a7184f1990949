"""Retailer mappings: how one retail media network's export maps onto RMIS, kept as data.

Each network names, formats and encodes the same facts differently. Keeping that knowledge in a
reviewed YAML file (or the Retailer row's ``column_mapping``) instead of code means a new network
is a new file, and a person can read and correct what the proposer guessed.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from rmnlora.schemas.rmis import RMIS_EVENT_SCHEMA, EventType
from rmnlora.yaml_input import read_yaml_document

#: RMIS fields a source column may feed (event_id is always computed).
MAPPABLE_FIELDS: tuple[str, ...] = tuple(
    name for name in RMIS_EVENT_SCHEMA if name not in ("event_id", "retailer")
)
#: Without these a row cannot become an event.
REQUIRED_FIELDS: tuple[str, ...] = ("event_date", "campaign_id", "gtin14", "spend")

DateFormat = str  # a strftime pattern such as "%m/%d/%Y", or "epoch_ms" / "epoch_s"
IdType = Literal["gtin", "upc_no_check", "asin"]


class MappingError(ValueError):
    """A mapping that cannot be used, with the offending key in the message."""


class Crosswalk(BaseModel):
    """Retailer product id → GTIN table (e.g. ASIN → GTIN-14), a CSV next to the exports."""

    model_config = ConfigDict(extra="forbid")

    file: str = Field(description="CSV path; relative paths resolve against the first input's folder.")
    key_column: str = "asin"
    gtin_column: str = "gtin14"


class RetailerMapping(BaseModel):
    """One retailer's export format: columns, parsing rules and constants, mapped onto RMIS."""

    model_config = ConfigDict(extra="forbid")

    retailer: str = Field(min_length=1)
    format: Literal["csv", "parquet", "ndjson", "xlsx"] = "csv"
    sheet: str | None = Field(default=None, description="xlsx: the worksheet (default: the first).")
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    decimal_comma: bool = False
    columns: dict[str, str] = Field(description="Source column → RMIS field.")
    date_format: DateFormat = "%Y-%m-%d"
    timezone: str = Field(default="UTC", description="Zone whose calendar day an epoch timestamp falls on.")
    id_type: IdType = "gtin"
    crosswalk: Crosswalk | None = None
    money_scale: float = Field(default=1.0, gt=0, description="Multiply money by this: 0.01 for cents.")
    currency: str | None = Field(
        default=None, pattern=r"^[A-Z]{3}$", description="Constant currency when no column carries it."
    )
    event_types: dict[str, EventType] = Field(
        default_factory=dict, description="Source event-type value → RMIS event type."
    )
    constants: dict[str, str] = Field(default_factory=dict, description="RMIS field → constant value.")
    confidence: dict[str, float] | None = Field(
        default=None, description="Per RMIS field, set by the proposer; None for a reviewed mapping."
    )
    ratio_checks: dict[str, Literal["roas", "acos", "ctr", "cpc", "cpm", "cvr"]] = Field(
        default_factory=dict,
        description="Source ratio column → what it holds; checked row by row against the mapped "
        "base measures when the mapping is proposed and when it is used.",
    )
    warnings: list[str] = Field(
        default_factory=list, description="What the proposer found wrong (e.g. a ratio that disagrees)."
    )

    @field_validator("columns")
    @classmethod
    def _known_fields(cls, value: dict[str, str]) -> dict[str, str]:
        seen: dict[str, str] = {}
        for column, target in value.items():
            if target not in MAPPABLE_FIELDS:
                raise ValueError(
                    f"column {column!r} maps to unknown RMIS field {target!r}; "
                    f"known: {', '.join(MAPPABLE_FIELDS)}"
                )
            if target in seen:
                raise ValueError(f"RMIS field {target!r} is fed by both {seen[target]!r} and {column!r}")
            seen[target] = column
        return value

    @field_validator("constants")
    @classmethod
    def _known_constants(cls, value: dict[str, str]) -> dict[str, str]:
        for target in value:
            if target not in ("event_type", "placement", "market", "audience", "campaign_id"):
                raise ValueError(
                    f"constant for {target!r} is not allowed (placement, market, audience, "
                    "campaign_id or event_type only)"
                )
        return value

    @model_validator(mode="after")
    def _complete(self) -> RetailerMapping:
        fed = set(self.columns.values()) | set(self.constants)
        missing = [name for name in REQUIRED_FIELDS if name not in fed]
        if missing:
            raise ValueError(f"mapping for {self.retailer!r} does not map required field(s) {missing}")
        if "currency" not in fed and self.currency is None:
            raise ValueError(
                f"mapping for {self.retailer!r} needs 'currency' (a constant) or a currency column"
            )
        if self.id_type == "asin" and self.crosswalk is None:
            raise ValueError("id_type 'asin' needs a 'crosswalk' section")
        return self

    def source_for(self, field: str) -> str | None:
        """The source column feeding an RMIS field, if any."""
        for column, target in self.columns.items():
            if target == field:
                return column
        return None

    def to_yaml(self) -> str:
        data = self.model_dump(mode="json", exclude_none=True, exclude_defaults=False)
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def parse_mapping(data: Any, *, source: str = "mapping") -> RetailerMapping:
    """Validate a mapping dict; errors name the field and the source."""
    if not isinstance(data, dict):
        raise MappingError(f"{source}: expected a mapping object, got {type(data).__name__}")
    try:
        return RetailerMapping.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "mapping"
        raise MappingError(f"{source}: {where}: {first['msg']}") from exc


def load_mapping(path: Path) -> RetailerMapping:
    """Read a mapping YAML file."""
    data = read_yaml_document(Path(path), "mapping file", MappingError)
    return parse_mapping(data, source=str(path))


def shipped_retailers() -> list[str]:
    """Retailers whose mapping ships in the package (rmnlora/datagen/mappings)."""
    folder = importlib.resources.files("rmnlora.datagen") / "mappings"
    return sorted(
        entry.name.removesuffix(".yaml") for entry in folder.iterdir() if entry.name.endswith(".yaml")
    )


def shipped_mapping(retailer: str) -> RetailerMapping | None:
    """The mapping shipped for a retailer, or None when there is none."""
    entry = importlib.resources.files("rmnlora.datagen") / "mappings" / f"{retailer.lower()}.yaml"
    if not entry.is_file():
        return None
    return parse_mapping(yaml.safe_load(entry.read_text(encoding="utf-8")), source=f"shipped {retailer}.yaml")


def resolve_mapping(
    retailer: str, *, mapping_file: Path | None = None, database: Any | None = None
) -> RetailerMapping:
    """The mapping to use: an explicit file, else the Retailer row's column_mapping, else the shipped one.

    Raises MappingError suggesting ``--propose`` when none exists, so nothing is guessed silently.
    """
    if mapping_file is not None:
        return load_mapping(mapping_file)
    if database is not None:
        from rmnlora.storage.models import Retailer

        with database.get_session() as session:
            row = session.get(Retailer, retailer)
            stored = dict(row.column_mapping) if row is not None and row.column_mapping else None
        if stored:
            return parse_mapping(stored, source=f"Retailer row {retailer!r}")
    shipped = shipped_mapping(retailer)
    if shipped is not None:
        return shipped
    raise MappingError(
        f"no mapping for retailer {retailer!r} (none stored, none shipped; shipped: "
        f"{', '.join(shipped_retailers())}). Run `rmn harmonize INPUT --retailer {retailer} --propose` "
        "to get a proposed mapping, review it, and pass it with --mapping FILE."
    )
