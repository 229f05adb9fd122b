"""Reading SIP headers from an incoming-call event: untrusted text, parsed defensively, never raising.

``sip_headers`` come from the caller's INVITE (OpenAI drops the auth headers): anything may be in them. Every
parser here accepts any string and returns what it could read (``None`` where nothing usable is there), so a
malformed header can never stop a call from being routed. Numbers are personal data: :class:`SipHeaders`'s
``repr`` masks them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote

from .masking import mask_text

#: RFC 3261 compact header names, for the headers this module reads.
COMPACT_NAMES = {"f": "from", "t": "to", "i": "call-id", "m": "contact", "r": "refer-to", "b": "referred-by"}
#: Visual separators allowed inside a telephone number (RFC 3966).
_SEPARATORS = re.compile(r"[-.() ]")
_NUMBER = re.compile(r"\+?[0-9]{3,20}")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
#: Longest header value these helpers read; longer ones are cut (a 1 MB From header is an attack, not a caller).
MAX_VALUE_LENGTH = 4096


def canonical_name(name: str) -> str:
    """A header name for comparison: trimmed, lower case, compact forms expanded (``f`` -> ``from``)."""
    lowered = name.strip().lower()
    return COMPACT_NAMES.get(lowered, lowered)


class SipHeaders(tuple[tuple[str, str], ...]):
    """The INVITE's headers as ``(name, value)`` pairs, in order, duplicates kept. Names match case-insensitively
    (and by compact form) in :meth:`get` and :meth:`get_all`; ``repr`` masks phone numbers."""

    __slots__ = ()

    def __new__(cls, pairs: Iterable[tuple[str, str]] = ()) -> SipHeaders:
        return super().__new__(cls, ((str(name), str(value)) for name, value in pairs))

    def get_all(self, name: str) -> tuple[str, ...]:
        """Every value of ``name``, in order."""
        wanted = canonical_name(name)
        return tuple(value for key, value in self if canonical_name(key) == wanted)

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of ``name``, or ``default``."""
        values = self.get_all(name)
        return values[0] if values else default

    def __repr__(self) -> str:
        return f"SipHeaders({mask_text(repr(tuple(self)))})"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class SipUri:
    """A ``sip:``/``sips:``/``tel:`` URI, split. ``user`` is percent-decoded; for ``tel:`` it is the number."""

    uri: str
    scheme: str | None
    user: str | None
    host: str | None
    params: tuple[tuple[str, str | None], ...]

    @property
    def number(self) -> str | None:
        """The telephone number in the URI's user part (``+14155550100``), separators removed, or ``None``."""
        if self.scheme not in {"sip", "sips", "tel"} or not self.user:
            return None
        return phone_number(self.user.split(";", 1)[0])

    def __repr__(self) -> str:
        return f"SipUri({mask_text(self.uri)!r})"


@dataclass(frozen=True, slots=True)
class Address:
    """A name-addr or addr-spec header value (From, To, Diversion...): ``"Name" <uri>;tag=...``."""

    display_name: str | None
    uri: SipUri
    params: tuple[tuple[str, str | None], ...]

    @property
    def number(self) -> str | None:
        return self.uri.number

    def param(self, name: str) -> str | None:
        """The value of header parameter ``name`` (``tag``, ``reason``...), ``""`` when it has none."""
        for key, value in self.params:
            if key == name.lower():
                return "" if value is None else value
        return None

    def __repr__(self) -> str:
        return f"Address({mask_text(repr(self.display_name))}, {self.uri!r})"


def phone_number(text: str) -> str | None:
    """``text`` as a phone number (``+14155550100``) once visual separators are dropped, or ``None``."""
    candidate = _SEPARATORS.sub("", text.strip())
    return candidate if _NUMBER.fullmatch(candidate) else None


def _params(text: str) -> tuple[tuple[str, str | None], ...]:
    found: list[tuple[str, str | None]] = []
    for part in text.split(";"):
        key, sep, value = part.partition("=")
        key = key.strip().lower()
        if key:
            found.append((key, value.strip().strip('"') if sep else None))
    return tuple(found)


def parse_uri(text: str) -> SipUri:
    """Split a URI; never raises. Unknown schemes keep only ``scheme``."""
    uri = text.strip()[:MAX_VALUE_LENGTH]
    scheme_text, sep, rest = uri.partition(":")
    if not sep or not _SCHEME.fullmatch(scheme_text):
        return SipUri(uri, None, None, None, ())
    scheme = scheme_text.lower()
    if scheme == "tel":
        number, _, params = rest.partition(";")
        return SipUri(uri, scheme, unquote(number) or None, None, _params(params))
    if scheme not in {"sip", "sips"}:
        return SipUri(uri, scheme, None, None, ())
    rest = rest.split("?", 1)[0]
    userinfo, at, hostpart = rest.partition("@")
    if not at:
        userinfo, hostpart = "", rest
    user = unquote(userinfo.split(":", 1)[0]) or None
    host, _, params = hostpart.partition(";")
    return SipUri(uri, scheme, user, host.strip() or None, _params(params))


