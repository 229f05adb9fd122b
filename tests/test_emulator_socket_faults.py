"""Socket faults on a call's open sockets (issue 23), over real loopback sockets: the official ``openai`` SDK (its
``on_reconnecting`` for a drop) and raw ``websockets`` clients. A delayed event comes late but in order, a
duplicate comes twice with one ``event_id``, a drop is a 1006 after which the call re-attaches, each recorded on
the call; faults stay on their own call; the queue is bounded; a script keeps playing through them."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
import requests
from openai.types.websocket_reconnection import ReconnectingEvent, ReconnectingOverrides
from socket_reading import WAIT, json_until, next_json, watchdog
from websockets.exceptions import ConnectionClosedError
from websockets.sync.client import ClientConnection, connect

from realtime_service.emulator import Emulator, SocketFault, SocketFaultRecord, TooManySocketFaults
from realtime_service.emulator.call_registry import CallRecord, UnknownCall
from realtime_service.emulator.core import Channel
from realtime_service.emulator.scripts import ScriptState
from realtime_service.emulator.socket_faults import MAX_PENDING, SocketFaults

OFFER = (Path(__file__).parent / "sdp" / "chromium_offer.sdp").read_bytes()
SESSION = {"type": "realtime", "model": "gpt-realtime", "instructions": "Be brief."}
LIVE_SESSION = {"model": "gpt-live-1", "instructions": "Be brief."}
ORDER_CALL: list[Any] = [
    {"caller": "Hi, where is my order 1234?"},
    {"model_calls": {"name": "lookup_order", "arguments": {"order_id": "1234"}, "call_id": "call_order"}},
    {"expect_output": {"timeout": 10, "output": {"status": "shipped"}}},
    {"model_says": "Your order 1234 ships tomorrow."},
    "hangup",
]
SHIPPED = '{"status": "shipped"}'


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


def _auth(emu: Emulator) -> dict[str, str]:
    return {"Authorization": f"Bearer {emu.api_key}"}


def _webrtc_call(emu: Emulator) -> str:
    files = [("sdp", (None, OFFER, "application/sdp")), ("session", (None, json.dumps(SESSION), "application/json"))]
    response = requests.post(emu.base_url + "/realtime/calls", files=files, headers=_auth(emu), timeout=WAIT)
    assert response.status_code == 201, response.text
    return response.headers["location"].rsplit("/", 1)[1]


def _live_session(emu: Emulator) -> str:
    body = {"session": LIVE_SESSION, "transport": {"type": "webrtc", "sdp": OFFER.decode()}}
    response = requests.post(emu.base_url + "/live/sessions", json=body, headers=_auth(emu), timeout=WAIT)
    assert response.status_code == 200, response.text
    return str(response.json()["session"]["id"])


def _attach(emu: Emulator, call_id: str) -> ClientConnection:
    path = f"/live/sessions/{call_id}/attach" if call_id.startswith("live_") else f"/realtime?call_id={call_id}"
    return connect(f"ws://127.0.0.1:{emu.port}/v1{path}", additional_headers=_auth(emu), open_timeout=WAIT)


def _item(ws: ClientConnection, text: str = "hi") -> None:
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    ws.send(json.dumps({"type": "conversation.item.create", "item": item}))


def _record(emu: Emulator, call_id: str) -> CallRecord:
    record = emu.calls.get(call_id)
    assert record is not None
    return record


# the API: checked when built, bounded when queued


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: SocketFault.delay(-1), "delay must be from 0 to 600"),
        (lambda: SocketFault.delay(float("nan")), "delay must be from 0 to 600"),
        (lambda: SocketFault.delay(601), "delay must be from 0 to 600"),
        (lambda: SocketFault.duplicate(""), "event_type must be"),
        (lambda: SocketFault.drop(after_events=-1), "after_events must be an integer"),
        (lambda: SocketFault.drop(times=0), "times must be an integer"),
        (lambda: SocketFault.close(1006), r"1006 cannot be sent in a close frame \(for a close without a frame use"),
        (lambda: SocketFault.close(1005), "1005 cannot be sent"),
        (lambda: SocketFault.close(5000), "5000 cannot be sent"),
        (lambda: SocketFault.close(1011, "x" * 124), "at most 123 bytes"),
    ],
    ids=["negative", "nan", "too-long", "empty-type", "negative-after", "zero-times", "1006", "1005", "5000", "reason"],
)
def test_a_fault_that_cannot_act_is_refused_when_built(build: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


def test_the_queue_is_bounded_all_or_nothing_and_a_calls_faults_go_when_it_ends(emu: Emulator) -> None:
    first, second = _webrtc_call(emu), _webrtc_call(emu)
    emu.enqueue_socket(*[SocketFault.duplicate()] * (MAX_PENDING - 2), call_id=first)
    with pytest.raises(TooManySocketFaults, match="at most 1,000 socket faults may be pending"):
        emu.enqueue_socket(SocketFault.drop(), SocketFault.drop(), SocketFault.drop(), call_id=second)
    assert emu.pending_socket_faults == MAX_PENDING - 2  # none of the refused batch was queued
    emu.enqueue_socket(SocketFault.drop(), SocketFault.drop())  # exactly the bound: for the next socket
    with pytest.raises(TooManySocketFaults):
        emu.enqueue_socket(SocketFault.drop(), call_id=second)
    with pytest.raises(UnknownCall):
        emu.enqueue_socket(SocketFault.drop(), call_id="rtc_unknown")
    requests.post(f"{emu.base_url}/realtime/calls/{first}/hangup", headers=_auth(emu), timeout=WAIT)
    assert emu.pending_socket_faults == 2  # the ended call's faults went with it; the next socket's stay
    with pytest.raises(ValueError, match="has ended"):
        emu.enqueue_socket(SocketFault.drop(), call_id=first)
    emu.clear()
    assert emu.pending_socket_faults == 0


def test_a_fault_is_used_up_after_its_times_and_skips_after_events() -> None:
    faults = SocketFaults()
    faults.add([SocketFault.duplicate("a", after_events=1, times=2)], "rtc_1")
    fired = [bool(faults.fire("rtc_1", [], (kind,))) for kind in ("a", "b", "a", "a", "a")]
    assert fired == [False, False, True, True, False]  # one "a" let through, the next two duplicated, then gone
    assert faults.pending() == 0
    assert not faults.armed("rtc_1")


# delay, duplicate, drop and close on a Realtime sideband


def test_a_delayed_event_comes_after_the_ones_before_it_and_holds_the_ones_after_it(emu: Emulator) -> None:
    """A driver sends a, b, c; ``b`` is held 0.3 s. While it is held the app asks the emulator for a
    ``session.updated`` (the handler thread): it waits behind ``b`` too."""
    call_id = _webrtc_call(emu)

    def driver(channel: Channel) -> None:
        if channel.receive(WAIT) is not None:  # the app's response.create: the start
            for kind in ("test.a", "test.b", "test.c"):
                channel.send({"type": kind})

    emu.on_sideband = driver
    emu.enqueue_socket(SocketFault.delay(0.3, event_type="test.b"), call_id=call_id)
    with _attach(emu, call_id) as ws:
        assert next_json(ws)["type"] == "session.created"
        started = time.monotonic()
        ws.send(json.dumps({"type": "response.create"}))
        assert next_json(ws)["type"] == "test.a"
        emu.calls.wait_until(call_id, lambda r: bool(r.socket_faults), timeout=WAIT)  # b is being held now
        ws.send(json.dumps({"type": "session.update", "session": {"type": "realtime", "instructions": "Later."}}))
        kinds = [event["type"] for event in json_until(ws, "session.updated")]
        if "test.c" not in kinds:
            kinds += [event["type"] for event in json_until(ws, "test.c")]
        arrived = time.monotonic()
    assert kinds.index("test.b") == 0
    assert kinds.index("test.c") > 0
    assert kinds.index("session.updated") > 0
    assert arrived - started >= 0.3  # a lower bound only: the event was held at least that long
    [record] = _record(emu, call_id).socket_faults
    assert (record.action, record.event_type, record.copies, record.delay_s) == ("delay", "test.b", 1, 0.3)


def test_a_duplicate_comes_twice_with_one_event_id_and_is_recorded_once(emu: Emulator) -> None:
    call_id = _webrtc_call(emu)
    emu.enqueue_socket(SocketFault.duplicate("conversation.item.done"), call_id=call_id)
    with _attach(emu, call_id) as ws:
        assert next_json(ws)["type"] == "session.created"
        _item(ws)
        events = [next_json(ws) for _ in range(3)]
        _item(ws, "again")  # used up: the next item's events come once
        again = [next_json(ws) for _ in range(2)]
        ws.send(json.dumps({"type": "response.create"}))
        assert next_json(ws)["type"] == "response.created"  # and nothing else of the first item came in between
    assert [e["type"] for e in events] == [
        "conversation.item.added",
        "conversation.item.done",
        "conversation.item.done",
    ]
    assert events[1] == events[2]  # the same event, event_id included
    assert [e["type"] for e in again] == ["conversation.item.added", "conversation.item.done"]
    record = _record(emu, call_id)
    assert record.socket_faults == (
        SocketFaultRecord(
            "duplicate",
            record.client_events[0].connection,
            "conversation.item.done",
            events[1]["event_id"],
            2,
            record.socket_faults[0].at,
        ),
    )


def test_a_drop_is_a_1006_the_sdk_reconnects_and_the_call_goes_on(emu: Emulator) -> None:
    """The SDK retries a 1006 only when given ``on_reconnecting``; the new socket attaches to the same call."""
    call_id = _webrtc_call(emu)
    emu.enqueue_socket(SocketFault.drop(event_type="response.done"), call_id=call_id)
    reconnects: list[ReconnectingEvent] = []

    def on_reconnecting(event: ReconnectingEvent) -> ReconnectingOverrides | None:
        reconnects.append(event)
        return None

    client = openai.OpenAI(api_key=emu.api_key, base_url=emu.base_url)
    seen: list[str] = []
    with client.realtime.connect(call_id=call_id, on_reconnecting=on_reconnecting) as raw, watchdog(raw) as conn:
        for event in conn:
            seen.append(event.type)
            if event.type == "session.created":
                conn.response.create()  # on each socket: the first one's response.done is dropped
            elif event.type == "response.done":
                break
    assert seen == ["session.created", "response.created", "session.created", "response.created", "response.done"]
    assert [(r.attempt, r.close_code) for r in reconnects] == [(1, 1006)]
    record = _record(emu, call_id)
    assert record.state == "active"  # the network dropped, not the call
    first, second = (e.connection for e in record.client_events if e.event["type"] == "response.create")
    assert first != second
    [drop] = record.socket_faults
    assert (drop.action, drop.connection, drop.event_type, drop.copies, drop.code) == (
        "drop",
        first,
        "response.done",
        0,
        1006,
    )


@pytest.mark.parametrize(
    ("fault", "code"),
    [(SocketFault.drop(after_events=1), None), (SocketFault.close(1013, "later", after_events=1), 1013)],
    ids=["drop", "close"],
)
def test_drop_has_no_close_frame_and_close_sends_its_code(emu: Emulator, fault: SocketFault, code: int | None) -> None:
    call_id = _webrtc_call(emu)
    emu.enqueue_socket(fault, call_id=call_id)
    with _attach(emu, call_id) as ws:
        assert next_json(ws)["type"] == "session.created"  # after_events=1 lets it through
        _item(ws)  # its conversation.item.added is the event the fault acts on
        with pytest.raises(ConnectionClosedError) as closed:
            next_json(ws)
    if code is None:
        assert closed.value.rcvd is None  # no close frame: 1006 for the client
    else:
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (code, "later")
    with _attach(emu, call_id) as ws:  # the call goes on
        assert next_json(ws)["type"] == "session.created"
    [record] = _record(emu, call_id).socket_faults
    assert (record.action, record.copies, record.code) == (fault.action, 0, 1006 if code is None else code)


# faults stay where they were queued


def test_faults_on_one_call_leave_other_calls_alone_and_next_socket_faults_go_to_one_socket(emu: Emulator) -> None:
    faulty, other = _webrtc_call(emu), _webrtc_call(emu)
    emu.enqueue_socket(SocketFault.drop(), call_id=faulty)  # the first event on attach: a dead handler if mishandled
    with _attach(emu, other) as ws:
        assert next_json(ws)["type"] == "session.created"
        _item(ws)
        assert [e["type"] for e in (next_json(ws), next_json(ws))] == [
            "conversation.item.added",
            "conversation.item.done",
        ]
    with _attach(emu, faulty) as ws, pytest.raises(ConnectionClosedError):
        next_json(ws)
    assert _record(emu, other).socket_faults == ()
    assert [r.action for r in _record(emu, faulty).socket_faults] == ["drop"]
    emu.enqueue_socket(SocketFault.duplicate("session.created"))  # for the next socket, whichever call
    with _attach(emu, other) as ws:
        first, second = next_json(ws), next_json(ws)
        assert first == second
        assert first["type"] == "session.created"
    with _attach(emu, faulty) as ws:  # used: the next socket gets session.created once
        assert next_json(ws)["type"] == "session.created"
        _item(ws)
        assert next_json(ws)["type"] == "conversation.item.added"
    assert emu.pending_socket_faults == 0
    assert [r.action for r in _record(emu, other).socket_faults] == ["duplicate"]


def _handlers() -> set[threading.Thread]:
    return {thread for thread in threading.enumerate() if thread.name == "emulator-connection"}


def test_a_delay_ends_with_its_socket_and_frees_the_handler(emu: Emulator) -> None:
    """A long delay never outlives its connection: a client that goes away wakes it and its handler ends."""
    call_id = _webrtc_call(emu)
    emu.enqueue_socket(SocketFault.delay(600, event_type="conversation.item.done"), call_id=call_id)
    before = _handlers()
    with _attach(emu, call_id) as ws:
        next_json(ws)
        _item(ws)
        assert next_json(ws)["type"] == "conversation.item.added"
        emu.calls.wait_until(call_id, lambda r: bool(r.socket_faults), timeout=WAIT)
        held = _handlers() - before  # the socket's handler, holding the delayed event
    assert held
    for thread in held:
        thread.join(WAIT)
    assert not any(thread.is_alive() for thread in held)
    with _attach(emu, call_id) as ws:  # and the call attaches again, without the used-up delay
        assert next_json(ws)["type"] == "session.created"
        _item(ws)
        assert [next_json(ws)["type"] for _ in range(2)] == ["conversation.item.added", "conversation.item.done"]


def test_live_envelopes_match_by_their_inner_type(emu: Emulator) -> None:
    session_id = _live_session(emu)
    emu.script_call(session_id, [{"model_calls": {"name": "lookup", "arguments": {}, "call_id": "call_1"}}])
    emu.enqueue_socket(SocketFault.duplicate("response.function_call_arguments.done"), call_id=session_id)
    with _attach(emu, session_id) as ws:
        events = json_until(ws, "response.event")
        while events[-1]["event"]["type"] != "response.completed":
            events.append(next_json(ws))
    done = [e for e in events if e["type"] == "response.event" and e["event"]["type"].endswith("arguments.done")]
    assert len(done) == 2
    assert done[0] == done[1]
    [record] = _record(emu, session_id).socket_faults
    assert (record.event_type, record.event_id) == ("response.event", done[0]["event_id"])


# a script plays through faults


def _final(record: CallRecord) -> bool:
    return record.script_state is not None and record.script_state.status in ("done", "failed")


@pytest.mark.parametrize("dedupe", [False, True], ids=["runs-it-twice", "dedupes-by-event-id"])
def test_a_duplicated_tool_call_run_twice_fails_expect_output(emu: Emulator, dedupe: bool) -> None:
    """The app answers the function calls of a response at its ``response.done`` (one ``response.create`` for
    them all): unless it deduplicates by ``event_id``, the duplicate is a second output for the same call."""
    call_id = _webrtc_call(emu)
    emu.script_call(call_id, ORDER_CALL)
    emu.enqueue_socket(SocketFault.duplicate("response.function_call_arguments.done"), call_id=call_id)
    client = openai.OpenAI(api_key=emu.api_key, base_url=emu.base_url)
    seen: list[str] = []  # the event_id of each function call event that arrived
    with client.realtime.connect(call_id=call_id) as raw, watchdog(raw) as conn:
        pending: list[str] = []
        for event in conn:  # ends when the script hangs up
            if event.type == "response.function_call_arguments.done":
                if not (dedupe and event.event_id in seen):
                    pending.append(event.call_id)
                seen.append(event.event_id)
            elif event.type == "response.done" and pending:
                for tool_call in pending:
                    conn.conversation.item.create(
                        item={"type": "function_call_output", "call_id": tool_call, "output": SHIPPED}
                    )
                conn.response.create()
                pending = []
                if not dedupe:  # the script fails and plays no more: nothing else will come
                    break
    record = emu.calls.wait_until(call_id, _final, timeout=WAIT)
    assert len(seen) == 2
    assert seen[0] == seen[1]
    assert [(r.action, r.copies) for r in record.socket_faults] == [("duplicate", 2)]
    if dedupe:
        assert record.script_state == ScriptState("done")
    else:
        assert record.script_state is not None
        assert (record.script_state.status, record.script_state.step_name) == ("failed", "expect_output")
        assert "second function_call_output for call_order" in (record.script_state.reason or ""), [
            (e.connection, e.event["type"]) for e in record.client_events
        ]


@pytest.mark.parametrize(
    ("drop", "answered_on_the_dropped_socket"),
    [
        (SocketFault.drop(event_type="conversation.item.input_audio_transcription.delta", after_events=2), False),
        # the caller's item, the function call's, then the echo of the app's answer: dropped under it
        (SocketFault.drop(event_type="conversation.item.added", after_events=2), True),
    ],
    ids=["while-the-caller-speaks", "right-after-the-app-answered"],
)
def test_a_drop_mid_script_and_the_sdks_reconnect_continue_the_script(
    emu: Emulator, drop: SocketFault, answered_on_the_dropped_socket: bool
) -> None:
    """The script goes on on the new socket, and an answer the app sent just before the drop still counts."""
    call_id = _webrtc_call(emu)
    emu.script_call(call_id, ORDER_CALL)
    emu.enqueue_socket(drop, call_id=call_id)
    reconnects: list[int] = []

    def on_reconnecting(event: ReconnectingEvent) -> ReconnectingOverrides | None:
        reconnects.append(event.close_code)
        return None

    client = openai.OpenAI(api_key=emu.api_key, base_url=emu.base_url)
    heard: list[str] = []
    with client.realtime.connect(call_id=call_id, on_reconnecting=on_reconnecting) as raw, watchdog(raw) as conn:
        unconfirmed = False  # an output sent whose echo has not come back: the app asks for the response later
        for event in conn:  # ends when the script hangs up (a clean 1000)
            if event.type == "response.function_call_arguments.done":
                output = {"type": "function_call_output", "call_id": event.call_id, "output": SHIPPED}
                conn.conversation.item.create(item=output)
                unconfirmed = True
            elif (event.type == "conversation.item.done" and event.item.type == "function_call_output") or (
                event.type == "session.created" and unconfirmed  # re-attached: what was in flight is lost
            ):
                conn.response.create()
                unconfirmed = False
            elif event.type == "response.output_audio_transcript.done":
                heard.append(event.transcript)
    record = emu.calls.wait_until(
        call_id, lambda r: r.script_state is not None and r.script_state.status != "playing", timeout=WAIT
    )
    assert reconnects == [1006]
    assert record.script_state == ScriptState("done")  # continued on the new socket, not restarted
    assert heard == ["Your order 1234 ships tomorrow."]
    [fault] = record.socket_faults
    outputs = [e for e in record.client_events if e.event["type"] == "conversation.item.create"]
    assert len(outputs) == 1
    assert (outputs[0].connection == fault.connection) is answered_on_the_dropped_socket
    assert (fault.action, fault.code) == ("drop", 1006)


def test_an_answer_sent_before_a_drop_counts_for_a_later_expect_step(emu: Emulator) -> None:
    """The app answers while the script is not reading (a ``wait``), and its socket drops under the answer's
    echo: the script reads what that socket received before it reads the new one."""
    call_id = _webrtc_call(emu)
    emu.script_call(call_id, [*ORDER_CALL[1:2], {"wait": 1}, *ORDER_CALL[2:]])
    emu.enqueue_socket(SocketFault.drop(event_type="conversation.item.added", after_events=1), call_id=call_id)
    client = openai.OpenAI(api_key=emu.api_key, base_url=emu.base_url)
    with (
        client.realtime.connect(call_id=call_id, on_reconnecting=lambda event: None) as raw,
        watchdog(raw) as conn,
    ):
        answered = False
        for event in conn:  # ends when the script hangs up
            if event.type == "response.function_call_arguments.done":
                output = {"type": "function_call_output", "call_id": event.call_id, "output": SHIPPED}
                conn.conversation.item.create(item=output)  # its echo is dropped
                answered = True
            elif event.type == "session.created" and answered:  # re-attached: now ask for the response
                conn.response.create()
    record = emu.calls.wait_until(call_id, _final, timeout=WAIT)
    assert record.script_state == ScriptState("done")
    outputs = [e for e in record.client_events if e.event["type"] == "conversation.item.create"]
    creates = [e for e in record.client_events if e.event["type"] == "response.create"]
    assert [r.connection for r in record.socket_faults] == [outputs[0].connection]
    assert creates[0].connection != outputs[0].connection


def test_a_live_event_lost_to_a_drop_comes_back_in_the_replay_of_the_next_attach(emu: Emulator) -> None:
    session_id = _live_session(emu)
    emu.enqueue_socket(SocketFault.drop(event_type="session.input_audio.muted"), call_id=session_id)
    with _attach(emu, session_id) as ws:
        ws.send(json.dumps({"type": "session.input_audio.mute", "event_id": "mute_1"}))
        with pytest.raises(ConnectionClosedError) as dropped:
            next_json(ws)
    assert dropped.value.rcvd is None
    [fault] = _record(emu, session_id).socket_faults
    with _attach(emu, session_id) as ws:  # within the replay's 3 s: the lost event, its event_id kept
        replayed = next_json(ws)
    assert (replayed["type"], replayed["client_event_id"], replayed["event_id"]) == (
        "session.input_audio.muted",
        "mute_1",
        fault.event_id,
    )


def test_concurrent_calls_each_use_up_exactly_their_own_faults(emu: Emulator) -> None:
    """Four calls at once, each with ``times=3`` duplicates: each client sees exactly its three, on its first
    three items, however the handler threads interleave."""
    calls = [_webrtc_call(emu) for _ in range(4)]
    for call_id in calls:
        emu.enqueue_socket(SocketFault.duplicate("conversation.item.done", times=3), call_id=call_id)
    seen: dict[str, list[int]] = {}
    failures: list[BaseException] = []

    def client(call_id: str) -> None:
        try:
            with _attach(emu, call_id) as ws:
                next_json(ws)
                counts = []
                for index in range(6):
                    _item(ws, f"item {index}")
                    events = json_until(ws, "conversation.item.done")
                    ws.send(json.dumps({"type": "response.cancel"}))  # a marker: its error ends this item's events
                    events += json_until(ws, "error")
                    counts.append([e["type"] for e in events].count("conversation.item.done"))
                seen[call_id] = counts
        except BaseException as error:  # reported by the test thread
            failures.append(error)

    threads = [threading.Thread(target=client, args=(call_id,)) for call_id in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(3 * WAIT)
    assert failures == []
    assert seen == {call_id: [2, 2, 2, 1, 1, 1] for call_id in calls}
    assert emu.pending_socket_faults == 0
    for call_id in calls:
        assert [(r.action, r.copies) for r in _record(emu, call_id).socket_faults] == [("duplicate", 2)] * 3


def test_a_bug_in_the_fault_code_is_printed_and_the_event_sent_as_if_no_fault(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    def broken(self: SocketFaults, call_id: str, own: list[Any], types: tuple[str, ...]) -> list[SocketFault]:
        raise KeyError("a bug")

    monkeypatch.setattr(SocketFaults, "fire", broken)
    call_id = _webrtc_call(emu)
    emu.enqueue_socket(SocketFault.drop(), call_id=call_id)
    with _attach(emu, call_id) as ws:
        assert next_json(ws)["type"] == "session.created"  # sent, not dropped: the socket and its handler go on
        _item(ws)
        assert next_json(ws)["type"] == "conversation.item.added"
    assert "KeyError: 'a bug'" in capfd.readouterr().err  # printed for the developer, not swallowed


def test_stopping_the_emulator_ends_a_delay_and_its_handler() -> None:
    emu = Emulator().start()
    try:
        call_id = _webrtc_call(emu)
        emu.enqueue_socket(SocketFault.delay(600), call_id=call_id)  # session.created held for 10 minutes
        before = _handlers()
        with _attach(emu, call_id) as ws:
            emu.calls.wait_until(call_id, lambda r: bool(r.socket_faults), timeout=WAIT)
            held = _handlers() - before
            emu.stop()  # joins its handlers (at most 5 s each): a delay that ignored the stop would outlive it
            with pytest.raises(ConnectionClosedError):
                ws.recv(timeout=WAIT)
    finally:
        emu.stop()
    assert held
    assert not any(thread.is_alive() for thread in held)
