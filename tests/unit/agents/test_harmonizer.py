"""Harmonizer: shipped formats → RMIS totals from ground truth, quarantine, batch = single pass, proposals."""

from __future__ import annotations

import csv
import datetime as dt
import json
import tempfile
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from rmnlora.agents.harmonizer import (
    MappingError,
    harmonize,
    harmonize_batch,
    mark_duplicates,
    read_events,
    read_quarantine,
    shipped_mapping,
    sink,
)
from rmnlora.agents.harmonizer.engine import default_fx, scan_input
from rmnlora.agents.harmonizer.mapping import parse_mapping
from rmnlora.agents.harmonizer.sink import split_by_month
from rmnlora.datagen import GroundTruth, generate_exports
from rmnlora.schemas.gtin import is_valid_gtin
from rmnlora.schemas.harmonize import HarmonizeRequest
from rmnlora.schemas.rmis import RMIS_EVENT_SCHEMA

RETAILERS = ("walmart", "amazon", "kroger")


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> tuple[GroundTruth, Path]:
    folder = tmp_path_factory.mktemp("exports")
    return generate_exports(folder, seed=7, days=21, markets=4, products=2), folder


@pytest.fixture(scope="module")
def harmonized(
    exports: tuple[GroundTruth, Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict]:
    truth, _ = exports
    out = tmp_path_factory.mktemp("harmonized")
    summaries = {
        name: harmonize(HarmonizeRequest(inputs=truth.retailers[name].files, retailer=name, out=out))
        for name in RETAILERS
    }
    return out, summaries


@pytest.mark.parametrize("retailer", RETAILERS)
def test_each_format_matches_ground_truth_totals(retailer: str, exports, harmonized) -> None:
    truth, _ = exports
    _, summaries = harmonized
    expected = truth.retailers[retailer]
    summary = summaries[retailer]
    assert summary.rows_in == expected.rows_written
    assert summary.rows_accepted == expected.rows_accepted
    assert summary.rows_in == summary.rows_accepted + summary.rows_quarantined
    assert summary.quarantine_reasons == expected.quarantine
    assert summary.totals.impressions == expected.totals_usd["impressions"]
    assert summary.totals.clicks == expected.totals_usd["clicks"]
    assert summary.totals.spend == pytest.approx(expected.totals_usd["spend"], rel=1e-9)
    assert summary.totals.attributed_sales == pytest.approx(expected.totals_usd["attributed_sales"], rel=1e-9)


@pytest.mark.parametrize("retailer", RETAILERS)
def test_events_are_valid_rmis(retailer: str, exports, harmonized) -> None:
    truth, _ = exports
    out, _ = harmonized
    events = read_events(out, retailer).collect()
    assert dict(events.schema) == RMIS_EVENT_SCHEMA
    assert events["gtin14"].unique().sort().to_list() == sorted(truth.products)
    assert all(is_valid_gtin(g) for g in events["gtin14"].unique())
    assert events["currency"].unique().to_list() == ["USD"]
    assert events["event_id"].is_unique().all()
    # epoch millis (Amazon) land on the right Pacific-time day, US/EU dates parse to the same days
    days = events["event_date"].unique().sort()
    assert days.min() == truth.start and days.len() == truth.days
    first_month = out / "events" / f"retailer={retailer}" / f"event_month={truth.start:%Y-%m}"
    stored = pl.read_parquet_schema(next(first_month.glob("*.parquet")))
    assert "retailer" not in stored and stored["event_id"] == pl.UInt64  # the folder names the retailer
    placements = {i.placement for i in truth.line_items if i.retailer == retailer}
    assert set(events["placement"].unique()) == placements
    assert set(events["market"].unique()) == {m.name for m in truth.markets}


def test_planted_rows_land_in_quarantine_with_their_reason(exports, harmonized) -> None:
    out, _ = harmonized
    quarantine = read_quarantine(out)
    assert set(quarantine["retailer"].unique()) == set(RETAILERS)

    def raw_of(retailer: str, reason: str) -> list[dict]:
        rows = quarantine.filter((pl.col("retailer") == retailer) & (pl.col("reason") == reason))
        return [json.loads(r) for r in rows["raw"]]

    assert all(r["Date"] == "13/45/2025" for r in raw_of("walmart", "unparseable_date"))
    assert all(r["Ad Spend (cents)"] in ("-500",) for r in raw_of("walmart", "negative_value"))
    assert all(r["Ad Spend (cents)"] == "12x5" for r in raw_of("walmart", "unparseable_number"))
    assert all(len(r["Item UPC"]) == 7 for r in raw_of("walmart", "invalid_gtin"))
    assert all(int(r["Clicks"]) > int(r["Impr."]) for r in raw_of("walmart", "clicks_exceed_impressions"))
    assert all(r["Campaign ID"] is None for r in raw_of("walmart", "missing_required"))
    assert all(r["asin"] == "B0NOTINXWK" for r in raw_of("amazon", "unknown_product"))
    assert all(r["currencyCode"] == "ZZZ" for r in raw_of("amazon", "unknown_currency"))
    assert all(r["timestamp"] == "yesterday" for r in raw_of("amazon", "unparseable_date"))
    assert all(r["CURRENCY"] == "ZZZ" for r in raw_of("kroger", "unknown_currency"))
    assert all(r["DAY"] == "31.02.2025" for r in raw_of("kroger", "unparseable_date"))
    assert all(not is_valid_gtin(r["EAN"]) for r in raw_of("kroger", "invalid_gtin"))
    # a duplicate is an exact copy of an accepted row, and the source row points back into the file
    walmart = pl.read_csv(exports[0].retailers["walmart"].files[0], separator=";", infer_schema=False)
    dup = quarantine.filter((pl.col("retailer") == "walmart") & (pl.col("reason") == "duplicate_event"))
    for row_index, raw in zip(dup["source_row"], dup["raw"], strict=True):
        assert walmart.row(row_index, named=True) == json.loads(raw)
        assert (
            walmart.filter(
                pl.all_horizontal(pl.col(c).eq_missing(v) for c, v in json.loads(raw).items())
            ).height
            == 2
        )


def test_batchwise_run_equals_single_pass(exports) -> None:
    truth, _ = exports
    mapping = shipped_mapping("walmart")
    assert mapping is not None
    fx = default_fx()
    raw = scan_input(Path(truth.retailers["walmart"].files[0]), mapping).collect()
    single = mark_duplicates(harmonize_batch(raw, mapping, fx=fx).lazy()).collect()
    cuts = [0, 101, 333, 334, raw.height]
    parts = []
    for i, (lo, hi) in enumerate(zip(cuts, cuts[1:], strict=False)):
        batch = raw.slice(lo, hi - lo)
        parts.append(harmonize_batch(batch.to_arrow() if i % 2 else batch, mapping, fx=fx))
    assert isinstance(raw.slice(0, 5).to_arrow(), pa.Table)
    combined = mark_duplicates(pl.concat(parts).lazy()).collect()
    assert combined.equals(single)
    reasons = single["_reason"].value_counts().sort("_reason")
    assert combined["_reason"].value_counts().sort("_reason").equals(reasons)
    assert reasons.filter(pl.col("_reason") == "duplicate_event")["count"].item() == 3


def _outputs(out: Path, retailer: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    events = read_events(out, retailer).collect().sort("event_id")
    quarantine = read_quarantine(out, retailer).sort("source_file", "source_row")
    return events, quarantine


def test_streamed_batches_equal_one_batch_even_when_duplicates_straddle_them(
    exports, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """harmonize streams its inputs in batches; a repeat of an event accepted in an earlier batch is
    still a duplicate, and the outputs do not depend on the batch size or on merged month files."""
    monkeypatch.setattr(sink, "MAX_FILES_PER_MONTH", 4)  # so the 37-row batches crowd every month
    truth, _ = exports
    source = pl.read_csv(truth.retailers["walmart"].files[0], separator=";", infer_schema=False)
    # repeat rows from the start at the very end, so each copy lands in a later batch than its original
    repeated = pl.concat([source, source.slice(10, 5)])
    path = tmp_path / "walmart.csv"
    repeated.write_csv(path, separator=";")
    request = {"inputs": [path], "retailer": "walmart"}
    one = harmonize(HarmonizeRequest(**request, out=tmp_path / "one"), batch_rows=10_000)
    many = harmonize(HarmonizeRequest(**request, out=tmp_path / "many"), batch_rows=37)
    assert (one.rows_in, one.rows_accepted, one.quarantine_reasons) == (
        many.rows_in,
        many.rows_accepted,
        many.quarantine_reasons,
    )
    assert one.totals.spend == pytest.approx(many.totals.spend, rel=1e-12)
    quarantined = read_quarantine(tmp_path / "one", "walmart")
    bad_originals = quarantined.filter(
        pl.col("source_row").is_between(10, 14) & (pl.col("reason") != "duplicate_event")
    ).height
    assert one.quarantine_reasons["duplicate_event"] == 3 + 5 - bad_originals
    for left, right in zip(
        _outputs(tmp_path / "one", "walmart"), _outputs(tmp_path / "many", "walmart"), strict=True
    ):
        assert left.equals(right)
    # every month got more batch files than the bound, and was merged back into one file
    months = list((tmp_path / "many" / "events" / "retailer=walmart").iterdir())
    assert months and all(len(list(month.iterdir())) == 1 for month in months)
    _assert_months_hold_their_days_in_order(tmp_path / "many")


def _assert_months_hold_their_days_in_order(out: Path) -> None:
    for folder in (out / "events" / "retailer=walmart").iterdir():
        month = folder.name.removeprefix("event_month=")
        for file in folder.iterdir():
            days = pl.read_parquet(file)["event_date"]
            assert days.is_sorted() and set(days.dt.strftime("%Y-%m")) == {month}


def test_shuffled_and_padded_rows_give_the_same_events(exports, tmp_path: Path) -> None:
    """Days out of order are sorted into their months; values padded with blanks parse as the clean ones."""
    truth, _ = exports
    source = pl.read_csv(truth.retailers["walmart"].files[0], separator=";", infer_schema=False)
    shuffled = source.sample(fraction=1.0, shuffle=True, seed=3)
    padded = shuffled.with_columns(
        pl.concat_str(pl.lit("  "), pl.col(c), pl.lit(" ")).alias(c) for c in source.columns
    )
    results: dict[str, tuple[int, Any, pl.DataFrame]] = {}
    for name, frame in {"plain": source, "shuffled": shuffled, "padded": padded}.items():
        path = tmp_path / f"{name}.csv"
        frame.write_csv(path, separator=";")
        out = tmp_path / name
        summary = harmonize(HarmonizeRequest(inputs=[path], retailer="walmart", out=out), batch_rows=97)
        events = read_events(out, "walmart").collect()
        _assert_months_hold_their_days_in_order(out)
        results[name] = (summary.rows_accepted, summary.totals, events.drop("event_id").sort(pl.all()))
    for name in ("shuffled", "padded"):
        accepted, totals, _ = results[name]
        assert accepted == results["plain"][0]
        # sums over many files run in parallel, so only their last bits may differ
        assert totals.model_dump() == pytest.approx(results["plain"][1].model_dump(), rel=1e-12)
    assert results["shuffled"][2].equals(results["plain"][2])
    assert results["padded"][2].equals(results["plain"][2])


def test_read_events_reads_an_output_of_the_earlier_day_layout(exports, harmonized, tmp_path: Path) -> None:
    """An output written before the month layout (day folders, retailer inside the files, event_id as
    decimal text) reads as the same RMIS events, so an existing output need not be re-harmonized."""
    out, _ = harmonized
    events = read_events(out, "walmart").collect()
    for (day,), part in events.partition_by("event_date", as_dict=True).items():
        folder = tmp_path / "events" / "retailer=walmart" / f"event_date={day}"
        folder.mkdir(parents=True)
        part.with_columns(pl.col("event_id").cast(pl.String)).write_parquet(folder / "part-00000.parquet")
    old = read_events(tmp_path, "walmart").collect()
    assert dict(old.schema) == RMIS_EVENT_SCHEMA
    assert old.sort("event_id").equals(events.sort("event_id"))
    assert read_events(tmp_path).collect().height == events.height  # every retailer folder
    # one retailer's folder given directly (as `rmn measure out/events/retailer=walmart` does)
    assert (
        read_events(out / "events" / "retailer=walmart")
        .collect()
        .sort("event_id")
        .equals(events.sort("event_id"))
    )


def test_split_by_month_slices_sorted_rows_and_sorts_the_others_by_day() -> None:
    days = [dt.date(2025, 1, 30), dt.date(2025, 1, 31), dt.date(2025, 2, 1), dt.date(2025, 3, 5)]
    events = pl.DataFrame({"event_date": days, "n": range(4)})
    parts = {month: part["n"].to_list() for month, part in split_by_month(events)}
    assert parts == {dt.date(2025, 1, 1): [0, 1], dt.date(2025, 2, 1): [2], dt.date(2025, 3, 1): [3]}
    shuffled = pl.DataFrame(
        {"event_date": [dt.date(2025, 1 + i % 2, 1 + i % 3) for i in range(300)], "n": range(300)}
    )
    parts = {month: part for month, part in split_by_month(shuffled)}
    february = parts[dt.date(2025, 2, 1)]
    assert february["event_date"].is_sorted()
    # ties keep input order: the rows of Feb 2 are those with i % 2 == 1 and i % 3 == 1, ascending
    assert february.filter(pl.col("event_date") == dt.date(2025, 2, 2))["n"].to_list() == list(
        range(1, 300, 6)
    )
    assert list(split_by_month(events.clear())) == []


_cell = st.one_of(
    st.none(),
    st.text(max_size=6),
    st.integers(-50, 10**6).map(str),
    st.sampled_from(["13/45/2025", "1,5", "-1"]),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), rows=st.integers(1, 25))
def test_rows_in_equals_accepted_plus_quarantined_for_any_corruption(exports, data, rows: int) -> None:
    truth, _ = exports
    good = pl.read_csv(truth.retailers["walmart"].files[0], separator=";", infer_schema=False).head(rows)
    corrupted = {}
    for column in good.columns:
        values = good[column].to_list()
        for i in range(rows):
            if data.draw(st.booleans(), label="corrupt?"):
                values[i] = data.draw(_cell, label=column)
        corrupted[column] = values
    frame = pl.DataFrame(corrupted, schema=dict.fromkeys(good.columns, pl.String))
    if data.draw(st.booleans(), label="duplicate a row"):
        frame = pl.concat([frame, frame.head(1)])
    ragged = data.draw(
        st.lists(st.integers(0, frame.height - 1), max_size=3, unique=True), label="ragged rows"
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "w.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:  # records, not lines: a cell may
            writer = csv.writer(handle, delimiter=";")  # hold a newline
            writer.writerow(frame.columns)
            for index, row in enumerate(frame.iter_rows()):
                cells = ["" if v is None else v for v in row]
                writer.writerow([*cells, "extra"] if index in ragged else cells)  # a field too many
        summary = harmonize(HarmonizeRequest(inputs=[path], retailer="walmart", out=Path(tmp) / "out"))
        assert summary.rows_in == frame.height
        assert summary.quarantine_reasons.get("ragged_row", 0) == len(ragged)
        assert summary.rows_accepted + summary.rows_quarantined == frame.height
        assert sum(summary.quarantine_reasons.values()) == summary.rows_quarantined
        assert read_events(Path(tmp) / "out").collect().height == summary.rows_accepted


def test_proposal_recovers_renamed_walmart_mapping(exports, tmp_path: Path) -> None:
    from rmnlora.agents.harmonizer.propose import propose_mapping

    truth, _ = exports
    renames = {
        "Date": "Day",
        "Campaign ID": "Campaign",
        "Placement Type": "Ad Format",
        "Store Region": "DMA",
        "Item UPC": "UPC",
        "Impr.": "Impression Count",
        "Clicks": "Click Count",
        "Ad Spend (cents)": "Spend in cents",
        "14 Day Attributed Sales (cents)": "Attributed Revenue cents",
        "Units Sold": "Quantity",
    }
    source = pl.read_csv(truth.retailers["walmart"].files[0], separator=";", infer_schema=False)
    path = tmp_path / "newnet.csv"
    source.rename(renames).write_csv(path, separator=";")
    proposal = propose_mapping(path, "newnet")
    shipped = shipped_mapping("walmart")
    assert shipped is not None
    assert proposal.columns == {renames[c]: f for c, f in shipped.columns.items()}
    assert (proposal.delimiter, proposal.date_format, proposal.id_type, proposal.money_scale) == (
        ";",
        "%m/%d/%Y",
        "upc_no_check",
        0.01,
    )
    assert proposal.confidence is not None and proposal.confidence["currency"] < 0.5  # assumed, flagged
    summary = harmonize(
        HarmonizeRequest(inputs=[path], retailer="newnet", out=tmp_path / "o"), mapping=proposal
    )
    assert summary.totals.spend == pytest.approx(truth.retailers["walmart"].totals_usd["spend"], rel=1e-9)


def test_bad_mappings_are_clear_errors(exports, tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="unknown RMIS field 'impresions'"):
        parse_mapping({"retailer": "x", "columns": {"Impr": "impresions"}})
    with pytest.raises(MappingError, match="required field"):
        parse_mapping({"retailer": "x", "currency": "USD", "columns": {"Impr": "impressions"}})
    truth, _ = exports
    mapping = shipped_mapping("walmart")
    assert mapping is not None
    wrong = mapping.model_copy(update={"delimiter": ","})
    with pytest.raises(MappingError, match="not in the file"):
        harmonize(
            HarmonizeRequest(inputs=truth.retailers["walmart"].files, retailer="walmart", out=tmp_path),
            mapping=wrong,
        )


def test_cli_contract_and_missing_mapping_error(
    exports, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rmnlora.cli import app

    truth, folder = exports
    monkeypatch.setenv("RMN_DATA_DIR", str(tmp_path / "data"))
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "harmonize",
            truth.retailers["kroger"].files[0],
            "--retailer",
            "kroger",
            "--out",
            str(tmp_path / "out"),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert set(payload) == {
        "retailer",
        "rows_in",
        "rows_accepted",
        "rows_quarantined",
        "quarantine_reasons",
        "totals",
        "output",
        "ratio_checks",
        "warnings",
        "products",
    }
    assert payload["warnings"] == []  # the shipped Kroger export has no ratio columns to contradict it
    assert set(payload["totals"]) == {"impressions", "clicks", "spend", "attributed_sales"}
    assert payload["rows_in"] == truth.retailers["kroger"].rows_written
    assert (tmp_path / "out" / "quarantine.parquet").is_file() and (tmp_path / "out" / "events").is_dir()

    unknown = runner.invoke(
        app,
        [
            "harmonize",
            truth.retailers["kroger"].files[0],
            "--retailer",
            "target",
            "--out",
            str(tmp_path / "o2"),
        ],
    )
    assert unknown.exit_code == 1
    assert "--propose" in unknown.output

    proposed = runner.invoke(
        app, ["harmonize", truth.retailers["kroger"].files[0], "--retailer", "target", "--propose"]
    )
    assert proposed.exit_code == 0, proposed.output
    assert yaml.safe_load(proposed.stdout)["columns"]["EAN"] == "gtin14"


def test_daily_aggregates_load_idempotently(db, harmonized) -> None:
    from sqlalchemy import func
    from sqlmodel import select

    from rmnlora.agents.harmonizer.load import load_daily_aggregates
    from rmnlora.storage import PerformanceMetric
    from rmnlora.storage.tenants import register_tenant

    out, summaries = harmonized
    with db.get_session() as session:
        register_tenant(session, "acme", "Acme")
    events = read_events(out, "kroger")
    first = load_daily_aggregates(db, "acme", events)
    second = load_daily_aggregates(db, "acme", events)
    assert first == second == summaries["kroger"].rows_accepted  # one event per grain in the examples
    with db.get_session(tenant_id="acme") as session:
        count, spend = session.exec(
            select(func.count(), func.sum(PerformanceMetric.spend)).select_from(PerformanceMetric)
        ).one()
    assert count == first
    assert spend == pytest.approx(summaries["kroger"].totals.spend, rel=1e-9)


_EDGE_MAPPING: dict[str, Any] = {
    "retailer": "edge",
    "format": "csv",
    "delimiter": "|",
    "decimal_comma": True,
    "columns": {
        "Tag": "event_date",
        "Kampagne": "campaign_id",
        "Platz": "placement",
        "Region": "market",
        "EAN": "gtin14",
        "Impr": "impressions",
        "Klicks": "clicks",
        "Kosten": "spend",
        "Umsatz": "attributed_sales",
        "Einheiten": "units",
        "Waehrung": "currency",
        "Typ": "event_type",
    },
    "date_format": "%d.%m.%Y",
    "currency": "EUR",
    "event_types": {"perf": "performance", "Click": "click"},
    "constants": {"placement": "unknown_slot"},
}
_EDGE_COLUMNS: list[str] = list(_EDGE_MAPPING["columns"])
_EDGE_ROWS: list[list[str | None]] = [
    # clean; decimal comma with a thousands dot; lower-case currency
    [
        "01.02.2025",
        "K1",
        "top",
        "Nord",
        "4006381333931",
        "1.234",
        "12",
        "1.234,56",
        "10,5",
        "2",
        "usd",
        "perf",
    ],
    # padded values; blank placement → the constant; no market → "all"; padded lower-case currency
    [" 02.02.2025 ", " K2 ", "", None, " 4006381333931 ", " 7 ", "1", " 7,25 ", None, "", " eur ", "Click"],
    # a currency column's blank cell is not guessed from the mapping's constant
    ["01.02.2025", "K7", "top", "Nord", "4006381333931", "5", "1", "1", "1", "1", "", "perf"],
    ["01.02.2025", "K1", "top", "Nord", "4006381333931", "5", "1", "1", "1", "1", "USD", "weird"],
    ["01.02.2025", "K3", "top", "Nord", "4006381333931", "5", "1", "-3,2", "1", "1", "USD", "perf"],
    ["01.02.2025", "K4", "top", "Nord", "4006381333932", "5", "1", "1", "1", "1", "USD", "perf"],
    ["01.02.2025", "K5", "top", "Nord", "4006381333931", "5", "1", "1", "1", "1", "ZZZ", "perf"],
    ["01.02.2025", "K6", "top", "Nord", "4006381333931", "1,5", "1", "1", "1", "1", "USD", "perf"],
]


@pytest.mark.parametrize("file_format", ["csv", "ndjson", "parquet"])
def test_custom_mapping_options_apply_in_every_file_format(file_format: str, tmp_path: Path) -> None:
    frame = pl.DataFrame(
        [dict(zip(_EDGE_COLUMNS, row, strict=True)) for row in _EDGE_ROWS],
        schema=dict.fromkeys(_EDGE_COLUMNS, pl.String),
    )
    path = tmp_path / f"edge.{file_format}"
    {"csv": lambda: frame.write_csv(path, separator="|"), "ndjson": lambda: frame.write_ndjson(path)}.get(
        file_format, lambda: frame.write_parquet(path)
    )()
    mapping = parse_mapping({**_EDGE_MAPPING, "format": file_format})
    summary = harmonize(
        HarmonizeRequest(inputs=[path], retailer="edge", out=tmp_path / "out"), mapping=mapping
    )
    assert summary.quarantine_reasons == {
        "missing_required": 2,
        "negative_value": 1,
        "invalid_gtin": 1,
        "unknown_currency": 1,
        "unparseable_number": 1,
    }
    quarantine = read_quarantine(tmp_path / "out")
    details = dict(
        quarantine.filter(pl.col("reason") != "missing_required").select("reason", "detail").iter_rows()
    )
    missing = quarantine.filter(pl.col("reason") == "missing_required")["detail"].sort().to_list()
    assert missing == ["currency is empty", "event_type weird is not mapped"]
    assert details["unparseable_number"] == "impressions=1,5"
    events = read_events(tmp_path / "out", "edge").collect().sort("event_date")
    first, second = events.to_dicts()
    eur = default_fx()["EUR"]
    assert (first["event_type"], first["impressions"], first["spend"], first["attributed_sales"]) == (
        "performance",
        1234,
        pytest.approx(1234.56),
        pytest.approx(10.5),
    )
    assert (second["event_date"], second["campaign_id"], second["placement"], second["market"]) == (
        dt.date(2025, 2, 2),
        "K2",
        "unknown_slot",
        "all",
    )
    assert (second["event_type"], second["impressions"], second["units"], second["attributed_sales"]) == (
        "click",
        7,
        0,
        0.0,
    )
    assert second["spend"] == pytest.approx(7.25 * eur)
    assert first["gtin14"] == second["gtin14"] == "04006381333931"


def test_several_inputs_report_progress_by_rows_and_point_quarantine_rows_to_their_file(
    exports, tmp_path: Path
) -> None:
    truth, _ = exports
    first = Path(truth.retailers["walmart"].files[0])
    source = pl.read_csv(first, separator=";", infer_schema=False)
    second = tmp_path / "walmart_later.csv"
    late = source.head(50).with_columns(pl.lit("31/31/2025").alias("Date"))  # every row: a bad date
    late.write_csv(second, separator=";")
    calls: list[tuple[str, int, int]] = []
    summary = harmonize(
        HarmonizeRequest(inputs=[first, second], retailer="walmart", out=tmp_path / "out"),
        progress=lambda stage, done, total: calls.append((stage, done, total)),
        batch_rows=100,
    )
    assert summary.rows_in == source.height + 50
    assert summary.quarantine_reasons["unparseable_date"] == 3 + 50
    bad_dates = read_quarantine(tmp_path / "out").filter(pl.col("reason") == "unparseable_date")
    from_second = bad_dates.filter(pl.col("source_file") == str(second))
    assert sorted(from_second["source_row"]) == list(range(50))
    assert all(json.loads(raw)["Date"] == "31/31/2025" for raw in from_second["raw"])
    rows_done = [done for stage, done, _ in calls if stage == "harmonizing"]
    assert rows_done == sorted(rows_done) and rows_done[-1] == summary.rows_in
    assert len(rows_done) >= summary.rows_in // 100
    assert {total for _, _, total in calls} == {summary.rows_in}


def test_a_failed_run_names_the_file_and_leaves_earlier_outputs_as_they_were(exports, tmp_path: Path) -> None:
    from rmnlora.agents.harmonizer import HarmonizeError

    truth, _ = exports
    good = Path(truth.retailers["walmart"].files[0])
    out = tmp_path / "out"
    before = harmonize(HarmonizeRequest(inputs=[good], retailer="walmart", out=out))
    events_before = read_events(out, "walmart").collect()
    lines = good.read_bytes().splitlines()
    broken = tmp_path / "broken.csv"
    broken.write_bytes(b"\n".join([*lines[:5], lines[5] + b"\xff\xfe", *lines[6:]]) + b"\n")  # not UTF-8
    with pytest.raises(HarmonizeError, match=r"broken\.csv"):
        harmonize(HarmonizeRequest(inputs=[broken], retailer="walmart", out=out))
    assert sorted(p.name for p in out.iterdir()) == ["events", "quarantine.parquet"]  # no staging left
    assert read_events(out, "walmart").collect().equals(events_before)
    assert read_quarantine(out, "walmart").height == before.rows_quarantined
