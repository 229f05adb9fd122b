"""A whole browser call on the demo page, run by ``tests/test_demo_call_netns.py`` inside a network namespace it
made (``tests/netns.py``): ``python demo_call_helper.py FRAMEWORK ARTIFACTS VOICE_API`` prints one JSON report.

Chromium's WebRTC offers no loopback candidates, and the test process refuses ICE gathering, so everything that
gathers runs here: ``serve --emulator --emulator-webrtc`` (its peer gathering on :data:`netns.EMULATOR_ADDRESS`
only) listening on the namespace's loopback, and Debian's headless Chromium (fake microphone, its own profile,
no gathering preference: it gathers on the veth pair) driven by selenium. The helper clicks through a scripted
call (connect, hear the model, see the tool call, type a turn, hang up, be refused a second call over the budget)
and reports what the page showed, what ``getStats`` counted and what the emulator recorded; the assertions are
the test's. Screenshots go to ARTIFACTS. Every wait is a poll with a deadline on a condition.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import netns
from chromium import CHROMEDRIVER, CHROMIUM, FLAGS

SCRIPT = """\
- caller: "Hi, where is my order 1234?"
- expect_sideband
- model_calls:
    name: lookup_order
    arguments: {order_id: "1234"}
- expect_output
- model_says: "Your order 1234 ships tomorrow, and it should be with you on Thursday."
"""
"""The conversation every call plays on its ``oai-events`` channel (the test checks the page shows it)."""
SERVE_CONFIG = "server:\n  call_rate_limit: 1/minute\n"
"""One call a minute: the page's second call is refused (429) and must say so."""
SIDEBAND = "  sideband:\n    tools: examples.order_tools:toolbox\n"
"""Realtime: the server answers the tool on its own sideband while the page watches the same call, so the page
shows the call with its output (the script's ``expect_output``)."""
TYPED = "Can I change the delivery address?"
DEADLINE = 30.0
REPO = Path(__file__).resolve().parents[1]


def until(check: Callable[[], Any], what: str, timeout: float = DEADLINE) -> Any:
    """``check()``'s first truthy value, polled every 50 ms up to ``timeout`` s; ``RuntimeError`` naming ``what``."""
    end = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            raise RuntimeError(f"{what} never happened within {timeout:g} s")
        time.sleep(0.05)  # a poll interval, not a wait for an event: the deadline bounds it


def start_serve(framework: str, work: Path, voice_api: str) -> tuple[subprocess.Popen[str], str]:
    if voice_api == "realtime":  # the server's tool answers on its sideband; the page shows the call's output
        (work / "call.yaml").write_text(SCRIPT)
        (work / "serve.yaml").write_text(SERVE_CONFIG + SIDEBAND + "  voice_api: realtime\n")
    else:  # GPT-Live's server tools need a Responses delegation (a model upstream): the tool call stays unanswered
        (work / "call.yaml").write_text(SCRIPT.replace("- expect_sideband\n", "").replace("- expect_output\n", ""))
        (work / "serve.yaml").write_text(SERVE_CONFIG + f"  voice_api: {voice_api}\n")
    command = [sys.executable, "-m", "realtime_service.web", "--port", "0", "--framework", framework]
    command += ["--config", str(work / "serve.yaml"), "--emulator", "--emulator-webrtc"]
    command += ["--emulator-webrtc-address", netns.EMULATOR_ADDRESS, "--emulator-script", str(work / "call.yaml")]
    command += ["--emulator-record", str(work / "calls.json")]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "REALTIME_SERVICE_"))}
    log = (work / "serve.log").open("w")
    # from the repo root: server.sideband's tools are examples.order_tools
    serve = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True, env=env, cwd=REPO)
    assert serve.stdout is not None
    first = serve.stdout.readline()  # serve prints its URL once it listens (or exits: then "")
    match = re.search(r"http://127\.0\.0\.1:\d+", first)
    if match is None:
        serve.kill()
        raise RuntimeError(f"serve did not start: {first!r} {(work / 'serve.log').read_text()[-2000:]}")
    return serve, match.group(0)


def start_chromium(profile: Path) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    assert CHROMIUM is not None
    assert CHROMEDRIVER is not None
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    extra = (
        "--use-fake-ui-for-media-stream",
        "--autoplay-policy=no-user-gesture-required",
        f"--user-data-dir={profile}",
    )
    for flag in (*FLAGS, *extra):
        options.add_argument("--window-size=1100,1700" if flag.startswith("--window-size") else flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    os.environ["SE_OFFLINE"] = "true"  # selenium-manager must never fetch anything
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)


def udp_sockets_of(pid: int) -> list[str]:
    """The UDP sockets process ``pid`` holds on the emulator's address (its peer's ICE sockets)."""
    listing = subprocess.run(["ss", "-H", "-uanp"], capture_output=True, text=True, check=True, timeout=30).stdout
    return [line for line in listing.splitlines() if f"{netns.EMULATOR_ADDRESS}:" in line and f"pid={pid}," in line]


def texts(driver: Any, list_id: str) -> list[str]:
    return [str(item.text) for item in driver.find_elements("css selector", f"#{list_id} li")]


