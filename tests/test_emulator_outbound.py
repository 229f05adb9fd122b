"""Outbound GPT-Live SIP calls on the emulator (issue 23), over real loopback sockets: the create request the SDK
cannot send (raw ``requests``), its validation, and the dial as the sideband sees it through the official SDK
(sync and async): ``transport.ringing`` -> ``transport.answered`` -> the scripted conversation, a failed dial, the
3 s replay for a late sideband, a REST hang-up while ringing, the registry's bound. Time that matters (the ringing,
the replay window) is the emulator's pinned clock, stepped by the test: nothing waits on a sleep."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
import requests
from openai.types.live import ConnectServerEvent
from pydantic import TypeAdapter
from socket_reading import WAIT, json_until_closed
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from realtime_service.emulator import Emulator
from realtime_service.emulator.scripts import ScriptState

SESSION = {"model": "gpt-live-1", "instructions": "Help the user track an order.", "delegation": {"type": "client"}}
PASSWORD = "trunk-pa55word-never-shown"
NUMBER = "+14155550123"
TRUNK = {
    "provider_url": "sips:sip.example.com:5061",
    "auth": {"type": "digest", "username": "acme-trunk", "password": PASSWORD},
    "caller_number": "+14155550100",
}
TRANSPORT = {"type": "sip", "destination": NUMBER, "trunk": TRUNK}
LIVE_EVENT: TypeAdapter[Any] = TypeAdapter(ConnectServerEvent)
ARGUMENTS = {"order_id": "1234"}
ORDER_CALL: list[Any] = [
    {"dial": {"outcome": "answered", "ringing": 2}},
    {"caller": "Hi, where is my order 1234?"},
    {"model_calls": {"name": "lookup_order", "arguments": ARGUMENTS, "call_id": "call_order"}},
    {"expect_output": {"timeout": 10, "output": {"status": "shipped"}}},
    {"model_says": "Your order 1234 ships tomorrow."},
    "hangup",
]


class Clock:
    """The emulator's clock, pinned: the dial's ringing and the replay window move only when the test says."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def emu(clock: Clock) -> Iterator[Emulator]:
    with Emulator(clock=clock) as emulator:
        yield emulator


def _auth(emu: Emulator) -> dict[str, str]:
    return {"Authorization": f"Bearer {emu.api_key}"}


def _create(emu: Emulator, body: Any = None, **kwargs: Any) -> requests.Response:
    body = {"session": SESSION, "transport": TRANSPORT} if body is None else body
    return requests.post(emu.base_url + "/live/sessions", json=body, headers=_auth(emu), timeout=WAIT, **kwargs)


def _dial(emu: Emulator) -> str:
    response = _create(emu)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["transport"] == {"type": "sip"}  # no SDP, no trunk
    assert answer["session"]["id"].startswith("live_")
    return str(answer["session"]["id"])


def _attach(emu: Emulator, session_id: str) -> ClientConnection:
    url = f"ws://127.0.0.1:{emu.port}/v1/live/sessions/{session_id}/attach"
    return connect(url, additional_headers=_auth(emu), open_timeout=WAIT)


def _next(ws: ClientConnection) -> dict[str, Any]:
    event = json.loads(ws.recv(timeout=WAIT))
    LIVE_EVENT.validate_python(event)  # every event has the SDK's shape
    assert isinstance(event, dict)
    return event


# -- the request -----------------------------------------------------------------------------------------------


def _with(path: str, value: Any) -> dict[str, Any]:
    """The valid body with ``path`` (dotted) set to ``value`` (``...`` removes it)."""
    body: dict[str, Any] = json.loads(json.dumps({"session": SESSION, "transport": TRANSPORT}))
    *parents, last = path.split(".")
    node = body
    for name in parents:
        node = node[name]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return body


