"""Exports in the shapes retail media networks deliver (Amazon Ads console CSV/XLSX, Amazon Ads API
v3 gzip JSON, Walmart Connect snapshots, Criteo Retail Media), each with one planted bad row of
every kind it can hold: a proposal used unedited, and the shipped report mapping, give the exact
totals of the good rows and quarantine exactly the planted rows for their reasons; a mapping that
puts a ratio where spend belongs is flagged; a missing crosswalk lowers product coverage instead
of stopping the run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest
import yaml
from typer.testing import CliRunner

from rmnlora.agents.harmonizer import harmonize, read_events, read_quarantine
from rmnlora.agents.harmonizer.mapping import (
    RetailerMapping,
    report_mapping,
    shipped_reports,
    shipped_retailers,
)
from rmnlora.datagen.console_exports import NETWORK_SHAPES, SHAPES, ExportTruth, generate_network_exports
from rmnlora.schemas.harmonize import HarmonizeRequest, HarmonizeSummary

MEASURES = ("event_date", "gtin14", "impressions", "clicks", "spend", "attributed_sales", "units")
#: The exports every test reads: 28 days, 3 products, seed 0 (written once per session).
VARIANTS = [
    f"{name}.{fmt}"
    for name in NETWORK_SHAPES
    for fmt in (("json",) if SHAPES[name].format == "json" else ("csv", "xlsx"))
    if fmt != "xlsx" or name in ("amazon_sp_console", "amazon_sb_console", "amazon_sd_console")
]


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ExportTruth]:
    return generate_network_exports(tmp_path_factory.mktemp("networks"))


def _run(truth: ExportTruth, mapping: RetailerMapping, out: Path) -> HarmonizeSummary:
    request = HarmonizeRequest(inputs=[Path(truth.file)], retailer=truth.retailer, out=out)
    return harmonize(request, mapping=mapping)


def _assert_exact(truth: ExportTruth, summary: HarmonizeSummary, out: Path) -> None:
    assert summary.rows_in == truth.rows_written
    assert summary.rows_accepted == truth.rows_accepted
    quarantined = read_quarantine(out, truth.retailer)
    assert dict(zip(quarantined["source_row"], quarantined["reason"], strict=True)) == truth.planted
    assert summary.quarantine_reasons == truth.quarantine
    assert summary.totals.impressions == truth.totals["impressions"]
    assert summary.totals.clicks == truth.totals["clicks"]
    assert summary.totals.spend == pytest.approx(truth.totals["spend"], abs=1e-6)
    assert summary.totals.attributed_sales == pytest.approx(truth.totals["attributed_sales"], abs=1e-6)
    assert summary.warnings == [] and all(c.passed for c in summary.ratio_checks)
    assert summary.products is not None
    assert summary.products.coverage == (1.0 if SHAPES[truth.shape].product else 0.0)


def test_every_shape_holds_each_bad_row_kind_it_can(exports: dict[str, ExportTruth]) -> None:
    assert sorted(exports) == sorted(VARIANTS)
    for key, truth in exports.items():
        kinds = set(truth.planted.values())
        assert ("ragged_row" in kinds) == (truth.format == "csv"), key
        assert ("unknown_product" in kinds) == (SHAPES[truth.shape].product is not None), key
        assert {
            "negative_value",
            "clicks_exceed_impressions",
            "unparseable_date",
            "unparseable_number",
            "missing_required",
            "duplicate_event",
        } <= kinds, key


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_proposal_used_unedited_gives_exact_totals_and_quarantines_only_the_planted_rows(
    variant: str, exports: dict[str, ExportTruth], tmp_path: Path
) -> None:
    from rmnlora.agents.harmonizer.propose import propose_mapping

    truth = exports[variant]
    proposal = propose_mapping(truth.file, truth.retailer)
    shipped = report_mapping(truth.shape, [truth.file])
    assert proposal.format == shipped.format and proposal.date_format == shipped.date_format
    assert proposal.id_type == shipped.id_type and proposal.warnings == []
    for field in MEASURES:  # the columns that carry the numbers are the published ones
        assert proposal.source_for(field) == shipped.source_for(field), field
    assert not set(shipped.ratio_checks) & set(proposal.columns)  # a ratio is never a measure
    _assert_exact(truth, _run(truth, proposal, tmp_path / "out"), tmp_path / "out")


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_shipped_report_mapping_gives_exact_totals(
    variant: str, exports: dict[str, ExportTruth], tmp_path: Path
) -> None:
    truth = exports[variant]
    summary = _run(truth, report_mapping(truth.shape, [truth.file]), tmp_path / "out")
    _assert_exact(truth, summary, tmp_path / "out")
    checked = {c.column for c in summary.ratio_checks if c.rows_checked}
    assert checked == {c for c, kind in report_mapping(truth.shape).ratio_checks.items() if kind != "none"}


CPC = {
    "amazon_sp_console": "Cost Per Click (CPC)",
    "amazon_sb_console": "Cost Per Click (CPC)",
    "amazon_sd_console": "Cost Per Click (CPC)",
    "amazon_api_v3_sp": "costPerClick",
    "criteo_api": "cpc",
}


@pytest.mark.parametrize("shape", sorted(CPC))
def test_a_mapping_that_reads_spend_from_a_ratio_column_is_flagged(
    shape: str, exports: dict[str, ExportTruth], tmp_path: Path
) -> None:
    truth = exports[f"{shape}.{SHAPES[shape].format}"]
    shipped = report_mapping(shape)
    spend = shipped.source_for("spend")
    assert spend is not None
    columns = {(CPC[shape] if c == spend else c): f for c, f in shipped.columns.items()}
    ratios = {c: k for c, k in shipped.ratio_checks.items() if c != CPC[shape]}
    swapped = shipped.model_copy(update={"columns": columns, "ratio_checks": ratios})
    summary = _run(truth, swapped, tmp_path / "out")
    failed = {c.kind for c in summary.ratio_checks if not c.passed}
    assert "roas" in failed and all(c.agreement < 0.1 for c in summary.ratio_checks if not c.passed)
    assert any("ROAS" in w or "roas" in w for w in summary.warnings)


def test_without_its_crosswalk_a_report_is_keyed_by_the_retailers_ids(
    exports: dict[str, ExportTruth], tmp_path: Path
) -> None:
    truth = exports["walmart_search.csv"]
    assert truth.crosswalk is not None and truth.unknown_product is not None
    alone = tmp_path / "alone"
    alone.mkdir()
    report = Path(shutil.copy(truth.file, alone))  # the crosswalk stays behind
    mapping = report_mapping("walmart_search")
    summary = harmonize(
        HarmonizeRequest(inputs=[report], retailer="walmart", out=tmp_path / "o"), mapping=mapping
    )
    # the id the crosswalk lacked is now just another item: no other row changes its fate
    assert summary.rows_accepted == truth.rows_accepted + 1
    assert "unknown_product" not in summary.quarantine_reasons
    assert summary.products is not None and summary.products.coverage == 0.0
    assert summary.products.events_by_retailer_id == summary.rows_accepted
    assert "walmart_crosswalk.csv not found" in summary.products.note
    assert summary.products.crosswalk_missing  # the planner's harmonize gate names it as a risk
    items = pl.read_csv(truth.crosswalk, infer_schema=False)["item_id"].to_list()
    events = read_events(tmp_path / "o", "walmart").collect()
    assert set(events["gtin14"]) == {f"item_id:{i}" for i in [*items, truth.unknown_product]}
    with_crosswalk = harmonize(
        HarmonizeRequest(inputs=[Path(truth.file)], retailer="walmart", out=tmp_path / "x"), mapping=mapping
    )
    assert with_crosswalk.products is not None and with_crosswalk.products.coverage == 1.0
    assert summary.totals.spend > with_crosswalk.totals.spend == pytest.approx(truth.totals["spend"])


def test_report_mappings_ship_beside_the_retailer_defaults_with_their_sources() -> None:
    import importlib.resources

    assert shipped_retailers() == ["amazon", "kroger", "walmart"]  # what the app offers as retailers
    assert set(shipped_reports()) == set(NETWORK_SHAPES)
    folder = importlib.resources.files("rmnlora.datagen") / "mappings"
    for name in NETWORK_SHAPES:
        text = (folder / f"{name}.yaml").read_text(encoding="utf-8")
        header = "\n".join(line for line in text.splitlines() if line.startswith("#"))
        assert any(s in header for s in ("developer.walmart.com", "github.com/", "developers.criteo.com"))
        mapping = yaml.safe_load(text)
        assert not set(mapping.get("ratio_checks", {})) & set(mapping["columns"]), name
    assert report_mapping("amazon_sp_console", ["a.xlsx"]).format == "xlsx"
    assert report_mapping("amazon_sp_console", ["a.csv"]).format == "csv"


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    first = generate_network_exports(tmp_path / "a", ["amazon_sp_console", "amazon_api_v3_sp"], seed=3)
    again = generate_network_exports(tmp_path / "b", ["amazon_sp_console", "amazon_api_v3_sp"], seed=3)
    for key, truth in first.items():
        if truth.format != "xlsx":  # a workbook stamps its creation time
            assert Path(truth.file).read_bytes() == Path(again[key].file).read_bytes()
    raw = Path(first["amazon_sp_console.csv"].file).read_bytes()
    assert raw.startswith(b'\xef\xbb\xbf"Date"') and b"\r\n" in raw and b'"7 Day Total Sales "' in raw


def test_the_cli_picks_a_report_mapping_by_name_and_writes_the_shapes(
    exports: dict[str, ExportTruth], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rmnlora.cli import app

    monkeypatch.setenv("RMN_DATA_DIR", str(tmp_path / "data"))
    runner = CliRunner()
    truth = exports["amazon_sp_console.xlsx"]
    result = runner.invoke(
        app,
        ["harmonize", truth.file, "--report", "amazon_sp_console", "--out", str(tmp_path / "o"), "--json"],
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["retailer"] == "amazon" and payload["rows_accepted"] == truth.rows_accepted
    assert payload["products"]["coverage"] == 1.0
    for args, message in (
        (["--report", "amazon_tv"], "no shipped report mapping 'amazon_tv'"),
        (["--report", "walmart_search", "--mapping", "m.yaml"], "not both"),
        ([], "--retailer NAME is required"),
    ):
        failed = runner.invoke(app, ["harmonize", truth.file, *args, "--out", str(tmp_path / "x")])
        assert failed.exit_code == 1 and message in " ".join(failed.output.split())
    made = runner.invoke(
        app,
        ["examples", "generate", "--out", str(tmp_path / "ex"), "--days", "3", "--markets", "2"]
        + ["--networks", "walmart_search,criteo_api"],
    )
    assert made.exit_code == 0, made.output
    written = json.loads((tmp_path / "ex" / "networks" / "network_truth.json").read_text())
    assert sorted(written) == ["criteo_api.csv", "walmart_search.csv"]
    assert (tmp_path / "ex" / "walmart_campaign_performance.csv").is_file()  # the defaults as before


def test_an_api_report_reads_the_same_plain_or_gzipped(
    exports: dict[str, ExportTruth], tmp_path: Path
) -> None:
    import gzip

    truth = exports["amazon_api_v3_sp.json"]
    plain = tmp_path / "spAdvertisedProduct_daily.json"
    plain.write_bytes(gzip.decompress(Path(truth.file).read_bytes()))
    shutil.copy(Path(truth.file).parent / "amazon_crosswalk.csv", tmp_path)
    mapping = report_mapping("amazon_api_v3_sp")
    runs = [
        harmonize(HarmonizeRequest(inputs=[path], retailer="amazon", out=tmp_path / name), mapping=mapping)
        for path, name in ((plain, "plain"), (Path(truth.file), "gzipped"))
    ]
    assert runs[0].model_dump(exclude={"output", "totals"}) == runs[1].model_dump(
        exclude={"output", "totals"}
    )
    for name, value in runs[0].totals.model_dump().items():  # sums in parallel: equal to the last cent
        assert value == pytest.approx(getattr(runs[1].totals, name), abs=1e-6)
    assert runs[0].rows_accepted == truth.rows_accepted
    first = json.loads(plain.read_text())[0]  # as the API writes it: JSON numbers, big ids included
    assert isinstance(first["campaignId"], int) and isinstance(first["cost"], float)
