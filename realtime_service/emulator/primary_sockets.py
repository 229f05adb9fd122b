"""The primary WebSockets: ``GET /v1/realtime?model=`` (a new Realtime session) and ``GET /v1/live/sessions``.

A primary socket *is* its session: opening one starts a new session on the call registry (``sess_...`` for
Realtime, ``live_...`` for GPT-Live, ``transport="websocket"``), counted against ``max_calls``, and closing it
ends the session (state ``hung_up``). Everything a sideband answers is answered the same way (the classes here
extend :class:`~.sidebands.RealtimeSideband` / :class:`~.sidebands.LiveSideband`); on top of that a primary
socket carries audio. What the notes leave open the emulator picks, and docs/emulator-calls.md ("Sockets")
says so:

- Realtime: the model comes from ``?model=`` (a standard key; one of the SDK's Realtime models, else a 400
  ``model_not_found`` on the handshake; none, a 400 ``missing_required_parameter``) or from the session an
  ``ek_`` key of this emulator was minted with (the query's ``model`` is then ignored); ``session.created``
  carries the full default session. ``input_audio_buffer.append`` must hold base64 (the record keeps its
  decoded size as ``audio_bytes``, not the audio; a run of appends is one entry, ``appends`` counting them, so
  a long call's audio does not use up the record's bound); ``.commit`` of less than 100 ms is an error
  (``input_audio_buffer_commit_empty``), else ``.committed`` and the user item; ``.clear`` → ``.cleared``.
  While a script or driver speaks, each transcript delta is preceded by a ``response.output_audio.delta`` of
  PCM16 silence, and ``response.output_audio.done`` precedes the transcript's ``done``.
- GPT-Live: no query parameters (``model`` in the query is a 400); the first event must be ``session.start``
  with a ``MediaSessionConfig`` (``audio.format`` allowed here); anything before it gets an ``error`` (its
  ``event_id`` echoed as ``client_event_id``, nothing recorded: there is no session yet) and the socket stays.
  ``session.started`` answers it; then the socket is a Live sideband plus ``session.input_audio.append`` (base64,
  recorded as ``audio_bytes``), minus ``transport.dtmf.send`` (SIP only); a script's output transcript deltas
  are each preceded by a ``session.output_audio.delta`` of silence (no ``start_ms``/``end_ms`` on a primary
  socket). Sidebands may attach to the session (UNCONFIRMED upstream; the emulator allows it).
- ``?intent=transcription`` (a transcription session) is not emulated: ``501 not_implemented`` saying so.
- ``max_calls`` live sessions already held: the handshake is refused with ``429`` (``rate_limit_exceeded``)
  rather than pushing the oldest out (a REST-created call still pushes the oldest out, as it always did, a
  primary socket's session included: that socket then closes at its next event, as an attached sideband does).
- Azure (CALLS-LIVE-NOTES 5): the Realtime primary socket is ``/openai/realtime?api-version=...&deployment=...``
  (the deployment names the model, unchecked), GPT-Live's ``/openai/v1/live/sessions``; a Realtime
  ``?call_id=`` sideband is not documented on Azure and is refused with a 400 saying so.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, cast
from urllib.parse import parse_qs

from .call_registry import CallRecord, CallRegistry, NoRoomForCall, UnknownCall
from .call_routes import hang_up
from .client_secrets import realtime_session
from .core import Call, Core, Driver, SocketClosed, SocketRoute, SocketSession, Transport
from .live_sessions import MEDIA_SESSION
from .replies import Reply, random_id
from .sideband_session import Problem, server_event_id, session_of
from .sidebands import LiveSideband, RealtimeSideband
from .validation import Enum, Integer, Object, Spec

REALTIME_MODELS = frozenset(
    {
        "gpt-realtime",
        "gpt-realtime-1.5",
        "gpt-realtime-2",
        "gpt-realtime-2.1",
        "gpt-realtime-2.1-mini",
        "gpt-realtime-2025-08-28",
        "gpt-4o-realtime-preview",
        "gpt-4o-realtime-preview-2024-10-01",
        "gpt-4o-realtime-preview-2024-12-17",
        "gpt-4o-realtime-preview-2025-06-03",
        "gpt-4o-mini-realtime-preview",
        "gpt-4o-mini-realtime-preview-2024-12-17",
        "gpt-realtime-mini",
        "gpt-realtime-mini-2025-10-06",
        "gpt-realtime-mini-2025-12-15",
        "gpt-audio-1.5",
        "gpt-audio-mini",
        "gpt-audio-mini-2025-10-06",
        "gpt-audio-mini-2025-12-15",
    }
)
"""The SDK 3.63 ``model`` enum of a Realtime session (``RealtimeSessionCreateRequestParam``)."""
LIVE_MODELS = frozenset({"gpt-live-1", "gpt-live-1.1"})
"""The SDK 3.63 Live models (``types/live/session_config.py``)."""
_KEY_PROTOCOL = "openai-insecure-api-key."
SESSION_SECONDS = 3600
"""A primary session's ``expires_at`` is this long after it starts."""
SILENCE = base64.b64encode(bytes(960)).decode()
"""One output audio chunk: 20 ms of PCM16 mono silence at 24 kHz."""
_BYTES_PER_MS = {"audio/pcm": 48, "audio/pcmu": 8, "audio/pcma": 8}

