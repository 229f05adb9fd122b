"""``Accept(agent=...)``: a phone call handed to an Agents SDK ``RealtimeAgent`` instead of a ``Toolbox``, run by
``CallAttacher`` under the call's lease over real loopback sockets to the emulator (the order call's script, the
agent's function tool answering it once), a lost lease closing the agent's socket without ending the call, and
the checks ``Accept`` makes when the call is decided.

The SDK comes with the ``dev`` extra; without it this module is skipped, which ``--only-system-skips`` (CI)
refuses, so CI cannot pass without running it.
"""

from __future__ import annotations

import base64
import http.server
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from realtime_service.emulator import CallRecord, Channel, Emulator, SocketClosed
from realtime_service.emulator.scripts import ScriptState
from realtime_service.errors import ConfigurationError
from realtime_service.sideband.attacher import CallAttacher
from realtime_service.sideband.ownership import MemoryCallLeases
from realtime_service.sideband.tools import Toolbox
from realtime_service.web.messages import WebRequest
from realtime_service.web.servers.containers import TokenServerContainer
from realtime_service.webhooks import Accept, Decision, Ignore, RealtimeCallIncoming, WebhookEvent

agents = pytest.importorskip("agents", reason="openai-agents is not installed (the dev extra brings it)")
from agents_order_call import ORDER_CALL, TOOL_OUTPUT, order_agent  # noqa: E402

WAIT = 30.0  # seconds a test waits for something that should happen at once (never reached when it works)


def _eventually(condition: Callable[[], bool]) -> bool:
    """Poll ``condition`` until it holds or :data:`WAIT` passes (the attacher's end has no event to wait on)."""
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


def _accepted_call(emu: Emulator, call_id: str) -> CallRecord:
    record = CallRecord(id=call_id, api="realtime", transport="sip", state="accepted", created_at=0.0)
    emu.calls.add(record)
    return record


def _attacher(emu: Emulator, leases: MemoryCallLeases, **options: Any) -> CallAttacher:
    from tests.test_phone_attach import container_for

    return CallAttacher(container_for(emu).realtime.realtime_session_service(), leases, owner="worker-a", **options)


@pytest.mark.parametrize(
    ("run_config", "tracing"), [(None, None), ({"tracing_disabled": False}, "auto")], ids=["default", "host-traced"]
)
def test_the_agent_answers_the_order_call_once_and_the_lease_is_given_back(
    emu: Emulator, run_config: dict[str, Any] | None, tracing: str | None
) -> None:
    record = _accepted_call(emu, "rtc_agent")
    emu.script_call(record.id, ORDER_CALL)
    ran: list[str] = []
    accept = Accept({"type": "realtime"}, agent=order_agent(ran), agent_run_config=run_config)
    assert accept.attaches
    leases = MemoryCallLeases()
    attacher = _attacher(emu, leases)
    try:
        future = attacher.attach(record.id, agent=accept.agent, agent_run_config=accept.agent_run_config)
        assert future is not None
        end = future.result(WAIT)  # the agent's session ended by itself: the script hung up
    finally:
        attacher.close()
    assert end is not None
    assert end.reason == "server_closed"
    assert (attacher.attached, attacher.failed) == (1, 0)
    final = emu.calls.wait_until(
        record.id, lambda r: r.script_state is not None and r.script_state.status in ("done", "failed"), WAIT
    )
    assert final.script_state == ScriptState("done")
    assert final.state == "hung_up"
    assert ran == ["A-1"]  # the tool ran exactly once, with the script's arguments
    outputs = [
        e.event["item"]
        for e in final.client_events
        if e.event["type"] == "conversation.item.create" and e.event["item"]["type"] == "function_call_output"
    ]
    assert [(item["call_id"], json.loads(item["output"])) for item in outputs] == [("call_A1", TOOL_OUTPUT)]
    updates = [e.event["session"] for e in final.client_events if e.event["type"] == "session.update"]
    assert updates
    # the runs' tracing is off (never sent) unless the host's run config turns it on (the SDK sends "auto")
    assert {update["tracing"] for update in updates if "tracing" in update} == ({tracing} if tracing else set())
    assert leases.holder(record.id) is None  # given back when the call ended


