"""The emulator's primary WebSockets over real loopback sockets: ``GET /v1/realtime?model=`` and
``GET /v1/live/sessions`` (``session.start``), driven by the official ``openai`` SDK (sync and async, OpenAI and
Azure clients) and by a bare ``websockets`` client for what the SDK would not send."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import socket
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
import requests
from chromium import empty_page
from socket_reading import WAIT, next_json, sdk_until, sdk_until_closed, watchdog
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from realtime_service.emulator import Emulator, SocketFault, call_registry
from realtime_service.emulator.call_registry import CallRecord
from realtime_service.emulator.primary_sockets import SILENCE
from realtime_service.emulator.scripts import ScriptState

ARGUMENTS = {"order_id": "1234"}
ORDER_CALL: list[Any] = [
    {"caller": "Hi, where is my order 1234?"},
    {"model_calls": {"name": "lookup_order", "arguments": ARGUMENTS, "call_id": "call_order"}},
    {"expect_output": {"timeout": 10, "output": {"status": "shipped"}}},
    {"model_says": "Your order 1234 ships tomorrow."},
    "hangup",
]
AUDIO_100_MS = base64.b64encode(bytes(4800)).decode()  # PCM16 mono 24 kHz


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


def _ws(emu: Emulator, path: str, key: str | None = None) -> ClientConnection:
    return connect(
        f"ws://127.0.0.1:{emu.port}/v1{path}",
        additional_headers={"Authorization": f"Bearer {key or emu.api_key}"},
        open_timeout=WAIT,
    )


def _refused(emu: Emulator, path: str, key: str | None = None) -> tuple[int, dict[str, Any]]:
    with pytest.raises(InvalidStatus) as refused:
        _ws(emu, path, key).close()
    response = refused.value.response
    return response.status_code, json.loads(response.body or b"{}")


def _only(emu: Emulator, prefix: str) -> CallRecord:
    records = [record for record in emu.calls.all() if record.id.startswith(prefix)]
    assert len(records) == 1, records
    return records[0]


def _ended(emu: Emulator, session_id: str) -> CallRecord:
    return emu.calls.wait_for(session_id, ["hung_up"], WAIT)


# Realtime: ?model=


def test_the_sdk_starts_a_realtime_session_plays_the_script_with_audio_and_answers_a_tool() -> None:
    with Emulator(script=ORDER_CALL) as emu:
        client = openai.OpenAI(api_key=emu.api_key, base_url=emu.base_url)
        with client.realtime.connect(model="gpt-realtime-2.1") as raw, watchdog(raw) as conn:
            heard = sdk_until(conn, "conversation.item.input_audio_transcription.completed")
            created = heard[0]
            assert created.type == "session.created"
            assert (created.session.model, created.session.type) == ("gpt-realtime-2.1", "realtime")
            session_id = created.session.id
            assert session_id.startswith("sess_")
            assert heard[-1].transcript == "Hi, where is my order 1234?"
            called = sdk_until(conn, "response.done")
            done = [e for e in called if e.type == "response.function_call_arguments.done"]
            assert [(e.name, e.call_id) for e in done] == [("lookup_order", "call_order")]
            assert conn.recv().type == "rate_limits.updated"  # after every response.done
            conn.conversation.item.create(
                item={"type": "function_call_output", "call_id": "call_order", "output": '{"status": "shipped"}'}
            )
            conn.response.create()
            said = sdk_until(conn, "response.done")
            kinds = [e.type for e in said]
            audio = [e for e in said if e.type == "response.output_audio.delta"]
            transcript = [e for e in said if e.type == "response.output_audio_transcript.delta"]
            assert len(audio) == len(transcript) == 5  # one chunk of audio per word
            assert {e.delta for e in audio} == {SILENCE}
            assert {(e.response_id, e.item_id) for e in audio} == {(transcript[0].response_id, transcript[0].item_id)}
            assert kinds.index("response.output_audio.delta") < kinds.index("response.output_audio_transcript.delta")
            assert kinds.index("response.output_audio.done") < kinds.index("response.output_audio_transcript.done")
            assert [e.transcript for e in said if e.type == "response.output_audio_transcript.done"] == [
                "Your order 1234 ships tomorrow."
            ]
            rest, closed = sdk_until_closed(conn)  # the script hung up: the session ends, its socket closes
            assert [e.type for e in rest] == ["rate_limits.updated"]
            assert rest[0].rate_limits[0].name == "requests"
            assert isinstance(closed, ConnectionClosedOK)
        record = emu.calls.wait_until(
            session_id, lambda r: r.script_state is not None and r.script_state.status != "playing", WAIT
        )
        assert (record.api, record.transport, record.auth) == ("realtime", "websocket", "api_key")
        assert record.state == "hung_up"
        assert record.script_state == ScriptState("done")
        outputs = [e.event["item"] for e in record.client_events if e.event["type"] == "conversation.item.create"]
        assert [o["call_id"] for o in outputs] == ["call_order"]


def test_the_async_sdk_carries_audio_commits_clears_and_closing_the_socket_ends_the_session(emu: Emulator) -> None:
    async def run() -> tuple[str, list[dict[str, Any]]]:
        client = openai.AsyncOpenAI(api_key=emu.api_key, base_url=emu.base_url)
        seen: list[dict[str, Any]] = []
        async with client.realtime.connect(model="gpt-realtime") as conn:
            created = await conn.recv()
            assert created.type == "session.created"
            await conn.input_audio_buffer.commit(event_id="evt_empty")  # nothing appended yet
            await conn.input_audio_buffer.append(audio=AUDIO_100_MS)
            await conn.input_audio_buffer.commit()
            await conn.input_audio_buffer.append(audio=AUDIO_100_MS)
            await conn.input_audio_buffer.clear()
            await conn.response.create()
            async for event in conn:
                seen.append(event.model_dump())
                if event.type == "rate_limits.updated":
                    break
        return created.session.id, seen  # type: ignore[union-attr]

    session_id, seen = asyncio.run(asyncio.wait_for(run(), WAIT * 3))
    assert [event["type"] for event in seen] == [
        "error",
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.done",
        "input_audio_buffer.cleared",
        "response.created",
        "response.done",
        "rate_limits.updated",
    ]
    assert seen[0]["error"]["code"] == "input_audio_buffer_commit_empty"
    assert seen[0]["error"]["event_id"] == "evt_empty"
    assert seen[1]["item_id"] == seen[2]["item"]["id"]
    assert seen[2]["item"]["role"] == "user"
    record = _ended(emu, session_id)  # the client closed its socket: the session is over
    assert record.state == "hung_up"
    appends = [e.event for e in record.client_events if e.event["type"] == "input_audio_buffer.append"]
    assert appends == [{"type": "input_audio_buffer.append", "audio_bytes": 4800}] * 2  # sizes, not the audio


def test_an_ek_key_minted_here_opens_a_primary_socket_with_its_session(emu: Emulator) -> None:
    session = {"type": "realtime", "model": "gpt-realtime-2", "instructions": "Be brief."}
    minted = requests.post(
        emu.base_url + "/realtime/client_secrets",
        json={"session": session},
        headers={"Authorization": f"Bearer {emu.api_key}"},
        timeout=WAIT,
    )
    assert minted.status_code == 200, minted.text
    key = minted.json()["value"]
    client = openai.OpenAI(api_key=key, base_url=emu.base_url)
    with client.realtime.connect() as raw, watchdog(raw) as conn:  # no model: the key's session names it
        created = conn.recv()
        assert created.type == "session.created"
        assert (created.session.model, created.session.instructions) == ("gpt-realtime-2", "Be brief.")
    record = _ended(emu, created.session.id)
    assert record.auth == "ephemeral"
    status, body = _refused(emu, "/realtime?model=gpt-realtime", key="ek_never_minted")
    assert (status, body["error"]["code"]) == (401, "invalid_api_key")
    assert "ek_never_minted" not in json.dumps(body)


def test_bad_realtime_handshakes_are_refused_with_the_apis_errors(emu: Emulator) -> None:
    status, body = _refused(emu, "/realtime?model=gpt-4-turbo")
    assert (status, body["error"]["code"], body["error"]["type"]) == (400, "model_not_found", "invalid_request_error")
    status, body = _refused(emu, "/realtime?model=gpt-realtime", key="sk-wrong")
    assert (status, body["error"]["code"]) == (401, "invalid_api_key")
    status, body = _refused(emu, "/realtime?intent=transcription")
    assert (status, body["error"]["code"]) == (501, "not_implemented")
    assert "transcription" in body["error"]["message"]
    assert emu.calls.all() == []  # a refused handshake starts no session


def test_the_sideband_rules_hold_on_a_primary_socket_and_hostile_frames_leave_it_standing(emu: Emulator) -> None:
    with _ws(emu, "/realtime?model=gpt-realtime") as ws:
        session_id = next_json(ws)["session"]["id"]
        ws.send("{not json")
        assert next_json(ws)["error"]["code"] == "invalid_json"
        ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": "***", "event_id": "evt_bad"}))
        error = next_json(ws)["error"]
        assert (error["code"], error["param"], error["event_id"]) == ("invalid_value", "audio", "evt_bad")
        ws.send(json.dumps({"type": "session.update", "session": {"type": "realtime", "model": "gpt-realtime-2"}}))
        assert next_json(ws)["error"]["code"] == "immutable_field_update"
        ws.send(json.dumps({"type": "session.update", "session": {"type": "realtime", "instructions": "Hi."}}))
        updated = next_json(ws)
        assert (updated["type"], updated["session"]["instructions"]) == ("session.updated", "Hi.")
        ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": AUDIO_100_MS}))
        ws.send(json.dumps({"type": "input_audio_buffer.commit"}))
        assert next_json(ws)["type"] == "input_audio_buffer.committed"  # the good append after the bad one counted
    record = _ended(emu, session_id)
    kinds = [e.event.get("type") for e in record.client_events]
    assert kinds == [
        "input_audio_buffer.append",
        "session.update",
        "session.update",
        "input_audio_buffer.append",
        "input_audio_buffer.commit",
    ]
    assert record.client_events[0].event["audio_bytes"] is None  # recorded, though not base64


def test_a_huge_audio_append_closes_only_its_socket_with_1009(emu: Emulator) -> None:
    with _ws(emu, "/realtime?model=gpt-realtime") as other:
        assert next_json(other)["type"] == "session.created"
        with _ws(emu, "/realtime?model=gpt-realtime") as ws:
            session_id = next_json(ws)["session"]["id"]
            huge = base64.b64encode(bytes(1 << 20)).decode()  # 1 MiB of audio, 1.3 MiB of base64
            ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": huge}))
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=WAIT)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1009
        assert _ended(emu, session_id).client_events == ()
        other.send(json.dumps({"type": "input_audio_buffer.clear"}))
        assert next_json(other)["type"] == "input_audio_buffer.cleared"


def test_a_dropped_connection_ends_its_session(emu: Emulator) -> None:
    """A client that crashes (a reset, no close frame) ends its session as a clean close does."""
    head = (
        f"GET /v1/realtime?model=gpt-realtime HTTP/1.1\r\nHost: 127.0.0.1:{emu.port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        f"Authorization: Bearer {emu.api_key}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", emu.port), timeout=WAIT) as sock:
        sock.sendall(head.encode("latin-1"))
        received = b""
        while b"session.created" not in received:
            chunk = sock.recv(65536)
            assert chunk, received[:200]
            received += chunk
        assert received.startswith(b"HTTP/1.1 101")
        session_id = received.split(b'"id": "', 1)[1].split(b'"', 1)[0].decode()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    assert session_id.startswith("sess_")
    assert _ended(emu, session_id).state == "hung_up"


def test_a_rest_hang_up_ends_a_primary_session_and_closes_its_socket(emu: Emulator) -> None:
    with _ws(emu, "/realtime?model=gpt-realtime") as ws:
        session_id = next_json(ws)["session"]["id"]
        response = requests.post(
            f"{emu.base_url}/realtime/calls/{session_id}/hangup",
            headers={"Authorization": f"Bearer {emu.api_key}"},
            timeout=WAIT,
        )
        assert response.status_code == 200
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=WAIT)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1000


def test_max_calls_refuses_a_new_primary_socket_until_one_ends() -> None:
    with Emulator(max_calls=1) as emu:
        with _ws(emu, "/realtime?model=gpt-realtime") as ws:
            session_id = next_json(ws)["session"]["id"]
            for path in ("/realtime?model=gpt-realtime", "/live/sessions"):
                status, body = _refused(emu, path)
                assert (status, body["error"]["code"]) == (429, "rate_limit_exceeded")
                assert "max_calls=1" in body["error"]["message"]
            assert emu.calls.get(session_id) is not None  # the open socket's session was not pushed out
        _ended(emu, session_id)
        with _ws(emu, "/realtime?model=gpt-realtime") as ws:
            assert next_json(ws)["type"] == "session.created"


# GPT-Live: /live/sessions and session.start


def test_the_live_sdk_starts_a_session_refuses_events_before_it_and_closes_it(emu: Emulator) -> None:
    client = openai.OpenAI(api_key=emu.api_key, base_url=emu.base_url)
    with client.live.connect() as raw, watchdog(raw) as conn:
        conn.session.update(session={"triggers": []}, event_id="evt_early")
        early = conn.recv()
        assert (early.type, early.error.code, early.error.client_event_id) == (
            "error",
            "session_not_started",
            "evt_early",
        )
        conn.session.start(session={"instructions": "Be brief."}, event_id="evt_no_model")
        missing = conn.recv()
        assert (missing.error.code, missing.error.param) == ("missing_required_parameter", "session.model")
        conn.session.start(session={"model": "gpt-live-9"})
        assert conn.recv().error.code == "model_not_found"
        conn.session.start(
            session={"model": "gpt-live-1", "audio": {"format": {"type": "audio/pcm", "rate": 24000}}},
            event_id="evt_start",
        )
        started = conn.recv()
        assert (started.type, started.client_event_id) == ("session.started", "evt_start")
        session_id = started.session.id
        assert session_id.startswith("live_")
        assert started.session.model == "gpt-live-1"
        conn.session.start(session={"model": "gpt-live-1"})
        assert conn.recv().error.code == "session_already_started"
        conn.session.input_audio.append(audio=AUDIO_100_MS)  # allowed here, unlike on a sideband; no ack
        conn.send({"type": "transport.dtmf.send", "event": "1"})
        assert conn.recv().error.param == "type"  # SIP only
        conn.session.close(event_id="evt_close")
        closed = conn.recv()
        assert (closed.type, closed.reason, closed.client_event_id) == (
            "session.closed",
            "close_requested",
            "evt_close",
        )
        rest, end = sdk_until_closed(conn)
        assert (rest, type(end)) == ([], ConnectionClosedOK)
    record = _ended(emu, session_id)
    assert (record.api, record.transport) == ("live", "websocket")
    assert record.session["audio"]["format"] == {"type": "audio/pcm", "rate": 24000}
    kinds = [e.event["type"] for e in record.client_events]
    assert kinds == [
        "session.start",
        "session.start",
        "session.input_audio.append",
        "transport.dtmf.send",
        "session.close",
    ]
    assert record.client_events[2].event == {"type": "session.input_audio.append", "audio_bytes": 4800}


def test_the_async_live_sdk_plays_a_scripted_turn_with_audio() -> None:
    script = [{"caller": "Is it open?"}, {"model_says": "Yes, until nine."}]
    with Emulator(script=script) as emu:

        async def run() -> tuple[str, list[Any]]:
            client = openai.AsyncOpenAI(api_key=emu.api_key, base_url=emu.base_url)
            seen: list[Any] = []
            async with client.live.connect() as conn:
                await conn.session.start(session={"model": "gpt-live-1.1"})
                async for event in conn:
                    seen.append(event)
                    if event.type == "session.output_transcript.delta" and event.delta.strip() == "nine.":
                        await conn.session.close()
                    if event.type == "session.closed":
                        break
            return seen[0].session.id, seen

        session_id, seen = asyncio.run(asyncio.wait_for(run(), WAIT * 3))
    kinds = [event.type for event in seen]
    assert kinds[0] == "session.started"
    assert "".join(e.delta for e in seen if e.type == "session.input_transcript.delta") == "Is it open?"
    said = [e for e in seen if e.type in ("session.output_audio.delta", "session.output_transcript.delta")]
    assert [e.type for e in said] == ["session.output_audio.delta", "session.output_transcript.delta"] * 3
    assert all(e.start_ms is None for e in said if e.type == "session.output_audio.delta")  # primary: no times
    assert kinds[-1] == "session.closed"
    record = _ended(emu, session_id)
    assert record.script_state == ScriptState("done")


def test_a_sideband_attaches_to_a_live_primary_session_and_sees_its_close() -> None:
    with Emulator(clock=lambda: 1_900_000_000.0) as emu:  # a pinned clock: the replay window never runs out
        _attach_to_a_primary_session(emu)


def _attach_to_a_primary_session(emu: Emulator) -> None:
    client = openai.OpenAI(api_key=emu.api_key, base_url=emu.base_url)
    with client.live.connect() as raw, watchdog(raw) as conn:
        conn.session.start(session={"model": "gpt-live-1"})
        started = conn.recv()
        with client.live.sideband.connect(session_id=started.session.id) as side_raw, watchdog(side_raw) as side:
            replayed = side.recv()  # the last 3 s of the session, original event ids kept
            assert (replayed.type, replayed.event_id) == ("session.started", started.event_id)
            side.send({"type": "session.input_audio.append", "audio": AUDIO_100_MS})
            assert side.recv().error.code == "invalid_sideband_event"  # still the primary's alone
            conn.session.close()
            closed = conn.recv()
            assert closed.type == "session.closed"
            side_closed = sdk_until(side, "session.closed")[-1]
            assert side_closed.event_id == closed.event_id  # one session.closed, whichever socket sees it


def test_live_hostile_frames_before_session_start_are_answered_and_the_socket_stays(emu: Emulator) -> None:
    with _ws(emu, "/live/sessions") as ws:
        ws.send(b"\x00binary")
        assert next_json(ws)["error"]["code"] == "invalid_message"
        ws.send("[1, 2]")
        assert next_json(ws)["error"]["code"] == "invalid_type"
        ws.send(json.dumps({"type": "session.input_audio.append", "audio": AUDIO_100_MS, "event_id": "evt_a"}))
        error = next_json(ws)
        assert (error["client_event_id"], error["error"]["code"]) == ("evt_a", "session_not_started")
        ws.send(json.dumps({"type": "session.start", "session": {"model": "gpt-live-1", "voice": "x"}}))
        assert next_json(ws)["error"]["code"] == "unknown_parameter"
        assert emu.calls.all() == []  # nothing started yet, nothing recorded
        ws.send(json.dumps({"type": "session.start", "session": {"model": "gpt-live-1"}}))
        session_id = next_json(ws)["session"]["id"]
        ws.send(json.dumps({"type": "session.input_audio.append", "audio": "%%%", "event_id": "evt_b"}))
        error = next_json(ws)
        assert (error["client_event_id"], error["error"]["param"]) == ("evt_b", "audio")
    assert [e.event["type"] for e in _ended(emu, session_id).client_events] == [
        "session.start",
        "session.input_audio.append",
    ]


# Azure


def test_the_azure_sdk_opens_the_realtime_primary_socket_at_openai_realtime() -> None:
    with Emulator(azure=True) as emu:
        client = openai.AzureOpenAI(
            api_key=emu.api_key,
            azure_endpoint=emu.azure_endpoint,
            api_version="2025-04-01-preview",
            websocket_base_url=f"ws://127.0.0.1:{emu.port}/openai",  # the SDK forces wss:// without it
        )
        with client.realtime.connect(model="my-realtime-deployment") as raw, watchdog(raw) as conn:
            created = conn.recv()
            assert created.session.model == "my-realtime-deployment"  # the deployment names it
            conn.response.create()
            assert [e.type for e in sdk_until(conn, "rate_limits.updated")] == [
                "response.created",
                "response.done",
                "rate_limits.updated",
            ]
        assert _ended(emu, created.session.id).transport == "websocket"
        handshake = [r for r in emu.requests if r.path == "/openai/realtime"]
        assert len(handshake) == 1
        assert handshake[0].query == "api-version=2025-04-01-preview&deployment=my-realtime-deployment"
        assert "api-key" in handshake[0].headers


def test_the_async_azure_sdk_starts_a_live_session_and_a_sideband_attaches_on_azure_paths() -> None:
    with Emulator(azure=True) as emu:

        async def run() -> tuple[str, str]:
            client = openai.AsyncAzureOpenAI(
                api_key=emu.api_key, base_url=emu.azure_endpoint + "/openai/v1", api_version="preview"
            )
            async with client.live.connect() as conn:
                await conn.session.start(session={"model": "gpt-live-1"})
                started = await conn.recv()
                assert started.type == "session.started"
                session_id = started.session.id
                attach = f"ws://127.0.0.1:{emu.port}/openai/v1/live/sessions/{session_id}/attach"
                with connect(attach, additional_headers={"api-key": emu.api_key}, open_timeout=WAIT) as side:
                    replayed = json.loads(side.recv(timeout=WAIT))
                await conn.session.close()
                closed = await conn.recv()
                return replayed["type"], closed.type

        assert asyncio.run(asyncio.wait_for(run(), WAIT * 3)) == ("session.started", "session.closed")


def test_the_async_azure_sdk_opens_the_realtime_primary_socket() -> None:
    with Emulator(azure=True) as emu:

        async def run() -> tuple[str, str]:
            client = openai.AsyncAzureOpenAI(
                api_key=emu.api_key,
                azure_endpoint=emu.azure_endpoint,
                api_version="2025-04-01-preview",
                websocket_base_url=f"ws://127.0.0.1:{emu.port}/openai",
            )
            async with client.realtime.connect(model="dep-async") as conn:
                created = await conn.recv()
                await conn.input_audio_buffer.append(audio=AUDIO_100_MS)
                await conn.input_audio_buffer.commit()
                committed = await conn.recv()
                return created.session.model, committed.type  # type: ignore[union-attr,return-value]

        assert asyncio.run(asyncio.wait_for(run(), WAIT * 3)) == ("dep-async", "input_audio_buffer.committed")


def test_azure_paths_the_notes_do_not_list_are_not_served() -> None:
    with Emulator(azure=True) as emu:
        client = openai.AzureOpenAI(api_key=emu.api_key, azure_endpoint=emu.azure_endpoint, api_version="preview")
        with pytest.raises(InvalidStatus) as refused, client.live.connect():
            pass  # the SDK builds /openai/live/sessions from azure_endpoint: not a path the notes list
        assert refused.value.response.status_code == 404
        plain = f"ws://127.0.0.1:{emu.port}/openai/realtime?deployment=d"  # no api-version: Azure's 404
        with pytest.raises(InvalidStatus) as refused:
            connect(plain, additional_headers={"api-key": emu.api_key}, open_timeout=WAIT).close()
        assert refused.value.response.status_code == 404
        versioned = f"ws://127.0.0.1:{emu.port}/openai/realtime?api-version=preview&deployment=d"
        with pytest.raises(InvalidStatus) as refused:
            connect(versioned, additional_headers={"api-key": "wrong"}, open_timeout=WAIT).close()
        assert refused.value.response.status_code == 401
        no_deployment = f"ws://127.0.0.1:{emu.port}/openai/realtime?api-version=preview"
        with pytest.raises(InvalidStatus) as refused:
            connect(no_deployment, additional_headers={"api-key": emu.api_key}, open_timeout=WAIT).close()
        assert refused.value.response.status_code == 400
        assert json.loads(refused.value.response.body or b"{}")["error"]["param"] == "deployment"
        assert emu.calls.all() == []


# a browser's primary socket: the key in a subprotocol


def _mint(emu: Emulator) -> str:
    minted = requests.post(
        emu.base_url + "/realtime/client_secrets",
        json={"session": {"type": "realtime", "model": "gpt-realtime-2.1-mini"}},
        headers={"Authorization": f"Bearer {emu.api_key}"},
        timeout=WAIT,
    )
    assert minted.status_code == 200, minted.text
    return str(minted.json()["value"])


def test_the_key_may_come_in_the_browsers_subprotocol_and_realtime_is_selected(emu: Emulator) -> None:
    key = _mint(emu)
    url = f"ws://127.0.0.1:{emu.port}/v1/realtime?model=gpt-realtime"
    offered = ["realtime", f"openai-insecure-api-key.{key}"]
    with connect(url, subprotocols=offered, open_timeout=WAIT) as ws:  # type: ignore[arg-type]
        assert ws.subprotocol == "realtime"
        created = next_json(ws)
        assert (created["type"], created["session"]["model"]) == ("session.created", "gpt-realtime-2.1-mini")
    assert _ended(emu, created["session"]["id"]).auth == "ephemeral"
    with pytest.raises(InvalidStatus) as refused:
        connect(url, subprotocols=["realtime", "openai-insecure-api-key.sk-wrong"], open_timeout=WAIT).close()  # type: ignore[list-item]
    assert refused.value.response.status_code == 401


def test_chromium_opens_a_primary_socket_with_an_ek_key(browser: Any) -> None:
    with Emulator() as emu, empty_page() as page:
        key = _mint(emu)
        browser.get(page)
        browser.set_script_timeout(WAIT)
        first = browser.execute_async_script(
            """
            const [url, key, done] = arguments;
            const ws = new WebSocket(url, ["realtime", "openai-insecure-api-key." + key]);
            ws.onmessage = (message) => { done({protocol: ws.protocol, event: JSON.parse(message.data)}); ws.close(); };
            ws.onerror = () => done({error: "the socket failed"});
            """,
            f"ws://127.0.0.1:{emu.port}/v1/realtime?model=gpt-realtime",
            key,
        )
        assert first.get("error") is None, first
        assert first["protocol"] == "realtime"
        assert (first["event"]["type"], first["event"]["session"]["model"]) == (
            "session.created",
            "gpt-realtime-2.1-mini",
        )
        assert _ended(emu, first["event"]["session"]["id"]).auth == "ephemeral"


def test_a_long_run_of_audio_appends_is_one_record_entry_within_the_bound(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(call_registry, "MAX_CLIENT_EVENTS", 50)  # a long call's worth of 20 ms chunks, shrunk
    chunk = base64.b64encode(bytes(960)).decode()
    with _ws(emu, "/realtime?model=gpt-realtime") as ws:
        session_id = next_json(ws)["session"]["id"]
        for _ in range(120):
            ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": chunk}))
        ws.send(json.dumps({"type": "input_audio_buffer.commit"}))
        assert next_json(ws)["type"] == "input_audio_buffer.committed"  # still open: the bound was not reached
    events = [e.event for e in _ended(emu, session_id).client_events]
    assert events == [
        {"type": "input_audio_buffer.append", "audio_bytes": 120 * 960, "appends": 120},
        {"type": "input_audio_buffer.commit"},
    ]


def test_a_rest_call_beyond_max_calls_pushes_out_a_primary_session_whose_socket_then_closes() -> None:
    """What the docs say of the registry's bound: REST creation still evicts the oldest live call, a primary
    socket's included, and that socket closes (1000) at its next event instead of serving a forgotten session."""
    offer = (Path(__file__).parent / "sdp" / "chromium_offer.sdp").read_bytes()
    with Emulator(max_calls=1) as emu, _ws(emu, "/realtime?model=gpt-realtime") as ws:
        session_id = next_json(ws)["session"]["id"]
        response = requests.post(
            emu.base_url + "/realtime/calls",
            files=[("sdp", (None, offer, "application/sdp"))],
            headers={"Authorization": f"Bearer {emu.api_key}"},
            timeout=WAIT,
        )
        assert response.status_code == 201, response.text
        assert emu.calls.get(session_id) is None
        ws.send(json.dumps({"type": "input_audio_buffer.clear"}))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=WAIT)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1000


