"""The shared browser's per-test isolation (``tests/chromium.py``): one Chromium serves every browser test, so
what one test's pages leave behind (cookies, storage, console messages, a changed timeout) must not reach the
next, whatever the order."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from chromium import SCRIPT_TIMEOUT, Chromium, empty_page

_LEAVE_TRACES = """
document.cookie = 'left=behind; max-age=3600';
localStorage.setItem('left', 'behind');
sessionStorage.setItem('left', 'behind');
console.log('left behind');
"""
_TRACES = "return [document.cookie, localStorage.length, sessionStorage.length]"


@pytest.fixture
def page_url() -> Iterator[str]:
    """One origin for both contexts: storage is kept per origin, so the same one must come back empty."""
    with empty_page() as url:
        yield url


def test_a_new_context_starts_without_what_the_last_one_left(chromium: Chromium, page_url: str) -> None:
    with chromium.context() as driver:
        driver.get(page_url)
        driver.execute_script(_LEAVE_TRACES)
        assert driver.execute_script(_TRACES) == ["left=behind", 1, 1]  # the traces are there to be left
        assert any("left behind" in entry["message"] for entry in driver.get_log("browser"))
        driver.execute_script("console.log('still in the log')")
        driver.set_script_timeout(1)
    with chromium.context() as driver:
        driver.get(page_url)
        assert driver.execute_script(_TRACES) == ["", 0, 0]
        assert not any("still in the log" in entry["message"] for entry in driver.get_log("browser"))
        assert driver.timeouts.script == SCRIPT_TIMEOUT


_GATHER = """
const done = arguments[0];
(async () => {
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  const peer = new RTCPeerConnection();
  stream.getTracks().forEach((track) => peer.addTrack(track, stream));
  peer.createDataChannel("oai-events");
  await peer.setLocalDescription(await peer.createOffer());
  if (peer.iceGatheringState !== "complete") {
    await new Promise((resolve) => {
      peer.onicegatheringstatechange = () => peer.iceGatheringState === "complete" && resolve();
    });
  }
  const sdp = peer.localDescription.sdp;
  peer.close();
  stream.getTracks().forEach((track) => track.stop());
  done({ state: "complete", sdp });
})().catch((error) => done({ state: "error", sdp: String(error) }));
"""


def test_the_shared_browser_gathers_no_ice_candidates(chromium: Chromium, page_url: str) -> None:
    """The shared browser lives in the test's own network namespace: a page's full offer (microphone, data
    channel, gathering to the end) must name no candidate, so no socket of it waits on a host address."""
    with chromium.context() as driver:
        driver.get(page_url)
        result = driver.execute_async_script(_GATHER)
    assert result["state"] == "complete", result["sdp"]
    assert "m=audio" in result["sdp"]
    assert "m=application" in result["sdp"]
    assert [line for line in result["sdp"].splitlines() if line.startswith("a=candidate")] == []
