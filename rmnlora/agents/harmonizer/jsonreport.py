"""JSON report documents: one array of records, as the Amazon Ads API v3 delivers a report.

Why not Polars' JSON reader: it infers a type per key from the first records and then fails on
the row where a number arrives as text (``"cost": "12x5"``), or reads a big campaign id as a float.
A report row that does not fit must become that row's quarantine, not stop the run, so every
value is read as the text it was written as (``14.5``, ``158410630682987``, ``null``), exactly
like the CSV and JSON-lines readers leave values, and the parsers decide. A gzip download is
decompressed by the engine first (``compressed``); this module reads the plain document.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import polars as pl


class JsonReportError(pl.exceptions.ComputeError):
    """A file that is not one JSON array of objects; a Polars error, so the engine reports it like
    any other unreadable input (naming the file)."""


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def is_json_array(path: Path) -> bool:
    """The file's first non-blank character is ``[`` (a UTF-8 byte-order mark allowed)."""
    with Path(path).open("rb") as handle:
        head = handle.read(256)
    return head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"[")


def read_json_records(path: Path, n_rows: int | None = None) -> pl.DataFrame:
    """The records of a JSON array document as text columns, in the order keys first appear; a key
    a record lacks is null there. ``n_rows``: only the first records (a proposal's sample).

    A run asks three times (row count, scan, ratio sample): the parsed document is kept for the
    file as it is now (path, size, modification time), so it is parsed once.
    """
    resolved = Path(path).resolve()
    try:
        stat = resolved.stat()
    except OSError as exc:
        raise JsonReportError(f"{path} cannot be read: {exc}") from exc
    frame = _parsed(str(resolved), stat.st_size, stat.st_mtime_ns)
    return frame if n_rows is None else frame.head(n_rows)


@functools.lru_cache(maxsize=2)  # the inputs of one run; a report is held in memory anyway
def _parsed(path: str, size: int, mtime_ns: int) -> pl.DataFrame:
    try:
        with Path(path).open(encoding="utf-8-sig") as handle:
            records = json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise JsonReportError(f"{path} is not a JSON document: {exc}") from exc
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise JsonReportError(f"{path} is not a JSON array of records (objects)")
    columns: dict[str, None] = {}
    for record in records:
        columns.update(dict.fromkeys(record))
    return pl.DataFrame(
        {name: [_text(record.get(name)) for record in records] for name in columns},
        schema=dict.fromkeys(columns, pl.String),
    )
