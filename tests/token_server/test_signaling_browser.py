"""The demo page's "Start a call" in a real browser: Debian's headless Chromium with its fake audio device,
driven by selenium through Debian's chromedriver, against ``serve --emulator`` as a process.

A real ``RTCPeerConnection`` (microphone, ``oai-events`` data channel) posts its offer to ``/session``; the
answer must be applied (``signalingState`` stable), and the emulator (its records written by
``--emulator-record`` when serve stops) must have received the offer byte for byte with the server's session.
Refused requests (over budget; a page on a foreign origin) show their error on the page and reach nothing
upstream. Screenshots land in ``artifacts/`` (git-ignored). Skipped, saying so, without the binaries.
"""

from __future__ import annotations

import base64
import functools
import http.server
import importlib.util
import json
import shutil
import tempfile
import threading
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from waiting import wait_until

from .conftest import Served
from .test_token_browser import ARTIFACTS, CHROMEDRIVER, CHROMIUM


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    if importlib.util.find_spec("selenium") is None:
        pytest.skip("BROWSER TEST SKIPPED: selenium is not installed; the signaling demo is UNTESTED")
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip(
            "BROWSER TEST SKIPPED: Debian's chromium and chromium-driver are not installed "
            "(apt-get install chromium chromium-driver); the signaling demo is UNTESTED in this run"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    monkeypatch.setenv("SE_OFFLINE", "true")
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
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        "--window-size=1100,1000",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _until(check: Any, what: str, timeout: float = 15.0) -> Any:
    return wait_until(check, timeout, what=what)


def _text(driver: Any, element_id: str) -> str:
    return str(driver.find_element("id", element_id).text)


def test_start_a_call_applies_the_answer_and_the_emulator_got_the_offer_byte_for_byte(
    browser: Any, tmp_path: Path, start: Any
) -> None:
    config = tmp_path / "serve.yaml"
    config.write_text("server:\n  rate_limit: 1/minute\n  session:\n    instructions: Speak briefly.\n")
    record = tmp_path / "calls.json"
    served: Served = start("--emulator", "--config", str(config), "--emulator-record", str(record))
    browser.get(served.url + "/")
    _until(lambda: browser.find_element("id", "start-call").is_displayed(), "the call button")
    browser.find_element("id", "start-call").click()

    _until(lambda: browser.execute_script("return window.demoCallState()") == "stable", "signalingState stable")
    call_id = _until(lambda: _text(browser, "call-id").startswith("rtc_") and _text(browser, "call-id"), "call id")
    offer = browser.execute_script("return window.demoPostedOffer()")
    assert "stable" in _text(browser, "call-state")
    assert browser.find_element("id", "end-call").is_displayed()
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "signaling-call-started.png"))

    browser.find_element("id", "end-call").click()
    _until(lambda: _text(browser, "call-state") == "hung up", "the hang-up")
    assert browser.execute_script("return window.demoCallState()") is None

    browser.find_element("id", "start-call").click()  # over budget (1/minute): refused, shown, nothing sent
    error = _until(lambda: _text(browser, "call-error"), "the refusal on the page")
    assert "429" in error
    assert "rate_limited" in error
    assert "retry in" in error
    browser.save_screenshot(str(ARTIFACTS / "signaling-call-429.png"))

    assert served.stop() == 0
    calls = json.loads(record.read_text())
    assert [call["id"] for call in calls] == [call_id]
    assert base64.b64decode(calls[0]["offer_base64"]) == offer.encode("utf-8")
    assert calls[0]["encoding"] == "multipart"
    assert calls[0]["session"] == {
        "type": "realtime",
        "model": "gpt-realtime-2.1",
        "instructions": "Speak briefly.",
        "audio": {"output": {"voice": "marin"}},
    }


class _ForeignPage(http.server.SimpleHTTPRequestHandler):
    """The demo page served from another origin, its config pointing at the real server's ``/session``."""

    config: bytes = b"{}"

    def do_GET(self) -> None:
        if self.path == "/demo-config.json":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(self.config)))
            self.end_headers()
            self.wfile.write(self.config)
            return
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


def test_a_page_on_a_foreign_origin_is_refused_and_shows_it(browser: Any, tmp_path: Path, start: Any) -> None:
    record = tmp_path / "calls.json"
    served: Served = start("--emulator", "--emulator-record", str(record))
    static = tmp_path / "site"
    (static / "static").mkdir(parents=True)
    folder = resources.files("realtime_service.web").joinpath("static")
    for name in ("demo.js", "demo.css"):
        (static / "static" / name).write_bytes(folder.joinpath(name).read_bytes())
    (static / "index.html").write_bytes(folder.joinpath("index.html").read_bytes())
    config = {
        "token_path": served.url + "/token",
        "session_path": served.url + "/session",
        "voice_api": "realtime",
        "auth": "none",
        "browser_fields": ["voice"],
        "voice": "marin",
        "voices": ["marin"],
        "max_ttl": 600,
        "ttl": 60,
        "calls_url": None,
    }
    handler = type("Page", (_ForeignPage,), {"config": json.dumps(config).encode()})
    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(static)))
    threading.Thread(target=site.serve_forever, daemon=True).start()
    try:
        browser.get(f"http://127.0.0.1:{site.server_address[1]}/")
        _until(lambda: browser.find_element("id", "start-call").is_displayed(), "the call button")
        browser.find_element("id", "start-call").click()
        error = _until(lambda: _text(browser, "call-error"), "the refusal on the page")
        assert error.startswith("Call refused:")
        assert _text(browser, "call-id") == "-"
        ARTIFACTS.mkdir(exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / "signaling-foreign-origin.png"))
    finally:
        site.shutdown()
        site.server_close()
    assert served.stop() == 0
    assert json.loads(record.read_text()) == []
    assert "OPTIONS /session -> 403" in served.stderr or "POST /session -> 403" in served.stderr
