"""The emulator's record of calls (Realtime, ``rtc_...``) and Live sessions (``live_...``) and their states.

A WebRTC call or Live session starts ``active``; one the emulator rang (SIP) starts ``pending`` and is decided
once: ``accepted``, ``rejected``, ``referred``, or ``timed_out`` when nobody decides in time. An outbound SIP
Live session (:mod:`.outbound`) starts ``dialing`` and is answered (``accepted``) or ``failed``. ``hung_up`` ends
an active, pending, dialing or accepted one. Tests read what was received (the offer bytes, the session, every
decision's body) from :class:`CallRecord` snapshots.

An emulator left running must not grow with every key it mints or call it creates, so everything here is
bounded, like the request history: minted keys are dropped once expired (checked on each mint, cheaply, from a
heap of expiry times) and, expired or not, the oldest beyond ``max_keys``; calls that ended are kept, for their
"already ended" answers, up to ``max_ended_calls`` (oldest ended forgotten first); calls still live (pending,
active, accepted) up to ``max_calls`` (oldest created forgotten first). A forgotten key is a 401 like any
unknown key, a forgotten call a 404 like any unknown id (and :class:`UnknownCall` from :meth:`update`).
"""

from __future__ import annotations

import heapq
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from .scripts import Script, ScriptState
from .socket_faults import MAX_RECORDED, SocketFault, SocketFaultRecord, SocketFaults

CallState = Literal[
    "pending", "active", "accepted", "rejected", "referred", "hung_up", "timed_out", "dialing", "failed"
]
Api = Literal["realtime", "live"]

ENDED: frozenset[str] = frozenset({"rejected", "referred", "hung_up", "timed_out", "failed"})
"""States after which the call is gone upstream: a hang-up answers 404."""
DEFAULT_MAX_KEYS = 10_000
"""Minted ``ek_`` keys remembered at most (each with its session, a few KB)."""
DEFAULT_MAX_CALLS = 1_000
"""Live (not ended) calls and Live sessions kept at most (each with its offer and answer, a few KB)."""
DEFAULT_MAX_ENDED = 1_000
"""Ended calls and Live sessions kept at most, so recent ones still answer "already ended"."""
MAX_CLIENT_EVENTS = 10_000
"""Client socket events a call's record keeps at most; the socket that sends one more is closed (1008)."""
DECIDED: frozenset[str] = frozenset({"accepted", "rejected", "referred", "timed_out"})
"""The final states of a ring (``hung_up`` too, when a pending call is hung up)."""


@dataclass(frozen=True, slots=True)
class Decision:
    """One accept/reject/refer/hangup the emulator received for a call, with its JSON body (or ``None``)."""

    action: str
    body: Any
    at: float


@dataclass(frozen=True, slots=True)
class ClientEvent:
    """One client event received on a socket of the call (a JSON object as parsed), with its connection's id."""

    connection: str
    event: dict[str, Any]
    at: float


class TooManyClientEvents(Exception):
    """The call's record already holds :data:`MAX_CLIENT_EVENTS` client events."""


class NoRoomForCall(Exception):
    """The registry already holds ``max_calls`` live calls and the new one may not push the oldest out."""


