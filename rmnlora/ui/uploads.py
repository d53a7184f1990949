"""The tenant's stored retailer exports and reviewed mappings: ``<data_dir>/uploads/<tenant>/``.

Why one folder per tenant, files under their own (cleaned) names: a brief names its exports by
file name, and a mapping's crosswalk (Amazon's ASIN → GTIN table) is found next to the first
export by name, so the names people see are the names on disk. Nothing here ever looks outside
the tenant's folder: the tenant id is checked against the id rule, a file name is reduced to a
plain name, and only regular files directly in that folder (never links) are listed.

Bounds: ``MAX_UPLOAD_BYTES`` per file, ``MAX_STORED_FILES`` per tenant. The same content uploaded
twice (under any name) is stored once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import unicodedata
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from rmnlora.agents.harmonizer.mapping import MappingError, RetailerMapping, parse_mapping
from rmnlora.schemas.ids import RESOURCE_ID, RESOURCE_ID_RULE
from rmnlora.yaml_input import MAX_YAML_BYTES, parse_yaml_text

MB = 1024 * 1024
MAX_UPLOAD_BYTES = 200 * MB
MAX_STORED_FILES = 500
MAX_NAME_CHARS = 120
#: What the harmonizer reads: CSV (any delimiter), Parquet, JSON lines, Excel workbooks.
# .gz and .zip: exports as consoles and report APIs deliver them (the harmonizer reads them by
# their magic bytes; see agents/harmonizer/compressed.py)
EXPORT_SUFFIXES: tuple[str, ...] = (
    ".csv",
    ".tsv",
    ".parquet",
    ".jsonl",
    ".ndjson",
    ".json",
    ".xlsx",
    ".gz",
    ".zip",
)
MAPPINGS_FOLDER = "mappings"
_CHUNK = MB
_UNSAFE = re.compile(r"[^A-Za-z0-9._() -]+")


class UploadError(ValueError):
    """An upload or a stored file that cannot be used; the message names the file and says why."""


@dataclass(frozen=True)
class StoredExport:
    """One export in the tenant's folder, as the page lists it."""

    name: str
    path: Path
    size: int
    uploaded_at: dt.datetime


@dataclass(frozen=True)
class SavedUpload:
    """What became of one uploaded file: where it is, and whether it was there already."""

    export: StoredExport
    original_name: str
    duplicate: bool  # the same content was already stored (as ``export.name``)


def uploads_root(data_dir: Path) -> Path:
    return Path(data_dir) / "uploads"


def tenant_folder(data_dir: Path, tenant: str) -> Path:
    """``<data_dir>/uploads/<tenant>`` (not created); a tenant id outside the id rule is refused."""
    if not isinstance(tenant, str) or not RESOURCE_ID.match(tenant):
        raise UploadError(f"{tenant!r} is not a tenant id ({RESOURCE_ID_RULE})")
    return uploads_root(data_dir) / tenant


def safe_name(name: str) -> str:
    """A plain file name for ``name``: no folders, no leading dots, only ``A-Za-z0-9._() -``, bounded
    length, and one of ``EXPORT_SUFFIXES`` (lowercased)."""
    base = unicodedata.normalize("NFKC", str(name)).replace("\\", "/").rsplit("/", 1)[-1].strip()
    stem, dot, suffix = base.rpartition(".")
    suffix = f".{suffix.lower()}" if dot else ""
    if suffix not in EXPORT_SUFFIXES:
        raise UploadError(
            f"{name!r} is not an export the harmonizer reads: use one of {', '.join(EXPORT_SUFFIXES)}"
        )
    cleaned = _UNSAFE.sub("_", stem).strip(" ._-") or "export"
    return cleaned[: MAX_NAME_CHARS - len(suffix)].rstrip(" .") + suffix


def _is_export(entry: os.DirEntry[str]) -> bool:
    return (
        not entry.name.startswith(".")
        and entry.is_file(follow_symlinks=False)
        and Path(entry.name).suffix.lower() in EXPORT_SUFFIXES
    )


