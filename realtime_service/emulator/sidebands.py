"""The sideband WebSocket routes: ``GET /v1/realtime?call_id=`` (Realtime) and ``/v1/live/sessions/{id}/attach``.

Contracts: SIDEBAND-NOTES 1-3; shapes: the ``openai`` SDK's ``types/realtime`` and ``types/live``. What the
notes leave open the emulator picks and docs/emulator-calls.md ("Sockets") says so:

- the handshake of an unknown, ended or not yet accepted call is refused with ``404`` and the body the notes
  quote (``call_id_not_found``; ``session_id_not_found`` for Live, UNCONFIRMED); an ``ek_`` key this emulator
  minted gets that same 404 on the Realtime sideband (the reported 2026-09 behaviour, UNCONFIRMED), any other
  key that is not the emulator's a 401;
- a Realtime sideband gets ``session.created`` on attach (clients tolerate it either way); a Live one gets
  nothing but the replay of the session's events of the last :data:`REPLAY_SECONDS`, ``event_id``\\ s kept;
- with no driver (``Emulator.on_sideband``) a call with a script plays it (:mod:`.scripted_calls`), and one
  without is quiet: ``response.create`` is answered with an empty completed response; with a driver, the driver
  answers what it is passed;
- a call's end (REST hang-up, reject, refer; Live ``session.close``) closes its sidebands with 1000, Live ones
  after ``session.closed`` (reason ``close_requested``; ``remote_hangup`` after an outbound call's
  ``transport.failed``), with or without ``graceful_close``;
- a Live sideband also gets the session's own events (``transport.ringing``... of :mod:`.outbound`) as they are
  published, replayed or live (:mod:`.live_events`);
- every Realtime ``response.done`` (scripted or quiet) is followed by ``rate_limits.updated``, as the API does;
- an item a Realtime connection creates (``conversation.item.create``) is announced on every connection of the
  call, the creator included (:mod:`.conversations`);
- on a call with a WebRTC peer, a Realtime sideband (and the call's data channel) also gets the caller's
  ``input_audio_buffer.speech_started/stopped`` as the peer's VAD hears them (:mod:`.call_audio`), from just
  after its ``session.created`` until it closes.

The primary sockets (``?model=``, ``GET /v1/live/sessions``) are :mod:`.primary_sockets`, over these classes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs

from .call_audio import CallAudio
from .call_registry import Api, CallRecord, CallRegistry
from .call_routes import NOT_FOUND_CODES
from .calls import SESSION
from .conversations import conversations_of
from .core import Call, Core, SocketClosed, SocketRoute, SocketSession, Transport
from .live_events import REPLAY_MAX_EVENTS as REPLAY_MAX_EVENTS
from .live_events import REPLAY_SECONDS as REPLAY_SECONDS
from .live_events import LiveEvents
from .replies import Reply, random_id
from .sideband_session import Problem, Sideband, server_event_id, session_of
from .validation import Object, validate

ATTACHABLE = frozenset({"active", "accepted", "dialing"})
"""States in which a call's sideband can attach: a WebRTC call (active), an accepted SIP call, or an outbound SIP
call from its creation on (dialing; answered, it is accepted: :mod:`.outbound`)."""
DEFAULT_REALTIME_MODEL = "gpt-realtime-2.1"
RATE_LIMITS = {"requests": 5_000, "tokens": 400_000}
"""The limits ``rate_limits.updated`` reports (the emulator enforces none); ``requests`` counts down by one per
response on the connection, ``tokens`` stays full (the emulator's responses use none)."""
RATE_LIMIT_RESET_SECONDS = 60.0
_SESSION_UPDATE = Object({"session": SESSION})
_REALTIME_CLIENT_EVENTS = frozenset(
    {
        "session.update",
        "input_audio_buffer.append",
        "input_audio_buffer.commit",
        "input_audio_buffer.clear",
        "conversation.item.create",
        "conversation.item.retrieve",
        "conversation.item.truncate",
        "conversation.item.delete",
        "response.create",
        "response.cancel",
        "output_audio_buffer.clear",
    }
)
_ITEM_TYPES = ("message", "function_call", "function_call_output")
_MERGED_OBJECTS = frozenset({("audio",), ("audio", "input"), ("audio", "output")})
"""The session objects a ``session.update`` changes field by field (every other field is replaced whole)."""
_LIVE_FORWARDED = frozenset(
    {"decision.create", "decision.item.create", "decision.item.delete", "session.output_audio.fixture.play"}
)
_LIVE_NOT_ON_SIDEBAND = frozenset({"session.start", "session.input_audio.append"})
_APPENDS = {
    "session.instructions.append": "session.instructions.appended",
    "session.thinking.append": "session.thinking.appended",
    "session.commentary.append": "session.commentary.appended",
}
_DTMF_KEYS = frozenset("0123456789ABCD*#")
_LIVE_UPDATABLE = ("delegation", "triggers")


def _not_found(api: Api) -> Reply:
    """The refused handshake (SIDEBAND-NOTES 2.6 quotes the Realtime body)."""
    noun = "call_id" if api == "realtime" else "session_id"
    return Reply.error(404, f"No session found for the provided {noun}", param="", code=NOT_FOUND_CODES[api])


def _attachable(calls: CallRegistry, call_id: str, api: Api) -> bool:
    record = calls.get(call_id)
    return record is not None and record.api == api and record.state in ATTACHABLE


# Realtime


def _merged(current: dict[str, Any], update: dict[str, Any], path: tuple[str, ...] = ()) -> dict[str, Any]:
    """``current`` with ``update``'s fields: only present fields change, and inside ``audio``, ``audio.input`` and
    ``audio.output`` field by field (the SDK's ``SessionUpdateEvent``: omitting ``audio.input.noise_reduction``
    leaves it unchanged), so a SIP sideband's update without ``format`` keeps the codec the call was accepted
    with. Any other object (``turn_detection``, ``transcription``, a format, ``tracing``...) is replaced whole:
    its fields depend on its ``type``."""
    merged = dict(current)
    for name, value in update.items():
        here = (*path, name)
        old = merged.get(name)
        if here in _MERGED_OBJECTS and isinstance(value, dict) and isinstance(old, dict):
            merged[name] = _merged(old, value, here)
        else:
            merged[name] = value
    return merged


class RealtimeSideband(Sideband):
    """``?call_id=``: the Realtime protocol; the session lives on the call's record (``session.update`` too)."""

    api: Api = "realtime"

    def __init__(self, *args: Any, audio: CallAudio | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._audio = audio
        self._unhear: Callable[[], None] | None = None  # stops the caller's speech events reaching this connection
        self._conversation = conversations_of(self.calls)
        self._leave: Callable[[], None] | None = None  # takes this connection out of the call's conversation
        self._active_response: str | None = None
        self._lock = threading.Lock()
        self._turn = threading.Lock()  # a response.done and its rate_limits.updated: no close between them
        self._responses = 0

    def send(self, event: Mapping[str, Any]) -> None:
        if event.get("type") != "response.done":
            super().send(event)
            return
        with self._turn:
            super().send(event)
            self._responses += 1
            rate_limits = [
                {
                    "name": name,
                    "limit": limit,
                    "remaining": max(0, limit - self._responses) if name == "requests" else limit,
                    "reset_seconds": RATE_LIMIT_RESET_SECONDS,
                }
                for name, limit in RATE_LIMITS.items()
            ]
            super().send({"type": "rate_limits.updated", "rate_limits": rate_limits})

    def ended(self, record: CallRecord) -> None:
        with self._turn:
            self.transport.close(1000, "")

    def _session(self) -> dict[str, Any]:
        record = self.calls.get(self.call_id)
        session = dict(record.session) if record is not None and isinstance(record.session, dict) else {}
        session["type"] = "realtime"
        session.setdefault("model", DEFAULT_REALTIME_MODEL)
        session.setdefault("object", "realtime.session")
        return session

    def attached(self) -> None:
        self.send({"type": "session.created", "session": self._session()})
        self._leave = self._conversation.join(self.call_id, self)  # items created on any connection reach it
        if self._audio is not None:
            self._unhear = self._audio.listen(self._hear)

    def _hear(self, event: dict[str, Any]) -> bool:
        """One of the caller's speech events (the peer's VAD); ``False`` once this connection is closed."""
        if self.closed:
            return False
        try:
            self.send(event)
        except SocketClosed:
            return False
        return True

    def run(self) -> None:
        try:
            super().run()
        finally:
            if self._leave is not None:
                self._leave()
            if self._unhear is not None:
                self._unhear()

    def released(self) -> None:
        with self._lock:
            if self._active_response == "resp_pending":  # a response.create the driver never answered
                self._active_response = None

    def sent(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        item = event.get("item")
        if kind == "conversation.item.done" and isinstance(item, dict) and isinstance(item.get("id"), str):
            self._conversation.finished(self.call_id, item["id"])  # a created item follows the script's last one
        if kind in ("response.created", "response.done"):
            response = event.get("response")
            response_id = response.get("id") if isinstance(response, dict) else None
            with self._lock:
                if kind == "response.created":
                    self._active_response = str(response_id) if response_id else "resp_pending"
                else:
                    self._active_response = None

    def error(self, problem: Problem, client_event_id: str | None) -> dict[str, Any]:
        return {
            "type": "error",
            "event_id": server_event_id(),
            "error": {
                "type": problem.type,
                "code": problem.code,
                "message": problem.message,
                "param": problem.param,
                "event_id": client_event_id,
            },
        }

    def handle(self, kind: str, event: dict[str, Any], client_event_id: str | None) -> bool:
        if kind not in _REALTIME_CLIENT_EVENTS:
            raise Problem(
                f"Invalid value: '{kind[:80]}'. Supported values are: "
                + ", ".join(f"'{name}'" for name in sorted(_REALTIME_CLIENT_EVENTS))
                + ".",
                code="invalid_value",
                param="type",
            )
        if kind == "session.update":
            self._update(event)
            return True
        if kind == "conversation.item.create":
            self._create_item(event)
            return True
        if kind == "response.create":
            return self._create_response()
        if kind == "response.cancel":
            with self._lock:
                active = self._active_response
            if active is None:
                raise Problem("Cancellation failed: no active response found", code="response_cancel_not_active")
        return True

    def _update(self, event: dict[str, Any]) -> None:
        session = event.get("session")
        if "session" not in event:
            raise Problem("Missing required parameter: 'session'.", code="missing_required_parameter", param="session")
        if isinstance(session, dict) and "type" not in session:
            raise Problem(
                "Missing required parameter: 'session.type'.",
                code="missing_required_parameter",
                param="session.type",
            )
        issue = validate(_SESSION_UPDATE, {"session": session})
        if issue is not None:
            raise Problem(issue.message, code=issue.code or "invalid_value", param=issue.param)
        assert isinstance(session, dict)
        current = self._session()
        if "model" in session and session["model"] != current["model"]:
            raise Problem(
                "The session's model cannot be changed once the session exists.",
                code="immutable_field_update",
                param="session.model",
            )
        merged = _merged(current, session)
        self.calls.update(self.call_id, lambda record: replace(record, session=merged))
        self.send({"type": "session.updated", "session": merged})

    def _create_item(self, event: dict[str, Any]) -> None:
        item = event.get("item")
        if not isinstance(item, dict):
            code, message = (
                ("missing_required_parameter", "Missing required parameter: 'item'.")
                if item is None
                else ("invalid_type", "Invalid type for 'item': expected an object.")
            )
            raise Problem(message, code=code, param="item")
        item_type = item.get("type")
        if item_type not in _ITEM_TYPES:
            raise Problem(
                f"Invalid value: '{str(item_type)[:80]}'. Supported values are: "
                + ", ".join(f"'{name}'" for name in _ITEM_TYPES)
                + ".",
                code="invalid_value",
                param="item.type",
            )
        required = {"function_call_output": ("call_id", "output"), "function_call": ("name", "arguments")}
        for name in required.get(str(item_type), ("role", "content")):
            if name not in item:
                raise Problem(
                    f"Missing required parameter: 'item.{name}'.",
                    code="missing_required_parameter",
                    param=f"item.{name}",
                )
        created = {**item, "id": item.get("id") or random_id("item_"), "object": "realtime.item", "status": "completed"}
        self._conversation.add(self.call_id, self, created)  # every connection of the call hears of it

    def _create_response(self) -> bool:
        with self._lock:
            active = self._active_response
            if active == "resp_pending" and self.scripted:
                # a script's responses come at its pace, not on request: until its next one starts, every
                # response.create waits for it (an app's greeting racing the script's call must not lock the
                # call's answer out); one under way still refuses them, as the API does
                active = None
            if active is None and self.driven:
                self._active_response = "resp_pending"  # until the driver's response.created names it
        if active is not None:
            raise Problem(
                f"Conversation already has an active response in progress: {active}. Wait until the response is "
                "finished before creating a new one.",
                code="conversation_already_has_active_response",
            )
        if self.driven:
            return True
        response = {
            "id": random_id("resp_"),
            "object": "realtime.response",
            "status": "in_progress",
            "status_details": None,
            "output": [],
            "conversation_id": "conv_" + self.call_id,
            "output_modalities": ["audio"],
            "usage": None,
        }
        self.send({"type": "response.created", "response": response})
        done = {
            **response,
            "status": "completed",
            "usage": {"total_tokens": 0, "input_tokens": 0, "output_tokens": 0},
        }
        self.send({"type": "response.done", "response": done})
        return False


# GPT-Live


class LiveSideband(Sideband):
    """``/live/sessions/{id}/attach``: the Live sideband subset (SIDEBAND-NOTES 3.2-3.5)."""

    api: Api = "live"

    def __init__(self, *args: Any, replays: LiveEvents, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._replay = replays.of(self.call_id)
        self._sent_closed = False

    def send(self, event: Any) -> None:
        payload = dict(event)
        payload.setdefault("event_id", server_event_id())
        if payload.get("type") == "session.closed":  # a script's hang-up: the session's one session.closed
            payload = self._replay.closed_event(lambda: payload)
            self._sent_closed = True
        text = json.dumps(payload)
        if payload.get("type") != "error":  # an error answers one connection's event: not the session's to replay
            self._replay.add(text)
        self.transport.send_text(text)

    def attached(self) -> None:
        self._replay.attach(self._listen)  # the replay, then the session's own events (transport.*) as they come

    def run(self) -> None:
        try:
            super().run()
        finally:
            self._replay.detach(self._listen)

    def _listen(self, text: str) -> bool:
        try:
            self.transport.send_text(text)
        except SocketClosed:
            return False
        return True

    def _resource(self, record: CallRecord | None = None) -> dict[str, Any]:
        record = record or self.calls.get(self.call_id)
        session = dict(record.session) if record is not None and isinstance(record.session, dict) else {}
        session.pop("type", None)
        created = record.created_at if record is not None else self.calls.now()
        return {
            **session,
            "id": self.call_id,
            "model": session.get("model", "gpt-live-1"),
            "status": "active",
            "expires_at": int(created) + 3600,
        }

    def _ms(self) -> int:
        record = self.calls.get(self.call_id)
        return max(0, int((self.calls.now() - (record.created_at if record is not None else 0.0)) * 1000))

    def error(self, problem: Problem, client_event_id: str | None) -> dict[str, Any]:
        return {
            "type": "error",
            "event_id": server_event_id(),
            "client_event_id": client_event_id,
            "error": {
                "type": problem.type,
                "code": problem.code,
                "message": problem.message,
                "param": problem.param,
                "client_event_id": client_event_id,
            },
        }

    def ended(self, record: CallRecord) -> None:
        def build() -> dict[str, Any]:
            closed: dict[str, Any] = {
                "type": "session.closed",
                "event_id": server_event_id(),
                "reason": "remote_hangup" if record.state == "failed" else "close_requested",
                "session": self._resource(record),
                "usage": {"seconds": max(0.0, self.calls.now() - record.created_at)},
            }
            if self._replay.close_event_id is not None:
                closed["client_event_id"] = self._replay.close_event_id
            return closed

        if not self._sent_closed:  # a script that hung up sent it already
            self.send(self._replay.closed_event(build))

    def handle(self, kind: str, event: dict[str, Any], client_event_id: str | None) -> bool:
        if kind in _LIVE_NOT_ON_SIDEBAND:
            raise Problem(
                f"'{kind}' is not allowed on a sideband connection: it belongs to the session's primary connection.",
                code="invalid_sideband_event",
                param="type",
            )
        if kind == "session.update":
            self._update(event, client_event_id)
        elif kind == "session.close":
            self._replay.close_event_id = client_event_id
            self.calls.decide(self.call_id, "close", None, allowed=ATTACHABLE, to="hung_up")
        elif kind in _APPENDS:
            self._append(kind, event, client_event_id)
        elif kind in ("session.input_audio.mute", "session.input_audio.unmute"):
            acked = "session.input_audio.muted" if kind.endswith(".mute") else "session.input_audio.unmuted"
            self.send({"type": acked, "client_event_id": client_event_id})
        elif kind in ("response.create", "response.item.create"):
            record = self.calls.get(self.call_id)
            session = record.session if record is not None and isinstance(record.session, dict) else {}
            delegation = session.get("delegation")
            # a script plays its tool calls as Responses delegation whatever the session's mode (script_runner)
            if not self.scripted and not (isinstance(delegation, dict) and delegation.get("type") == "responses"):
                raise Problem(f"{kind} requires Responses delegation.", code="responses_delegation_required")
        elif kind == "transport.dtmf.send":
            key = event.get("event")
            if not (isinstance(key, str) and key in _DTMF_KEYS):
                raise Problem(
                    "Invalid value for 'event': one of 0-9, A-D, * or #.", code="invalid_value", param="event"
                )
            self.send(
                {
                    "type": "transport.dtmf.sent",
                    "event": key,
                    "client_event_id": client_event_id,
                    "session_id": self.call_id,
                }
            )
        elif kind not in _LIVE_FORWARDED:
            raise Problem(
                f"Invalid value: '{kind[:80]}': not a Live sideband event.", code="invalid_value", param="type"
            )
        return True

    def _update(self, event: dict[str, Any], client_event_id: str | None) -> None:
        session = session_of(event)
        for name in session:
            if name not in _LIVE_UPDATABLE:
                raise Problem(
                    f"'session.{name[:80]}' cannot be updated: only delegation and triggers can change.",
                    code="immutable_field_update",
                    param=f"session.{name[:80]}",
                )
        record = self.calls.get(self.call_id)
        current = dict(record.session) if record is not None and isinstance(record.session, dict) else {}
        if "delegation" in session:
            old, new = current.get("delegation"), session["delegation"]
            old_type = old.get("type") if isinstance(old, dict) else "client"
            new_type = new.get("type") if isinstance(new, dict) else None
            if new_type != old_type:
                raise Problem(
                    "The delegation type cannot change after the session starts.",
                    code="immutable_field_update",
                    param="session.delegation.type",
                )
            session = {**session, "delegation": {**(old if isinstance(old, dict) else {}), **new}}
        merged = {**current, **session}
        updated = self.calls.update(self.call_id, lambda record: replace(record, session=merged))
        self.send({"type": "session.updated", "session": self._resource(updated), "client_event_id": client_event_id})

    def _append(self, kind: str, event: dict[str, Any], client_event_id: str | None) -> None:
        if not isinstance(event.get("content"), str):
            raise Problem("Missing required parameter: 'content'.", code="missing_required_parameter", param="content")
        if "delegation_id" not in event:
            raise Problem(
                "Missing required parameter: 'delegation_id' (null when not answering a delegation).",
                code="missing_required_parameter",
                param="delegation_id",
            )
        now = self._ms()
        self.send({"type": _APPENDS[kind], "start_ms": now, "end_ms": now, "client_event_id": client_event_id})


# the routes


def _bearer(call: Call) -> str:
    scheme, _, key = call.request.headers.get("authorization", "").strip().partition(" ")
    return key.strip() if scheme.lower() == "bearer" else ""


def install(core: Core) -> None:
    """The sideband family: attach to a Realtime call or a GPT-Live session over a WebSocket."""
    calls = core.calls
    replays = core.live_events
    _driver = core.driver_for

    def realtime(call: Call) -> Reply | SocketSession:
        query = parse_qs(call.request.query)
        call_id = (query.get("call_id") or [""])[0]
        key = _bearer(call)
        minted = calls.minted(key) if key.startswith("ek_") else None
        if minted is None:
            refusal = core.authorize(call.request)
            if refusal is not None:
                return refusal
        if minted is not None or not _attachable(calls, call_id, "realtime"):
            return _not_found("realtime")

        def session(transport: Transport) -> None:
            driver, scripted = _driver(call_id)
            audio = core.peers.audio(call_id) if core.peers is not None else None
            RealtimeSideband(transport, calls, call_id, driver, scripted=scripted, audio=audio).run()

        return session

    def live(call: Call) -> Reply | SocketSession:
        session_id = call.request.path.rstrip("/").split("/")[-2]
        graceful = parse_qs(call.request.query).get("graceful_close")
        if graceful is not None and graceful[-1] not in ("true", "false"):
            return Reply.error(400, "Invalid value for 'graceful_close': true or false.", code="invalid_value")
        if not _attachable(calls, session_id, "live"):
            return _not_found("live")

        def session(transport: Transport) -> None:
            driver, scripted = _driver(session_id)
            LiveSideband(transport, calls, session_id, driver, scripted=scripted, replays=replays).run()

        return session

    core.add_socket_route("/realtime", SocketRoute(realtime, auth=False))
    # Azure serves the Live sideband under /openai/v1 (CALLS-LIVE-NOTES 5); a Realtime ?call_id= sideband on
    # Azure is not documented, so /realtime stays OpenAI's only (primary_sockets serves Azure's /openai/realtime)
    core.add_socket_route("/live/sessions/{session_id}/attach", SocketRoute(live, azure=True))