_FORMAT = Object(
    {"type": Enum(("audio/pcm", "audio/pcmu", "audio/pcma")), "rate": Integer(8000, 48000)},
    required=frozenset({"type"}),
)
_MEDIA_AUDIO = cast(Object, MEDIA_SESSION.fields["audio"])
WS_SESSION: Spec = Object(
    {**MEDIA_SESSION.fields, "audio": Object({**_MEDIA_AUDIO.fields, "format": _FORMAT})},
    required=MEDIA_SESSION.required,
)
"""The ``session`` of ``session.start``: a ``MediaSessionConfig`` that may also name ``audio.format``."""


def _audio_size(event: Mapping[str, Any], name: str) -> int:
    """The decoded size of the base64 audio in ``event[name]``; :class:`Problem` when it is not base64."""
    audio = event.get(name)
    if audio is None:
        raise Problem(f"Missing required parameter: '{name}'.", code="missing_required_parameter", param=name)
    if not isinstance(audio, str):
        raise Problem(f"Invalid type for '{name}': expected a string.", code="invalid_type", param=name)
    try:
        return len(base64.b64decode(audio, validate=True))
    except (binascii.Error, ValueError):
        raise Problem(f"Invalid '{name}': expected base64-encoded audio.", code="invalid_value", param=name) from None


def _merged_appends(last: dict[str, Any], event: dict[str, Any]) -> dict[str, Any] | None:
    """A run of valid audio appends of one type as one record entry: their total size and how many."""
    sizes = (last.get("audio_bytes"), event.get("audio_bytes"))
    if last.get("type") != event.get("type") or not all(isinstance(size, int) for size in sizes):
        return None
    total = sum(size for size in sizes if isinstance(size, int))
    return {"type": event["type"], "audio_bytes": total, "appends": int(last.get("appends", 1)) + 1}


def _without_audio(event: dict[str, Any], name: str) -> dict[str, Any]:
    """The event as recorded: the audio's decoded size (``None`` when not base64) instead of the audio."""
    recorded = {key: value for key, value in event.items() if key != name}
    try:
        recorded["audio_bytes"] = _audio_size(event, name)
    except Problem:
        recorded["audio_bytes"] = None
    return recorded


# Realtime