def list_exports(data_dir: Path, tenant: str) -> list[StoredExport]:
    """The tenant's stored exports by name (only its own folder; at most ``MAX_STORED_FILES``)."""
    folder = tenant_folder(data_dir, tenant)
    if not folder.is_dir() or folder.is_symlink():
        return []
    found: list[StoredExport] = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if not _is_export(entry):
                continue
            stat = entry.stat(follow_symlinks=False)
            found.append(
                StoredExport(
                    name=entry.name,
                    path=folder / entry.name,
                    size=stat.st_size,
                    uploaded_at=dt.datetime.fromtimestamp(stat.st_mtime, tz=dt.UTC),
                )
            )
            if len(found) >= MAX_STORED_FILES:
                break
    return sorted(found, key=lambda item: item.name.lower())


def stored_paths(data_dir: Path, tenant: str) -> dict[str, Path]:
    """Stored export name → its path, for resolving what a brief names."""
    return {item.name: item.path for item in list_exports(data_dir, tenant)}


def _chunks(source: bytes | BinaryIO) -> Iterator[bytes]:
    if isinstance(source, bytes | bytearray | memoryview):
        view = memoryview(source)
        for start in range(0, len(view), _CHUNK):
            yield bytes(view[start : start + _CHUNK])
        return
    while chunk := source.read(_CHUNK):
        yield chunk


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _too_big(name: str, size: int, limit: int) -> UploadError:
    return UploadError(f"{name} is {size / MB:,.1f} MB; the limit is {limit / MB:,.0f} MB per file")


def save_upload(
    data_dir: Path,
    tenant: str,
    name: str,
    source: bytes | BinaryIO,
    *,
    size: int | None = None,
    max_bytes: int = MAX_UPLOAD_BYTES,
) -> SavedUpload:
    """Store one uploaded export in the tenant's folder under :func:`safe_name` of ``name``.

    Same content as a stored file → that file, nothing written (``duplicate``). Same name, other
    content → ``name-2.csv`` and so on (a stored export a past plan used is never overwritten).
    Over ``max_bytes`` (``size`` when the caller knows it, else counted while writing) or empty →
    UploadError, nothing left behind.
    """
    clean = safe_name(name)
    if size is not None and size > max_bytes:
        raise _too_big(name, size, max_bytes)
    folder = tenant_folder(data_dir, tenant)
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".upload-{uuid.uuid4().hex}.part"
    digest, written = hashlib.sha256(), 0
    try:
        with partial.open("xb") as handle:
            for chunk in _chunks(source):
                written += len(chunk)
                if written > max_bytes:
                    raise _too_big(name, written, max_bytes)
                digest.update(chunk)
                handle.write(chunk)
        if written == 0:
            raise UploadError(f"{name} is empty")
        existing = list_exports(data_dir, tenant)
        content = digest.hexdigest()
        for item in existing:
            if item.size == written and _sha256(item.path) == content:
                return SavedUpload(item, name, duplicate=True)
        if len(existing) >= MAX_STORED_FILES:
            raise UploadError(
                f"your organisation already stores {MAX_STORED_FILES} exports; ask an admin to clear old ones"
            )
        target = _link_free_name(partial, folder, clean)
    finally:
        partial.unlink(missing_ok=True)
    stat = target.stat()
    export = StoredExport(
        target.name, target, stat.st_size, dt.datetime.fromtimestamp(stat.st_mtime, tz=dt.UTC)
    )
    return SavedUpload(export, name, duplicate=False)


