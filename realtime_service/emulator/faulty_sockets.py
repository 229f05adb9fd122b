"""The send path every socket of a call shares, where its socket faults (:mod:`.socket_faults`) act.

:class:`FaultyTransport` wraps a connection's :class:`~.core.Transport` for one call: every server event sent on
it goes through :meth:`FaultyTransport.send_text`, which asks the emulator's queue which faults act on that
event and applies them (wait, send twice, drop, close), recording each on the call's record. A
:class:`~.sideband_session.Sideband` wraps its transport at once, so every socket built on it (Realtime and
GPT-Live sidebands, primary sockets) gets faults without a line of its own; another socket wraps its transport
with :func:`with_faults`.

Sends on one connection are serialised here, so a delayed event holds the events sent after it (order kept)
and the faults are used up in the order the events go out. A fault acts on its own call's sockets only, and a
bug in this code is printed and the event sent as if there were no fault: never an exception on the handler.
"""

from __future__ import annotations

import contextlib
import json
import threading
import traceback
from typing import Any

from .call_registry import CallRegistry, UnknownCall
from .core import SocketClosed, Transport
from .socket_faults import ABNORMAL_CLOSURE, SocketFault, SocketFaultRecord


def _describe(text: str) -> tuple[tuple[str, ...], str | None]:
    """The event's type (and, for a GPT-Live ``response.event`` envelope, its inner event's type) and
    ``event_id``; nothing for a frame that is not an event."""
    try:
        event: Any = json.loads(text)
    except ValueError:
        return (), None
    if not isinstance(event, dict):
        return (), None
    types: list[str] = []
    kind = event.get("type")
    if isinstance(kind, str):
        types.append(kind)
        inner = event.get("event")
        if kind == "response.event" and isinstance(inner, dict) and isinstance(inner.get("type"), str):
            types.append(inner["type"])
    event_id = event.get("event_id")
    return tuple(types), event_id if isinstance(event_id, str) else None


class FaultyTransport:
    """A :class:`~.core.Transport` for one call's socket that applies the call's socket faults to what it sends
    (and those queued for the next socket, which it claims when it is made)."""

    def __init__(self, transport: Transport, calls: CallRegistry, call_id: str) -> None:
        self._inner = transport
        self._calls = calls
        self._faults = calls.socket_faults
        self._call_id = call_id
        self._own = self._faults.claim_next()
        self._sending = threading.Lock()

    @property
    def id(self) -> str:
        return self._inner.id

    @property
    def closed(self) -> bool:
        return self._inner.closed

    def receive(self, timeout: float | None) -> str | bytes | None:
        return self._inner.receive(timeout)

    def close(self, code: int = 1000, reason: str = "") -> None:
        self._inner.close(code, reason)

    def abort(self) -> None:
        self._inner.abort()

    def wait_closed(self, timeout: float) -> bool:
        return self._inner.wait_closed(timeout)

    def send_text(self, text: str) -> None:
        with self._sending:
            if not self._own and not self._faults.armed(self._call_id):  # the common case: no fault queued
                self._inner.send_text(text)
                return
            try:
                types, event_id = _describe(text)
                acting = self._faults.fire(self._call_id, self._own, types)
            except Exception:  # a bug of ours: say so, and send the event as if no fault were queued
                traceback.print_exc()
                acting = []
            self._apply(text, acting, types[0] if types else None, event_id)

    def _apply(self, text: str, acting: list[SocketFault], event_type: str | None, event_id: str | None) -> None:
        """Record every acting fault first (a test waiting on the record knows the event is held), then act."""
        terminal = acting[-1] if acting and acting[-1].action in ("drop", "close") else None
        copies = 0 if terminal is not None else 1 + sum(fault.action == "duplicate" for fault in acting)
        for fault in acting:
            self._note(fault, event_type, event_id, copies)
        for fault in acting:
            if fault.action == "delay" and self._inner.wait_closed(fault.delay_s):
                raise SocketClosed(f"the socket {self.id} closed while a socket fault delayed its event")
        if terminal is not None:
            if terminal.action == "drop":
                self._inner.abort()
            else:
                self._inner.close(terminal.code, terminal.reason)
            raise SocketClosed(f"the socket {self.id} was closed by a socket fault ({terminal.action})")
        for _ in range(copies):
            self._inner.send_text(text)

    def _note(self, fault: SocketFault, event_type: str | None, event_id: str | None, copies: int) -> None:
        code = ABNORMAL_CLOSURE if fault.action == "drop" else fault.code if fault.action == "close" else None
        record = SocketFaultRecord(
            fault.action, self.id, event_type, event_id, copies, self._calls.now(), delay_s=fault.delay_s, code=code
        )
        with contextlib.suppress(UnknownCall):  # forgotten (the registry's bounds): no record left to write on
            self._calls.record_socket_fault(self._call_id, record)


def with_faults(transport: Transport, calls: CallRegistry, call_id: str) -> Transport:
    """``transport`` sending through the call's socket faults (itself when it already does)."""
    if isinstance(transport, FaultyTransport):
        return transport
    return FaultyTransport(transport, calls, call_id)
