"""The demo page in a real browser: Debian's headless Chromium, driven by selenium through Debian's chromedriver.

The browser is the run's one Chromium (``tests/chromium.py``), a fresh browser context for each test. Nothing
here downloads a browser or a driver: both binaries must be installed (``apt-get install chromium
chromium-driver``; ``.ci/run`` does). Without them the test is skipped with a reason that says so. Each state of
the page is asserted on its visible text and saved as a screenshot in ``$PYTEST_ARTIFACTS`` (default
``artifacts/`` at the checkout's root, git-ignored): ``demo-1-initial.png`` to ``demo-7-bearer-401.png``.
Waits are selenium's ``WebDriverWait`` on a condition, never a sleep.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chromium import Chromium

from realtime_service.emulator import Emulator, Fault

from .conftest import Served, config_file

ARTIFACTS = Path(os.environ.get("PYTEST_ARTIFACTS") or Path(__file__).resolve().parents[2] / "artifacts")
NO_MEDIA = "no media: the emulator answers signaling but sends no audio"


def until(driver: Any, check: Callable[[Any], Any], what: str, timeout: float = 15.0) -> Any:
    """``check(driver)``'s first truthy value, polled by selenium's ``WebDriverWait`` up to ``timeout``."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(check, message=f"{what} never happened")


def text(driver: Any, element_id: str) -> str:
    return str(driver.find_element("id", element_id).text)


def wait_text(driver: Any, element_id: str, pattern: str, timeout: float = 15.0) -> str:
    """The visible text of ``#element_id`` once it matches ``pattern``."""
    found = until(
        driver,
        lambda d: re.search(pattern, text(d, element_id)) and text(d, element_id),
        f"#{element_id} matching {pattern!r} (last: {text(driver, element_id)!r})",
        timeout,
    )
    return str(found)


def screenshot(driver: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / name))


def one_retry_hint(message: str) -> None:
    """A refusal reads as one sentence with a single retry hint (the server's own hint is not repeated)."""
    assert len(re.findall(r"try again", message, re.IGNORECASE)) == 1, message
    assert "retry in" not in message.lower(), message


def csp_violations(driver: Any) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if "Content Security Policy" in entry["message"]]


def test_the_demo_page_walks_through_every_state_with_words_a_developer_reads(
    browser: Any, tmp_path: Path, start: Any
) -> None:
    config = tmp_path / "serve.yaml"
    config.write_text("server:\n  rate_limit: 1/minute\n  call_rate_limit: 1/minute\n  session:\n    ttl: 120\n")
    served: Served = start("--emulator", "--config", str(config))
    browser.get(served.url + "/")

    # initial: the honest header, the key section first, the call section second, nothing started
    until(browser, lambda d: d.find_element("id", "mint").is_enabled(), "the mint button")
    assert "emulator" in text(browser, "upstream")
    assert text(browser, "budgets") == "keys 1/minute; calls 1/minute (per client, counted apart)"
    note = text(browser, "emulator-note")
    assert "sends no audio" in note
    assert "keys work only against the emulator" in note
    assert "no peer stands behind its answer" in note  # the honest state without --emulator-webrtc
    assert "serve --emulator --emulator-webrtc" in note  # and the way to a call that connects
    key_section, call_section = (browser.find_element("id", name) for name in ("key-section", "signaling"))
    assert key_section.location["y"] < call_section.location["y"]
    assert text(browser, "key-title").startswith("1")
    assert text(browser, "call-title").startswith("2")
    assert text(browser, "call-state") == "not started"
    assert not browser.find_element("id", "token").is_displayed()  # no bearer field under auth: none
    assert browser.execute_script("return document.querySelector('h1 img').naturalWidth") > 0  # the favicon
    screenshot(browser, "demo-1-initial.png")

    # key minted: redacted, counting down, and the page says what an emulator key cannot do
    browser.find_element("id", "mint").click()
    key = wait_text(browser, "key", r"^ek_\.\.\.[A-Za-z0-9_-]{4}$")
    first = int(wait_text(browser, "countdown", r"^\d+ s left$").split()[0])
    assert 110 <= first <= 120
    until(browser, lambda d: int(text(d, "countdown").split()[0]) < first, "the countdown going down", timeout=5)
    assert text(browser, "status") == "Key minted by the emulator."
    assert "cannot open a call with OpenAI" in text(browser, "offline-note")
    browser.find_element("tag name", "summary").click()
    session = wait_text(browser, "session", '"value": "ek_')
    assert key[-4:] in session
    assert not re.search(r"ek_[A-Za-z0-9]{12,}", browser.page_source), "the full key is on the page"
    browser.find_element("tag name", "summary").click()  # folded again: the screenshots show both sections
    screenshot(browser, "demo-2-key-minted.png")

    # call: the answer is applied, and the state says there is no media, not "stable, new"
    browser.find_element("id", "start-call").click()  # the key spent the keys budget, not the calls one
    assert wait_text(browser, "call-state", "^no media") == NO_MEDIA
    assert browser.execute_script("return window.demoCallState()") == "stable"
    assert text(browser, "call-id").startswith("rtc_")
    assert browser.find_element("id", "end-call").is_displayed()
    assert not browser.find_element("id", "call-error").is_displayed()
    screenshot(browser, "demo-3-call-no-media.png")

    # ended
    browser.find_element("id", "end-call").click()
    wait_text(browser, "call-state", "^ended$")
    assert browser.execute_script("return window.demoCallState()") is None
    assert not browser.find_element("id", "end-call").is_displayed()
    screenshot(browser, "demo-4-ended.png")

    # calls budget spent: one readable sentence, one live retry hint, the code for the developer
    browser.find_element("id", "start-call").click()
    error = wait_text(browser, "call-error", r"Try again in \d+ s\.")
    assert error.startswith("Too many calls from this client for now (budget 1/minute). Try again in ")
    assert error.endswith("(HTTP 429 rate_limited)")
    one_retry_hint(error)
    assert text(browser, "call-state") == "failed: the server refused the call"
    screenshot(browser, "demo-5-call-budget-spent.png")

    # keys budget spent: the same shape of sentence in the key section
    browser.find_element("id", "mint").click()
    error = wait_text(browser, "status", r"Try again in \d+ s\.")
    assert error.startswith("Too many keys from this client for now (budget 1/minute). Try again in ")
    one_retry_hint(error)
    assert browser.find_element("id", "status").get_attribute("class") == "error"
    screenshot(browser, "demo-6-key-budget-spent.png")

    assert csp_violations(browser) == []
    assert served.stop() == 0
    assert "GET /static/favicon.svg -> 200" in served.stderr
    assert "POST /session -> 201" in served.stderr


