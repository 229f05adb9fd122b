"""The standby of :class:`CallAttacher` (in process, two attachers on one real ``redis-server``, real sockets to the
emulator): a call attached with a registered wiring is recorded, a worker shut down mid-call hands it to the
other's standby (which answers the next tool call, once), a call that ended while nobody owned it is forgotten
on the re-attach's 404, a call attached with unregistered tools is not recorded, and memory leases stand by not."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from realtime_service.emulator import CallRecord, Emulator, scripted_calls
from realtime_service.sideband.attacher import CallAttacher, NamedWiring, configured_wirings
from realtime_service.sideband.ownership import (
    OWNED_KEY,
    WIRING_KEY,
    MemoryCallLeases,
    RedisCallLeases,
    lease_key,
)
from realtime_service.sideband.tools import Toolbox
from realtime_service.web.servers.containers import TokenServerContainer
from tests.test_phone_attach import add_call, container_for, settled

DEADLINE = 60.0


class Steps:
    """A toolbox whose tool records each step it ran."""

    def __init__(self) -> None:
        self.toolbox = Toolbox(timeout=30.0)
        self.runs: list[int] = []

        @self.toolbox.function
        def note_step(step: int) -> str:
            """Note a step."""
            self.runs.append(step)
            return f"step {step} noted"


def _until(what: str, check: Callable[[], Any]) -> Any:
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {DEADLINE:g} s: {what}")


def _outputs(record: CallRecord) -> list[tuple[str, str]]:
    return [
        (e.connection, e.event["item"]["output"])
        for e in record.client_events
        if e.event.get("type") == "conversation.item.create" and e.event["item"].get("type") == "function_call_output"
    ]


def settled_or_now(emulator: Emulator, call_id: str) -> CallRecord:
    record = emulator.calls.get(call_id)
    assert record is not None
    return record


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    monkeypatch.setattr(scripted_calls, "REATTACH_TIMEOUT", 20.0)  # the standby's ttl + poll fits in it
    with Emulator() as emulator:
        yield emulator


def _attacher(emu: Emulator, leases: Any, owner: str, steps: Steps) -> CallAttacher:
    service = container_for(emu).realtime.realtime_session_service()
    attacher = CallAttacher(service, leases, owner=owner, ttl=1.5, standby_poll=0.1)
    attacher.register_wiring("steps", NamedWiring(tools=steps.toolbox))
    return attacher


def test_a_worker_shut_down_mid_call_hands_the_call_to_the_others_standby(emu: Emulator, redis_url: str) -> None:
    script = [
        {"caller": "Two steps, please."},
        {"model_calls": {"name": "note_step", "arguments": {"step": 1}, "call_id": "call_1"}},
        {"expect_output": {"timeout": 30}},
        {"wait": 1},
        {"model_calls": {"name": "note_step", "arguments": {"step": 2}, "call_id": "call_2"}},
        {"expect_output": {"timeout": 30}},
        "hangup",
    ]
    add_call(emu, "rtc_handover", script)
    steps = Steps()
    leases_a, leases_b = RedisCallLeases(redis_url), RedisCallLeases(redis_url)
    first, second = _attacher(emu, leases_a, "worker-a", steps), _attacher(emu, leases_b, "worker-b", steps)
    try:
        second.stand_by()
        assert first.attach("rtc_handover", tools=steps.toolbox) is not None
        _until("the first output", lambda: _outputs(settled_or_now(emu, "rtc_handover")))
        recorded = leases_b._client.hget(WIRING_KEY, "rtc_handover")
        assert recorded == "realtime steps"
        first.close()  # a shutdown: the socket closes, the lease is released, the record stays
        record = settled(emu, "rtc_handover")
        # the call ended (the hang-up closed the standby's socket): forgotten, no standby is to take it over
        _until("the record forgotten", lambda: leases_b._client.hget(WIRING_KEY, "rtc_handover") is None)
    finally:
        first.close()
        second.close()
    assert record.script_state is not None
    assert record.script_state.status == "done", record.script_state
    outputs = _outputs(record)
    assert [output for _, output in outputs] == ['"step 1 noted"', '"step 2 noted"']
    assert outputs[0][0] != outputs[1][0]  # the second on the standby's own connection
    assert steps.runs == [1, 2]  # each ran once
    assert (first.attached, first.taken_over, second.attached, second.taken_over) == (1, 0, 1, 1)
    assert leases_b._client.zscore(OWNED_KEY, "rtc_handover") is None
    leases_a.close()
    leases_b.close()


def test_a_call_that_ended_while_unowned_is_forgotten_on_the_404(emu: Emulator, redis_url: str) -> None:
    leases = RedisCallLeases(redis_url)
    steps = Steps()
    lease = leases.acquire("rtc_gone", "worker-dead", ttl=0.2)
    assert lease is not None

    async def record() -> bool:
        return await leases.arecord(lease, "realtime", "steps")

    assert asyncio.run(record())
    standby = _attacher(emu, RedisCallLeases(redis_url), "worker-b", steps)
    try:
        standby.stand_by()
        _until("the record forgotten", lambda: leases._client.hget(WIRING_KEY, "rtc_gone") is None)
    finally:
        standby.close()
    assert leases._client.zscore(OWNED_KEY, "rtc_gone") is None
    assert leases.holder("rtc_gone") is None  # the standby's lease was released
    assert (standby.attached, standby.failed, standby.taken_over) == (0, 0, 0)
    assert steps.runs == []
    leases.close()


def test_a_call_attached_with_unregistered_tools_is_not_recorded(emu: Emulator, redis_url: str) -> None:
    add_call(emu, "rtc_own_tools", [{"caller": "Hello?"}, {"wait": 30}, "hangup"])
    leases = RedisCallLeases(redis_url)
    steps, other = Steps(), Steps()
    attacher = _attacher(emu, leases, "worker-a", steps)
    try:
        assert attacher.attach("rtc_own_tools", tools=other.toolbox) is not None
        _until("the attach", lambda: attacher.attached == 1)
        assert leases._client.get(lease_key("rtc_own_tools")) is not None
        assert leases._client.hget(WIRING_KEY, "rtc_own_tools") is None
    finally:
        attacher.close()
    leases.close()


def test_memory_leases_have_no_standby(emu: Emulator) -> None:
    attacher = _attacher(emu, MemoryCallLeases(), "worker-a", Steps())
    try:
        attacher.stand_by()
        assert attacher._standby is None
    finally:
        attacher.close()


def test_the_server_registers_its_configured_toolboxes(emu: Emulator, redis_url: str) -> None:
    container = TokenServerContainer(environ={})
    container.config.from_dict(
        {
            "realtime": {"api_key": emu.api_key, "base_url": emu.base_url},
            "server": {
                "rate_limit_storage": redis_url,
                "phone": {"tools": "examples.order_tools:toolbox"},
                "sideband": {"tools": "examples.order_tools:toolbox", "max_call_seconds": 60},
            },
        }
    )
    settings = container.server_settings()
    wirings = configured_wirings(settings)
    assert sorted(wirings) == ["server.phone.tools", "server.sideband"]
    assert wirings["server.phone.tools"].tools is container.call_router().tools  # the router's own toolbox
    assert wirings["server.sideband"].options == {"max_call_seconds": 60}
    attacher: CallAttacher = container.call_attacher()
    try:
        assert sorted(attacher._wirings) == ["server.phone.tools", "server.sideband"]
    finally:
        container.shutdown_resources()


def test_a_live_session_is_taken_over_with_its_delegate_and_no_delegation_runs_twice(
    emu: Emulator, redis_url: str
) -> None:
    """GPT-Live: the standby re-attaches with the same client ``delegate``. With the default ttl (5 s) the first
    delegation is older than the attach's 3 s replay when the standby attaches: answered once, not again."""
    record = CallRecord(id="live_handover", api="live", transport="sip", state="accepted", created_at=0.0)
    emu.calls.add(record)
    emu.script_call(
        record.id,
        [
            {"caller": "Two questions."},
            {"delegate": {"id": "deleg_1"}},
            {"expect_commentary": {"timeout": 30}},
            {"wait": 1},
            {"delegate": {"id": "deleg_2"}},
            {"expect_commentary": {"timeout": 30}},
            "hangup",
        ],
    )
    asked: list[str] = []

    async def delegate(context: Any) -> str:
        asked.append(context.delegation_id)
        return f"answered {context.delegation_id}"

    attachers = []
    for owner in ("worker-a", "worker-b"):
        service = container_for(emu).realtime.realtime_session_service()
        attacher = CallAttacher(service, RedisCallLeases(redis_url), owner=owner, standby_poll=0.1)
        attacher.register_wiring("live-delegate", NamedWiring(delegate=delegate))
        attachers.append(attacher)
    first, second = attachers
    client = RedisCallLeases(redis_url)._client
    try:
        second.stand_by()
        assert first.attach(record.id, delegate=delegate, api="live") is not None
        _until("the first answer", lambda: asked)
        assert client.hget(WIRING_KEY, record.id) == "live live-delegate"
        first.close()  # its socket closes, the session goes on; the record stays
        final = settled(emu, record.id)
        _until("the record forgotten", lambda: client.hget(WIRING_KEY, record.id) is None)
    finally:
        first.close()
        second.close()
    assert final.script_state is not None
    assert final.script_state.status == "done", final.script_state
    assert asked == ["deleg_1", "deleg_2"]  # each delegation answered once, by whichever worker owned the call
    commentary = [
        (e.connection, e.event) for e in final.client_events if e.event.get("type") == "session.commentary.append"
    ]
    assert [event.get("delegation_id") for _, event in commentary] == ["deleg_1", "deleg_2"]
    assert commentary[0][0] != commentary[1][0]  # the second on the standby's connection
    assert (first.attached, second.attached, second.taken_over) == (1, 1, 1)
