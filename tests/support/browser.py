"""The real app in a real browser: a Streamlit server on a free port, driven by headless Chromium."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from rmnlora.storage import init_db
from tests.support.feedback_support import add_tenant
from tests.support.loopback import free_port, wait_healthy
from tests.support.paths import REPO_ROOT

APP = REPO_ROOT / "rmnlora" / "ui" / "streamlit_app.py"
CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
SECRET = "e2e-secret-passphrase"
ARTIFACTS = Path(os.environ.get("RMN_TEST_ARTIFACTS", REPO_ROOT / "test-artifacts")) / "screenshots"

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)",
)


def app_env(tmp_path: Path, tenant: str, brands: tuple[str, ...]) -> dict[str, str]:
    """The environment of an app on its own SQLite database, with ``tenant`` owning ``brands``."""
    url = f"sqlite:///{tmp_path / 'rmn.db'}"
    database = init_db(url, secret_key=SECRET)
    add_tenant(database, tenant, brands)
    database.dispose()
    return {
        "RMN_DATA_DIR": str(tmp_path / "data"),
        "RMN_DATABASE__URL": url,
        "RMN_SECRET_KEY": SECRET,
        "RMN_MODEL__ENABLED": "false",
        "RMN_FEEDBACK_TENANT": tenant,
    }


@contextmanager
def streamlit_server(env: dict[str, str], log_file: Path, port: int | None = None) -> Iterator[str]:
    """``streamlit run`` the app with ``env`` added; yields its base URL once healthy; stops it after."""
    port = port or free_port()
    full_env = {**os.environ, **env}
    full_env.pop("RMN_CONFIG", None)
    log = log_file.open("a")
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
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(f"{base}/_stcore/health", server, log_file, 60, "streamlit")
        yield base
    finally:
        server.kill()  # as a crash or a restart would end it: no graceful shutdown
        server.wait(timeout=15)
        log.close()


class Browser:
    """Headless Chromium with the few moves a test needs, each failing with what the page shows."""

    def __init__(self, profile: Path, timeout: float = 60) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.support.ui import WebDriverWait

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
            f"--user-data-dir={profile}",
        ):
            options.add_argument(flag)
        self.driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        self.wait = WebDriverWait(self.driver, timeout)
        self.timeout = timeout

    def body(self) -> str:
        from selenium.webdriver.common.by import By

        return str(self.driver.find_element(By.TAG_NAME, "body").text)

    def text_appears(self, fragment: str, timeout: float | None = None) -> None:
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait

        waiter = self.wait if timeout is None else WebDriverWait(self.driver, timeout)
        try:
            waiter.until(lambda d: fragment in d.find_element("tag name", "body").text)
        except TimeoutException:
            raise AssertionError(
                f"{fragment!r} never appeared; the page shows:\n{self.body()[-3000:]}"
            ) from None

    def click(self, xpath: str) -> None:
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec

        try:
            self.wait.until(ec.element_to_be_clickable((By.XPATH, xpath))).click()
        except TimeoutException:
            shown = self.body()[-3000:]
            raise AssertionError(f"nothing to click at {xpath}; the page shows:\n{shown}") from None

    def click_button(self, label: str) -> None:
        self.click(f'//button[normalize-space()="{label}"]')

    def open_page(self, title: str) -> None:
        self.click(f'//a[.//span[normalize-space()="{title}"]]')

    def fill_text_area(self, label: str, value: str) -> None:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.common.keys import Keys
        from selenium.webdriver.support import expected_conditions as ec

        selector = f'textarea[aria-label="{label}"]'
        area = self.wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, selector)))
        area.click()
        area.send_keys(Keys.CONTROL, "a")
        area.send_keys(value)
        area.send_keys(Keys.CONTROL, Keys.ENTER)  # Streamlit commits a text area on Ctrl+Enter
        self.wait.until(lambda d: d.find_element(By.CSS_SELECTOR, selector).get_attribute("value") == value)

    def upload(self, paths: list[Path], index: int = 0) -> None:
        """Give files to the ``index``-th file uploader (its hidden input takes paths directly)."""
        from selenium.webdriver.common.by import By

        self.wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, 'input[type="file"]')) > index)
        field = self.driver.find_elements(By.CSS_SELECTOR, 'input[type="file"]')[index]
        field.send_keys("\n".join(str(p) for p in paths))

    def screenshot(self, name: str) -> Path:
        """Keep a full-page picture as a test artifact (test-artifacts/screenshots; copies in docs/)."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        height = self.driver.execute_script(
            "return Math.max(...Array.from(document.querySelectorAll('section, div'))"
            ".map(e => e.scrollHeight), document.body.scrollHeight)"
        )
        self.driver.set_window_size(1400, min(max(int(height) + 100, 1000), 6000))
        time.sleep(0.5)
        path = ARTIFACTS / f"{name}.png"
        self.driver.save_screenshot(str(path))
        self.driver.set_window_size(1400, 1000)
        return path

    def quit(self) -> None:
        self.driver.quit()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.quit()
