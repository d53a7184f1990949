"""The harmonizer run: raw exports → RMIS events + quarantine, streamed batch by batch.

``harmonize`` scans the inputs lazily, takes them in batches of ``batch_rows`` rows (so a file
larger than memory streams through), and for each batch runs the core (``core.stage_batch``),
marks repeats of earlier events (``dedup.DuplicateIndex``), writes the accepted events into month
partitions and the failed rows into quarantine parts (``sink``). Everything lands in a staging
folder first and is swapped into ``out`` only when the whole run succeeded. A compressed export
(gzip, zip, bzip2, xz: ``compressed``) is decompressed into that folder first and read as the plain
file it holds.
"""

from __future__ import annotations

import itertools
import shutil
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import polars as pl

from rmnlora.agents.harmonizer.compressed import CompressedInputError, Opened, open_input
from rmnlora.agents.harmonizer.core import RAGGED, SOURCE_FILE, SOURCE_ROW, stage_batch
from rmnlora.agents.harmonizer.dedup import DuplicateIndex
from rmnlora.agents.harmonizer.jsonreport import read_json_records
from rmnlora.agents.harmonizer.mapping import MappingError, RetailerMapping, resolve_mapping
from rmnlora.agents.harmonizer.products import GTIN14_PATTERN, crosswalk_path, product_coverage
from rmnlora.agents.harmonizer.ratios import RatioCheck, check_ratios, ratio_kind
from rmnlora.agents.harmonizer.sink import (
    EVENTS_COMPRESSION,
    EventWriter,
    compact_months,
    events_of,
    quarantine_of,
    retailer_folder,
)
from rmnlora.agents.harmonizer.values import console_number
from rmnlora.schemas.harmonize import HarmonizeRequest, HarmonizeSummary, HarmonizeTotals, RatioCheckResult
from rmnlora.schemas.rmis import PARTITION_COLUMN, QUARANTINE_SCHEMA, RMIS_EVENT_SCHEMA

__all__ = ["EVENTS_COMPRESSION", "HarmonizeError", "harmonize", "read_events", "read_quarantine"]

#: Rows per streamed batch: large enough that per-batch overhead vanishes, small enough that a
#: batch of wide text rows stays well under a gigabyte.
DEFAULT_BATCH_ROWS = 500_000

Progress = Callable[[str, int, int], None]


class HarmonizeError(RuntimeError):
    """An input or output problem that stops a harmonize run (bad file, unreadable format)."""


def _as_text(expr: pl.Expr) -> pl.Expr:
    return expr.cast(pl.String).str.strip_chars()


def export_frame(
    path: Path,
    mapping: RetailerMapping,
    *,
    row_index: str | None = None,
    n_rows: int | None = None,
    truncate_ragged: bool = False,
) -> pl.LazyFrame:
    """One export as its mapping's ``format`` reads it, every column: CSV, NDJSON and JSON values as
    text, Parquet and Excel cells typed as stored. The one place a format is dispatched on: the row
    count, the streamed read and the ratio sample all read the file through it.

    ``row_index``: a column numbering the data rows from 0; ``n_rows``: only the first rows;
    ``truncate_ragged``: read a CSV row with too many fields cut to the header's (the engine has
    already quarantined it).
    """
    if mapping.format == "csv":
        return pl.scan_csv(
            path,
            separator=mapping.delimiter,
            infer_schema=False,
            row_index_name=row_index,
            n_rows=n_rows,
            truncate_ragged_lines=truncate_ragged,
        )
    if mapping.format == "parquet":
        frame = pl.scan_parquet(path, row_index_name=row_index)
        return frame if n_rows is None else frame.head(n_rows)
    if mapping.format == "xlsx":
        table = read_sheet(path, mapping, n_rows=n_rows)
    elif mapping.format == "json":
        table = read_json_records(path, n_rows=n_rows)
    else:
        names = pl.scan_ndjson(path, infer_schema_length=1000).collect_schema().names()
        return pl.scan_ndjson(
            path, schema=dict.fromkeys(names, pl.String), row_index_name=row_index, n_rows=n_rows
        )
    return (table if row_index is None else table.with_row_index(row_index)).lazy()


