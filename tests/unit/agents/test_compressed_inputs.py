"""Compressed exports (x.csv.gz, x.csv.zip, x.ndjson.gz, a zipped workbook) harmonize to exactly the
events and quarantine of the plain file, through `harmonize`, the planner's phase, the CLI and
`--propose`; a zip that does not hold one export, or a bomb, is an error naming the file."""

from __future__ import annotations

import bz2
import copy
import gzip
import json
import lzma
import shutil
import zipfile
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from rmnlora.agents.harmonizer import HarmonizeError, MappingError, harmonize, read_events, read_quarantine
from rmnlora.agents.harmonizer import compressed as compressed_module
from rmnlora.agents.harmonizer.propose import propose_mapping
from rmnlora.cli import app
from rmnlora.datagen import GroundTruth, generate_exports
from rmnlora.schemas.brief import parse_brief
from rmnlora.schemas.harmonize import HarmonizeRequest, HarmonizeSummary
from tests.support.planner_fixtures import BASE_BRIEF
from tests.unit.agents.test_console_values import _console_report


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> tuple[GroundTruth, Path]:
    folder = tmp_path_factory.mktemp("exports")
    return generate_exports(folder, seed=11, days=14, markets=3, products=2), folder


@pytest.fixture(scope="module")
def ragged_walmart(exports: tuple[GroundTruth, Path]) -> Path:
    """The Walmart export with a row a field too long and one cut short, as a broken console
    download has them; the rest keeps its planted bad rows."""
    truth, folder = exports
    lines = Path(truth.retailers["walmart"].files[0]).read_text(encoding="utf-8").splitlines()
    short = ";".join(lines[6].split(";")[:4])
    path = folder / "walmart_ragged.csv"
    path.write_text("\n".join([*lines[:3], lines[3] + ";extra", *lines[4:9], short, *lines[9:]]) + "\n")
    return path


def _gzip(path: Path, target: Path) -> Path:
    target.write_bytes(gzip.compress(path.read_bytes()))
    return target


