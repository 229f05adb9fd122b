"""``dial --wait``'s sideband watcher (``realtime_service.sideband.dial_watch``) over real loopback sockets: hostile
and replayed frames never crash it nor show a step twice, a refused attach is the package's status error, and the
key never reaches a log even with every logger at DEBUG."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from realtime_service import APIConnectionError, ConfigurationError, NotFoundError
from realtime_service.emulator import Emulator
from realtime_service.live.models import SipDigestAuth, SipTrunk
from realtime_service.sideband.dial_watch import DialEvent, attach_url, watch_dial
from tests.test_outbound_calls import container_for

Handler = Callable[[ServerConnection], Awaitable[None]]


async def _watch_server(handler: Handler, **options: Any) -> tuple[DialEvent, list[DialEvent]]:
    seen: list[DialEvent] = []
    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        outcome = await watch_dial(
            f"ws://127.0.0.1:{port}/v1/live/sessions/live_x/attach",
            {"Authorization": "Bearer sk-test-watch-000000"},
            on_event=seen.append,
            **{"timeout": 30.0, **options},
        )
    return outcome, seen


def test_replays_and_hostile_frames_are_skipped_and_each_step_shown_once() -> None:
    async def hostile(socket: ServerConnection) -> None:
        ringing = json.dumps({"type": "transport.ringing", "event_id": "event_1", "session_id": "live_x"})
        for frame in (
            ringing,
            ringing,  # the attach's replay: same event_id
            "not json",
            "[1, 2]",
            json.dumps({"type": 7}),
            json.dumps({"type": "transport.failed", "event_id": "event_1"}),  # a reused id is a replay
            json.dumps({"type": "session.output_audio.delta", "delta": "A" * 100_000}),
            json.dumps({"type": "transport.answered", "event_id": "event_2"}),
        ):
            await socket.send(frame)
        await socket.wait_closed()

    outcome, seen = asyncio.run(_watch_server(hostile))
    assert outcome == DialEvent("answered")
    assert seen == [DialEvent("ringing"), DialEvent("answered")]


def test_a_failure_without_an_error_object_is_still_a_failure() -> None:
    async def failing(socket: ServerConnection) -> None:
        await socket.send(json.dumps({"type": "transport.failed", "error": "busy"}))
        await socket.wait_closed()

    outcome, _ = asyncio.run(_watch_server(failing))
    assert outcome == DialEvent("failed")


def test_a_socket_closed_before_the_outcome_is_a_connection_error() -> None:
    async def closing(socket: ServerConnection) -> None:
        await socket.send(json.dumps({"type": "transport.ringing"}))
        await socket.close(1011)

    with pytest.raises(APIConnectionError, match="close code 1011"):
        asyncio.run(_watch_server(closing))


def test_nothing_within_the_timeout_is_a_timeout() -> None:
    async def silent(socket: ServerConnection) -> None:
        await socket.wait_closed()

    outcome, seen = asyncio.run(_watch_server(silent, timeout=0.3))
    assert outcome == DialEvent("timeout")
    assert seen == []


def test_an_unknown_session_is_not_found_and_the_key_is_in_no_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with Emulator() as emu:
        headers = {"Authorization": f"Bearer {emu.api_key}"}
        with pytest.raises(NotFoundError):
            asyncio.run(watch_dial(attach_url(emu.base_url, "live_unknown"), headers, timeout=10))
        container = container_for(emu)
        trunk = SipTrunk(
            provider_url="sips:pbx.example.com",
            auth=SipDigestAuth(username="acme", password="pw-000000"),
            caller_number="+14155550100",
        )
        call = container.realtime_session_service().create_outbound_live_call(
            {"model": "gpt-live-1"}, destination="+14155550123", trunk=trunk
        )
        outcome = asyncio.run(watch_dial(attach_url(emu.base_url, call.session_id), headers, timeout=30))
    assert outcome == DialEvent("answered")
    # the emulator's own server logs the headers it receives at DEBUG (it runs in this process): not the client's
    client_side = [r.getMessage() for r in caplog.records if not r.name.startswith("websockets.server")]
    assert any("GET /v1/live/sessions" in line for line in caplog.messages)  # DEBUG header logging was on
    assert client_side
    assert not any(emu.api_key[-12:] in line for line in client_side)


def test_the_attach_url_follows_the_base_url() -> None:
    assert attach_url("https://api.openai.com/v1", "live_a") == "wss://api.openai.com/v1/live/sessions/live_a/attach"
    assert attach_url("http://127.0.0.1:9/v1/", "live_a") == "ws://127.0.0.1:9/v1/live/sessions/live_a/attach"
    with pytest.raises(ConfigurationError, match="session_id"):  # refused before connecting, not escaped
        attach_url("http://h/v1", "live_a/../x")
