"""SIP values we send, checked before anything is sent: the ``target_uri`` of a refer and a reject's status.

Here, below the service and the webhooks package, so call control works in a core install (the webhooks package
needs ``standardwebhooks``, an extra).

The value becomes the SIP ``Refer-To`` header, so it must not be able to break out of it: only ``tel:``, ``sip:``
and ``sips:`` URIs of printable ASCII (RFC 3261 and 3966 percent-encode everything else): no control character
(CR/LF, NEL, C1), no space or other whitespace (U+00A0, U+2028...), no non-ASCII text, none of ``<>"\\``, and a
bounded length.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import RequestValidationError
from .controls import forbidden_character

SCHEMES = ("tel", "sip", "sips")
#: The API's reject status when none is given (603 Decline), and the SIP range a status must fall in.
DEFAULT_REJECT_STATUS = 603
MIN_STATUS, MAX_STATUS = 300, 699
MAX_TARGET_URI_LENGTH = 1024
_FORBIDDEN = re.compile(r'[<>"\\`{}|^]')
_TEL = re.compile(r"\+?[0-9A-Fa-f*#().-]*[0-9][0-9A-Fa-f*#().-]*(;[^;]*)*")
_HOST = re.compile(r"[A-Za-z0-9.\-\[\]:]+")


def check_target_uri(value: Any, field: str = "target_uri") -> str:
    """``value`` if it is a transfer target we would send; otherwise a :class:`RequestValidationError` naming
    ``field`` (the value is not echoed: it may be a caller's number)."""

    def refuse(why: str) -> RequestValidationError:
        return RequestValidationError({field: [why]})

    if not isinstance(value, str):
        raise refuse("must be a string (a tel:, sip: or sips: URI)")
    if not value.strip():
        raise refuse("must not be blank")
    if len(value) > MAX_TARGET_URI_LENGTH:
        raise refuse(f"must be at most {MAX_TARGET_URI_LENGTH} characters")
    if forbidden_character(value, ascii_only=True) is not None or _FORBIDDEN.search(value):
        raise refuse('must be printable ASCII: no spaces, control characters (CR, LF...), non-ASCII or any of <>"\\')
    scheme, sep, rest = value.partition(":")
    if not sep or scheme.lower() not in SCHEMES:
        raise refuse("must be a tel:, sip: or sips: URI, e.g. tel:+14155550123 or sip:agent@example.com")
    if scheme.lower() == "tel":
        if not _TEL.fullmatch(rest):
            raise refuse("must be tel: followed by a telephone number, e.g. tel:+14155550123")
        return value
    hostpart = rest.split("?", 1)[0].rpartition("@")[2].split(";", 1)[0]
    if not hostpart or not _HOST.fullmatch(hostpart):
        raise refuse(f"must name a host, e.g. {scheme.lower()}:agent@example.com")
    return value


# -- an outbound call's numbers and trunk (GPT-Live SIP, voice-sip guide "Place an outbound call") ----------------

#: E.164: ``+``, a country code that does not start with 0, 8 to 15 digits in all, nothing else (no spaces).
_E164 = re.compile(r"\+[1-9][0-9]{7,14}")
_PROVIDER = re.compile(r"sips:(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(?P<port>[0-9]{1,5}))?(?P<params>;.*)?")
_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
_LOCAL_NAMES = (".localhost", ".local", ".internal", ".localdomain", ".home.arpa", ".lan")
MAX_PROVIDER_URL_LENGTH = 512
MAX_USERNAME_BYTES = 256
MAX_PASSWORD_BYTES = 4096
_LINE_BREAKING = frozenset("\r\n\0")


def e164_problem(value: str) -> str | None:
    """Why ``value`` is not a phone number an outbound call takes, or ``None``; the value is never quoted (it is
    personal data). A SIP URI gets its own reason: the guide supports E.164 destinations only."""
    if _E164.fullmatch(value):
        return None
    if value[:4].lower() == "sip:" or value[:5].lower() == "sips:":
        return "SIP URI destinations are not supported by outbound GPT-Live calls: give an E.164 number"
    return "must be a phone number in E.164 format: + then 8 to 15 digits, no spaces or punctuation"


def _host_problem(host: str) -> str | None:
    import ipaddress

    if host.startswith("["):
        try:
            v6 = ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return "the bracketed host is not an IPv6 address"
        address: ipaddress.IPv4Address | ipaddress.IPv6Address = v6.ipv4_mapped or v6  # ::ffff:10.0.0.1 is 10.0.0.1
    else:
        try:
            address = ipaddress.IPv4Address(host)
        except ValueError:
            name = host.rstrip(".").lower()
            labels = name.split(".")
            if not all(_LABEL.fullmatch(label) for label in labels):
                return "the host is not a valid host name"
            if all(label.isdigit() for label in labels):
                return "the host is not a valid IPv4 address"
            if len(labels) < 2 or name.endswith(_LOCAL_NAMES):
                return "the host must be a public host name (the API reaches your trunk from the internet)"
            return None
    if not address.is_global or address.is_multicast:
        return "the host must be a public address (the API reaches your trunk from the internet)"
    return None


def provider_url_problem(value: str) -> str | None:
    """Why ``value`` is not a trunk URL the API takes (``sips:host[:port][;transport=tcp]``), or ``None``."""
    if len(value) > MAX_PROVIDER_URL_LENGTH:
        return f"at most {MAX_PROVIDER_URL_LENGTH} characters"
    if value[:5].lower() != "sips:":
        return "must be a sips: URI (TLS signaling; plaintext sip: is not supported)"
    if "@" in value:
        return "must not hold userinfo: the credentials go in trunk.auth"
    match = _PROVIDER.fullmatch("sips:" + value[5:])
    if match is None:
        return "must be sips:host[:port][;transport=tcp] (no path, URI headers, spaces or control characters)"
    params = match.group("params")
    if params is not None and params.lower() != ";transport=tcp":
        return "the only URI parameter allowed is ;transport=tcp"
    port = match.group("port")
    if port is not None and not 1 <= int(port) <= 65535:
        return "the port must be 1 to 65535"
    return _host_problem(match.group("host"))


def credential_problem(value: str, limit: int, *, blank_ok: bool) -> str | None:
    """Why ``value`` (a trunk username or password) cannot be sent, or ``None``: bounded in UTF-8 bytes, and no
    CR, LF or NUL (they would break the SIP headers built from it)."""
    if len(value.encode("utf-8", "surrogatepass")) > limit:
        return f"at most {limit} bytes in UTF-8"
    if _LINE_BREAKING & set(value):
        return "must not contain CR, LF or NUL"
    if not blank_ok and not value.strip():
        return "must contain a non-whitespace character"
    return None
