"""Scripted conversations: the format's checks, and the runner over a real in-memory channel.

The channel is two queues (what the runner sends to the app, what the app sends back), events round-tripped
through JSON as a socket would; "the app" is test code reading one queue and writing the other, on another
thread or answering as events arrive. Every event the runner sends is validated against the official SDK's types
(``openai.types.realtime`` / ``openai.types.live``, and ``openai.types.responses`` for GPT-Live's nested
Responses stream), so a shape the SDK cannot read fails here.
"""

from __future__ import annotations

import itertools
import json
import queue
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai.types.live import ConnectServerEvent
from openai.types.realtime import RealtimeServerEvent
from openai.types.responses import ResponseStreamEvent
from pydantic import TypeAdapter

from realtime_service.emulator import Emulator
from realtime_service.emulator.call_registry import UnknownCall
from realtime_service.emulator.script_runner import ChannelClosed, ScriptRunner
from realtime_service.emulator.scripts import (
    DEFAULT_FAILURE,
    DEFAULT_RINGING,
    STEP_NAMES,
    Caller,
    Dial,
    ExpectOutput,
    ExpectSideband,
    Hangup,
    ModelCalls,
    ScriptError,
    ScriptState,
    load_script,
    load_script_file,
)
from realtime_service.errors import ConfigurationError

Event = dict[str, Any]
REALTIME_EVENT: TypeAdapter[Any] = TypeAdapter(RealtimeServerEvent)
LIVE_EVENT: TypeAdapter[Any] = TypeAdapter(ConnectServerEvent)
RESPONSES_EVENT: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
WAIT = 10.0  # seconds a test waits for something that should come at once (a deadline, never a sleep)

ORDER_SCRIPT_YAML = """\
- caller: "Hi, where is my order 1234?"
- model_calls:
    name: lookup_order
    arguments: {order_id: "1234"}
- expect_output: {timeout: 10}
- model_says: "Your order 1234 ships tomorrow."
- hangup
"""


class QueueChannel:
    """A call's conversation as two queues. ``answer``, if given, is the app answering synchronously: called
    with each event sent, it returns the client events to queue for the runner."""

    def __init__(self, answer: Callable[[Event], list[Event]] | None = None) -> None:
        self.to_app: queue.Queue[Event | tuple[str, bool]] = queue.Queue()
        self.from_app: queue.Queue[tuple[str, Event] | None] = queue.Queue()  # (connection, event)
        self.sent: list[Event] = []
        self.closes: list[bool] = []
        self._received_on = ""
        self.gone = False
        self._answer = answer

    def send(self, event: Event) -> None:
        if self.gone:
            raise ChannelClosed
        wire = json.loads(json.dumps(event))  # what a socket carries: JSON, nothing shared
        self.sent.append(wire)
        self.to_app.put(wire)
        if self._answer is not None:
            for reply in self._answer(wire):
                self.from_app.put((self._current(), reply))

    @property
    def connection(self) -> str:
        """The connection the last event received came on: a new one after each drop (a re-attach)."""
        return self._received_on

    def _current(self) -> str:
        return f"conn_{self.closes.count(True)}"

    def receive(self, timeout: float) -> Event | None:
        try:
            event = self.from_app.get(timeout=timeout)
        except queue.Empty:
            return None
        if event is None:
            raise ChannelClosed
        self._received_on, body = event
        return body

    def close(self, *, abnormal: bool) -> None:
        self.closes.append(abnormal)
        self.to_app.put(("close", abnormal))

    # the app's side

    def app_sends(self, event: Event) -> None:
        self.from_app.put((self._current(), json.loads(json.dumps(event))))

    def app_reads(self) -> Event | tuple[str, bool]:
        return self.to_app.get(timeout=WAIT)


def counter_ids() -> Callable[[str], str]:
    numbers = itertools.count(1)
    return lambda prefix: f"{prefix}{next(numbers):06d}"


def play(script: Any, channel: QueueChannel, **options: Any) -> ScriptState:
    return ScriptRunner(load_script(script), channel, **options).run()


# -- the issue's example, end to end -------------------------------------------------------------------------


def function_calls(event: Event) -> tuple[str, str, str] | None:
    """(call_id, name, arguments) when ``event`` is the tool trigger the reference libraries use:
    ``response.output_item.done`` with a completed function_call item (SIDEBAND-NOTES 2.3)."""
    item = event.get("item", {})
    if (
        event["type"] == "response.output_item.done"
        and item.get("type") == "function_call"
        and item.get("status") == "completed"
    ):
        return item["call_id"], item["name"], item["arguments"]
    return None


