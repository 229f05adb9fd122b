"""A decision, carried out through the service's call-control operations (issue 13's operations).

:func:`service_act` / :func:`aservice_act` build the ``act`` a :class:`~.desk.CallDesk` needs from anything with
the operations' names (``accept_call(call_id, session)``, ``reject_live_session(session_id, status_code)``...,
and their ``a``-twins), so the desk never imports the service (no import circle) and a host can pass its own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from .decisions import Accept, Decision, Ignore, Refer, Reject
from .events import IncomingCall, RealtimeCallIncoming

#: decision class -> (Realtime operation, Live operation, argument name)
OPERATIONS: Mapping[type, tuple[str, str, str]] = {
    Accept: ("accept_call", "accept_live_session", "session"),
    Reject: ("reject_call", "reject_live_session", "status_code"),
    Refer: ("refer_call", "refer_live_session", "target_uri"),
}


def operation_for(event: IncomingCall, decision: Decision, *, asynchronous: bool = False) -> tuple[str, str, Any]:
    """``(operation name, call or session id, argument)`` that carries ``decision`` out for ``event``."""
    if isinstance(decision, Ignore):
        raise ValueError("Ignore has no operation: nothing is sent")
    realtime, live, _ = OPERATIONS[type(decision)]
    if isinstance(event, RealtimeCallIncoming):
        name, ident = realtime, event.call_id
    else:
        name, ident = live, event.session_id
    if isinstance(decision, Accept):
        argument: Any = dict(decision.session)
    elif isinstance(decision, Reject):
        argument = decision.status_code
    else:
        argument = decision.target_uri
    return (f"a{name}" if asynchronous else name), ident, argument


def _options(timeout: float | tuple[float, float] | None) -> dict[str, Any]:
    return {} if timeout is None else {"timeout": timeout}


def service_act(
    service: Any, *, timeout: float | tuple[float, float] | None = None
) -> Callable[[IncomingCall, Decision], None]:
    """The sync ``act`` over ``service`` (a ``RealtimeSessionService``: ``accept_call``, ``reject_live_session``...,
    see :mod:`realtime_service.service.call_control`). ``timeout`` bounds each upstream attempt (the webhook
    endpoint passes ``server.phone.upstream_timeout`` so it answers in bounded time)."""
    options = _options(timeout)

    def act(event: IncomingCall, decision: Decision) -> None:
        name, ident, argument = operation_for(event, decision)
        getattr(service, name)(ident, argument, **options)

    return act


def aservice_act(
    service: Any, *, timeout: float | tuple[float, float] | None = None
) -> Callable[[IncomingCall, Decision], Awaitable[None]]:
    """The async ``act`` over ``service``'s ``a``-twins, for :meth:`~.desk.CallDesk.ahandle`."""
    options = _options(timeout)

    async def act(event: IncomingCall, decision: Decision) -> None:
        name, ident, argument = operation_for(event, decision, asynchronous=True)
        await getattr(service, name)(ident, argument, **options)

    return act
