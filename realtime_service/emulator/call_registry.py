"""The emulator's record of calls (Realtime, ``rtc_...``) and Live sessions (``live_...``) and their states.

A WebRTC call or Live session starts ``active``; one the emulator rang (SIP) starts ``pending`` and is decided
once: ``accepted``, ``rejected``, ``referred``, or ``timed_out`` when nobody decides in time. ``hung_up`` ends
an active, pending or accepted one. Tests read what was received (the offer bytes, the session, every
decision's body) from :class:`CallRecord` snapshots.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

CallState = Literal["pending", "active", "accepted", "rejected", "referred", "hung_up", "timed_out"]
Api = Literal["realtime", "live"]

ENDED: frozenset[str] = frozenset({"rejected", "referred", "hung_up", "timed_out"})
"""States after which the call is gone upstream: a hang-up answers 404."""
DECIDED: frozenset[str] = frozenset({"accepted", "rejected", "referred", "timed_out"})
"""The final states of a ring (``hung_up`` too, when a pending call is hung up)."""


@dataclass(frozen=True, slots=True)
class Decision:
    """One accept/reject/refer/hangup the emulator received for a call, with its JSON body (or ``None``)."""

    action: str
    body: Any
    at: float


@dataclass(frozen=True, slots=True)
class CallRecord:
    """A snapshot of one call or Live session.

    ``offer`` is the SDP offer exactly as received (bytes, CRLFs kept); ``session`` the session it was created
    or accepted with; ``encoding`` how the offer came (``multipart``, ``raw`` ``application/sdp``, ``json``);
    ``auth`` which key created it (``api_key`` or ``ephemeral``); ``states`` every state it went through.
    """

    id: str
    api: Api
    transport: Literal["webrtc", "sip"]
    state: CallState
    created_at: float
    offer: bytes | None = None
    answer: str | None = None
    session: Any = None
    encoding: str | None = None
    auth: str | None = None
    sip_headers: tuple[tuple[str, str], ...] = ()
    decisions: tuple[Decision, ...] = ()
    states: tuple[CallState, ...] = ()
    webhook_deliveries: int = 0
    webhook_statuses: tuple[int | None, ...] = ()


@dataclass(slots=True)
class _Entry:
    record: CallRecord
    changed: threading.Condition = field(default_factory=threading.Condition)


class CallRegistry:
    """Thread-safe: the emulator's handler threads and :meth:`Emulator.ring` update it concurrently."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._minted: dict[str, tuple[int, Any]] = {}
        self.refuse_raw_sdp_with_api_key = False
        """Set to answer raw ``application/sdp`` from a standard key with a 400 (the SDK sends it when
        ``session`` is omitted; whether the real API allows it is UNCONFIRMED)."""

    # what tests read

    def get(self, call_id: str) -> CallRecord | None:
        with self._lock:
            entry = self._entries.get(call_id)
            return entry.record if entry is not None else None

    def all(self) -> list[CallRecord]:
        """Every call and Live session, oldest first."""
        with self._lock:
            return [entry.record for entry in self._entries.values()]

    def wait_for(self, call_id: str, states: Iterable[str], timeout: float) -> CallRecord:
        """Block until the call is in one of ``states`` or ``timeout`` seconds pass; the record either way."""
        wanted = set(states)
        with self._lock:
            entry = self._entries[call_id]
        deadline = time.monotonic() + timeout
        with entry.changed:
            while entry.record.state not in wanted:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                entry.changed.wait(remaining)
            return entry.record

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    # what the routes and ring do

    def add(self, record: CallRecord) -> CallRecord:
        record = replace(record, states=(record.state,))
        with self._lock:
            self._entries[record.id] = _Entry(record)
        return record

    def update(self, call_id: str, change: Callable[[CallRecord], CallRecord]) -> CallRecord:
        """Apply ``change`` to the current record atomically and wake :meth:`wait_for`."""
        with self._lock:
            entry = self._entries[call_id]
        with entry.changed:
            old = entry.record
            new = change(old)
            if new.state != old.state:
                new = replace(new, states=(*old.states, new.state))
            entry.record = new
            entry.changed.notify_all()
            return new

    def decide(
        self, call_id: str, action: str, body: Any, *, allowed: Iterable[str], to: CallState
    ) -> tuple[CallRecord, CallRecord | None]:
        """Move the call to ``to`` if its state is in ``allowed``: (the record before, the record after or
        ``None`` when refused). Checked and changed under one lock, so two racing decisions decide once."""
        permitted = set(allowed)
        with self._lock:
            entry = self._entries[call_id]
        with entry.changed:
            before = entry.record
            if before.state not in permitted:
                return before, None
            after = replace(
                before,
                state=to,
                states=(*before.states, to),
                decisions=(*before.decisions, Decision(action, body, self._clock())),
            )
            if action == "accept":
                after = replace(after, session=body.get("session", body) if before.api == "live" else body)
            entry.record = after
            entry.changed.notify_all()
            return before, after

    def remember_minted(self, value: str, expires_at: int, session: Any) -> None:
        """An ``ek_`` key this emulator minted, so ``POST /realtime/calls`` can accept it until it expires."""
        with self._lock:
            self._minted[value] = (expires_at, session)

    def minted(self, value: str) -> tuple[int, Any] | None:
        with self._lock:
            return self._minted.get(value)
