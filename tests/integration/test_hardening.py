"""Odd and hostile inputs get a one-line error naming what is wrong, and nothing already there changes.

Each test is one finding of the hardening issue, asserted as the user meets it: the message, the
exit code, and the files or rows that must be untouched.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from sqlmodel import select
from typer.testing import CliRunner

from rmnlora.cli import app
from rmnlora.config import load_settings
from rmnlora.feedback import store
from rmnlora.storage import open_db
from rmnlora.storage.models import Brand, PlanRun, Tenant
from rmnlora.yaml_input import MAX_YAML_BYTES
from tests.support.planner_fixtures import WALMART, make_exports, write_brief

runner = CliRunner()


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_exports(tmp_path_factory.mktemp("exports"))


def _rmn(*args: str, data_dir: Path):  # type: ignore[no-untyped-def]
    env = {"RMN_DATA_DIR": str(data_dir), "RMN_MODEL__ENABLED": "false"}
    return runner.invoke(app, list(args), env=env)


def _alias_bomb(levels: int = 9) -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    previous = "a"
    for name in "bcdefghijk"[: levels - 1]:
        lines.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
        previous = name
    return "\n".join(lines) + "\n"


def test_a_binary_brief_is_named_not_a_traceback(tmp_path: Path) -> None:
    brief = tmp_path / "brief.yaml"
    brief.write_bytes(b"\xfc\x00\x81binary" * 20)
    result = _rmn("plan", str(brief), data_dir=tmp_path)
    assert result.exit_code == 2
    assert "is not UTF-8 text" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("where", ["brief", "config"])
def test_nested_yaml_aliases_are_refused_before_they_expand(tmp_path: Path, where: str) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(_alias_bomb())  # 387 million strings once expanded
    assert bomb.stat().st_size < 600
    args = ["plan", str(bomb)] if where == "brief" else ["--config", str(bomb), "plan", str(bomb)]
    result = _rmn(*args, data_dir=tmp_path)
    assert result.exit_code == 2
    assert "expands to more than 100,000 YAML nodes" in result.output


def test_an_oversized_brief_is_refused_with_the_limit(tmp_path: Path) -> None:
    brief = tmp_path / "brief.yaml"
    brief.write_text("name: big\nnotes: '" + "x" * MAX_YAML_BYTES + "'\n")
    result = _rmn("plan", str(brief), data_dir=tmp_path)
    assert result.exit_code == 2 and "the limit is 1,000,000" in result.output


def test_a_tenant_id_that_is_not_an_id_is_refused(exports: Path, tmp_path: Path) -> None:
    brief = write_brief(tmp_path, exports, tenant="acme")
    brief.write_text(brief.read_text().replace("tenant: acme", "tenant: ../../Evil Tenant"))
    result = _rmn("plan", str(brief), data_dir=tmp_path / "rmn")
    assert result.exit_code == 2
    assert "field 'tenant': '../../Evil Tenant' is not an id" in result.output
    with open_db(load_settings(data_dir=tmp_path / "rmn")).get_session() as session:
        assert session.exec(select(Tenant)).all() == []


def test_missing_exports_are_named_when_the_brief_is_read(exports: Path, tmp_path: Path) -> None:
    brief = write_brief(tmp_path, exports, tenant="acme")
    brief.write_text(brief.read_text().replace(WALMART, "no_such_export.csv"))
    result = _rmn("plan", str(brief), data_dir=tmp_path / "rmn")
    assert result.exit_code == 2
    assert "files not found: retailers.0.data (walmart):" in result.output
    assert "no_such_export.csv" in result.output


def test_a_brand_of_another_tenant_stops_the_plan_before_anything_is_written(
    exports: Path, tmp_path: Path
) -> None:
    data_dir = tmp_path / "rmn"
    database = open_db(load_settings(data_dir=data_dir))
    with database.get_session() as session:
        session.add(Tenant(id="owner", name="owner"))
        session.flush()
        session.add(Brand(id="acme-snacks", tenant_id="owner", name="Acme"))
    brief = write_brief(tmp_path, exports, tenant="intruder")
    result = _rmn("plan", str(brief), "--run-id", "run-x", data_dir=data_dir)
    assert result.exit_code == 2
    assert "brand 'acme-snacks' belongs to another tenant, not to 'intruder'" in result.output
    with database.get_session() as session:
        assert session.get(Tenant, "intruder") is None
        assert session.exec(select(PlanRun)).all() == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty (0 bytes)"),
        (None, "has no data rows (only a header?)"),
        (b"\x00" * 10_000, "is binary (NUL bytes in its first 4 KB)"),
    ],
)
def test_an_unusable_export_keeps_the_earlier_output(
    exports: Path, tmp_path: Path, content: bytes | None, message: str
) -> None:
    out = tmp_path / "out"
    good = _rmn(
        "harmonize", str(exports / WALMART), "--retailer", "walmart", "--out", str(out), data_dir=tmp_path
    )
    assert good.exit_code == 0, good.output
    before = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    bad = tmp_path / "bad.csv"
    header = (exports / WALMART).read_text().splitlines()[0] + "\n"
    bad.write_bytes(header.encode() if content is None else content)
    result = _rmn("harmonize", str(bad), "--retailer", "walmart", "--out", str(out), data_dir=tmp_path)
    assert result.exit_code == 1
    assert message in result.output and str(bad) in result.output
    assert sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file()) == before


def test_adding_a_brand_another_tenant_holds_is_a_message_not_an_integrity_error(tmp_path: Path) -> None:
    database = open_db(load_settings(data_dir=tmp_path))
    with database.get_session() as session:
        session.add_all([Tenant(id="one", name="one"), Tenant(id="two", name="two")])
    store.create_brand(database, "one", "shared-id", "One's brand")
    with pytest.raises(ValueError, match="brand id 'shared-id' is already in use; choose another"):
        store.create_brand(database, "two", "shared-id", "Two's brand")
    with database.get_session() as session:
        assert [(b.id, b.tenant_id) for b in session.exec(select(Brand)).all()] == [("shared-id", "one")]


def test_an_unexpected_error_is_one_line_and_a_crash_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import rmnlora.cli.main
    from rmnlora.cli import boundary

    def broken() -> None:
        raise RuntimeError("the optimizer's cache is corrupt\nsecond line")

    monkeypatch.setenv("RMN_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(rmnlora.cli.main, "app", broken)
    with pytest.raises(SystemExit) as stopped:
        boundary.run()
    assert stopped.value.code == boundary.EXIT_INTERNAL
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "unexpected RuntimeError: the optimizer's cache is corrupt (details in " in err
    (report,) = (tmp_path / "logs").glob("crash-*.log")
    assert "Traceback" in report.read_text() and "second line" in report.read_text()


def test_ragged_rows_are_quarantined_with_their_line_and_the_run_goes_on(
    exports: Path, tmp_path: Path
) -> None:
    from rmnlora.agents.harmonizer import read_quarantine

    lines = (exports / WALMART).read_text().splitlines()
    header_fields = lines[0].count(";") + 1
    ragged = tmp_path / "ragged.csv"
    short = ";".join(lines[5].split(";")[:4])
    ragged.write_text("\n".join([*lines[:3], "x;" * 18 + "x", *lines[3:8], short, *lines[8:10]]) + "\n")
    result = _rmn(
        "harmonize", str(ragged), "--retailer", "walmart", "--out", str(tmp_path / "out"), data_dir=tmp_path
    )
    assert result.exit_code == 0, result.output
    quarantine = read_quarantine(tmp_path / "out", "walmart").filter(pl.col("reason") == "ragged_row")
    assert sorted(quarantine["detail"].to_list()) == [
        f"line 10 has 4 fields, its header {header_fields}",
        f"line 4 has 19 fields, its header {header_fields}",
    ]
    assert "quarantined {'ragged_row': 2}" in " ".join(result.output.split())


def test_a_brief_asking_for_too_many_audiences_is_refused(exports: Path, tmp_path: Path) -> None:
    from rmnlora.schemas.brief import MAX_AUDIENCES

    brief = write_brief(
        tmp_path, exports, tenant="acme", audiences=[f"aud-{i}" for i in range(MAX_AUDIENCES + 1)]
    )
    result = _rmn("plan", str(brief), data_dir=tmp_path / "rmn")
    assert result.exit_code == 2 and "field 'audiences'" in result.output and "at most 1000" in result.output
