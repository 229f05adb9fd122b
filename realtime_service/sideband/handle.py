"""The handle ``RealtimeSessionService.aattach_call`` returns: steer the call, end it, learn why it ended.

On both handles ``close()`` lets go of the call (the caller stays on the line) and ``hangup()`` ends it: one
name, one meaning, whatever the API (``detach()`` is another name for ``close()``).

Everything goes through the controller (:mod:`.realtime`), so a ``say`` or ``respond`` waits its turn behind any
response under way exactly as tool results do, and ``update_session`` is validated by the GA session schema
before anything is sent. ``hangup``/``refer`` are the service's REST call controls (CALLS-LIVE-NOTES §1.4).
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from ..errors import RequestValidationError
from .live import LiveController, check_live_update
from .realtime import CallEnd, RealtimeController, _closed_error


class CallControls(Protocol):
    """The REST call controls a handle uses (``RealtimeSessionService`` has them)."""

    def ahangup_call(self, call_id: str) -> Awaitable[Any]: ...

    def arefer_call(self, call_id: str, target_uri: str) -> Awaitable[Any]: ...


class CallHandle:
    """One attached Realtime call. All methods are coroutines of the loop that attached it.

    ``repr`` shows the call id and counters only."""

    def __init__(
        self,
        service: CallControls,
        call_id: str,
        controller: RealtimeController,
        encode_session: Callable[[Mapping[str, Any]], dict[str, Any]],
    ) -> None:
        self._service = service
        self.call_id = call_id
        self._controller = controller
        self._encode_session = encode_session

    def __repr__(self) -> str:
        return (
            f"CallHandle(call_id={self.call_id!r}, tools_run={self.tools_run}, "
            f"dropped_events={self.dropped_events}, reattaches={self.reattaches})"
        )

    # -- counters ---------------------------------------------------------------------------------------------

    @property
    def dropped_events(self) -> int:
        """Events not delivered to a slow observer (its queue was full)."""
        return self._controller.dropped_events

    @property
    def duplicate_events(self) -> int:
        """Events dropped because their ``event_id`` was seen already (replays, duplicated frames)."""
        return self._controller.duplicate_events

    @property
    def ignored_events(self) -> int:
        """Frames that were not usable events (binary, not JSON, not an object, a call without ``call_id``)."""
        return self._controller.ignored_events

    @property
    def tools_run(self) -> int:
        """Tool calls run to an output (each ``call_id`` at most once)."""
        return self._controller.tools_run

    @property
    def reattaches(self) -> int:
        return self._controller.reattaches

    # -- steering ---------------------------------------------------------------------------------------------

    async def closed(self) -> CallEnd:
        """Wait for the end of the call's sideband, and say why (:class:`~.realtime.CallEnd`)."""
        return await self._controller.wait()

    async def update_session(self, session: Mapping[str, Any]) -> None:
        """``session.update`` with ``session`` validated as a GA realtime session first (a
        ``RequestValidationError`` naming the field, nothing sent). ``type: "realtime"`` is added when missing;
        nothing else is added (no audio format: on a SIP call the leg negotiated it, SIDEBAND-NOTES §2.4)."""
        if not isinstance(session, Mapping):
            raise RequestValidationError({"session": ["must be a mapping"]})
        body = {"type": "realtime", **copy.deepcopy(dict(session))}
        encoded = self._encode_session(body)
        await self._controller.send({"type": "session.update", "session": encoded})

    async def say(self, text: str) -> None:
        """Ask the model to speak: a ``response.create`` whose ``instructions`` are ``text``, sent in turn."""
        if not isinstance(text, str) or not text.strip():
            raise RequestValidationError({"text": ["must be a non-empty string"]})
        await self.respond(instructions=text)

    async def respond(self, **response: Any) -> None:
        """Queue a ``response.create`` with ``response`` as its body (``instructions``, ``tool_choice``,
        ``conversation: "none"``, ...): sent before this returns when no response is under way, else once it ends."""
        self._controller.queue_response(copy.deepcopy(response) or None)
        await self._controller.pump()

    async def hangup(self) -> CallEnd:
        """End the call (REST ``/hangup``) and wait for the sideband's end (reason ``hung_up``)."""
        return await self._rest_end("hung_up", lambda: self._service.ahangup_call(self.call_id))

    async def refer(self, target_uri: str) -> CallEnd:
        """Transfer the call (REST ``/refer`` to a ``tel:``/``sip:`` URI) and wait for the end (``referred``)."""
        return await self._rest_end("referred", lambda: self._service.arefer_call(self.call_id, target_uri))

    async def close(self) -> CallEnd:
        """Let go of the call without ending it (reason ``closed``): close the socket, cancel every task. The
        same on both APIs, so a shutdown or a lost lease never hangs up on a caller; :meth:`hangup` ends it."""
        return await self._controller.stop("closed")

    async def detach(self) -> CallEnd:
        """:meth:`close` under its other name (the phone attacher's): letting go is one operation, two names."""
        return await self.close()

    async def _rest_end(self, reason: str, action: Callable[[], Awaitable[Any]]) -> CallEnd:
        await self._controller.flush()  # what was said just before reaches the server before the call ends
        self._controller.mark_stopping(reason)
        try:
            await action()
        except BaseException:
            self._controller.mark_stopping(None)  # the call did not end: the controller goes on
            raise
        return await self._controller.stop(reason)


