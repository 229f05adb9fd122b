"""Items created on one connection of a call reach every connection of it (:mod:`realtime_service.emulator.
conversations`), over real loopback sockets: a primary socket and a sideband, two sidebands. (The data channel and
a sideband: tests/test_emulator_webrtc.py, in a namespace.)

SIDEBAND-NOTES: a sideband is a second connection to the same session, so a tool output it creates is an item of
the call's conversation; whoever else watches the call (the browser, another server) must learn of it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from socket_reading import WAIT, json_until, next_json
from test_emulator_scripted_calls import _webrtc_call
from websockets.sync.client import ClientConnection, connect

from realtime_service.emulator import Emulator, SocketClosed
from realtime_service.emulator.conversations import Conversations

OUTPUT = {"type": "function_call_output", "call_id": "call_order", "output": '{"status": "shipped"}'}
AUDIO_100_MS = base64.b64encode(bytes(4800)).decode()  # PCM16 mono 24 kHz


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


def _ws(emu: Emulator, path: str) -> ClientConnection:
    return connect(
        f"ws://127.0.0.1:{emu.port}/v1{path}",
        additional_headers={"Authorization": f"Bearer {emu.api_key}"},
        open_timeout=WAIT,
    )


def _item_events(events: list[dict[str, Any]]) -> list[tuple[str, str | None, dict[str, Any]]]:
    return [
        (e["type"], e["previous_item_id"], e["item"])
        for e in events
        if e["type"] in ("conversation.item.added", "conversation.item.done")
    ]


def _create(ws: ClientConnection, item: dict[str, Any]) -> list[dict[str, Any]]:
    ws.send(json.dumps({"type": "conversation.item.create", "item": item}))
    return json_until(ws, "conversation.item.done")


def test_a_sidebands_item_reaches_the_primary_socket_and_the_primarys_reaches_the_sideband(emu: Emulator) -> None:
    with _ws(emu, "/realtime?model=gpt-realtime-2.1") as primary:
        session_id = next_json(primary)["session"]["id"]
        with _ws(emu, f"/realtime?call_id={session_id}") as side:
            assert next_json(side)["type"] == "session.created"
            mine = _item_events(_create(side, OUTPUT))
            theirs = _item_events(json_until(primary, "conversation.item.done"))
            assert theirs == mine
            assert [kind for kind, _, _ in theirs] == ["conversation.item.added", "conversation.item.done"]
            assert theirs[0][1] is None
            assert theirs[0][2]["call_id"] == "call_order"
            output_id = theirs[0][2]["id"]

            primary.send(json.dumps({"type": "input_audio_buffer.append", "audio": AUDIO_100_MS}))
            primary.send(json.dumps({"type": "input_audio_buffer.commit"}))
            committed = json_until(primary, "conversation.item.done")
            assert committed[0]["type"] == "input_audio_buffer.committed"
            assert committed[0]["previous_item_id"] == output_id  # the call's items form one chain
            heard = json_until(side, "conversation.item.done")
            assert [e["type"] for e in heard] == ["conversation.item.added", "conversation.item.done"]
            assert _item_events(heard) == _item_events(committed)
            assert heard[0]["item"]["role"] == "user"


def test_two_sidebands_of_one_call_hear_each_others_items_in_one_chain(emu: Emulator) -> None:
    call_id = _webrtc_call(emu)
    with _ws(emu, f"/realtime?call_id={call_id}") as first, _ws(emu, f"/realtime?call_id={call_id}") as second:
        assert next_json(first)["type"] == next_json(second)["type"] == "session.created"
        from_first = _item_events(_create(first, OUTPUT))
        assert _item_events(json_until(second, "conversation.item.done")) == from_first
        note = {"type": "message", "role": "system", "content": [{"type": "input_text", "text": "Be brief."}]}
        from_second = _item_events(_create(second, note))
        assert _item_events(json_until(first, "conversation.item.done")) == from_second
        assert from_second[0][1] == from_first[0][2]["id"]  # previous_item_id: the other connection's item


def test_a_closed_connection_leaves_the_conversation_and_the_others_go_on(emu: Emulator) -> None:
    call_id = _webrtc_call(emu)
    with _ws(emu, f"/realtime?call_id={call_id}") as staying:
        next_json(staying)
        with _ws(emu, f"/realtime?call_id={call_id}") as leaving:
            next_json(leaving)
        events = _create(staying, OUTPUT)  # the left one is not sent to (and its absence breaks nothing)
        assert [e["type"] for e in events] == ["conversation.item.added", "conversation.item.done"]
        with _ws(emu, f"/realtime?call_id={call_id}") as late:
            assert next_json(late)["type"] == "session.created"
            staying.send(json.dumps({"type": "conversation.item.create", "item": {**OUTPUT, "call_id": "call_2"}}))
            heard = json_until(late, "conversation.item.done")
            assert [e["item"]["call_id"] for e in heard] == ["call_2", "call_2"]
            assert heard[0]["previous_item_id"] == events[0]["item"]["id"]


class _Member:
    """A connection as the conversation sees it: records what it is sent; ``gone`` raises as a closed socket."""

    def __init__(self, gone: bool = False) -> None:
        self.sent: list[dict[str, Any]] = []
        self.gone = gone

    def send(self, event: Mapping[str, Any]) -> None:
        if self.gone:
            raise SocketClosed("closed under the announcement")
        self.sent.append(dict(event))


def test_a_connection_closing_under_an_announcement_loses_it_alone_and_a_finished_call_leaves_nothing() -> None:
    conversations = Conversations()
    creator, closed, other = _Member(), _Member(gone=True), _Member()
    leaves = [conversations.join("rtc_1", member) for member in (creator, closed, other)]
    conversations.add("rtc_1", creator, {"id": "item_1", "type": "function_call_output"})
    assert (
        [e["type"] for e in creator.sent]
        == [e["type"] for e in other.sent]
        == [
            "conversation.item.added",
            "conversation.item.done",
        ]
    )
    for leave in leaves:
        leave()
    assert conversations._members == {}
    assert conversations._last == {}  # no call's state outlives its connections
    conversations.add("rtc_2", creator, {"id": "item_2"})  # a creator that never joined: answered, nothing kept
    assert creator.sent[-1]["item"]["id"] == "item_2"
    assert conversations._last == {}