def test_the_order_example_plays_end_to_end_with_the_app_answering_on_another_thread() -> None:
    channel = QueueChannel()
    states: list[ScriptState] = []
    hung_up = threading.Event()
    runner = ScriptRunner(
        load_script(ORDER_SCRIPT_YAML), channel, session_id="rtc_1", on_state=states.append, on_hangup=hung_up.set
    )
    result: list[ScriptState] = []
    thread = threading.Thread(target=lambda: result.append(runner.run()))
    thread.start()
    received: list[Event] = []
    tool_calls: list[tuple[str, str, str]] = []
    while True:
        event = channel.app_reads()
        if isinstance(event, tuple):
            assert event == ("close", False)
            break
        received.append(event)
        call = function_calls(event)
        if call is not None:
            tool_calls.append(call)
            call_id, _, arguments = call
            order = json.loads(arguments)["order_id"]
            channel.app_sends(
                {
                    "type": "conversation.item.create",
                    "item": {
                        "type": "function_call_output",
                        "call_id": call_id,
                        "output": json.dumps({"order": order, "ships": "tomorrow"}),
                    },
                }
            )
            channel.app_sends({"type": "response.create"})
    thread.join(WAIT)
    assert result == [ScriptState("done")]
    assert hung_up.is_set()
    assert [(name, json.loads(arguments)) for _, name, arguments in tool_calls] == [
        ("lookup_order", {"order_id": "1234"})
    ]
    assert tool_calls[0][0].startswith("call_")
    for event in received:
        REALTIME_EVENT.validate_python(event)
    transcripts = [
        e["transcript"] for e in received if e["type"] == "conversation.item.input_audio_transcription.completed"
    ]
    spoken = [e["transcript"] for e in received if e["type"] == "response.output_audio_transcript.done"]
    assert transcripts == ["Hi, where is my order 1234?"]
    assert spoken == ["Your order 1234 ships tomorrow."]
    # the model speaks only after the app answered: the spoken response is the last one
    kinds = [e["type"] for e in received]
    assert kinds.count("response.created") == kinds.count("response.done") == 2
    assert [s.step_name for s in states if s.status == "playing"] == [
        "caller",
        "model_calls",
        "expect_output",
        "model_says",
        "hangup",
    ]


def test_the_same_example_over_gpt_live_nests_the_call_in_a_responses_delegation() -> None:
    def app(event: Event) -> list[Event]:
        inner = event.get("event", {})
        if event["type"] == "response.event" and inner.get("type") == "response.output_item.done":
            item = inner["item"]
            output = {"type": "function_call_output", "call_id": item["call_id"], "output": '{"ships": "tomorrow"}'}
            return [{"type": "response.item.create", "item": output}, {"type": "response.create"}]
        return []

    channel = QueueChannel(app)
    session = {"id": "live_1", "expires_at": 2_000_000_000, "model": "gpt-live-1", "status": "active"}
    state = play(ORDER_SCRIPT_YAML, channel, api="live", session_id="live_1", session=session)
    assert state == ScriptState("done")
    for event in channel.sent:
        LIVE_EVENT.validate_python(event)
        if event["type"] == "response.event":
            RESPONSES_EVENT.validate_python(event["event"])
    kinds = [e["type"] for e in channel.sent]
    assert kinds[-1] == "session.closed"
    assert channel.sent[-1]["reason"] == "remote_hangup"
    assert channel.closes == [False]
    created = next(e for e in channel.sent if e["type"] == "session.delegation.created")
    assert created["delegation"]["target"] == "responses"
    assert {e["delegation_id"] for e in channel.sent if e["type"] == "response.event"} == {created["delegation"]["id"]}
    said = "".join(e["delta"] for e in channel.sent if e["type"] == "session.input_transcript.delta")
    assert said == "Hi, where is my order 1234?"


def test_a_client_delegation_waits_for_commentary_naming_it() -> None:
    def app(event: Event) -> list[Event]:
        if event["type"] == "session.delegation.created":
            other = {"type": "session.commentary.append", "content": "unrelated", "delegation_id": None}
            mine = {
                "type": "session.commentary.append",
                "content": "It ships tomorrow.",
                "delegation_id": event["delegation"]["id"],
            }
            return [other, mine]
        return []

    channel = QueueChannel(app)
    script = [
        {"caller": "Where is my order?"},
        {"delegate": None},
        {"expect_commentary": {"contains": "tomorrow"}},
        "hangup",
    ]
    assert play(script, channel, api="live", session_id="live_2") == ScriptState("done")
    delegation = next(e for e in channel.sent if e["type"] == "session.delegation.created")["delegation"]
    assert delegation["target"] == "client"
    assert "response_id" not in delegation


def test_one_commentary_answers_one_expect_commentary() -> None:
    def app(event: Event) -> list[Event]:
        if event["type"] == "session.delegation.created":
            return [{"type": "session.commentary.append", "content": "Working on it.", "delegation_id": "d1"}]
        return []

    script = [{"delegate": {"id": "d1"}}, "expect_commentary", {"expect_commentary": {"timeout": 0.01}}]
    state = play(script, QueueChannel(app), api="live")
    assert (state.status, state.step) == ("failed", 2)


def test_expect_commentary_times_out_when_the_app_leaves_the_delegation_silent() -> None:
    channel = QueueChannel()
    state = play(["delegate", {"expect_commentary": {"timeout": 0.01}}], channel, api="live")
    assert (state.status, state.step, state.step_name) == ("failed", 1, "expect_commentary")
    assert "session.commentary.append" in (state.reason or "")


# -- expect_output failures --------------------------------------------------------------------------------------


CALL = [{"model_calls": {"name": "lookup_order", "arguments": {"order_id": "1"}, "call_id": "call_A"}}]


def output(call_id: str, text: str = "{}") -> Event:
    return {
        "type": "conversation.item.create",
        "item": {"type": "function_call_output", "call_id": call_id, "output": text},
    }


