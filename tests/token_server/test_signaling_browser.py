"""The demo page's "Start a call" in a real browser: Debian's headless Chromium with its fake audio device,
driven by selenium through Debian's chromedriver, against ``serve --emulator`` as a process.

A real ``RTCPeerConnection`` (microphone, ``oai-events`` data channel) posts its offer to ``/session``; the
answer must be applied (``signalingState`` stable, the page saying "no media" since the emulator sends none),
and the emulator (its records written by ``--emulator-record`` when serve stops) must have received the offer
byte for byte with the server's session. Refused requests (over the calls budget; a page on a foreign origin)
show a readable error on the page and reach nothing upstream. Screenshots land in ``$PYTEST_ARTIFACTS``
(default ``artifacts/``, git-ignored). Skipped, saying so, without the binaries (``browser``: the run's one
Chromium, a fresh browser context per test, from ``tests/conftest.py``).
"""

from __future__ import annotations

import base64
import functools
import http.server
import json
import threading
from importlib import resources
from pathlib import Path
from typing import Any

from .conftest import Served
from .test_token_browser import NO_MEDIA, one_retry_hint, screenshot, text, until, wait_text


def test_start_a_call_applies_the_answer_and_the_emulator_got_the_offer_byte_for_byte(
    browser: Any, tmp_path: Path, start: Any
) -> None:
    config = tmp_path / "serve.yaml"
    config.write_text("server:\n  call_rate_limit: 1/minute\n  session:\n    instructions: Speak briefly.\n")
    record = tmp_path / "calls.json"
    served: Served = start("--emulator", "--config", str(config), "--emulator-record", str(record))
    browser.get(served.url + "/")
    until(browser, lambda d: d.find_element("id", "start-call").is_displayed(), "the call button")
    browser.find_element("id", "start-call").click()

    until(browser, lambda d: d.execute_script("return window.demoCallState()") == "stable", "signalingState stable")
    call_id = wait_text(browser, "call-id", "^rtc_")
    offer = browser.execute_script("return window.demoPostedOffer()")
    assert wait_text(browser, "call-state", "^no media") == NO_MEDIA
    assert browser.find_element("id", "end-call").is_displayed()
    screenshot(browser, "signaling-call-started.png")

    browser.find_element("id", "end-call").click()
    wait_text(browser, "call-state", "^ended$")
    assert browser.execute_script("return window.demoCallState()") is None

    browser.find_element("id", "start-call").click()  # over the calls budget (1/minute): refused, shown, nothing sent
    error = wait_text(browser, "call-error", "HTTP 429")
    assert "Too many calls" in error
    assert "rate_limited" in error
    one_retry_hint(error)
    assert text(browser, "call-state").startswith("failed: ")
    screenshot(browser, "signaling-call-429.png")

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
    folder = resources.files("realtime_service.web.routes.demo").joinpath("static")
    for name in ("demo.js", "demo.css", "favicon.svg"):
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
    threading.Thread(target=site.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        browser.get(f"http://127.0.0.1:{site.server_address[1]}/")
        until(browser, lambda d: d.find_element("id", "start-call").is_displayed(), "the call button")
        browser.find_element("id", "start-call").click()
        error = wait_text(browser, "call-error", "Could not reach")
        assert error.startswith(f"Could not reach the server at {served.url}/session: the browser blocked")
        assert text(browser, "call-state") == "failed: the server could not be reached"
        assert text(browser, "call-id") == "-"
        screenshot(browser, "signaling-foreign-origin.png")
    finally:
        site.shutdown()
        site.server_close()
    assert served.stop() == 0
    assert json.loads(record.read_text()) == []
    assert "OPTIONS /session -> 403" in served.stderr or "POST /session -> 403" in served.stderr