def scan_input(
    path: Path,
    mapping: RetailerMapping,
    *,
    file_dtype: pl.DataType | None = None,
    ragged: dict[int, str] | None = None,
    name: str | None = None,
) -> pl.LazyFrame:
    """Lazily scan one export's mapped columns with its row index and file name; CSV/NDJSON values
    stay text.

    ``file_dtype``: the type of the file-name column, String by default; ``harmonize`` passes an
    Enum of all its inputs so the name costs 4 bytes a row instead of a copy of the path per row.
    ``ragged``: data row index → why its fields do not line up (``ragged_rows``); those rows get a
    ``_ragged`` detail and are quarantined, the file is read with over-long rows truncated.
    ``name``: the file as outputs and messages name it (the compressed file a decompressed ``path``
    came from); ``path`` by default.
    """
    path = Path(path)
    name = str(path) if name is None else name
    if not path.is_file():
        raise HarmonizeError(f"input {name} does not exist or is not a file")
    try:
        frame = export_frame(path, mapping, row_index=SOURCE_ROW, truncate_ragged=ragged is not None)
        names = frame.collect_schema().names()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise HarmonizeError(f"cannot read {name} as {mapping.format}: {exc}") from exc
    absent = [column for column in mapping.columns if column not in names]
    if absent:
        raise MappingError(
            f"{Path(name).name}: mapped column(s) {absent} not in the file (its columns: {names[1:]}); "
            "check the delimiter/format or run with --propose"
        )
    file = pl.lit(name, dtype=file_dtype or pl.String())
    # only the mapped columns: the reader then skips the rest of a wide export instead of parsing it
    selected = frame.select(
        pl.col(SOURCE_ROW).cast(pl.Int64), *(pl.col(c) for c in mapping.columns), file.alias(SOURCE_FILE)
    )
    if ragged is None:
        return selected
    table = pl.LazyFrame(
        {SOURCE_ROW: list(ragged), RAGGED: list(ragged.values())},
        schema={SOURCE_ROW: pl.Int64, RAGGED: pl.String},
    )
    return selected.join(table, on=SOURCE_ROW, how="left", maintain_order="left")


def ragged_rows(path: Path, delimiter: str) -> dict[int, str]:
    """Data row index → 'line N has M fields, its header K' for every CSV record whose field count
    differs from the header's.

    Why a pass of its own: Polars reads only the mapped columns, and then a row with a field too
    many or too few is read shifted or padded without a word. The pass reads the file as plain
    lines and counts the delimiters outside quotes (one vectorised scan); only when some line
    differs are its records re-read with Python's csv module, which knows every quoting rule.
    """
    lines = pl.scan_csv(
        path, has_header=False, separator="\x1f", quote_char=None, infer_schema=False, new_columns=["line"]
    )
    line = pl.col("line")
    if _holds(path, b'"'):  # quoted values may hold the delimiter: count only the ones outside quotes
        line = line.str.replace_all(r'"[^"]*"', "")
    counts = lines.select(line.str.count_matches(delimiter, literal=True).alias("n")).with_row_index("i")
    try:
        odd = counts.filter(pl.col("n") != pl.first("n")).head(1).collect()
    except pl.exceptions.PolarsError:
        odd = pl.DataFrame({"i": [1]})  # unreadable as lines: let the csv module decide
    if odd.height == 0:
        return {}
    return _ragged_records(path, delimiter)


def _holds(path: Path, needle: bytes) -> bool:
    """Whether the file holds ``needle`` anywhere (memchr over a memory map: ~0.01 s per 100 MB)."""
    import mmap

    if path.stat().st_size == 0:
        return False
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return data.find(needle) >= 0


def _ragged_records(path: Path, delimiter: str) -> dict[int, str]:
    import csv

    found: dict[int, str] = {}
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as handle:
        rows = csv.reader(handle, delimiter=delimiter)
        header = next(rows, None)
        if header is None:
            return found
        for index, row in enumerate(rows):
            if row and len(row) != len(header):
                found[index] = f"line {rows.line_num} has {len(row)} fields, its header {len(header)}"
    return found


def read_sheet(path: Path, mapping: RetailerMapping, n_rows: int | None = None) -> pl.DataFrame:
    """A worksheet of an .xlsx export (calamine): typed cells stay typed (dates, numbers), a column
    mixing types (a '--' among numbers) is read as text, which the parsers then read as consoles
    write it. Excel files are not streamed; a console's report is a few hundred thousand rows."""
    options: dict[str, Any] = {"engine": "calamine", "infer_schema_length": None}
    if mapping.sheet is not None:
        options["sheet_name"] = mapping.sheet
    if n_rows is not None:
        options["read_options"] = {"n_rows": n_rows}
    frame = pl.read_excel(path, **options)
    assert isinstance(frame, pl.DataFrame)
    return frame


