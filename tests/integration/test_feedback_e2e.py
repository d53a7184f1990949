"""End to end in headless Chromium: submit a preference in the real app, find it in the DPO export,
and start an improvement run from the dashboard (one pair is not enough: it says how many more)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rmnlora.feedback.export import iter_dpo_rows
from rmnlora.storage import init_db
from tests.support.feedback_support import add_tenant
from tests.support.paths import REPO_ROOT

APP = REPO_ROOT / "rmnlora" / "ui" / "streamlit_app.py"
CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
SECRET = "e2e-secret-passphrase"

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def app_url(tmp_path: Path) -> Iterator[tuple[str, str]]:
    url = f"sqlite:///{tmp_path / 'rmn.db'}"
    database = init_db(url, secret_key=SECRET)
    add_tenant(database, "acme", ("acme-cola",))
    database.dispose()
    port = _free_port()
    env = {
        **os.environ,
        "RMN_DATA_DIR": str(tmp_path),
        "RMN_DATABASE__URL": url,
        "RMN_SECRET_KEY": SECRET,
        "RMN_MODEL__ENABLED": "false",
        "RMN_FEEDBACK_TENANT": "acme",
    }
    env.pop("RMN_CONFIG", None)
    log = (tmp_path / "streamlit.log").open("w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(APP),
            "--server.address=127.0.0.1",
            f"--server.port={port}",
            "--server.headless=true",
            "--browser.gatherUsageStats=false",
            "--server.fileWatcherType=none",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/_stcore/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("streamlit did not start: " + (tmp_path / "streamlit.log").read_text())
            time.sleep(0.3)
        yield base, url
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def test_a_preference_submitted_in_chromium_is_in_the_export(
    app_url: tuple[str, str], tmp_path: Path
) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    base, db_url = app_url
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1400,1000",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    wait = WebDriverWait(driver, 60)

    def text_appears(fragment: str) -> None:
        from selenium.common.exceptions import TimeoutException

        try:
            wait.until(lambda d: fragment in d.find_element(By.TAG_NAME, "body").text)
        except TimeoutException:
            body = driver.find_element(By.TAG_NAME, "body").text
            raise AssertionError(f"{fragment!r} never appeared; the page shows:\n{body[-3000:]}") from None

    def fill(label: str, value: str) -> None:
        area = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, f'textarea[aria-label="{label}"]')))
        area.click()
        area.send_keys(Keys.CONTROL, "a")
        area.send_keys(value)
        area.send_keys(Keys.CONTROL, Keys.ENTER)  # Streamlit commits a text area on Ctrl+Enter
        wait.until(
            lambda d: (
                d.find_element(By.CSS_SELECTOR, f'textarea[aria-label="{label}"]').get_attribute("value")
                == value
            )
        )

    def open_page(title: str) -> None:
        link = wait.until(
            ec.element_to_be_clickable((By.XPATH, f'//a[.//span[normalize-space()="{title}"]]'))
        )
        link.click()

    try:
        driver.get(base)
        text_appears("Teach the copywriter")
        text_appears("Training pairs ready")  # the brand is chosen (the tenant has one)
        open_page("Ad copy")
        text_appears("Model unavailable")
        fill("Response A", "Cola. It is a drink.")
        fill("Response B", "Ice-cold Acme Cola, ready for game night.")
        option_b = wait.until(
            ec.element_to_be_clickable(
                (
                    By.XPATH,
                    '//div[@role="radiogroup" and @aria-label="Better response"]'
                    '//label[normalize-space()="B"]',
                )
            )
        )
        option_b.click()
        save = wait.until(
            ec.element_to_be_clickable((By.XPATH, '//button[normalize-space()="Save preference"]'))
        )
        save.click()
        text_appears("Preference saved")
        open_page("Export")
        text_appears("Download DPO JSONL")
        text_appears("Ice-cold Acme Cola, ready for game night.")
        # the dashboard: the brand's model, the improvement button, agreement
        open_page("Dashboard")
        text_appears("The brand's model")
        text_appears("no adapter yet")
        text_appears("Annotator agreement")
        improve = wait.until(
            ec.element_to_be_clickable((By.XPATH, '//button[normalize-space()="Improve the model now"]'))
        )
        improve.click()
        text_appears("Run #1 not enough feedback")
        text_appears("from 1 feedback items after #0")
    finally:
        driver.quit()

    database = init_db(db_url, secret_key=SECRET, migrate=False)
    try:
        rows = [row.model_dump() for row in iter_dpo_rows(database, "acme")]
    finally:
        database.dispose()
    assert len(rows) == 1
    assert rows[0]["chosen"] == "Ice-cold Acme Cola, ready for game night."
    assert rows[0]["rejected"] == "Cola. It is a drink."
    assert '"retailer":"walmart"' in rows[0]["prompt"]  # the brief, with the agent's own turns
