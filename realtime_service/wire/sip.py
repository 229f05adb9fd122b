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