@dataclass(frozen=True, slots=True)
class CallRecord:
    """A snapshot of one call or Live session.

    ``offer`` is the SDP offer exactly as received (bytes, CRLFs kept); ``session`` the session it was created
    or accepted with; ``encoding`` how the offer came (``multipart``, ``raw`` ``application/sdp``, ``json``);
    ``auth`` which key created it (``api_key`` or ``ephemeral``); ``states`` every state it went through;
    ``client_events`` every event a client sent on the call's sockets, in the order received.
    """

    id: str
    api: Api
    transport: Literal["webrtc", "sip", "websocket"]
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
    script: Script | None = None
    """The checked script the call's sockets play (:mod:`.scripts`): the registry's ``default_script`` unless
    :meth:`Emulator.script_call` set one; ``()`` is a quiet caller."""
    client_events: tuple[ClientEvent, ...] = ()
    outbound: bool = False
    """An outbound SIP Live session (``POST /v1/live/sessions`` with a ``sip`` transport): the emulator dials."""
    script_state: ScriptState | None = None
    """Where the call's script is (:class:`~.scripts.ScriptState`): ``None`` until a sideband attaches and the
    script starts playing (:mod:`.scripted_calls`), then ``playing``, ``done`` or ``failed`` (step and why)."""
    socket_faults: tuple[SocketFaultRecord, ...] = ()
    """Every socket fault that acted on the call's sockets, in order (:mod:`.socket_faults`; the newest
    :data:`~.socket_faults.MAX_RECORDED`)."""
    peer_states: tuple[str, ...] = ()
    """Every ``connectionState`` (ICE and DTLS together) the emulator's WebRTC peer for the call went through,
    ``new`` first (:mod:`.webrtc`); empty when no real peer answered it."""
    peer_end_reason: str | None = None
    """Why the emulator closed the call's WebRTC peer itself (not connected in time, a data channel flood, a
    browser that stopped reading...); ``None`` when it did not."""


@dataclass(slots=True)
class _Entry:
    record: CallRecord
    changed: threading.Condition = field(default_factory=threading.Condition)
    on_end: list[Callable[[CallRecord], None]] = field(default_factory=list)
    events: list[ClientEvent] = field(default_factory=list)
    faults: deque[SocketFaultRecord] = field(default_factory=lambda: deque(maxlen=MAX_RECORDED))


class UnknownCall(KeyError):
    """No call with that id: never created, or forgotten beyond the registry's bounds."""


@dataclass(frozen=True, slots=True)
class RegistrySizes:
    """How much the registry holds now: tests and the soak check these stay within the bounds."""

    keys: int
    expiry_heap: int
    live_calls: int
    ended_calls: int


