"""End to end in headless Chromium: submit a preference in the real app, find it in the DPO export,
and start an improvement run from the dashboard (one pair is not enough: it says how many more)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rmnlora.feedback.export import iter_dpo_rows
from rmnlora.storage import init_db
from tests.support.browser import SECRET, Browser, app_env, needs_chromium, streamlit_server

pytestmark = needs_chromium


@pytest.fixture
def app_url(tmp_path: Path) -> Iterator[tuple[str, str]]:
    env = app_env(tmp_path, "acme", ("acme-cola",))
    with streamlit_server(env, tmp_path / "streamlit.log") as base:
        yield base, env["RMN_DATABASE__URL"]


def test_a_preference_submitted_in_chromium_is_in_the_export(
    app_url: tuple[str, str], tmp_path: Path
) -> None:
    base, db_url = app_url
    browser = Browser(tmp_path / "chromium-profile")
    try:
        browser.driver.get(base)
        browser.text_appears("Teach the copywriter")
        browser.text_appears("Training pairs ready")  # the brand is chosen (the tenant has one)
        browser.open_page("Ad copy")
        browser.text_appears("Model unavailable")
        browser.fill_text_area("Response A", "Cola. It is a drink.")
        browser.fill_text_area("Response B", "Ice-cold Acme Cola, ready for game night.")
        browser.click(
            '//div[@role="radiogroup" and @aria-label="Better response"]//label[normalize-space()="B"]'
        )
        browser.click_button("Save preference")
        browser.text_appears("Preference saved")
        browser.open_page("Export")
        browser.text_appears("Download DPO JSONL")
        browser.text_appears("Ice-cold Acme Cola, ready for game night.")
        # the dashboard: the brand's model, the improvement button, agreement
        browser.open_page("Dashboard")
        browser.text_appears("The brand's model")
        browser.text_appears("no adapter yet")
        browser.text_appears("Annotator agreement")
        browser.click_button("Improve the model now")
        browser.text_appears("Run #1 not enough feedback")
        browser.text_appears("from 1 feedback items after #0")
    finally:
        browser.quit()

    database = init_db(db_url, secret_key=SECRET, migrate=False)
    try:
        rows = [row.model_dump() for row in iter_dpo_rows(database, "acme")]
    finally:
        database.dispose()
    assert len(rows) == 1
    assert rows[0]["chosen"] == "Ice-cold Acme Cola, ready for game night."
    assert rows[0]["rejected"] == "Cola. It is a drink."
    assert '"retailer":"walmart"' in rows[0]["prompt"]  # the brief, with the agent's own turns
