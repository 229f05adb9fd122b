"""A GPT-Live session's server events as its sidebands share them: the 3 s replay and the session-wide events.

Kept apart from the sideband connections (:mod:`.sidebands`) because events exist before any sideband does: an
outbound SIP session (:mod:`.outbound`) rings the moment it is created, and a sideband attached later must still
find ``transport.ringing`` in the replay of the preceding :data:`REPLAY_SECONDS` (SIDEBAND-NOTES 3.4). One
:class:`LiveEvents` per emulator (``Core.live_events``), one :class:`SessionEvents` per session.

Order on a connection is kept by one lock per session: a sideband's replay and its registration as a listener
happen together, and a :meth:`SessionEvents.publish` buffers and sends under the same lock, so an attaching
sideband gets each event exactly once (replayed or published), oldest first.
"""

from __future__ import annotations

import collections
import json
import threading
from collections.abc import Callable
from typing import Any

from .call_registry import CallRegistry
from .replies import random_id

Listener = Callable[[str], bool]
"""Sends one event's JSON text on an attached sideband; ``False`` once its connection is closed."""

REPLAY_SECONDS = 3.0
"""A Live sideband that attaches gets the session's events of the preceding 3 s again (SIDEBAND-NOTES 3.4)."""
REPLAY_MAX_EVENTS = 1000
"""At most this many of them (the newest): a flood cannot make a session's replay buffer grow without bound."""


class SessionEvents:
    """A Live session's recent server events (for the replay on attach, bounded by time and count) and the
    sidebands attached to it (for the events of the session as a whole: :meth:`publish`)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.RLock()
        self._events: collections.deque[tuple[float, str]] = collections.deque(maxlen=REPLAY_MAX_EVENTS)
        self._listeners: list[Listener] = []
        self.close_event_id: str | None = None
        """The ``event_id`` of the ``session.close`` that ended the session, if one did."""
        self._closed: dict[str, Any] | None = None

    def closed_event(self, build: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """The session's one ``session.closed`` (built once): every sideband gets the same event and id."""
        with self._lock:
            if self._closed is None:
                self._closed = build()
            return self._closed

    def add(self, text: str) -> None:
        """Keep one event sent on one of the session's connections for the replay."""
        with self._lock:
            at = self._clock()
            self._events.append((at, text))
            while self._events and self._events[0][0] < at - REPLAY_SECONDS:
                self._events.popleft()

    def since(self) -> list[str]:
        """The events of the last :data:`REPLAY_SECONDS`, oldest first."""
        with self._lock:
            at = self._clock()
            return [text for when, text in self._events if when >= at - REPLAY_SECONDS]

    def attach(self, listener: Listener) -> None:
        """A sideband attached: replay the recent events to it, then send it every :meth:`publish` from now on."""
        with self._lock:
            for text in self.since():
                if not listener(text):
                    return
            self._listeners.append(listener)

    def detach(self, listener: Listener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def publish(self, event: dict[str, Any]) -> dict[str, Any]:
        """Send a session-wide event (``transport.*``) to every attached sideband and keep it for the replay, even
        when none is attached; returns it with its ``event_id``. A connection closing under it is skipped."""
        payload = {"event_id": random_id("event_"), **event}
        text = json.dumps(payload)
        with self._lock:
            self.add(text)
            for listener in list(self._listeners):
                if not listener(text):
                    self.detach(listener)
        return payload


class LiveEvents:
    """The :class:`SessionEvents` of each Live session, for as many sessions as the registry keeps (live and
    ended: a sideband attaching as the session ends must find the same ``session.closed``)."""

    def __init__(self, calls: CallRegistry) -> None:
        self._calls = calls
        self._lock = threading.Lock()
        self._sessions: collections.OrderedDict[str, SessionEvents] = collections.OrderedDict()

    def __len__(self) -> int:
        """Sessions whose events are held (at most ``max_calls + max_ended_calls``)."""
        with self._lock:
            return len(self._sessions)

    def of(self, session_id: str) -> SessionEvents:
        with self._lock:
            events = self._sessions.get(session_id)
            if events is None:
                events = self._sessions[session_id] = SessionEvents(self._calls.now)
                while len(self._sessions) > self._calls.max_calls + self._calls.max_ended_calls:
                    self._sessions.popitem(last=False)
            return events