@pytest.mark.parametrize(
    ("path", "value", "param", "says"),
    [
        ("transport.destination", ..., "transport.destination", "Missing required parameter"),
        ("transport.to", NUMBER, "transport.to", "Unknown parameter"),
        ("transport.trunk", ..., "transport.trunk", "Missing required parameter"),
        ("transport.trunk.region", "eu", "transport.trunk.region", "Unknown parameter"),
        ("transport.trunk.auth.type", "basic", "transport.trunk.auth.type", "digest"),
        ("transport.trunk.auth.realm", "x", "transport.trunk.auth.realm", "Unknown parameter"),
        ("transport.destination", "sip:+14155550123@sip.example.com", "transport.destination", "SIP URI"),
        ("transport.destination", "tel:+14155550123", "transport.destination", "E.164"),
        ("transport.destination", "4155550123", "transport.destination", "E.164"),
        ("transport.destination", 14155550123, "transport.destination", "expected a string"),
        ("transport.trunk.caller_number", "+0415555", "transport.trunk.caller_number", "E.164"),
        ("transport.trunk.provider_url", "sip:sip.example.com", "transport.trunk.provider_url", "sips:"),
        ("transport.trunk.provider_url", "sips:user:pw@sip.example.com", "transport.trunk.provider_url", "userinfo"),
        ("transport.trunk.provider_url", "sips:sip.example.com/path", "transport.trunk.provider_url", "path"),
        ("transport.trunk.provider_url", "sips:sip.example.com;transport=udp", "transport.trunk.provider_url", "tcp"),
        ("transport.trunk.provider_url", "sips:sip.example.com:70000", "transport.trunk.provider_url", "port"),
        ("transport.trunk.provider_url", "sips:localhost", "transport.trunk.provider_url", "local host"),
        ("transport.trunk.provider_url", "sips:pbx", "transport.trunk.provider_url", "local host"),
        ("transport.trunk.provider_url", "sips:127.0.0.1", "transport.trunk.provider_url", "loopback"),
        ("transport.trunk.provider_url", "sips:10.1.2.3:5061", "transport.trunk.provider_url", "private"),
        ("transport.trunk.provider_url", "sips:[::1]", "transport.trunk.provider_url", "loopback"),
        ("transport.trunk.provider_url", "sips:[::ffff:127.0.0.1]", "transport.trunk.provider_url", "loopback"),
        ("transport.trunk.provider_url", "sips:100.64.0.1", "transport.trunk.provider_url", "private"),
        ("transport.trunk.provider_url", "sips:224.0.0.1", "transport.trunk.provider_url", "multicast"),
        ("transport.trunk.provider_url", "sips:255.255.255.255", "transport.trunk.provider_url", "broadcast"),
        ("transport.trunk.provider_url", "sips:0.0.0.0", "transport.trunk.provider_url", "unspecified"),
        ("transport.trunk.provider_url", "sips:169.254.1.1", "transport.trunk.provider_url", "link-local"),
        ("transport.trunk.provider_url", "sips:fe80::1", "transport.trunk.provider_url", "bracketed"),
        ("transport.trunk.auth.username", "  ", "transport.trunk.auth.username", "non-whitespace"),
        ("transport.trunk.auth.username", "a\r\nVia: x", "transport.trunk.auth.username", "CR, LF or NUL"),
        ("transport.trunk.auth.username", "u" * 257, "transport.trunk.auth.username", "256 bytes"),
        ("transport.trunk.auth.password", "p\0w", "transport.trunk.auth.password", "CR, LF or NUL"),
        ("transport.trunk.auth.password", "p" * 4097, "transport.trunk.auth.password", "4096 bytes"),
        ("session.audio", {"format": {"type": "audio/pcmu"}}, "session.audio.format", "Unknown parameter"),
        ("session.model", ..., "session.model", "Missing required parameter"),
        ("transport.type", "pstn", "transport.type", "Invalid value"),
    ],
)
def test_a_bad_outbound_request_is_a_400_naming_its_param_and_quoting_no_secret(
    emu: Emulator, path: str, value: Any, param: str, says: str
) -> None:
    response = _create(emu, _with(path, value))
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", param)
    assert says in error["message"]
    assert PASSWORD not in response.text
    assert "5550123" not in response.text
    assert "5550100" not in response.text
    assert emu.calls.all() == []  # nothing was dialled