def read_crosswalk(mapping: RetailerMapping, base_dir: Path) -> pl.DataFrame | None:
    """The mapping's product crosswalk as ``_xw_key`` → ``_xw_gtin`` (first row per key), or None
    when the mapping has none or its file is missing (products are then keyed by their retailer id)."""
    path = crosswalk_path(mapping, base_dir)
    if mapping.crosswalk is None or path is None or not path.is_file():
        return None  # the run goes on, products keep their retailer ids: summary.products says so
    try:
        return (
            pl.scan_csv(path, infer_schema=False)
            .select(
                _as_text(pl.col(mapping.crosswalk.key_column)).alias("_xw_key"),
                pl.col(mapping.crosswalk.gtin_column).alias("_xw_gtin"),
            )
            .unique(subset="_xw_key", keep="first", maintain_order=True)
            .collect()
        )
    except pl.exceptions.PolarsError as exc:
        raise HarmonizeError(f"cannot read crosswalk {path}: {exc}") from exc


def default_fx() -> dict[str, float]:
    """The FX table shipped with the examples: USD per unit of each currency."""
    import importlib.resources

    import yaml

    text = (importlib.resources.files("rmnlora.datagen") / "fx_usd.yaml").read_text(encoding="utf-8")
    return {str(k): float(v) for k, v in yaml.safe_load(text)["usd_per_unit"].items()}


def fx_to_target(usd_per_unit: Mapping[str, float], target: str) -> dict[str, float]:
    """Re-base a USD-quoted table onto ``target``: units of target per unit of each currency."""
    if target not in usd_per_unit:
        raise HarmonizeError(f"target currency {target} is not in the FX table ({', '.join(usd_per_unit)})")
    base = usd_per_unit[target]
    return {code: rate / base for code, rate in usd_per_unit.items()}


def count_rows(path: Path, mapping: RetailerMapping) -> int:
    """Rows in a raw export, counted independently of the harmonize pipeline."""
    return int(export_frame(path, mapping).select(pl.len()).collect().item())


_PARQUET_MAGIC = b"PAR1"


def _open_inputs(inputs: list[Path], mapping: RetailerMapping, folder: Path) -> list[Opened]:
    """Every input as a plain file; a compressed one decompressed into its own subfolder of
    ``folder`` (two inputs may hold files of the same name)."""
    opened = []
    for index, path in enumerate(inputs):
        if not path.is_file():
            raise HarmonizeError(f"input {path} does not exist or is not a file")
        try:
            opened.append(open_input(path, folder / str(index), format=mapping.format))
        except CompressedInputError as exc:
            raise HarmonizeError(str(exc)) from exc
        except OSError as exc:
            raise HarmonizeError(f"cannot read input {path}: {exc}") from exc
    return opened


def _checked_row_count(opened: Opened, mapping: RetailerMapping, out: Path) -> int:
    """Rows in one input, refusing before anything is written: a missing, empty, binary or
    header-only file is an error naming it (a 0-row run would replace an earlier good output)."""
    path, label = opened.path, opened.label
    held = " decompressed" if opened.compression else ""
    if not path.is_file():
        raise HarmonizeError(f"input {label} does not exist or is not a file")
    if path.stat().st_size == 0:
        raise HarmonizeError(f"input {label} is empty (0 bytes{held}); nothing was written to {out}")
    with path.open("rb") as handle:
        head = handle.read(4096)
    if mapping.format == "parquet":
        if not head.startswith(_PARQUET_MAGIC):
            raise HarmonizeError(f"input {label} is not a Parquet file (the mapping says format: parquet)")
    elif mapping.format == "xlsx":
        if not head.startswith(b"PK\x03\x04"):
            raise HarmonizeError(f"input {label} is not an .xlsx workbook (the mapping says format: xlsx)")
    elif head.count(b"\x00") > len(head) // 10:  # a stray NUL in one value is that row's problem
        raise HarmonizeError(
            f"input {label} is binary (NUL bytes in its first 4 KB{held}), not {mapping.format.upper()} "
            "text; is it the right file, or UTF-16 text (save it as UTF-8)?"
        )
    try:
        rows = count_rows(path, mapping)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise HarmonizeError(f"cannot read {label} as {mapping.format}: {exc}") from exc
    if rows == 0:
        raise HarmonizeError(
            f"input {label} has no data rows (only a header?); nothing was written, so the output in "
            f"{out} is unchanged"
        )
    return rows


