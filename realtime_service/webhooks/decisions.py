"""What a call router answers for an incoming call, and the router contract (sync or async).

A decision is checked when it is made (a refer target, a SIP status), so a bad one fails in the router, before
any upstream call. Hosts override the router like the gateway: any object with ``route(event)``, or a plain
function, returning a decision or an awaitable of one.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

from ..errors import ConfigurationError, RequestValidationError
from ..wire.sip import DEFAULT_REJECT_STATUS, MAX_STATUS, MIN_STATUS, check_target_uri
from .events import WebhookEvent
from .masking import mask_text

#: The Realtime API's default reject status (603 Decline); Live requires one between these bounds.


@dataclass(frozen=True, slots=True)
class Accept:
    """Answer the call with this session configuration (the accept endpoint's body: GA realtime session config
    with ``type: "realtime"``, or a Live session with ``type: "live"``).

    ``tools`` (a :class:`~realtime_service.sideband.tools.Toolbox` or any ``ToolRunner``), ``observers`` and, on
    GPT-Live, ``delegate`` (client delegation, sync or async): once the accept succeeded upstream, the worker that
    decided the call attaches its sideband with them, in the background (docs/tools-and-delegation.md, "Phone
    calls"). Realtime: the toolbox's ``definitions()`` become the session's ``tools`` unless the session names its
    own. GPT-Live: the session must state its ``delegation`` (omitted is client mode, SIDEBAND-NOTES 3.7); a
    ``responses`` delegation without ``tools`` gets the toolbox's ``responses_definitions()``. Tools on Live
    without a stated delegation, or ``delegate`` on Realtime, is a ``ConfigurationError``.

    ``agent`` (an Agents SDK ``RealtimeAgent``, Realtime calls only, instead of ``tools``/``delegate``/
    ``observers``): the session is the agent's (``OpenAIRealtimeSIPModel.build_initial_session_payload``, the
    SDK's own SIP recipe) with the router's ``session`` keys over it (top-level keys: the router's win; a
    ``model`` other than the SDK's is refused, its ``session.update`` could not change it), and the
    deciding worker runs the agent on the call's sideband under its lease. ``agent_run_config`` is the
    ``RealtimeRunConfig`` its runner gets; its ``tracing_disabled`` is ``True`` unless stated there."""

    session: Mapping[str, Any] = field(hash=False)
    tools: Any = field(default=None, hash=False, compare=False, repr=False)
    observers: tuple[Any, ...] = field(default=(), hash=False, compare=False, repr=False)
    delegate: Any = field(default=None, hash=False, compare=False, repr=False)
    agent: Any = field(default=None, hash=False, compare=False, repr=False)
    agent_run_config: Mapping[str, Any] | None = field(default=None, hash=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.session, Mapping):
            raise RequestValidationError({"session": ["must be a mapping (the session configuration)"]})
        session = dict(self.session)
        if self.agent is not None:
            session = _agent_session(self, session)
        elif self.agent_run_config is not None:
            raise ConfigurationError("Accept(agent_run_config=...) is for Accept(agent=...)")
        tools = self.tools
        if tools is not None and not (
            callable(getattr(tools, "run", None)) and callable(getattr(tools, "definitions", None))
        ):
            raise TypeError(
                f"Accept(tools=...) must be a Toolbox or a ToolRunner (definitions() and run()), not "
                f"{type(tools).__name__}"
            )
        if self.delegate is not None and not callable(self.delegate):
            raise TypeError("Accept(delegate=...) must be a callable (sync or async) taking a DelegationContext")
        live = session.get("type", "realtime") == "live"
        if self.tools is not None:
            if live:
                session["delegation"] = _live_delegation(session, self.tools)
            else:
                session.setdefault("tools", self.tools.definitions())  # the model must know the tools it may call
        if self.delegate is not None and not live:
            raise ConfigurationError(
                "Accept(delegate=...) is for GPT-Live sessions (client delegation); a Realtime call's tools go in "
                "tools="
            )
        object.__setattr__(self, "session", MappingProxyType(session))
        observers = (self.observers,) if callable(self.observers) else tuple(self.observers)
        if not all(callable(observer) for observer in observers):
            raise TypeError("Accept(observers=...) must be callables (sync or async) taking one event")
        object.__setattr__(self, "observers", observers)

    @property
    def attaches(self) -> bool:
        """Whether the deciding worker attaches the call's sideband after the accept."""
        return self.tools is not None or self.delegate is not None or bool(self.observers) or self.agent is not None


def _agent_session(accept: Accept, session: dict[str, Any]) -> dict[str, Any]:
    """The agent's accept session (the Agents SDK's SIP recipe) under the router's ``session``; checks that the
    agent goes alone, on a Realtime call, and that the SDK is installed (imported here only: it is an extra)."""
    if session.get("type", "realtime") == "live":
        raise ConfigurationError(
            "Accept(agent=...) is for Realtime calls; a GPT-Live session takes tools= or delegate="
        )
    if accept.tools is not None or accept.delegate is not None or accept.observers:
        raise ConfigurationError(
            "Accept(agent=...) runs the Agents SDK agent on the call: give it alone, not with tools=, delegate= or "
            "observers= (the agent's tools and session events are its own)"
        )
    if accept.agent_run_config is not None and not isinstance(accept.agent_run_config, Mapping):
        raise TypeError("Accept(agent_run_config=...) must be a mapping (an Agents SDK RealtimeRunConfig)")
    try:
        from agents.realtime import RealtimeAgent
        from agents.realtime.openai_realtime import OpenAIRealtimeSIPModel
    except ImportError as exc:
        raise ConfigurationError(
            "Accept(agent=...) needs the Agents SDK: pip install openai-agents (or the dev extra)"
        ) from exc
    if not isinstance(accept.agent, RealtimeAgent):
        raise TypeError(f"Accept(agent=...) must be an Agents SDK RealtimeAgent, not {type(accept.agent).__name__}")
    run_config: Any = {"tracing_disabled": True, **(accept.agent_run_config or {})}

    async def build() -> Any:
        return await OpenAIRealtimeSIPModel.build_initial_session_payload(accept.agent, run_config=run_config)

    payload = _completed(build)
    agent_session: dict[str, Any] = payload.model_dump(mode="json", exclude_unset=True)
    model = session.get("model", agent_session.get("model"))
    if model != agent_session.get("model"):  # the SDK's session.update names its own; a model cannot change
        raise ConfigurationError(
            f"Accept(agent=...): the session's model {model!r} is not the one the Agents SDK's session.update "
            f"names ({agent_session.get('model')!r}), which would be refused (immutable_field_update) with the "
            "agent's tools; leave 'model' out of the router's session"
        )
    return {**agent_session, **session}


def _completed(build: Callable[[], Awaitable[Any]]) -> Any:
    """``build()`` run to completion from sync code; on a running event loop (an async router) on a private loop
    in a helper thread (the SDK's payload build is async, a decision is made synchronously)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_awaited(build()))
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="agent-session") as pool:
        return pool.submit(lambda: asyncio.run(_awaited(build()))).result()


def _live_delegation(session: Mapping[str, Any], tools: Any) -> Any:
    """The Live session's ``delegation`` with the toolbox's tools in it: it must be stated (omitted is client
    mode, where no function call ever reaches the tools); a ``responses`` one without ``tools`` gets them."""
    delegation = session.get("delegation")
    if not isinstance(delegation, Mapping) or not isinstance(delegation.get("type"), str):
        raise ConfigurationError(
            "Accept(tools=...) on a GPT-Live session needs the session's delegation stated (omitted is client "
            "mode): {'type': 'responses', 'responses': {'model': ...}} to run the toolbox's tools, or "
            "{'type': 'client'} with Accept(delegate=...)"
        )
    if delegation["type"] != "responses":
        return delegation
    responses = delegation.get("responses")
    if not isinstance(responses, Mapping) or not isinstance(responses.get("model"), str) or not responses["model"]:
        raise ConfigurationError(
            "Accept(tools=...) on a GPT-Live session: delegation.responses.model must name the Responses model "
            "that calls the tools"
        )
    return delegation_with_tools(delegation, tools)


def delegation_with_tools(delegation: Mapping[str, Any], tools: Any) -> dict[str, Any]:
    """A checked ``responses`` delegation (its ``responses.model`` named) with the toolbox's
    ``responses_definitions()`` as ``responses.tools`` unless it names its own: a Live session has no top-level
    ``tools``, the Responses model learns them from here. Shared by ``Accept(tools=...)`` and ``server.sideband``."""
    responses = delegation["responses"]
    if "tools" in responses:
        return dict(delegation)  # the delegation's own
    definitions = getattr(tools, "responses_definitions", None)
    entries = definitions() if callable(definitions) else tools.definitions()
    return {**delegation, "responses": {**responses, "tools": list(entries)}}


@dataclass(frozen=True, slots=True)
class Reject:
    """Refuse the call with a SIP status (603 Decline by default, 486 Busy Here for a spent caller)."""

    status_code: int = DEFAULT_REJECT_STATUS

    def __post_init__(self) -> None:
        code = self.status_code
        if isinstance(code, bool) or not isinstance(code, int) or not MIN_STATUS <= code <= MAX_STATUS:
            raise RequestValidationError(
                {"status_code": [f"must be a SIP status between {MIN_STATUS} and {MAX_STATUS}"]}
            )


@dataclass(frozen=True, slots=True)
class Refer:
    """Transfer the call to a ``tel:``/``sip:``/``sips:`` URI."""

    target_uri: str

    def __post_init__(self) -> None:
        check_target_uri(self.target_uri)

    def __repr__(self) -> str:
        return f"Refer(target_uri={mask_text(self.target_uri)!r})"


@dataclass(frozen=True, slots=True)
class Ignore:
    """Do nothing with this event (not a call, or a call another event of the same call decides)."""


Decision = Accept | Reject | Refer | Ignore
DECISION_TYPES = (Accept, Reject, Refer, Ignore)


@runtime_checkable
class CallRouter(Protocol):
    """Decides each incoming call. ``route`` may be a plain or an ``async`` method."""

    def route(self, event: WebhookEvent) -> Decision | Awaitable[Decision]: ...


RouterLike = CallRouter | Callable[[WebhookEvent], "Decision | Awaitable[Decision]"]


def _checked(result: object, router: object) -> Decision:
    if not isinstance(result, DECISION_TYPES):
        raise TypeError(
            f"call router {router!r} returned {type(result).__name__}, not a decision (Accept, Reject, Refer or Ignore)"
        )
    return result


def _call(router: RouterLike, event: WebhookEvent) -> object:
    route = getattr(router, "route", None)
    if callable(route):
        return route(event)
    if callable(router):
        return router(event)
    raise TypeError(f"{router!r} is not a call router: give it a route(event) method or make it callable")


async def adecide(router: RouterLike, event: WebhookEvent) -> Decision:
    """The router's decision for ``event``, awaited when the router is async (for async endpoints)."""
    result = _call(router, event)
    if inspect.isawaitable(result):
        result = await result
    return _checked(result, router)


def decide(router: RouterLike, event: WebhookEvent) -> Decision:
    """The router's decision for ``event`` from sync code (a WSGI worker); an async router runs to completion on
    a private event loop. Not for use on a running event loop (use :func:`adecide` there)."""
    result = _call(router, event)
    if inspect.isawaitable(result):
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            if inspect.iscoroutine(result):
                result.close()
            raise RuntimeError("decide() was called on a running event loop: await adecide() instead")
        result = asyncio.run(_awaited(result))
    return _checked(result, router)


async def _awaited(awaitable: Awaitable[object]) -> object:
    return await awaitable
