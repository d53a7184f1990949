"""ISO 8601 timestamps as event dates (`date_format: iso`): the day is the one in the mapping's
timezone, offsets mixed freely in one column, a naive timestamp read in that zone; bad ones are
quarantined as unparseable_date; `--propose` recognises such a column."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest

from rmnlora.agents.harmonizer import harmonize, read_events, read_quarantine
from rmnlora.agents.harmonizer.mapping import parse_mapping
from rmnlora.schemas.harmonize import HarmonizeRequest

COLUMNS = ["Date", "Campaign", "GTIN", "Impressions", "Clicks", "Spend", "Attributed Sales"]
MAPPING = {
    "retailer": "criteo",
    "columns": {
        "Date": "event_date",
        "Campaign": "campaign_id",
        "GTIN": "gtin14",
        "Impressions": "impressions",
        "Clicks": "clicks",
        "Spend": "spend",
        "Attributed Sales": "attributed_sales",
    },
    "date_format": "iso",
    "currency": "USD",
}
# (timestamp as the report writes it, its day in New York, its day in UTC); None: unparseable.
# 2026-11-01 is the day New York leaves daylight time (06:00 UTC): before it the offset is -04:00.
STAMPS: list[tuple[str, str | None, str | None]] = [
    ("2026-11-01T23:30:00-05:00", "2026-11-01", "2026-11-02"),
    ("2026-11-02T04:30:00Z", "2026-11-01", "2026-11-02"),
    ("2026-11-02 05:30:00+0100", "2026-11-01", "2026-11-02"),
    ("2026-11-01T03:59:00Z", "2026-10-31", "2026-11-01"),  # 23:59 daylight time, the day before
    ("2026-11-01T23:30:00", "2026-11-01", "2026-11-01"),  # naive: already the zone's wall clock
    (" 2026-11-02T12:00:00.250Z ", "2026-11-02", "2026-11-02"),  # padded, fractional seconds
    ("2026-11-02", "2026-11-02", "2026-11-02"),  # a plain day is that day
    ("2026-11-03T09:15:00+05:30", "2026-11-02", "2026-11-03"),
    ("2026-11-31T10:00:00Z", None, None),  # no such day
    ("11/02/2026 10:00", None, None),  # not ISO
    ("2026-11-02T10:00:00+25:00", None, None),  # no such offset
    ("yesterday", None, None),
]
GTIN = "00012345678905"


def _report(folder: Path) -> Path:
    """A quoted CSV as an API-to-CSV export writes it, one campaign per row so each day is checkable."""
    path = folder / "criteo_report.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
        writer.writerow(COLUMNS)
        for index, (stamp, _, _) in enumerate(STAMPS):
            writer.writerow([stamp, f"C{index}", GTIN, 1000 + index, 10 + index, f"{5 + index}.25", "30.00"])
    return path


@pytest.mark.parametrize(("timezone", "column"), [("America/New_York", 1), ("UTC", 2)])
def test_each_timestamp_lands_on_its_day_in_the_mappings_timezone(
    tmp_path: Path, timezone: str, column: int
) -> None:
    path = _report(tmp_path)
    mapping = parse_mapping({**MAPPING, "timezone": timezone})
    summary = harmonize(
        HarmonizeRequest(inputs=[path], retailer="criteo", out=tmp_path / "out"), mapping=mapping
    )
    good = [i for i, row in enumerate(STAMPS) if row[column] is not None]
    assert summary.rows_in == len(STAMPS) == summary.rows_accepted + summary.rows_quarantined
    assert summary.quarantine_reasons == {"unparseable_date": len(STAMPS) - len(good)}
    events = read_events(tmp_path / "out", "criteo").collect()
    days = dict(events.select("campaign_id", pl.col("event_date").cast(pl.String)).iter_rows())
    assert days == {f"C{i}": STAMPS[i][column] for i in good}
    assert summary.totals.spend == pytest.approx(sum(5 + i + 0.25 for i in good))
    quarantine = read_quarantine(tmp_path / "out", "criteo")
    assert sorted(quarantine["source_row"]) == [i for i in range(len(STAMPS)) if i not in good]
    assert sorted(json.loads(raw)["Date"] for raw in quarantine["raw"]) == sorted(
        s for s, *_ in STAMPS if s not in {STAMPS[i][0] for i in good}
    )


def test_a_strftime_mapping_still_quarantines_timestamps_it_does_not_describe(tmp_path: Path) -> None:
    path = _report(tmp_path)
    mapping = parse_mapping({**MAPPING, "date_format": "%Y-%m-%d"})
    summary = harmonize(
        HarmonizeRequest(inputs=[path], retailer="criteo", out=tmp_path / "out"), mapping=mapping
    )
    assert summary.rows_accepted == 1  # only the plain day
    assert summary.quarantine_reasons == {"unparseable_date": len(STAMPS) - 1}


def test_typed_timestamps_in_parquet_are_instants_under_iso(tmp_path: Path) -> None:
    utc = [dt.datetime(2026, 11, 2, 4, 30), dt.datetime(2026, 11, 2, 12, 0)]
    frame = pl.DataFrame(
        {
            "Date": pl.Series(utc, dtype=pl.Datetime("us", "UTC")),
            "Campaign": ["C0", "C1"],
            "GTIN": [GTIN, GTIN],
            "Impressions": [100, 200],
            "Clicks": [1, 2],
            "Spend": [1.5, 2.5],
            "Attributed Sales": [3.0, 4.0],
        }
    )
    path = tmp_path / "report.parquet"
    frame.write_parquet(path)
    mapping = parse_mapping({**MAPPING, "format": "parquet", "timezone": "America/Los_Angeles"})
    harmonize(HarmonizeRequest(inputs=[path], retailer="criteo", out=tmp_path / "out"), mapping=mapping)
    events = read_events(tmp_path / "out", "criteo").collect().sort("campaign_id")
    assert events["event_date"].to_list() == [dt.date(2026, 11, 1), dt.date(2026, 11, 2)]


def test_a_proposal_recognises_iso_timestamps_and_flags_the_assumed_timezone(tmp_path: Path) -> None:
    from rmnlora.agents.harmonizer.propose import propose_mapping

    path = tmp_path / "api_report.csv"
    stamps = [
        f"2026-11-{d:02d}T{h:02d}:00:00{z}" for d in range(1, 11) for h, z in ((9, "Z"), (22, "-05:00"))
    ]
    pl.DataFrame(
        {
            "reportDate": stamps,
            "campaignName": ["SP - Oat Bars", "SB - Granola"] * (len(stamps) // 2),
            "gtin": [GTIN] * len(stamps),
            "impressions": [str(1000 + i) for i in range(len(stamps))],
            "clicks": [str(10 + i) for i in range(len(stamps))],
            "spend": [f"{12 + i}.37" for i in range(len(stamps))],
            "sales": [f"{40 + i}.10" for i in range(len(stamps))],
        }
    ).write_csv(path)
    proposal = propose_mapping(path, "newnet")
    assert proposal.source_for("event_date") == "reportDate"
    assert proposal.date_format == "iso" and proposal.timezone == "UTC"
    assert proposal.confidence is not None and proposal.confidence["timezone"] == 0.3
    summary = harmonize(
        HarmonizeRequest(inputs=[path], retailer="newnet", out=tmp_path / "out"), mapping=proposal
    )
    assert summary.rows_accepted == len(stamps)
    # in UTC, 22:00-05:00 is 03:00 the next day: the days run from Nov 1 to Nov 11
    days = read_events(tmp_path / "out", "newnet").collect()["event_date"]
    assert (days.min(), days.max()) == (dt.date(2026, 11, 1), dt.date(2026, 11, 11))
