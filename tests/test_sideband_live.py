"""The GPT-Live sideband controller over real loopback sockets against the emulator's Live sessions and scripts:
Responses delegation answered once through replays, duplicates and re-attaches (outputs, then one
response.create), client delegation answered with thinking then commentary, every unanswered delegation refused
politely, session.closed as the end, update_session validated before sending, and hostile event streams."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sideband_fakes import FAST, ORDER, Tools, delivered, service_for, settled
from waiting import await_until

from realtime_service.emulator import CallRecord, Channel, Emulator, SocketFault
from realtime_service.errors import NotFoundError, RequestValidationError
from realtime_service.sideband.events import DelegationCreated, ResponseEnvelope, SessionClosed, parse_event
from realtime_service.sideband.live import APPEND_CHARS, REFUSAL, DelegationContext
from realtime_service.sideband.realtime import ToolRunner

RESPONSES = {"type": "responses", "responses": {"model": "gpt-5.4-mini"}}


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


def add_session(emulator: Emulator, session_id: str, script: Any = None, *, delegation: Any = None) -> None:
    session: dict[str, Any] = {"type": "live", "model": "gpt-live-1"}
    if delegation is not None:
        session["delegation"] = delegation
    record = CallRecord(id=session_id, api="live", transport="sip", state="accepted", created_at=0.0, session=session)
    emulator.calls.add(record)
    if script is not None:
        emulator.script_call(session_id, script)


def sent(record: CallRecord, *types: str) -> list[dict[str, Any]]:
    return [e.event for e in record.client_events if e.event.get("type") in types]


async def recorded(emulator: Emulator, session_id: str, kind: str, count: int = 1) -> CallRecord:
    """The record once the emulator has received ``count`` events of ``kind`` (a send returns before that)."""
    return await asyncio.to_thread(
        emulator.calls.wait_until, session_id, lambda r: len(sent(r, kind)) >= count, timeout=10
    )


def play(emulator: Emulator, session_id: str, **options: Any) -> Any:
    """Attach, wait for the end; (end, handle, record)."""

    async def main() -> Any:
        handle = await service_for(emulator).aattach_live_session(session_id, **FAST, **options)
        return await asyncio.wait_for(handle.closed(), 60), handle

    end, handle = asyncio.run(main())
    return end, handle, settled(emulator, session_id)


def test_a_responses_tool_is_answered_once_despite_a_replay_and_a_duplicate(emu: Emulator) -> None:
    script = [*ORDER[:3], {"replay": {"seconds": 3}}, *ORDER[3:]]
    add_session(emu, "live_replay", script)
    emu.enqueue_socket(SocketFault.duplicate("response.output_item.done"), call_id="live_replay")
    tools = Tools()
    end, handle, record = play(emu, "live_replay", tools=tools)
    assert record.script_state.status == "done", record.script_state
    assert [call for _, _, call in tools.runs] == ["call_1"]
    (output,) = sent(record, "response.item.create")
    assert output["item"]["call_id"] == "call_1"
    assert json.loads(output["item"]["output"]) == {"order_id": "1234", "status": "shipped"}
    assert len(sent(record, "response.create")) == 1
    assert handle.duplicate_events > 1
    assert not sent(record, "session.start", "session.input_audio.append", "conversation.item.create")
    assert end.reason == "remote_hangup"  # session.closed's reason
    assert end.usage is not None
    assert "seconds" in end.usage


DRIVER_DONE = threading.Event()


def two_calls_driver(channel: Channel) -> None:
    """One Responses delegation whose backend response holds a reasoning item, then two function calls; its
    lifecycle snapshots are trimmed (``output: []``). The app must send both outputs, then one response.create."""

    def backend(event: dict[str, Any]) -> None:
        channel.send({"type": "response.event", "delegation_id": "deleg_two", "event": event})

    channel.send(
        {
            "type": "session.delegation.created",
            "delegation": {"id": "deleg_two", "type": "delegation", "target": "responses", "response_id": "resp_t"},
        }
    )
    backend({"type": "response.created", "response": {"id": "resp_t", "status": "in_progress", "output": []}})
    backend({"type": "response.output_item.done", "output_index": 0, "item": {"type": "reasoning", "id": "rs_1"}})
    for index, call in enumerate(["call_a", "call_b"], start=1):
        item = {
            "type": "function_call",
            "status": "completed",
            "name": "lookup_order",
            "call_id": call,
            "arguments": json.dumps({"order_id": call[-1]}),
        }
        backend({"type": "response.output_item.done", "output_index": index, "item": item, "extra": {"x": 1}})
    backend({"type": "response.web_search_call.completed", "item_id": "ws_1"})  # a type we do not know
    done = {"id": "resp_t", "status": "completed", "output": [], "usage": {"total_tokens": 9}}
    backend({"type": "response.completed", "response": done})
    while (event := channel.receive(timeout=30)) is not None:
        if event.get("type") == "response.create":
            DRIVER_DONE.set()
            return


def test_two_calls_get_two_item_creates_then_one_response_create(emu: Emulator) -> None:
    add_session(emu, "live_two", delegation=RESPONSES)
    emu.on_sideband = two_calls_driver
    DRIVER_DONE.clear()
    tools = Tools(gate=2)  # neither finishes before both started: they run at once

    async def main() -> Any:
        handle = await service_for(emu).aattach_live_session("live_two", tools=tools)
        assert await asyncio.to_thread(DRIVER_DONE.wait, 30)
        return await handle.detach()

    end = asyncio.run(main())
    record = emu.calls.get("live_two")
    assert record is not None
    kinds = [e["type"] for e in sent(record, "response.item.create", "response.create")]
    assert kinds == ["response.item.create", "response.item.create", "response.create"]
    assert [e["item"]["call_id"] for e in sent(record, "response.item.create")] == ["call_a", "call_b"]
    assert sorted(call for _, _, call in tools.runs) == ["call_a", "call_b"]
    assert end.usage == {"total_tokens": 9}


async def balance(ctx: DelegationContext) -> str:
    assert any(turn.speaker == "user" and "balance" in turn.text for turn in ctx.transcript), ctx.transcript
    await ctx.think("Looking up the account balance.")
    return "Your balance is 42 dollars."


def sync_balance(ctx: DelegationContext) -> str:
    assert "user: What is my balance?" in ctx.text, ctx.text
    return "Your balance is 42 dollars."


@pytest.mark.parametrize("delegate", [balance, sync_balance])
def test_a_client_delegation_is_answered_with_thinking_then_commentary(emu: Emulator, delegate: Any) -> None:
    script = [
        {"caller": "What is my balance?"},
        {"delegate": {"id": "deleg_1"}},
        {"expect_commentary": {"contains": "42", "timeout": 10}},
        "hangup",
    ]
    add_session(emu, "live_client", script)
    _end, handle, record = play(emu, "live_client", delegate=delegate)
    assert record.script_state.status == "done", record.script_state
    appends = sent(record, "session.thinking.append", "session.commentary.append")
    if delegate is balance:
        assert [e["type"] for e in appends] == ["session.thinking.append", "session.commentary.append"]
    assert all(e["delegation_id"] == "deleg_1" for e in appends)
    assert handle.delegations_answered == 1
    assert handle.delegations_refused == 0


async def never_answers(ctx: DelegationContext) -> str:
    await asyncio.Event().wait()
    return "never"


async def explodes(ctx: DelegationContext) -> str:
    raise RuntimeError("boom sk-should-not-leak Traceback")


async def silent(ctx: DelegationContext) -> None:
    await ctx.think("thinking only")


@pytest.mark.parametrize("delegate", [never_answers, explodes, silent, None])
def test_an_unanswered_delegation_is_refused_politely(
    emu: Emulator, delegate: Any, caplog: pytest.LogCaptureFixture
) -> None:
    script = [
        {"caller": "Transfer all my money."},
        {"delegate": {"id": "deleg_x"}},
        {"expect_commentary": {"contains": "sorry", "timeout": 10}},
        "hangup",
    ]
    add_session(emu, "live_refuse", script)
    with caplog.at_level(logging.WARNING, logger="realtime_service.sideband"):
        _end, handle, record = play(emu, "live_refuse", delegate=delegate, delegation_deadline=0.2)
    assert record.script_state.status == "done", record.script_state
    (refusal,) = sent(record, "session.commentary.append")
    assert refusal == {"type": "session.commentary.append", "content": REFUSAL, "delegation_id": "deleg_x"}
    logged = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(logged) == 1
    assert "live_refuse" in logged[0]
    assert "sk-should-not-leak" not in caplog.text
    assert handle.delegations_refused == 1


@pytest.mark.parametrize("how", ["step", "fault"])
def test_a_dropped_socket_reattaches_and_no_tool_runs_twice(emu: Emulator, how: str) -> None:
    if how == "step":
        add_session(emu, "live_drop", [ORDER[0], ORDER[1], "drop", *ORDER[2:]])
    else:
        add_session(emu, "live_drop", ORDER)
        emu.enqueue_socket(SocketFault.drop(event_type="response.completed"), call_id="live_drop")
    tools = Tools()
    end, handle, record = play(emu, "live_drop", tools=tools)
    assert record.script_state.status == "done", record.script_state
    assert len(tools.runs) == 1
    assert len(delivered(record, "response.item.create")) == 1  # once per connection at most: a re-send
    assert handle.reattaches == 1 == end.reattaches
    assert end.reason == "remote_hangup"


@pytest.mark.parametrize("let_go", ["close", "detach"])
def test_close_lets_go_of_the_session_and_hangup_ends_it(emu: Emulator, let_go: str) -> None:
    """``close()`` (and its other name ``detach()``) means what it means on a Realtime handle: the socket goes, the
    session stays (it can be attached again); ending it is ``hangup()``, a ``session.close`` off SIP."""
    add_session(emu, "live_close")

    async def main() -> Any:
        first = await service_for(emu).aattach_live_session("live_close")
        let_go_end = await getattr(first, let_go)()
        still = emu.calls.get("live_close")
        assert still is not None
        assert (still.state, sent(still, "session.close")) == ("accepted", [])
        second = await service_for(emu).aattach_live_session("live_close")  # a closed session would refuse it
        return let_go_end, await second.hangup()

    let_go_end, end = asyncio.run(main())
    assert let_go_end.reason == "closed"
    record = emu.calls.get("live_close")
    assert record is not None
    assert record.state == "hung_up"
    assert [e["type"] for e in sent(record, "session.close")] == ["session.close"]  # the hang-up's only
    assert end.reason == "close_requested"
    assert end.detail == "hung_up"  # this side asked
    assert end.code == 1000


@pytest.mark.parametrize("transport", ["sip", None])
def test_max_call_seconds_ends_the_session_by_its_transport(emu: Emulator, transport: str | None) -> None:
    add_session(emu, "live_long")

    async def main() -> Any:
        handle = await service_for(emu).aattach_live_session("live_long", max_call_seconds=0.05, transport=transport)
        return await asyncio.wait_for(handle.closed(), 60)

    end = asyncio.run(main())
    record = emu.calls.get("live_long")
    assert record is not None
    assert record.state == "hung_up"
    assert end.reason == "close_requested"
    assert end.detail == "max_call_seconds"
    rest = [d.action for d in record.decisions if d.action == "hangup"]
    assert (rest, len(sent(record, "session.close"))) == ((["hangup"], 0) if transport == "sip" else ([], 1))


def test_say_and_instructions_append_with_a_null_delegation_id_in_chunks(emu: Emulator) -> None:
    add_session(emu, "live_say")
    text = "word " * 600  # 3,000 characters: three appends

    async def main() -> Any:
        handle = await service_for(emu).aattach_live_session("live_say", transport="sip")
        await handle.say(text)
        await handle.instructions("Be brief.")
        with pytest.raises(RequestValidationError):
            await handle.say("  ")
        return await handle.hangup()

    end = asyncio.run(main())
    record = emu.calls.get("live_say")
    assert record is not None
    commentary = sent(record, "session.commentary.append")
    assert "".join(e["content"] for e in commentary) == text
    assert len(commentary) == 3
    assert all(len(e["content"]) <= APPEND_CHARS for e in commentary)
    assert all(e["delegation_id"] is None for e in commentary)
    assert sent(record, "session.instructions.append") == [
        {"type": "session.instructions.append", "content": "Be brief.", "delegation_id": None}
    ]
    assert [d.action for d in record.decisions][-1] == "hangup"  # REST for a SIP session
    assert not sent(record, "session.close")
    assert record.state == "hung_up"
    assert end.reason == "close_requested"
    assert end.detail == "hung_up"


def test_update_session_refuses_a_delegation_type_change_before_sending(emu: Emulator) -> None:
    add_session(emu, "live_update", delegation={"type": "client"})

    async def main() -> None:
        handle = await service_for(emu).aattach_live_session("live_update", delegation_type="client")
        with pytest.raises(RequestValidationError) as changed:
            await handle.update_session({"delegation": RESPONSES})
        assert "session.delegation.type" in changed.value.messages
        with pytest.raises(RequestValidationError) as immutable:
            await handle.update_session({"instructions": "new"})
        assert "session.instructions" in immutable.value.messages
        with pytest.raises(RequestValidationError) as bad:
            await handle.update_session({"triggers": [{"type": "decisions", "event_type": "nope"}]})
        assert any(name.startswith("session.triggers") for name in bad.value.messages)
        await handle.update_session({"triggers": []})
        await recorded(emu, "live_update", "session.update")
        await handle.detach()

    asyncio.run(main())
    record = emu.calls.get("live_update")
    assert record is not None
    assert sent(record, "session.update") == [{"type": "session.update", "session": {"triggers": []}}]


def test_a_responses_session_takes_a_sparse_update_and_refuses_null(emu: Emulator) -> None:
    add_session(emu, "live_sparse", delegation=RESPONSES)

    async def main() -> None:
        handle = await service_for(emu).aattach_live_session("live_sparse", delegation_type="responses")
        with pytest.raises(RequestValidationError) as null:
            await handle.update_session({"delegation": None})
        assert "session.delegation" in null.value.messages
        await handle.update_session({"delegation": {"responses": {"instructions": "Be brief."}}})
        await recorded(emu, "live_sparse", "session.update")
        await handle.detach()

    asyncio.run(main())
    record = emu.calls.get("live_sparse")
    assert record is not None
    (update,) = sent(record, "session.update")
    assert update["session"] == {"delegation": {"type": "responses", "responses": {"instructions": "Be brief."}}}


def hostile_driver(channel: Channel) -> None:
    """Wrong types, missing ids, huge arguments, arguments that are not JSON, envelopes without an event, a
    client delegation with no delegate; then one good Responses batch, whose create ends the driver."""

    def backend(event: Any, delegation: Any = "deleg_h") -> None:
        channel.send({"type": "response.event", "delegation_id": delegation, "event": event})

    fc = {"type": "function_call", "status": "completed", "name": "lookup_order"}

    def done(item: Any) -> dict[str, Any]:
        return {"type": "response.output_item.done", "output_index": 0, "item": item}

    for event in [
        {"type": 5},
        {"type": "response.event"},
        {"type": "response.event", "event": "text"},
        {"type": "response.event", "event": {"type": None}},
        {"type": "session.delegation.created"},
        {"type": "session.delegation.created", "delegation": {"id": 7, "target": "client"}},
        {"type": "session.delegation.created", "delegation": {"id": "d" * 600, "target": "client"}},
        {"type": "session.delegation.created", "delegation": {"id": "deleg_c", "target": "client"}},
        {"type": "session.input_transcript.delta", "delta": 5},
        {"type": "session.output_transcript.delta", "delta": "x" * 100_000},
        {"type": "session.updated", "session": "no"},
        {"type": "error", "error": "text"},
    ]:
        channel.send(event)
    backend(done("not an item"))
    backend(done({**fc, "arguments": "{}"}))  # no call_id
    backend(done({**fc, "call_id": 12, "arguments": "{}"}))
    backend(done({**fc, "call_id": "call_nojson", "arguments": "{not json"}))
    backend(done({**fc, "call_id": "call_dict", "arguments": {"order_id": "1"}}))
    backend(done({**fc, "call_id": "call_huge", "arguments": json.dumps({"order_id": "x" * (512 * 1024)})}))
    backend(done({**fc, "call_id": "call_nojson", "arguments": '{"order_id": "again"}'}))  # same call_id
    backend(done({**fc, "status": "incomplete", "call_id": "call_cut", "arguments": "{}"}))
    backend({"type": "response.completed", "response": "not a mapping"})
    backend({"type": "response.completed", "response": {"output": []}}, delegation=None)
    while (event := channel.receive(timeout=30)) is not None:
        if event.get("type") == "response.create":
            DRIVER_DONE.set()
            return


def test_a_hostile_event_stream_never_crashes_the_controller(emu: Emulator) -> None:
    add_session(emu, "live_hostile", delegation=RESPONSES)
    emu.on_sideband = hostile_driver
    DRIVER_DONE.clear()
    tools = Tools()

    async def main() -> Any:
        handle = await service_for(emu).aattach_live_session("live_hostile", tools=tools, max_reattaches=0)
        assert await asyncio.to_thread(DRIVER_DONE.wait, 30)
        return await handle.detach(), handle

    end, handle = asyncio.run(main())
    record = emu.calls.wait_until(
        "live_hostile", lambda r: bool(sent(r, "session.commentary.append")), timeout=10
    )  # the refusal (no delegate) may land after the batch
    by_call = {e["item"]["call_id"]: json.loads(e["item"]["output"]) for e in sent(record, "response.item.create")}
    assert set(by_call) == {"call_nojson", "call_dict", "call_huge"}
    assert by_call["call_nojson"] == {"error": "bad arguments"}
    assert "error" in by_call["call_dict"]
    assert by_call["call_huge"]["order_id"] == "x" * (512 * 1024)
    assert len(sent(record, "response.create")) == 1
    assert sorted(call for _, _, call in tools.runs) == ["call_huge", "call_nojson"]
    (refusal,) = sent(record, "session.commentary.append")
    assert refusal["delegation_id"] == "deleg_c"
    assert handle.ignored_events >= 3
    assert end.reason == "closed"


def test_live_events_are_typed_and_hostile_ones_kept() -> None:
    envelope = parse_event({"type": "response.event", "event_id": "e1", "event": {"type": "response.completed"}})
    assert isinstance(envelope, ResponseEnvelope)
    assert envelope.inner.type == "response.completed"
    created = parse_event({"type": "session.delegation.created", "delegation": {"id": "d1", "target": "client"}})
    assert isinstance(created, DelegationCreated)
    assert created.target == "client"
    closed = parse_event({"type": "session.closed", "reason": 5, "usage": [1]})
    assert isinstance(closed, SessionClosed)
    assert closed.reason is None
    assert closed.usage is None
    assert type(parse_event({"type": "session.delegation.created", "delegation": {"id": 3}})).__name__ == "ServerEvent"


def test_tools_protocol_is_what_the_live_controller_takes() -> None:
    assert isinstance(Tools(), ToolRunner)


def test_an_azure_service_attaches_to_the_live_path_and_an_unknown_session_is_not_found(emu: Emulator) -> None:
    with Emulator(azure=True) as azure:
        add_session(azure, "live_azure", [{"delegate": {"id": "deleg_az"}}, {"expect_commentary": {}}, "hangup"])
        service = service_for(azure, provider="azure", base_url=azure.azure_endpoint, api_version="2025-04-01-preview")

        async def main() -> Any:
            handle = await service.aattach_live_session("live_azure", **FAST)
            return await asyncio.wait_for(handle.closed(), 60)

        end = asyncio.run(main())
        record = settled(azure, "live_azure")
        assert record.script_state.status == "done", record.script_state  # refused politely: no delegate
        assert end.reason == "remote_hangup"
        assert any(r.path == "/openai/v1/live/sessions/live_azure/attach" for r in azure.requests)

    async def unknown() -> None:
        await service_for(emu).aattach_live_session("live_nobody")

    with pytest.raises(NotFoundError):
        asyncio.run(unknown())


def test_the_transcript_stays_bounded_when_one_speaker_never_stops() -> None:
    from realtime_service.sideband import live

    async def main() -> Any:
        async def never() -> Any:
            raise AssertionError("not connected in this test")

        controller = live.LiveController("live_t", never)
        for _ in range(live.TRANSCRIPT_CHARS // 5 + 1000):
            controller._dispatch(parse_event({"type": "session.input_transcript.delta", "delta": "word "}))
        endless = controller.turns
        controller._dispatch(parse_event({"type": "session.output_transcript.delta", "delta": "x" * 20_000}))
        controller._dispatch(parse_event({"type": "session.input_transcript.delta", "delta": "last"}))
        return endless, controller.turns

    endless, turns = asyncio.run(main())
    (only,) = endless
    assert only.speaker == "user"
    assert len(only.text) <= live.TRANSCRIPT_CHARS
    assert only.text.endswith("word word ")  # its newest words kept
    assert [(turn.speaker, len(turn.text)) for turn in turns] == [("assistant", 20_000), ("user", 4)]


def test_delegations_that_never_end_are_bounded() -> None:
    from realtime_service.sideband import live

    async def main() -> Any:
        async def never() -> Any:
            raise AssertionError("not connected in this test")

        controller = live.LiveController("live_b", never)
        for number in range(live.MAX_BATCHES + 5):
            item = {"type": "function_call", "status": "completed", "name": "f", "call_id": f"c{number}"}
            inner = {"type": "response.output_item.done", "item": {**item, "arguments": "{}"}}
            controller._dispatch(parse_event({"type": "response.event", "delegation_id": f"d{number}", "event": inner}))
        return controller

    controller = asyncio.run(main())
    assert len(controller._batches) == live.MAX_BATCHES
    assert "d0" not in controller._batches
    assert controller._batches[f"d{live.MAX_BATCHES + 4}"].calls == {f"c{live.MAX_BATCHES + 4}"}
    assert controller.ignored_events == 5


def test_an_answer_ready_while_the_socket_is_down_waits_for_the_reattach(emu: Emulator) -> None:
    script = [
        {"caller": "What is my balance?"},
        {"delegate": {"id": "deleg_gap"}},
        "drop",
        {"expect_commentary": {"contains": "42", "timeout": 10}},
        "hangup",
    ]
    add_session(emu, "live_gap", script)
    handles: list[Any] = []

    async def answers_in_the_gap(ctx: DelegationContext) -> str:
        controller = handles[0]._live
        await await_until(lambda: controller._socket is None, what="the drop")  # the socket is down now
        return "Your balance is 42 dollars."

    async def main() -> Any:
        handle = await service_for(emu).aattach_live_session(
            "live_gap", delegate=answers_in_the_gap, reattach_delay=0.2
        )
        handles.append(handle)
        return await asyncio.wait_for(handle.closed(), 60)

    end = asyncio.run(main())
    record = settled(emu, "live_gap")
    assert record.script_state.status == "done", record.script_state
    assert end.reattaches == 1
    (answer,) = sent(record, "session.commentary.append")
    assert answer["delegation_id"] == "deleg_gap"
    assert handles[0].delegations_answered == 1
