"""Phone calls a worker accepted (and, under ``server.sideband``, calls ``/session`` started), attached in the
background: one sideband per call, one owner per call.

The webhook endpoint answers OpenAI at once; :meth:`CallAttacher.attach` only schedules the attach on a
:class:`~.threaded.SidebandThread` (its own loop, so a WSGI worker never blocks and the call outlives the
request; an ASGI server uses it the same way). Each call is attached by the worker holding its lease
(:mod:`.ownership`): the lease is acquired first, kept by a :class:`~.ownership.LeaseKeeper` while attached, the
sideband is closed the moment it is lost (and no tool runs once the keeper says the lease may be gone), and it is
released when the call ends. ``close()`` (the container's ``shutdown_resources()``) cancels every attach and
closes every socket.

Realtime calls attach with ``aattach_call(call_id)``, GPT-Live sessions with ``aattach_live_session(session_id)``
(tools answer Responses delegation, a ``delegate`` client delegation; both run only while the lease is surely
ours; ``transport`` is ``sip`` unless ``options`` say otherwise: ``/session``'s sessions are ``webrtc``). A
call accepted with ``Accept(agent=...)`` runs the Agents SDK agent instead (``RealtimeRunner`` with
``OpenAIRealtimeSIPModel`` on the service's sideband URL and headers): a lost lease or a shutdown closes the
agent's session (its socket only; the call goes on), the call's end ends it. The SDK runs the agent's tools
itself: unlike a toolbox, they are not checked against the lease before each run.
Not yet done: a standby that takes over a call whose owner died
(:func:`~.ownership.atake_over` and a re-attach).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
import logging
import os
import re
import socket
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ..errors import ConfigurationError
from .ownership import DEFAULT_TTL, CallLeases, LeaseKeeper, LeaseUnavailable
from .realtime import CallEnd
from .threaded import SidebandThread

logger = logging.getLogger("realtime_service.sideband.phone")


def owner_name() -> str:
    """This worker's name in a lease: ``<host>.<pid>``, cut to what lease owner names may hold."""
    host = re.sub(r"[^A-Za-z0-9_.:@-]", "-", socket.gethostname()).strip("-.") or "host"
    return f"{host[:100]}.{os.getpid()}"


class _LeaseGuardedTools:
    """The call's tools, run only while the lease is surely ours (checked right before each run); once it is
    not, the run never starts and the sideband is being closed (no output is sent for it)."""

    def __init__(self, tools: Any, keeper: LeaseKeeper, stop: asyncio.Event) -> None:
        self._tools = tools
        self._keeper = keeper
        self._stop = stop

    def definitions(self) -> list[dict[str, Any]]:
        return list(self._tools.definitions())

    async def run(self, name: str, arguments: str, *, call_id: str) -> str:
        if not self._keeper.valid():
            self._stop.set()
            await asyncio.Event().wait()  # cancelled when the sideband closes
        return str(await self._tools.run(name, arguments, call_id=call_id))


def _lease_guarded_delegate(delegate: Any, keeper: LeaseKeeper, stop: asyncio.Event) -> Any:
    """A GPT-Live client ``delegate`` run only while the lease is surely ours, like :class:`_LeaseGuardedTools`."""

    async def guarded(context: Any) -> Any:
        if not keeper.valid():
            stop.set()
            await asyncio.Event().wait()  # cancelled when the sideband closes
        result = delegate(context)
        return await result if inspect.isawaitable(result) else result

    return guarded


def _mask_sdk_handshakes() -> None:
    """The Agents SDK connects with ``websockets`` on its default logger, which logs the request headers (the
    service's key) at DEBUG: the sideband's redacting filter goes on it too (once)."""
    from .connection import SocketLogFilter

    client_logger = logging.getLogger("websockets.client")
    if not any(isinstance(each, SocketLogFilter) for each in client_logger.filters):
        client_logger.addFilter(SocketLogFilter())


class _Wiring:
    """What one call is attached with: its API, tools, observers and (Live) client delegate."""

    __slots__ = ("agent", "agent_run_config", "api", "delegate", "observers", "options", "tools")

    def __init__(
        self,
        api: str,
        tools: Any,
        observers: tuple[Any, ...],
        delegate: Any,
        options: dict[str, Any],
        agent: Any = None,
        agent_run_config: Mapping[str, Any] | None = None,
    ) -> None:
        self.api = api
        self.tools = tools
        self.observers = observers
        self.delegate = delegate
        self.options = options
        self.agent = agent
        self.agent_run_config = agent_run_config