def test_expect_output_times_out_and_the_record_says_which_call() -> None:
    state = play([*CALL, {"expect_output": {"timeout": 0.01}}, "hangup"], QueueChannel())
    assert (state.status, state.step, state.step_name) == ("failed", 1, "expect_output")
    assert "function_call_output for call_A" in (state.reason or "")


def test_an_output_then_no_response_create_times_out_naming_the_missing_create() -> None:
    channel = QueueChannel(lambda e: [output("call_A")] if function_calls(e) else [])
    state = play([*CALL, {"expect_output": {"timeout": 0.01}}], channel)
    assert state.status == "failed"
    assert "response.create after the output of call_A" in (state.reason or "")


@pytest.mark.parametrize(
    ("answers", "reason"),
    [
        ([output("call_WRONG"), {"type": "response.create"}], "call_WRONG', which the model never called"),
        ([output("call_A"), output("call_A"), {"type": "response.create"}], "second function_call_output for call_A"),
        ([output("call_A", '{"order": 2}'), {"type": "response.create"}], "is '{\"order\": 2}', not"),
        ([{"type": "conversation.item.create", "item": {"type": "function_call_output", "output": "x"}}], "for None"),
    ],
    ids=["wrong-call-id", "sent-twice", "wrong-output", "no-call-id"],
)
def test_expect_output_fails_on_a_wrong_answer(answers: list[Event], reason: str) -> None:
    channel = QueueChannel(lambda e: answers if function_calls(e) else [])
    script = [*CALL, {"expect_output": {"output": {"order": 1}}}, {"model_says": "never said"}]
    state = play(script, channel)
    assert (state.status, state.step_name) == ("failed", "expect_output"), state
    assert reason in (state.reason or "")
    assert not any(e["type"] == "response.output_audio_transcript.done" for e in channel.sent)


def test_the_same_output_again_on_a_new_connection_is_a_redelivery_not_a_second_run() -> None:
    """An app that re-sends a batch after its socket dropped (it cannot know what arrived) passes; the same output
    twice on one connection still fails (``sent-twice`` above), and so does a different output after a drop."""

    def answers(event: Event) -> list[Event]:  # the output arrived; the response.create was lost in the drop
        return [output("call_A", '{"order": 1}')] if function_calls(event) else []

    channel = QueueChannel(answers)
    script = [*CALL, "drop", {"expect_output": {"output": {"order": 1}, "timeout": WAIT}}, "hangup"]
    runner = ScriptRunner(load_script(script), channel)
    played = threading.Thread(target=runner.run)
    played.start()
    while True not in channel.closes:
        assert channel.app_reads() is not None
    channel.app_sends(output("call_A", '{"order": 1}'))  # the whole batch again, on the new connection
    channel.app_sends({"type": "response.create"})
    played.join(WAIT)
    assert runner.state == ScriptState("done")

    different = QueueChannel(answers)
    runner = ScriptRunner(load_script(script), different)
    played = threading.Thread(target=runner.run)
    played.start()
    while True not in different.closes:
        assert different.app_reads() is not None
    different.app_sends(output("call_A", '{"order": 2}'))
    played.join(WAIT)
    assert (runner.state.status, runner.state.step_name) == ("failed", "expect_output")
    assert "second function_call_output for call_A" in (runner.state.reason or "")


def test_a_response_create_before_the_output_and_none_after_it_fails_naming_that() -> None:
    channel = QueueChannel(lambda e: [{"type": "response.create"}, output("call_A")] if function_calls(e) else [])
    state = play([*CALL, {"expect_output": {"timeout": 0.01}}, {"model_says": "never said"}], channel)
    assert (state.status, state.step_name) == ("failed", "expect_output"), state
    assert state.reason == (
        "no response.create after the output of call_A (one came before it, answering no output) within the "
        "step's timeout"
    )
    assert not any(e["type"] == "response.output_audio_transcript.done" for e in channel.sent)


def test_an_app_turn_before_the_output_is_no_failure_when_a_create_follows_the_output() -> None:
    """A greeting's ``response.create`` (the Agents SDK's SIP example sends one as it attaches) may reach the
    script after its call: the call is answered by the output and the ``response.create`` after it."""
    answers = [{"type": "response.create"}, output("call_A", '{"order": 1}'), {"type": "response.create"}]
    channel = QueueChannel(lambda e: answers if function_calls(e) else [])
    script = [*CALL, {"expect_output": {"output": {"order": 1}}}, {"model_says": "Order 1 ships."}]
    assert play(script, channel) == ScriptState("done")


def test_the_scripted_output_matches_as_json_whatever_the_spacing() -> None:
    answers = [output("call_A", '{ "order" : 1 }'), {"type": "response.create"}]
    channel = QueueChannel(lambda e: answers if function_calls(e) else [])
    assert play([*CALL, {"expect_output": {"output": {"order": 1}}}], channel) == ScriptState("done")


def test_parallel_calls_answered_by_one_response_create() -> None:
    def app(event: Event) -> list[Event]:
        call = function_calls(event)
        if call is None or call[0] != "call_B":
            return []
        return [output("call_A"), output("call_B"), {"type": "response.create"}]

    script = [
        {"model_calls": {"name": "a", "call_id": "call_A"}},
        {"model_calls": {"name": "b", "arguments": "{}", "call_id": "call_B"}},
        {"expect_output": {"call_id": "call_A"}},
        {"expect_output": {"call_id": "call_B"}},
    ]
    assert play(script, QueueChannel(app)) == ScriptState("done")


