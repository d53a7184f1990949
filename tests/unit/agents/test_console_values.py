"""Values as retail media consoles write them: money strings, accounting negatives, '--' blanks,
month-name dates; an Amazon-console-shaped CSV harmonized to exact totals with the planted rows
quarantined for the right reasons."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest

from rmnlora.agents.harmonizer import harmonize, read_events, read_quarantine
from rmnlora.agents.harmonizer.mapping import parse_mapping
from rmnlora.agents.harmonizer.values import parse_number
from rmnlora.schemas.harmonize import HarmonizeRequest

POINT_DECIMAL = [
    ("$1,234.56", 1234.56, "ok"),
    ("USD 1,234.56", 1234.56, "ok"),
    ("1,234.56 USD", 1234.56, "ok"),
    ("(12.50)", -12.5, "ok"),
    ("-$3.00", -3.0, "ok"),
    ("$-3.00", -3.0, "ok"),
    ("\u22123.00", -3.0, "ok"),
    ("1,234,567", 1234567.0, "ok"),
    ("\u00a31,000", 1000.0, "ok"),
    (" 7 ", 7.0, "ok"),
    ("1e3", 1000.0, "ok"),
    ("--", None, "blank"),
    ("N/A", None, "blank"),
    ("-", None, "blank"),
    ("", None, "blank"),
    (None, None, "blank"),
    ("0.45%", None, "bad"),  # a ratio is not an amount
    ("1.234,56", None, "bad"),  # the other convention: refused, not read as 1.23456
    ("12,34", None, "bad"),  # not grouped by three
    ("abc", None, "bad"),
]
DECIMAL_COMMA = [
    ("1.234,56 \u20ac", 1234.56, "ok"),
    ("EUR 1.234,56", 1234.56, "ok"),
    ("(12,50)", -12.5, "ok"),
    ("1234,5", 1234.5, "ok"),
    ("1234", 1234.0, "ok"),
    ("--", None, "blank"),
    ("1,234.56", None, "bad"),
    ("1.5", None, "bad"),  # a point without groups of three: ambiguous in this convention
]


def _check(cases: list[tuple[str | None, float | None, str]], *, decimal_comma: bool) -> None:
    parsed = parse_number(pl.Series([c[0] for c in cases], dtype=pl.String), decimal_comma=decimal_comma)
    for (raw, expected, kind), value, blank, bad in zip(
        cases, parsed.value, parsed.blank, parsed.bad, strict=True
    ):
        assert (value, blank, bad) == (
            pytest.approx(expected) if expected is not None else None,
            kind == "blank",
            kind == "bad",
        ), raw


def test_console_numbers_in_the_point_decimal_convention() -> None:
    _check(POINT_DECIMAL, decimal_comma=False)


def test_console_numbers_in_the_comma_decimal_convention() -> None:
    _check(DECIMAL_COMMA, decimal_comma=True)


def test_a_batch_of_plain_numbers_takes_the_fast_path_with_the_same_answer() -> None:
    plain = pl.Series(["1", "2.5", None, "1e3"])
    assert parse_number(plain).value.to_list() == [1.0, 2.5, None, 1000.0]
    assert parse_number(plain).bad.to_list() == [False] * 4


# Column names as the Amazon Ads console writes a Sponsored Products report (note the trailing space).
AMAZON_COLUMNS = [
    "Date",
    "Campaign Name",
    "Advertised SKU",
    "Advertised ASIN",
    "Impressions",
    "Clicks",
    "Click-Thru Rate (CTR)",
    "Cost Per Click (CPC)",
    "Spend",
    "7 Day Total Sales ",
    "Total Return on Advertising Spend (ROAS)",
    "7 Day Total Units (#)",
]
AMAZON_MAPPING = {
    "retailer": "amazon",
    "format": "csv",
    "columns": {
        "Date": "event_date",
        "Campaign Name": "campaign_id",
        "Advertised SKU": "gtin14",
        "Impressions": "impressions",
        "Clicks": "clicks",
        "Spend": "spend",
        "7 Day Total Sales ": "attributed_sales",
        "7 Day Total Units (#)": "units",
    },
    "date_format": "%b %d, %Y",
    "currency": "USD",
    "constants": {"event_type": "performance", "placement": "sponsored_products"},
}
GTIN = "00012345678905"


def _row(date: str, campaign: str, impressions: str, clicks: str, spend: str, sales: str, units: str) -> str:
    values = [
        date,
        campaign,
        GTIN,
        "B0TEST0001",
        impressions,
        clicks,
        "0.45%",
        "$0.80",
        spend,
        sales,
        "2.10",
        units,
    ]
    return ",".join(f'"{v}"' for v in values)


def test_an_amazon_console_report_harmonizes_to_exact_totals(tmp_path: Path) -> None:
    rows = [
        _row("Nov 01, 2026", "SP - Oat Bars", "12,345", "210", "$1,234.56", "$2,592.58", "140"),
        _row("Nov 02, 2026", "SP - Oat Bars", "9,001", "150", "$987.10", "--", "0"),  # '--' sales: blank
        _row("Nov 03, 2026", "SP - Granola", "1,000", "12", "$10.00", "$25.00", "3"),
        _row("Nov 03, 2026", "SP - Granola", "500", "4", "(12.50)", "$0.00", "0"),  # refund: negative
        _row("Nov 04, 2026", "SP - Granola", "800", "9", "0.45%", "$30.00", "2"),  # a ratio in Spend
        _row("11/05/2026", "SP - Granola", "700", "7", "$7.00", "$14.00", "1"),  # other date shape
        _row("Nov 06, 2026", "SP - Granola", "700", "7", "N/A", "$14.00", "1"),  # no spend at all
    ]
    path = tmp_path / "Sponsored_Products_Advertised_product_report.csv"
    # As the console writes it: a byte-order mark, CRLF line ends, every value quoted.
    text = ",".join(f'"{c}"' for c in AMAZON_COLUMNS) + "\r\n" + "\r\n".join(rows) + "\r\n"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    summary = harmonize(
        HarmonizeRequest(inputs=[path], retailer="amazon", out=tmp_path / "out"),
        mapping=parse_mapping(AMAZON_MAPPING),
    )
    assert summary.quarantine_reasons == {
        "negative_value": 1,
        "unparseable_number": 1,
        "unparseable_date": 1,
        "missing_required": 1,
    }
    details = dict(read_quarantine(tmp_path / "out").select("reason", "detail").iter_rows())
    assert details["unparseable_number"] == "spend=0.45%"
    assert details["negative_value"] == "spend=-12.5"
    assert details["missing_required"] == "spend is empty"
    events = read_events(tmp_path / "out", "amazon").collect()
    assert events.height == 3
    assert events["spend"].sum() == pytest.approx(1234.56 + 987.10 + 10.00)
    assert events["attributed_sales"].sum() == pytest.approx(2592.58 + 25.00)
    assert events["impressions"].sum() == 12345 + 9001 + 1000
    assert sorted(events["event_date"].cast(pl.String).to_list()) == [
        "2026-11-01",
        "2026-11-02",
        "2026-11-03",
    ]


CONSOLE_COLUMNS = [
    "Date",
    "Portfolio name",
    "Currency",
    "Campaign Name",
    "Ad Group Name",
    "Advertised SKU",
    "Advertised ASIN",
    "Impressions",
    "Clicks",
    "Click-Thru Rate (CTR)",
    "Cost Per Click (CPC)",
    "Spend",
    "7 Day Total Sales ",
    "Total Advertising Cost of Sales (ACOS) ",
    "Total Return on Advertising Spend (ROAS)",
    "7 Day Total Orders (#)",
    "7 Day Total Units (#)",
    "7 Day Conversion Rate",
]
ASINS = {"B0ACME0001": "00012345678905", "B0ACME0002": "00036000291452"}


def _console_report(folder: Path) -> tuple[Path, dict[str, float], int]:
    """An Advertised Product report as the console downloads it, ratios consistent with the
    amounts, three planted bad rows; returns (file, totals of the good rows, good rows)."""
    import csv
    import random

    rng = random.Random(3)
    rows, totals, good = [], {"spend": 0.0, "sales": 0.0, "impressions": 0}, 0
    for day in range(1, 21):
        for asin in ASINS:
            impressions = rng.randint(800, 30000)
            clicks = rng.randint(5, impressions // 50)
            cpc = round(rng.uniform(0.4, 1.6), 2)
            spend = round(clicks * cpc, 2)
            sales = round(spend * rng.uniform(1.5, 5.0), 2)
            orders = rng.randint(1, max(2, clicks // 5))
            row = [
                f"Nov {day:02d}, 2026",
                "Not grouped",
                "USD",
                "SP - Oat Bars - Auto",
                "Auto",
                f"ACME-{asin[-1]}",
                asin,
                f"{impressions:,}",
                f"{clicks:,}",
                f"{100 * clicks / impressions:.2f}%",
                f"${spend / clicks:,.2f}",
                f"${spend:,.2f}",
                f"${sales:,.2f}",
                f"{100 * spend / sales:.2f}%",
                f"{sales / spend:.2f}",
                str(orders),
                str(orders + rng.randint(0, 3)),
                f"{100 * orders / clicks:.2f}%",
            ]
            rows.append(row)
            totals["spend"] += spend
            totals["sales"] += sales
            totals["impressions"] += impressions
            good += 1
    planted = [list(rows[0]), list(rows[1]), list(rows[2])]
    planted[0][11] = "($12.50)"  # a refund written as an accounting negative
    planted[1][11] = "--"  # no spend reported
    planted[2][6] = "B0UNKNOWN9"  # an ASIN the crosswalk does not know
    rows.extend(planted)
    path = folder / "Sponsored_Products_Advertised_product_report.csv"
    with path.open("w", newline="", encoding="utf-8-sig") as handle:  # with its byte-order mark
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
        writer.writerow(CONSOLE_COLUMNS)
        writer.writerows(rows)
    crosswalk = "asin,gtin14\n" + "".join(f"{a},{g}\n" for a, g in ASINS.items())
    (folder / "amazon-console_crosswalk.csv").write_text(crosswalk, encoding="utf-8")
    return path, totals, good


def test_a_proposal_for_a_console_report_is_used_unedited_and_gives_exact_totals(tmp_path: Path) -> None:
    from rmnlora.agents.harmonizer.propose import propose_mapping

    path, totals, good = _console_report(tmp_path)
    proposal = propose_mapping(path, "amazon-console")
    by_field = {field: column for column, field in proposal.columns.items()}
    assert by_field["spend"] == "Spend" and by_field["attributed_sales"] == "7 Day Total Sales "
    assert by_field["event_date"] == "Date" and proposal.date_format == "%b %d, %Y"
    assert by_field["impressions"] == "Impressions" and by_field["units"] == "7 Day Total Units (#)"
    assert not {"Cost Per Click (CPC)", "Total Return on Advertising Spend (ROAS)"} & set(proposal.columns)
    assert proposal.ratio_checks["Total Return on Advertising Spend (ROAS)"] == "roas"
    assert proposal.warnings == []
    summary = harmonize(
        HarmonizeRequest(inputs=[path], retailer="amazon-console", out=tmp_path / "out"), mapping=proposal
    )
    assert summary.rows_accepted == good
    assert summary.quarantine_reasons == {"negative_value": 1, "missing_required": 1, "unknown_product": 1}
    assert summary.totals.spend == pytest.approx(totals["spend"])
    assert summary.totals.attributed_sales == pytest.approx(totals["sales"])
    assert summary.totals.impressions == totals["impressions"]
    assert {c.kind for c in summary.ratio_checks} == {"roas", "acos", "ctr", "cpc"}
    assert all(c.passed for c in summary.ratio_checks) and summary.warnings == []


def test_a_mapping_that_swaps_spend_and_sales_is_flagged_by_the_ratio_check(tmp_path: Path) -> None:
    from rmnlora.agents.harmonizer.propose import propose_mapping

    path, _, _ = _console_report(tmp_path)
    proposal = propose_mapping(path, "amazon-console")
    swapped = {**proposal.columns, "Spend": "attributed_sales", "7 Day Total Sales ": "spend"}
    mapping = proposal.model_copy(update={"columns": swapped, "ratio_checks": {}})  # a hand-written one
    summary = harmonize(
        HarmonizeRequest(inputs=[path], retailer="amazon-console", out=tmp_path / "out"), mapping=mapping
    )
    failed = {c.kind: c for c in summary.ratio_checks if not c.passed}
    assert set(failed) == {"roas", "acos", "cpc"} and failed["roas"].agreement < 0.1
    assert "Total Return on Advertising Spend (ROAS) says" in failed["roas"].evidence
    assert any("ROAS" in warning for warning in summary.warnings)


def test_a_required_field_no_column_fits_is_an_error_naming_it_not_a_placeholder(tmp_path: Path) -> None:
    from rmnlora.agents.harmonizer.mapping import MappingError
    from rmnlora.agents.harmonizer.propose import propose_mapping

    path = tmp_path / "no_spend.csv"
    path.write_text(
        "Date,Campaign Name,UPC,Impressions\n"
        + "".join(f"2026-11-0{d},C1,036000291452,10\n" for d in range(1, 9)),
        encoding="utf-8",
    )
    with pytest.raises(MappingError, match=r"no column fits required field\(s\) spend .*closest"):
        propose_mapping(path, "newnet")


def _harmonize_gate(retailer: str, **signals: Any) -> Any:
    """The harmonize gate's decision on a clean 1,000-row export of ``retailer`` plus ``signals``."""
    from rmnlora.reflection import ReflectionEngine
    from rmnlora.schemas.reflection import HarmonizeSignals

    clean = {"rows_in": 1000, "rows_quarantined": 0, "coverage_days": 90}
    both = [retailer]
    return ReflectionEngine().reflect(
        "harmonize",
        HarmonizeSignals(**clean, retailers_expected=both, retailers_with_data=both, **signals),
        session_id="s",
    )


