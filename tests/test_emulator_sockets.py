"""The emulator's sideband WebSockets over real loopback sockets: the official SDK (sync and async) and raw
``websockets`` clients, the refused handshakes, the call's lifetime, the record, and hostile input."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import socket
import struct
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
import requests
from socket_reading import WAIT, json_until_closed, next_json
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from realtime_service.emulator import Emulator, Fault, call_registry, sidebands, sockets
from realtime_service.emulator.call_registry import CallRecord
from realtime_service.emulator.core import Channel, SocketClosed
from realtime_service.emulator.sidebands import RealtimeSideband

OFFER = (Path(__file__).parent / "sdp" / "chromium_offer.sdp").read_bytes()
SESSION = {"type": "realtime", "model": "gpt-realtime", "instructions": "Be brief."}
LIVE_SESSION = {"model": "gpt-live-1", "instructions": "Be brief.", "audio": {"output": {"voice": "marin"}}}


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


def _auth(emu: Emulator, key: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key or emu.api_key}"}


def _webrtc_call(emu: Emulator) -> str:
    files = [("sdp", (None, OFFER, "application/sdp")), ("session", (None, json.dumps(SESSION), "application/json"))]
    response = requests.post(emu.base_url + "/realtime/calls", files=files, headers=_auth(emu), timeout=WAIT)
    assert response.status_code == 201, response.text
    return response.headers["location"].rsplit("/", 1)[1]


def _live_session(emu: Emulator, session: dict[str, Any] | None = None) -> str:
    body = {"session": session or LIVE_SESSION, "transport": {"type": "webrtc", "sdp": OFFER.decode()}}
    response = requests.post(emu.base_url + "/live/sessions", json=body, headers=_auth(emu), timeout=WAIT)
    assert response.status_code == 200, response.text
    return str(response.json()["session"]["id"])


def _hangup(emu: Emulator, call_id: str) -> None:
    family = "live/sessions" if call_id.startswith("live_") else "realtime/calls"
    response = requests.post(f"{emu.base_url}/{family}/{call_id}/hangup", headers=_auth(emu), timeout=WAIT)
    assert response.status_code == 200, response.text


def _ws_url(emu: Emulator, path: str) -> str:
    return f"ws://127.0.0.1:{emu.port}/v1{path}"


def _attach(emu: Emulator, path: str, key: str | None = None, **options: Any) -> ClientConnection:
    return connect(_ws_url(emu, path), additional_headers=_auth(emu, key), open_timeout=WAIT, **options)


def _attach_and_abort(emu: Emulator, target: str) -> None:
    """Open a sideband by hand (the HTTP upgrade, then the first frame's bytes), then reset the connection: what a
    client that crashes does. By hand because a client library's own close after the reset is its business (the
    sync client of websockets < 17 blocks in it)."""
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    head = (
        f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{emu.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer {emu.api_key}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", emu.port), timeout=WAIT) as sock:
        sock.sendall(head.encode("latin-1"))
        received = b""
        while b"session.created" not in received:  # the 101, then the session.created frame
            chunk = sock.recv(65536)
            assert chunk, received[:200]
            received += chunk
        assert received.startswith(b"HTTP/1.1 101")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def _send_and_receive(ws: ClientConnection, text: str) -> dict[str, Any]:
    ws.send(text)
    return next_json(ws)


def _refused(emu: Emulator, path: str, key: str | None = None) -> tuple[int, dict[str, Any]]:
    with pytest.raises(InvalidStatus) as refused:
        _attach(emu, path, key).close()
    response = refused.value.response
    return response.status_code, json.loads(response.body or b"{}")


# the Realtime sideband through the official SDK


def test_the_sdk_attaches_to_a_call_answers_a_tool_and_the_record_has_exactly_that(emu: Emulator) -> None:
    call_id = _webrtc_call(emu)
    client = openai.OpenAI(api_key=emu.api_key, base_url=emu.base_url)
    with client.realtime.connect(call_id=call_id) as conn:
        created = conn.recv()
        assert created.type == "session.created"
        assert created.session.model == "gpt-realtime"  # the call's session
        conn.session.update(session={"type": "realtime", "instructions": "Be very brief."})
        updated = conn.recv()
        assert updated.type == "session.updated"
        assert updated.session.instructions == "Be very brief."
        conn.conversation.item.create(
            item={"type": "function_call_output", "call_id": "call_1", "output": '{"status": "shipped"}'}
        )
        added, done = conn.recv(), conn.recv()
        assert (added.type, done.type) == ("conversation.item.added", "conversation.item.done")
        assert added.item.type == "function_call_output"
        assert added.item.call_id == "call_1"
        assert added.item.id == done.item.id
        assert added.item.id.startswith("item_")
        conn.response.create()
        response_created, response_done = conn.recv(), conn.recv()
        assert response_created.type == "response.created"
        assert response_created.response.status == "in_progress"
        assert response_done.type == "response.done"
        assert response_done.response.status == "completed"
        assert response_done.response.id == response_created.response.id
    record = emu.calls.get(call_id)
    assert record is not None
    assert record.session["instructions"] == "Be very brief."
    outputs = [c for c in record.client_events if c.event.get("item", {}).get("type") == "function_call_output"]
    assert len(outputs) == 1
    assert outputs[0].event["item"]["output"] == '{"status": "shipped"}'
    assert [c.event["type"] for c in record.client_events] == [
        "session.update",
        "conversation.item.create",
        "response.create",
    ]
    assert len({c.connection for c in record.client_events}) == 1


def test_the_async_sdk_attaches_and_a_rest_hang_up_ends_its_iteration(emu: Emulator) -> None:
    call_id = _webrtc_call(emu)

    async def run() -> list[str]:
        client = openai.AsyncOpenAI(api_key=emu.api_key, base_url=emu.base_url)
        seen: list[str] = []
        async with client.realtime.connect(call_id=call_id) as conn:
            await conn.response.create()
            async for event in conn:
                seen.append(event.type)
                if event.type == "response.done":
                    await client.realtime.calls.hangup(call_id)
        return seen

    seen = asyncio.run(asyncio.wait_for(run(), WAIT * 3))
    assert seen == ["session.created", "response.created", "response.done", "rate_limits.updated"]  # then closed
    record = emu.calls.get(call_id)
    assert record is not None
    assert record.state == "hung_up"


def test_a_sync_sdk_connection_sees_the_close_when_the_call_is_hung_up(emu: Emulator) -> None:
    call_id = _webrtc_call(emu)
    client = openai.OpenAI(api_key=emu.api_key, base_url=emu.base_url)
    with client.realtime.connect(call_id=call_id) as conn:
        assert conn.recv().type == "session.created"
        client.realtime.calls.hangup(call_id)
        with pytest.raises(ConnectionClosed) as closed:
            conn.recv()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1000


# the handshake


def test_unknown_ended_and_not_yet_accepted_calls_are_refused_with_the_apis_404(emu: Emulator) -> None:
    ended = _webrtc_call(emu)
    _hangup(emu, ended)
    pending = "rtc_" + "1" * 32
    emu.calls.add(CallRecord(id=pending, api="realtime", transport="sip", state="pending", created_at=0.0))
    live = _live_session(emu)
    for call_id in ("rtc_" + "0" * 32, ended, pending, live):  # a Live session is not a Realtime call either
        status, body = _refused(emu, f"/realtime?call_id={call_id}")
        assert status == 404
        assert body == {
            "error": {
                "message": "No session found for the provided call_id",
                "type": "invalid_request_error",
                "param": "",
                "code": "call_id_not_found",
            }
        }
    accepted = requests.post(
        f"{emu.base_url}/realtime/calls/{pending}/accept", json=SESSION, headers=_auth(emu), timeout=WAIT
    )
    assert accepted.status_code == 200, accepted.text
    with _attach(emu, f"/realtime?call_id={pending}") as ws:  # an accepted SIP call attaches
        assert next_json(ws)["session"]["instructions"] == "Be brief."  # the accepted session


def test_keys_a_minted_ek_key_gets_the_reported_404_and_a_wrong_key_401(emu: Emulator) -> None:
    call_id = _webrtc_call(emu)
    minted = requests.post(
        emu.base_url + "/realtime/client_secrets", json={"session": SESSION}, headers=_auth(emu), timeout=WAIT
    ).json()["value"]
    assert minted.startswith("ek_")
    status, body = _refused(emu, f"/realtime?call_id={call_id}", key=minted)
    assert (status, body["error"]["code"]) == (404, "call_id_not_found")
    for key in ("sk-wrong", "ek_" + "0" * 32):
        status, body = _refused(emu, f"/realtime?call_id={call_id}", key=key)
        assert (status, body["error"]["code"]) == (401, "invalid_api_key")
        assert key not in json.dumps(body)  # the key is never echoed whole
    status, body = _refused(emu, f"/live/sessions/{_live_session(emu)}/attach", key="sk-wrong")
    assert status == 401


def test_paths_without_a_socket_route_and_bad_primary_handshakes_are_refused_clearly(emu: Emulator) -> None:
    status, body = _refused(emu, "/realtime/nowhere")
    assert status == 404
    status, body = _refused(emu, "/realtime")  # neither call_id (a sideband) nor model (a primary socket)
    assert (status, body["error"]["code"], body["error"]["param"]) == (400, "missing_required_parameter", "model")
    status, body = _refused(emu, "/live/sessions?model=gpt-live-1")  # the model goes in session.start
    assert (status, body["error"]["code"]) == (400, "unknown_parameter")
    status, body = _refused(emu, f"/live/sessions/{_live_session(emu)}/attach?graceful_close=maybe")
    assert (status, body["error"]["param"]) == (400, None)
    assert "graceful_close" in body["error"]["message"]


def test_without_the_sideband_extra_a_socket_route_answers_501_and_rest_still_works(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    call_id = _webrtc_call(emu)
    for name in [name for name in sys.modules if name == "websockets" or name.startswith("websockets.")]:
        monkeypatch.setitem(sys.modules, name, None)  # what `import websockets...` finds on a core install
    headers = {
        **_auth(emu),
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    response = requests.get(f"{emu.base_url}/realtime?call_id={call_id}", headers=headers, timeout=WAIT)
    assert response.status_code == 501
    error = response.json()["error"]
    assert error["code"] == "websockets_not_installed"
    assert "realtime-service[sideband]" in error["message"]
    minted = requests.post(
        emu.base_url + "/realtime/client_secrets", json={"session": SESSION}, headers=_auth(emu), timeout=WAIT
    )
    assert minted.status_code == 200


def test_azure_mode_serves_no_realtime_sideband(emu: Emulator) -> None:
    """Azure's Realtime socket is /openai/realtime (CALLS-LIVE-NOTES 5); a ?call_id= sideband is not documented
    there: /openai/v1/realtime is no path at all, and ?call_id= on the classic path is refused saying so."""
    with Emulator(azure=True) as azure:
        call_id = "rtc_x"
        for target, status in (
            (f"/openai/v1/realtime?call_id={call_id}", 404),
            (f"/openai/realtime?api-version=2025-04-01-preview&deployment=d&call_id={call_id}", 400),
        ):
            with pytest.raises(InvalidStatus) as refused:
                connect(
                    f"ws://127.0.0.1:{azure.port}{target}",
                    additional_headers={"api-key": azure.api_key},
                    open_timeout=WAIT,
                ).close()
            assert refused.value.response.status_code == status
        assert b"not documented on Azure" in (refused.value.response.body or b"")


# the Realtime protocol's rules


def test_session_update_rules_answer_errors_that_echo_the_event_id_and_the_socket_stays(emu: Emulator) -> None:
    call_id = _webrtc_call(emu)
    with _attach(emu, f"/realtime?call_id={call_id}") as ws:
        assert next_json(ws)["type"] == "session.created"
        cases = [
            ({"session": {"instructions": "x"}}, "missing_required_parameter", "session.type"),
            ({"session": {"type": "realtime", "model": "gpt-other"}}, "immutable_field_update", "session.model"),
            ({"session": {"type": "realtime", "instructions": 7}}, "invalid_type", "session.instructions"),
            ({}, "missing_required_parameter", "session"),
        ]
        for index, (body, code, param) in enumerate(cases):
            ws.send(json.dumps({"type": "session.update", "event_id": f"evt_{index}", **body}))
            event = next_json(ws)
            assert event["type"] == "error", event
            assert (event["error"]["code"], event["error"]["param"]) == (code, param)
            assert event["error"]["event_id"] == f"evt_{index}"
        ws.send(json.dumps({"type": "session.update", "session": {"type": "realtime", "model": "gpt-realtime"}}))
        assert next_json(ws)["type"] == "session.updated"  # the same model is no change


def test_session_update_changes_audio_field_by_field_and_keeps_what_a_sip_call_was_accepted_with(
    emu: Emulator,
) -> None:
    """A SIP sideband's update leaves out the codec (SIDEBAND-NOTES 2.4; the Agents SDK's first update does): the
    accepted formats must survive it, while an object such as ``turn_detection`` is replaced whole."""
    emu.calls.add(CallRecord(id="rtc_merge", api="realtime", transport="sip", state="pending", created_at=0.0))
    pcmu, near = {"type": "audio/pcmu"}, {"type": "near_field"}
    accepted = {
        "input": {
            "format": pcmu,
            "noise_reduction": near,
            "turn_detection": {"type": "server_vad", "threshold": 0.7},
        },
        "output": {"format": pcmu, "voice": "ash"},
    }
    client = openai.OpenAI(api_key=emu.api_key, base_url=emu.base_url)
    client.realtime.calls.accept("rtc_merge", type="realtime", model="gpt-realtime", audio=accepted)  # type: ignore[arg-type]
    with client.realtime.connect(call_id="rtc_merge") as conn:
        assert conn.recv().type == "session.created"
        update = {"input": {"turn_detection": {"type": "semantic_vad"}}, "output": {"voice": "marin"}}
        conn.session.update(session={"type": "realtime", "audio": update, "tracing": "auto"})  # type: ignore[typeddict-item]
        updated = conn.recv()
        assert updated.type == "session.updated"
        assert updated.session.model_dump(exclude_none=True)["audio"] == {  # type: ignore[union-attr]
            "input": {"format": pcmu, "noise_reduction": near, "turn_detection": {"type": "semantic_vad"}},
            "output": {"format": pcmu, "voice": "marin"},
        }
        conn.session.update(session={"type": "realtime", "audio": {"input": {"turn_detection": None}}})
        cleared = conn.recv()
        assert cleared.type == "session.updated"
    record = emu.calls.get("rtc_merge")
    assert record is not None
    assert record.session["audio"]["input"] == {"format": pcmu, "noise_reduction": near, "turn_detection": None}
    assert record.session["audio"]["output"] == {"format": pcmu, "voice": "marin"}
    assert record.session["tracing"] == "auto"


def test_a_second_response_create_while_one_is_active_is_refused(emu: Emulator) -> None:
    call_id = _webrtc_call(emu)
    passed: list[dict[str, Any]] = []
    finish, driven = threading.Event(), threading.Event()

    def driver(channel: Channel) -> None:
        try:
            drive(channel)
        finally:
            driven.set()

    def drive(channel: Channel) -> None:
        event = channel.receive(WAIT)
        assert event is not None
        assert event["type"] == "response.create"
        passed.append(event)
        channel.send({"type": "response.created", "response": {"id": "resp_1", "status": "in_progress"}})
        finish.wait(WAIT)
        channel.send({"type": "response.done", "response": {"id": "resp_1", "status": "completed"}})
        while True:
            event = channel.receive(WAIT)
            if event is None:
                return
            passed.append(event)

    emu.on_sideband = driver
    with _attach(emu, f"/realtime?call_id={call_id}") as ws:
        assert next_json(ws)["type"] == "session.created"
        ws.send(json.dumps({"type": "response.create"}))
        assert next_json(ws)["type"] == "response.created"
        ws.send(json.dumps({"type": "response.create", "event_id": "evt_again"}))
        error = next_json(ws)
        assert error["error"]["code"] == "conversation_already_has_active_response"
        assert error["error"]["event_id"] == "evt_again"
        assert "resp_1" in error["error"]["message"]
        finish.set()
        assert next_json(ws)["type"] == "response.done"
        ws.send(json.dumps({"type": "response.create", "event_id": "evt_third"}))  # allowed again
        record = emu.calls.wait_until(call_id, lambda r: len(r.client_events) == 3, WAIT)
        assert len(record.client_events) == 3  # the refused one is recorded too
    assert driven.wait(WAIT)  # the driver's channel ended with the socket (SocketClosed)
    assert [event.get("event_id") for event in passed] == [None, "evt_third"]  # never the refused one


# the Live sideband


def test_the_live_sdk_sideband_refuses_primary_events_and_answers_its_own(emu: Emulator) -> None:
    session_id = _live_session(emu)
    client = openai.OpenAI(api_key=emu.api_key, base_url=emu.base_url)
    with client.live.sideband.connect(session_id=session_id) as conn:
        for kind in ("session.start", "session.input_audio.append"):
            conn.send({"type": kind, "event_id": f"evt_{kind}"})  # type: ignore[arg-type, misc]
            event = conn.recv()
            assert event.type == "error"
            assert event.error.code == "invalid_sideband_event"
            assert event.error.client_event_id == f"evt_{kind}"
        conn.send({"type": "session.update", "event_id": "evt_u", "session": {"instructions": "x"}})  # type: ignore[arg-type, misc]
        event = conn.recv()
        assert event.type == "error"
        assert event.error.param == "session.instructions"
        conn.session.commentary.append(content="Your order shipped.", delegation_id=None, event_id="evt_c")
        appended = conn.recv()
        assert appended.type == "session.commentary.appended"
        assert appended.client_event_id == "evt_c"
        conn.send({"type": "session.thinking.append", "content": "x"})  # type: ignore[arg-type, misc]
        assert conn.recv().error.param == "delegation_id"  # type: ignore[union-attr]
        conn.response.create(event_id="evt_r")
        event = conn.recv()
        assert event.type == "error"
        assert "requires Responses delegation" in event.error.message
        conn.session.input_audio.mute(event_id="evt_m")
        muted = conn.recv()
        assert muted.type == "session.input_audio.muted"
        assert muted.client_event_id == "evt_m"
        _hangup(emu, session_id)
        closed = conn.recv()
        assert closed.type == "session.closed"
        assert closed.reason == "close_requested"
        assert closed.session.id == session_id
        with pytest.raises(ConnectionClosed):
            conn.recv()


def test_live_session_close_on_the_sideband_ends_the_session_for_every_sideband(emu: Emulator) -> None:
    session_id = _live_session(emu)
    path = f"/live/sessions/{session_id}/attach?graceful_close=true"
    with _attach(emu, path) as first, _attach(emu, path) as second:
        first.send(json.dumps({"type": "session.close", "event_id": "evt_close"}))
        mine, theirs = next_json(first), next_json(second)
        assert (mine["type"], mine["client_event_id"]) == ("session.closed", "evt_close")
        assert theirs == mine  # one session event, one event_id, whoever asked
        for ws in (first, second):
            assert all(event == mine for event in json_until_closed(ws))  # a replayed copy at most, same event_id
    record = emu.calls.get(session_id)
    assert record is not None
    assert record.state == "hung_up"
    status, body = _refused(emu, path)
    assert (status, body["error"]["code"]) == (404, "session_id_not_found")


def test_live_delegation_updates_keep_their_type(emu: Emulator) -> None:
    responses = {"type": "responses", "responses": {"model": "gpt-5", "instructions": "Look it up."}}
    session_id = _live_session(emu, {**LIVE_SESSION, "delegation": responses})
    with _attach(emu, f"/live/sessions/{session_id}/attach") as ws:
        ws.send(json.dumps({"type": "session.update", "event_id": "e1", "session": {"delegation": {"type": "client"}}}))
        error = next_json(ws)
        assert (error["error"]["code"], error["error"]["param"]) == (
            "immutable_field_update",
            "session.delegation.type",
        )
        update = {"delegation": {"type": "responses", "responses": {"model": "gpt-5", "instructions": "Be exact."}}}
        ws.send(json.dumps({"type": "session.update", "event_id": "e2", "session": update}))
        updated = next_json(ws)
        assert updated["type"] == "session.updated"
        assert updated["client_event_id"] == "e2"
        assert updated["session"]["delegation"]["responses"]["instructions"] == "Be exact."
        ws.send(json.dumps({"type": "response.create", "event_id": "e3"}))  # allowed under Responses delegation
        ws.send(json.dumps({"type": "session.input_audio.unmute", "event_id": "e4"}))
        assert next_json(ws)["client_event_id"] == "e4"  # nothing came back for response.create (quiet)


def test_a_live_reattach_replays_the_last_three_seconds_with_the_original_event_ids() -> None:
    now = [1_000_000.0]
    with Emulator(clock=lambda: now[0]) as emu:
        session_id = _live_session(emu)
        path = f"/live/sessions/{session_id}/attach"
        with _attach(emu, path) as first:
            first.send(json.dumps({"type": "session.start", "event_id": "not_replayed"}))
            assert next_json(first)["type"] == "error"
            first.send(json.dumps({"type": "session.input_audio.mute", "event_id": "m1"}))
            muted = next_json(first)
        now[0] += 2.0
        with _attach(emu, path) as second:
            assert next_json(second) == muted  # same event, same event_id
            second.send(json.dumps({"type": "session.input_audio.unmute", "event_id": "m2"}))
            unmuted = next_json(second)
        now[0] += 2.5  # the mute is 4.5 s old now, the unmute 2.5 s
        with _attach(emu, path) as third:
            assert next_json(third) == unmuted
            third.send(json.dumps({"type": "session.input_audio.mute", "event_id": "m3"}))
            assert next_json(third)["client_event_id"] == "m3"  # nothing older was replayed


# hostile input


def test_malformed_frames_get_error_events_and_the_socket_stays(emu: Emulator) -> None:
    for path in (f"/realtime?call_id={_webrtc_call(emu)}", f"/live/sessions/{_live_session(emu)}/attach"):
        with _attach(emu, path) as ws:
            if "realtime" in path:
                assert next_json(ws)["type"] == "session.created"
            frames: list[str | bytes] = ["{not json", "[1, 2]", "NaN", '{"event_id": "e"}', b"\x00\x01", '{"type": 5}']
            codes = ["invalid_json", "invalid_type", "invalid_json", "missing_required_parameter", "invalid_message"]
            for frame, code in zip(frames, [*codes, "invalid_type"], strict=True):
                ws.send(frame)
                event = next_json(ws)
                assert (event["type"], event["error"]["code"]) == ("error", code), frame
            ws.send(json.dumps({"type": "no.such.event", "event_id": "e9"}))
            event = next_json(ws)
            assert (event["error"]["code"], event["error"]["param"]) == ("invalid_value", "type")
            ws.send('{"type": "' + "x" * 100_000 + '"}')
            assert len(json.dumps(next_json(ws))) < 2000  # an unknown type is not echoed whole


def test_a_16_mib_frame_closes_that_socket_with_1009_and_other_calls_carry_on(
    emu: Emulator, capfd: pytest.CaptureFixture[str]
) -> None:
    other = _webrtc_call(emu)
    with _attach(emu, f"/realtime?call_id={other}") as bystander:
        assert next_json(bystander)["type"] == "session.created"
        with _attach(emu, f"/realtime?call_id={_webrtc_call(emu)}", max_size=None) as ws:
            assert next_json(ws)["type"] == "session.created"
            with pytest.raises(ConnectionClosed) as closed:
                _send_and_receive(ws, '{"type": "session.update", "pad": "' + "x" * (16 << 20) + '"}')
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1009
        bystander.send(json.dumps({"type": "session.update", "session": {"type": "realtime"}}))
        assert next_json(bystander)["type"] == "session.updated"
    assert "Traceback" not in capfd.readouterr().err


def test_a_frame_flood_is_answered_frame_by_frame_and_other_calls_carry_on(
    emu: Emulator, capfd: pytest.CaptureFixture[str]
) -> None:
    flooded, other = _webrtc_call(emu), _webrtc_call(emu)
    count = 2000
    with (
        _attach(emu, f"/realtime?call_id={other}") as bystander,
        _attach(emu, f"/realtime?call_id={flooded}", max_queue=None) as ws,
    ):
        assert next_json(bystander)["type"] == "session.created"
        assert next_json(ws)["type"] == "session.created"
        for _ in range(count):
            ws.send("{")
        ws.send(json.dumps({"type": "session.update", "event_id": "last", "session": {"type": "realtime"}}))
        bystander.send(json.dumps({"type": "session.update", "session": {"type": "realtime"}}))
        assert next_json(bystander)["type"] == "session.updated"
        errors = 0
        while (event := next_json(ws))["type"] == "error":
            errors += 1
        assert (errors, event["type"]) == (count, "session.updated")
    assert "Traceback" not in capfd.readouterr().err


def test_stopping_the_emulator_closes_attached_sidebands() -> None:
    emu = Emulator().start()
    try:
        with _attach(emu, f"/realtime?call_id={_webrtc_call(emu)}") as ws:
            assert next_json(ws)["type"] == "session.created"
            emu.stop()
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=WAIT)
    finally:
        emu.stop()


def test_a_bug_in_an_event_handler_is_an_error_event_not_a_dead_socket(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    handle = RealtimeSideband.handle

    def broken(self: RealtimeSideband, kind: str, event: dict[str, Any], client_event_id: str | None) -> bool:
        if kind == "response.cancel":
            raise KeyError("a bug")
        return handle(self, kind, event, client_event_id)

    monkeypatch.setattr(RealtimeSideband, "handle", broken)
    with _attach(emu, f"/realtime?call_id={_webrtc_call(emu)}") as ws:
        assert next_json(ws)["type"] == "session.created"
        event = _send_and_receive(ws, json.dumps({"type": "response.cancel", "event_id": "evt_bug"}))
        assert (event["error"]["type"], event["error"]["event_id"]) == ("server_error", "evt_bug")
        event = _send_and_receive(ws, json.dumps({"type": "session.update", "session": {"type": "realtime"}}))
        assert event["type"] == "session.updated"
    assert "KeyError: 'a bug'" in capfd.readouterr().err  # printed for the developer, not swallowed


def test_the_record_bound_closes_the_socket_that_exceeds_it_with_1008(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(call_registry, "MAX_CLIENT_EVENTS", 3)
    call_id = _webrtc_call(emu)
    with _attach(emu, f"/realtime?call_id={call_id}") as ws:
        assert next_json(ws)["type"] == "session.created"
        for index in range(3):
            ws.send(json.dumps({"type": "input_audio_buffer.clear", "event_id": f"e{index}"}))
        ws.send(json.dumps({"type": "input_audio_buffer.clear", "event_id": "one_too_many"}))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=WAIT)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1008
    record = emu.calls.get(call_id)
    assert record is not None
    assert [event.event["event_id"] for event in record.client_events] == ["e0", "e1", "e2"]


def test_the_async_live_sideband_sees_session_closed_when_the_session_is_hung_up(emu: Emulator) -> None:
    session_id = _live_session(emu)

    async def run() -> list[str]:
        client = openai.AsyncOpenAI(api_key=emu.api_key, base_url=emu.base_url)
        seen: list[str] = []
        async with client.live.sideband.connect(session_id=session_id, graceful_close=True) as conn:
            await conn.session.input_audio.mute(event_id="evt_m")
            async for event in conn:
                seen.append(event.type)
                if event.type == "session.input_audio.muted":
                    await client.live.sessions.hangup(session_id)
        return seen

    assert asyncio.run(asyncio.wait_for(run(), WAIT * 3)) == ["session.input_audio.muted", "session.closed"]


def test_pending_and_unknown_live_sessions_are_refused_and_an_accepted_one_attaches(emu: Emulator) -> None:
    pending = "live_" + "2" * 32
    emu.calls.add(CallRecord(id=pending, api="live", transport="sip", state="pending", created_at=0.0))
    for session_id in (pending, "live_" + "3" * 32, _webrtc_call(emu)):
        status, body = _refused(emu, f"/live/sessions/{session_id}/attach")
        assert (status, body["error"]["code"]) == (404, "session_id_not_found")
    accept = {"session": {"type": "live", "model": "gpt-live-1"}}
    response = requests.post(
        f"{emu.base_url}/live/sessions/{pending}/accept", json=accept, headers=_auth(emu), timeout=WAIT
    )
    assert response.status_code == 200, response.text
    with _attach(emu, f"/live/sessions/{pending}/attach") as ws:
        event = _send_and_receive(ws, json.dumps({"type": "transport.dtmf.send", "event": "5", "event_id": "d"}))
        assert (event["type"], event["event"], event["client_event_id"]) == ("transport.dtmf.sent", "5", "d")


def test_faults_apply_to_a_sockets_handshake_as_to_any_request(emu: Emulator) -> None:
    call_id = _webrtc_call(emu)
    emu.enqueue(Fault.status(503), Fault.drop(), Fault.delay(0.01))
    status, body = _refused(emu, f"/realtime?call_id={call_id}")
    assert (status, body["error"]["type"]) == (503, "server_error")
    with pytest.raises((ConnectionClosed, OSError, InvalidHandshake)):  # dropped before any answer
        _attach(emu, f"/realtime?call_id={call_id}").close()
    with _attach(emu, f"/realtime?call_id={call_id}") as ws:  # delayed, then served
        assert next_json(ws)["type"] == "session.created"
    assert emu.pending_faults == 0


@pytest.mark.parametrize(
    "extra",
    [
        "X-Big: " + "a" * 10_000,  # within http.server's limits, beyond the websockets parser's
        "X-Fold: a\r\n b",  # an obsolete folded header line
        "Sec-WebSocket-Version: 8",
    ],
)
def test_handshakes_the_library_refuses_get_a_400_and_no_handler_fails(
    emu: Emulator, capfd: pytest.CaptureFixture[str], extra: str
) -> None:
    call_id = _webrtc_call(emu)
    head = (
        f"GET /v1/realtime?call_id={call_id} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        f"Authorization: Bearer {emu.api_key}\r\n"
    )
    if "Version" not in extra:
        head += "Sec-WebSocket-Version: 13\r\n"
    with socket.create_connection(("127.0.0.1", emu.port), timeout=WAIT) as raw:
        raw.sendall((head + extra + "\r\n\r\n").encode())
        answer = b""
        while chunk := raw.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 4"), answer[:200]
    assert "Traceback" not in capfd.readouterr().err
    with _attach(emu, f"/realtime?call_id={call_id}") as ws:  # the emulator serves on
        assert next_json(ws)["type"] == "session.created"


def test_the_live_replay_keeps_only_the_newest_events_of_a_flood() -> None:
    now = [1_000_000.0]
    with Emulator(clock=lambda: now[0]) as emu:
        path = f"/live/sessions/{_live_session(emu)}/attach"
        with _attach(emu, path, max_queue=None) as first:
            for index in range(sidebands.REPLAY_MAX_EVENTS + 50):
                first.send(json.dumps({"type": "session.input_audio.mute", "event_id": f"m{index}"}))
            acks = [next_json(first) for _ in range(sidebands.REPLAY_MAX_EVENTS + 50)]
        with _attach(emu, path, max_queue=None) as second:
            second.send(json.dumps({"type": "session.input_audio.unmute", "event_id": "last"}))
            replayed = []
            while (event := next_json(second)).get("client_event_id") != "last":
                replayed.append(event)
        assert replayed == acks[-sidebands.REPLAY_MAX_EVENTS :]


def test_the_socket_bench_runs_and_reports_both_servers(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location(
        "bench_sockets", Path(__file__).parents[1] / "bench" / "bench_sockets.py"
    )
    assert spec is not None
    assert spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--events", "300", "--round-trips", "30"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("BENCH-SOCKETS-RESULT ")
    result = json.loads(line.split(" ", 1)[1])
    for server in ("emulator", "bare_websockets"):
        assert result[server]["push"]["events_per_s"] > 0
        assert result[server]["round_trip"]["round_trips_per_s"] > 0


def test_sidebands_that_come_and_go_leave_no_thread_behind(emu: Emulator) -> None:
    call_id = _webrtc_call(emu)

    def idle(channel: Channel) -> None:
        """A driver thread per sideband, waiting for an event that never comes."""
        channel.receive(WAIT)

    emu.on_sideband = idle
    before = threading.active_count()
    for index in range(30):
        if index % 2 == 0:  # an abort: RST, no close frame, from a bare socket (no client library to tidy up)
            _attach_and_abort(emu, f"/v1/realtime?call_id={call_id}")
            continue
        with _attach(emu, f"/realtime?call_id={call_id}") as ws:  # a clean close
            assert next_json(ws)["type"] == "session.created"
    deadline = time.monotonic() + WAIT
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.05)  # polling a count with a deadline: no event to wait on across threads we do not own
    assert threading.active_count() <= before
    with _attach(emu, f"/realtime?call_id={call_id}") as ws:  # and the call still attaches
        assert next_json(ws)["type"] == "session.created"


def test_a_driver_can_drop_the_socket_abnormally(emu: Emulator) -> None:
    def dropper(channel: Channel) -> None:
        """Drops the socket at the first response.create, as a script's drop step does."""
        if channel.receive(WAIT) is not None:
            channel.drop()

    emu.on_sideband = dropper
    call_id = _webrtc_call(emu)
    client = openai.OpenAI(api_key=emu.api_key, base_url=emu.base_url)
    with client.realtime.connect(call_id=call_id) as conn:
        assert conn.recv().type == "session.created"
        conn.response.create()
        with pytest.raises(ConnectionClosed) as dropped:
            conn.recv()
    assert dropped.value.rcvd is None  # no close frame: an abnormal closure (1006)
    record = emu.calls.get(call_id)
    assert record is not None
    assert record.state == "active"  # the network dropped, the call did not end
    with _attach(emu, f"/realtime?call_id={call_id}") as ws:  # so it can be attached again
        assert next_json(ws)["type"] == "session.created"