def _zip(target: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return target


def _compress(path: Path, kind: str, folder: Path) -> Path:
    data = path.read_bytes()
    if kind == "gzip":
        return _gzip(path, folder / f"{path.name}.gz")
    if kind == "zip":  # as a console zips a download: a folder inside, and macOS's resource fork
        return _zip(
            folder / f"{path.name}.zip",
            {f"report/{path.name}": data, f"__MACOSX/report/._{path.name}": b"\0"},
        )
    if kind == "bzip2":
        target = folder / f"{path.name}.bz2"
        target.write_bytes(bz2.compress(data))
        return target
    if kind == "xz":
        target = folder / f"{path.name}.xz"
        target.write_bytes(lzma.compress(data))
        return target
    # gzip bytes under the plain name: the first bytes decide, not the name
    target = folder / path.name
    target.write_bytes(gzip.compress(data))
    return target


def _with_crosswalk(exports: tuple[GroundTruth, Path], folder: Path) -> None:
    """Amazon's ASIN crosswalk beside the compressed copies, where its mapping looks for it."""
    shutil.copy(exports[1] / "amazon_asin_crosswalk.csv", folder)


def _outputs(out: Path, retailer: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    events = read_events(out, retailer).collect().sort("event_id")
    quarantine = read_quarantine(out, retailer).sort("source_row")
    return events, quarantine


def _assert_same_run(
    plain: HarmonizeSummary, packed: HarmonizeSummary, plain_out: Path, packed_out: Path, source: Path
) -> None:
    assert packed.model_dump(exclude={"output", "totals"}) == plain.model_dump(exclude={"output", "totals"})
    # sums over many day files run in parallel, so only their last bits may differ
    assert packed.totals.model_dump() == pytest.approx(plain.totals.model_dump(), rel=1e-12)
    assert packed.rows_in == packed.rows_accepted + packed.rows_quarantined
    events, quarantine = _outputs(plain_out, plain.retailer)
    packed_events, packed_quarantine = _outputs(packed_out, packed.retailer)
    assert packed_events.equals(events)
    # the same rows, reasons, details (line numbers included) and source rows; named by the file given
    assert packed_quarantine.drop("source_file").equals(quarantine.drop("source_file"))
    assert set(packed_quarantine["source_file"]) == {str(source)}
    assert not any(p.name.startswith(".staging") for p in packed_out.iterdir())


@pytest.mark.parametrize("kind", ["gzip", "zip", "bzip2", "xz", "gzip named .csv"])
def test_a_compressed_csv_gives_the_plain_files_events_and_quarantine(
    kind: str, ragged_walmart: Path, tmp_path: Path
) -> None:
    plain = harmonize(HarmonizeRequest(inputs=[ragged_walmart], retailer="walmart", out=tmp_path / "plain"))
    assert plain.quarantine_reasons["ragged_row"] == 2
    packed_file = _compress(ragged_walmart, kind, tmp_path)
    packed = harmonize(
        HarmonizeRequest(inputs=[packed_file], retailer="walmart", out=tmp_path / "packed"), batch_rows=50
    )
    _assert_same_run(plain, packed, tmp_path / "plain", tmp_path / "packed", packed_file)
    ragged = read_quarantine(tmp_path / "packed").filter(pl.col("reason") == "ragged_row")
    header = ragged_walmart.read_text().splitlines()[0].count(";") + 1
    assert sorted(ragged["detail"]) == [
        f"line 10 has 4 fields, its header {header}",
        f"line 4 has {header + 1} fields, its header {header}",
    ]


def test_a_gzipped_ndjson_report_and_a_zipped_parquet_give_the_plain_results(
    exports: tuple[GroundTruth, Path], tmp_path: Path
) -> None:
    truth, _ = exports
    _with_crosswalk(exports, tmp_path)
    for retailer, packer in (("amazon", "gzip"), ("kroger", "zip")):
        source = Path(truth.retailers[retailer].files[0])
        packed_file = _compress(source, packer, tmp_path)
        out = tmp_path / retailer
        plain = harmonize(HarmonizeRequest(inputs=[source], retailer=retailer, out=out / "plain"))
        packed = harmonize(HarmonizeRequest(inputs=[packed_file], retailer=retailer, out=out / "packed"))
        assert packed.rows_accepted == truth.retailers[retailer].rows_accepted
        assert packed.quarantine_reasons == truth.retailers[retailer].quarantine
        _assert_same_run(plain, packed, out / "plain", out / "packed", packed_file)
    renamed = tmp_path / "amazon_ads_report.ndjson.gz"  # the name an API download gets
    _gzip(Path(truth.retailers["amazon"].files[0]), renamed)
    summary = harmonize(HarmonizeRequest(inputs=[renamed], retailer="amazon", out=tmp_path / "renamed"))
    assert summary.rows_accepted == truth.retailers["amazon"].rows_accepted
    assert summary.totals.spend == pytest.approx(truth.retailers["amazon"].totals_usd["spend"], rel=1e-9)


def test_plain_and_compressed_inputs_mix_in_one_run_and_the_phase_reads_them(
    exports: tuple[GroundTruth, Path], tmp_path: Path
) -> None:
    from rmnlora.agents.harmonizer.phase import harmonize_brief

    truth, _ = exports
    walmart = Path(truth.retailers["walmart"].files[0])
    later = tmp_path / "walmart_later.csv"
    pl.read_csv(walmart, separator=";", infer_schema=False).head(40).with_columns(
        pl.lit("31/31/2025").alias("Date")
    ).write_csv(later, separator=";")
    packed = _compress(later, "gzip", tmp_path)
    summary = harmonize(HarmonizeRequest(inputs=[walmart, packed], retailer="walmart", out=tmp_path / "mix"))
    assert summary.rows_in == truth.retailers["walmart"].rows_written + 40
    bad = read_quarantine(tmp_path / "mix").filter(pl.col("source_file") == str(packed))
    assert bad["reason"].unique().to_list() == ["unparseable_date"]
    assert sorted(bad["source_row"]) == list(range(40))

    _with_crosswalk(exports, tmp_path)
    brief = copy.deepcopy(BASE_BRIEF)
    packers = {"walmart": "zip", "amazon": "gzip", "kroger": "gzip"}
    for retailer in brief["retailers"]:
        source = Path(truth.retailers[retailer["name"]].files[0])
        retailer["data"] = [str(_compress(source, packers[retailer["name"]], tmp_path))]
    result = harmonize_brief(parse_brief(brief), tmp_path / "phase")
    assert result.errors == {}
    for item in result.summaries:
        expected = truth.retailers[item.retailer]
        assert (item.rows_accepted, item.quarantine_reasons) == (expected.rows_accepted, expected.quarantine)
        assert item.totals.spend == pytest.approx(expected.totals_usd["spend"], rel=1e-9)


def _unchanged_after(out: Path, bad: Path, retailer: str, match: str) -> None:
    before = sorted((p.relative_to(out), p.stat().st_mtime_ns) for p in out.rglob("*"))
    with pytest.raises(HarmonizeError, match=match) as error:
        harmonize(HarmonizeRequest(inputs=[bad], retailer=retailer, out=out))
    assert str(bad) in str(error.value)
    assert sorted((p.relative_to(out), p.stat().st_mtime_ns) for p in out.rglob("*")) == before


def test_a_zip_that_does_not_hold_one_export_is_an_error_naming_its_members(
    exports: tuple[GroundTruth, Path], tmp_path: Path
) -> None:
    truth, _ = exports
    walmart = Path(truth.retailers["walmart"].files[0])
    out = tmp_path / "out"
    harmonize(HarmonizeRequest(inputs=[walmart], retailer="walmart", out=out))
    several = _zip(tmp_path / "reports.zip", {"week1.csv": walmart.read_bytes(), "week2.csv": b"a;b\n1;2\n"})
    _unchanged_after(out, several, "walmart", r"holds 2 files \(week1\.csv, week2\.csv\).*exactly one")
    empty = _zip(tmp_path / "empty.zip", {})
    _unchanged_after(out, empty, "walmart", "holds no file")
    truncated = tmp_path / "cut.csv.gz"
    truncated.write_bytes(gzip.compress(walmart.read_bytes())[:-40])
    _unchanged_after(out, truncated, "walmart", "not a readable compressed file")
    zstd = tmp_path / "report.csv.zst"
    zstd.write_bytes(b"\x28\xb5\x2f\xfd" + b"\x00" * 64)
    _unchanged_after(out, zstd, "walmart", "zstd-compressed, which harmonize cannot read")
    nothing = tmp_path / "nothing.csv.gz"
    nothing.write_bytes(gzip.compress(b""))
    _unchanged_after(out, nothing, "walmart", r"is empty \(0 bytes decompressed\)")
    # refused before anything was written: a new output folder is not even created
    with pytest.raises(HarmonizeError, match="holds 2 files"):
        harmonize(HarmonizeRequest(inputs=[several], retailer="walmart", out=tmp_path / "new"))
    assert not (tmp_path / "new").exists()


def test_a_bomb_stops_at_the_bound_instead_of_filling_the_disk(
    exports: tuple[GroundTruth, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    truth, _ = exports
    walmart = Path(truth.retailers["walmart"].files[0])
    header, first = walmart.read_text().splitlines()[:2]
    text = (header + "\n" + (first + "\n") * 60_000).encode()  # ~6 MB of one repeated row
    monkeypatch.setattr(compressed_module, "MIN_DECOMPRESSED_BYTES", 2**20)
    bomb = tmp_path / "bomb.csv.gz"
    bomb.write_bytes(gzip.compress(text, compresslevel=9))
    assert len(text) > 100 * bomb.stat().st_size  # over 100x: the kind of file the bound exists for
    out = tmp_path / "out"
    harmonize(HarmonizeRequest(inputs=[walmart], retailer="walmart", out=out))
    limit = compressed_module.decompression_limit(bomb.stat().st_size)
    _unchanged_after(out, bomb, "walmart", f"decompresses to more than {limit:,} bytes")
    zipped = _zip(tmp_path / "bomb.zip", {"bomb.csv": text})
    limit = compressed_module.decompression_limit(zipped.stat().st_size)
    _unchanged_after(
        out, zipped, "walmart", f"its member bomb.csv is {len(text):,} bytes, more than the {limit:,}"
    )


def test_the_cli_reads_a_gzip_and_names_a_bad_zip_without_a_traceback(
    ragged_walmart: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    env = {"RMN_DATA_DIR": str(tmp_path / "data"), "RMN_MODEL__ENABLED": "false"}
    packed = _compress(ragged_walmart, "gzip", tmp_path)
    results = [
        runner.invoke(
            app,
            ["harmonize", str(path), "--retailer", "walmart", "--out", str(tmp_path / name), "--json"],
            env=env,
        )
        for path, name in ((ragged_walmart, "plain"), (packed, "packed"))
    ]
    assert [r.exit_code for r in results] == [0, 0], results[1].output
    plain, from_gzip = (json.loads(r.stdout) for r in results)
    assert from_gzip["totals"] == pytest.approx(plain["totals"], rel=1e-12)  # sums run in parallel
    same = {k: v for k, v in plain.items() if k not in ("output", "totals")}
    assert {k: v for k, v in from_gzip.items() if k not in ("output", "totals")} == same
    several = _zip(tmp_path / "two.zip", {"a.csv": b"x\n1\n", "b.csv": b"x\n2\n"})
    for extra in (["--out", str(tmp_path / "o")], ["--propose"]):
        result = runner.invoke(app, ["harmonize", str(several), "--retailer", "walmart", *extra], env=env)
        assert result.exit_code == 1
        assert "holds 2 files (a.csv, b.csv)" in " ".join(result.output.split())
        assert "Traceback" not in result.output and "unexpected" not in result.output


def test_a_proposal_from_a_compressed_report_is_the_plain_reports(tmp_path: Path) -> None:
    path, totals, good = _console_report(tmp_path)
    plain = propose_mapping(path, "amazon-console")
    packed = _gzip(path, tmp_path / f"{path.name}.gz")
    assert propose_mapping(packed, "amazon-console") == plain
    zipped = _zip(tmp_path / "report.zip", {path.name: path.read_bytes()})
    assert propose_mapping(zipped, "amazon-console") == plain
    summary = harmonize(
        HarmonizeRequest(inputs=[packed], retailer="amazon-console", out=tmp_path / "out"), mapping=plain
    )
    assert summary.rows_accepted == good
    assert summary.quarantine_reasons == {"negative_value": 1, "missing_required": 1, "unknown_product": 1}
    assert summary.totals.spend == pytest.approx(totals["spend"])
    assert all(c.passed for c in summary.ratio_checks) and len(summary.ratio_checks) == 4

    # the .xlsx download, zipped: a workbook is itself a zip, and the one inside an archive is found
    sheet = pl.read_csv(path, infer_schema=False)
    workbook = tmp_path / "Sponsored_Products_Advertised_product_report.xlsx"
    sheet.write_excel(workbook, worksheet="Sponsored Product Advertised P")
    zipped_book = _zip(tmp_path / "workbook.zip", {workbook.name: workbook.read_bytes()})
    proposal = propose_mapping(zipped_book, "amazon-console")
    assert proposal == propose_mapping(workbook, "amazon-console") and proposal.format == "xlsx"
    runs = [
        harmonize(HarmonizeRequest(inputs=[f], retailer="amazon-console", out=tmp_path / n), mapping=proposal)
        for f, n in ((workbook, "book"), (zipped_book, "zipped_book"))
    ]
    _assert_same_run(runs[0], runs[1], tmp_path / "book", tmp_path / "zipped_book", zipped_book)
    assert runs[1].totals.spend == pytest.approx(totals["spend"])


_MAGICS = [b"\x1f\x8b", b"PK\x03\x04", b"PK\x05\x06", b"BZh", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    magic=st.sampled_from(_MAGICS),
    body=st.binary(max_size=600),
    wrap=st.sampled_from(["raw", "gzip", "zip"]),
)
def test_any_bytes_behind_a_compression_magic_end_in_an_error_naming_the_file(
    tmp_path: Path, magic: bytes, body: bytes, wrap: str
) -> None:
    data = magic + body
    if wrap == "gzip":  # a valid stream holding garbage, or holding another compressed file
        data = gzip.compress(data)
    elif wrap == "zip":
        data = _zip(tmp_path / "inner.zip", {"x.csv": data}).read_bytes()
    bad = tmp_path / "export.csv.gz"
    bad.write_bytes(data)
    with pytest.raises((HarmonizeError, MappingError)) as error:  # text that parses: its columns are wrong
        harmonize(HarmonizeRequest(inputs=[bad], retailer="walmart", out=tmp_path / "out"))
    assert bad.name in str(error.value)
    assert not (tmp_path / "out").exists()
