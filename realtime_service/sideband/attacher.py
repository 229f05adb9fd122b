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

**Takeover** (shared leases only: Redis). A call attached with one of the wirings every worker has (registered
by name with :meth:`CallAttacher.register_wiring`; the server registers ``server.phone.tools`` and
``server.sideband``) is recorded in the lease storage with its API and wiring name, and forgotten when it ends.
:meth:`CallAttacher.stand_by` polls the storage every ``standby_poll`` seconds: a recorded call whose owner's
lease ended unrenewed (the owner died, or shut down) is leased to one standby (the storage decides) and
re-attached with the same wiring (GPT-Live: the attach's replay fills part of the gap). A re-attach answered
404 forgets the call (it ended while nobody owned it). See docs/ownership.md for what it does not cover.
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
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigurationError, NotFoundError
from ..observability import metrics
from .ownership import DEFAULT_TTL, Adopted, CallLeases, Lease, LeaseKeeper, LeaseUnavailable
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
    from ..redaction import SocketLogFilter

    client_logger = logging.getLogger("websockets.client")
    if not any(isinstance(each, SocketLogFilter) for each in client_logger.filters):
        client_logger.addFilter(SocketLogFilter())


#: How often a standby looks for calls to take over, in seconds (one storage round trip each).
STANDBY_POLL = 0.5
#: Seconds of events a GPT-Live attach replays (SIDEBAND-NOTES 3.4): a takeover must come later than that after
#: the owner's death, or the replay shows the new owner a delegation the dead one already answered.
LIVE_REPLAY_SECONDS = 3.0
#: How a call's sideband may end while the call goes on: then its record stays, for a standby to take over.
_CALL_GOES_ON = ("closed", "error")


@dataclass(frozen=True)
class NamedWiring:
    """A wiring every worker has under the same name (:meth:`CallAttacher.register_wiring`): what a standby
    re-attaches a dead owner's call with. Tools and delegate are compared by identity, options by value."""

    tools: Any = None
    observers: tuple[Any, ...] = ()
    delegate: Any = None
    options: Mapping[str, Any] = field(default_factory=dict)


class _Wiring:
    """What one call is attached with: its API, tools, observers and (Live) client delegate, and the name of the
    registered wiring it matches (``None``: not one every worker has, so no standby can take the call over)."""

    __slots__ = ("agent", "agent_run_config", "api", "delegate", "name", "observers", "options", "tools")

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
        self.name: str | None = None


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
        standby_poll: float = STANDBY_POLL,
    ) -> None:
        if not 0 < standby_poll < ttl:
            raise ValueError("standby_poll must be above 0 and under the lease's ttl")
        self.service = service
        self.leases = leases
        self.owner = owner or owner_name()
        self.ttl = ttl
        self.attach_options = dict(attach_options or {})
        self.standby_poll = standby_poll
        self._thread = SidebandThread(name="realtime-phone-sidebands")
        self._lock = threading.Lock()
        self._active: set[str] = set()
        self._wirings: dict[str, NamedWiring] = {}
        self._standby: concurrent.futures.Future[None] | None = None
        self._closed = False
        #: Counters (for logs and tests): calls attached, refused because another worker owns them, failed, and
        #: calls this worker took over from a dead owner.
        self.attached = 0
        self.not_owner = 0
        self.failed = 0
        self.taken_over = 0

    def __repr__(self) -> str:
        return f"CallAttacher(owner={self.owner!r}, active={len(self._active)}, attached={self.attached})"

    @property
    def active(self) -> int:
        return len(self._active)

    def register_wiring(self, name: str, wiring: NamedWiring) -> None:
        """Name a wiring every worker registers the same way (same name, same tools object from the same
        configuration): calls attached with it are recorded, and a standby re-attaches them with it."""
        from .ownership import _checked

        self._wirings[_checked(name, "wiring name")] = wiring

    def _named(self, wiring: _Wiring) -> str | None:
        """The registered name of ``wiring`` (tools and delegate the same objects, the rest equal), if any."""
        if wiring.agent is not None:
            return None
        for name, known in self._wirings.items():
            if (
                known.tools is wiring.tools
                and known.delegate is wiring.delegate
                and tuple(known.observers) == wiring.observers
                and {**self.attach_options, **known.options} == wiring.options
            ):
                return name
        return None

    def stand_by(self) -> None:
        """Start taking over calls whose owner died (once; only on shared leases with a registered wiring: a
        memory lease has no other process to take over from). Stopped by :meth:`close`."""
        if not self.leases.shared or not self._wirings:
            return
        if self.ttl * 2 / 3 <= LIVE_REPLAY_SECONDS:
            logger.warning(
                "standby with a lease ttl of %g s: a GPT-Live call taken over may be re-attached within %g s of its "
                "owner's death, and the attach's replay may run a delegation again (keep the ttl above %g s)",
                self.ttl,
                LIVE_REPLAY_SECONDS,
                LIVE_REPLAY_SECONDS * 3 / 2,
            )
        with self._lock:
            if self._closed or self._standby is not None:
                return
            self._thread.start()
            self._standby = self._thread.submit(self._stand_by)

    async def _stand_by(self) -> None:
        failing = False
        logger.info("standing by to take over calls (%s) as %s", ", ".join(self._wirings), self.owner)
        while not self._closed:
            adopted = None
            try:
                adopted = await self.leases.aadopt(self.owner, tuple(self._wirings), self.ttl)
                failing = False
            except LeaseUnavailable as exc:
                if not failing:
                    logger.warning("standby: the lease storage did not answer (%s); polling on", exc)
                failing = True
            except Exception:  # a bug must not end the standby: log it, poll on
                logger.exception("standby: looking for calls to take over raised")
            if adopted is not None:
                self._take_over(adopted)
                continue  # more may be due: look again at once (each look takes at most one call)
            await asyncio.sleep(self.standby_poll)

    def _take_over(self, adopted: Adopted) -> None:
        known = self._wirings[adopted.wiring]
        wiring = _Wiring(
            adopted.api,
            known.tools,
            tuple(known.observers),
            known.delegate,
            {**self.attach_options, **known.options},
        )
        wiring.name = adopted.wiring
        call_id = adopted.lease.call_id
        with self._lock:
            if self._closed or call_id in self._active:
                busy = True
            else:
                busy = False
                self._active.add(call_id)
        if busy:  # closing, or (after a lost lease) still letting go of it here: hand it back
            self._thread.submit(lambda: self.leases.arelease(adopted.lease))
            return
        logger.info(
            "call %s: its owner's lease ended; taking it over (fence %d)",
            call_id,
            adopted.lease.fence,
            extra={"call_id": call_id},
        )
        self._thread.submit(lambda: self._attend(call_id, wiring, adopted.lease))

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
        wiring.name = self._named(wiring)
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

    async def _attend(self, call_id: str, wiring: _Wiring, adopted: Lease | None = None) -> CallEnd | None:
        try:
            try:
                lease = adopted or await self.leases.aacquire(call_id, self.owner, self.ttl)
            except LeaseUnavailable as exc:
                self.failed += 1
                metrics.sideband_attach("failed")
                logger.error(
                    "call %s: not attached, the lease storage did not answer (%s)",
                    call_id,
                    exc,
                    extra={"call_id": call_id},
                )
                return None
            if lease is None:
                self.not_owner += 1
                metrics.sideband_attach("not_owner")
                logger.info("call %s: another worker owns it; not attached here", call_id, extra={"call_id": call_id})
                return None
            stop = asyncio.Event()
            keeper = LeaseKeeper(self.leases, lease, on_lost=lambda _reason: stop.set())
            keeper.start()
            failed_takeover = False
            try:
                end = await self._attached(call_id, wiring, keeper, stop, taking_over=adopted is not None)
                failed_takeover = adopted is not None and end is None
                return end
            finally:
                # a takeover whose attach failed keeps its lease until it expires: the next standby tries again
                # a ttl later, not at its next poll (bounded: the record is dropped FORGET_AFTER its last owner)
                await keeper.stop(release=not failed_takeover)
        finally:
            with self._lock:
                self._active.discard(call_id)

    async def _attached(
        self, call_id: str, wiring: _Wiring, keeper: LeaseKeeper, stop: asyncio.Event, *, taking_over: bool = False
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
            metrics.sideband_attach("failed")
            logger.error("call %s: the sideband attach failed: %s", call_id, exc, extra={"call_id": call_id})
            return None
        except NotFoundError:
            if taking_over:  # the call ended while nobody owned it
                logger.info(
                    "call %s: it ended before it was taken over; forgotten", call_id, extra={"call_id": call_id}
                )
                await self._forget(keeper.lease)
                metrics.sideband_attach("gone")
                return CallEnd("server_closed", detail="the call ended before it was taken over")
            self.failed += 1
            metrics.sideband_attach("failed")
            logger.error("call %s: the sideband attach failed (NotFoundError)", call_id, extra={"call_id": call_id})
            return None
        except Exception as exc:
            self.failed += 1
            metrics.sideband_attach("failed")
            logger.error(
                "call %s: the sideband attach failed (%s)", call_id, type(exc).__name__, extra={"call_id": call_id}
            )
            return None
        self.attached += 1
        metrics.sideband_attach("taken_over" if taking_over else "attached")
        if taking_over:
            self.taken_over += 1
        logger.info(
            "call %s: sideband %s by %s (fence %d)",
            call_id,
            "re-attached (taken over)" if taking_over else "attached",
            self.owner,
            keeper.fence,
            extra={"call_id": call_id},
        )
        if wiring.name is not None and self.leases.shared:
            try:
                await self.leases.arecord(keeper.lease, wiring.api, wiring.name)
            except LeaseUnavailable as exc:
                logger.warning("call %s: not recorded for a takeover (%s)", call_id, exc, extra={"call_id": call_id})
        ended = asyncio.ensure_future(handle.closed())
        lost = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({ended, lost}, return_when=asyncio.FIRST_COMPLETED)
            if not ended.done():  # another owner may have the call now: let go of it, never end it
                logger.warning(
                    "call %s: the lease is gone; closing this worker's sideband", call_id, extra={"call_id": call_id}
                )
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
        logger.info("call %s: sideband ended (%s)", call_id, end.reason, extra={"call_id": call_id})
        if wiring.name is not None and end.reason not in _CALL_GOES_ON:
            await self._forget(keeper.lease)
        return end

    async def _forget(self, lease: Lease) -> None:
        """The call ended: no standby is to take it over."""
        try:
            await self.leases.aforget(lease)
        except LeaseUnavailable as exc:  # the record is dropped FORGET_AFTER its lease ended
            logger.warning("call %s: its takeover record was not removed (%s)", lease.call_id, exc)

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
            metrics.sideband_attach("failed")
            logger.error("call %s: the agent could not attach: %s", call_id, exc, extra={"call_id": call_id})
            return None
        except Exception as exc:
            self.failed += 1
            metrics.sideband_attach("failed")
            logger.error(
                "call %s: the agent could not attach (%s)", call_id, type(exc).__name__, extra={"call_id": call_id}
            )
            return None
        self.attached += 1
        metrics.sideband_attach("attached")
        logger.info(
            "call %s: agent attached by %s (fence %d)", call_id, self.owner, keeper.fence, extra={"call_id": call_id}
        )

        async def drain() -> None:
            async for _event in session:  # the SDK handles each event (tools, handoffs); ends with the socket
                pass

        ended = asyncio.ensure_future(drain())
        lost = asyncio.ensure_future(stop.wait())
        started, reason = time.monotonic(), "error"
        metrics.sideband_attached("agent")
        try:
            await asyncio.wait({ended, lost}, return_when=asyncio.FIRST_COMPLETED)
            if not ended.done():  # another owner may have the call now: close this socket, never end the call
                logger.warning(
                    "call %s: the lease is gone; closing this worker's agent session",
                    call_id,
                    extra={"call_id": call_id},
                )
                end = CallEnd("closed")
            else:
                ended.result()
                end = CallEnd("server_closed")
            reason = end.reason
        except asyncio.CancelledError:  # shutdown: only this socket closes
            reason = "closed"
            raise
        finally:
            lost.cancel()
            ended.cancel()
            with contextlib.suppress(Exception):
                await session.close()  # closes the socket only (also on a shutdown's cancellation)
            metrics.sideband_ended("agent", reason, time.monotonic() - started, 0)
        logger.info("call %s: agent session ended (%s)", call_id, end.reason, extra={"call_id": call_id})
        return end

    def close(self, timeout: float = 10.0) -> None:
        """Stop attaching and standing by; cancel every attach under way (each closes its socket and releases its
        lease; the calls' records stay, so another worker's standby takes them over)."""
        with self._lock:
            self._closed = True
        self._thread.stop(timeout)


def open_call_attacher(service: Any, leases: CallLeases, settings: Any = None) -> Iterator[CallAttacher]:
    """The container's resource: a :class:`CallAttacher`, closed by ``shutdown_resources()``. With the server's
    ``settings``, the wirings every worker has are registered: ``server.phone.tools`` and ``server.sideband``."""
    attacher = CallAttacher(service, leases)
    if settings is not None:
        for name, wiring in configured_wirings(settings).items():
            attacher.register_wiring(name, wiring)
    try:
        yield attacher
    finally:
        attacher.close()


def configured_wirings(settings: Any) -> dict[str, NamedWiring]:
    """The wirings the server's configuration gives every worker: ``server.phone.tools`` (the toolbox the
    default router accepts calls with, the same object ``load_toolbox`` returns) and ``server.sideband`` (its
    toolbox, call length cap and, on GPT-Live, its delegate and the ``webrtc`` transport ``/session`` attaches
    with: the wiring must equal the attach's to be recorded)."""
    from ..webhooks.router import load_toolbox

    wirings: dict[str, NamedWiring] = {}
    if settings.phone.tools is not None:
        wirings["server.phone.tools"] = NamedWiring(tools=load_toolbox(settings.phone.tools))
    sideband = settings.sideband
    if sideband is not None:
        options: dict[str, Any] = {}
        if sideband.max_call_seconds is not None:
            options["max_call_seconds"] = sideband.max_call_seconds
        delegate = None
        if settings.voice_api == "live":  # as /session attaches a GPT-Live session (routes/session/endpoint.py)
            options.update(transport="webrtc", delegation_type=sideband.delegation_type)
            delegate = sideband.delegate_function
        wirings["server.sideband"] = NamedWiring(tools=sideband.toolbox, delegate=delegate, options=options)
    return wirings


__all__ = ["CallAttacher", "NamedWiring", "configured_wirings", "open_call_attacher", "owner_name"]
