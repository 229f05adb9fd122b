"""``server.max_call_seconds`` ends a browser call that really connected: ``serve`` hangs it up at its deadline
and the emulator's WebRTC peer closes, on both frameworks (in a network namespace: tests/netns.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from netns import run_in_namespace

pytest.importorskip("aiortc", reason="aiortc is not installed (the webrtc extra; the test extra brings it)")

HELPER = Path(__file__).with_name("webrtc_deadline_call.py")


@pytest.fixture(scope="module", params=["flask", "fastapi"])
def report(request: pytest.FixtureRequest) -> dict[str, Any]:
    return run_in_namespace(HELPER, request.param, timeout=120)


def test_max_call_seconds_hangs_up_the_call_and_closes_the_peer(report: dict[str, Any]) -> None:
    assert report["call_id"].startswith("rtc_")
    assert "connected" in report["browser_states"]
    assert report["channel_state"] == "closed" or report["browser_states"][-1] in ("closed", "failed")
    [record] = report["record"]
    assert record["id"] == report["call_id"]
    assert record["state"] == "hung_up"  # by the server's deadline, not by the browser
    assert record["peer_states"][-1] == "closed"
    assert "connected" in record["peer_states"]
    assert report["serve_exit"] == 0
    assert f"{report['call_id']}" in report["serve_log"]  # the hang-up is logged with the call's id