def test_the_demo_page_shows_a_401_clearly(browser: Any, tmp_path: Path, start: Any) -> None:
    config = config_file(tmp_path, None, auth="bearer", bearer_tokens={"demo": "demo-token-0123456789abcdef"})
    served: Served = start("--emulator", "--config", config)
    browser.get(served.url + "/")
    until(browser, lambda d: d.find_element("id", "mint").is_enabled(), "the mint button")
    browser.find_element("id", "token").send_keys("not-the-token")
    browser.find_element("id", "mint").click()
    error = wait_text(browser, "status", "HTTP 401")
    assert error == "The server needs a valid bearer token: enter it under Settings. (HTTP 401 unauthorized)"
    screenshot(browser, "demo-7-bearer-401.png")
    browser.find_element("id", "token").clear()
    browser.find_element("id", "token").send_keys("demo-token-0123456789abcdef")
    browser.find_element("id", "mint").click()
    wait_text(browser, "key", r"^ek_\.\.\.")
    assert text(browser, "status") == "Key minted by the emulator."
    assert served.stop() == 0


def test_every_refusal_with_a_wait_reads_as_one_sentence_with_one_hint(
    browser: Any, tmp_path: Path, start: Any, emulator: Emulator
) -> None:
    """The class of the doubled "try again in 55 s. (retry in 55 s)": every server message that carries its own
    hint (an upstream outage, the failed-auth throttle, the budgets above) shows the page's single hint."""
    token = "demo-token-0123456789abcdef"
    tokens = {"demo": token}
    config = config_file(tmp_path, emulator, auth="bearer", bearer_tokens=tokens, auth_failure_limit="1/minute")
    served: Served = start("--config", config)
    browser.get(served.url + "/")
    until(browser, lambda d: d.find_element("id", "mint").is_enabled(), "the mint button")

    emulator.enqueue(Fault(status_code=503), times=5)  # more than the service's retries: the outage shows
    browser.find_element("id", "token").send_keys(token)
    browser.find_element("id", "mint").click()
    error = wait_text(browser, "status", "HTTP 503")
    assert re.fullmatch(
        r"The upstream API is unavailable\. Try again in \d+ s\. \(HTTP 503 upstream_unavailable\)", error
    ), error
    one_retry_hint(error)
    screenshot(browser, "demo-8-upstream-503.png")

    browser.find_element("id", "token").clear()
    browser.find_element("id", "token").send_keys("not-the-token")
    browser.find_element("id", "mint").click()
    wait_text(browser, "status", "HTTP 401")
    browser.find_element("id", "mint").click()  # the second failure within the minute: throttled
    error = wait_text(browser, "status", "HTTP 429")
    assert re.fullmatch(
        r"Too many failed authentication attempts\. Try again in \d+ s\. \(HTTP 429 auth_throttled\)", error
    ), error
    one_retry_hint(error)
    assert served.stop() == 0


def test_a_blocked_microphone_fails_the_call_saying_why_before_anything_is_sent(chromium: Chromium, start: Any) -> None:
    with chromium.context(microphone=False) as browser:
        served: Served = start("--emulator")
        browser.get(served.url + "/")
        until(browser, lambda d: d.find_element("id", "start-call").is_displayed(), "the call button")
        browser.find_element("id", "start-call").click()
        state = wait_text(browser, "call-state", "^failed: ")
        assert state == "failed: the microphone is blocked (allow it for this page)"
        assert browser.find_element("id", "start-call").is_enabled()
        screenshot(browser, "demo-9-microphone-blocked.png")
        assert served.stop() == 0
        assert "/session" not in served.stderr  # no offer was posted: no call was started