def test_an_earlier_calls_own_response_create_does_not_fail_the_wait_for_a_later_one() -> None:
    def app(event: Event) -> list[Event]:
        call = function_calls(event)
        return [output(call[0]), {"type": "response.create"}] if call is not None else []

    script = [{"model_calls": {"name": "a", "call_id": "call_A"}}, {"model_calls": {"name": "b"}}, "expect_output"]
    assert play(script, QueueChannel(app)) == ScriptState("done")


def test_forwarded_events_that_are_not_json_objects_are_skipped() -> None:
    channel = QueueChannel()
    for junk in (["a", "list"], "text", 7):
        channel.from_app.put(("conn_0", junk))  # type: ignore[arg-type]
    channel.app_sends(output("call_A"))
    channel.app_sends({"type": "response.create"})
    assert play([*CALL, "expect_output"], channel) == ScriptState("done")


def test_stop_ends_a_playing_script_at_its_step_without_waiting_out_the_wait() -> None:
    channel = QueueChannel()
    playing = threading.Event()
    runner = ScriptRunner(
        load_script([{"caller": "hi"}, {"wait": 3600}, {"model_says": "never"}]),
        channel,
        on_state=lambda state: playing.set() if state.step_name == "wait" else None,
    )
    result: list[ScriptState] = []
    thread = threading.Thread(target=lambda: result.append(runner.run()))
    thread.start()
    assert playing.wait(WAIT)
    runner.stop()
    thread.join(WAIT)
    assert not thread.is_alive()
    assert result == [ScriptState("failed", 2, "model_says", "the call ended before this step")]
    assert not any(e["type"] == "response.created" for e in channel.sent)


def test_the_app_closing_its_socket_fails_the_waiting_step() -> None:
    channel = QueueChannel()
    channel.from_app.put(None)  # the app's side is gone
    state = play([*CALL, "expect_output"], channel)
    assert (state.status, state.step_name, state.reason) == ("failed", "expect_output", "the app's connection closed")


# -- the other steps ---------------------------------------------------------------------------------------------


def test_a_call_without_a_script_is_a_quiet_caller() -> None:
    channel = QueueChannel()
    assert play([], channel) == ScriptState("done")
    assert channel.sent == []
    assert channel.closes == []


def test_wait_uses_the_injected_sleep_and_drop_closes_abnormally_then_the_call_goes_on() -> None:
    slept: list[float] = []
    channel = QueueChannel()
    state = play([{"wait": 2.5}, "drop", {"caller": "still here"}, {"dtmf": "1#"}], channel, sleep=slept.append)
    assert state == ScriptState("done")
    assert slept == [2.5]
    assert channel.closes == [True]
    assert [e["event"] for e in channel.sent if e["type"] == "input_audio_buffer.dtmf_event_received"] == ["1", "#"]
    started = next(e for e in channel.sent if e["type"] == "input_audio_buffer.speech_started")
    assert started["audio_start_ms"] == 2500  # the emulated timeline moved with the wait


