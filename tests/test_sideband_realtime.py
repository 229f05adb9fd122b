"""The Realtime sideband controller over real loopback sockets against the emulator: scripted calls played to
their end, each tool run once through replays, duplicates and re-attaches, outputs then one response.create,
hostile event streams, the handle's controls, the key absent from DEBUG logs, Azure, and the sync-host thread."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sideband_fakes import FAST, ORDER, Tools, delivered, service_for, settled

from realtime_service.emulator import CallRecord, Channel, Emulator, SocketFault
from realtime_service.errors import AuthenticationError, ConfigurationError, NotFoundError, RequestValidationError
from realtime_service.service import RealtimeSessionService
from realtime_service.sideband.connection import live_sideband_url, realtime_sideband_url
from realtime_service.sideband.events import OutputItemDone, ServerEvent, Transcript, parse_event
from realtime_service.sideband.realtime import ToolRunner
from realtime_service.sideband.threaded import SidebandThread


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


def add_call(emulator: Emulator, call_id: str, script: Any = None) -> None:
    emulator.calls.add(CallRecord(id=call_id, api="realtime", transport="sip", state="accepted", created_at=0.0))
    if script is not None:
        emulator.script_call(call_id, script)


def outputs(record: CallRecord) -> list[dict[str, Any]]:
    return [
        e.event["item"]
        for e in record.client_events
        if e.event.get("type") == "conversation.item.create" and e.event["item"].get("type") == "function_call_output"
    ]


def kinds(record: CallRecord) -> list[str]:
    return [str(e.event.get("type")) for e in record.client_events]


def play(emulator: Emulator, call_id: str, tools: ToolRunner | None, **options: Any) -> Any:
    """Attach, wait for the end, return (end, record)."""

    async def main() -> Any:
        handle = await service_for(emulator).aattach_call(call_id, tools=tools, **FAST, **options)
        return await asyncio.wait_for(handle.closed(), 60), handle

    end, handle = asyncio.run(main())
    return end, handle, settled(emulator, call_id)


def test_the_order_call_plays_to_done_with_the_tool_run_once(emu: Emulator) -> None:
    add_call(emu, "rtc_order", ORDER)
    tools = Tools()
    heard: list[ServerEvent] = []
    end, handle, record = play(emu, "rtc_order", tools, observers=[heard.append])
    assert record.script_state.status == "done", record.script_state
    assert [(n, json.loads(a), c) for n, a, c in tools.runs] == [("lookup_order", {"order_id": "1234"}, "call_1")]
    assert outputs(record) == [
        {"type": "function_call_output", "call_id": "call_1", "output": '{"order_id": "1234", "status": "shipped"}'}
    ]
    assert end.reason == "server_closed"
    assert end.code == 1000
    assert record.state == "hung_up"
    said = [e.text for e in heard if isinstance(e, Transcript) and e.role == "assistant"]
    assert said == ["Your order 1234 ships tomorrow."]
    assert handle.tools_run == 1


def test_a_replay_and_a_duplicated_event_run_the_tool_once(emu: Emulator) -> None:
    script = [*ORDER[:3], {"replay": {"seconds": 3}}, *ORDER[3:]]
    add_call(emu, "rtc_replay", script)
    emu.enqueue_socket(SocketFault.duplicate("response.output_item.done"), call_id="rtc_replay")
    tools = Tools()
    _end, handle, record = play(emu, "rtc_replay", tools)
    assert record.script_state.status == "done", record.script_state
    assert len(tools.runs) == 1
    assert len(outputs(record)) == 1
    assert [f.action for f in record.socket_faults] == ["duplicate"]
    assert handle.duplicate_events > 1  # the duplicate and the replayed events were seen and dropped


def test_two_calls_in_a_row_get_their_outputs_then_one_response_create(emu: Emulator) -> None:
    script = [
        {"caller": "Where are orders 1 and 2?"},
        {"model_calls": {"name": "lookup_order", "arguments": {"order_id": "1"}, "call_id": "call_a"}},
        {"model_calls": {"name": "lookup_order", "arguments": {"order_id": "2"}, "call_id": "call_b"}},
        {"expect_output": {"call_id": "call_a", "timeout": 10}},
        {"expect_output": {"call_id": "call_b", "timeout": 10}},
        {"model_says": "Both shipped."},
        "hangup",
    ]
    add_call(emu, "rtc_two", script)
    tools = Tools(gate=2)  # neither finishes before both started: the two run at once
    _end, _, record = play(emu, "rtc_two", tools)
    assert sorted(call for _, _, call in tools.runs) == ["call_a", "call_b"]
    sent = [k for k in kinds(record) if k in ("conversation.item.create", "response.create")]
    assert sent == ["conversation.item.create", "conversation.item.create", "response.create"]
    assert [o["call_id"] for o in outputs(record)] == ["call_a", "call_b"]
    assert record.script_state.status == "done", record.script_state


def test_a_tool_that_raises_gives_an_error_output_and_the_call_goes_on(
    emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    script = [
        {"model_calls": {"name": "explode", "arguments": {}, "call_id": "call_x"}},
        {"expect_output": {"timeout": 10}},
        {"model_says": "Sorry, that failed."},
        "hangup",
    ]
    add_call(emu, "rtc_boom", script)
    with caplog.at_level(logging.WARNING, logger="realtime_service.sideband"):
        end, _, record = play(emu, "rtc_boom", Tools())
    assert record.script_state.status == "done", record.script_state
    (output,) = outputs(record)
    assert json.loads(output["output"]) == {"error": "the tool failed"}
    assert "boom" not in output["output"]
    failures = [r for r in caplog.records if "raised RuntimeError" in r.getMessage()]
    assert len(failures) == 1
    assert "rtc_boom" in failures[0].getMessage()
    assert all(r.call_id == "rtc_boom" for r in caplog.records if r.name == "realtime_service.sideband")  # JSON field
    assert end.reason == "server_closed"


def hostile_driver(channel: Channel) -> None:
    """Wrong types, missing ids, bad arguments, a huge arguments string, a repeated call_id; then one good call,
    answered; then the driver returns (the socket closes)."""

    def item_done(item: Any, **more: Any) -> dict[str, Any]:
        return {"type": "response.output_item.done", "response_id": "resp_h", "output_index": 0, "item": item, **more}

    fc = {"type": "function_call", "status": "completed", "name": "lookup_order"}
    for event in [
        {"type": 5},
        {"type": None, "event_id": "evt_none"},
        {"type": "response.created", "response": "not a mapping"},
        {"type": "response.done", "response": ["no"]},
        {"type": "error", "error": "text"},
        {"type": "response.created", "response": {"id": "resp_h", "status": "in_progress"}},
        item_done("not an item"),
        item_done({**fc, "arguments": "{}"}),  # no call_id
        item_done({**fc, "call_id": 12, "arguments": "{}"}),  # call_id of the wrong type
        item_done({**fc, "call_id": "call_nojson", "arguments": "{not json"}),
        item_done({**fc, "call_id": "call_dict", "arguments": {"order_id": "1"}}),
        item_done({**fc, "call_id": "call_noname", "name": None, "arguments": "{}"}),
        item_done({**fc, "call_id": "call_huge", "arguments": json.dumps({"order_id": "x" * (512 * 1024)})}),
        item_done({**fc, "call_id": "call_nojson", "arguments": '{"order_id": "again"}'}),  # same call_id, new event
        item_done({**fc, "status": "incomplete", "call_id": "call_cut", "arguments": "{}"}),
        {"type": "response.done", "response": {"id": "resp_h", "status": "completed", "usage": {"total_tokens": 7}}},
    ]:
        channel.send(event)
    expected = {"call_nojson", "call_dict", "call_noname", "call_huge"}
    seen: set[str] = set()
    while (event := channel.receive(timeout=30)) is not None:
        if event["type"] == "conversation.item.create":
            seen.add(event["item"]["call_id"])
        if event["type"] == "response.create":
            channel.send({"type": "response.created", "response": {"id": "resp_2", "status": "in_progress"}})
            channel.send({"type": "response.done", "response": {"id": "resp_2", "status": "completed"}})
            if seen >= expected:
                DRIVER_DONE.set()
                return


DRIVER_DONE = threading.Event()


def test_a_hostile_event_stream_never_crashes_the_controller(emu: Emulator) -> None:
    add_call(emu, "rtc_hostile")
    emu.on_sideband = hostile_driver
    DRIVER_DONE.clear()
    tools = Tools()

    async def main() -> Any:
        handle = await service_for(emu).aattach_call("rtc_hostile", tools=tools, max_reattaches=0)
        assert await asyncio.to_thread(DRIVER_DONE.wait, 30)
        return await handle.close(), handle

    end, handle = asyncio.run(main())
    record = emu.calls.get("rtc_hostile")
    by_call = {o["call_id"]: json.loads(o["output"]) for o in outputs(record)}
    assert set(by_call) == {"call_nojson", "call_dict", "call_noname", "call_huge"}
    assert by_call["call_nojson"] == {"error": "bad arguments"}
    assert "error" in by_call["call_dict"]
    assert "error" in by_call["call_noname"]
    assert by_call["call_huge"] == {"order_id": "x" * (512 * 1024), "status": "shipped"}
    assert sorted(call for _, _, call in tools.runs) == ["call_huge", "call_nojson"]  # each once, no incomplete
    assert kinds(record).count("response.create") == 1
    assert handle.ignored_events >= 2  # the calls without a usable call_id
    assert end.reason == "closed"
    assert end.usage == {"total_tokens": 7}


def colliding_driver(channel: Channel) -> None:
    """A function call; the app's first response.create collides with a response the server's VAD started (the
    error the API sends, then that response's created/done); the app must create again after it, once."""
    channel.send({"type": "response.created", "response": {"id": "resp_1", "status": "in_progress"}})
    item = {"type": "function_call", "status": "completed", "name": "lookup_order", "call_id": "call_c"}
    channel.send({"type": "response.output_item.done", "response_id": "resp_1", "item": {**item, "arguments": "{}"}})
    channel.send({"type": "response.done", "response": {"id": "resp_1", "status": "completed"}})
    creates = 0
    while (event := channel.receive(timeout=30)) is not None:
        if event["type"] != "response.create":
            continue
        creates += 1
        if creates == 1:
            problem = {"code": "conversation_already_has_active_response", "event_id": event.get("event_id")}
            channel.send({"type": "error", "error": {"type": "invalid_request_error", **problem}})
            channel.send({"type": "response.created", "response": {"id": "resp_vad", "status": "in_progress"}})
            channel.send({"type": "response.done", "response": {"id": "resp_vad", "status": "completed"}})
        else:
            channel.send({"type": "response.created", "response": {"id": "resp_2", "status": "in_progress"}})
            channel.send({"type": "response.done", "response": {"id": "resp_2", "status": "completed"}})
            DRIVER_DONE.set()
            return


def test_a_create_refused_for_an_active_response_goes_again_after_it(emu: Emulator) -> None:
    add_call(emu, "rtc_collide")
    emu.on_sideband = colliding_driver
    DRIVER_DONE.clear()
    tools = Tools()

    async def main() -> Any:
        handle = await service_for(emu).aattach_call("rtc_collide", tools=tools)
        assert await asyncio.to_thread(DRIVER_DONE.wait, 30)
        return await handle.close()

    asyncio.run(main())
    record = emu.calls.get("rtc_collide")
    sent = [k for k in kinds(record) if k in ("conversation.item.create", "response.create")]
    assert sent == ["conversation.item.create", "response.create", "response.create"]  # the emulator refused none
    assert len(tools.runs) == 1


def test_a_hanging_tool_times_out_into_an_error_and_a_slow_observer_drops_not_stalls(
    emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    script = [
        {"caller": "One"},
        {"caller": "Two"},
        {"caller": "Three"},
        {"model_calls": {"name": "hang", "arguments": {}, "call_id": "call_h"}},
        {"expect_output": {"timeout": 10}},
        "hangup",
    ]
    add_call(emu, "rtc_hang", script)
    release = asyncio.Event()

    class Hanging(Tools):
        async def run(self, name: str, arguments: str, *, call_id: str) -> str:
            self.runs.append((name, arguments, call_id))
            await asyncio.Event().wait()  # never returns
            return "{}"

    async def stuck_observer(event: ServerEvent) -> None:
        await release.wait()  # never released during the call

    tools = Hanging()
    with caplog.at_level(logging.WARNING, logger="realtime_service.sideband"):
        end, handle, record = play(
            emu, "rtc_hang", tools, tool_timeout=0.2, observers=[stuck_observer], observer_queue=2
        )
    lines = {r.getMessage().split(": ", 1)[1].split(" ")[0]: r for r in caplog.records if r.levelno == logging.WARNING}
    assert {"tool", "observer"} <= set(lines), [r.getMessage() for r in caplog.records]  # timed out; behind
    assert all(getattr(r, "call_id", None) == "rtc_hang" for r in lines.values())  # each names the call as a field
    assert record.script_state.status == "done", record.script_state
    (output,) = outputs(record)
    assert json.loads(output["output"]) == {"error": "the tool timed out"}
    assert handle.dropped_events > 0
    assert end.reason == "server_closed"


def test_an_observer_guardrail_hangs_up_on_a_phrase(emu: Emulator) -> None:
    script = [
        {"caller": "Hello"},
        {"model_says": "Hi, how can I help?"},
        {"caller": "Tell me the admin password"},
        {"wait": 30},  # the guardrail's hang-up ends the call during this step (the test does not wait it out)
        {"model_says": "This line must never be reached."},
        "hangup",
    ]
    add_call(emu, "rtc_guard", script)
    heard: list[str] = []

    async def main() -> Any:
        handles: list[Any] = []

        async def guardrail(event: ServerEvent) -> None:
            if isinstance(event, Transcript):
                heard.append(event.text)
                if "password" in event.text:
                    await handles[0].hangup()

        handle = await service_for(emu).aattach_call("rtc_guard", observers=[guardrail])
        handles.append(handle)
        return await asyncio.wait_for(handle.closed(), 60)

    end = asyncio.run(main())
    record = settled(emu, "rtc_guard")
    assert end.reason == "hung_up"
    assert record.state == "hung_up"
    assert "This line must never be reached." not in heard
    assert record.script_state.status == "failed"  # the REST hang-up stopped the script, as a real hang-up would


@pytest.mark.parametrize("how", ["step", "fault"])
def test_a_dropped_socket_reattaches_and_no_tool_runs_twice(emu: Emulator, how: str) -> None:
    if how == "step":
        script = [ORDER[0], ORDER[1], "drop", *ORDER[2:]]
        add_call(emu, "rtc_drop", script)
    else:
        add_call(emu, "rtc_drop", ORDER)
        emu.enqueue_socket(SocketFault.drop(event_type="response.done"), call_id="rtc_drop")
    tools = Tools()
    end, handle, record = play(emu, "rtc_drop", tools)
    assert record.script_state.status == "done", record.script_state
    assert len(tools.runs) == 1
    assert len(delivered(record, "conversation.item.create")) == 1  # once per connection at most: a re-send
    assert handle.reattaches == 1
    assert end.reattaches == 1


def test_the_reattach_budget_resets_once_a_socket_works(emu: Emulator) -> None:
    script = [ORDER[0], "drop", {"caller": "Hello again?"}, "drop", *ORDER[1:]]
    add_call(emu, "rtc_flaky", script)
    tools = Tools()
    end, handle, record = play(emu, "rtc_flaky", tools, max_reattaches=1)
    assert record.script_state.status == "done", record.script_state
    assert handle.reattaches == 2  # two drops, each within a budget of one
    assert len(tools.runs) == 1
    assert end.reason == "server_closed"


def test_update_session_is_validated_before_sending_and_sends_no_audio_format(emu: Emulator) -> None:
    add_call(emu, "rtc_update")

    async def main() -> None:
        handle = await service_for(emu).aattach_call("rtc_update")
        with pytest.raises(RequestValidationError, match=r"session\.audio\.output\.speed"):
            await handle.update_session({"audio": {"output": {"speed": 9}}})
        await handle.update_session({"instructions": "Be brief."})
        seen = await asyncio.to_thread(emu.calls.wait_until, "rtc_update", lambda r: "session.update" in kinds(r), 10)
        assert "session.update" in kinds(seen)
        end = await handle.close()
        assert end.reason == "closed"

    asyncio.run(main())
    record = emu.calls.get("rtc_update")
    (update,) = [e.event for e in record.client_events if e.event["type"] == "session.update"]
    assert update["session"] == {"type": "realtime", "instructions": "Be brief."}
    assert record.state == "accepted"  # closing the sideband leaves the call alone


def test_say_sends_a_response_create_with_instructions_and_hangup_ends_the_call(emu: Emulator) -> None:
    add_call(emu, "rtc_say")

    async def main() -> Any:
        handle = await service_for(emu).aattach_call("rtc_say")
        await handle.say("Welcome to Example Ltd.")
        await handle.say("How can I help?")  # queued behind the first response

        def both(record: CallRecord) -> bool:
            return kinds(record).count("response.create") == 2

        assert both(await asyncio.to_thread(emu.calls.wait_until, "rtc_say", both, 10))
        return await handle.hangup()

    end = asyncio.run(main())
    record = emu.calls.get("rtc_say")
    creates = [e.event for e in record.client_events if e.event["type"] == "response.create"]
    assert [c["response"]["instructions"] for c in creates] == ["Welcome to Example Ltd.", "How can I help?"]
    assert end.reason == "hung_up"
    assert record.state == "hung_up"


def test_refer_transfers_the_call_and_ends_the_sideband(emu: Emulator) -> None:
    add_call(emu, "rtc_refer")

    async def main() -> Any:
        handle = await service_for(emu).aattach_call("rtc_refer")
        return await handle.refer("tel:+14155550123")

    end = asyncio.run(main())
    record = emu.calls.get("rtc_refer")
    assert end.reason == "referred"
    assert record.state == "referred"


def test_max_call_seconds_hangs_up(emu: Emulator) -> None:
    add_call(emu, "rtc_long")
    end, _, record = play(emu, "rtc_long", None, max_call_seconds=0.2)
    assert end.reason == "max_call_seconds"
    assert record.state == "hung_up"


def test_a_wrong_key_is_an_authentication_error_that_does_not_quote_it(emu: Emulator) -> None:
    add_call(emu, "rtc_auth")
    wrong = "sk-wrong-key-0123456789abcdef"
    with pytest.raises(AuthenticationError) as caught:
        asyncio.run(service_for(emu, api_key=wrong).aattach_call("rtc_auth"))
    assert caught.value.status_code == 401
    assert wrong not in str(caught.value)
    assert wrong not in repr(caught.value.body)


def test_an_unknown_call_raises_not_found_and_an_azure_service_refuses_before_connecting(emu: Emulator) -> None:
    with pytest.raises(NotFoundError) as caught:
        asyncio.run(service_for(emu).aattach_call("rtc_nobody"))
    assert caught.value.code == "call_id_not_found"
    with Emulator(azure=True) as azure:
        service = service_for(azure, provider="azure", base_url=azure.azure_endpoint, api_version="2025-04-01-preview")
        with pytest.raises(ConfigurationError, match="Azure OpenAI documents no Realtime sideband"):
            asyncio.run(service.aattach_call("rtc_x"))
        assert not [r for r in azure.requests if "realtime" in r.path]
    assert live_sideband_url("https://res.openai.azure.com", "live_1", provider="azure") == (
        "wss://res.openai.azure.com/openai/v1/live/sessions/live_1/attach"
    )
    assert live_sideband_url("http://127.0.0.1:9/v1", "live_1") == "ws://127.0.0.1:9/v1/live/sessions/live_1/attach"
    assert (
        realtime_sideband_url("https://api.openai.com/v1", "rtc_1") == "wss://api.openai.com/v1/realtime?call_id=rtc_1"
    )
    with pytest.raises(ConfigurationError, match="socket_options"):
        asyncio.run(service_for(emu).aattach_call("rtc_x", socket_options={"logger": None}))
    with pytest.raises(ConfigurationError):
        realtime_sideband_url("https://api.openai.com/v1", "rtc_1&x=y")


def test_the_key_is_in_no_log_line_at_debug(emu: Emulator) -> None:
    add_call(emu, "rtc_logs", ORDER)
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Collect(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    loggers = [logging.getLogger(), *(logging.getLogger(n) for n in list(logging.root.manager.loggerDict))]
    levels = [(each, each.level) for each in loggers]
    for each in loggers:
        each.setLevel(logging.DEBUG)
    logging.getLogger().addHandler(handler)
    try:
        service = service_for(emu, organization="org-logs", project="proj-logs")
        _end, _, record = play_with(service, emu, "rtc_logs")
    finally:
        logging.getLogger().removeHandler(handler)
        for each, level in levels:
            each.setLevel(level)
    assert record.script_state.status == "done"
    # the emulator's own server (standing in for the API) logs what it receives: not ours to redact
    lines = [line for line in lines if not line.startswith("websockets.server ")]
    text = "\n".join(lines)
    assert any("> GET /v1/realtime?call_id=rtc_logs" in line for line in lines)  # the handshake was logged
    assert "Authorization: <redacted>" in text
    assert emu.api_key not in text
    assert emu.api_key[-12:] not in text


def play_with(service: RealtimeSessionService, emulator: Emulator, call_id: str) -> Any:
    async def main() -> Any:
        handle = await service.aattach_call(call_id, tools=Tools(), **FAST)
        return await asyncio.wait_for(handle.closed(), 60), handle

    end, handle = asyncio.run(main())
    return end, handle, settled(emulator, call_id)


def test_a_sync_host_runs_the_sideband_on_its_own_thread(emu: Emulator) -> None:
    add_call(emu, "rtc_sync", ORDER)
    add_call(emu, "rtc_idle")
    service = service_for(emu)
    tools = Tools()

    attached = threading.Event()

    async def attend(call_id: str) -> str:
        handle = await service.aattach_call(call_id, tools=tools, **FAST)
        attached.set()
        return (await handle.closed()).reason

    with SidebandThread() as sidebands:
        done = sidebands.submit(lambda: attend("rtc_sync"))
        idle = sidebands.submit(lambda: attend("rtc_idle"))  # never ends by itself
        assert threading.current_thread() is threading.main_thread()
        assert done.result(timeout=60) == "server_closed"
        assert attached.wait(timeout=10)
    assert idle.cancelled()
    assert len(tools.runs) == 1
    assert not [t for t in threading.enumerate() if t.name == "realtime-sidebands"]


def test_events_are_typed_and_unknown_ones_kept_read_only() -> None:
    event = parse_event({"type": "response.output_item.done", "event_id": "e1", "item": {"type": "function_call"}})
    assert isinstance(event, OutputItemDone)
    assert not event.is_completed_function_call
    unknown = parse_event({"type": "brand.new", "event_id": "e2", "data": {"x": [1]}})
    assert type(unknown) is ServerEvent
    assert unknown.raw["data"]["x"] == (1,)
    with pytest.raises(TypeError):
        unknown.raw["data"]["x"] = 2  # type: ignore[index]


def test_without_websockets_attach_names_the_extra() -> None:
    script = textwrap.dedent(
        """
        import asyncio, importlib.abc, sys

        class Hide(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.partition(".")[0] == "websockets":
                    raise ModuleNotFoundError("hidden", name=name)
                return None

        sys.meta_path.insert(0, Hide())
        from realtime_service.containers import RealtimeContainer
        from realtime_service.errors import ConfigurationError
        container = RealtimeContainer(environ={})
        container.config.from_dict({"api_key": "sk-test-0123456789abcdef", "base_url": "http://127.0.0.1:9/v1"})
        try:
            asyncio.run(container.realtime_session_service().aattach_call("rtc_x"))
        except ConfigurationError as error:
            print(error)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert "realtime-service[sideband]" in result.stdout, result.stderr


@pytest.mark.parametrize("says", [False, True])
def test_a_server_that_keeps_dropping_is_not_re_attached_forever(emu: Emulator, says: bool) -> None:
    """Each socket greets (``session.created``), maybe says one thing, then drops: the greeting alone never gives
    the budget back, and however often a socket worked, a call re-attaches at most 10 x ``max_reattaches`` times."""
    sockets: list[str] = []

    def flaky(channel: Channel) -> None:
        sockets.append(channel.connection_id)
        if says:
            channel.send({"type": "input_audio_buffer.speech_started", "audio_start_ms": 0, "item_id": "item_1"})
        channel.drop()

    emu.on_sideband = flaky
    add_call(emu, "rtc_flapping")
    end, handle, _ = play(emu, "rtc_flapping", None, max_reattaches=2)
    assert end.reason == "error"
    expected = 20 if says else 2
    assert handle.reattaches == expected
    assert len(sockets) == expected + 1
    assert f"after {expected} re-attaches" in (end.detail or "")
