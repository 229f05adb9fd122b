"""The session policy: what the server decides, what the browser may choose, and how it goes on the wire.

The browser speaks the endpoint's own small vocabulary (``model``, ``voice``, ``instructions``, ``tools``,
``turn_detection``, ``ttl``), of which it may set only the fields in ``server.browser_fields``; everything else
comes from ``server.session``. :class:`SessionTerms` then renders the result in whichever body shape the minting
operation takes: the beta ``create_realtime_session`` body or the GA ``client_secrets`` body.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from realtime_service.redaction import shown_name
from realtime_service.wire.controls import forbidden_character

from ..settings import MIN_TTL, SESSION_FIELDS, SessionDefaults

_MAX_NAME = 128  # a model or voice name longer than this is not a name


class PolicyError(Exception):
    """The browser's body breaks the policy: a 400 naming ``field``."""

    def __init__(self, field: str, message: str, code: str) -> None:
        self.field = field
        self.message = message
        self.code = code
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True, slots=True)
class SessionTerms:
    """One mint's session settings, server defaults and browser choices merged. ``None`` means "not sent"."""

    model: str | None
    voice: str | None
    instructions: str | None
    tools: tuple[Mapping[str, Any], ...] | None
    turn_detection: Mapping[str, Any] | None
    turn_detection_off: bool
    ttl: int
    #: Which fields the browser chose (for error reporting: a bad field the browser did not send is ours).
    chosen: frozenset[str]

    def beta_body(self) -> dict[str, Any]:
        """The body of ``create_realtime_session`` (beta names; bridged to GA by the service under ``ga``)."""
        body: dict[str, Any] = {}
        if self.model is not None:
            body["model"] = self.model
        if self.voice is not None:
            body["voice"] = self.voice
        if self.instructions is not None:
            body["instructions"] = self.instructions
        if self.tools is not None:
            body["tools"] = [dict(tool) for tool in self.tools]
        if self.turn_detection_off:
            body["turn_detection"] = None
        elif self.turn_detection is not None:
            body["turn_detection"] = dict(self.turn_detection)
        body["client_secret"] = {"expires_after": {"anchor": "created_at", "seconds": self.ttl}}
        return body

    def ga_body(self) -> dict[str, Any]:
        """The body of ``POST /realtime/client_secrets``."""
        session: dict[str, Any] = {"type": "realtime"}
        if self.model is not None:
            session["model"] = self.model
        if self.instructions is not None:
            session["instructions"] = self.instructions
        if self.tools is not None:
            session["tools"] = [dict(tool) for tool in self.tools]
        audio: dict[str, Any] = {}
        if self.turn_detection_off:
            audio["input"] = {"turn_detection": None}
        elif self.turn_detection is not None:
            audio["input"] = {"turn_detection": dict(self.turn_detection)}
        if self.voice is not None:
            audio["output"] = {"voice": self.voice}
        if audio:
            session["audio"] = audio
        return {"expires_after": {"anchor": "created_at", "seconds": self.ttl}, "session": session}


class SessionPolicy:
    """Turns a browser's JSON object into :class:`SessionTerms`, or raises :class:`PolicyError`.

    A field outside ``browser_fields`` is refused by name (``field_not_allowed``), as is a field the endpoint does
    not know (``unknown_field``). A ``ttl`` above ``max_ttl`` is capped to it; the server's own default TTL is
    never above it (checked in the settings).
    """

    def __init__(self, defaults: SessionDefaults, browser_fields: frozenset[str], max_ttl: int) -> None:
        self._defaults = defaults
        self._browser_fields = browser_fields
        self._max_ttl = max_ttl

    @property
    def browser_fields(self) -> frozenset[str]:
        return self._browser_fields

    def terms(self, body: Mapping[str, Any]) -> SessionTerms:
        d = self._defaults
        for name in body:
            if name not in SESSION_FIELDS:  # a key the browser chose: named only if it looks like a field name
                shown = shown_name(name)
                raise PolicyError(shown, f"unknown field {shown!r}", "unknown_field")
            if name not in self._browser_fields:
                raise PolicyError(
                    name, f"the field {name!r} is set by the server, not the browser", "field_not_allowed"
                )
        if not body:
            return SessionTerms(
                d.model, d.voice, d.instructions, d.tools, d.turn_detection, d.turn_detection_off, d.ttl, frozenset()
            )
        turn_detection, turn_detection_off = d.turn_detection, d.turn_detection_off
        if "turn_detection" in body:
            value = body["turn_detection"]
            if value is not None and not isinstance(value, dict):
                raise PolicyError("turn_detection", "must be an object or null", "invalid_type")
            turn_detection, turn_detection_off = value, value is None
        tools = d.tools
        if "tools" in body:
            value = body["tools"]
            if not isinstance(value, list) or not all(isinstance(tool, dict) for tool in value):
                raise PolicyError("tools", "must be a list of tool objects", "invalid_type")
            tools = tuple(value)
        return SessionTerms(
            model=_name(body, "model", d.model),
            voice=_name(body, "voice", d.voice),
            instructions=_text(body, "instructions", d.instructions),
            tools=tools,
            turn_detection=turn_detection,
            turn_detection_off=turn_detection_off,
            ttl=self._ttl(body) if "ttl" in body else d.ttl,
            chosen=frozenset(body),
        )

    def _ttl(self, body: Mapping[str, Any]) -> int:
        value = body["ttl"]
        if not isinstance(value, int) or isinstance(value, bool):
            raise PolicyError("ttl", "must be an integer number of seconds", "invalid_type")
        if value < MIN_TTL:
            raise PolicyError("ttl", f"must be at least {MIN_TTL} seconds", "invalid_value")
        return min(value, self._max_ttl)


def _name(body: Mapping[str, Any], name: str, default: str | None) -> str | None:
    if name not in body:
        return default
    value = body[name]
    if not isinstance(value, str) or not value or len(value) > _MAX_NAME:
        raise PolicyError(name, f"must be a non-empty string of at most {_MAX_NAME} characters", "invalid_type")
    if forbidden_character(value) is not None:  # a name is one line of text, never a terminal's command
        raise PolicyError(name, "must not contain control characters", "invalid_value")
    return value


def _text(body: Mapping[str, Any], name: str, default: str | None) -> str | None:
    if name not in body:
        return default
    value = body[name]
    if not isinstance(value, str):
        raise PolicyError(name, "must be a string", "invalid_type")
    return value


#: Where each endpoint field lands on the wire, in both body shapes (GA paths, and the beta names that the beta
#: schema and the beta-to-GA bridge report), to name the browser's field in a complaint about the wire body.
_WIRE_PATHS: tuple[tuple[str, str], ...] = (
    ("expires_after", "ttl"),
    ("client_secret", "ttl"),
    ("session.audio.input.turn_detection", "turn_detection"),
    ("session.audio.output.voice", "voice"),
    ("session.instructions", "instructions"),
    ("session.model", "model"),
    ("session.tools", "tools"),
    ("turn_detection", "turn_detection"),
    ("instructions", "instructions"),
    ("model", "model"),
    ("voice", "voice"),
    ("tools", "tools"),
)


def endpoint_field(wire_path: str | None) -> str | None:
    """The endpoint field that a wire path (``session.audio.output.voice``, ``tools.0.name``) belongs to."""
    if not wire_path:
        return None
    for prefix, name in _WIRE_PATHS:
        if wire_path == prefix or wire_path.startswith((prefix + ".", prefix + "[")):
            return name
    return None