def test_replay_resends_the_recent_events_with_their_event_ids() -> None:
    now = [100.0]
    channel = QueueChannel()
    script = [{"caller": "old"}, {"wait": 10}, {"caller": "new words"}, {"replay": {"seconds": 3}}]
    state = play(script, channel, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    assert state == ScriptState("done")
    starts = [i for i, e in enumerate(channel.sent) if e["type"] == "input_audio_buffer.speech_started"]
    assert len(starts) == 3  # old, new, and new's replayed copy
    new, copies = channel.sent[starts[1] : starts[2]], channel.sent[starts[2] :]
    assert copies == new  # the same events, event_ids included; nothing older than 3 s
    assert len({e["event_id"] for e in new}) == len(new)


def test_an_app_that_runs_a_replayed_tool_call_again_fails_the_script() -> None:
    """The replayed ``response.output_item.done`` carries the same event_id: an app that does not deduplicate
    sends a second output, and the record says so."""
    script = [*CALL, "replay", "expect_output"]
    state = play(script, QueueChannel(lambda e: [output(e["item"]["call_id"])] if function_calls(e) else []))
    assert (state.status, state.step_name) == ("failed", "expect_output")
    assert "second function_call_output for call_A" in (state.reason or "")


def test_a_realtime_call_refuses_live_only_steps_before_sending_anything() -> None:
    channel = QueueChannel()
    state = play([{"caller": "hi"}, "delegate"], channel)
    assert (state.status, state.step, state.step_name) == ("failed", 1, "delegate")
    assert channel.sent == []
    with pytest.raises(ScriptError, match=r"step 1 \(delegate\): GPT-Live only"):
        load_script([{"caller": "hi"}, "delegate"], api="realtime")
    with pytest.raises(ScriptError, match=r"step 0 \(dial\): GPT-Live only \(outbound SIP calls\)"):
        load_script(["dial", {"caller": "hi"}], api="realtime")


# -- the format: one form in Python and YAML, a clear error per mistake ------------------------------------------


def test_yaml_and_python_forms_are_equal() -> None:
    python = [
        {"caller": "Hi, where is my order 1234?"},
        {"model_calls": {"name": "lookup_order", "arguments": {"order_id": "1234"}}},
        {"expect_output": {"timeout": 10}},
        {"model_says": "Your order 1234 ships tomorrow."},
        {"hangup": None},
    ]
    assert load_script(ORDER_SCRIPT_YAML) == load_script(python)
    assert load_script(python)[1] == ModelCalls("lookup_order", '{"order_id":"1234"}')
    assert load_script(python)[2] == ExpectOutput(timeout=10.0)
    assert load_script(load_script(python)) == load_script(python)  # a checked script passes as it is
    assert load_script(["hangup"]) == load_script([{"hangup": None}]) == load_script("- hangup:\n") == (Hangup(),)
    assert load_script(["dial"]) == load_script([{"dial": "answered"}]) == load_script("- dial: answered\n")
    assert load_script(["dial"]) == (Dial("answered", DEFAULT_RINGING),)
    failed = "- dial: {outcome: failed, ringing: 2, code: no_answer, message: Nobody picked up.}\n"
    assert load_script(failed) == (Dial("failed", 2.0, "no_answer", "Nobody picked up."),)
    assert load_script([{"dial": "failed"}]) == (Dial("failed", DEFAULT_RINGING, *DEFAULT_FAILURE),)


MISTAKES: list[tuple[list[Any], int, str | None, str]] = [
    ([{"shout": "x"}], 0, None, "step 0: unknown step 'shout'"),
    ([{"caller": "a", "model_says": "b"}], 0, None, "one {name: value} mapping, not a mapping with 2 keys"),
    ([42], 0, None, "not int"),
    ([{"caller": None}], 0, None, "(caller): needs the text said"),
    ([{"caller": 7}], 0, None, "(caller): must be a string, not int"),
    (["caller"], 0, None, "(caller): needs the text said"),
    ([{"model_says": "   "}], 0, None, "(model_says): must not be empty"),
    ([{"model_says": "x" * 100_001}], 0, None, "longer than 100000"),
    ([{"model_calls": {"arguments": {}}}], 0, "name", "(model_calls): name: is required"),
    ([{"model_calls": {"name": "bad name"}}], 0, "name", "function name"),
    ([{"model_calls": {"name": "f", "arguments": [1]}}], 0, "arguments", "must be a mapping"),
    ([{"model_calls": {"name": "f", "arguments": "[1]"}}], 0, "arguments", "must be a JSON object, not a list"),
    ([{"model_calls": {"name": "f", "arguments": "{"}}], 0, "arguments", "must be a JSON object"),
    ([{"model_calls": {"name": "f", "arguments": {"x": float("nan")}}}], 0, "arguments", "JSON values only"),
    ([{"model_calls": {"name": "f", "call_id": "c 1"}}], 0, "call_id", "must be an id"),
    ([{"model_calls": {"name": "f", "colour": 1}}], 0, "colour", "unknown field"),
    ([{"model_calls": "f"}], 0, None, "must be a mapping with name, arguments, call_id, not a string"),
    (["expect_output"], 0, None, "no model_calls before it"),
    ([{"model_calls": {"name": "f"}}, {"expect_output": {"timeout": 0}}], 1, "timeout", "more than 0"),
    ([{"model_calls": {"name": "f"}}, {"expect_output": {"timeout": True}}], 1, "timeout", "not a boolean"),
    ([{"model_calls": {"name": "f"}}, {"expect_output": {"call_id": "call_x"}}], 1, "call_id", "no model_calls before"),
    ([{"model_calls": {"name": "f"}}, {"expect_output": {"output": {1, 2}}}], 1, "output", "string or JSON"),
    (
        [{"model_calls": {"name": "f", "call_id": "c"}}, {"model_calls": {"name": "g", "call_id": "c"}}],
        1,
        "call_id",
        "used twice",
    ),
    ([{"delegate": {"id": ""}}], 0, "id", "must be an id"),
    ([{"delegate": "d"}], 0, None, "must be a mapping with id"),
    (["delegate", {"delegate": {"id": "d"}}, {"delegate": {"id": "d"}}], 2, "id", "used twice"),
    (["expect_commentary"], 0, None, "no delegate before it"),
    (["delegate", {"expect_commentary": {"contains": ""}}], 1, "contains", "must not be empty"),
    (["delegate", {"expect_commentary": {"delegation_id": "zzz"}}], 1, "delegation_id", "no delegate before"),
    ([{"dtmf": "12E"}], 0, None, "(dtmf): must be 1-64 keys"),
    ([{"dtmf": ""}], 0, None, "(dtmf): must be 1-64 keys"),
    ([{"wait": -1}], 0, None, "(wait): must be 0 to 3600"),
    ([{"wait": float("inf")}], 0, None, "(wait): must be 0 to 3600"),
    ([{"wait": "1"}], 0, None, "(wait): must be a number of seconds, not a string"),
    (["wait"], 0, None, "(wait): must be a number"),
    ([{"drop": 1}], 0, None, "(drop): takes no value"),
    ([{"replay": {"seconds": 4000}}], 0, "seconds", "(replay): seconds: must be more than 0 to 3600"),
    ([{"replay": {"count": 3}}], 0, "count", "unknown field (allowed: seconds)"),
    ([{"hangup": "now"}], 0, None, "(hangup): takes no value"),
    (["hangup", {"caller": "hello?"}], 1, None, "step 1 (caller): comes after hangup"),
    ([{"dial": "hung"}], 0, "outcome", "(dial): outcome: must be answered or failed, not 'hung'"),
    ([{"dial": 3}], 0, None, "(dial): must be a mapping with outcome, ringing, code, message, not int"),
    ([{"dial": {"ringing": 181}}], 0, "ringing", "(dial): ringing: must be 0 to 180 seconds (the API's ringing"),
    ([{"dial": {"ringing": -1}}], 0, "ringing", "(dial): ringing: must be 0 to 3600 seconds"),
    ([{"dial": {"ringing": "2s"}}], 0, "ringing", "must be a number of seconds, not a string"),
    ([{"dial": {"code": "busy"}}], 0, "code", "(dial): code: only a failed dial has one"),
    ([{"dial": {"message": "Nobody home."}}], 0, "message", "(dial): message: only a failed dial has one"),
    ([{"dial": {"outcome": "failed", "code": "Busy!"}}], 0, "code", "lower-case letters, digits and _"),
    ([{"dial": {"outcome": "failed", "message": ""}}], 0, "message", "must not be empty"),
    ([{"dial": {"outcome": "failed", "tone": 1}}], 0, "tone", "unknown field (allowed: outcome, ringing, code"),
    ([{"caller": "hi"}, "dial"], 1, None, "step 1 (dial): only the first step can dial"),
    ([{"dial": "failed"}, {"caller": "hi"}], 1, None, "step 1 (caller): comes after a failed dial"),
    ([{"expect_sideband": {"seconds": 3}}], 0, "seconds", "(expect_sideband): seconds: unknown field"),
    ([{"expect_sideband": {"timeout": -1}}], 0, "timeout", "(expect_sideband): timeout: must be more than 0"),
]


@pytest.mark.parametrize(("script", "index", "field", "message"), MISTAKES)
def test_each_mistake_names_its_step_and_field(script: list[Any], index: int, field: str | None, message: str) -> None:
    with pytest.raises(ScriptError) as caught:
        load_script(script)
    assert isinstance(caught.value, ConfigurationError)
    assert message in str(caught.value)
    assert (caught.value.index, caught.value.field) == (index, field)
    assert f"step {index}" in str(caught.value)


def test_every_step_name_has_a_validation_case() -> None:
    """The table above covers every step, so a new step cannot arrive unchecked."""
    failing = [script[index] for script, index, _, _ in MISTAKES]
    named = {step if isinstance(step, str) else next(iter(step)) for step in failing if isinstance(step, str | dict)}
    assert set(STEP_NAMES.values()) <= named


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({"caller": "hi"}, "script: must be a list of steps, not a mapping"),
        ("caller: hi", "script: must be a list of steps, not a mapping"),
        ("- caller: [unclosed", "not valid YAML (line 1, column"),
        ([{"caller": "x"}] * 10_001, "more than 10000 steps"),
        (
            "- model_calls: {name: f, arguments: {a: &a [1, 1, 1], b: &b [*a, *a, *a], c: [*b, *b, *b]}}",
            "not valid YAML (line 1, column 62): aliases (*name) are not allowed in a script",
        ),
    ],
)
def test_the_script_as_a_whole_is_checked(source: Any, message: str) -> None:
    with pytest.raises(ScriptError, match=None) as caught:
        load_script(source)
    assert message in str(caught.value)