def test_the_webhook_endpoint_accepts_with_the_agent_and_runs_it_on_the_call() -> None:
    """The whole path: the emulator rings this package's phone endpoint, the router accepts with the agent, the
    endpoint's attacher runs it under the call's lease, the script plays to its end."""
    from dependency_injector import providers

    secret = "whsec_" + base64.b64encode(b"agents-handoff-test-secret-32by!").decode()
    ran: list[str] = []
    agent = order_agent(ran)

    def route(event: WebhookEvent) -> Decision:
        if not isinstance(event, RealtimeCallIncoming):
            return Ignore()
        return Accept({"type": "realtime", "instructions": "The router's."}, agent=agent)

    with Emulator(script=ORDER_CALL) as emu:
        container = TokenServerContainer(environ={})
        container.config.from_dict(
            {
                "realtime": {"api_key": emu.api_key, "base_url": emu.base_url},
                "server": {"phone": {"webhook_secret": secret, "session": {"type": "realtime"}}},
            }
        )
        container.call_router.override(providers.Object(route))
        endpoint = container.phone_endpoint()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                headers = {name.lower(): value for name, value in self.headers.items()}
                answer = endpoint.handle(WebRequest("POST", self.path, headers, body, client="127.0.0.1"))
                self.send_response(answer.status)
                for name, value in answer.headers:
                    if name.lower() != "content-length":
                        self.send_header(name, value)
                self.send_header("content-length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        try:
            url = f"http://127.0.0.1:{server.server_address[1]}/webhooks/openai"
            rung = emu.ring(url, secret=secret, decide_within=WAIT)
            assert rung.state == "accepted", rung
            final = emu.calls.wait_until(
                rung.id, lambda r: r.script_state is not None and r.script_state.status in ("done", "failed"), WAIT
            )
            attacher = container.call_attacher()
            leases = container.call_leases()
            # the attach ends a moment after the script (its socket closes): poll, with a deadline, for its end
            assert _eventually(lambda: attacher.active == 0 and leases.holder(rung.id) is None)  # lease given back
        finally:
            server.shutdown()
            server.server_close()
            container.shutdown_resources()
    assert final.script_state == ScriptState("done")
    assert ran == ["A-1"]
    assert (attacher.attached, attacher.failed) == (1, 0)
    assert rung.session["instructions"] == "The router's."  # accepted with the agent's session under the router's
    assert [tool["name"] for tool in rung.session["tools"]] == ["lookup_order"]


def _quiet_caller(emu: Emulator) -> tuple[threading.Event, threading.Event]:
    """Every sideband of ``emu`` from now on says nothing; the events are set when the app's socket comes and
    when the app closes it."""
    attached, closed = threading.Event(), threading.Event()

    def caller(channel: Channel) -> None:
        attached.set()
        try:
            while True:
                channel.receive(WAIT)
        except SocketClosed:
            closed.set()

    emu.on_sideband = caller
    return attached, closed


def test_a_lost_lease_closes_the_agents_socket_without_ending_the_call(
    emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="websockets.client")  # the SDK's handshake lines carry the key
    record = _accepted_call(emu, "rtc_agent_lost")
    attached, closed = _quiet_caller(emu)
    ran: list[str] = []
    leases = MemoryCallLeases()
    attacher = _attacher(emu, leases, ttl=0.6)
    try:
        future = attacher.attach(record.id, agent=order_agent(ran))
        assert future is not None
        assert attached.wait(WAIT)
        leases.close()  # the storage forgot the lease (a Redis restart): the next renewal is refused
        end = future.result(WAIT)
        assert end is not None
        assert end.reason == "closed"
        assert closed.wait(WAIT)  # the agent's socket was closed by the app
    finally:
        attacher.close()
    final = emu.calls.get(record.id)
    assert final is not None
    assert final.state == "accepted"  # the caller is still on the line
    assert ran == []
    lines = [r.getMessage() for r in caplog.records if r.name == "websockets.client"]
    handshake = [line for line in lines if "authorization" in line.lower()]
    assert handshake == ["> Authorization: <redacted>"]
    assert emu.api_key not in caplog.text


def test_shutdown_closes_the_agents_socket_and_gives_the_lease_back(emu: Emulator) -> None:
    record = _accepted_call(emu, "rtc_agent_shutdown")
    attached, closed = _quiet_caller(emu)
    leases = MemoryCallLeases()
    attacher = _attacher(emu, leases)
    future = attacher.attach(record.id, agent=order_agent([]))
    assert future is not None
    assert attached.wait(WAIT)
    assert leases.holder(record.id) is not None
    attacher.close()
    assert future.cancelled()
    assert closed.wait(WAIT)
    assert leases.holder(record.id) is None
    final = emu.calls.get(record.id)
    assert final is not None
    assert final.state == "accepted"


def test_the_accept_session_is_the_agents_under_the_routers_keys() -> None:
    agent = order_agent([])
    accept = Accept({"type": "realtime", "instructions": "The router's."}, agent=agent)
    assert accept.session["instructions"] == "The router's."  # the router's explicit keys win
    assert [tool["name"] for tool in accept.session["tools"]] == ["lookup_order"]  # the rest is the agent's
    assert accept.session["model"] == "gpt-realtime-2.1"  # the SDK's default model, as its recipe accepts
    with pytest.raises(ConfigurationError, match="immutable_field_update"):  # the SDK's update would be refused
        Accept({"type": "realtime", "model": "gpt-realtime"}, agent=agent)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"tools": Toolbox()}, "give it alone"),
        ({"delegate": lambda context: "x"}, "give it alone"),
        ({"observers": [print]}, "give it alone"),
    ],
)
def test_an_agent_goes_alone(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Accept({"type": "realtime"}, agent=order_agent([]), **extra)


def test_an_agent_is_for_realtime_calls_and_must_be_a_realtime_agent() -> None:
    with pytest.raises(ConfigurationError, match="Realtime calls"):
        Accept({"type": "live", "model": "gpt-live-1"}, agent=order_agent([]))
    with pytest.raises(TypeError, match="RealtimeAgent"):
        Accept({"type": "realtime"}, agent=object())
    with pytest.raises(ConfigurationError, match="agent_run_config"):
        Accept({"type": "realtime"}, agent_run_config={"tracing_disabled": True})


def test_without_the_agents_sdk_an_agent_accept_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    for name in [name for name in sys.modules if name == "agents" or name.startswith("agents.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "agents", None)  # import agents raises ImportError
    with pytest.raises(ConfigurationError, match="openai-agents"):
        Accept({"type": "realtime"}, agent=object())


def test_an_async_router_can_accept_with_an_agent() -> None:
    import asyncio

    async def decide() -> Accept:
        return Accept({"type": "realtime"}, agent=order_agent([]))

    accept = asyncio.run(decide())
    assert [tool["name"] for tool in accept.session["tools"]] == ["lookup_order"]
