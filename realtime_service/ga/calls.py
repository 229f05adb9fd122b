"""Realtime calls over WebRTC (``POST /realtime/calls``): the call id's pattern, reading it from ``Location``,
and the typed result of creating a call.

The API answers ``201`` with the SDP answer as the body and the call id only in ``Location``
(``/v1/realtime/calls/rtc_...``, CALLS-LIVE-NOTES 1.1). The official SDK hands back only the SDP bytes;
:class:`CallCreateResult` keeps the id too, so a server can hang the call up or attach to it later.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

#: A Realtime call id as used in paths (``rtc_u1_9c6574da8b8a41a18da9308f4ad974ce``). Anything else is refused
#: before it is put in a path, so no id can add a segment, a query or an escape.
CALL_ID = re.compile(r"rtc_[A-Za-z0-9_-]{1,128}")


def call_id_from_location(location: str | None) -> str | None:
    """The ``rtc_...`` call id in a ``Location`` header, or ``None`` if it holds none.

    Tolerates a relative path (``/v1/realtime/calls/rtc_1``), an absolute URL and a query string or fragment
    (UNCONFIRMED forms, cheap to accept); takes the last path segment that is a whole call id, as the
    openai/codex client does.
    """
    if not isinstance(location, str):
        return None
    try:
        path = urlsplit(location.strip()).path
    except ValueError:  # an unbalanced "[" in what would be a host
        return None
    for segment in reversed(path.split("/")):
        if CALL_ID.fullmatch(segment):
            return segment
    return None


@dataclass(frozen=True, slots=True)
class CallCreateResult:
    """A created Realtime call: the SDP ``sdp`` answer for the browser (text exactly as received, CRLFs kept),
    the ``call_id`` from ``Location`` (``None`` only if the answer's ``Location`` held no call id, which the API
    is not known to do; the call exists all the same) and the ``request_id`` of the answer."""

    sdp: str
    call_id: str | None
    request_id: str | None


__all__ = ["CALL_ID", "CallCreateResult", "call_id_from_location"]
