"""The handle ``RealtimeSessionService.aattach_call`` returns: steer the call, end it, learn why it ended.

Everything goes through the controller (:mod:`.realtime`), so a ``say`` or ``respond`` waits its turn behind any
response under way exactly as tool results do, and ``update_session`` is validated by the GA session schema
before anything is sent. ``hangup``/``refer`` are the service's REST call controls (CALLS-LIVE-NOTES §1.4).
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from ..errors import RequestValidationError
from .realtime import CallEnd, RealtimeController


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
        ``conversation: "none"``, ...); it goes out when no response is under way."""
        self._controller.queue_response(copy.deepcopy(response) or None)
        await self._controller.pump()

    async def hangup(self) -> CallEnd:
        """End the call (REST ``/hangup``) and wait for the sideband's end (reason ``hung_up``)."""
        return await self._rest_end("hung_up", lambda: self._service.ahangup_call(self.call_id))

    async def refer(self, target_uri: str) -> CallEnd:
        """Transfer the call (REST ``/refer`` to a ``tel:``/``sip:`` URI) and wait for the end (``referred``)."""
        return await self._rest_end("referred", lambda: self._service.arefer_call(self.call_id, target_uri))

    async def close(self) -> CallEnd:
        """Stop controlling the call (the call itself goes on): close the socket, cancel every task."""
        return await self._controller.stop("closed")

    async def _rest_end(self, reason: str, action: Callable[[], Awaitable[Any]]) -> CallEnd:
        self._controller.mark_stopping(reason)
        try:
            await action()
        except BaseException:
            self._controller.mark_stopping(None)  # the call did not end: the controller goes on
            raise
        return await self._controller.stop(reason)


__all__ = ["CallHandle"]
