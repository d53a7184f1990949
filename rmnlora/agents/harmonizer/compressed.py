"""Compressed exports (gzip, zip, bzip2, xz) opened as the plain file they hold.

Networks deliver reports compressed (Amazon Ads API reports are GZIP_JSON, console downloads are
often zipped). The harmonizer reads the file inside, decompressed once into a folder of the run,
so every later step (row count, ragged-row scan, streamed read, ratio sample) sees exactly the
bytes of the plain export: the same rows, the same line numbers, the same quarantine.

The compression is told by the file's first bytes, never by its name alone: a ``.csv`` that is
really gzip is read, a ``.gz`` that is really plain text is read as it is. Decompression is
bounded, so a zip bomb is an error naming the file instead of a full disk.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import shutil
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

Compression = Literal["gzip", "zip", "bzip2", "xz"]

#: Never decompress more than this, whatever the file (20 GB).
MAX_DECOMPRESSED_BYTES = 20 * 10**9
#: Nor more than this many times the compressed size: text exports shrink 5-30x, a bomb 1000x.
MAX_EXPANSION = 100
#: ...but always allow this much (64 MiB), so a small, very repetitive export is not refused.
MIN_DECOMPRESSED_BYTES = 64 * 2**20

_MAGIC: tuple[tuple[bytes, Compression], ...] = (
    (b"\x1f\x8b", "gzip"),
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),  # an empty archive
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
)
_UNSUPPORTED = {b"\x28\xb5\x2f\xfd": "zstd", b"7z\xbc\xaf\x27\x1c": "7-Zip", b"Rar!\x1a\x07": "RAR"}
_READERS: dict[str, Callable[[Path], io.BufferedIOBase]] = {
    "gzip": gzip.GzipFile,
    "bzip2": bz2.BZ2File,
    "xz": lzma.LZMAFile,
}
_SUFFIXES = (".gz", ".gzip", ".zip", ".bz2", ".xz")
_CHUNK = 4 * 2**20
_BINARY_FORMATS = (b"PAR1", b"PK\x03\x04")


class CompressedInputError(ValueError):
    """A compressed export that cannot be opened: corrupt, too large, or not holding one file."""


@dataclass(frozen=True)
class Opened:
    """An input as the user named it (``source``) and the plain file to read (``path``)."""

    source: Path
    path: Path
    compression: Compression | None = None
    member: str | None = None

    @property
    def label(self) -> str:
        """How messages name it: the user's path, and the zip member when there is one."""
        return f"{self.source} (its member {self.member})" if self.member else str(self.source)


def compression_of(path: Path) -> Compression | None:
    """The compression by the file's magic bytes, or None for a plain file.

    A format no reader here handles (zstd, 7-Zip, RAR) is an error saying so, rather than a file
    that later looks 'binary'.
    """
    with Path(path).open("rb") as handle:
        head = handle.read(8)
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    for magic, name in _UNSUPPORTED.items():
        if head.startswith(magic):
            raise CompressedInputError(
                f"input {path} is {name}-compressed, which harmonize cannot read; decompress it first "
                "(gzip, zip, bzip2 and xz are read as they are)"
            )
    return None


def decompression_limit(compressed_bytes: int) -> int:
    """Bytes one input may decompress to: MAX_EXPANSION x its size, at least MIN_DECOMPRESSED_BYTES,
    at most MAX_DECOMPRESSED_BYTES."""
    return min(MAX_DECOMPRESSED_BYTES, max(MAX_EXPANSION * compressed_bytes, MIN_DECOMPRESSED_BYTES))


def _is_workbook(archive: zipfile.ZipFile) -> bool:
    """An .xlsx is itself a zip; it is the export, not an archive holding one."""
    names = set(archive.namelist())
    return "[Content_Types].xml" in names and any(n.startswith("xl/") for n in names)


