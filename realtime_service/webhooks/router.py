"""The default call router, from configuration: accept with ``server.phone.session``, or reject everything.

One pending SIP call may be announced twice, as ``realtime.call.incoming`` and ``live.transport.incoming``; the
session's ``type`` says which API answers it, and the other announcement is ignored (it must not be decided, or
the call could be answered on the wrong surface). A caller whose ``server.phone.rate_limit`` is spent gets 486.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .callers import CallerLimiter, CallerRateLimiter
from .decisions import Accept, Decision, Ignore, Reject
from .events import LiveTransportIncoming, RealtimeCallIncoming, WebhookEvent
from .masking import logger
from .settings import PhoneSettings
from .sip import caller_number

#: SIP 603 Decline (nothing configured) and 486 Busy Here (the caller's budget is spent).
DECLINE = 603
BUSY_HERE = 486


def api_of(event: WebhookEvent) -> str | None:
    """``realtime`` or ``live`` for an incoming call, ``None`` for any other event."""
    if isinstance(event, RealtimeCallIncoming):
        return "realtime"
    if isinstance(event, LiveTransportIncoming):
        return "live"
    return None


class ConfigRouter:
    """Accept every incoming call with ``session`` (on the API its ``type`` names) within each caller's budget;
    with no session, reject every call (603). Other events are ignored."""

    def __init__(self, session: Mapping[str, Any] | None, limiter: CallerLimiter | None = None) -> None:
        self.session = session
        self.limiter = limiter
        self.session_type = str(session.get("type", "realtime")) if session is not None else None

    @classmethod
    def from_settings(
        cls, settings: PhoneSettings, storage_uri: str = "memory://", strategy: str = "moving-window"
    ) -> ConfigRouter:
        """The router ``server.phone`` describes; ``storage_uri`` is the token endpoint's
        ``server.rate_limit_storage`` so budgets are shared across workers the same way."""
        limiter = CallerRateLimiter(settings.rate_limit, storage_uri, strategy) if settings.rate_limit else None
        return cls(settings.session, limiter)

    def __repr__(self) -> str:
        return f"ConfigRouter(session_type={self.session_type!r}, limited={self.limiter is not None})"

    def route(self, event: WebhookEvent) -> Decision:
        api = api_of(event)
        if api is None or not isinstance(event, RealtimeCallIncoming | LiveTransportIncoming):
            return Ignore()
        if self.session is None:
            return Reject(DECLINE)
        if api != self.session_type:
            return Ignore()  # the same call's other announcement is the one this configuration answers
        number = caller_number(event)
        if self.limiter is not None:
            retry_after = self.limiter.hit(number)
            if retry_after is not None:
                logger.info(
                    "caller %s is over server.phone.rate_limit (room again in %.0f s): 486",
                    number or "anonymous",  # the logger masks it
                    retry_after,
                )
                return Reject(BUSY_HERE)
        return Accept(self.session)
