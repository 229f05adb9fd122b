"""Socket faults: what the network does wrong to a call's open WebSocket, one server event at a time.

A :class:`~.faults.Fault` acts on a whole request (a socket's handshake included). A :class:`SocketFault` acts
*after* the handshake, on the server events the emulator sends on a call's socket: it waits before one
(``delay``), sends one twice with the same ``event_id`` (``duplicate``), drops the connection without a close
frame instead of sending one (``drop``: the client sees 1006, the call goes on and can be re-attached), or
closes it with a code (``close``). Each fault matches server events by ``type`` (any when ``None``; for
GPT-Live's ``response.event`` envelopes the inner Responses event's type matches too), lets ``after_events``
matching events through, acts on the next ``times`` ones, and is then used up.

Faults are queued for one call (its sockets now and later: :meth:`SocketFaults.add` with a ``call_id``) or for
the next socket that attaches to any call (without one: that socket claims them all). The queue is bounded
(:data:`MAX_PENDING`), a call's pending faults go when the call ends or is forgotten, and what each fault did goes
on the call's record (:class:`SocketFaultRecord`, ``CallRecord.socket_faults``). This module holds the API and
the queue; :mod:`.faulty_sockets` applies them on the send path every socket of a call shares.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

SocketAction = Literal["delay", "duplicate", "drop", "close"]

ABNORMAL_CLOSURE = 1006
"""The close code a client reports for a connection that ended without a close frame (a :meth:`SocketFault.drop`)."""
MAX_PENDING = 1_000
"""Socket faults queued and not yet used up, for all calls together; :meth:`SocketFaults.add` refuses more."""
MAX_DELAY_SECONDS = 600.0
"""The longest :meth:`SocketFault.delay`: a fault must not hold a handler thread for ever."""
MAX_TIMES = 1_000_000
"""The largest ``times`` / ``after_events``."""
MAX_RECORDED = 1_000
"""Applied faults a call's record keeps (the newest)."""
_SENDABLE_CODES = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014})
_TERMINAL: frozenset[str] = frozenset({"drop", "close"})


class TooManySocketFaults(ValueError):
    """Queuing these would exceed :data:`MAX_PENDING` pending socket faults; none of them was queued."""