class LiveControls(Protocol):
    """The REST session controls a Live handle uses (``RealtimeSessionService`` has them)."""

    def ahangup_live_session(self, session_id: str) -> Awaitable[Any]: ...

    def arefer_live_session(self, session_id: str, target_uri: str) -> Awaitable[Any]: ...


#: How long ``hangup`` (``session.close``) waits for ``session.closed`` before closing the socket itself (seconds).
CLOSE_WAIT = 10.0


class LiveCallHandle(CallHandle):
    """One attached GPT-Live session: :class:`CallHandle`'s shape (``call_id`` is the session id), with Live's
    controls. ``closed()`` ends on ``session.closed`` (its reason and usage). ``transport`` (``sip`` or
    ``webrtc``, if known) picks how :meth:`hangup` ends the call (SIDEBAND-NOTES §7.11)."""

    def __init__(
        self,
        service: LiveControls,
        session_id: str,
        controller: LiveController,
        encode_session: Callable[[Mapping[str, Any]], dict[str, Any]],
        *,
        transport: str | None = None,
        close_wait: float = CLOSE_WAIT,
    ) -> None:
        if transport not in (None, "sip", "webrtc", "websocket"):
            raise ValueError("transport must be 'sip', 'webrtc', 'websocket' or None")
        super().__init__(_NoCallControls(), session_id, controller, encode_session)
        self._live_service = service
        self._live = controller
        self.transport = transport
        self._close_wait = close_wait

    def __repr__(self) -> str:
        return (
            f"LiveCallHandle(session_id={self.call_id!r}, tools_run={self.tools_run}, "
            f"delegations_answered={self.delegations_answered}, reattaches={self.reattaches})"
        )

    @property
    def session_id(self) -> str:
        return self.call_id

    @property
    def delegations_answered(self) -> int:
        return self._live.delegations_answered

    @property
    def delegations_refused(self) -> int:
        """Client delegations answered with the polite refusal (no delegate, it raised, or its deadline passed)."""
        return self._live.delegations_refused

    async def update_session(self, session: Mapping[str, Any]) -> None:
        """``session.update`` of ``delegation`` and/or ``triggers`` only, validated first (the delegation type
        cannot change; a ``RequestValidationError`` naming the field, nothing sent)."""
        body = check_live_update(session, self._live.delegation_type, self._encode_session)
        await self._live.send({"type": "session.update", "session": body})

    async def say(self, text: str) -> None:
        """``session.commentary.append`` with ``delegation_id: null``: the model says it (paraphrased)."""
        await self._append("commentary", text)

    async def instructions(self, text: str) -> None:
        """``session.instructions.append`` with ``delegation_id: null``: authoritative, may interrupt speech."""
        await self._append("instructions", text)

    async def think(self, text: str) -> None:
        """``session.thinking.append`` with ``delegation_id: null``: silent context."""
        await self._append("thinking", text)

    async def respond(self, **response: Any) -> None:
        """``response.create`` (Responses delegation only; it takes no body on GPT-Live, §3.2)."""
        if response:
            raise RequestValidationError({"response": ["GPT-Live's response.create takes no body"]})
        await self._live.send({"type": "response.create"})

    async def hangup(self) -> CallEnd:
        """End the call: REST ``hangup`` on a SIP session, else ``session.close``; then wait for the end (its
        ``detail`` is ``hung_up``)."""
        return await self._end_call("hung_up")

    async def _end_call(self, reason: str) -> CallEnd:
        if self.transport == "sip":
            await self._live.flush()  # what was said just before reaches the server before the call ends
            self._live.mark_stopping(reason)
            try:
                await self._live_service.ahangup_live_session(self.call_id)
            except BaseException:
                self._live.mark_stopping(None)
                raise
            return await self._wait_end(reason)
        return await self._close_session(reason)

    async def refer(self, target_uri: str) -> CallEnd:
        """Transfer the call (REST ``/refer``) and wait for the end."""
        await self._live.flush()
        self._live.mark_stopping("referred")
        try:
            await self._live_service.arefer_live_session(self.call_id, target_uri)
        except BaseException:
            self._live.mark_stopping(None)
            raise
        return await self._wait_end("referred")

    async def close(self) -> CallEnd:
        """Let go of the session without ending it (reason ``closed``; nothing is sent): close the socket, cancel
        every task. Ending it is :meth:`hangup`."""
        return await self._live.stop("closed")

    async def _append(self, kind: str, text: str) -> None:
        if not isinstance(text, str) or not text.strip():
            raise RequestValidationError({"text": ["must be a non-empty string"]})
        await self._live.append(kind, text, None)

    async def _close_session(self, reason: str) -> CallEnd:
        if self._live.ended.done():
            return self._live.ended.result()
        self._live.mark_stopping(reason)  # a close without session.closed is then the end, not a re-attach
        try:
            await self._live.send({"type": "session.close", "event_id": "evt_rs_close"})
        except (ConnectionError, OSError, _closed_error()):  # between sockets: nothing to ask, stop here
            return await self._live.stop(reason)
        return await self._wait_end(reason)

    async def _wait_end(self, reason: str) -> CallEnd:
        try:
            async with asyncio.timeout(self._close_wait):
                return await self._live.wait()
        except TimeoutError:
            return await self._live.stop(reason)


class _NoCallControls:
    """Realtime's REST controls do not apply to a Live session (its own are used)."""

    def ahangup_call(self, call_id: str) -> Awaitable[Any]:
        raise NotImplementedError

    def arefer_call(self, call_id: str, target_uri: str) -> Awaitable[Any]:
        raise NotImplementedError


__all__ = ["CallHandle", "LiveCallHandle"]
