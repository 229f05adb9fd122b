"""A call's script played on its sidebands: one :class:`~.script_runner.ScriptRunner` per call, across reconnects.

The runner's :class:`~.script_runner.Channel` is the *call* (it outlives a dropped socket); a sideband's
:class:`~.core.Channel` is one *connection*. :class:`ScriptedCall` is the only bridge between the two, which is
why there are two protocols and two "closed" exceptions (:class:`~.core.SocketClosed`: this connection is
gone; :class:`~.script_runner.ChannelClosed`: the call is gone for good):

- the first sideband that attaches to a call whose record has a non-empty script (and no ``on_sideband``
  driver is set) starts the runner; a sideband attaching while it plays becomes the one the runner talks to
  (the newest wins), so a re-attach after a ``drop`` *continues* the script, never restarts it;
- ``send`` waits (up to :data:`REATTACH_TIMEOUT`) for an open connection when none is attached; an event
  whose connection closes under it is lost, as on a dropped network (GPT-Live's replay re-sends the last 3 s);
- ``receive`` hands over what the app sent on a connection before it closed (oldest connection first) before
  reading the current one: an answer sent just before a drop reached the API, so it counts;
- ``close(abnormal=True)`` drops the connection; ``close(abnormal=False)`` and the script's ``on_hangup`` end
  the call exactly as a REST hang-up does (:func:`~.call_routes.hang_up`: its sidebands close);
- each state goes on the record (``CallRecord.script_state``); once the script is over, the call's sidebands
  (and any that attach later) are a quiet caller again.
- an outbound call's script (:mod:`.outbound`) starts only once its callee answered (``dial: failed`` is
  ``done`` when the call failed); a ``dial`` step on a call that came in fails the script at that step;
- a WebRTC call's own connection (its ``oai-events`` data channel, :mod:`.webrtc`) attaches with
  :meth:`ScriptedCall.attach_own`: it hears every scripted event beside the current sideband (both sides of one
  conversation), and what the app sends on either counts (read in turns of at most :data:`_RECEIVE_SLICE`);
  its runner gets the peer's audio (:mod:`.call_audio`, ``audio_for``): ``model_says`` speaks on the track and a
  ``caller`` step may wait for the caller's speech;
- on a call with a WebRTC peer the script starts once the call's own connection attached (up to
  :data:`OWN_TIMEOUT`), even when a server's sideband attached first: the conversation is the caller's, and a
  page must hear it from its first event (a sideband attached by ``/session`` usually wins that race).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from .call_audio import CallAudio
from .call_registry import CallRecord, CallRegistry, UnknownCall
from .call_routes import hang_up
from .core import Channel as Connection
from .core import Driver, SocketClosed
from .script_runner import ChannelClosed, ScriptRunner
from .scripts import MAX_RINGING, Dial, Script, ScriptState

REATTACH_TIMEOUT = 30.0
"""Seconds a scripted event waits for the app to attach a sideband again after its connection closed; then the
script fails (``the app's connection closed``)."""
DIAL_TIMEOUT = MAX_RINGING + REATTACH_TIMEOUT
"""Seconds a script waits for its outbound call's outcome (the dialer decides within the ringing limit)."""
OWN_TIMEOUT = 30.0
"""Seconds a WebRTC call's script waits for the call's data channel when a sideband attached first; then it plays
on the sideband alone (a peer that offered no ``oai-events`` channel)."""
_RECEIVE_SLICE = 0.1
"""A receive waits on one connection at most this long before looking for a newer one."""
MAX_UNDRAINED = 16
"""Closed connections whose last events the script has not read yet, kept at most (the oldest go first)."""


class ScriptedCall:
    """One call's script and the sideband it currently plays on: the runner's :class:`~.script_runner.Channel`."""

    def __init__(
        self,
        calls: CallRegistry,
        record: CallRecord,
        script: Script,
        *,
        finished: Callable[[], None],
        audio: CallAudio | None = None,
    ) -> None:
        self.call_id, self.api = record.id, record.api
        self._calls = calls
        self._finished = finished
        self._changed = threading.Condition()
        self._current: Connection | None = None
        self._own: Connection | None = None  # the call's data channel, beside the current sideband
        self._turn = 0  # whose turn it is to be read when both are open
        self._attached: list[Connection] = []
        self._started = False
        self._ended = False
        self._clock = time.monotonic
        self._last_connection = ""
        self.runner = ScriptRunner(
            script,
            self,
            api=record.api,
            session_id=record.id,
            session=_live_resource(record) if record.api == "live" else None,
            on_state=self._record,
            on_hangup=self._hang_up,
            audio=audio,
        )

    # the sideband side

    def attach(self, connection: Connection) -> None:
        """A sideband attached (the driver hook, on its own thread): the first plays the script to its end."""
        self._attach(connection, own=False)

    def attach_own(self, connection: Connection) -> None:
        """The call's own connection (its data channel) attached: as :meth:`attach`, but a sideband attaching
        later does not take the conversation from it."""
        self._attach(connection, own=True)

    def _attach(self, connection: Connection, *, own: bool) -> None:
        with self._changed:
            if own:
                self._own = connection
            else:
                self._current = connection
            closed = [c for c in self._attached if c.closed][-MAX_UNDRAINED:]  # still to be read (drained)
            self._attached = [*closed, *(c for c in self._attached if not c.closed), connection]
            first, self._started = not self._started, True
            self._changed.notify_all()
        if first:
            self._play()

    def _play(self) -> None:
        remove = self._calls.on_end(self.call_id, self._call_ended)
        try:
            if self._dialled():
                self._wait_for_own()
                self.runner.run()
        finally:
            remove()
            self._finished()
            with self._changed:
                attached, self._attached = self._attached, []
            for connection in attached:
                connection.release()

    def _wait_for_own(self) -> None:
        """On a call with a WebRTC peer, until its data channel attached (at most :data:`OWN_TIMEOUT`) or the
        call ended (the runner then says so on the record)."""
        if self.runner.audio is None:
            return  # no peer: nothing else will attach on the caller's side
        deadline = self._clock() + OWN_TIMEOUT
        with self._changed:
            while self._own is None and not self._ended:
                remaining = deadline - self._clock()
                if remaining <= 0:
                    break
                self._changed.wait(remaining)

    def _dialled(self) -> bool:
        """Whether the script plays on: an outbound call's only once its callee answered (a ``dial: failed``
        script is done when the call failed); a ``dial`` step on a call that came in fails the script."""
        script = self.runner.script
        dials = bool(script) and isinstance(script[0], Dial)
        record = self._calls.get(self.call_id)
        if record is None or not record.outbound:
            if dials:
                self._record(ScriptState("failed", 0, "dial", "only an outbound call dials; this call came in"))
                return False
            return True
        try:
            settled = self._calls.wait_until(self.call_id, lambda r: r.state != "dialing", DIAL_TIMEOUT)
        except UnknownCall:
            return False  # forgotten (the registry's bounds): nothing to play on
        if settled.state == "accepted":
            return True
        if settled.state == "failed" and dials and isinstance(script[0], Dial) and script[0].outcome == "failed":
            self._record(ScriptState("done"))
            return False
        why = "still ringing" if settled.state == "dialing" else f"the call ended while ringing ({settled.state})"
        self._record(ScriptState("failed", 0, "dial", why))
        return False

    def _call_ended(self, record: CallRecord) -> None:
        """The call ended (any way): no further step plays. Under the call's lock: only flags."""
        self.runner.stop()
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    # the runner's Channel

    @property
    def connection(self) -> str:
        return self._last_connection

    def _connections(self, deadline: float) -> list[Connection]:
        """The open connections to talk on (the current sideband, the call's own); none at ``deadline``;
        :class:`ChannelClosed` once the call ended."""
        with self._changed:
            while True:
                if self._ended:
                    raise ChannelClosed(f"the call {self.call_id} has ended")
                open_ = [c for c in (self._current, self._own) if c is not None and not c.closed]
                if open_:
                    return open_
                remaining = deadline - self._clock()
                if remaining <= 0:
                    return []
                self._changed.wait(remaining)

    def _connection(self, deadline: float) -> Connection | None:
        """The open connection to read next (taking turns when two are open), as :meth:`_connections`."""
        open_ = self._connections(deadline)
        if not open_:
            return None
        self._turn += 1
        return open_[self._turn % len(open_)]

    def send(self, event: dict[str, Any]) -> None:
        connections = self._connections(self._clock() + REATTACH_TIMEOUT)
        if not connections:
            raise ChannelClosed(f"no sideband attached to {self.call_id} for {REATTACH_TIMEOUT:g} s")
        for connection in connections:
            with contextlib.suppress(SocketClosed):  # it closed under this event: lost, as on a dropped network
                connection.send(event)

    def wait_for_sideband(self, timeout: float) -> bool:
        """``expect_sideband``: an open sideband attached (any time before, too) within ``timeout`` seconds;
        :class:`ChannelClosed` once the call ended."""
        deadline = self._clock() + timeout
        with self._changed:
            while True:
                if self._ended:
                    raise ChannelClosed(f"the call {self.call_id} has ended")
                if self._current is not None and not self._current.closed:
                    return True
                remaining = deadline - self._clock()
                if remaining <= 0:
                    return False
                self._changed.wait(min(remaining, _RECEIVE_SLICE))  # a closed connection notifies no one: look again

    def _reader(self, deadline: float) -> Connection | None:
        """The connection to read the app's next event from: a closed one not drained yet (oldest first: what
        the app sent before it closed comes before what it sends after re-attaching), else the open one."""
        with self._changed:
            closed = next((c for c in self._attached if c.closed), None)
        return closed if closed is not None else self._connection(deadline)

    def _drained(self, connection: Connection) -> None:
        with self._changed:
            self._attached = [c for c in self._attached if c is not connection]

    def receive(self, timeout: float) -> dict[str, Any] | None:
        deadline = self._clock() + timeout
        while True:
            if self._ended:
                raise ChannelClosed(f"the call {self.call_id} has ended")
            connection = self._reader(deadline)
            if connection is None:
                return None
            remaining = deadline - self._clock()
            try:
                event = connection.receive(min(max(remaining, 0.0), _RECEIVE_SLICE))
            except SocketClosed:
                self._drained(connection)
                continue  # closed and drained: read the next connection (or wait for one, up to the deadline)
            if event is not None:
                self._last_connection = connection.connection_id
                return event
            if self._clock() >= deadline:
                return None

    def close(self, *, abnormal: bool) -> None:
        if not abnormal:
            self._hang_up()
            return
        with self._changed:
            current = self._current if self._current is not None else self._own
        if current is not None:
            current.drop()

    # the record

    def _record(self, state: ScriptState) -> None:
        with contextlib.suppress(UnknownCall):  # forgotten (the registry's bounds): no record left to write on
            self._calls.update(self.call_id, lambda record: replace(record, script_state=state))

    def _hang_up(self) -> None:
        with contextlib.suppress(UnknownCall):  # forgotten: it has ended already
            hang_up(self._calls, self.call_id)


def _live_resource(record: CallRecord) -> dict[str, Any]:
    """The Live session resource for the script's ``session.closed`` (as the sideband shows it)."""
    session = dict(record.session) if isinstance(record.session, dict) else {}
    session.pop("type", None)
    return {
        **session,
        "id": record.id,
        "model": session.get("model", "gpt-live-1"),
        "status": "active",
        "expires_at": int(record.created_at) + 3600,
    }


class ScriptedCalls:
    """The emulator's scripted calls in play (at most one runner per call)."""

    def __init__(
        self, calls: CallRegistry, audio_for: Callable[[str], CallAudio | None] = lambda call_id: None
    ) -> None:
        self._calls = calls
        self._audio_for = audio_for
        """A call's WebRTC peer's audio, or ``None`` (no peer: the script plays without audio, as ever)."""
        self._lock = threading.Lock()
        self._playing: dict[str, ScriptedCall] = {}

    def driver(self, call_id: str, *, own: bool = False) -> Driver | None:
        """The driver for a sideband attaching to ``call_id`` (``own``: the call's data channel): its script's,
        or ``None`` (a quiet caller: no script, or its script has already played)."""
        with self._lock:
            scripted = self._playing.get(call_id)
            if scripted is None:
                record = self._calls.get(call_id)
                if record is None or not record.script or record.script_state is not None:
                    return None
                scripted = ScriptedCall(
                    self._calls,
                    record,
                    record.script,
                    finished=lambda: self._finished(call_id),
                    audio=self._audio_for(call_id),
                )
                self._playing[call_id] = scripted
                scripted._record(ScriptState("pending"))
        return scripted.attach_own if own else scripted.attach

    def _finished(self, call_id: str) -> None:
        with self._lock:
            self._playing.pop(call_id, None)