@pytest.mark.parametrize(
    "provider_url",
    [
        "sips:sip.example.com",
        "sips:sip.example.com:5061;transport=tcp",
        "SIPS:SIP.EXAMPLE.COM",
        "sips:pbx.acme.example.",
    ],
)
def test_the_guides_provider_url_forms_are_accepted(emu: Emulator, provider_url: str) -> None:
    assert _create(emu, _with("transport.trunk.provider_url", provider_url)).status_code == 200


def test_a_body_over_1_mib_is_refused_and_nothing_dials(emu: Emulator) -> None:
    body = _with("session.instructions", "x" * (1 << 20))
    response = _create(emu, body)
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "request_too_large"
    assert emu.calls.all() == []
    webrtc = {"session": body["session"], "transport": {"type": "webrtc", "sdp": "v=0"}}
    assert _create(emu, webrtc).status_code == 400  # the limit is the outbound guide's: WebRTC is not held to it


def test_the_record_keeps_the_session_but_neither_the_trunk_nor_the_number(emu: Emulator) -> None:
    session_id = _dial(emu)
    record = emu.calls.get(session_id)
    assert record is not None
    assert (record.api, record.transport, record.state, record.outbound) == ("live", "sip", "dialing", True)
    assert record.session == SESSION
    assert PASSWORD not in repr(record)
    assert "5550123" not in repr(record)


# -- the dial, as the SDK's sideband sees it --------------------------------------------------------------------


def _answer_tool_calls(event: Any, answer: Any) -> bool:
    """Answer the scripted Responses-delegation tool call (once): ``True`` when it did."""
    inner = event.event if event.type == "response.event" else None
    if not (isinstance(inner, dict) and inner.get("type") == "response.output_item.done"):
        return False
    item = inner["item"]
    assert (item["type"], item["name"], json.loads(item["arguments"])) == ("function_call", "lookup_order", ARGUMENTS)
    output = {"type": "function_call_output", "call_id": item["call_id"], "output": json.dumps({"status": "shipped"})}
    answer(output)
    return True


def _check_the_order_call(emu: Emulator, session_id: str, seen: list[Any]) -> None:
    kinds = [event.type for event in seen]
    assert kinds[:2] == ["transport.ringing", "transport.answered"]
    assert {event.session_id for event in seen[:2]} == {session_id}
    assert kinds[-1] == "session.closed"
    assert seen[-1].reason == "remote_hangup"
    said = "".join(event.delta for event in seen if event.type == "session.input_transcript.delta")
    assert said == "Hi, where is my order 1234?"
    heard = "".join(event.delta for event in seen if event.type == "session.output_transcript.delta")
    assert heard == "Your order 1234 ships tomorrow."
    assert kinds.index("transport.answered") < kinds.index("session.input_transcript.delta")
    record = emu.calls.wait_until(
        session_id, lambda r: r.script_state is not None and r.script_state.status != "playing", WAIT
    )
    assert record.states == ("dialing", "accepted", "hung_up")
    assert record.script_state == ScriptState("done")


def test_the_sdk_sideband_hears_ringing_answered_then_the_scripted_call(clock: Clock) -> None:
    with Emulator(clock=clock, script=ORDER_CALL) as emu:
        session_id = _dial(emu)
        client = openai.OpenAI(api_key=emu.api_key, base_url=emu.base_url)
        seen: list[Any] = []
        with client.live.sideband.connect(session_id=session_id) as conn:
            ringing = conn.recv()
            seen.append(ringing)
            assert ringing.type == "transport.ringing"
            assert emu.calls.get(session_id).state == "dialing"  # type: ignore[union-attr]
            clock.advance(2)  # the callee picks up
            answered = False
            while True:
                try:
                    event = conn.recv()
                except ConnectionClosed:
                    break
                seen.append(event)
                if not answered:
                    answered = _answer_tool_calls(event, lambda item: conn.response.item.create(item=item))
                    if answered:
                        conn.response.create()
        _check_the_order_call(emu, session_id, seen)


