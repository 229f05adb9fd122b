"""Plays a checked script (:mod:`.scripts`) over a :class:`Channel`, in the Realtime or the GPT-Live protocol.

The runner knows no sockets: a WebSocket route (or a test's in-memory queue) is a :class:`Channel`. It *sends*
the server events of each step, in the shapes of the official SDK's types (``openai.types.realtime`` /
``openai.types.live``), with fresh ``event_``, ``item_``, ``resp_`` and ``call_`` ids, and it *reads* the client
events the route forwards, only to judge the ``expect_*`` steps. Answering client events in general
(``session.update``, acknowledgements, errors, echoing created items) is the route's job, not the script's.

What a route forwards and what the runner makes of it:

- Realtime: ``conversation.item.create`` whose item is a ``function_call_output``, and ``response.create``.
- GPT-Live: ``response.item.create`` (``function_call_output``), ``response.create`` and
  ``session.commentary.append``. Anything else forwarded is ignored.

While a script plays, its ``model_*`` steps are the model's responses: the route must not start a response of
its own for a forwarded ``response.create``. No audio is sent (transcripts only): a sideband carries none
reliably (SIDEBAND-NOTES 2.2); a primary socket's audio deltas are the route's to add. On GPT-Live a
``model_calls`` step is played as Responses delegation (``session.delegation.created`` with ``target:
responses``, then the backend's stream in ``response.event`` envelopes), whatever mode the session was made with.

``expect_sideband`` asks the channel whether a sideband is attached to the call (waiting up to its timeout):
on a WebRTC call the script plays on the caller's data channel, and a server's tool must hear the call it
answers.

``expect_output`` passes when the function_call_output of its call arrived, then a ``response.create`` (one
``response.create`` after several outputs answers them all, as with parallel tool calls). It fails, naming the
step, on: no output before its timeout; an output for a ``call_id`` the script never called; a second output for
the same call (the tool ran twice; the same output again on a *later connection* is a redelivery after a drop,
not a failure); an output other than the scripted ``output``. A ``response.create`` that
answers no output, before the awaited one, is no failure by itself: an app may ask for a turn of its own (the
Agents SDK's SIP example sends a greeting's ``response.create`` as it attaches, racing the script's first
steps), and the real API answers it; the output still needs a ``response.create`` after it, and when none comes
the reason says that the only one came first. Time comes from the injected ``clock`` and waits from the channel's
``receive(timeout)`` and the injected ``sleep``, so tests need no real sleeps. The outcome is a
:class:`~.scripts.ScriptState`, also handed to ``on_state`` at each step so the route can put it on the call's
record.

With ``audio`` (a call with a WebRTC peer, :mod:`.call_audio`) the steps are in step with the call's audio: a
``model_says`` turn queues :data:`MS_PER_WORD` of voice per transcript delta on the peer's track (the length of
the turn on the speech timeline) and, before the next step, waits until it is sent; on Realtime it sends
``output_audio_buffer.started`` after ``response.content_part.added`` and ``output_audio_buffer.stopped`` after
``response.done`` once the audio is sent (the SDK's order; WebRTC/SIP only). A ``caller`` step with
``wait_for_speech`` waits for a turn of the caller's speech (the peer's VAD already sent its
``speech_started/stopped``) and goes on with that turn's ``item_id``.
"""

from __future__ import annotations

import collections
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from .call_audio import SpeechTurn
from .replies import random_id
from .scripts import (
    Api,
    Caller,
    Delegate,
    Dial,
    Drop,
    Dtmf,
    ExpectCommentary,
    ExpectOutput,
    ExpectSideband,
    Hangup,
    ModelCalls,
    ModelSays,
    Replay,
    Script,
    ScriptError,
    ScriptState,
    Wait,
    check_api,
    step_name,
)

Event = dict[str, Any]
ARGUMENT_CHUNK = 16
"""Characters of ``arguments`` per ``function_call_arguments.delta`` (deterministic, so tests can count)."""
MS_PER_WORD = 300
"""The emulated speech timeline (GPT-Live's ``start_ms``/``end_ms``, Realtime's ``audio_*_ms``): one word."""
REPLAY_HISTORY = 1_000
"""Sent events kept for ``replay`` (the newest)."""
COMMENTARY_KEPT = 100
"""Commentary appends kept per scripted delegation (the newest): a flood of appends costs bounded memory."""
SPOKEN_MARGIN = 10.0
"""Seconds past a turn's own length that its audio may take to be sent; then it is dropped and the script goes on
(a browser that never took the track's frames)."""
DEFAULT_LIVE_MODEL = "gpt-live-1"
DEFAULT_RESPONSES_MODEL = "gpt-5.4-mini"