def test_a_file_error_is_one_line_starting_with_the_files_name(tmp_path: Path) -> None:
    good = tmp_path / "call.yaml"
    good.write_text(ORDER_SCRIPT_YAML, encoding="utf-8")
    assert load_script_file(good) == load_script(ORDER_SCRIPT_YAML)
    cases = {
        "bad.yaml": (
            "- caller: hi\n- model_calls: {name: f, arguments: [1]}\n",
            "script step 1 (model_calls): arguments",
        ),
        "broken.yaml": ("- caller: 'unclosed\n", "not valid YAML"),
        "big.yaml": ("#" * (1 << 20) + "\n", "at most 1048576 bytes"),
    }
    for name, (text, message) in cases.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ScriptError) as caught:
            load_script_file(path)
        assert str(caught.value).startswith(f"{path}: ")
        assert message in str(caught.value)
        assert "\n" not in str(caught.value)
    (tmp_path / "latin1.yaml").write_bytes(b"- caller: caf\xe9\n")
    with pytest.raises(ScriptError, match="not UTF-8"):
        load_script_file(tmp_path / "latin1.yaml")
    with pytest.raises(ScriptError, match="cannot read the script: No such file"):
        load_script_file(tmp_path / "missing.yaml")


# -- any valid script: a well-formed event stream ---------------------------------------------------------------

_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=40).filter(
    str.strip
)
_arguments = st.dictionaries(
    st.text(min_size=1, max_size=8), st.one_of(st.integers(), st.text(max_size=30), st.booleans()), max_size=4
)


