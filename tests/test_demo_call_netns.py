"""The demo page's whole call in Debian's Chromium against ``serve --emulator --emulator-webrtc``, on both
frameworks, inside a network namespace the test makes (``tests/netns.py``; the helper,
``tests/demo_call_helper.py``, runs serve and the browser there and reports JSON): the call connects, audio packets
arrive, the script's events reach the page over ``oai-events`` (transcript, tool call, event log), a turn the page
types is in the emulator's record from the data channel, hang-up ends the call on both sides, and a refused
``/session`` shows its error. Screenshots land in ``$PYTEST_ARTIFACTS`` (default ``artifacts/``).

Not asserted yet: a non-zero inbound ``audioLevel`` during the model's turn (the report's
``max_inbound_audio_level``, and the remote meter's ``levels.remote.peak``); the emulator's track is silence
until its voice lands (``emulator/webrtc/tracks.py``).
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import pytest
from chromium import binaries
from netns import run_in_namespace

HELPER = Path(__file__).with_name("demo_call_helper.py")
ARTIFACTS = Path(os.environ.get("PYTEST_ARTIFACTS") or Path(__file__).resolve().parents[1] / "artifacts")
pytestmark = pytest.mark.timeout(300)  # the first test of each framework waits for its whole call (10-40 s)
MODEL_LINE = "Model: Your order 1234 ships tomorrow, and it should be with you on Thursday."
TYPED = "Can I change the delivery address?"


@pytest.fixture(
    scope="module", params=[("flask", "realtime"), ("fastapi", "realtime"), ("flask", "live")], ids="-".join
)
def call(request: pytest.FixtureRequest) -> dict[str, Any]:
    """One whole call per framework (and one to GPT-Live), about ten seconds each, its report shared by this
    module's tests (``voice_api`` added to it)."""
    binaries()  # skipped, saying so, without Debian's chromium and chromium-driver
    pytest.importorskip("aiortc", reason="the webrtc extra (aiortc) is not installed: pip install -e '.[test]'")
    framework, voice_api = request.param
    report = run_in_namespace(HELPER, framework, str(ARTIFACTS), voice_api, timeout=240)
    report["voice_api"] = voice_api
    if "error" in report:
        pytest.fail(f"{report['error']}\npage:\n{report.get('page_at_error')}\nserve:\n{report['serve_log_tail']}")
    return report


def test_the_call_connects_to_the_emulators_peer(call: dict[str, Any]) -> None:
    assert call["upstream"] == "the built-in emulator on loopback (offline: keys, and calls a real WebRTC peer answers)"
    assert "A real WebRTC peer answers its calls" in call["note"]
    assert call["call_state"] == "connected: speak"  # connected, and the oai-events channel open
    assert call["connection_state"] == "connected"
    assert call["call_id"].startswith("rtc_" if call["voice_api"] == "realtime" else "live_")
    assert call["emulator_udp_before_hangup"] >= 1  # the peer's ICE socket on the emulator's address


def test_audio_flows_in_and_the_microphone_meter_moves(call: dict[str, Any]) -> None:
    assert call["inbound"]["packetsReceived"] > 0  # getStats: inbound-rtp audio from the emulator's track
    assert call["levels"]["local"]["peak"] > 0  # the fake microphone's beep through the page's AnalyserNode
    assert call["max_inbound_audio_level"] > 0  # getStats: the emulator's voice during the model's turn
    assert call["levels"]["remote"]["peak"] > 0  # and the page's meter of the remote stream moved with it


