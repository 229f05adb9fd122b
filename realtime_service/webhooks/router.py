"""The default call router, from configuration: accept with ``server.phone.session``, or reject everything.

One pending SIP call may be announced twice, as ``realtime.call.incoming`` and ``live.transport.incoming``; the
session's ``type`` says which API answers it, and the other announcement is ignored (it must not be decided, or
the call could be answered on the wrong surface). A caller whose ``server.phone.rate_limit`` is spent gets 486.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigurationError
from .callers import CallerLimiter, CallerRateLimiter
from .decisions import Accept, Decision, Ignore, Reject
from .events import LiveTransportIncoming, RealtimeCallIncoming, WebhookEvent
from .masking import logger
from .settings import PhoneSettings
from .sip import caller_number

#: SIP 603 Decline (nothing configured) and 486 Busy Here (the caller's budget is spent).
DECLINE = 603
BUSY_HERE = 486


def load_toolbox(reference: str, *, setting: str = "server.phone.tools") -> Any:
    """The Toolbox ``setting`` (``server.phone.tools``, ``server.sideband.tools``) names (``module:attribute``),
    imported once at start-up; a ``ConfigurationError`` naming the setting when it does not resolve to one."""
    from ..sideband.tools import Toolbox

    target = _resolved(reference, setting)
    if not isinstance(target, Toolbox):
        raise ConfigurationError(
            f"config key {setting!r}: {reference!r} is a {type(target).__name__}, not a Toolbox"
        )
    return target


def load_delegate(reference: str, *, setting: str = "server.sideband.delegate") -> Any:
    """The GPT-Live client ``delegate`` (a callable, sync or async, given a ``DelegationContext``) ``setting``
    names (``module:attribute``), imported once at start-up; a ``ConfigurationError`` naming the setting when it
    does not resolve to a callable (a class is refused: calling it would not answer the delegation)."""
    target = _resolved(reference, setting)
    if not callable(target) or isinstance(target, type):
        raise ConfigurationError(
            f"config key {setting!r}: {reference!r} is a {type(target).__name__}, not a function taking a "
            "DelegationContext"
        )
    return target


def _resolved(reference: str, setting: str) -> Any:
    """What ``module:attribute`` names, or a ``ConfigurationError`` naming ``setting``."""
    module_name, _, attribute = reference.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(
            f"config key {setting!r}: cannot import module {module_name!r} ({type(exc).__name__}: {exc})"
        ) from None
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ConfigurationError(
                f"config key {setting!r}: module {module_name!r} has no attribute {attribute!r}"
            ) from None
    return target


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

    def __init__(
        self, session: Mapping[str, Any] | None, limiter: CallerLimiter | None = None, tools: Any = None
    ) -> None:
        self.session = session
        self.limiter = limiter
        self.tools = tools
        self.session_type = str(session.get("type", "realtime")) if session is not None else None
        if tools is not None and session is not None:
            try:
                Accept(session, tools=tools)  # a Live session that states no delegation fails at start, not per call
            except ConfigurationError as exc:
                keys = "config keys 'server.phone.session' and 'server.phone.tools'"
                raise ConfigurationError(f"{keys}: {exc}") from None

    @classmethod
    def from_settings(
        cls, settings: PhoneSettings, storage_uri: str = "memory://", strategy: str = "moving-window"
    ) -> ConfigRouter:
        """The router ``server.phone`` describes; ``storage_uri`` is the token endpoint's
        ``server.rate_limit_storage`` so budgets are shared across workers the same way."""
        tools = load_toolbox(settings.tools) if settings.tools is not None else None
        limiter = CallerRateLimiter(settings.rate_limit, storage_uri, strategy) if settings.rate_limit else None
        return cls(settings.session, limiter, tools)

    def __repr__(self) -> str:
        return (
            f"ConfigRouter(session_type={self.session_type!r}, limited={self.limiter is not None}, "
            f"tools={self.tools is not None})"
        )

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
        return Accept(self.session, tools=self.tools)