def test_the_async_sdk_sideband_plays_the_same_outbound_call(clock: Clock) -> None:
    with Emulator(clock=clock, script=ORDER_CALL) as emu:
        session_id = _dial(emu)

        async def run() -> list[Any]:
            client = openai.AsyncOpenAI(api_key=emu.api_key, base_url=emu.base_url)
            seen: list[Any] = []
            answered = False
            async with client.live.sideband.connect(session_id=session_id) as conn:
                async for event in conn:  # a clean close (after session.closed) ends the iteration
                    seen.append(event)
                    if event.type == "transport.ringing":
                        clock.advance(2)
                    if not answered:
                        calls: list[Any] = []
                        answered = _answer_tool_calls(event, calls.append)
                        for item in calls:
                            await conn.response.item.create(item=item)
                            await conn.response.create()
            return seen

        seen = asyncio.run(asyncio.wait_for(run(), 3 * WAIT))
        _check_the_order_call(emu, session_id, seen)


def test_a_failed_dial_says_why_then_closes_the_session(clock: Clock) -> None:
    script = [{"dial": {"outcome": "failed", "ringing": 5, "code": "no_answer", "message": "Nobody picked up."}}]
    with Emulator(clock=clock, script=script) as emu:
        session_id = _dial(emu)
        with _attach(emu, session_id) as ws:
            ringing = _next(ws)
            assert (ringing["type"], ringing["session_id"]) == ("transport.ringing", session_id)
            clock.advance(5)
            failed = _next(ws)
            rest = json_until_closed(ws, _next)
            with pytest.raises(ConnectionClosedOK):  # a clean close (websockets >= 15: no close_exc before 17)
                ws.recv()
        assert failed["type"] == "transport.failed"
        assert failed["session_id"] == session_id
        assert failed["error"] == {"type": "call_error", "code": "no_answer", "message": "Nobody picked up."}
        assert [(e["type"], e.get("reason")) for e in rest] == [("session.closed", "remote_hangup")]
        record = emu.calls.wait_until(session_id, lambda r: r.script_state == ScriptState("done"), WAIT)
        assert record.states == ("dialing", "failed")
        with pytest.raises(InvalidStatus) as refused:  # the session has ended: nothing to attach to
            _attach(emu, session_id).close()
        assert refused.value.response.status_code == 404
        hangup = requests.post(f"{emu.base_url}/live/sessions/{session_id}/hangup", headers=_auth(emu), timeout=WAIT)
        assert hangup.status_code == 404


def test_a_late_sideband_gets_ringing_and_answered_from_the_3_s_replay_and_not_after(
    emu: Emulator, clock: Clock
) -> None:
    session_id = _dial(emu)  # no script: the callee answers after the default ring, then stays quiet
    clock.advance(0.5)
    record = emu.calls.wait_for(session_id, {"accepted"}, WAIT)  # answered with no sideband attached
    assert record.states == ("dialing", "accepted")
    clock.advance(2.4)  # the ringing event is 2.9 s old: still inside the window
    with _attach(emu, session_id) as ws:
        replayed = [_next(ws), _next(ws)]
        assert [(e["type"], e["session_id"]) for e in replayed] == [
            ("transport.ringing", session_id),
            ("transport.answered", session_id),
        ]
        ws.send(json.dumps({"type": "session.input_audio.mute", "event_id": "mute_1"}))
        assert _next(ws)["type"] == "session.input_audio.muted"
    clock.advance(0.2)  # the ringing is 3.1 s old, the answer 2.6 s
    with _attach(emu, session_id) as ws:
        again = _next(ws)
        assert again == replayed[1]  # the same event, event_id kept: the app deduplicates on it
    clock.advance(3.1)
    with _attach(emu, session_id) as ws:  # nothing left to replay but the mute's acknowledgement is out too
        ws.send(json.dumps({"type": "session.input_audio.unmute"}))
        assert _next(ws)["type"] == "session.input_audio.unmuted"


