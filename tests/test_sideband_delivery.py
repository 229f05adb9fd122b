"""What the controllers send survives a dropped socket: a batch (tool outputs and their ``response.create``) or a
delegate's answer whose WebSocket pong had not come back when the socket dropped is sent again on the next one,
and a tool still runs once.

The server here is ``websockets``' sans-I/O protocol on a real loopback socket, so a test decides exactly which
bytes go out: the first connection reads the app's whole batch and then drops *without* its pong (as when the
network dies right after the server read it, or before: the app cannot tell the two apart), the second answers
normally. The emulator's ``drop`` step races the app's sends instead (CI saw a call stall on it once in 4,500
tests before this was fixed), so it cannot pin this down."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sideband_fakes import FAST, Tools
from websockets.frames import Opcode
from websockets.http11 import Request
from websockets.server import ServerProtocol

from realtime_service.containers import RealtimeContainer
from realtime_service.service import RealtimeSessionService
from realtime_service.sideband.live import DelegationContext
from realtime_service.sideband.realtime import ACTIVE_RESPONSE

KEY = "sk-test-delivery-0000000000"
WAIT = 20.0
Event = dict[str, Any]


@dataclass
class Connection:
    """What one connection received: the app's events, and whether a ping came (and was answered)."""

    events: list[Event] = field(default_factory=list)
    pings: int = 0
    pongs_sent: bool = False


@dataclass
class SidebandServer:
    """Plays ``first`` to the first connection, reads until ``until(events)`` and drops it (no close frame),
    answering its pings only when ``pong_first``; every later connection gets ``then``, reads until
    ``then_until``, answers its pings and closes with 1000 (the call's end)."""

    first: list[Event]
    until: Callable[[list[Event]], bool]
    then: list[Event] = field(default_factory=list)
    then_until: Callable[[list[Event]], bool] | None = None
    pong_first: bool = False
    connections: list[Connection] = field(default_factory=list)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        protocol = ServerProtocol()
        seen = Connection()
        self.connections.append(seen)
        first = len(self.connections) == 1
        answering = self.pong_first or not first
        until = self.until if first or self.then_until is None else self.then_until
        try:
            await self._handshake(protocol, reader)
            for event in self.first if first else self.then:
                protocol.send_text(json.dumps(event).encode())
            writer.write(b"".join(protocol.data_to_send()))
            while not until(seen.events):
                self._take(protocol, await reader.read(65536), seen)
                if answering:
                    writer.write(b"".join(protocol.data_to_send()))  # pongs included
            if answering and seen.events:  # the ping after the batch may come in a later read
                async with asyncio.timeout(WAIT):
                    while not seen.pings:
                        self._take(protocol, await reader.read(65536), seen)
                writer.write(b"".join(protocol.data_to_send()))
                await writer.drain()
                seen.pongs_sent = True
            if first:
                writer.transport.abort()  # no close frame: the app sees 1006
                return
            protocol.send_close(1000)
            writer.write(b"".join(protocol.data_to_send()))
            await writer.drain()
        finally:
            writer.close()

    @staticmethod
    def _take(protocol: ServerProtocol, data: bytes, seen: Connection) -> None:
        if not data:
            raise ConnectionError("the app closed the connection")
        protocol.receive_data(data)
        for frame in protocol.events_received():
            if frame.opcode is Opcode.TEXT:
                seen.events.append(json.loads(frame.data))
            elif frame.opcode is Opcode.PING:
                seen.pings += 1

    @staticmethod
    async def _handshake(protocol: ServerProtocol, reader: asyncio.StreamReader) -> None:
        while True:
            protocol.receive_data(await reader.read(65536))
            requests = [event for event in protocol.events_received() if isinstance(event, Request)]
            if requests:
                protocol.send_response(protocol.accept(requests[0]))
                return