def test_the_scripted_events_reach_the_page_over_the_data_channel(call: dict[str, Any]) -> None:
    [tool] = call["tools"]
    assert tool.startswith('lookup_order({"order_id":"1234"}) [call_')
    events = call["events"]
    if call["voice_api"] == "live":
        assert tool.endswith("→ waiting for its output")  # no server tool on GPT-Live here, and the page runs none
        assert call["transcript"] == ["Caller: Hi, where is my order 1234?", MODEL_LINE]
        assert events[0] == "↓ session.started"
        for expected in ("↓ session.input_transcript.delta", "↓ session.delegation.created", "↓ response.event"):
            assert expected in events
        assert not call["say_shown"]  # typed turns are the Realtime API's items: not offered
        return
    # server.sideband's tool answered on the server's sideband: the call's item reached the page's channel too
    assert tool.endswith(' → {"order_id": "1234", "status": "shipped"}')
    output_added = events.index("↓ conversation.item.added", events.index("↓ response.function_call_arguments.done"))
    assert output_added < events.index("↓ output_audio_buffer.started")  # heard before the model's answer
    assert call["say_shown"]
    assert call["transcript"] == ["Caller: Hi, where is my order 1234?", MODEL_LINE, f"You (typed): {TYPED}"]
    assert events[0] == "↓ session.created"
    for expected in (
        "↓ conversation.item.input_audio_transcription.completed",
        "↓ response.function_call_arguments.done",
        "↓ response.output_audio_transcript.done",
        "↓ response.done",
    ):
        assert expected in events
    assert events.index("↑ conversation.item.create") < events.index("↑ response.create")


def test_what_the_page_sends_is_in_the_emulators_record(call: dict[str, Any]) -> None:
    [record] = call["record"]
    assert record["id"] == call["call_id"]
    assert record["script_state"] == {"status": "done", "step": None, "step_name": None, "reason": None}
    assert b"m=application" in base64.b64decode(record["offer_base64"])  # the page's offer, data channel and all
    page = [entry for entry in record["client_events"] if entry["connection"].startswith("dc_")]
    server = [entry["event"] for entry in record["client_events"] if entry not in page]
    assert len({entry["connection"] for entry in page}) == 1  # the page's data channel
    sent = [entry["event"] for entry in page]
    if call["voice_api"] == "live":
        assert server == []
        # a GPT-Live session ends with session.close on its channel: the page sends it, then closes its peer
        assert "↑ session.close" not in call["events"]  # not before the hang-up
        assert "↑ session.close" in call["events_after_hangup"]
        assert sent == [{"type": "session.close"}]
        return
    assert sent == [
        {
            "type": "conversation.item.create",
            "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": TYPED}]},
        },
        {"type": "response.create"},
    ]
    # the server's sideband (server.sideband.tools) answered the tool once, and asked for the model's answer
    assert {entry["connection"][:3] for entry in record["client_events"] if entry["event"] in server} == {"ws_"}
    assert [event["type"] for event in server] == ["conversation.item.create", "response.create"]
    assert server[0]["item"]["output"] == '{"order_id": "1234", "status": "shipped"}'


def test_hang_up_on_the_page_ends_the_call_on_both_sides(call: dict[str, Any]) -> None:
    assert call["ended_state"] == "ended"
    assert call["page_peer_after_hangup"] is None  # the page closed its peer
    [record] = call["record"]
    # the emulator's peer saw the browser leave and ended the call before serve stopped (its sockets were gone)
    assert record["peer_states"] == ["new", "connecting", "connected", "closed"]
    assert record["states"] == ["active", "hung_up"]
    assert call["serve_exit"] == 0


def test_a_refused_session_shows_its_error_on_the_page(call: dict[str, Any]) -> None:
    assert "Too many calls from this client for now (budget 1/minute)" in call["refused_error"]
    assert "HTTP 429 rate_limited" in call["refused_error"]
    assert call["refused_state"] == "failed: the server refused the call"
    assert len(call["record"]) == 1  # the refused call reached nothing upstream


def test_the_page_keeps_its_content_security_policy(call: dict[str, Any]) -> None:
    assert not [line for line in call["console"] if "Content Security Policy" in line]
    assert not [line for line in call["console"] if "Uncaught" in line]