class ChannelClosed(Exception):
    """The other side is gone for good: nothing more can be sent or received on this call."""


class Channel(Protocol):
    """One call's conversation, as the runner sees it (a WebSocket route implements it; so does a test queue).

    ``send`` delivers one server event (a JSON object) to the app. ``receive`` returns the next client event the
    route forwards, or ``None`` when ``timeout`` seconds pass first. ``close(abnormal=True)`` drops the current
    connection as a network failure would (the call goes on: later sends reach the app's next connection);
    ``close(abnormal=False)`` ends the conversation after a hang-up. ``send`` and ``receive`` raise
    :class:`ChannelClosed` once the app's side is gone for good.
    """

    @property
    def connection(self) -> str:
        """Which connection the event :meth:`receive` last returned came from (each re-attach is a new one)."""
        ...

    def send(self, event: Event) -> None: ...

    def receive(self, timeout: float) -> Event | None: ...

    def close(self, *, abnormal: bool) -> None: ...

    def wait_for_sideband(self, timeout: float) -> bool:
        """Whether a sideband is attached to the call within ``timeout`` seconds (``expect_sideband``)."""
        ...


class Audio(Protocol):
    """A call's audio as the runner uses it (:class:`~.call_audio.CallAudio`)."""

    def speak(self, ms: int) -> None: ...

    def wait_spoken(self, timeout: float) -> bool: ...

    def clear(self) -> None: ...

    def next_turn(self, timeout: float) -> SpeechTurn | None: ...


