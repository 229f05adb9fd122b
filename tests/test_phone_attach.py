"""Phone calls accepted with tools, attached in the background by ``CallAttacher`` (in process, over real loopback
sockets to the emulator): one owner per call by its lease, the sideband closed when the lease is lost or the
container shuts down, and the ``server.phone.tools`` setting and ``Accept(tools=...)`` checked up front."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from realtime_service.emulator import CallRecord, Emulator, scripted_calls
from realtime_service.errors import ConfigurationError
from realtime_service.sideband.attacher import CallAttacher, owner_name
from realtime_service.sideband.ownership import MemoryCallLeases, _checked
from realtime_service.sideband.tools import Toolbox
from realtime_service.web.servers.containers import TokenServerContainer
from realtime_service.webhooks import Accept
from realtime_service.webhooks.router import ConfigRouter, load_toolbox
from realtime_service.webhooks.settings import load_phone_settings

CALL = [
    {"caller": "Hi, where is my order 1234?"},
    {"model_calls": {"name": "lookup_order", "arguments": {"order_id": "1234"}, "call_id": "call_1"}},
    {"expect_output": {"timeout": 60}},
    "hangup",
]


class Stuck:
    """A toolbox whose one tool never returns (until cancelled): the call stays attached while the test acts."""

    def __init__(self) -> None:
        self.toolbox = Toolbox(timeout=120.0)
        self.started = threading.Event()
        self.cancelled = threading.Event()

        @self.toolbox.function
        async def lookup_order(order_id: str) -> str:
            """Never answers."""
            self.started.set()
            try:
                await asyncio.Event().wait()
            finally:
                self.cancelled.set()
            return "never"


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    monkeypatch.setattr(scripted_calls, "REATTACH_TIMEOUT", 0.5)  # a closed sideband fails the script soon
    with Emulator() as emulator:
        yield emulator


def add_call(emulator: Emulator, call_id: str, script: Any) -> None:
    emulator.calls.add(CallRecord(id=call_id, api="realtime", transport="sip", state="accepted", created_at=0.0))
    emulator.script_call(call_id, script)


def settled(emulator: Emulator, call_id: str) -> CallRecord:
    def over(record: CallRecord) -> bool:
        return record.script_state is not None and record.script_state.status in ("done", "failed")

    return emulator.calls.wait_until(call_id, over, timeout=30)


def container_for(emulator: Emulator) -> TokenServerContainer:
    container = TokenServerContainer(environ={})
    container.config.from_dict({"realtime": {"api_key": emulator.api_key, "base_url": emulator.base_url}})
    return container


def test_shutdown_cancels_the_tool_and_closes_the_sideband(emu: Emulator) -> None:
    # after the tool call the script speaks again: on a closed sideband it finds no socket and fails
    add_call(emu, "rtc_shutdown", [*CALL[:2], {"wait": 10}, {"model_says": "Still there?"}, "hangup"])
    stuck = Stuck()
    container = container_for(emu)
    attacher: CallAttacher = container.call_attacher()
    future = attacher.attach("rtc_shutdown", tools=stuck.toolbox)
    assert future is not None
    assert stuck.started.wait(30)
    assert attacher.active == 1
    container.shutdown_resources()
    assert stuck.cancelled.is_set()
    assert future.cancelled()
    assert attacher.active == 0
    record = settled(emu, "rtc_shutdown")
    assert record.script_state is not None
    assert record.script_state.status == "failed"
    assert record.script_state.reason == "the app's connection closed", record.script_state
    assert attacher.attach("rtc_shutdown", tools=stuck.toolbox) is None  # closed: nothing new starts


def test_one_owner_per_call_a_second_worker_does_not_attach(emu: Emulator) -> None:
    add_call(emu, "rtc_owned", CALL)
    stuck = Stuck()
    leases = MemoryCallLeases()
    service = container_for(emu).realtime.realtime_session_service()
    first = CallAttacher(service, leases, owner="worker-a")
    second = CallAttacher(service, leases, owner="worker-b")
    try:
        assert first.attach("rtc_owned", tools=stuck.toolbox) is not None
        assert stuck.started.wait(30)
        assert first.attach("rtc_owned", tools=stuck.toolbox) is None  # the same worker: already attending
        other = second.attach("rtc_owned", tools=stuck.toolbox)
        assert other is not None
        assert other.result(30) is None
        assert (second.not_owner, second.attached, first.attached) == (1, 0, 1)
        holder = leases.holder("rtc_owned")
        assert holder is not None
        assert holder.owner == "worker-a"
    finally:
        first.close()
        second.close()
    assert leases.holder("rtc_owned") is None  # released at the end


def test_a_lost_lease_closes_the_sideband_and_no_tool_runs(emu: Emulator) -> None:
    add_call(emu, "rtc_lost", [{"caller": "Hello?"}, {"wait": 30}, *CALL[1:]])
    leases = MemoryCallLeases()
    runs: list[str] = []
    toolbox = Toolbox()

    @toolbox.function
    def lookup_order(order_id: str) -> str:
        """Records each run."""
        runs.append(order_id)
        return "shipped"

    service = container_for(emu).realtime.realtime_session_service()
    attacher = CallAttacher(service, leases, owner="worker-a", ttl=0.6)
    try:
        future = attacher.attach("rtc_lost", tools=toolbox)
        assert future is not None
        emu.calls.wait_until("rtc_lost", lambda r: r.script_state is not None, timeout=30)
        leases.close()  # the storage forgot the lease (a Redis restart): the next renewal is refused
        end = future.result(30)
        assert end is not None
        assert end.reason == "closed"
    finally:
        attacher.close()
    assert runs == []


def test_owner_names_are_valid_lease_owners() -> None:
    assert _checked(owner_name(), "owner") == owner_name()


def test_accept_puts_the_toolbox_definitions_in_the_session_and_checks_what_it_is_given() -> None:
    toolbox = load_toolbox("examples.order_tools:toolbox")
    accept = Accept({"type": "realtime", "model": "gpt-realtime-2.1"}, tools=toolbox)
    assert accept.session["tools"] == toolbox.definitions()
    assert accept.attaches
    assert Accept({"type": "realtime", "tools": []}, tools=toolbox).session["tools"] == []  # the session's own
    assert not Accept({"type": "realtime"}).attaches
    assert Accept({"type": "realtime"}, observers=print).observers == (print,)
    with pytest.raises(TypeError, match="Toolbox or a ToolRunner"):
        Accept({"type": "realtime"}, tools="examples.order_tools:toolbox")
    with pytest.raises(TypeError, match="callables"):
        Accept({"type": "realtime"}, observers=["not callable"])
    with pytest.raises(ConfigurationError, match="delegation stated"):  # omitted is client mode on Live
        Accept({"type": "live", "model": "gpt-live"}, tools=toolbox)


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("examples.no_such_module:toolbox", "cannot import module 'examples.no_such_module'"),
        ("examples.order_tools:nothing", "has no attribute 'nothing'"),
        ("examples.order_tools:lookup_order", "is a function, not a Toolbox"),
    ],
)
def test_a_tools_setting_that_is_not_a_toolbox_names_the_setting(reference: str, message: str) -> None:
    settings = load_phone_settings({"session": {"type": "realtime"}, "tools": reference}, {})
    with pytest.raises(ConfigurationError, match=r"'server\.phone\.tools'") as caught:
        ConfigRouter.from_settings(settings)
    assert message in str(caught.value)


@pytest.mark.parametrize("reference", ["toolbox", "a b:c", 3, "mod:"])
def test_a_malformed_tools_setting_is_refused_when_loaded(reference: object) -> None:
    with pytest.raises(ConfigurationError, match=r"'server\.phone\.tools' must be 'module:attribute'"):
        load_phone_settings({"tools": reference}, {})


def test_the_config_router_accepts_with_the_toolbox_and_refuses_live_without_a_delegation() -> None:
    settings = load_phone_settings({"session": {"type": "realtime"}, "tools": "examples.order_tools:toolbox"}, {})
    router = ConfigRouter.from_settings(settings)
    assert router.tools is load_toolbox("examples.order_tools:toolbox")
    live = load_phone_settings({"session": {"type": "live"}, "tools": "examples.order_tools:toolbox"}, {})
    with pytest.raises(ConfigurationError, match="delegation stated"):
        ConfigRouter.from_settings(live)


def test_a_refused_attach_is_counted_logged_once_and_gives_the_lease_back(
    emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    leases = MemoryCallLeases()
    service = container_for(emu).realtime.realtime_session_service()
    attacher = CallAttacher(service, leases, owner="worker-a")
    try:
        future = attacher.attach("rtc_unknown_to_the_api", tools=Stuck().toolbox)
        assert future is not None
        assert future.result(30) is None
    finally:
        attacher.close()
    assert (attacher.failed, attacher.attached) == (1, 0)
    assert leases.holder("rtc_unknown_to_the_api") is None
    failures = [r for r in caplog.records if "attach failed" in r.getMessage()]
    assert len(failures) == 1
    assert "NotFoundError" in failures[0].getMessage()
    assert emu.api_key not in caplog.text