def run(framework: str, artifacts: Path, voice_api: str) -> dict[str, Any]:
    """The call on ``framework``'s server, to the ``voice_api`` (``realtime``; ``live``: GPT-Live, whose page
    offers no typed turn and sends ``session.close`` when it hangs up)."""
    name = framework if voice_api == "realtime" else f"{framework}-{voice_api}"
    artifacts.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="demo-call-"))
    report: dict[str, Any] = {"framework": framework}
    serve, url = start_serve(framework, work, voice_api)
    driver = None
    try:
        driver = start_chromium(work / "profile")
        driver.set_script_timeout(DEADLINE)

        def shot(shot_name: str) -> None:
            driver.save_screenshot(str(artifacts / f"demo-call-{name}-{shot_name}.png"))

        def text(element_id: str) -> str:
            return str(driver.find_element("id", element_id).text)

        driver.get(url + "/")
        until(lambda: driver.find_element("id", "start-call").is_displayed(), "the call button")
        until(lambda: driver.find_element("id", "note-peer").is_displayed(), "the note that a peer answers")
        report["note"] = text("emulator-note")
        report["upstream"] = text("upstream")
        driver.find_element("id", "start-call").click()

        report["call_state"] = until(
            lambda: text("call-state") == "connected: speak" and text("call-state"), "connected"
        )
        report["call_id"] = text("call-id")
        report["connection_state"] = driver.execute_script("return window.demoConnectionState()")
        report["inbound"] = until(
            lambda: (
                (stats := driver.execute_async_script("window.demoInboundAudio().then(arguments[0])"))
                and stats["packetsReceived"] > 0
                and stats
            ),
            "inbound audio packets",
        )
        model_line = "Model: Your order 1234 ships tomorrow, and it should be with you on Thursday."
        heard = {"audio_level": 0.0}

        def hear() -> list[str]:
            """The transcript, and the loudest inbound audio level ``getStats`` reported so far."""
            stats = driver.execute_async_script("window.demoInboundAudio().then(arguments[0])") or {}
            heard["audio_level"] = max(heard["audio_level"], float(stats.get("audioLevel") or 0))
            return texts(driver, "transcript")

        until(lambda: model_line in hear(), "the model's line in the transcript")
        # the line's words come before its audio has all been played (300 ms a word): the voice is still on the
        # track, and Chromium's getStats reports its level
        until(lambda: (hear(), heard["audio_level"] > 0)[1], "the model's voice (inbound audioLevel above 0)")
        if voice_api == "realtime":  # the turn's audio all played: the script's last step is done
            until(lambda: "↓ output_audio_buffer.stopped" in texts(driver, "event-log"), "the end of the model's audio")
        until(lambda: any("lookup_order" in tool for tool in texts(driver, "tools")), "the tool call")
        until(
            lambda: driver.execute_script("return window.demoLevels()")["local"]["peak"] > 0, "the microphone's level"
        )
        report["say_shown"] = driver.find_element("id", "say-form").is_displayed()
        if voice_api == "realtime":
            driver.find_element("id", "say-text").clear()
            driver.find_element("id", "say-text").send_keys(TYPED)
            driver.find_element("id", "say").click()
            until(lambda: "↑ response.create" in texts(driver, "event-log"), "the typed turn sent")
        hear()
        report["max_inbound_audio_level"] = heard["audio_level"]  # during the model's turn (silence until it speaks)
        report["levels"] = driver.execute_script("return window.demoLevels()")
        report["transcript"] = texts(driver, "transcript")
        report["tools"] = texts(driver, "tools")
        report["events"] = texts(driver, "event-log")
        shot("connected")

        before = udp_sockets_of(serve.pid)
        report["emulator_udp_before_hangup"] = len(before)
        driver.find_element("id", "end-call").click()
        report["events_after_hangup"] = texts(driver, "event-log")
        report["ended_state"] = until(lambda: text("call-state").startswith("ended") and text("call-state"), "ended")
        report["page_peer_after_hangup"] = driver.execute_script("return window.demoConnectionState()")
        until(lambda: not udp_sockets_of(serve.pid), "the emulator closing its peer")  # its ICE sockets are gone
        shot("ended")

        driver.find_element("id", "start-call").click()  # over the calls budget (1/minute): refused, shown
        report["refused_error"] = until(lambda: "HTTP 429" in text("call-error") and text("call-error"), "the 429")
        report["refused_state"] = text("call-state")
        shot("refused")
        report["console"] = [entry["message"] for entry in driver.get_log("browser")]
    except Exception as exc:  # reported with what the page and serve showed: the test fails on it, saying why
        report["error"] = f"{type(exc).__name__}: {exc}"
        if driver is not None:
            report["page_at_error"] = driver.find_element("tag name", "main").text
            driver.save_screenshot(str(artifacts / f"demo-call-{name}-error.png"))
    finally:
        if driver is not None:
            driver.quit()
        if serve.poll() is None:
            serve.send_signal(signal.SIGTERM)
        report["serve_exit"] = serve.wait(30)
        log = (work / "serve.log").read_text()
        report["serve_log_tail"] = log[-3000:]
        record = work / "calls.json"
        report["record"] = json.loads(record.read_text()) if record.exists() else None
        shutil.rmtree(work, ignore_errors=True)
    return report


def main() -> None:
    netns.make_network()
    framework, artifacts, voice_api = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    print(json.dumps(run(framework, artifacts, voice_api)), flush=True)


if __name__ == "__main__":
    main()
