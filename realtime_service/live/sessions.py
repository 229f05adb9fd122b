"""GPT-Live WebRTC sessions (``POST /live/sessions``): the session id's pattern and the typed result of creating
one. Kept apart from :mod:`realtime_service.live.models` so the service imports them without building the
config dataclasses at cold start."""

from __future__ import annotations

import re
from dataclasses import dataclass

#: A GPT-Live session id as used in paths (``live_...``; the pattern the API reference gives).
SESSION_ID = re.compile(r"live_[A-Za-z0-9_-]{1,128}")
#: The answer's ``"session": {"id": "live_..."`` as it starts, found in as much of the body as arrived.
_SESSION_START = re.compile(rb'^\s*\{\s*"session"\s*:\s*\{\s*"id"\s*:\s*"(live_[A-Za-z0-9_-]{1,128})"')


def session_id_in_partial(body: bytes) -> str | None:
    """The id of a created session in the start of an answer whose rest was lost, or ``None``. Only the exact
    start the API answers with counts (``{"session": {"id": "live_..."``, the id closed by its quote), so a cut
    id, or an id anywhere else in the text, is never taken for the session's."""
    found = _SESSION_START.match(body)
    return found.group(1).decode("ascii") if found else None


@dataclass(frozen=True, slots=True)
class LiveSessionCreateResult:
    """A created GPT-Live WebRTC session: its ``session_id`` (``live_...``, kept unchanged), the SDP ``sdp``
    answer for the browser and the ``request_id`` of the answer."""

    session_id: str
    sdp: str
    request_id: str | None


@dataclass(frozen=True, slots=True)
class OutboundLiveCallResult:
    """An outbound GPT-Live SIP call the API placed: its ``session_id`` (``live_...``: attach its sideband at once
    to hear ``transport.ringing`` then ``transport.answered`` or ``transport.failed``) and the ``request_id``."""

    session_id: str
    request_id: str | None


__all__ = ["SESSION_ID", "LiveSessionCreateResult", "OutboundLiveCallResult", "session_id_in_partial"]