def _quoted(text: str, start: int) -> tuple[str, int]:
    """The quoted string opening at ``text[start]`` (backslash escapes undone) and the index after it."""
    chars: list[str] = []
    index = start + 1
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            chars.append(text[index + 1])
            index += 2
            continue
        if char == '"':
            return "".join(chars), index + 1
        chars.append(char)
        index += 1
    return "".join(chars), index


def parse_address(value: str) -> Address:
    """Parse ``"Name" <sip:+14155550100@host>;tag=..``, ``Name <tel:+1...>``, ``sip:...;tag=..`` or junk.

    Never raises: whatever cannot be read is left out (an unparsable URI has ``scheme=None``).
    """
    text = value.strip()[:MAX_VALUE_LENGTH]
    display: str | None = None
    index = 0
    if text.startswith('"'):
        display, index = _quoted(text, 0)
    open_at = text.find("<", index)
    if open_at >= 0:
        if display is None:
            display = text[:open_at].strip() or None
        close_at = text.find(">", open_at)
        if close_at < 0:
            close_at = len(text)
        return Address(display, parse_uri(text[open_at + 1 : close_at]), _params(text[close_at + 1 :]))
    uri, _, params = text[index:].strip().partition(";")
    return Address(display, parse_uri(uri), _params(params))


def split_list(value: str) -> list[str]:
    """A comma-separated header value (``Diversion: <a>, <b>``) split at top-level commas only (not inside
    quotes or ``<...>``)."""
    parts: list[str] = []
    current: list[str] = []
    quoted = angled = False
    index = 0
    text = value[:MAX_VALUE_LENGTH]
    while index < len(text):
        char = text[index]
        if quoted and char == "\\" and index + 1 < len(text):
            current.append(text[index : index + 2])
            index += 2
            continue
        if char == '"' and not angled:
            quoted = not quoted
        elif char == "<" and not quoted:
            angled = True
        elif char == ">" and not quoted:
            angled = False
        elif char == "," and not quoted and not angled:
            parts.append("".join(current).strip())
            current = []
            index += 1
            continue
        current.append(char)
        index += 1
    parts.append("".join(current).strip())
    return [part for part in parts if part]


class HasSipHeaders(Protocol):
    @property
    def sip_headers(self) -> SipHeaders: ...


def _headers(source: HasSipHeaders | SipHeaders | Iterable[tuple[str, str]]) -> SipHeaders:
    if isinstance(source, SipHeaders):
        return source
    headers: Any = getattr(source, "sip_headers", source)
    return headers if isinstance(headers, SipHeaders) else SipHeaders(headers)


def addresses(source: HasSipHeaders | SipHeaders | Iterable[tuple[str, str]], name: str) -> tuple[Address, ...]:
    """Every address in every ``name`` header, in order (list-valued headers split at top-level commas)."""
    return tuple(parse_address(part) for value in _headers(source).get_all(name) for part in split_list(value))


def address(source: HasSipHeaders | SipHeaders | Iterable[tuple[str, str]], name: str) -> Address | None:
    """The first address in the ``name`` header (``From``, ``To``...), or ``None`` when there is none."""
    found = addresses(source, name)
    return found[0] if found else None


#: Where the caller's number is read from, most trustworthy first: the carrier's assertion, then From.
CALLER_HEADERS = ("P-Asserted-Identity", "Remote-Party-ID", "From")


def caller_number(source: HasSipHeaders | SipHeaders | Iterable[tuple[str, str]]) -> str | None:
    """The calling number: from P-Asserted-Identity (set by the carrier) when it holds one, else
    Remote-Party-ID, else From. ``None`` for anonymous or non-numeric callers."""
    for name in CALLER_HEADERS:
        for found in addresses(source, name):
            if found.number:
                return found.number
    return None


def called_number(source: HasSipHeaders | SipHeaders | Iterable[tuple[str, str]]) -> str | None:
    """The dialled number, from To."""
    found = address(source, "To")
    return found.number if found else None


def sip_call_id(source: HasSipHeaders | SipHeaders | Iterable[tuple[str, str]]) -> str | None:
    """The INVITE's Call-ID (trimmed, at most :data:`MAX_VALUE_LENGTH` characters), or ``None``."""
    value = _headers(source).get("Call-ID")
    value = value.strip()[:MAX_VALUE_LENGTH] if value else None
    return value or None


def diversions(source: HasSipHeaders | SipHeaders | Iterable[tuple[str, str]]) -> tuple[Address, ...]:
    """The Diversion entries (who forwarded the call, latest first as SIP lists them); ``reason`` is a param."""
    return addresses(source, "Diversion")
