"""The New plan page (streamlit.testing AppTest) over real exports, a real runner and real plans.

AppTest cannot drive ``st.file_uploader``: the upload-saving function is tested on its own, and
the page tests store the example exports with it before the page opens.
"""

from __future__ import annotations

import copy
import datetime as dt
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from streamlit.testing.v1 import AppTest

from rmnlora.config import Settings
from rmnlora.planner.background import PlanRunner
from rmnlora.planner.services import PlannerServices
from rmnlora.ui import app_state
from rmnlora.ui.uploads import (
    UploadError,
    list_exports,
    safe_name,
    save_upload,
    saved_mapping,
    tenant_folder,
)
from tests.support.feedback_support import add_tenant
from tests.support.paths import REPO_ROOT
from tests.support.planner_fixtures import AMAZON, BASE_BRIEF, KROGER, WALMART, make_exports, planner_settings

APP = str(REPO_ROOT / "rmnlora" / "ui" / "streamlit_app.py")
TENANT, BRAND = "acme", "acme-snacks"
CROSSWALK = "amazon_asin_crosswalk.csv"


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_exports(tmp_path_factory.mktemp("exports"))


@dataclass
class Workspace:
    settings: Settings
    runner: PlanRunner

    @property
    def data_dir(self) -> Path:
        return Path(self.settings.data_dir)


@pytest.fixture
def workspace(tmp_path: Path, exports: Path) -> Iterator[Workspace]:
    """Settings (model off), a runner over them, tenant acme with its brand and its stored exports."""
    settings = planner_settings(tmp_path / "data")
    runner = PlanRunner(settings, PlannerServices(settings))
    add_tenant(runner.database, TENANT, (BRAND,))
    for name in (WALMART, AMAZON, KROGER, CROSSWALK):
        save_upload(settings.data_dir, TENANT, name, (exports / name).read_bytes())
    try:
        yield Workspace(settings, runner)
    finally:
        for run in runner.runs(TENANT):
            runner.wait(run.id, 120)
        runner.database.dispose()


def _page(ws: Workspace) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state[app_state.DATABASE_KEY] = ws.runner.database
    at.session_state[app_state.SETTINGS_KEY] = ws.settings
    at.session_state[app_state.RUNNER_KEY] = ws.runner
    at.session_state[app_state.TENANT_KEY] = TENANT
    at.session_state[app_state.BRAND_KEY] = BRAND
    at.run()
    at.switch_page("views/new_plan.py").run()
    assert not at.exception, at.exception
    return at


def _nodes(node: Any) -> list[Any]:
    """Every element under ``node`` in page order (blocks, then what they hold)."""
    found = []
    for child in getattr(node, "children", {}).values():
        found.append(child)
        found.extend(_nodes(child))
    return found


def _under(at: AppTest, widget: str) -> list[str]:
    """The error messages shown right under the widget with key ``widget``."""
    nodes = _nodes(at.main)
    index = next(i for i, n in enumerate(nodes) if getattr(n, "key", None) == widget)
    messages = []
    for node in nodes[index + 1 :]:
        if getattr(node, "type", None) != "error":
            break
        messages.append(str(node.value))
    return messages


def _fill_valid(at: AppTest) -> None:
    """One retailer (Walmart, its stored CSV) and the test brief's other values."""
    at.text_input(key="np_name").input("acme-app")
    at.number_input(key="np_budget").set_value(400000.0)
    at.date_input(key="np_flight_start").set_value(dt.date(2025, 5, 12))
    at.date_input(key="np_flight_end").set_value(dt.date(2025, 6, 8))
    at.selectbox(key="np_r0_choice").set_value("walmart")
    at.multiselect(key="np_r0_data").set_value([WALMART])
    at.number_input(key="np_r0_min_spend").set_value(60000.0)
    at.number_input(key="np_r0_current_spend").set_value(131000.0)
    at.multiselect(key="np_r0_formats").set_value(["sponsored_brands"])
    at.number_input(key="np_roas_floor").set_value(3.0)
    at.text_input(key="np_product").input("Acme Crunch granola bars")
    at.text_input(key="np_key_message").input("Whole-grain crunch for busy mornings")
    at.text_area(key="np_claims").input("made with whole grain oats")
    at.number_input(key="np_candidates").set_value(2)
    at.number_input(key="np_expected_lift").set_value(0.08)


def _yaml_brief(**changes: Any) -> str:
    brief = copy.deepcopy(BASE_BRIEF)
    brief.update(changes)
    return yaml.safe_dump(brief, sort_keys=False)


def _check_yaml(at: AppTest, text: str) -> None:
    at.text_area(key="np_brief_text").input(text)
    at.button(key="np_check_yaml").click().run()
    assert not at.exception, at.exception


# --- uploads (unit) -------------------------------------------------------------------------------