@st.composite
def valid_scripts(draw: st.DrawFn, api: str) -> list[Any]:
    steps: list[Any] = []
    if api == "live" and draw(st.booleans()):  # an outbound call's dial: played before the runner, sends nothing
        steps.append(draw(st.sampled_from(["dial", {"dial": "answered"}, {"dial": {"ringing": 0}}])))
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(
            st.sampled_from(
                [
                    "caller",
                    "model_says",
                    "model_calls",
                    "dtmf",
                    "wait",
                    "drop",
                    "replay",
                    *(["delegate"] if api == "live" else []),
                ]
            )
        )
        if kind in ("caller", "model_says"):
            steps.append({kind: draw(_text)})
        elif kind == "model_calls":
            steps.append(
                {
                    "model_calls": {
                        "name": draw(st.from_regex(r"[a-z_]{1,12}", fullmatch=True)),
                        "arguments": draw(_arguments),
                    }
                }
            )
            if draw(st.booleans()):
                steps.append("expect_output")
        elif kind == "dtmf":
            steps.append({"dtmf": draw(st.from_regex(r"[0-9*#]{1,4}", fullmatch=True))})
        elif kind == "wait":
            steps.append({"wait": draw(st.floats(0, 5))})
        elif kind == "delegate":
            steps.append("delegate")
            if draw(st.booleans()):
                steps.append("expect_commentary")
        else:
            steps.append(kind)
    if draw(st.booleans()):
        steps.append("hangup")
    return steps


def auto_app(api: str) -> Callable[[Event], list[Event]]:
    """An app that answers every tool call and every client delegation at once, once: replayed events (same
    ``event_id``) are skipped, as SIDEBAND-NOTES 7.5 asks of a real app."""
    seen: set[str] = set()

    def answer(event: Event) -> list[Event]:
        if "event_id" in event:
            if event["event_id"] in seen:
                return []
            seen.add(event["event_id"])
        if (
            api == "live"
            and event["type"] == "session.delegation.created"
            and event["delegation"]["target"] == "client"
        ):
            return [
                {"type": "session.commentary.append", "content": "done", "delegation_id": event["delegation"]["id"]}
            ]
        inner = event.get("event", {}) if api == "live" else event
        call = function_calls(inner) if "type" in inner else None
        if call is None:
            return []
        create = "response.item.create" if api == "live" else "conversation.item.create"
        return [
            {"type": create, "item": {"type": "function_call_output", "call_id": call[0], "output": "{}"}},
            {"type": "response.create"},
        ]

    return answer