def test_a_mapping_the_export_contradicts_is_a_high_risk_at_the_gate() -> None:
    warning = "Total ROAS (ROAS) holds on 0% of 40 rows (below 90%)"
    decision = _harmonize_gate("amazon", mapping_warnings={"amazon": [warning]})
    assert decision.decision != "proceed"
    assert any("contradicts its mapping" in r.factor and r.severity == "high" for r in decision.risks)


def test_a_missing_crosswalk_is_a_risk_at_the_gate_not_a_stop() -> None:
    note = "crosswalk ex/walmart_crosswalk.csv not found: 252 of 252 events are keyed by their item_id"
    decision = _harmonize_gate("walmart", missing_crosswalks={"walmart": note})
    risk = next(r for r in decision.risks if "crosswalk is missing" in r.factor)
    assert risk.severity == "medium" and note in risk.factor


def test_the_same_report_downloaded_as_xlsx_gives_the_same_totals(tmp_path: Path) -> None:
    from rmnlora.agents.harmonizer.propose import propose_mapping

    path, totals, good = _console_report(tmp_path)
    sheet = pl.read_csv(path, infer_schema=False)
    # As the console's workbook holds them: counts as numbers, money and ratios as formatted text.
    sheet = sheet.with_columns(pl.col("Impressions").str.replace_all(",", "").cast(pl.Int64))
    workbook = tmp_path / "Sponsored_Products_Advertised_product_report.xlsx"
    sheet.write_excel(workbook, worksheet="Sponsored Product Advertised P")
    proposal = propose_mapping(workbook, "amazon-console")
    assert proposal.format == "xlsx" and proposal.source_for("spend") == "Spend"
    summary = harmonize(
        HarmonizeRequest(inputs=[workbook], retailer="amazon-console", out=tmp_path / "out"), mapping=proposal
    )
    assert summary.rows_accepted == good
    assert summary.quarantine_reasons == {"negative_value": 1, "missing_required": 1, "unknown_product": 1}
    assert summary.totals.spend == pytest.approx(totals["spend"])
    assert summary.totals.impressions == totals["impressions"]
    assert all(c.passed for c in summary.ratio_checks) and len(summary.ratio_checks) == 4