def harmonize(
    request: HarmonizeRequest,
    *,
    mapping: RetailerMapping | None = None,
    fx: dict[str, float] | None = None,
    progress: Progress | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> HarmonizeSummary:
    """Harmonize one retailer's exports into ``out/events`` (RMIS, partitioned by retailer and month).

    Quarantined rows go to ``out/quarantine.parquet`` (rows of other retailers already there are
    kept). ``fx`` is units of the target currency per unit of each currency; default: the shipped
    example table re-based onto ``request.target_currency``. rows_in is counted from the inputs
    independently and must equal accepted + quarantined, or the run fails. ``progress`` is called
    as ``(stage, rows done, rows in)`` after every batch.
    """
    report = progress or (lambda stage, done, total: None)
    mapping = mapping or resolve_mapping(request.retailer, mapping_file=request.mapping)
    retailer = request.retailer
    rates = dict(fx) if fx is not None else fx_to_target(default_fx(), request.target_currency)
    rates.setdefault(request.target_currency, 1.0)
    inputs = [Path(p) for p in request.inputs]
    out = Path(request.out)
    # the run's own folder: decompressed inputs and each attempt's outputs, removed at the end
    run_folder = out / f".staging-{uuid.uuid4().hex[:8]}"
    out_existed = out.exists()
    try:
        opened = _open_inputs(inputs, mapping, run_folder / "inputs")
        rows_in = sum(_checked_row_count(item, mapping, out) for item in opened)
        report("counted", 0, rows_in)
        crosswalk = read_crosswalk(mapping, inputs[0].parent)
        out.mkdir(parents=True, exist_ok=True)
        _run(opened, mapping, request, rates, crosswalk, run_folder, report, rows_in, batch_rows)
        checks = mapping_ratio_checks([item.path for item in opened], mapping)
    finally:
        shutil.rmtree(run_folder, ignore_errors=True)
        if not out_existed and out.is_dir() and not any(out.iterdir()):
            out.rmdir()  # refused before anything was written: leave no empty folder behind

    summary = summarize(out, retailer, rows_in=rows_in, mapping=mapping, base_dir=inputs[0].parent)
    summary.ratio_checks = [
        RatioCheckResult(
            column=c.column,
            kind=c.kind,
            rows_checked=c.rows_checked,
            agreement=c.agreement,
            passed=c.passed,
            evidence=c.evidence,
        )
        for c in checks
    ]
    summary.warnings = [f"the mapping may be wrong: {c.describe()}" for c in checks if not c.passed]
    report("done", rows_in, rows_in)
    return summary


def _run(
    opened: list[Opened],
    mapping: RetailerMapping,
    request: HarmonizeRequest,
    rates: dict[str, float],
    crosswalk: pl.DataFrame | None,
    run_folder: Path,
    report: Progress,
    rows_in: int,
    batch_rows: int,
) -> None:
    """Stream the inputs into a staging folder and publish it; once more, with every ragged row
    quarantined, when the reader met a row the line count could not see."""
    out, retailer = Path(request.out), request.retailer
    file_names = pl.Enum(list(dict.fromkeys(str(item.source) for item in opened)))
    ragged: dict[Path, dict[int, str]] | None = None
    if mapping.format == "csv":
        ragged = {item.path: ragged_rows(item.path, mapping.delimiter) for item in opened}
        if not any(ragged.values()):
            ragged = None  # every row lines up: the fast path
    for attempt in itertools.count():
        scans = [
            scan_input(
                item.path,
                mapping,
                file_dtype=file_names,
                ragged=None if ragged is None else ragged.get(item.path, {}),
                name=str(item.source),
            )
            for item in opened
        ]
        raw = pl.concat(scans, how="diagonal_relaxed") if len(scans) > 1 else scans[0]
        staging = run_folder / f"attempt-{attempt}"
        (staging / "quarantine").mkdir(parents=True)
        try:
            _stream(raw, mapping, request, rates, crosswalk, staging, report, rows_in, batch_rows)
            _publish(staging, out, retailer)
            return
        except pl.exceptions.PolarsError as exc:
            if ragged is None and mapping.format == "csv":  # a row the line count could not see
                ragged = {item.path: _ragged_records(item.path, mapping.delimiter) for item in opened}
                if any(ragged.values()):
                    continue  # again, over-long rows truncated and every ragged row quarantined
            names = ", ".join(item.label for item in opened)
            raise HarmonizeError(
                f"harmonizing {retailer} failed reading or writing ({names}): {exc}"
            ) from exc
        finally:
            shutil.rmtree(staging, ignore_errors=True)


#: Rows of each input the ratio checks read: enough to see a wrong mapping, cheap on any file.
RATIO_SAMPLE_ROWS = 20_000


def mapping_ratio_checks(inputs: list[Path], mapping: RetailerMapping) -> list[RatioCheck]:
    """The export's ratio columns (the mapping's ``ratio_checks``, and any unmapped column named
    like one) checked against the mapped base measures on the first rows of each input."""
    checks: list[RatioCheck] = []
    for path in inputs:
        try:
            # a ragged row (quarantined by the run) must not void the checks
            sample = export_frame(path, mapping, n_rows=RATIO_SAMPLE_ROWS, truncate_ragged=True).collect()
        except (pl.exceptions.PolarsError, OSError):
            continue  # the run itself read the file; a sample it cannot re-read checks nothing
        sample = sample.select(pl.all().cast(pl.String))
        named = {
            column: kind
            for column in sample.columns
            if column not in mapping.columns and (kind := ratio_kind(column)) is not None
        }
        ratio_columns = {**named, **mapping.ratio_checks}
        if mapping.money_scale != 1.0:  # amounts in cents: put them in currency units first
            for column, field in mapping.columns.items():
                if field in ("spend", "attributed_sales") and column in sample.columns:
                    scaled = console_number(sample[column], decimal_comma=mapping.decimal_comma).value
                    sample = sample.with_columns((scaled * mapping.money_scale).cast(pl.String).alias(column))
        checks.extend(
            check_ratios(sample, mapping.columns, ratio_columns, decimal_comma=mapping.decimal_comma)
        )
    return checks


def _stream(
    raw: pl.LazyFrame,
    mapping: RetailerMapping,
    request: HarmonizeRequest,
    rates: dict[str, float],
    crosswalk: pl.DataFrame | None,
    staging: Path,
    report: Progress,
    rows_in: int,
    batch_rows: int,
) -> None:
    """Every batch staged, de-duplicated and written into ``staging``; crowded month folders merged."""
    retailer = request.retailer
    duplicates = DuplicateIndex()
    done = 0
    with EventWriter(staging / "events", retailer) as writer:
        for number, batch in enumerate(raw.collect_batches(chunk_size=batch_rows)):
            staged = stage_batch(
                batch,
                mapping,
                fx=rates,
                crosswalk=crosswalk,
                retailer=retailer,
                target_currency=request.target_currency,
            )
            marked = duplicates.mark(staged.frame)
            writer.write(events_of(marked), number)
            failed = quarantine_of(marked, list(mapping.columns), retailer, staged.detail)
            if failed.height:
                failed.write_parquet(staging / "quarantine" / f"part-{number:05d}.parquet")
            done += batch.height
            report("harmonizing", done, rows_in)
    report("merging month files", done, rows_in)
    compact_months(staging / "events", retailer)


def _publish(staging: Path, out: Path, retailer: str) -> None:
    """Swap this retailer's partition and quarantine rows into ``out``; other retailers are untouched.

    The merged quarantine file is written inside the staging folder first, so what remains after
    that are two renames: a failure before them leaves ``out`` as it was.
    """
    schema = [pl.col(k).cast(v) for k, v in QUARANTINE_SCHEMA.items()]
    parts = [
        pl.scan_parquet(path).select(schema) for path in sorted((staging / "quarantine").glob("*.parquet"))
    ]
    existing_path = out / "quarantine.parquet"
    if existing_path.exists():
        parts.insert(0, pl.scan_parquet(existing_path).filter(pl.col("retailer") != retailer).select(schema))
    merged = staging / "quarantine.parquet"
    # streamed: a run that quarantines millions of rows need not hold them in memory
    (pl.concat(parts) if parts else pl.LazyFrame(schema=QUARANTINE_SCHEMA)).sink_parquet(merged)

    events_root = out / "events"
    events_root.mkdir(exist_ok=True)
    target = retailer_folder(events_root, retailer)
    if target.exists():
        shutil.rmtree(target)
    produced = retailer_folder(staging / "events", retailer)
    if produced.exists():
        shutil.move(str(produced), str(target))
    merged.replace(existing_path)


def read_events(out_dir: Path | str, retailer: str | None = None) -> pl.LazyFrame:
    """The harmonized RMIS events under ``out_dir`` (its ``events`` folder, the folder itself, or
    one ``retailer=R`` folder), in RMIS columns. Each file's rows are in date order; files are read
    month by month in batch order, so sort when the order matters.

    The retailer comes from its partition folder (the files do not hold it). Outputs of the earlier
    layout (day folders, the retailer inside the files, event_id as decimal text) read the same.
    """
    root = Path(out_dir)
    if (root / "events").is_dir():
        root = root / "events"
    prefix = f"{PARTITION_COLUMN}="
    if root.name.startswith(prefix):  # one retailer's partition given directly
        folders = [root] if retailer is None or root.name == prefix + retailer else []
    elif retailer is not None:
        folders = [retailer_folder(root, retailer)]
    else:
        folders = sorted(root.glob(prefix + "*")) if root.is_dir() else []
    scans = []
    for folder in folders:
        files = sorted(folder.glob("*/*.parquet"))
        if files:
            name = folder.name.removeprefix(prefix)
            scans.append(
                pl.scan_parquet(files, hive_partitioning=False).select(
                    pl.lit(name, dtype=pl.String).alias(column)
                    if column == PARTITION_COLUMN
                    else pl.col(column).cast(dtype)
                    for column, dtype in RMIS_EVENT_SCHEMA.items()
                )
            )
    if not scans:
        return pl.LazyFrame(schema=RMIS_EVENT_SCHEMA)
    return scans[0] if len(scans) == 1 else pl.concat(scans)


def read_quarantine(out_dir: Path | str, retailer: str | None = None) -> pl.DataFrame:
    path = Path(out_dir) / "quarantine.parquet"
    if not path.exists():
        return pl.DataFrame(schema=QUARANTINE_SCHEMA)
    frame = pl.read_parquet(path)
    return frame if retailer is None else frame.filter(pl.col("retailer") == retailer)


def summarize(
    out_dir: Path,
    retailer: str,
    *,
    rows_in: int,
    mapping: RetailerMapping | None = None,
    base_dir: Path | None = None,
) -> HarmonizeSummary:
    """Counts and totals of one retailer's published outputs; enforces rows_in = accepted + quarantined.

    With ``mapping``, also how the events name their products (``products``), from the same scan;
    a relative crosswalk is looked for in ``base_dir``."""
    stats = (
        read_events(out_dir, retailer)
        .select(
            pl.len().alias("n"),
            pl.col("impressions").sum(),
            pl.col("clicks").sum(),
            pl.col("spend").sum(),
            pl.col("attributed_sales").sum(),
            pl.col("gtin14").str.contains(GTIN14_PATTERN).sum().alias("by_gtin"),
        )
        .collect()
        .row(0, named=True)
    )
    quarantine = read_quarantine(out_dir, retailer)
    reasons = {str(k): int(v) for k, v in quarantine.group_by("reason").len().sort("reason").iter_rows()}
    accepted, quarantined = int(stats["n"]), quarantine.height
    if accepted + quarantined != rows_in:
        raise HarmonizeError(
            f"row accounting broken for {retailer}: {rows_in} in, "
            f"{accepted} accepted + {quarantined} quarantined"
        )
    totals: dict[str, Any] = {
        "impressions": int(stats["impressions"] or 0),
        "clicks": int(stats["clicks"] or 0),
        "spend": float(stats["spend"] or 0.0),
        "attributed_sales": float(stats["attributed_sales"] or 0.0),
    }
    return HarmonizeSummary(
        retailer=retailer,
        rows_in=rows_in,
        rows_accepted=accepted,
        rows_quarantined=quarantined,
        quarantine_reasons=reasons,
        totals=HarmonizeTotals(**totals),
        output=str(Path(out_dir).resolve()),
        products=None
        if mapping is None
        else product_coverage(accepted, int(stats["by_gtin"] or 0), mapping, base_dir or Path(".")),
    )