def test_an_upload_is_stored_once_under_a_safe_name_in_the_tenants_folder(tmp_path: Path) -> None:
    first = save_upload(tmp_path, TENANT, "../../etc/Walmart report (May).csv", b"Date;Spend\n1;2\n")
    assert first.export.name == "Walmart report (May).csv" and not first.duplicate
    assert first.export.path.parent == tenant_folder(tmp_path, TENANT) == tmp_path / "uploads" / TENANT
    again = save_upload(tmp_path, TENANT, "copy.csv", io.BytesIO(b"Date;Spend\n1;2\n"))
    assert again.duplicate and again.export.name == first.export.name
    other = save_upload(tmp_path, TENANT, "Walmart report (May).csv", b"Date;Spend\n3;4\n")
    assert other.export.name == "Walmart report (May)-2.csv" and not other.duplicate
    assert first.export.path.read_bytes() == b"Date;Spend\n1;2\n"  # never overwritten
    assert safe_name("..\\..\\.hidden;rm -rf.CSV") == "hidden_rm -rf.csv"
    gzipped = save_upload(tmp_path / "gz", TENANT, "spAdvertisedProduct.json.gz", b"\x1f\x8b one")
    again_gz = save_upload(tmp_path / "gz", TENANT, "spAdvertisedProduct.json.gz", b"\x1f\x8b two")
    assert (gzipped.export.name, again_gz.export.name) == (
        "spAdvertisedProduct.json.gz",
        "spAdvertisedProduct-2.json.gz",
    )
    with pytest.raises(UploadError, match="the limit is"):
        save_upload(tmp_path, TENANT, "big.csv", io.BytesIO(b"x" * 2048), max_bytes=1024)
    with pytest.raises(UploadError, match="the limit is"):
        save_upload(tmp_path, TENANT, "big.csv", b"", size=300 * 1024 * 1024)
    with pytest.raises(UploadError, match="not an export"):
        save_upload(tmp_path, TENANT, "script.sh", b"echo")
    with pytest.raises(UploadError, match="empty"):
        save_upload(tmp_path, TENANT, "empty.csv", b"")
    with pytest.raises(UploadError, match="not a tenant id"):
        save_upload(tmp_path, "../globex", "x.csv", b"a")
    assert [e.name for e in list_exports(tmp_path, TENANT)] == [
        "Walmart report (May)-2.csv",
        "Walmart report (May).csv",
    ]
    assert not [p for p in tenant_folder(tmp_path, TENANT).iterdir() if p.name.startswith(".")]  # no partials


# --- the page -----------------------------------------------------------------------------------------


def test_another_tenants_uploads_are_never_listed_nor_usable(workspace: Workspace) -> None:
    save_upload(workspace.data_dir, "globex", "globex_secret.csv", b"Date;Spend\n1;2\n")
    at = _page(workspace)
    listed = list(at.dataframe[0].value["file"])
    assert listed == sorted([WALMART, AMAZON, KROGER, CROSSWALK], key=str.lower)
    assert "globex_secret.csv" not in at.multiselect(key="np_r0_data").options
    _check_yaml(at, _yaml_brief(retailers=[{"name": "walmart", "data": ["../globex/globex_secret.csv"]}]))
    assert "globex_secret.csv is not among your stored exports" in _under(at, "np_check_yaml")[0]


def test_bad_values_are_shown_beside_their_fields_and_nothing_starts(workspace: Workspace) -> None:
    at = _page(workspace)
    at.number_input(key="np_retailer_count").set_value(2).run()
    _fill_valid(at)
    at.number_input(key="np_budget").set_value(0.0)
    at.number_input(key="np_r0_max_share").set_value(0.0)
    at.date_input(key="np_flight_end").set_value(dt.date(2025, 5, 1))
    at.selectbox(key="np_r1_choice").set_value("kroger")
    at.multiselect(key="np_r1_data").set_value([KROGER])
    at.number_input(key="np_r1_min_spend").set_value(50000.0)
    at.number_input(key="np_r1_max_spend").set_value(10000.0)
    at.multiselect(key="np_r1_formats").set_value(["sponsored_brands"])  # Walmart's, not Kroger's
    at.number_input(key="np_power").set_value(0.5)
    at.button(key="np_check_form").click().run()
    assert not at.exception, at.exception

    assert _under(at, "np_budget") == ["Input should be greater than 0"]
    assert _under(at, "np_r0_max_share") == ["Input should be greater than 0"]
    assert _under(at, "np_flight_end") == ["flight ends (2025-05-01) before it starts (2025-05-12)"]
    assert _under(at, "np_r1_max_spend") == ["max_spend (10000.0) is below min_spend (50000.0)"]
    assert "kroger has no ad format sponsored_brands" in _under(at, "np_r1_formats")[0]
    assert _under(at, "np_power") == ["Input should be greater than 0.5"]
    assert _under(at, "np_name") == [] and _under(at, "np_r0_data") == []
    summary = at.error[0].value
    assert summary.startswith("The brief is not valid yet")
    assert "Budget: Input should be greater than 0" in summary and "Retailer 1 · max share" in summary
    # what was submitted is still there, and nothing can start
    assert at.number_input(key="np_r1_max_spend").value == 10000.0
    assert at.text_input(key="np_name").value == "acme-app"
    assert not [b for b in at.button if b.key == "np_start"]
    assert workspace.runner.runs(TENANT) == []