def test_a_client_that_only_listens_is_not_dropped_by_the_send_stall_bound(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sideband listens for long stretches without sending (between tool calls): the bound on stalled sends
    must not end it (it did: the socket-wide timeout also bounded reads, and dropped a silent client)."""
    monkeypatch.setattr(sockets, "SEND_STALL_TIMEOUT", 0.2)
    emu.calls.add(CallRecord(id="rtc_quiet", api="realtime", transport="sip", state="active", created_at=0.0))

    def talks_then_waits(channel: Channel) -> None:
        channel.send({"type": "response.output_audio_transcript.delta", "delta": "first"})
        assert channel.receive(timeout=1.0) is None  # the client stays silent 5x longer than the bound
        channel.send({"type": "response.output_audio_transcript.delta", "delta": "second"})

    emu.on_sideband = talks_then_waits
    with _attach(emu, "/realtime?call_id=rtc_quiet", ping_interval=None) as ws:
        deltas = [event["delta"] for event in (next_json(ws) for _ in range(3)) if "delta" in event]
    assert deltas == ["first", "second"]


def test_a_send_to_a_client_that_does_not_read_still_ends_within_the_bound(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sockets, "SEND_STALL_TIMEOUT", 0.2)
    emu.calls.add(CallRecord(id="rtc_stuck", api="realtime", transport="sip", state="active", created_at=0.0))
    outcome: list[str] = []
    ended = threading.Event()

    def floods(channel: Channel) -> None:
        try:
            for _ in range(4_000):  # 256 MiB at most: far beyond what loopback buffers hold
                channel.send({"type": "response.output_audio_transcript.delta", "delta": "x" * 65_536})
            outcome.append("all sent")
        except SocketClosed:
            outcome.append("closed")
        finally:
            ended.set()

    emu.on_sideband = floods
    with _attach(emu, "/realtime?call_id=rtc_stuck", ping_interval=None, max_queue=1):
        assert ended.wait(WAIT)  # the client never reads
    assert outcome == ["closed"]