class RealtimePrimary(RealtimeSideband):
    """``?model=``: a Realtime session of its own, with audio; its end is the socket's close."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._buffered = 0  # bytes appended since the last commit or clear

    def for_record(self, event: dict[str, Any]) -> dict[str, Any]:
        return _without_audio(event, "audio") if event.get("type") == "input_audio_buffer.append" else event

    def merge_recorded(self, last: dict[str, Any], event: dict[str, Any]) -> dict[str, Any] | None:
        return _merged_appends(last, event) if event.get("type") == "input_audio_buffer.append" else None

    def handle(self, kind: str, event: dict[str, Any], client_event_id: str | None) -> bool:
        if kind == "input_audio_buffer.append":
            self._buffered += _audio_size(event, "audio")
            return False
        if kind == "input_audio_buffer.commit":
            self._commit()
            return False
        if kind == "input_audio_buffer.clear":
            self._buffered = 0
            self.send({"type": "input_audio_buffer.cleared"})
            return False
        return super().handle(kind, event, client_event_id)

    def _commit(self) -> None:
        session = self._session()
        audio = session.get("audio")
        audio_in = audio.get("input") if isinstance(audio, dict) else None
        format_ = audio_in.get("format") if isinstance(audio_in, dict) else None
        kind = format_.get("type") if isinstance(format_, dict) else "audio/pcm"
        buffered_ms = self._buffered / _BYTES_PER_MS.get(str(kind), 48)
        if buffered_ms < 100:
            raise Problem(
                "Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, but "
                f"buffer only has {buffered_ms:.2f}ms of audio.",
                code="input_audio_buffer_commit_empty",
            )
        self._buffered = 0
        item_id = random_id("item_")
        item = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "role": "user",
            "status": "completed",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        committed = {"type": "input_audio_buffer.committed", "item_id": item_id}
        self._conversation.add(self.call_id, self, item, before=committed)  # a sideband hears of it too

    def send(self, event: Mapping[str, Any]) -> None:
        kind = event.get("type")
        if kind in ("response.output_audio_transcript.delta", "response.output_audio_transcript.done"):
            where = {name: event.get(name) for name in ("response_id", "item_id", "output_index", "content_index")}
            if kind.endswith(".delta"):
                super().send({"type": "response.output_audio.delta", **where, "delta": SILENCE})
            else:
                super().send({"type": "response.output_audio.done", **where})
        super().send(event)

    def run(self) -> None:
        try:
            super().run()
        finally:
            with contextlib.suppress(UnknownCall):  # forgotten meanwhile: nothing left to end
                hang_up(self.calls, self.call_id)


# GPT-Live


class LivePrimary(LiveSideband):
    """``GET /live/sessions``: waits for ``session.start``, then serves the session it started."""

    def __init__(self, *args: Any, pick_driver: Callable[[str], tuple[Driver | None, bool]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pick_driver = pick_driver

    def attached(self) -> None:
        """Nothing to replay: this connection saw every event of its session (``session.started`` first)."""

    def for_record(self, event: dict[str, Any]) -> dict[str, Any]:
        return _without_audio(event, "audio") if event.get("type") == "session.input_audio.append" else event

    def merge_recorded(self, last: dict[str, Any], event: dict[str, Any]) -> dict[str, Any] | None:
        return _merged_appends(last, event) if event.get("type") == "session.input_audio.append" else None

    def handle(self, kind: str, event: dict[str, Any], client_event_id: str | None) -> bool:
        if kind == "session.start":
            raise Problem("The session has already started.", code="session_already_started", param="type")
        if kind == "session.input_audio.append":
            _audio_size(event, "audio")
            return False
        if kind == "transport.dtmf.send":
            raise Problem(
                "'transport.dtmf.send' is for SIP sessions' sideband connections, not a primary WebSocket.",
                code="invalid_value",
                param="type",
            )
        return super().handle(kind, event, client_event_id)

    def send(self, event: Mapping[str, Any]) -> None:
        if event.get("type") == "session.output_transcript.delta":
            super().send({"type": "session.output_audio.delta", "delta": SILENCE})
        super().send(event)

    def run(self) -> None:
        if not self._await_start():
            return
        try:
            super().run()
        finally:
            with contextlib.suppress(UnknownCall):
                hang_up(self.calls, self.call_id)

    def _await_start(self) -> bool:
        """Answer events until a valid ``session.start`` registers the session (``True``) or the socket closes."""
        while True:
            try:
                message = self.transport.receive(None)
            except SocketClosed:
                return False
            if message is None:
                continue
            event = self._parse(message)
            if event is None:
                continue
            client_event_id = event.get("event_id") if isinstance(event.get("event_id"), str) else None
            try:
                started = self._start(event, client_event_id)
            except Problem as problem:
                try:
                    self.send(self.error(problem, client_event_id))
                except SocketClosed:
                    return False
                continue
            except SocketClosed:
                return False
            return started

    def _start(self, event: dict[str, Any], client_event_id: str | None) -> bool:
        kind = event.get("type")
        if kind != "session.start":
            raise Problem(
                f"The session has not started: send 'session.start' before '{str(kind)[:80]}'.",
                code="session_not_started",
                param="type",
            )
        session = session_of(event)
        issue = WS_SESSION.check(session, "session")
        if issue is not None:
            raise Problem(issue.message, code=issue.code or "invalid_value", param=issue.param)
        if session["model"] not in LIVE_MODELS:
            raise Problem(
                f"The model '{str(session['model'])[:80]}' does not exist or you do not have access to it.",
                code="model_not_found",
                param="session.model",
            )
        record = CallRecord(
            id=self.call_id,
            api="live",
            transport="websocket",
            state="active",
            created_at=self.calls.now(),
            session=session,
            auth="api_key",
        )
        try:
            self.calls.add(record, evict=False)
        except NoRoomForCall:
            self.send(self.error(_NO_ROOM, client_event_id))
            self.transport.close(1013, "the emulator holds max_calls sessions")
            return False
        try:
            self.calls.record_client_event(self.call_id, self.connection_id, event)
        except UnknownCall:  # forgotten at once (the registry's bounds): the session is gone
            self.transport.close(1000, "")
            return False
        self.send({"type": "session.started", "session": self._resource(), "client_event_id": client_event_id})
        self._driver, self.scripted = self._pick_driver(self.call_id)
        return True


_NO_ROOM = Problem(
    "The emulator already holds max_calls live calls and sessions; end one first.",
    code="rate_limit_exceeded",
    type="invalid_request_error",
)


# the routes


def _first(call: Call, name: str) -> str:
    return (parse_qs(call.request.query).get(name) or [""])[0]


def _key(call: Call) -> tuple[str, Call]:
    """The key of a Realtime handshake, and the call with it as its ``Authorization``: the bearer header, else
    the browser's ``openai-insecure-api-key.<key>`` subprotocol (a browser cannot set headers on a WebSocket)."""
    scheme, _, key = call.request.headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer" and key.strip():
        return key.strip(), call
    offered = (token.strip() for token in call.request.headers.get("sec-websocket-protocol", "").split(","))
    key = next((token[len(_KEY_PROTOCOL) :] for token in offered if token.startswith(_KEY_PROTOCOL)), "")
    if not key:
        return "", call
    headers = {**call.request.headers, "authorization": f"Bearer {key}"}
    return key, replace(call, request=replace(call.request, headers=headers))