def test_a_rest_hang_up_while_ringing_ends_the_sideband_and_the_call_is_never_answered(
    emu: Emulator, clock: Clock
) -> None:
    session_id = _dial(emu)
    with _attach(emu, session_id) as ws:
        assert _next(ws)["type"] == "transport.ringing"
        hangup = requests.post(f"{emu.base_url}/live/sessions/{session_id}/hangup", headers=_auth(emu), timeout=WAIT)
        assert hangup.status_code == 200
        closed = json_until_closed(ws, _next)
    assert [(e["type"], e.get("reason")) for e in closed] == [("session.closed", "close_requested")]
    later = _dial(emu)  # rings after the first: once it is answered, the dialer is past the first one
    clock.advance(1)
    emu.calls.wait_for(later, {"accepted"}, WAIT)
    record = emu.calls.get(session_id)
    assert record is not None
    assert record.states == ("dialing", "hung_up")


def test_an_answered_outbound_call_takes_the_sip_controls_and_no_accept(emu: Emulator, clock: Clock) -> None:
    session_id = _dial(emu)
    base = f"{emu.base_url}/live/sessions/{session_id}"
    accept = requests.post(
        base + "/accept", json={"session": {"type": "live", "model": "gpt-live-1"}}, headers=_auth(emu), timeout=WAIT
    )
    assert accept.status_code == 400
    assert accept.json()["error"]["code"] == "invalid_call_state"
    clock.advance(0.5)
    emu.calls.wait_for(session_id, {"accepted"}, WAIT)
    refer = requests.post(base + "/refer", json={"target_uri": "tel:+14155550199"}, headers=_auth(emu), timeout=WAIT)
    assert refer.status_code == 200
    record = emu.calls.get(session_id)
    assert record is not None
    assert record.states == ("dialing", "accepted", "referred")


def test_the_registry_bound_forgets_the_oldest_ringing_call_and_the_dialer_goes_on(clock: Clock) -> None:
    with Emulator(clock=clock, max_calls=1) as emu:
        first, second = _dial(emu), _dial(emu)
        assert emu.calls.get(first) is None
        with pytest.raises(InvalidStatus) as refused:
            _attach(emu, first).close()
        assert refused.value.response.status_code == 404
        clock.advance(0.5)
        assert emu.calls.wait_for(second, {"accepted"}, WAIT).state == "accepted"
        assert emu.calls.sizes().live_calls == 1


def test_a_dial_step_on_a_call_that_came_in_fails_the_script_at_that_step(emu: Emulator) -> None:
    offer = (Path(__file__).parent / "sdp" / "chromium_offer.sdp").read_text()
    body = {"session": {"model": "gpt-live-1"}, "transport": {"type": "webrtc", "sdp": offer}}
    created = _create(emu, body)
    assert created.status_code == 200, created.text
    session_id = created.json()["session"]["id"]
    emu.script_call(session_id, ["dial", {"caller": "hello?"}])
    with _attach(emu, session_id):
        record = emu.calls.wait_until(
            session_id, lambda r: r.script_state is not None and r.script_state.status == "failed", WAIT
        )
    assert record.script_state == ScriptState("failed", 0, "dial", "only an outbound call dials; this call came in")


def test_a_flood_of_outbound_calls_stays_within_the_registrys_bounds(clock: Clock) -> None:
    with Emulator(clock=clock, max_calls=3, max_ended_calls=2) as emu:
        ids = [_dial(emu) for _ in range(20)]
        for session_id in ids[-3:]:  # hung up while ringing: ended, bounded by max_ended_calls
            hangup = requests.post(
                f"{emu.base_url}/live/sessions/{session_id}/hangup", headers=_auth(emu), timeout=WAIT
            )
            assert hangup.status_code == 200
        assert len(emu.live_events) <= 3 + 2
        sizes = emu.calls.sizes()
        assert (sizes.live_calls, sizes.ended_calls) == (0, 2)
        fresh = _dial(emu)
        clock.advance(0.5)
        assert emu.calls.wait_for(fresh, {"accepted"}, WAIT).states == ("dialing", "accepted")
