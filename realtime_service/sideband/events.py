"""Server events of a sideband, typed like the package's REST models.

:func:`parse_event` turns one decoded JSON object into a frozen dataclass: the types a controller acts on get
their own class with the fields it needs (shapes from the ``openai`` SDK 3.63, SIDEBAND-NOTES §2.2); every other
type, and any known type whose fields are not what the API documents, is a plain :class:`ServerEvent`. Nothing
is dropped: every event keeps its whole payload, read-only, in ``raw``. Parsing never raises.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any


def _frozen(value: Any) -> Any:
    """``value`` (parsed JSON) made read-only: mappings become ``MappingProxyType``, lists tuples."""
    if isinstance(value, dict):
        return MappingProxyType({key: _frozen(item) for key, item in value.items()})
    if isinstance(value, list):
        return tuple(_frozen(item) for item in value)
    return value


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else MappingProxyType({})


@dataclass(frozen=True, slots=True)
class ServerEvent:
    """Any server event: its ``type``, ``event_id`` (``None`` when missing) and the whole payload, read-only."""

    type: str
    event_id: str | None
    raw: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ResponseCreated(ServerEvent):
    """``response.created``: a response started (the app's or the server VAD's)."""

    response_id: str | None


@dataclass(frozen=True, slots=True)
class ResponseDone(ServerEvent):
    """``response.done``: always sent at a response's end, whatever its ``status``; ``usage`` if given."""

    response_id: str | None
    status: str | None
    usage: Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class OutputItemDone(ServerEvent):
    """``response.output_item.done``: the tool trigger when ``item_type == "function_call"`` and ``item_status ==
    "completed"`` (SIDEBAND-NOTES §2.3); also sent for interrupted or incomplete items."""

    response_id: str | None
    item_type: str | None
    item_status: str | None
    call_id: str | None
    name: str | None
    arguments: Any

    @property
    def is_completed_function_call(self) -> bool:
        return self.item_type == "function_call" and self.item_status == "completed"


@dataclass(frozen=True, slots=True)
class ErrorEvent(ServerEvent):
    """``error``: ``client_event_id`` is the ``event_id`` of the client event it answers, if any."""

    code: str | None
    message: str | None
    param: str | None
    client_event_id: str | None


@dataclass(frozen=True, slots=True)
class Transcript(ServerEvent):
    """A finished transcript line: ``role`` ``user`` (input transcription completed) or ``assistant`` (output
    audio transcript done)."""

    role: str
    text: str
    item_id: str | None


@dataclass(frozen=True, slots=True)
class DtmfReceived(ServerEvent):
    """``input_audio_buffer.dtmf_event_received`` (SIP only): one keypad key."""

    key: str


@dataclass(frozen=True, slots=True)
class SessionEvent(ServerEvent):
    """``session.created`` / ``session.updated``: the effective session."""

    session: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class TranscriptDelta(ServerEvent):
    """GPT-Live ``session.input_transcript.delta`` (``role`` ``user``) or ``session.output_transcript.delta``
    (``assistant``): a piece of a turn; GPT-Live sends no "done" and no item ids (SIDEBAND-NOTES §3.3)."""

    role: str
    delta: str


@dataclass(frozen=True, slots=True)
class DelegationCreated(ServerEvent):
    """GPT-Live ``session.delegation.created``: ``target`` ``client``, ``responses`` or ``decisions``; metadata
    only, no task text (SIDEBAND-NOTES §3.6)."""

    delegation_id: str
    target: str | None
    response_id: str | None


@dataclass(frozen=True, slots=True)
class ResponseEnvelope(ServerEvent):
    """GPT-Live ``response.event``: one event of a Responses delegation's backend stream; ``inner`` is that
    event, typed as a top-level one would be (``response.output_item.done`` is an :class:`OutputItemDone`)."""

    delegation_id: str | None
    inner: ServerEvent