class CallAttacher:
    """Attaches accepted calls' sidebands with ``service.aattach_call`` (GPT-Live: ``aattach_live_session``), each
    under its lease in ``leases``.
    Thread-safe; one per process (the container's ``token_server.call_attacher``)."""

    def __init__(
        self,
        service: Any,
        leases: CallLeases,
        *,
        owner: str | None = None,
        ttl: float = DEFAULT_TTL,
        attach_options: dict[str, Any] | None = None,
    ) -> None:
        self.service = service
        self.leases = leases
        self.owner = owner or owner_name()
        self.ttl = ttl
        self.attach_options = dict(attach_options or {})
        self._thread = SidebandThread(name="realtime-phone-sidebands")
        self._lock = threading.Lock()
        self._active: set[str] = set()
        self._closed = False
        #: Counters (for logs and tests): calls attached, refused because another worker owns them, failed.
        self.attached = 0
        self.not_owner = 0
        self.failed = 0

    def __repr__(self) -> str:
        return f"CallAttacher(owner={self.owner!r}, active={len(self._active)}, attached={self.attached})"

    @property
    def active(self) -> int:
        return len(self._active)

    def attach(
        self,
        call_id: str,
        *,
        tools: Any = None,
        observers: Iterable[Any] = (),
        delegate: Any = None,
        api: str = "realtime",
        options: Mapping[str, Any] | None = None,
        agent: Any = None,
        agent_run_config: Mapping[str, Any] | None = None,
    ) -> concurrent.futures.Future[CallEnd | None] | None:
        """Schedule the attach of ``call_id`` (a Realtime call id, or with ``api="live"`` a GPT-Live session id)
        and return at once (a future of its :class:`CallEnd`, ``None`` when another worker owns the call);
        ``None`` when this process already attends to it or is closing. ``delegate`` is for Live only;
        ``options`` (the attach method's keywords, e.g. ``max_call_seconds``) override ``attach_options``.
        ``agent`` (an Agents SDK ``RealtimeAgent``, Realtime only, alone) is run on the call instead, its runner
        given ``agent_run_config`` (``tracing_disabled`` is ``True`` unless stated there)."""
        if api not in ("realtime", "live"):
            raise ValueError("api must be 'realtime' or 'live'")
        if delegate is not None and api != "live":
            raise ValueError("delegate= is for GPT-Live sessions (api='live')")
        observers = tuple(observers)
        if agent is not None and (api != "realtime" or tools is not None or delegate is not None or observers):
            raise ValueError("agent= is for Realtime calls (api='realtime'), without tools=, delegate= or observers=")
        wiring = _Wiring(
            api, tools, observers, delegate, {**self.attach_options, **(options or {})}, agent, agent_run_config
        )
        with self._lock:
            if self._closed or call_id in self._active:
                return None
            self._active.add(call_id)
        try:
            self._thread.start()
            return self._thread.submit(lambda: self._attend(call_id, wiring))
        except BaseException:
            with self._lock:
                self._active.discard(call_id)
            raise

    async def _attend(self, call_id: str, wiring: _Wiring) -> CallEnd | None:
        try:
            try:
                lease = await self.leases.aacquire(call_id, self.owner, self.ttl)
            except LeaseUnavailable as exc:
                self.failed += 1
                logger.error("call %s: not attached, the lease storage did not answer (%s)", call_id, exc)
                return None
            if lease is None:
                self.not_owner += 1
                logger.info("call %s: another worker owns it; not attached here", call_id)
                return None
            stop = asyncio.Event()
            keeper = LeaseKeeper(self.leases, lease, on_lost=lambda _reason: stop.set())
            keeper.start()
            try:
                return await self._attached(call_id, wiring, keeper, stop)
            finally:
                await keeper.stop()
        finally:
            with self._lock:
                self._active.discard(call_id)

    async def _attached(
        self, call_id: str, wiring: _Wiring, keeper: LeaseKeeper, stop: asyncio.Event
    ) -> CallEnd | None:
        if wiring.agent is not None:
            return await self._run_agent(call_id, wiring, keeper, stop)
        guarded = _LeaseGuardedTools(wiring.tools, keeper, stop) if wiring.tools is not None else None
        try:
            if wiring.api == "live":
                delegate = None if wiring.delegate is None else _lease_guarded_delegate(wiring.delegate, keeper, stop)
                handle = await self.service.aattach_live_session(
                    call_id,
                    tools=guarded,
                    delegate=delegate,
                    observers=wiring.observers,
                    **{"transport": "sip", **wiring.options},  # phone calls; /session's sessions say webrtc
                )
            else:
                handle = await self.service.aattach_call(
                    call_id, tools=guarded, observers=wiring.observers, **wiring.options
                )
        except ConfigurationError as exc:  # says what to install or set; never a secret
            self.failed += 1
            logger.error("call %s: the sideband attach failed: %s", call_id, exc)
            return None
        except Exception as exc:
            self.failed += 1
            logger.error("call %s: the sideband attach failed (%s)", call_id, type(exc).__name__)
            return None
        self.attached += 1
        logger.info("call %s: sideband attached by %s (fence %d)", call_id, self.owner, keeper.fence)
        ended = asyncio.ensure_future(handle.closed())
        lost = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({ended, lost}, return_when=asyncio.FIRST_COMPLETED)
            if not ended.done():  # another owner may have the call now: let go of it, never end it
                logger.warning("call %s: the lease is gone; closing this worker's sideband", call_id)
                end: CallEnd = await handle.detach()
            else:
                end = ended.result()
        except asyncio.CancelledError:  # shutdown: close the socket before going (the call itself goes on)
            with contextlib.suppress(Exception):
                await handle.detach()
            raise
        finally:
            lost.cancel()
            ended.cancel()
        logger.info("call %s: sideband ended (%s)", call_id, end.reason)
        return end

    async def _run_agent(
        self, call_id: str, wiring: _Wiring, keeper: LeaseKeeper, stop: asyncio.Event
    ) -> CallEnd | None:
        """The Agents SDK agent on the call's sideband until the call ends (its session's events end), the lease
        is lost or the worker shuts down (then only its socket is closed: the call goes on)."""
        try:
            from agents.realtime import RealtimeRunner
            from agents.realtime.openai_realtime import OpenAIRealtimeSIPModel

            from .connection import realtime_target

            _mask_sdk_handshakes()
            target = realtime_target(self.service._sideband_settings(), call_id)
            run_config: Any = {"tracing_disabled": True, **(wiring.agent_run_config or {})}
            runner = RealtimeRunner(wiring.agent, model=OpenAIRealtimeSIPModel(), config=run_config)
            # the service's URL and headers (its key, auth scheme, organization, project), as aattach_call uses
            model_config: Any = {"call_id": call_id, "url": target.url, "headers": dict(target.headers)}
            session = await runner.run(model_config=model_config)
            await session.enter()
        except ConfigurationError as exc:  # says what to install or set; never a secret
            self.failed += 1
            logger.error("call %s: the agent could not attach: %s", call_id, exc)
            return None
        except Exception as exc:
            self.failed += 1
            logger.error("call %s: the agent could not attach (%s)", call_id, type(exc).__name__)
            return None
        self.attached += 1
        logger.info("call %s: agent attached by %s (fence %d)", call_id, self.owner, keeper.fence)

        async def drain() -> None:
            async for _event in session:  # the SDK handles each event (tools, handoffs); ends with the socket
                pass

        ended = asyncio.ensure_future(drain())
        lost = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({ended, lost}, return_when=asyncio.FIRST_COMPLETED)
            if not ended.done():  # another owner may have the call now: close this socket, never end the call
                logger.warning("call %s: the lease is gone; closing this worker's agent session", call_id)
                end = CallEnd("closed")
            else:
                ended.result()
                end = CallEnd("server_closed")
        finally:
            lost.cancel()
            ended.cancel()
            with contextlib.suppress(Exception):
                await session.close()  # closes the socket only (also on a shutdown's cancellation)
        logger.info("call %s: agent session ended (%s)", call_id, end.reason)
        return end

    def close(self, timeout: float = 10.0) -> None:
        """Stop attaching; cancel every attach under way (each closes its socket and releases its lease)."""
        with self._lock:
            self._closed = True
        self._thread.stop(timeout)


def open_call_attacher(service: Any, leases: CallLeases) -> Iterator[CallAttacher]:
    """The container's resource: a :class:`CallAttacher`, closed by ``shutdown_resources()``."""
    attacher = CallAttacher(service, leases)
    try:
        yield attacher
    finally:
        attacher.close()


__all__ = ["CallAttacher", "open_call_attacher", "owner_name"]