def _no_room(calls: CallRegistry) -> Reply:
    return Reply.error(
        429,
        f"The emulator already holds max_calls={calls.max_calls} live calls and sessions; end one first.",
        code="rate_limit_exceeded",
    )


def _realtime_session(core: Core, call: Call) -> tuple[dict[str, Any], str] | Reply:
    """The new session (and ``api_key``/``ephemeral``) a ``?model=`` handshake asks for, or its refusal."""
    calls = core.calls
    expires_at = int(call.now) + SESSION_SECONDS
    if core.azure:
        refusal = core.authorize(call.request)
        if refusal is not None:
            return refusal
        deployment = _first(call, "deployment")
        if not deployment:
            return Reply.error(
                400, "Missing required parameter: 'deployment'.", param="deployment", code="missing_required_parameter"
            )
        return realtime_session({"model": deployment}, expires_at), "api_key"
    key, call = _key(call)
    if key.startswith("ek_"):
        minted = calls.minted(key)
        if minted is None or call.now >= minted[0]:
            why = "The ephemeral key has expired." if minted is not None else "Incorrect API key provided."
            return Reply.error(401, why, code="invalid_api_key")
        session = minted[1] if isinstance(minted[1], dict) else {}
        if session.get("type", "realtime") != "realtime":
            return Reply.error(
                400,
                "This key was minted for a transcription session; the emulator's primary socket serves "
                "Realtime conversations only.",
                code="invalid_request_error",
            )
        return {**session, "expires_at": expires_at}, "ephemeral"
    refusal = core.authorize(call.request)
    if refusal is not None:
        return refusal
    model = _first(call, "model")
    if not model:
        return Reply.error(
            400, "Missing required parameter: 'model'.", param="model", code="missing_required_parameter"
        )
    if model not in REALTIME_MODELS:
        return Reply.error(
            400,
            f"The model '{model[:80]}' does not exist or you do not have access to it.",
            param="model",
            code="model_not_found",
        )
    return realtime_session({"model": model}, expires_at), "api_key"