def _link_free_name(partial: Path, folder: Path, clean: str) -> Path:
    """Hard-link ``partial`` to the first free ``clean`` / ``stem-N.ext`` (atomic: never overwrites)."""
    suffixes = Path(clean).suffixes
    # "report.csv.gz" numbers as "report-2.csv.gz", keeping what the file holds in its name
    suffix = (
        "".join(suffixes[-2:]) if len(suffixes) >= 2 and suffixes[-1].lower() == ".gz" else Path(clean).suffix
    )
    stem = clean[: -len(suffix)]
    for number in range(1, 1000):
        candidate = folder / (clean if number == 1 else f"{stem[: MAX_NAME_CHARS - 8]}-{number}{suffix}")
        try:
            os.link(partial, candidate)
        except FileExistsError:
            continue
        except OSError:  # no hard links on this file system: claim the name, then move onto it
            try:
                os.close(os.open(candidate, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            except FileExistsError:
                continue
            os.replace(partial, candidate)
        return candidate
    raise UploadError(f"too many different files named {clean}; rename the export before uploading")


# --- reviewed mappings ------------------------------------------------------------------------


def mapping_file_name(retailer: str) -> str:
    """``target.yaml`` for "Target": the retailer name lowercased, as the shipped mappings are found."""
    slug = re.sub(r"[^a-z0-9_-]+", "-", retailer.strip().lower()).strip("-_")[:64]
    return f"{slug or 'retailer'}.yaml"


def mappings_folder(data_dir: Path, tenant: str) -> Path:
    return tenant_folder(data_dir, tenant) / MAPPINGS_FOLDER


def saved_mapping(data_dir: Path, tenant: str, retailer: str) -> Path | None:
    """The mapping the tenant reviewed and saved for ``retailer``, if any."""
    path = mappings_folder(data_dir, tenant) / mapping_file_name(retailer)
    return path if path.is_file() and not path.is_symlink() else None


def stored_mappings(data_dir: Path, tenant: str) -> dict[str, Path]:
    """Saved mapping file name → path (what a brief's ``mapping:`` may name)."""
    folder = mappings_folder(data_dir, tenant)
    if not folder.is_dir() or folder.is_symlink():
        return {}
    with os.scandir(folder) as entries:
        return {
            entry.name: folder / entry.name
            for entry in entries
            if entry.name.endswith(".yaml")
            and not entry.name.startswith(".")
            and entry.is_file(follow_symlinks=False)
        }


def check_mapping(text: str, data_dir: Path, tenant: str) -> RetailerMapping:
    """Validate a mapping as the harmonizer loads it (size policy, YAML, :class:`RetailerMapping`).

    A crosswalk must name one of the tenant's stored exports by plain file name: the harmonizer
    would otherwise read whatever path the text names.
    """
    data = parse_yaml_text(text.encode("utf-8"), "(edited)", "mapping", MappingError)
    mapping = parse_mapping(data, source="mapping")
    if mapping.crosswalk is not None:
        file = mapping.crosswalk.file
        if file != Path(file).name or file.startswith("."):
            raise MappingError(
                f"mapping: crosswalk.file must be the plain name of one of your stored exports, not {file!r}"
            )
        if file not in stored_paths(data_dir, tenant):
            raise MappingError(
                f"mapping: crosswalk.file {file!r} is not among your stored exports; upload it"
            )
    return mapping


def save_mapping(data_dir: Path, tenant: str, retailer: str, text: str) -> Path:
    """Validate ``text`` (:func:`check_mapping`) and store it as the tenant's mapping for ``retailer``.

    Stored without the proposer's ``confidence`` (a reviewed mapping has none). MappingError, with
    the validation message, when it does not validate; nothing is written then.
    """
    if len(text.encode("utf-8")) > MAX_YAML_BYTES:
        raise MappingError(f"mapping: the text is over {MAX_YAML_BYTES:,} bytes")
    mapping = check_mapping(text, data_dir, tenant)
    folder = mappings_folder(data_dir, tenant)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / mapping_file_name(retailer)
    reviewed = mapping.model_copy(update={"confidence": None})
    partial = folder / f".{target.name}.{uuid.uuid4().hex[:8]}.part"
    partial.write_text(
        f"# {retailer}: reviewed in the app on {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC\n"
        + reviewed.to_yaml(),
        encoding="utf-8",
    )
    os.replace(partial, target)
    return target