# socket faults act on primary sockets as on sidebands (the send path they share)


def test_socket_faults_act_on_primary_sockets_of_both_apis(emu: Emulator) -> None:
    emu.enqueue_socket(SocketFault.duplicate("session.created"))  # for the next socket, whichever call it starts
    with _ws(emu, "/realtime?model=gpt-realtime-2.1") as ws:
        first, second = next_json(ws), next_json(ws)
        assert first == second
        assert first["type"] == "session.created"
    realtime = _only(emu, "sess_")
    assert [(f.action, f.event_type, f.copies) for f in realtime.socket_faults] == [("duplicate", "session.created", 2)]
    with _ws(emu, "/live/sessions") as ws:
        ws.send(json.dumps({"type": "session.start", "session": {"model": "gpt-live-1"}}))
        started = next_json(ws)
        assert started["type"] == "session.started"
        session_id = started["session"]["id"]
        emu.enqueue_socket(SocketFault.drop(event_type="session.updated"), call_id=session_id)
        ws.send(json.dumps({"type": "session.update", "session": {"triggers": []}}))
        with pytest.raises(ConnectionClosed) as dropped:
            next_json(ws)
    assert dropped.value.rcvd is None  # no close frame: a lost network, not a close
    live = _ended(emu, session_id)  # a primary socket's session ends with its socket, however it closed
    assert [(f.action, f.event_type, f.code) for f in live.socket_faults] == [("drop", "session.updated", 1006)]