def test_a_valid_form_starts_a_run_that_plans(workspace: Workspace) -> None:
    at = _page(workspace)
    _fill_valid(at)
    at.button(key="np_check_form").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    summary = at.dataframe[1].value
    assert list(summary["retailer"]) == ["walmart"] and list(summary["mapping"]) == ["shipped"]
    at.button(key="np_start").click().run()
    assert not at.exception, at.exception  # the Plan page opened on the new run
    run_id = at.session_state[app_state.RUN_KEY]
    workspace.runner.wait(run_id, 120)
    assert [run.id for run in workspace.runner.runs(TENANT)] == [run_id]
    view = workspace.runner.view(run_id, tenant_id=TENANT)
    assert view.status in ("completed", "awaiting_review"), (view.status, view.error)
    brief = view.values["brief"]
    assert (brief["tenant"], brief["brand"], brief["name"]) == (TENANT, BRAND, "acme-app")
    assert brief["retailers"][0]["data"] == [str(workspace.data_dir / "uploads" / TENANT / WALMART)]


def test_a_yaml_brief_must_name_stored_exports_and_be_the_tenants(workspace: Workspace) -> None:
    at = _page(workspace)
    retailers = copy.deepcopy(BASE_BRIEF["retailers"])
    retailers[2]["data"] = ["exports/kroger_may.parquet"]
    _check_yaml(at, _yaml_brief(retailers=retailers))
    (message,) = _under(at, "np_check_yaml")
    assert "retailers.2.data (kroger): exports/kroger_may.parquet is not among your stored exports" in message
    assert not [b for b in at.button if b.key == "np_start"]

    _check_yaml(at, _yaml_brief(tenant="globex"))
    assert (
        "the brief is for tenant 'globex', but you are signed in as 'acme'" in _under(at, "np_check_yaml")[0]
    )
    _check_yaml(at, _yaml_brief(budget=-5))
    assert "'budget': Input should be greater than 0" in _under(at, "np_check_yaml")[0]

    _check_yaml(at, _yaml_brief())  # data/... paths resolve to the stored exports by file name
    assert _under(at, "np_check_yaml") == []
    summary = at.dataframe[1].value
    assert list(summary["retailer"]) == ["walmart", "amazon", "kroger"]
    assert list(summary["exports"]) == [WALMART, AMAZON, KROGER]
    assert at.button(key="np_start").disabled is False
    assert workspace.runner.runs(TENANT) == []


def test_an_unknown_retailer_gets_a_proposed_mapping_to_review(workspace: Workspace) -> None:
    at = _page(workspace)
    _check_yaml(at, _yaml_brief(retailers=[{"name": "target", "data": [WALMART], "min_spend": 1000}]))
    proposed = str(at.text_area(key="np_map_text_target").value)
    assert "Ad Spend (cents): spend" in proposed and "delimiter: ;" in proposed
    assert at.button(key="np_start").disabled is True
    assert "Accept a mapping for target" in at.warning[0].value

    broken = proposed.replace("Ad Spend (cents): spend", "Ad Spend (cents): spent")
    at.text_area(key="np_map_text_target").input(broken)
    at.button(key="np_map_accept_target").click().run()
    assert not at.exception, at.exception
    refused = [e.value for e in at.error]
    assert len(refused) == 1 and "unknown RMIS field 'spent'" in refused[0], refused
    assert saved_mapping(workspace.data_dir, TENANT, "target") is None

    at.text_area(key="np_map_text_target").input(proposed)
    at.button(key="np_map_accept_target").click().run()
    saved = saved_mapping(workspace.data_dir, TENANT, "target")
    assert saved is not None and "confidence" not in saved.read_text()
    assert list(at.dataframe[1].value["mapping"]) == ["yours: target.yaml"]
    at.button(key="np_start").click().run()
    run_id = at.session_state[app_state.RUN_KEY]
    workspace.runner.wait(run_id, 120)
    view = workspace.runner.view(run_id, tenant_id=TENANT)
    assert view.values["brief"]["retailers"][0]["mapping"] == str(saved)
    assert view.status in ("completed", "awaiting_review"), (view.status, view.error)
    harmonized = view.values["results"]["harmonize"]
    assert harmonized["errors"] == {} and harmonized["summaries"][0]["rows_accepted"] > 0
