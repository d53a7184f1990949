"""Retailer mappings: how one retail media network's export maps onto RMIS, kept as data.

Each network names, formats and encodes the same facts differently. Keeping that knowledge in a
reviewed YAML file (or the Retailer row's ``column_mapping``) instead of code means a new network
is a new file, and a person can read and correct what the proposer guessed.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Sequence
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
#: Without these a row cannot become an event. The product (``gtin14``) is required too, unless the
#: mapping says ``id_type: none``: a report without product grain (a campaign report).
REQUIRED_FIELDS: tuple[str, ...] = ("event_date", "campaign_id", "spend")

DateFormat = str  # a strftime pattern such as "%m/%d/%Y", or "epoch_ms" / "epoch_s"
#: How the export names its products: a GS1 code (``gtin``: GTIN-8/12/13/14; ``upc_no_check``: an
#: 11-digit UPC-A body), a retailer's own id (``asin``, ``sku``, ``item_id`` such as Walmart's,
#: ``tcin`` such as Target's), or ``none`` for a report without a product column.
IdType = Literal["gtin", "upc_no_check", "asin", "sku", "item_id", "tcin", "none"]
#: Ids a retailer assigns: a crosswalk turns them into GTIN-14s; without one, products are keyed by
#: (id type, id), e.g. ``asin:B0ACME0001``, and the summary's product coverage says so.
RETAILER_ID_TYPES: tuple[str, ...] = ("asin", "sku", "item_id", "tcin")


class MappingError(ValueError):
    """A mapping that cannot be used, with the offending key in the message."""


class Crosswalk(BaseModel):
    """Retailer product id → GTIN table (e.g. ASIN → GTIN-14), a CSV next to the exports.

    Optional: without it (or when its file is missing) the run goes on, products keep their
    retailer id, and the summary's product coverage falls. When it is there, an id it does not
    hold is quarantined as ``unknown_product``: the table is the brand's list of its products.
    """

    model_config = ConfigDict(extra="forbid")

    file: str = Field(description="CSV path; relative paths resolve against the first input's folder.")
    key_column: str = "asin"
    gtin_column: str = "gtin14"


class RetailerMapping(BaseModel):
    """One retailer's export format: columns, parsing rules and constants, mapped onto RMIS."""

    model_config = ConfigDict(extra="forbid")

    retailer: str = Field(min_length=1)
    format: Literal["csv", "parquet", "ndjson", "json", "xlsx"] = Field(
        default="csv", description="json: one JSON array of records (Amazon Ads API v3 reports)."
    )
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
    ratio_checks: dict[str, Literal["roas", "acos", "ctr", "cpc", "cpm", "cvr", "none"]] = Field(
        default_factory=dict,
        description="Source ratio column → what it holds; checked row by row against the mapped "
        "base measures when the mapping is proposed and when it is used. 'none': a ratio of base "
        "measures the mapping does not carry (ROAS - (Click) of click-only sales), never checked.",
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
        required = REQUIRED_FIELDS if self.id_type == "none" else (*REQUIRED_FIELDS, "gtin14")
        missing = [name for name in required if name not in fed]
        if missing:
            raise ValueError(f"mapping for {self.retailer!r} does not map required field(s) {missing}")
        if "currency" not in fed and self.currency is None:
            raise ValueError(
                f"mapping for {self.retailer!r} needs 'currency' (a constant) or a currency column"
            )
        if self.id_type == "none" and "gtin14" in fed:
            raise ValueError("id_type 'none' says the export has no product column, but gtin14 is mapped")
        if self.crosswalk is not None and self.id_type not in RETAILER_ID_TYPES:
            raise ValueError(
                f"a crosswalk maps retailer ids ({', '.join(RETAILER_ID_TYPES)}) to GTINs; "
                f"id_type is {self.id_type!r}"
            )
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


def _shipped() -> dict[str, RetailerMapping]:
    """Every mapping in rmnlora/datagen/mappings by file name (without .yaml)."""
    folder = importlib.resources.files("rmnlora.datagen") / "mappings"
    found = {}
    for entry in folder.iterdir():
        if entry.name.endswith(".yaml"):
            name = entry.name.removesuffix(".yaml")
            data = yaml.safe_load(entry.read_text(encoding="utf-8"))
            found[name] = parse_mapping(data, source=f"shipped {entry.name}")
    return dict(sorted(found.items()))


def shipped_retailers() -> list[str]:
    """Retailers whose default mapping ships in the package: the files named after their retailer
    (walmart.yaml). The other files are report mappings (``shipped_reports``)."""
    return [name for name, mapping in _shipped().items() if name == mapping.retailer]


def shipped_reports() -> dict[str, str]:
    """Report mapping name → its retailer, for the network report shapes shipped beside the
    retailer defaults (amazon_sp_console → amazon); ``rmn harmonize --report NAME`` picks one."""
    return {name: mapping.retailer for name, mapping in _shipped().items() if name != mapping.retailer}


def shipped_mapping(retailer: str) -> RetailerMapping | None:
    """The mapping shipped for a retailer, or None when there is none."""
    entry = importlib.resources.files("rmnlora.datagen") / "mappings" / f"{retailer.lower()}.yaml"
    if not entry.is_file():
        return None
    return parse_mapping(yaml.safe_load(entry.read_text(encoding="utf-8")), source=f"shipped {retailer}.yaml")


def report_mapping(report: str, inputs: Sequence[Path | str] = ()) -> RetailerMapping:
    """The shipped mapping of one network report shape (``shipped_reports``), by name.

    A console offers the same report as CSV and XLSX with the same columns, so one mapping serves
    both: when every input is an .xlsx workbook, the CSV mapping is read as ``format: xlsx``.
    """
    reports = shipped_reports()
    if report not in reports:
        raise MappingError(
            f"no shipped report mapping {report!r}; shipped: {', '.join(reports)} "
            f"(retailer defaults: {', '.join(shipped_retailers())})"
        )
    mapping = shipped_mapping(report)
    assert mapping is not None
    if inputs and mapping.format == "csv" and all(Path(p).suffix.lower() == ".xlsx" for p in inputs):
        return mapping.model_copy(update={"format": "xlsx"})
    return mapping


def resolve_mapping(
    retailer: str,
    *,
    mapping_file: Path | None = None,
    database: Any | None = None,
    report: str | None = None,
    inputs: Sequence[Path | str] = (),
) -> RetailerMapping:
    """The mapping to use: an explicit file, else a named shipped report mapping (``report``), else
    the Retailer row's column_mapping, else the shipped one.

    Raises MappingError suggesting ``--propose`` when none exists, so nothing is guessed silently.
    """
    if mapping_file is not None:
        return load_mapping(mapping_file)
    if report is not None:
        return report_mapping(report, inputs)
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
