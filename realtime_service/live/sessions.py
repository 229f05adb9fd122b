"""GPT-Live WebRTC sessions (``POST /live/sessions``): the session id's pattern and the typed result of creating
one. Kept apart from :mod:`realtime_service.live.models` so the service imports them without building the
config dataclasses at cold start."""

from __future__ import annotations

import re
from dataclasses import dataclass

#: A GPT-Live session id as used in paths (``live_...``; the pattern the API reference gives).
SESSION_ID = re.compile(r"live_[A-Za-z0-9_-]{1,128}")


@dataclass(frozen=True, slots=True)
class LiveSessionCreateResult:
    """A created GPT-Live WebRTC session: its ``session_id`` (``live_...``, kept unchanged), the SDP ``sdp``
    answer for the browser and the ``request_id`` of the answer."""

    session_id: str
    sdp: str
    request_id: str | None


__all__ = ["SESSION_ID", "LiveSessionCreateResult"]