@pytest.mark.parametrize("api", ["realtime", "live"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_valid_script_streams_well_formed_events(api: str, data: st.DataObject) -> None:
    script = data.draw(valid_scripts(api))
    now = [0.0]
    channel = QueueChannel(auto_app(api))
    state = play(
        script, channel, api=api, session_id="s_1", clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s)
    )
    assert state == ScriptState("done"), state
    adapter = LIVE_EVENT if api == "live" else REALTIME_EVENT
    first_seen: dict[str, Event] = {}
    stream: list[Event] = []
    for event in channel.sent:
        adapter.validate_python(event)
        event_id = event.get("event_id")
        if event_id is not None and event_id in first_seen:
            assert first_seen[event_id] == event, "an event_id reused for a different event"
            assert "replay" in script, "an event_id repeated without a replay step"
            continue  # a replayed copy
        if event_id is not None:
            first_seen[event_id] = event
        stream.append(event["event"] if event["type"] == "response.event" else event)
    # every response.created is closed by its response.done (response.completed on the Responses stream)
    open_responses: list[str] = []
    arguments: dict[str, str] = {}
    open_items: dict[str, tuple[int, str | None]] = {}  # item id -> (output_index, response_id)
    spoken_until = 0  # the GPT-Live speech timeline only moves forward
    for event in stream:
        if api == "live" and "sequence_number" in event:
            RESPONSES_EVENT.validate_python(event)
        if event["type"] in ("response.output_item.added", "response.output_item.done"):
            assert open_responses, "an output item outside a response"
            place = (event["output_index"], event.get("response_id"))
            if event["type"].endswith("added"):
                open_items[event["item"]["id"]] = place
            else:
                assert open_items.pop(event["item"]["id"]) == place
        if event["type"] in ("session.input_transcript.delta", "session.output_transcript.delta"):
            assert spoken_until <= event["start_ms"] < event["end_ms"]
            spoken_until = event["end_ms"]
        if event["type"] == "response.created":
            assert not open_responses, "a response started while another was active"
            open_responses.append(event["response"]["id"])
        elif event["type"] in ("response.done", "response.completed"):
            assert open_responses == [event["response"]["id"]]
            open_responses.clear()
        elif event["type"] == "response.function_call_arguments.delta":
            arguments[event["item_id"]] = arguments.get(event["item_id"], "") + event["delta"]
        elif event["type"] == "response.function_call_arguments.done":
            assert arguments.pop(event["item_id"], "") == event["arguments"]
            json.loads(event["arguments"])
    assert open_responses == []
    assert arguments == {}
    assert open_items == {}
    calls = [step for step in load_script(script) if isinstance(step, ModelCalls)]
    call_ids = [
        e["item"]["call_id"]
        for e in stream
        if e["type"] == "response.output_item.done" and e["item"]["type"] == "function_call"
    ]
    assert len(call_ids) == len(set(call_ids)) == len(calls)
    assert [json.loads(e["arguments"]) for e in stream if e["type"] == "response.function_call_arguments.done"] == [
        json.loads(step.arguments) for step in calls
    ]
    said = [step.text for step in load_script(script) if isinstance(step, Caller)]
    if api == "realtime":
        assert [
            e["transcript"] for e in stream if e["type"] == "conversation.item.input_audio_transcription.completed"
        ] == said
    assert channel.closes == [step == "drop" for step in script if step in ("drop", "hangup")]


# -- the emulator keeps each call's script for its sockets ------------------------------------------------------

OFFER = (Path(__file__).parent / "sdp" / "chromium_offer.sdp").read_bytes()


def create_call(emulator: Emulator) -> str:
    """A Realtime WebRTC call created over HTTP, as a browser's offer relayed by a server creates one."""
    response = requests.post(
        emulator.base_url + "/realtime/calls",
        files=[("sdp", (None, OFFER, "application/sdp"))],
        headers={"authorization": f"Bearer {emulator.api_key}"},
        timeout=WAIT,
    )
    assert response.status_code == 201, response.text
    return str(response.headers["location"].rsplit("/", 1)[1])


def create_live_session(emulator: Emulator) -> str:
    body = {"session": {"model": "gpt-live-1"}, "transport": {"type": "webrtc", "sdp": OFFER.decode()}}
    headers = {"authorization": f"Bearer {emulator.api_key}"}
    response = requests.post(emulator.base_url + "/live/sessions", json=body, headers=headers, timeout=WAIT)
    assert response.status_code == 200, response.text
    return str(response.json()["session"]["id"])


def test_every_new_call_gets_the_emulators_script_and_script_call_sets_one_calls() -> None:
    with Emulator(script=ORDER_SCRIPT_YAML) as emulator:
        first, second = create_call(emulator), create_call(emulator)
        assert emulator.calls.get(first).script == load_script(ORDER_SCRIPT_YAML)  # type: ignore[union-attr]
        record = emulator.script_call(second, [{"caller": "Hello?"}, "hangup"])
        assert record.script == (Caller("Hello?"), Hangup())
        assert emulator.calls.get(second).script == (Caller("Hello?"), Hangup())  # type: ignore[union-attr]
        assert emulator.calls.get(first).script == load_script(ORDER_SCRIPT_YAML)  # type: ignore[union-attr]
    with Emulator() as quiet:
        assert quiet.calls.get(create_call(quiet)).script == ()  # type: ignore[union-attr]


def test_script_call_checks_the_script_for_the_calls_api_and_changes_nothing_when_refused() -> None:
    with Emulator() as emulator:
        call_id, live_id = create_call(emulator), create_live_session(emulator)
        with pytest.raises(ScriptError, match=r"step 0 \(delegate\): GPT-Live only"):
            emulator.script_call(call_id, ["delegate"])
        assert emulator.calls.get(call_id).script == ()  # type: ignore[union-attr]
        assert emulator.script_call(live_id, ["delegate", "expect_commentary"]).script is not None
        with pytest.raises(UnknownCall):
            emulator.script_call("rtc_" + "0" * 32, [])
    with pytest.raises(ScriptError, match="script step 1: unknown step 'shout'"):
        Emulator(script=[{"caller": "hi"}, {"shout": "HEY"}])


@pytest.mark.parametrize("command", [[], ["ring", "http://127.0.0.1:9/webhooks/openai", "--secret", "whsec_AAAA"]])
def test_the_cli_refuses_a_bad_script_file_in_one_line_with_exit_2(command: list[str], tmp_path: Path) -> None:
    bad = tmp_path / "call.yaml"
    bad.write_text("- caller: hi\n- model_calls: {name: lookup_order, arguments: [1]}\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "realtime_service.emulator", *command, "--script", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""  # nothing started: no emulator address printed
    lines = done.stderr.splitlines()
    assert len(lines) == 1
    assert f"error: {bad}: script step 1 (model_calls): arguments: must be a mapping" in lines[0]


# -- expect_sideband ---------------------------------------------------------------------------------------------


class SidebandChannel(QueueChannel):
    """A queue channel whose call has (``attached``) or never gets a sideband; counts the waits asked for."""

    def __init__(self, attached: bool) -> None:
        super().__init__()
        self.attached = attached
        self.waits: list[float] = []

    def wait_for_sideband(self, timeout: float) -> bool:
        self.waits.append(timeout)
        return self.attached


def test_expect_sideband_is_a_step_with_an_optional_timeout() -> None:
    assert load_script(["expect_sideband"]) == (ExpectSideband(10.0),)
    assert load_script([{"expect_sideband": {"timeout": 3}}]) == (ExpectSideband(3.0),)  # mistakes: MISTAKES


def test_a_tool_call_waits_for_the_sideband_and_fails_naming_the_step_without_one() -> None:
    script = [{"caller": "Hi"}, {"expect_sideband": {"timeout": 4}}, {"model_calls": {"name": "f"}}]
    lonely = SidebandChannel(attached=False)
    assert play(script, lonely) == ScriptState(
        "failed", 1, "expect_sideband", "no sideband attached to the call within the step's timeout"
    )
    assert lonely.waits == [4.0]
    assert not any(e["type"] == "response.function_call_arguments.done" for e in lonely.sent)  # never called
    watched = SidebandChannel(attached=True)
    assert play(script, watched) == ScriptState("done")
    assert any(e["type"] == "response.function_call_arguments.done" for e in watched.sent)