def test_a_sideband_attaching_to_a_primary_session_takes_over_its_one_script() -> None:
    """One runner per call whichever socket family attaches: the newest connection wins, as between sidebands."""
    with Emulator(script=ORDER_CALL) as emu:
        client = openai.OpenAI(api_key=emu.api_key, base_url=emu.base_url)
        with client.realtime.connect(model="gpt-realtime-2.1") as raw, watchdog(raw) as primary:
            session_id = primary.recv().session.id  # type: ignore[union-attr]
            sdk_until(primary, "response.done")  # the script's tool call, on the primary socket
            with client.realtime.connect(call_id=session_id) as raw_side, watchdog(raw_side) as side:
                assert side.recv().type == "session.created"
                side.conversation.item.create(
                    item={"type": "function_call_output", "call_id": "call_order", "output": '{"status": "shipped"}'}
                )
                side.response.create()
                said = sdk_until(side, "response.output_audio_transcript.done")  # the script now plays here
                assert said[-1].transcript == "Your order 1234 ships tomorrow."  # type: ignore[union-attr]
        record = emu.calls.wait_until(
            session_id, lambda r: r.script_state is not None and r.script_state.status != "playing", WAIT
        )
    assert record.script_state == ScriptState("done")
    outputs = [e for e in record.client_events if e.event["type"] == "conversation.item.create"]
    assert len(outputs) == 1


def test_the_emulators_socket_log_at_debug_shows_the_handshake_but_no_key(
    emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    """``websockets`` logs every handshake header at DEBUG: the emulator's sockets log through a logger that masks
    the ``Authorization`` header and a key offered as the browser's subprotocol."""
    key = _mint(emu)
    url = f"ws://127.0.0.1:{emu.port}/v1/realtime?model=gpt-realtime"
    with caplog.at_level(logging.DEBUG, logger="realtime_service.emulator.socket"):
        with connect(url, subprotocols=["realtime", f"openai-insecure-api-key.{key}"], open_timeout=WAIT) as ws:  # type: ignore[list-item]
            next_json(ws)
        with _ws(emu, "/realtime?model=gpt-realtime") as ws:
            next_json(ws)
    lines = [r.getMessage() for r in caplog.records if r.name == "realtime_service.emulator.socket"]
    assert any(line.startswith("< GET /v1/realtime") for line in lines), lines[:5]
    assert any("openai-insecure-api-key.<redacted>" in line for line in lines), lines
    assert any(line.lower().startswith("< authorization: <redacted>") for line in lines), lines
    assert key not in caplog.text
    assert emu.api_key not in caplog.text
