"""GPT-Live phone calls accepted with tools or a client ``delegate``, attached in the background under the call's
lease with ``aattach_live_session``, over real loopback sockets to the emulator: ``serve`` with
``server.phone.tools`` on a Live session (the Responses delegation carries the toolbox), a redelivery that does
not attach twice, the client delegate answered once, and the delegation checks ``Accept`` makes up front."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from realtime_service.emulator import CallRecord, Emulator
from realtime_service.errors import ConfigurationError
from realtime_service.sideband.attacher import CallAttacher
from realtime_service.sideband.ownership import MemoryCallLeases
from realtime_service.webhooks import Accept
from realtime_service.webhooks.router import ConfigRouter, load_toolbox
from realtime_service.webhooks.settings import load_phone_settings
from tests.test_phone_serve_tools import (
    DEADLINE,
    SCRIPT,
    SECRET,
    _listening,
    _post_again,
    _serve,
    _settled,
    _stop,
)

DELEGATION = {"type": "responses", "responses": {"model": "gpt-5.2", "instructions": "Look orders up."}}
LIVE_SESSION = {"type": "live", "model": "gpt-live-1", "instructions": "Answer orders.", "delegation": DELEGATION}


def _config(tmp_path: Path, emulator: Emulator) -> Path:
    config = {
        "realtime": {"api_key": emulator.api_key, "base_url": emulator.base_url},
        "server": {
            "phone": {"webhook_secret": SECRET, "session": LIVE_SESSION, "tools": "examples.order_tools:toolbox"}
        },
    }
    path = tmp_path / "serve.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(script=SCRIPT) as emulator:
        yield emulator


def _tool_outputs(record: CallRecord) -> list[tuple[str, str]]:
    return [
        (e.event["item"]["call_id"], e.event["item"]["output"])
        for e in record.client_events
        if e.event.get("type") == "response.item.create" and e.event["item"].get("type") == "function_call_output"
    ]


@pytest.mark.parametrize("framework", ["flask", "fastapi"])
def test_serve_accepts_a_live_call_with_the_toolbox_and_answers_the_tool_once(
    framework: str, emu: Emulator, tmp_path: Path
) -> None:
    server = _serve(_config(tmp_path, emu), framework)
    try:
        base = _listening(server)
        url = f"{base}/webhooks/openai"
        record = emu.ring(url, secret=SECRET, api="live")
        assert record.api == "live"
        assert record.state == "accepted", record
        delegation = record.session["delegation"]
        assert delegation["type"] == "responses"
        assert delegation["responses"]["model"] == "gpt-5.2"
        tools = delegation["responses"]["tools"]
        assert tools == load_toolbox("examples.order_tools:toolbox").responses_definitions()
        again = _post_again(url, record, "wh_" + secrets.token_hex(8))  # the session announced again
        assert again.status_code == 200
        assert again.json() == {"result": "duplicate"}
        final = _settled(emu, record.id)
    finally:
        log = _stop(server)
    assert final.script_state is not None
    assert final.script_state.status == "done", final.script_state
    outputs = _tool_outputs(final)
    assert [output for _, output in outputs] == ['{"order_id": "1234", "status": "shipped"}']
    assert log.count("sideband attached by") == 1, log
    assert "Traceback" not in log
    assert emu.api_key not in log


def test_a_live_client_delegate_is_attached_under_the_lease_and_answers_once(emu: Emulator) -> None:
    from tests.test_phone_attach import container_for

    record = CallRecord(id="live_delegate1", api="live", transport="sip", state="accepted", created_at=0.0)
    emu.calls.add(record)
    emu.script_call(
        record.id,
        [{"caller": "Is my order 1234 here?"}, {"delegate": {}}, {"expect_commentary": {"timeout": 60}}, "hangup"],
    )
    asked: list[str] = []

    async def delegate(context: Any) -> str:
        asked.append(context.delegation_id)
        return "Order 1234 has shipped."

    accept = Accept({"type": "live", "model": "gpt-live-1", "delegation": {"type": "client"}}, delegate=delegate)
    assert accept.attaches
    leases = MemoryCallLeases()
    attacher = CallAttacher(container_for(emu).realtime.realtime_session_service(), leases, owner="worker-a")
    try:
        future = attacher.attach(record.id, delegate=accept.delegate, observers=accept.observers, api="live")
        assert future is not None
        end = future.result(DEADLINE)
    finally:
        attacher.close()
    assert end is not None
    assert (attacher.attached, attacher.failed) == (1, 0)
    final = _settled(emu, record.id)
    assert final.script_state is not None
    assert final.script_state.status == "done", final.script_state
    assert len(asked) == 1
    commentary = [e.event for e in final.client_events if e.event.get("type") == "session.commentary.append"]
    assert [event.get("delegation_id") for event in commentary] == asked
    assert leases.holder(record.id) is None  # given back when the call ended


def test_live_accept_states_the_delegation_and_fills_a_responses_one_with_the_toolbox() -> None:
    toolbox = load_toolbox("examples.order_tools:toolbox")
    accept = Accept(LIVE_SESSION, tools=toolbox)
    assert accept.session["delegation"]["responses"]["tools"] == toolbox.responses_definitions()
    assert "tools" not in accept.session  # a Live session has no top-level tools
    assert "tools" not in DELEGATION  # the caller's mapping is kept
    own = {**DELEGATION, "responses": {**DELEGATION["responses"], "tools": []}}
    assert Accept({**LIVE_SESSION, "delegation": own}, tools=toolbox).session["delegation"] == own  # its own
    client = {"type": "client"}
    assert Accept({**LIVE_SESSION, "delegation": client}, tools=toolbox).session["delegation"] == client
    with pytest.raises(ConfigurationError, match="delegation stated"):
        Accept({"type": "live", "model": "gpt-live-1"}, tools=toolbox)  # omitted would be client mode
    with pytest.raises(ConfigurationError, match="delegation stated"):
        Accept({"type": "live", "model": "gpt-live-1", "delegation": None}, tools=toolbox)
    with pytest.raises(ConfigurationError, match=r"delegation\.responses\.model"):
        Accept({"type": "live", "delegation": {"type": "responses", "responses": {}}}, tools=toolbox)
    with pytest.raises(ConfigurationError, match="GPT-Live sessions"):
        Accept({"type": "realtime"}, delegate=lambda context: "no")
    with pytest.raises(TypeError, match="delegate"):
        Accept({"type": "live", "delegation": {"type": "client"}}, delegate="not callable")


def test_the_config_router_checks_a_live_session_with_tools_at_start() -> None:
    settings = load_phone_settings({"session": LIVE_SESSION, "tools": "examples.order_tools:toolbox"}, {})
    assert ConfigRouter.from_settings(settings).tools is load_toolbox("examples.order_tools:toolbox")
    bare = load_phone_settings(
        {"session": {"type": "live", "model": "gpt-live-1"}, "tools": "examples.order_tools:toolbox"}, {}
    )
    with pytest.raises(ConfigurationError, match=r"'server\.phone\.session'.*delegation stated"):
        ConfigRouter.from_settings(bare)


def test_the_attacher_refuses_a_delegate_for_realtime_and_an_unknown_api(emu: Emulator) -> None:
    attacher = CallAttacher(object(), MemoryCallLeases(), owner="worker-a")
    try:
        with pytest.raises(ValueError, match="api='live'"):
            attacher.attach("rtc_1", delegate=print)
        with pytest.raises(ValueError, match="'realtime' or 'live'"):
            attacher.attach("rtc_1", api="beta")
        assert attacher.active == 0
    finally:
        attacher.close()


@pytest.mark.parametrize("why", ["lease_lost", "shutdown"])
def test_a_worker_letting_go_of_a_live_call_never_ends_the_session(emu: Emulator, why: str) -> None:
    """A lost lease (another worker may own the call now) or this worker's shutdown closes its socket only (the
    handle lets go): a ``session.close`` (``hangup()`` off SIP) would hang up on the caller."""
    from tests.test_phone_attach import container_for

    record = CallRecord(id=f"live_letgo_{why}", api="live", transport="sip", state="accepted", created_at=0.0)
    emu.calls.add(record)
    emu.script_call(record.id, [{"caller": "Hello?"}, {"wait": 30}, "hangup"])
    leases = MemoryCallLeases()
    attacher = CallAttacher(container_for(emu).realtime.realtime_session_service(), leases, owner="w", ttl=0.6)
    try:
        future = attacher.attach(record.id, observers=[lambda event: None], api="live")
        assert future is not None
        emu.calls.wait_until(record.id, lambda r: r.script_state is not None, timeout=DEADLINE)
        if why == "lease_lost":
            leases.close()  # the storage forgot the lease: the next renewal is refused
            end = future.result(DEADLINE)
            assert end is not None
            assert end.reason == "closed"
    finally:
        attacher.close()
    final = emu.calls.get(record.id)
    assert final is not None
    assert final.state == "accepted"  # the caller is still on the line
    assert [e for e in final.client_events if e.event.get("type") == "session.close"] == []