def install(core: Core) -> None:
    """The primary socket family: wraps the ``/realtime`` socket route (``?call_id=`` stays the sideband's) and
    serves ``/live/sessions``; installed after :mod:`.sidebands`."""
    calls = core.calls
    replays = core.live_events
    sideband = core.socket_route("/realtime")
    pick_driver = core.driver_for

    def realtime(call: Call) -> Reply | SocketSession:
        if "call_id" in parse_qs(call.request.query):
            if core.azure:
                return Reply.error(
                    400,
                    "The Realtime sideband (?call_id=) is not documented on Azure OpenAI, so the emulator does not "
                    "serve it there; open it against the OpenAI API.",
                    param="call_id",
                    code="unsupported_on_azure",
                )
            if sideband is None:
                return Reply.error(404, f"Invalid URL (GET {call.request.path})")
            return sideband.handler(call)
        if _first(call, "intent") == "transcription":
            return Reply.error(
                501,
                "Realtime transcription sessions (?intent=transcription) are not emulated; the emulator's primary "
                "socket serves conversations (?model=).",
                type="server_error",
                code="not_implemented",
            )
        asked = _realtime_session(core, call)
        if isinstance(asked, Reply):
            return asked
        session, auth = asked
        if not calls.has_room():
            return _no_room(calls)

        def run(transport: Transport) -> None:
            session_id = random_id("sess_")
            record = CallRecord(
                id=session_id,
                api="realtime",
                transport="websocket",
                state="active",
                created_at=calls.now(),
                session={**session, "id": session_id},
                auth=auth,
            )
            try:
                calls.add(record, evict=False)
            except NoRoomForCall:  # the last room went to another call since the handshake
                error = {
                    "type": "error",
                    "event_id": server_event_id(),
                    "error": {**_error_body(_NO_ROOM), "event_id": None},
                }
                with contextlib.suppress(SocketClosed):
                    transport.send_text(json.dumps(error))
                transport.close(1013, "the emulator holds max_calls sessions")
                return
            driver, scripted = pick_driver(session_id)
            RealtimePrimary(transport, calls, session_id, driver, scripted=scripted).run()

        return run

    def live(call: Call) -> Reply | SocketSession:
        if "model" in parse_qs(call.request.query):
            return Reply.error(
                400,
                "Unknown parameter: 'model'. Send the model in session.start's session, not in the URL.",
                param="model",
                code="unknown_parameter",
            )
        if not calls.has_room():
            return _no_room(calls)

        def run(transport: Transport) -> None:
            session_id = "live_" + secrets.token_hex(16)
            LivePrimary(transport, calls, session_id, None, replays=replays, pick_driver=pick_driver).run()

        return run

    core.add_socket_route(
        "/realtime",
        SocketRoute(realtime, auth=False, azure=False, azure_path="/openai/realtime", subprotocols=("realtime",)),
    )
    core.add_socket_route("/live/sessions", SocketRoute(live, azure=True))


def _error_body(problem: Problem) -> dict[str, Any]:
    return {"type": problem.type, "code": problem.code, "message": problem.message, "param": problem.param}