@asynccontextmanager
async def running(server: SidebandServer) -> AsyncIterator[RealtimeSessionService]:
    listener = await asyncio.start_server(server.serve, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    container = RealtimeContainer(environ={})
    container.config.from_dict({"api_key": KEY, "base_url": f"http://127.0.0.1:{port}/v1"})
    try:
        yield container.realtime_session_service()
    finally:
        listener.close()


def function_call(call_id: str) -> Event:
    return {
        "type": "function_call",
        "status": "completed",
        "name": "lookup_order",
        "call_id": call_id,
        "arguments": '{"order_id": "1234"}',
    }


def kinds(events: list[Event]) -> list[str]:
    return [str(event.get("type")) for event in events]


def test_a_realtime_batch_whose_pong_never_came_is_sent_again_and_the_tool_runs_once() -> None:
    server = SidebandServer(
        first=[
            {"type": "response.created", "event_id": "event_1", "response": {"id": "resp_1"}},
            {"type": "response.output_item.done", "event_id": "event_2", "item": function_call("call_1")},
            {"type": "response.done", "event_id": "event_3", "response": {"id": "resp_1"}},
        ],
        until=lambda events: "response.create" in kinds(events),
    )
    tools = Tools()

    async def main() -> Any:
        async with running(server) as service:
            handle = await service.aattach_call("rtc_lost", tools=tools, **FAST)
            async with asyncio.timeout(WAIT):
                return await handle.closed()

    end = asyncio.run(main())
    first, second = server.connections
    assert kinds(first.events) == ["conversation.item.create", "response.create"]
    assert kinds(second.events) == ["conversation.item.create", "response.create"]
    assert second.events[0] == first.events[0]  # the same output item again
    assert [call for _, _, call in tools.runs] == ["call_1"]
    assert (end.reason, end.code, end.reattaches) == ("server_closed", 1000, 1)


def test_a_batch_whose_pong_came_back_is_not_sent_again() -> None:
    """The other side of the rule: the first connection answers the ping, then drops; nothing is sent again."""
    server = SidebandServer(
        first=[
            {"type": "response.output_item.done", "event_id": "event_2", "item": function_call("call_1")},
            {"type": "response.done", "event_id": "event_3", "response": {"id": "resp_1"}},
        ],
        until=lambda events: "response.create" in kinds(events),
        then_until=lambda events: True,
        pong_first=True,
    )
    tools = Tools()

    async def main() -> Any:
        async with running(server) as service:
            handle = await service.aattach_call("rtc_kept", tools=tools, **FAST)
            async with asyncio.timeout(WAIT):
                return await handle.closed()

    end = asyncio.run(main())
    first, second = server.connections
    assert kinds(first.events) == ["conversation.item.create", "response.create"]
    assert first.pongs_sent
    assert second.events == []  # confirmed: not sent again after the drop
    assert [call for _, _, call in tools.runs] == ["call_1"]
    assert (end.reason, end.reattaches) == ("server_closed", 1)


def test_a_live_batch_and_a_delegate_answer_are_sent_again_after_a_drop_before_their_pong() -> None:
    envelope = {"type": "response.event", "delegation_id": "deleg_1"}
    call = function_call("call_1")
    server = SidebandServer(
        first=[
            {**envelope, "event_id": "event_1", "event": {"type": "response.output_item.done", "item": call}},
            {**envelope, "event_id": "event_2", "event": {"type": "response.completed", "response": {"id": "r_1"}}},
        ],
        until=lambda events: "response.create" in kinds(events),
    )
    tools = Tools()

    async def main() -> Any:
        async with running(server) as service:
            handle = await service.aattach_live_session("live_lost", tools=tools, **FAST)
            async with asyncio.timeout(WAIT):
                return await handle.closed()

    end = asyncio.run(main())
    first, second = server.connections
    assert kinds(first.events) == ["response.item.create", "response.create"]
    assert kinds(second.events) == ["response.item.create", "response.create"]
    assert second.events[0] == first.events[0]
    assert [call for _, _, call in tools.runs] == ["call_1"]
    assert end.reattaches == 1

    said = SidebandServer(
        first=[
            {
                "type": "session.delegation.created",
                "event_id": "event_1",
                "delegation": {"id": "deleg_2", "type": "delegation", "target": "client"},
            }
        ],
        until=lambda events: "session.commentary.append" in kinds(events),
    )

    async def answer(ctx: DelegationContext) -> str:
        return "Your balance is 42 dollars."

    async def delegated() -> Any:
        async with running(said) as service:
            handle = await service.aattach_live_session("live_said", delegate=answer, **FAST)
            async with asyncio.timeout(WAIT):
                return await handle.closed(), handle

    end, handle = asyncio.run(delegated())
    first, second = said.connections
    assert first.events == second.events
    assert [(e["content"], e["delegation_id"]) for e in second.events] == [("Your balance is 42 dollars.", "deleg_2")]
    assert handle.delegations_answered == 1
    assert handle.delegations_refused == 0


def test_a_create_refused_because_a_server_response_had_just_started_goes_again() -> None:
    """The server's VAD starts a response just as the batch's ``response.create`` arrives: the app sees
    ``response.created`` (not its own) and then the refusal of its create, which must go again after that
    response's ``response.done`` (it was once forgotten, leaving the output unanswered)."""
    from websockets.asyncio.server import ServerConnection, serve

    received: list[Event] = []

    async def sideband(socket: ServerConnection) -> None:
        for event in (
            {"type": "response.output_item.done", "event_id": "event_1", "item": function_call("call_1")},
            {"type": "response.done", "event_id": "event_2", "response": {"id": "resp_1"}},
        ):
            await socket.send(json.dumps(event))
        while "response.create" not in kinds(received):
            received.append(json.loads(await socket.recv()))
        refused = received[-1]["event_id"]
        for event in (
            {"type": "response.created", "event_id": "event_3", "response": {"id": "resp_vad"}},
            {
                "type": "error",
                "event_id": "event_4",
                "error": {"type": "invalid_request_error", "code": ACTIVE_RESPONSE, "event_id": refused},
            },
            {"type": "response.done", "event_id": "event_5", "response": {"id": "resp_vad"}},
        ):
            await socket.send(json.dumps(event))
        received.append(json.loads(await socket.recv()))  # the create, again
        await socket.close()

    async def main() -> Any:
        async with serve(sideband, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            container = RealtimeContainer(environ={})
            container.config.from_dict({"api_key": KEY, "base_url": f"http://127.0.0.1:{port}/v1"})
            handle = await container.realtime_session_service().aattach_call("rtc_vad", tools=Tools(), **FAST)
            async with asyncio.timeout(WAIT):
                return await handle.closed()

    end = asyncio.run(main())
    assert kinds(received) == ["conversation.item.create", "response.create", "response.create"]
    assert received[1]["event_id"] != received[2]["event_id"]
    assert end.reason == "server_closed"


def test_closing_the_handle_while_the_controller_cleans_up_still_gives_the_end() -> None:
    """The server closes the socket (the call ended: a REST hang-up) while a tool is still running; the handle's
    ``close()`` comes while the controller is cancelling that tool. It used to cancel the controller's own clean-up
    and the end was never set: ``hangup()`` then waited for ever (1 run in ~100 of the guide's greeting)."""
    from websockets.asyncio.server import ServerConnection, serve

    from realtime_service.sideband.tools import Toolbox

    started = asyncio.Event()
    toolbox = Toolbox()

    @toolbox.function
    async def slow_lookup() -> str:
        """Looks something up, slowly."""
        started.set()
        try:
            await asyncio.sleep(3600)
        finally:
            await asyncio.shield(asyncio.sleep(0.3))  # a tool that cleans up when cancelled: the window stays open
        return "never"

    async def sideband(socket: ServerConnection) -> None:
        item = {**function_call("call_1"), "name": "slow_lookup", "arguments": "{}"}
        await socket.send(json.dumps({"type": "response.output_item.done", "event_id": "event_1", "item": item}))
        await socket.send(json.dumps({"type": "response.done", "event_id": "event_2", "response": {"id": "r"}}))
        await started.wait()
        await socket.close()  # the call ended

    async def main() -> Any:
        async with serve(sideband, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            container = RealtimeContainer(environ={})
            container.config.from_dict({"api_key": KEY, "base_url": f"http://127.0.0.1:{port}/v1"})
            handle = await container.realtime_session_service().aattach_call("rtc_end", tools=toolbox, **FAST)
            controller = handle._controller
            async with asyncio.timeout(WAIT):
                while not controller._finishing:  # the socket closed: the controller is cancelling the tool
                    await asyncio.sleep(0.01)
                closed = await handle.close()
                return closed, await handle.closed()

    closed, end = asyncio.run(main())
    assert closed == end
    assert end.reason == "server_closed"
