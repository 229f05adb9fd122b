"""One headless Chromium for the whole run, a fresh browser context (like a new incognito window) for each test.

Starting Chromium and chromedriver costs about a second; the browser tests used to pay it once per test. The
session-scoped fixture in ``tests/conftest.py`` starts one :class:`Chromium` the first time a test asks for a
browser (a run without browser tests starts none) and quits it when the run ends. Each test gets its own tab in
its own browser context (CDP ``Target.createBrowserContext``): cookies, storage, cache and permissions are
those of a new profile and disappear with the context, so the tests stay independent in any order
(pytest-randomly). The microphone is a per-context permission (granted or denied), not a launch flag, so the
"blocked microphone" test shares the browser too.

Nothing here downloads a browser or a driver: Debian's ``chromium`` and ``chromium-driver`` must be installed
(``.ci/run`` does); without them the browser tests are skipped saying so, in the wording ``skip_gate.py``
accepts. All traffic is loopback: the pages under test and Chromium's own DevTools port.
"""

from __future__ import annotations

import http.server
import importlib.util
import json
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver") or (
    "/usr/lib/chromium/chromedriver" if Path("/usr/lib/chromium/chromedriver").exists() else None
)
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--use-fake-device-for-media-stream",  # a fake microphone; whether a page may use it is set per context
    "--deny-permission-prompts",  # a prompt nobody answers would hang a headless page: every one is denied
    "--window-size=1100,1300",  # new tabs (the per-test contexts' too) take this size: screenshots stay alike
)
#: The shared browser runs in the test's own network namespace, where nothing may gather ICE candidates
#: (tests/netns.py): this profile preference (Chromium's ``WebRtcIPHandling`` policy; the command-line switch of
#: that name is ignored) leaves its WebRTC peers no UDP and, with no proxy, no candidate at all, so a page's
#: ``setLocalDescription`` gathers nothing (``tests/test_chromium.py`` checks). A browser call that must connect
#: runs in a namespace the test makes (``tests/demo_call_helper.py``), without it.
NO_GATHERING = {"webrtc": {"ip_handling_policy": "disable_non_proxied_udp"}}
#: WebDriver's default timeouts, put back after each test (a test may change them, e.g. a long script timeout).
SCRIPT_TIMEOUT, PAGE_LOAD_TIMEOUT = 30, 300


def binaries() -> tuple[str, str]:
    """Chromium's and chromedriver's paths; else skip, saying what is missing: selenium (a Python package,
    refused by ``--only-system-skips``) or Debian's chromium and chromium-driver (a system package, accepted)."""
    if importlib.util.find_spec("selenium") is None:
        pytest.skip(
            "BROWSER TEST SKIPPED: selenium is not installed (pip install -e '.[test]'); "
            "the demo page, the docs' browser blocks and answer_for in a browser are UNTESTED"
        )
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip(
            "BROWSER TEST SKIPPED: Debian's chromium and chromium-driver are not installed "
            "(apt-get install chromium chromium-driver); the demo page, the docs' browser blocks and answer_for "
            "in a browser are UNTESTED in this run"
        )
    return CHROMIUM, CHROMEDRIVER


class _EmptyPage(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<!doctype html><title>empty</title>"
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@contextmanager
def empty_page() -> Iterator[str]:
    """The URL of an empty page on loopback, for scripts that need an origin: ``getUserMedia`` wants a secure
    context, which ``http://127.0.0.1`` is, and storage is kept per origin."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EmptyPage)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class _BrowserTarget:
    """Chromium's browser-level DevTools session: creating and disposing browser contexts is not allowed from
    the page session chromedriver's ``execute_cdp_cmd`` talks to."""

    def __init__(self, profile: Path) -> None:
        import websocket  # selenium's own dependency (websocket-client)

        # Chromium writes its DevTools port and browser path here once it listens (on 127.0.0.1).
        port, path = (profile / "DevToolsActivePort").read_text().split()[:2]
        self._socket = websocket.create_connection(f"ws://127.0.0.1:{port}{path}", timeout=30, suppress_origin=True)
        self._next_id = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        self._socket.send(json.dumps({"id": self._next_id, "method": method, "params": params}))
        while True:  # events are not subscribed to, but skip anything that is not this call's answer
            message = json.loads(self._socket.recv())
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message["result"]
                return result

    def close(self) -> None:
        self._socket.close()


class Chromium:
    """A running headless Chromium driven by selenium through chromedriver, its console log kept (CSP violations
    land there); :meth:`context` hands each test a clean tab."""

    def __init__(self) -> None:
        chromium, chromedriver = binaries()
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.profile = Path(tempfile.mkdtemp(prefix="chromium-profile-"))
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for flag in (*FLAGS, f"--user-data-dir={self.profile}"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        options.add_experimental_option("prefs", NO_GATHERING)
        with pytest.MonkeyPatch.context() as env:
            env.setenv("SE_OFFLINE", "true")  # selenium-manager must never fetch anything
            self.driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
        try:
            self._home = self.driver.current_window_handle  # a blank tab no test uses, to switch to between tests
            self._browser = _BrowserTarget(self.profile)
        except BaseException:
            self.quit()
            raise

    @contextmanager
    def context(self, *, microphone: bool = True) -> Iterator[Any]:
        """The driver, switched to a new tab in a new browser context whose pages may use the fake microphone
        (``microphone=False``: denied, as when a user blocked it); the context and all its tabs are gone after."""
        context_id = self._browser.call("Target.createBrowserContext", disposeOnDetach=True)["browserContextId"]
        try:
            self._browser.call(
                "Browser.setPermission",
                permission={"name": "microphone"},
                setting="granted" if microphone else "denied",
                browserContextId=context_id,
            )
            tab = self._browser.call("Target.createTarget", url="about:blank", browserContextId=context_id)
            self.driver.switch_to.window(tab["targetId"])
            # drained: a test reads only its own console messages
            self.driver.get_log("browser")  # type: ignore[no-untyped-call]
            yield self.driver
        finally:
            self.driver.switch_to.window(self._home)
            self._browser.call("Target.disposeBrowserContext", browserContextId=context_id)
            self.driver.set_script_timeout(SCRIPT_TIMEOUT)
            self.driver.set_page_load_timeout(PAGE_LOAD_TIMEOUT)
            self.driver.implicitly_wait(0)

    def quit(self) -> None:
        try:
            if hasattr(self, "_browser"):
                self._browser.close()
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)
