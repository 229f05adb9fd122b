"""The demo page in a real browser: Debian's headless Chromium, driven by selenium through Debian's chromedriver.

Nothing here downloads a browser or a driver: both binaries must be installed (``apt-get install chromium
chromium-driver``; ``.ci/run`` does). Without them the test is skipped with a reason that says so. The screenshots
land in ``artifacts/`` (git-ignored).
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from waiting import wait_until

from .conftest import Served, config_file

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver") or (
    "/usr/lib/chromium/chromedriver" if Path("/usr/lib/chromium/chromedriver").exists() else None
)


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    if importlib.util.find_spec("selenium") is None:
        pytest.skip(
            "BROWSER TEST SKIPPED: selenium is not installed (pip install -e '.[test]'); the demo page is UNTESTED"
        )
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip(
            "BROWSER TEST SKIPPED: Debian's chromium and chromium-driver are not installed "
            "(apt-get install chromium chromium-driver); the demo page is UNTESTED in this run"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    monkeypatch.setenv("SE_OFFLINE", "true")  # selenium-manager must never fetch anything
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1100,900",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _wait(driver: Any, element_id: str, pattern: str, timeout: float = 10.0) -> str:
    def matched() -> str:
        text = str(driver.find_element("id", element_id).text)
        return text if re.search(pattern, text) else ""

    return wait_until(matched, timeout, what=f"#{element_id} to match {pattern!r}")


def test_the_demo_page_mints_a_key_and_shows_it_redacted_with_a_countdown(
    browser: Any, tmp_path: Path, start: Any
) -> None:
    config = tmp_path / "serve.yaml"
    config.write_text("server:\n  rate_limit: 2/minute\n  session:\n    ttl: 120\n")
    served: Served = start("--emulator", "--config", str(config))
    browser.get(served.url + "/")
    _wait(browser, "mint", "Mint a key")
    browser.find_element("id", "mint").click()

    key = _wait(browser, "key", r"^ek_\.\.\.[A-Za-z0-9_-]{4}$")
    first = int(_wait(browser, "countdown", r"^\d+ s left$").split()[0])
    assert 110 <= first <= 120
    wait_until(
        lambda: int(_wait(browser, "countdown", r"^\d+ s left$").split()[0]) < first, what="the countdown to tick"
    )
    session = browser.find_element("id", "session").text
    assert '"value": "ek_...' in session
    assert not re.search(r"ek_[A-Za-z0-9]{12,}", browser.page_source), "the full key is on the page"
    assert key[-4:] in session
    assert not browser.find_element("id", "token").is_displayed()  # no bearer field under auth: none
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "demo-page-minted.png"))

    browser.find_element("id", "mint").click()
    _wait(browser, "status", "Key minted")
    browser.find_element("id", "mint").click()
    error = _wait(browser, "status", r"429 Too many keys requested: retry in \d+ s")
    assert browser.find_element("id", "status").get_attribute("class") == "error"
    assert "retry in" in error
    browser.save_screenshot(str(ARTIFACTS / "demo-page-429.png"))
    assert served.stop() == 0


def test_the_demo_page_shows_a_401_clearly(browser: Any, tmp_path: Path, start: Any) -> None:
    config = config_file(tmp_path, None, auth="bearer", bearer_tokens={"demo": "demo-token-0123456789abcdef"})
    served: Served = start("--emulator", "--config", config)
    browser.get(served.url + "/")
    _wait(browser, "mint", "Mint a key")
    browser.find_element("id", "token").send_keys("not-the-token")
    browser.find_element("id", "mint").click()
    _wait(browser, "status", "401 Unauthorized")
    browser.find_element("id", "token").clear()
    browser.find_element("id", "token").send_keys("demo-token-0123456789abcdef")
    browser.find_element("id", "mint").click()
    _wait(browser, "key", r"^ek_\.\.\.")
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "demo-page-bearer.png"))