@dataclass(frozen=True, slots=True)
class SessionClosed(ServerEvent):
    """GPT-Live ``session.closed``: the session's end (``reason``; ``usage`` such as ``{"seconds": ...}``)."""

    reason: str | None
    usage: Mapping[str, Any] | None


def parse_event(payload: Mapping[str, Any]) -> ServerEvent:
    """One decoded server event, typed when its type is known and its fields are what the API sends."""
    raw = _frozen(dict(payload))
    kind = _str(payload.get("type")) or ""
    event_id = _str(payload.get("event_id"))
    base = (kind, event_id, raw)
    if kind == "response.output_item.done":
        item = _map(raw.get("item"))
        return OutputItemDone(
            *base,
            response_id=_str(raw.get("response_id")),
            item_type=_str(item.get("type")),
            item_status=_str(item.get("status")),
            call_id=_str(item.get("call_id")),
            name=_str(item.get("name")),
            arguments=item.get("arguments"),
        )
    if kind in ("response.created", "response.done"):
        response = _map(raw.get("response"))
        if kind == "response.created":
            return ResponseCreated(*base, response_id=_str(response.get("id")))
        usage = response.get("usage")
        return ResponseDone(
            *base,
            response_id=_str(response.get("id")),
            status=_str(response.get("status")),
            usage=usage if isinstance(usage, Mapping) else None,
        )
    if kind == "error":
        error = _map(raw.get("error"))
        return ErrorEvent(
            *base,
            code=_str(error.get("code")),
            message=_str(error.get("message")),
            param=_str(error.get("param")),
            client_event_id=_str(error.get("event_id")) or _str(error.get("client_event_id")),
        )
    if kind == "conversation.item.input_audio_transcription.completed" and isinstance(raw.get("transcript"), str):
        return Transcript(*base, role="user", text=raw["transcript"], item_id=_str(raw.get("item_id")))
    if kind == "response.output_audio_transcript.done" and isinstance(raw.get("transcript"), str):
        return Transcript(*base, role="assistant", text=raw["transcript"], item_id=_str(raw.get("item_id")))
    if kind == "input_audio_buffer.dtmf_event_received" and isinstance(raw.get("event"), str):
        return DtmfReceived(*base, key=raw["event"])
    live = _parse_live(kind, base, raw)
    if live is not None:
        return live
    if kind in ("session.created", "session.updated") and isinstance(raw.get("session"), Mapping):
        return SessionEvent(*base, session=raw["session"])
    return ServerEvent(*base)


def _parse_live(kind: str, base: tuple[str, str | None, Any], raw: Mapping[str, Any]) -> ServerEvent | None:
    """The GPT-Live sideband's own events (SIDEBAND-NOTES §3.3), or ``None``."""
    if kind in ("session.input_transcript.delta", "session.output_transcript.delta"):
        if isinstance(raw.get("delta"), str):
            role = "user" if kind == "session.input_transcript.delta" else "assistant"
            return TranscriptDelta(*base, role=role, delta=raw["delta"])
    elif kind == "session.delegation.created":
        delegation = _map(raw.get("delegation"))
        ident = _str(delegation.get("id"))
        if ident:
            return DelegationCreated(
                *base,
                delegation_id=ident,
                target=_str(delegation.get("target")),
                response_id=_str(delegation.get("response_id")),
            )
    elif kind == "response.event":
        inner = raw.get("event")
        if isinstance(inner, Mapping):
            return ResponseEnvelope(*base, delegation_id=_str(raw.get("delegation_id")), inner=parse_event(inner))
    elif kind == "session.closed":
        usage = raw.get("usage")
        return SessionClosed(*base, reason=_str(raw.get("reason")), usage=usage if isinstance(usage, Mapping) else None)
    return None


__all__ = [
    "DelegationCreated",
    "DtmfReceived",
    "ErrorEvent",
    "OutputItemDone",
    "ResponseCreated",
    "ResponseDone",
    "ResponseEnvelope",
    "ServerEvent",
    "SessionClosed",
    "SessionEvent",
    "Transcript",
    "TranscriptDelta",
    "parse_event",
]
