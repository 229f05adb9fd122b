"""The webhook events a phone integration receives, as frozen dataclasses; any other type as a read-only mapping.

Shapes follow the official SDK's ``types/webhooks`` (envelope ``{object, id, type, created_at, data}``). What the
sources leave open is tolerated both ways: ``object`` and ``created_at`` may be absent, ``data.type`` (``sip``,
``webrtc``) and ``sip_media_security`` may be absent or any string. A known type whose identifying field is
missing or not an id is refused as ``malformed``: nothing could act on it. ``repr`` masks phone numbers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

from ..errors import WebhookVerificationError
from .masking import mask_text
from .sip import SipHeaders

#: What a call or session id may look like (it becomes a URL path segment: no ``/``, ``?`` or spaces).
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:~-]{0,255}")


def frozen(value: Any) -> Any:
    """``value`` (parsed JSON) made read-only all the way down: objects as mapping proxies, lists as tuples."""
    if isinstance(value, dict):
        return MappingProxyType({key: frozen(item) for key, item in value.items()})
    if isinstance(value, list):
        return tuple(frozen(item) for item in value)
    return value


@dataclass(frozen=True, slots=True)
class RealtimeCallIncoming:
    """``realtime.call.incoming``: a SIP call waits for ``accept_call``/``reject_call``/``refer_call(call_id)``."""

    type: ClassVar[str] = "realtime.call.incoming"
    id: str
    created_at: int | None
    call_id: str
    sip_headers: SipHeaders
    sip_media_security: str | None = None
    raw: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), repr=False, compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class LiveTransportIncoming:
    """``live.transport.incoming``: a SIP call waits for the Live ``accept/reject/refer(session_id)``.

    ``transport`` is ``data.type`` (``"sip"``), ``None`` when absent."""

    type: ClassVar[str] = "live.transport.incoming"
    id: str
    created_at: int | None
    session_id: str
    sip_headers: SipHeaders
    sip_media_security: str | None = None
    transport: str | None = None
    raw: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), repr=False, compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class LiveCallIncoming(LiveTransportIncoming):
    """``live.call.incoming``: the deprecated name of :class:`LiveTransportIncoming` (older subscriptions)."""

    type: ClassVar[str] = "live.call.incoming"


@dataclass(frozen=True, slots=True)
class LiveTransportConnected:
    """``live.transport.connected``: a direct Live WebRTC (or Instant Connect) session started; nothing to decide."""

    type: ClassVar[str] = "live.transport.connected"
    id: str
    created_at: int | None
    session_id: str
    transport: str | None = None
    raw: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), repr=False, compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class UnknownEvent:
    """Any other event type, kept whole and read-only (``data`` and ``raw`` are mapping proxies)."""

    type: str
    id: str | None
    created_at: int | None
    data: Mapping[str, Any] = field(hash=False)
    raw: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), repr=False, compare=False, hash=False)

    def __repr__(self) -> str:
        return (
            f"UnknownEvent(type={self.type!r}, id={self.id!r}, created_at={self.created_at!r}, "
            f"data={mask_text(repr(dict(self.data)))})"
        )


IncomingCall = RealtimeCallIncoming | LiveTransportIncoming
WebhookEvent = RealtimeCallIncoming | LiveTransportIncoming | LiveTransportConnected | UnknownEvent


def _malformed(message: str) -> WebhookVerificationError:
    return WebhookVerificationError("malformed", message)


def _reject_constant(name: str) -> Any:
    raise _malformed(f"the body holds {name}, which is not JSON")


def _id(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise _malformed(f"data.{key} is missing or not an id")
    return value


def _optional_text(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _malformed(f"data.{key} is not a string")
    return value


def _sip_headers(data: Mapping[str, Any]) -> SipHeaders:
    raw = data.get("sip_headers")
    if raw is None:
        return SipHeaders()
    if not isinstance(raw, list):
        raise _malformed("data.sip_headers is not a list")
    pairs = []
    for index, entry in enumerate(raw):
        name = entry.get("name") if isinstance(entry, dict) else None
        value = entry.get("value", "") if isinstance(entry, dict) else None
        if value is None:
            value = ""
        if not isinstance(name, str) or not name.strip() or not isinstance(value, str):
            raise _malformed(f"data.sip_headers[{index}] is not a {{name, value}} pair of strings")
        pairs.append((name, value))
    return SipHeaders(pairs)


def load_json(payload: bytes | str) -> Any:
    """The body as JSON, or a ``malformed`` refusal (NaN/Infinity, bad UTF-8 and absurd nesting included)."""
    try:
        return json.loads(payload, parse_constant=_reject_constant)
    except WebhookVerificationError:
        raise
    except (ValueError, TypeError):
        raise _malformed("the body is not JSON") from None
    except RecursionError:
        raise _malformed("the body is JSON nested too deeply") from None


def parse_event(payload: bytes | str | Mapping[str, Any]) -> WebhookEvent:
    """The typed event in a (verified) body; a type this module does not know becomes an :class:`UnknownEvent`."""
    envelope = load_json(payload) if isinstance(payload, bytes | str) else payload
    if not isinstance(envelope, Mapping):
        raise _malformed("the body is not a JSON object")
    kind = envelope.get("type")
    if not isinstance(kind, str) or not kind:
        raise _malformed("the event has no type")
    event_id = envelope.get("id")
    if event_id is not None and not isinstance(event_id, str):
        raise _malformed("the event id is not a string")
    created_at = envelope.get("created_at")
    if isinstance(created_at, bool) or not isinstance(created_at, int | None):
        raise _malformed("created_at is not whole Unix seconds")
    data = envelope.get("data")
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise _malformed("data is not an object")
    raw = frozen(dict(envelope))
    if kind not in _KNOWN:
        return UnknownEvent(kind, event_id, created_at, frozen(dict(data)), raw)
    if event_id is None:
        raise _malformed(f"the {kind} event has no id")
    if kind == RealtimeCallIncoming.type:
        return RealtimeCallIncoming(
            event_id,
            created_at,
            _id(data, "call_id"),
            _sip_headers(data),
            _optional_text(data, "sip_media_security"),
            raw,
        )
    if kind == LiveTransportConnected.type:
        return LiveTransportConnected(event_id, created_at, _id(data, "session_id"), _optional_text(data, "type"), raw)
    live = LiveCallIncoming if kind == LiveCallIncoming.type else LiveTransportIncoming
    return live(
        event_id,
        created_at,
        _id(data, "session_id"),
        _sip_headers(data),
        _optional_text(data, "sip_media_security"),
        _optional_text(data, "type"),
        raw,
    )


_KNOWN = frozenset(
    {RealtimeCallIncoming.type, LiveTransportIncoming.type, LiveCallIncoming.type, LiveTransportConnected.type}
)