@dataclass(frozen=True, slots=True)
class SocketFault:
    """What to do to the server events of a socket. Build one with the classmethods.

    - ``action``: ``delay`` waits ``delay_s`` before sending the event (the events after it wait behind it, so
      the order is kept); ``duplicate`` sends it twice, same ``event_id``; ``drop`` ends the connection without
      a close frame instead of sending it (the event is lost, the client sees 1006); ``close`` sends a close
      frame with ``code`` and ``reason`` instead of it.
    - ``event_type``: the server events it matches (``None``: every one).
    - ``after_events``: matching events let through before it acts; ``times``: matching events it then acts on.
    """

    action: SocketAction
    event_type: str | None = None
    after_events: int = 0
    times: int = 1
    delay_s: float = 0.0
    code: int = ABNORMAL_CLOSURE
    reason: str = ""

    def __post_init__(self) -> None:
        if self.action not in ("delay", "duplicate", "drop", "close"):
            raise ValueError(f"unknown socket fault action {self.action!r}: delay, duplicate, drop or close")
        kind = self.event_type
        if kind is not None and (not isinstance(kind, str) or not 0 < len(kind) <= 200):
            raise ValueError("event_type must be a server event's type (1 to 200 characters) or None")
        for name, value, least in (("after_events", self.after_events, 0), ("times", self.times, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or not least <= value <= MAX_TIMES:
                raise ValueError(f"{name} must be an integer from {least} to {MAX_TIMES:,}")
        if (
            isinstance(self.delay_s, bool)
            or not isinstance(self.delay_s, int | float)
            or not math.isfinite(self.delay_s)
            or not 0 <= self.delay_s <= MAX_DELAY_SECONDS
        ):
            raise ValueError(f"a socket fault's delay must be from 0 to {MAX_DELAY_SECONDS:g} seconds")
        if self.action == "close" and not (self.code in _SENDABLE_CODES or 3000 <= self.code <= 4999):
            hint = " (for a close without a frame use SocketFault.drop())" if self.code == ABNORMAL_CLOSURE else ""
            raise ValueError(f"{self.code} cannot be sent in a close frame{hint}: 1000-1003, 1007-1014 or 3000-4999")
        if len(self.reason.encode()) > 123:
            raise ValueError("a close reason is at most 123 bytes of UTF-8")

    @classmethod
    def delay(
        cls, seconds: float, *, event_type: str | None = None, after_events: int = 0, times: int = 1
    ) -> SocketFault:
        """Hold the matching event ``seconds`` before sending it; the events sent after it on that socket wait
        behind it, so the client gets them late but in order. Exercises a client's event timeouts."""
        return cls("delay", event_type, after_events, times, delay_s=seconds)

    @classmethod
    def duplicate(cls, event_type: str | None = None, *, after_events: int = 0, times: int = 1) -> SocketFault:
        """Send the matching event twice, the same ``event_id`` both times (a replay, a second path): a client
        must deduplicate by ``event_id`` (and run a tool once per ``call_id``)."""
        return cls("duplicate", event_type, after_events, times)

    @classmethod
    def drop(cls, *, event_type: str | None = None, after_events: int = 0, times: int = 1) -> SocketFault:
        """Instead of the matching event, end the connection without a close frame, as a lost network would:
        the event is lost and the client sees 1006 (``openai``'s ``on_reconnecting`` retries on it). The call
        goes on; a socket that attaches again gets the events from then on."""
        return cls("drop", event_type, after_events, times)

    @classmethod
    def close(
        cls,
        code: int = 1011,
        reason: str = "",
        *,
        event_type: str | None = None,
        after_events: int = 0,
        times: int = 1,
    ) -> SocketFault:
        """Instead of the matching event, close the connection with ``code`` and ``reason`` (1011 internal
        error by default; 1012 and 1013 are the other codes clients retry on). The call goes on."""
        return cls("close", event_type, after_events, times, code=code, reason=reason)


@dataclass(frozen=True, slots=True)
class SocketFaultRecord:
    """One socket fault as it acted: on which connection (``ws_...``) and which server event, and how many
    copies of that event it sent (``copies``: 1 delayed, 2 duplicated, 0 dropped or closed: the event is lost).
    It is recorded as the fault starts acting (a delayed event is then being held). ``code`` is the close code
    the client sees (1006 for a drop), ``None`` for the others. A connection that closes under a fault loses
    the event whatever ``copies`` says, as any event sent on a closing connection."""

    action: SocketAction
    connection: str
    event_type: str | None
    event_id: str | None
    copies: int
    at: float
    delay_s: float = 0.0
    code: int | None = None


@dataclass(slots=True, eq=False)
class Armed:
    """A queued fault and what is left of it (changed only under :class:`SocketFaults`' lock; compared by
    identity)."""

    fault: SocketFault
    order: int
    skip: int = field(init=False)
    left: int = field(init=False)

    def __post_init__(self) -> None:
        self.skip, self.left = self.fault.after_events, self.fault.times


class SocketFaults:
    """The emulator's queued socket faults: per call, and for the next socket. Thread-safe and bounded."""

    def __init__(self, max_pending: int = MAX_PENDING) -> None:
        self._lock = threading.Lock()
        self._max = max_pending
        self._order = 0
        self._next: list[Armed] = []
        self._calls: dict[str, list[Armed]] = {}
        self._pending = 0

    def add(self, faults: Iterable[SocketFault], call_id: str | None = None) -> None:
        """Queue ``faults`` for ``call_id``'s sockets, or for the next socket that attaches; all or none
        (:class:`TooManySocketFaults`)."""
        batch = list(faults)
        for fault in batch:
            if not isinstance(fault, SocketFault):
                raise TypeError(f"expected a SocketFault, got {type(fault).__name__}")
        with self._lock:
            if self._pending + len(batch) > self._max:
                raise TooManySocketFaults(
                    f"at most {self._max:,} socket faults may be pending ({self._pending:,} are): none was queued"
                )
            armed = []
            for fault in batch:
                self._order += 1
                armed.append(Armed(fault, self._order))
            if call_id is None:
                self._next.extend(armed)
            elif armed:
                self._calls.setdefault(call_id, []).extend(armed)
            self._pending += len(armed)

    def claim_next(self) -> list[Armed]:
        """The faults queued for the next socket, for the socket attaching now (it owns them from now on)."""
        if not self._next:  # an unlocked peek keeps attaching cheap when none is queued
            return []
        with self._lock:
            claimed, self._next = self._next, []
            self._pending -= len(claimed)
            return claimed

    def armed(self, call_id: str) -> bool:
        """Whether faults are queued for ``call_id`` (an unlocked peek: the cheap check of every send)."""
        return bool(self._calls.get(call_id))

    def pending(self, call_id: str | None = None) -> int:
        """Faults not used up: all of them, or ``call_id``'s (those claimed by a socket are its own, not counted)."""
        with self._lock:
            return self._pending if call_id is None else len(self._calls.get(call_id, ()))

    def discard(self, call_id: str) -> None:
        """Forget ``call_id``'s faults (it ended or was forgotten: no socket of it can attach)."""
        with self._lock:
            self._pending -= len(self._calls.pop(call_id, ()))

    def clear(self) -> None:
        with self._lock:
            self._next.clear()
            self._calls.clear()
            self._pending = 0

    def fire(self, call_id: str, own: list[Armed], types: tuple[str, ...]) -> list[SocketFault]:
        """The faults that act on one server event of ``call_id`` (whose type, and inner type, are ``types``)
        sent on a socket owning ``own``, oldest queued first; each is counted down and removed once used up.
        A ``drop`` or ``close`` ends the list: nothing after it sees that event, which is never sent."""
        with self._lock:
            queued = self._calls.get(call_id, [])
            acting: list[SocketFault] = []
            for armed in sorted((*own, *queued), key=lambda armed: armed.order):
                if armed.fault.event_type is not None and armed.fault.event_type not in types:
                    continue
                if armed.skip > 0:
                    armed.skip -= 1
                    continue
                armed.left -= 1
                acting.append(armed.fault)
                if armed.left == 0:
                    if armed in own:
                        own.remove(armed)
                    else:
                        queued.remove(armed)
                        self._pending -= 1
                if armed.fault.action in _TERMINAL:
                    break
            if not queued:
                self._calls.pop(call_id, None)
            return acting