class _Failed(Exception):
    """A step failed: ``reason`` goes on the record."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def words(text: str) -> list[str]:
    """``text`` cut into the transcript deltas the runner streams: each word with the spaces after it."""
    return re.findall(r"\s*\S+\s*", text) or [text]


def chunks(text: str, size: int = ARGUMENT_CHUNK) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


class ScriptRunner:
    """Plays one script on one call. ``api`` picks the protocol; ``session_id`` and ``session`` (the Live session
    resource, for ``session.closed``) name the call. ``ids(prefix)`` makes ids (random by default); ``clock``
    (seconds, monotonic) and ``sleep`` serve ``wait`` and ``replay`` (the default sleep wakes early on
    :meth:`stop`); ``on_state`` sees every state change and ``on_hangup`` runs when the script hangs up (the route
    ends the call's record there)."""

    def __init__(
        self,
        script: Script,
        channel: Channel,
        *,
        api: Api = "realtime",
        session_id: str = "",
        session: dict[str, Any] | None = None,
        ids: Callable[[str], str] = random_id,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] | None = None,
        on_state: Callable[[ScriptState], None] | None = None,
        on_hangup: Callable[[], None] | None = None,
        responses_model: str = DEFAULT_RESPONSES_MODEL,
        audio: Audio | None = None,
    ) -> None:
        self.script, self.channel, self.api = script, channel, api
        self.audio = audio
        self.session_id = session_id
        self.session = session
        self._stop = threading.Event()
        self._ids, self._clock = ids, clock
        self._sleep = self._stop.wait if sleep is None else sleep
        self._on_state, self._on_hangup = on_state, on_hangup
        self._responses_model = responses_model
        self.state = ScriptState("pending")
        self._timeline_ms = 0
        self._last_item: str | None = None
        self._sent: collections.deque[tuple[float, Event]] = collections.deque(maxlen=REPLAY_HISTORY)
        self._response_id = ""  # the Realtime response being streamed
        self._sequence = 0  # Responses-stream sequence numbers (GPT-Live's response.event)
        # what the app sent, in order of arrival
        self._received = 0
        self._calls: list[str] = []  # call ids made, in order
        self._outputs: dict[str, tuple[int, str, str]] = {}  # call id -> (arrival, output, connection)
        self._last_create = -1  # arrival number of the latest response.create
        self._outputs_since_create = 0
        self._bare_create = False  # the latest response.create followed no output: it answered no call
        self._delegations: list[str] = []
        self._commentary: dict[str, collections.deque[str]] = {}  # scripted delegation id -> its appends

    # -- playing ---------------------------------------------------------------------------------------------

    def run(self) -> ScriptState:
        """Play every step; the final state (``done``, or ``failed`` with the step and why)."""
        try:
            check_api(self.script, self.api)
        except ScriptError as exc:
            return self._set(
                ScriptState(
                    "failed", exc.index, None if exc.index is None else step_name(self.script[exc.index]), str(exc)
                )
            )
        for index, step in enumerate(self.script):
            name = step_name(step)
            if self._stop.is_set():
                return self._set(ScriptState("failed", index, name, "the call ended before this step"))
            self._set(ScriptState("playing", index, name))
            try:
                self._play(step)
            except _Failed as failure:
                return self._set(ScriptState("failed", index, name, failure.reason))
            except ChannelClosed:
                return self._set(ScriptState("failed", index, name, "the app's connection closed"))
        return self._set(ScriptState("done"))

    def stop(self) -> None:
        """End the script from outside (the call was hung up over REST, its socket closed): a ``wait`` wakes,
        no further step plays, and the state says at which step. Thread-safe. The channel's ``receive`` should
        raise :class:`ChannelClosed` too, so a step waiting on it ends at once."""
        self._stop.set()

    def _set(self, state: ScriptState) -> ScriptState:
        self.state = state
        if self._on_state is not None:
            self._on_state(state)
        return state

    def _play(self, step: Any) -> None:
        live = self.api == "live"
        if isinstance(step, Caller):
            turn = self._caller_speech(step) if step.wait_for_speech and self.audio is not None else None
            self._live_caller(step.text) if live else self._realtime_caller(step.text, turn)
        elif isinstance(step, ModelSays):
            self._live_says(step.text) if live else self._realtime_says(step.text)
        elif isinstance(step, ModelCalls):
            call_id = step.call_id or self._ids("call_")
            self._calls.append(call_id)
            self._live_calls(step, call_id) if live else self._realtime_calls(step, call_id)
        elif isinstance(step, ExpectOutput):
            self._expect_output(step.call_id or self._calls[-1], step)
        elif isinstance(step, ExpectSideband):
            if not self.channel.wait_for_sideband(step.timeout):
                raise _Failed("no sideband attached to the call within the step's timeout")
        elif isinstance(step, Delegate):
            delegation = step.id or self._ids("deleg_")
            self._delegations.append(delegation)
            self._commentary[delegation] = collections.deque(maxlen=COMMENTARY_KEPT)
            self._send(
                {
                    "type": "session.delegation.created",
                    "delegation": {"id": delegation, "type": "delegation", "target": "client"},
                    "offset_ms": self._timeline_ms,
                }
            )
        elif isinstance(step, ExpectCommentary):
            self._expect_commentary(step.delegation_id or self._delegations[-1], step)
        elif isinstance(step, Dtmf):
            for key in step.keys:
                if live:
                    self._send({"type": "transport.dtmf.received", "event": key, "session_id": self.session_id})
                else:  # the SDK's type has no event_id on this one
                    self._send_raw(
                        {
                            "type": "input_audio_buffer.dtmf_event_received",
                            "event": key,
                            "received_at": int(time.time()),
                        }
                    )
        elif isinstance(step, Wait):
            self._timeline_ms += int(step.seconds * 1000)
            self._sleep(step.seconds)
        elif isinstance(step, Drop):
            self.channel.close(abnormal=True)
        elif isinstance(step, Dial):
            pass  # played before the script starts: the dialer's transport.* events (outbound.py)
        elif isinstance(step, Replay):
            since = self._clock() - step.seconds
            for at, event in list(self._sent):
                if at >= since:
                    self.channel.send(event)
        elif isinstance(step, Hangup):
            if live:
                self._send(
                    {
                        "type": "session.closed",
                        "reason": "remote_hangup",
                        "session": self.session or self._live_session(),
                        "usage": {"seconds": self._timeline_ms / 1000},
                    }
                )
            self.channel.close(abnormal=False)
            if self._on_hangup is not None:
                self._on_hangup()

    # -- sending ---------------------------------------------------------------------------------------------

    def _send(self, event: Event) -> Event:
        """Send ``event`` with a fresh ``event_id`` first, as the API orders its keys."""
        return self._send_raw({"event_id": self._ids("event_"), **event})

    def _send_raw(self, event: Event) -> Event:
        self.channel.send(event)
        self._sent.append((self._clock(), event))
        return event

    def _speak(self, text: str) -> Iterator[tuple[str, int, int]]:
        """The deltas of ``text`` with their place on the speech timeline."""
        for delta in words(text):
            start = self._timeline_ms
            self._timeline_ms += MS_PER_WORD
            yield delta, start, self._timeline_ms

    def _live_session(self) -> dict[str, Any]:
        return {
            "id": self.session_id,
            "expires_at": int(time.time()) + 3600,
            "model": DEFAULT_LIVE_MODEL,
            "status": "active",
        }

    # -- audio (a call with a WebRTC peer) ---------------------------------------------------------------------

    def _caller_speech(self, step: Caller) -> SpeechTurn:
        """The caller's next turn of speech, or the step's failure after its timeout."""
        assert self.audio is not None
        deadline = self._clock() + step.timeout
        while True:
            if self._stop.is_set():
                raise _Failed("the call ended while waiting for the caller's speech")
            remaining = deadline - self._clock()
            if remaining <= 0:
                raise _Failed("no speech from the caller's audio track within the step's timeout")
            turn = self.audio.next_turn(min(remaining, 0.1))
            if turn is not None:
                return turn

    def _voice(self, text: str) -> int:
        """Queue the model's voice for ``text`` on the track; its length in ms (0 without audio)."""
        if self.audio is None:
            return 0
        ms = len(words(text)) * MS_PER_WORD
        self.audio.speak(ms)
        return ms

    def _spoken(self, ms: int) -> None:
        """Wait until the turn's audio is sent (bounded: what is left after that is dropped); the step's failure
        when the call ends meanwhile."""
        if self.audio is None:
            return
        deadline = self._clock() + ms / 1000 + SPOKEN_MARGIN
        while not self._stop.is_set():
            remaining = deadline - self._clock()
            if remaining <= 0:
                self.audio.clear()
                return
            if self.audio.wait_spoken(min(remaining, 0.1)):
                return
        raise _Failed("the call ended while the model spoke")

    # -- Realtime --------------------------------------------------------------------------------------------

    def _realtime_caller(self, text: str, turn: SpeechTurn | None = None) -> None:
        previous = self._last_item
        deltas: list[tuple[str, int, int]]
        if turn is None:
            item_id, start = self._ids("item_"), self._timeline_ms
            self._send({"type": "input_audio_buffer.speech_started", "audio_start_ms": start, "item_id": item_id})
            deltas = list(self._speak(text))
            end = self._timeline_ms
            self._send({"type": "input_audio_buffer.speech_stopped", "audio_end_ms": end, "item_id": item_id})
        else:  # the peer's VAD sent speech_started/stopped for this turn already
            item_id, start, end = turn.item_id, turn.audio_start_ms, turn.audio_end_ms
            deltas = list(self._speak(text))
        self._send({"type": "input_audio_buffer.committed", "item_id": item_id, "previous_item_id": previous})
        item: Event = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "role": "user",
            "status": "completed",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        self._send({"type": "conversation.item.added", "item": item, "previous_item_id": previous})
        for delta, _, _ in deltas:
            self._send(
                {
                    "type": "conversation.item.input_audio_transcription.delta",
                    "item_id": item_id,
                    "content_index": 0,
                    "delta": delta,
                }
            )
        seconds = (end - start) / 1000
        self._send(
            {
                "type": "conversation.item.input_audio_transcription.completed",
                "item_id": item_id,
                "content_index": 0,
                "transcript": text,
                "usage": {"type": "duration", "seconds": seconds},
            }
        )
        done = {**item, "content": [{"type": "input_audio", "transcript": text}]}
        self._send({"type": "conversation.item.done", "item": done, "previous_item_id": previous})
        self._last_item = item_id

    def _response(self, status: str, output: list[Event]) -> Event:
        return {
            "object": "realtime.response",
            "id": self._response_id,
            "status": status,
            "status_details": None,
            "output": output,
            "output_modalities": ["audio"],
            "usage": None,
        }

    def _start_response(self) -> None:
        self._response_id = self._ids("resp_")
        self._send({"type": "response.created", "response": self._response("in_progress", [])})

    def _add_item(self, item: Event) -> None:
        previous = self._last_item
        self._send(
            {"type": "response.output_item.added", "response_id": self._response_id, "output_index": 0, "item": item}
        )
        self._send({"type": "conversation.item.added", "previous_item_id": previous, "item": item})

    def _finish_response(self, item: Event) -> None:
        previous = self._last_item
        self._send(
            {"type": "response.output_item.done", "response_id": self._response_id, "output_index": 0, "item": item}
        )
        self._send({"type": "conversation.item.done", "previous_item_id": previous, "item": item})
        self._last_item = item["id"]
        response = self._response("completed", [item])
        response["usage"] = {"total_tokens": 0, "input_tokens": 0, "output_tokens": 0}
        self._send({"type": "response.done", "response": response})

    def _realtime_says(self, text: str) -> None:
        self._start_response()
        item_id = self._ids("item_")
        item: Event = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "role": "assistant",
            "status": "in_progress",
            "content": [],
        }
        self._add_item(item)
        where = {"response_id": self._response_id, "item_id": item_id, "output_index": 0, "content_index": 0}
        self._send({"type": "response.content_part.added", **where, "part": {"type": "audio", "transcript": ""}})
        response_id = self._response_id
        if self.audio is not None:
            self._send({"type": "output_audio_buffer.started", "response_id": response_id})
        ms = self._voice(text)
        for delta, _, _ in self._speak(text):
            self._send({"type": "response.output_audio_transcript.delta", **where, "delta": delta})
        self._send({"type": "response.output_audio_transcript.done", **where, "transcript": text})
        self._send({"type": "response.content_part.done", **where, "part": {"type": "audio", "transcript": text}})
        content = [{"type": "output_audio", "transcript": text}]
        self._finish_response({**item, "status": "completed", "content": content})
        if self.audio is not None:
            self._spoken(ms)
            self._send({"type": "output_audio_buffer.stopped", "response_id": response_id})

    def _realtime_calls(self, step: ModelCalls, call_id: str) -> None:
        self._start_response()
        item_id = self._ids("item_")
        item: Event = {
            "id": item_id,
            "object": "realtime.item",
            "type": "function_call",
            "status": "in_progress",
            "name": step.name,
            "call_id": call_id,
            "arguments": "",
        }
        self._add_item(item)
        where = {"response_id": self._response_id, "item_id": item_id, "output_index": 0, "call_id": call_id}
        for delta in chunks(step.arguments):
            self._send({"type": "response.function_call_arguments.delta", **where, "delta": delta})
        self._send(
            {"type": "response.function_call_arguments.done", **where, "name": step.name, "arguments": step.arguments}
        )
        self._finish_response({**item, "status": "completed", "arguments": step.arguments})

    # -- GPT-Live --------------------------------------------------------------------------------------------

    def _live_caller(self, text: str) -> None:
        for delta, start, end in self._speak(text):
            self._send({"type": "session.input_transcript.delta", "delta": delta, "start_ms": start, "end_ms": end})

    def _live_says(self, text: str) -> None:
        ms = self._voice(text)
        for delta, start, end in self._speak(text):
            self._send({"type": "session.output_transcript.delta", "delta": delta, "start_ms": start, "end_ms": end})
        self._spoken(ms)

    def _backend(self, delegation: str, event: Event) -> None:
        """One Responses stream event, wrapped in ``response.event`` for its delegation."""
        self._sequence += 1
        self._send(
            {
                "type": "response.event",
                "delegation_id": delegation,
                "event": {**event, "sequence_number": self._sequence},
            }
        )

    def _live_calls(self, step: ModelCalls, call_id: str) -> None:
        """Under Responses delegation: the delegation, then the backend's stream with the call (SIDEBAND-NOTES 3.6)."""
        delegation, response_id, item_id = self._ids("deleg_"), self._ids("resp_"), self._ids("fc_")
        self._send(
            {
                "type": "session.delegation.created",
                "delegation": {
                    "id": delegation,
                    "type": "delegation",
                    "target": "responses",
                    "response_id": response_id,
                },
                "offset_ms": self._timeline_ms,
            }
        )
        snapshot: Event = {
            "id": response_id,
            "object": "response",
            "created_at": int(time.time()),
            "model": self._responses_model,
            "status": "in_progress",
            "output": [],  # lifecycle snapshots are trimmed (SIDEBAND-NOTES 3.6)
            "tools": [],
            "instructions": None,
            "tool_choice": "auto",
            "parallel_tool_calls": True,
        }
        item: Event = {
            "id": item_id,
            "type": "function_call",
            "status": "in_progress",
            "name": step.name,
            "call_id": call_id,
            "arguments": "",
        }
        self._backend(delegation, {"type": "response.created", "response": snapshot})
        self._backend(delegation, {"type": "response.output_item.added", "output_index": 0, "item": item})
        for delta in chunks(step.arguments):
            self._backend(
                delegation,
                {
                    "type": "response.function_call_arguments.delta",
                    "item_id": item_id,
                    "output_index": 0,
                    "delta": delta,
                },
            )
        self._backend(
            delegation,
            {
                "type": "response.function_call_arguments.done",
                "item_id": item_id,
                "output_index": 0,
                "name": step.name,
                "arguments": step.arguments,
            },
        )
        done = {**item, "status": "completed", "arguments": step.arguments}
        self._backend(delegation, {"type": "response.output_item.done", "output_index": 0, "item": done})
        self._backend(delegation, {"type": "response.completed", "response": {**snapshot, "status": "completed"}})

    # -- expecting -------------------------------------------------------------------------------------------

    def _next(self, deadline: float, waiting_for: str) -> Event:
        """The next client event (a JSON object; anything else forwarded is skipped), or the step's failure."""
        while True:
            if self._stop.is_set():
                raise _Failed(f"the call ended while waiting for the {waiting_for}")
            remaining = deadline - self._clock()
            event = self.channel.receive(remaining) if remaining > 0 else None
            if event is None:
                raise _Failed(f"no {waiting_for} within the step's timeout")
            if isinstance(event, dict):
                self._received += 1
                return event

    def _take(self, event: Event) -> None:
        """Note what a forwarded client event means for the ``expect_*`` steps; refuse a duplicated result."""
        kind = event.get("type")
        raw_item = event.get("item")
        item: Event = raw_item if isinstance(raw_item, dict) else {}
        output_event = "response.item.create" if self.api == "live" else "conversation.item.create"
        if kind == output_event and item.get("type") == "function_call_output":
            call_id, output = item.get("call_id"), item.get("output")
            if not isinstance(call_id, str) or call_id not in self._calls:
                raise _Failed(f"a function_call_output for {_shown(call_id)}, which the model never called")
            text = output if isinstance(output, str) else json.dumps(output)
            first = self._outputs.get(call_id)
            if first is not None:
                if first[1] == text and first[2] != self.channel.connection:
                    return  # re-sent on a new connection after a drop: the app could not know the first arrived
                raise _Failed(f"a second function_call_output for {call_id}: the tool's result was sent twice")
            self._outputs[call_id] = (self._received, text, self.channel.connection)
            self._outputs_since_create += 1
        elif kind == "response.create":
            self._last_create = self._received
            self._bare_create = self._outputs_since_create == 0
            self._outputs_since_create = 0
        elif kind == "session.commentary.append":
            appends = self._commentary.get(str(event.get("delegation_id")))
            content = event.get("content")
            if appends is not None and isinstance(content, str):  # other delegations' and general ones: not ours
                appends.append(content)

    def _expect_output(self, call_id: str, step: ExpectOutput) -> None:
        deadline = self._clock() + step.timeout
        early_create = False  # a response.create that answered no output came before this call's output
        while True:
            got = self._outputs.get(call_id)
            if got is not None and self._last_create > got[0]:
                if step.output is not None and not _same_output(got[1], step.output):
                    raise _Failed(
                        f"the function_call_output for {call_id} is {_shown(got[1])}, not {_shown(step.output)}"
                    )
                return
            if got is None:
                waiting = f"function_call_output for {call_id}"
            elif early_create:
                waiting = f"response.create after the output of {call_id} (one came before it, answering no output)"
            else:
                waiting = f"response.create after the output of {call_id}"
            event = self._next(deadline, waiting)
            self._take(event)
            if event.get("type") == "response.create" and self._bare_create and call_id not in self._outputs:
                early_create = True

    def _expect_commentary(self, delegation: str, step: ExpectCommentary) -> None:
        """Passes on an append for ``delegation`` (holding ``contains``), which it uses up: a second
        ``expect_commentary`` for the same delegation waits for another append."""
        deadline = self._clock() + step.timeout
        appends = self._commentary[delegation]
        while True:
            for content in appends:
                if step.contains is None or step.contains in content:
                    appends.remove(content)
                    return
            self._take(self._next(deadline, f"session.commentary.append for {delegation}"))


def _same_output(received: str, expected: str) -> bool:
    """Equal as JSON when both are JSON (key order and spacing do not matter), else as text."""
    try:
        return bool(json.loads(received) == json.loads(expected))
    except ValueError:
        return received == expected


def _shown(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