class CallRegistry:
    """Thread-safe: the emulator's handler threads and :meth:`Emulator.ring` update it concurrently.

    ``max_keys``, ``max_calls`` and ``max_ended_calls`` bound it (module docstring); each must be >= 1.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        *,
        max_keys: int = DEFAULT_MAX_KEYS,
        max_calls: int = DEFAULT_MAX_CALLS,
        max_ended_calls: int = DEFAULT_MAX_ENDED,
    ) -> None:
        for name, bound in (("max_keys", max_keys), ("max_calls", max_calls), ("max_ended_calls", max_ended_calls)):
            if bound < 1:
                raise ValueError(f"{name} must be >= 1")
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._live: OrderedDict[str, None] = OrderedDict()  # ids of calls not ended, oldest created first
        self._ended: OrderedDict[str, None] = OrderedDict()  # ids of ended calls, oldest ended first
        self._minted: OrderedDict[str, tuple[int, Any]] = OrderedDict()  # oldest minted first
        self._expiries: list[tuple[int, str]] = []  # a heap of (expires_at, key), stale entries included
        self.max_keys, self.max_calls, self.max_ended_calls = max_keys, max_calls, max_ended_calls
        self.default_script: Script = ()
        """The script every call added gets unless it carries its own (``Emulator(script=...)``)."""
        self.socket_faults = SocketFaults()
        """Socket faults queued for calls' sockets (``Emulator.enqueue_socket``); a call's go when it ends."""
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
        entry = self._entry(call_id)
        deadline = time.monotonic() + timeout
        with entry.changed:
            while entry.record.state not in wanted:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                entry.changed.wait(remaining)
            return entry.record

    def wait_until(self, call_id: str, predicate: Callable[[CallRecord], bool], timeout: float) -> CallRecord:
        """Block until ``predicate(record)`` holds or ``timeout`` seconds pass; the record either way."""
        entry = self._entry(call_id)
        deadline = time.monotonic() + timeout
        with entry.changed:
            while not predicate(entry.record):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                entry.changed.wait(remaining)
            return entry.record

    def now(self) -> float:
        """The registry's clock (the emulator's: tests may pin it)."""
        return self._clock()

    def _entry(self, call_id: str) -> _Entry:
        with self._lock:
            entry = self._entries.get(call_id)
        if entry is None:
            raise UnknownCall(call_id)
        return entry

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._live.clear()
            self._ended.clear()
        self.socket_faults.clear()

    def sizes(self) -> RegistrySizes:
        with self._lock:
            return RegistrySizes(len(self._minted), len(self._expiries), len(self._live), len(self._ended))

    # what the routes and ring do

    def has_room(self) -> bool:
        """Fewer than ``max_calls`` live calls: :meth:`add` with ``evict=False`` would succeed now."""
        with self._lock:
            return len(self._live) < self.max_calls

    def add(self, record: CallRecord, *, evict: bool = True) -> CallRecord:
        """Record a new call; the oldest live one is forgotten beyond ``max_calls``, or with ``evict=False``
        (a primary socket, whose open connection holds its session) :class:`NoRoomForCall` is raised instead."""
        script = self.default_script if record.script is None else record.script
        record = replace(record, states=(record.state,), script=script)
        with self._lock:
            if not evict and record.state not in ENDED and len(self._live) >= self.max_calls:
                raise NoRoomForCall(record.id)
            self._forget(record.id)
            self._entries[record.id] = _Entry(record)
            if record.state in ENDED:
                self._note_ended(record.id)
            else:
                self._live[record.id] = None
                while len(self._live) > self.max_calls:
                    oldest, _ = self._live.popitem(last=False)
                    del self._entries[oldest]
                    self.socket_faults.discard(oldest)
        return record

    def _forget(self, call_id: str) -> None:
        """Drop ``call_id`` everywhere (the caller holds ``_lock``)."""
        self._entries.pop(call_id, None)
        self.socket_faults.discard(call_id)
        self._live.pop(call_id, None)
        self._ended.pop(call_id, None)

    def _note_ended(self, call_id: str) -> None:
        """Move ``call_id`` to the ended calls, forgetting the oldest beyond ``max_ended_calls`` (``_lock`` held)."""
        self._live.pop(call_id, None)
        self._ended[call_id] = None
        self.socket_faults.discard(call_id)  # no socket of it can attach any more
        while len(self._ended) > self.max_ended_calls:
            oldest, _ = self._ended.popitem(last=False)
            del self._entries[oldest]

    def _changed(self, call_id: str, entry: _Entry, old: CallRecord, new: CallRecord) -> None:
        """Book-keeping after a state change (``entry.changed`` held): a call that just ended moves to the
        ended ones, unless it was forgotten meanwhile, and its end listeners run (once each)."""
        if new.state in ENDED and old.state not in ENDED:
            with self._lock:
                if self._entries.get(call_id) is entry:
                    self._note_ended(call_id)
            listeners, entry.on_end = entry.on_end, []
            for listener in listeners:
                listener(new)

    def on_end(self, call_id: str, listener: Callable[[CallRecord], None]) -> Callable[[], None]:
        """Call ``listener(record)`` once when the call ends (at once if it has ended); returns the function that
        removes it. It runs on the thread that ended the call, under the call's lock: it must not block."""
        entry = self._entry(call_id)
        with entry.changed:
            if entry.record.state in ENDED:
                ended: CallRecord | None = entry.record
            else:
                ended = None
                entry.on_end.append(listener)
        if ended is not None:
            listener(ended)

        def remove() -> None:
            with entry.changed:
                if listener in entry.on_end:
                    entry.on_end.remove(listener)

        return remove

    def record_client_event(
        self,
        call_id: str,
        connection: str,
        event: dict[str, Any],
        *,
        merge: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any] | None] | None = None,
    ) -> ClientEvent:
        """Append a client event to the call's record (and wake :meth:`wait_until`). ``merge(last, event)``: when
        the record's last event came from the same connection and this returns an event, that one replaces the
        last instead (a primary socket's run of audio appends is one entry, so audio does not use up the bound).

        :class:`TooManyClientEvents` beyond :data:`MAX_CLIENT_EVENTS`; :class:`UnknownCall` if it was forgotten."""
        entry = self._entry(call_id)
        with entry.changed:
            last = entry.events[-1] if entry.events else None
            merged = merge(last.event, event) if merge is not None and last and last.connection == connection else None
            if last is not None and merged is not None:
                recorded = entry.events[-1] = ClientEvent(connection, merged, last.at)
                entry.record = replace(entry.record, client_events=tuple(entry.events))
                entry.changed.notify_all()
                return recorded
            if len(entry.events) >= MAX_CLIENT_EVENTS:
                raise TooManyClientEvents(call_id)
            recorded = ClientEvent(connection, event, self._clock())
            entry.events.append(recorded)
            entry.record = replace(entry.record, client_events=tuple(entry.events))
            entry.changed.notify_all()
            return recorded

    def queue_socket_faults(self, call_id: str, faults: Iterable[SocketFault]) -> None:
        """Queue ``faults`` for ``call_id``'s sockets (:meth:`SocketFaults.add`), checked and queued under the
        lock that ends and forgets calls, so a call's faults never outlive it. :class:`UnknownCall` for an unknown
        call, ``ValueError`` for an ended one, :class:`~.socket_faults.TooManySocketFaults` beyond the bound."""
        with self._lock:
            entry = self._entries.get(call_id)
            if entry is None:
                raise UnknownCall(call_id)
            if call_id in self._ended:
                raise ValueError(f"the call {call_id} has ended ({entry.record.state}): no socket of it can attach")
            self.socket_faults.add(faults, call_id)

    def record_socket_fault(self, call_id: str, record: SocketFaultRecord) -> None:
        """Append what a socket fault did to the call's record (the newest :data:`~.socket_faults.MAX_RECORDED`
        kept); :class:`UnknownCall` if it was forgotten."""
        entry = self._entry(call_id)
        with entry.changed:
            entry.faults.append(record)
            entry.record = replace(entry.record, socket_faults=tuple(entry.faults))
            entry.changed.notify_all()

    def update(self, call_id: str, change: Callable[[CallRecord], CallRecord]) -> CallRecord:
        """Apply ``change`` to the current record atomically and wake :meth:`wait_for`."""
        entry = self._entry(call_id)
        with entry.changed:
            old = entry.record
            new = change(old)
            if new.state != old.state:
                new = replace(new, states=(*old.states, new.state))
            entry.record = new
            self._changed(call_id, entry, old, new)
            entry.changed.notify_all()
            return new

    def decide(
        self, call_id: str, action: str, body: Any, *, allowed: Iterable[str], to: CallState
    ) -> tuple[CallRecord, CallRecord | None]:
        """Move the call to ``to`` if its state is in ``allowed``: (the record before, the record after or
        ``None`` when refused). Checked and changed under one lock, so two racing decisions decide once."""
        permitted = set(allowed)
        entry = self._entry(call_id)
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
            self._changed(call_id, entry, before, after)
            entry.changed.notify_all()
            return before, after

    def remember_minted(self, value: str, expires_at: int, session: Any) -> None:
        """An ``ek_`` key this emulator minted, so ``POST /realtime/calls`` can accept it until it expires.

        Keys that have expired by now are dropped, then the oldest beyond ``max_keys``. The expiry heap keeps
        entries of keys already dropped; it is rebuilt from the live keys once it is twice their bound."""
        now = self._clock()
        with self._lock:
            self._minted[value] = (expires_at, session)
            heapq.heappush(self._expiries, (expires_at, value))
            while self._expiries and self._expiries[0][0] <= now:
                expiry, key = heapq.heappop(self._expiries)
                kept = self._minted.get(key)
                if kept is not None and kept[0] == expiry:
                    del self._minted[key]
            while len(self._minted) > self.max_keys:
                self._minted.popitem(last=False)
            if len(self._expiries) > 2 * self.max_keys:
                self._expiries = [(expiry, key) for key, (expiry, _) in self._minted.items()]
                heapq.heapify(self._expiries)

    def minted(self, value: str) -> tuple[int, Any] | None:
        with self._lock:
            return self._minted.get(value)