def _members(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """The files of an archive, without folders and the resource forks macOS zips add."""
    return [
        info
        for info in archive.infolist()
        if not info.is_dir()
        and not info.filename.startswith("__MACOSX/")
        and not Path(info.filename).name.startswith("._")
    ]


def _inner_name(source: Path) -> str:
    name = source.name
    for suffix in _SUFFIXES:
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def _copy_bounded(
    stream: io.BufferedIOBase | IO[bytes], target: Path, *, source: Path, limit: int, prefix: int | None
) -> None:
    """Stream into ``target``, stopping with an error past ``limit`` bytes; with ``prefix``, stop
    quietly after that many bytes at a line end (enough for a proposal's sample)."""
    written = 0
    try:
        with target.open("wb") as out:
            while chunk := stream.read(_CHUNK):
                if written == 0 and (
                    chunk.startswith(_BINARY_FORMATS) or chunk.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"["
                ):
                    # a Parquet file, a workbook or a JSON array document is read whole or not at all
                    prefix = None
                written += len(chunk)
                if prefix is not None and written >= prefix:
                    keep = chunk[: len(chunk) - (written - prefix)]
                    end = keep.rfind(b"\n")
                    out.write(keep[: end + 1] if end >= 0 else keep)
                    return
                if written > limit:
                    raise CompressedInputError(
                        f"input {source} decompresses to more than {limit:,} bytes "
                        f"({MAX_EXPANSION}x its {source.stat().st_size:,} compressed bytes, at most "
                        f"{MAX_DECOMPRESSED_BYTES:,}); a zip bomb or a wrong file? Decompress it "
                        "yourself if it is real (the bound is rmnlora.agents.harmonizer.compressed"
                        ".MAX_EXPANSION / MAX_DECOMPRESSED_BYTES)"
                    )
                out.write(chunk)
    except CompressedInputError:
        raise
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile, lzma.LZMAError) as exc:
        if isinstance(exc, OSError) and exc.errno is not None:  # the disk, not the file
            raise CompressedInputError(f"cannot decompress {source} into {target.parent}: {exc}") from exc
        raise CompressedInputError(f"input {source} is not a readable compressed file: {exc}") from exc


def open_input(
    source: Path,
    folder: Path,
    *,
    format: str | None,
    limit: int | None = None,
    prefix: int | None = None,
) -> Opened:
    """``source`` as a plain file: itself when it is not compressed, else the file it holds,
    decompressed into ``folder`` (which the caller removes).

    ``format``: the mapping's format (None: not known yet), so that an .xlsx workbook, itself a zip,
    is not taken for an archive holding one.
    ``limit``: the most bytes to decompress (default ``decompression_limit``). ``prefix``: only the
    first bytes of a text export, cut at a line end (a proposal reads a sample, not the file).
    """
    source = Path(source)
    kind = compression_of(source)
    if kind is None:
        return Opened(source, source)
    bound = decompression_limit(source.stat().st_size) if limit is None else limit
    folder.mkdir(parents=True, exist_ok=True)
    if kind != "zip":
        target = folder / _inner_name(source)
        with _READERS[kind](source) as stream:
            _copy_bounded(stream, target, source=source, limit=bound, prefix=prefix)
        return Opened(source, target, kind)
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as exc:
        raise CompressedInputError(f"input {source} is not a readable zip archive: {exc}") from exc
    with archive:
        if _is_workbook(archive):
            if format in ("xlsx", None):
                return Opened(source, source)
            raise CompressedInputError(
                f"input {source} is an Excel workbook, not {format.upper()}; is it the right file, "
                "or should the mapping say format: xlsx?"
            )
        members = _members(archive)
        if len(members) != 1:
            listed = ", ".join(m.filename for m in members[:10]) + (" ..." if len(members) > 10 else "")
            held = f"holds {len(members)} files ({listed})" if members else "holds no file"
            raise CompressedInputError(
                f"input {source} {held}; a zipped export must hold exactly one: unzip it and pass "
                "the export(s) themselves"
            )
        (member,) = members
        if member.flag_bits & 0x1:
            raise CompressedInputError(f"input {source}: its member {member.filename} is password-protected")
        if member.file_size > bound and prefix is None:
            raise CompressedInputError(
                f"input {source}: its member {member.filename} is {member.file_size:,} bytes, more than "
                f"the {bound:,} allowed ({MAX_EXPANSION}x the archive, at most {MAX_DECOMPRESSED_BYTES:,}; "
                "rmnlora.agents.harmonizer.compressed.MAX_EXPANSION / MAX_DECOMPRESSED_BYTES)"
            )
        free = shutil.disk_usage(folder).free
        if member.file_size > free and prefix is None:
            raise CompressedInputError(
                f"input {source}: its member {member.filename} ({member.file_size:,} bytes) does not fit "
                f"in the {free:,} bytes free in {folder}"
            )
        target = folder / Path(member.filename).name
        try:
            unpacked = archive.open(member)
        except (NotImplementedError, zipfile.BadZipFile, OSError) as exc:  # e.g. an unknown method
            raise CompressedInputError(
                f"input {source}: cannot open its member {member.filename}: {exc}"
            ) from exc
        with unpacked:
            _copy_bounded(unpacked, target, source=source, limit=bound, prefix=prefix)
        return Opened(source, target, kind, member.filename)
