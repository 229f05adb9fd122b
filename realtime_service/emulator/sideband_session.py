"""One attached sideband connection: reads client events, records them, answers, and is a :class:`~.core.Channel`.

What both sidebands share; :mod:`.sidebands` holds what each API answers. The loop runs on the connection's
handler thread and never lets a client's frame end it with an exception: a frame that is not a JSON object
with a ``type`` is answered with the API's ``error`` event and the connection stays; only a closed socket, the
call's end or the record's bound (:data:`~.call_registry.MAX_CLIENT_EVENTS`, close 1008) end it. Every frame the
client sent before the socket closed is read, recorded and passed on to the driver, even once answers can no
longer go out: the API received it. The transport sends through the call's socket faults (:mod:`.faulty_sockets`).
"""

from __future__ import annotations

import collections
import contextlib
import copy
import json
import threading
import traceback
from collections.abc import Mapping
from typing import Any

from .call_registry import Api, CallRecord, CallRegistry, TooManyClientEvents, UnknownCall
from .core import Driver, SocketClosed, Transport
from .faulty_sockets import with_faults
from .replies import random_id

POLICY_VIOLATION = 1008
INTERNAL_ERROR = 1011


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def server_event_id() -> str:
    return random_id("event_")


class Problem(Exception):
    """A client event the API answers with an ``error`` event (the connection stays)."""

    def __init__(self, message: str, *, code: str, param: str | None = None, type: str = "invalid_request_error"):  # noqa: A002
        super().__init__(message)
        self.message, self.code, self.param, self.type = message, code, param, type


def session_of(event: Mapping[str, Any]) -> dict[str, Any]:
    """The ``session`` object of a ``session.update`` / ``session.start``, or the API's error for its absence."""
    session = event.get("session")
    if not isinstance(session, dict):
        raise Problem(
            "Missing required parameter: 'session'." if session is None else "Invalid type for 'session'.",
            code="missing_required_parameter" if session is None else "invalid_type",
            param="session",
        )
    return session


class Sideband:
    """The shared part of a sideband: subclasses answer events (:meth:`handle`) and shape errors (:meth:`error`).

    As a :class:`~.core.Channel`: ``send`` and ``receive`` may be called from the driver's thread while the
    loop runs on the handler thread (``websockets`` serialises the sends).
    """

    api: Api = "realtime"

    def __init__(
        self, transport: Transport, calls: CallRegistry, call_id: str, driver: Driver | None, *, scripted: bool = False
    ) -> None:
        self.transport = with_faults(transport, calls, call_id)
        """The connection, sending through the call's socket faults (:mod:`.faulty_sockets`)."""
        self.calls = calls
        self._call_id = call_id
        self._driver = driver
        self.scripted = scripted
        """Driven by the call's script (:mod:`.scripted_calls`), not by a user's ``on_sideband`` driver."""
        self._inbox: collections.deque[dict[str, Any]] = collections.deque()
        self._inbox_changed = threading.Condition()
        self._ended = False

    # the Channel

    @property
    def connection_id(self) -> str:
        return self.transport.id

    @property
    def call_id(self) -> str:
        return self._call_id

    @property
    def driven(self) -> bool:
        return self._driver is not None

    @property
    def closed(self) -> bool:
        return self._ended or self.transport.closed

    def send(self, event: Mapping[str, Any]) -> None:
        payload = dict(event)
        payload.setdefault("event_id", server_event_id())
        self.sent(payload)
        self.transport.send_text(json.dumps(payload))

    def receive(self, timeout: float | None = None) -> dict[str, Any] | None:
        """The next event passed on; :class:`SocketClosed` only once the loop has ended, so every event the
        client sent before the socket closed is handed over first (the transport closes before its last frames
        are read)."""
        with self._inbox_changed:
            if not self._inbox_changed.wait_for(lambda: self._inbox or self._ended, timeout):
                return None
            if self._inbox:
                return self._inbox.popleft()
        raise SocketClosed(f"the sideband {self.connection_id} is closed")

    def drop(self) -> None:
        self.transport.abort()

    def release(self) -> None:
        """The driver is done (a script that played to its end): from now on the call is a quiet caller here."""
        with self._inbox_changed:
            self._driver = None
            self.scripted = False
            self._inbox.clear()
        self.released()

    # for subclasses

    def sent(self, event: dict[str, Any]) -> None:
        """Hook: an event about to be sent (book-keeping such as the active response)."""

    def released(self) -> None:
        """Hook: the driver let go (:meth:`release`); forget what was waiting on it."""

    def attached(self) -> None:
        """Hook: the first thing on a new connection (``session.created``, a replay)."""

    def handle(self, kind: str, event: dict[str, Any], client_event_id: str | None) -> bool:
        """Answer one client event; ``True`` passes it on to the driver. Raise :class:`Problem` to refuse it."""
        raise NotImplementedError

    def error(self, problem: Problem, client_event_id: str | None) -> dict[str, Any]:
        """The API's ``error`` event for ``problem``."""
        raise NotImplementedError

    def for_record(self, event: dict[str, Any]) -> dict[str, Any]:
        """Hook: what of a client event goes on the call's record (default: all of it)."""
        return event

    def merge_recorded(self, last: dict[str, Any], event: dict[str, Any]) -> dict[str, Any] | None:
        """Hook: one record entry for ``last`` (this connection's previous one) and ``event``, or ``None``
        (default) to record ``event`` on its own."""
        return None

    def ended(self, record: CallRecord) -> None:
        """The call ended (hang-up, ``session.close``...): runs on a thread of its own; default: close."""
        self.transport.close(1000, "")

    # the loop

    def run(self) -> None:
        """Serve the connection until it closes or the call ends (on the handler thread)."""
        try:
            remove = self.calls.on_end(self._call_id, self._on_end)
        except UnknownCall:
            self.transport.close(1000, "")
            return
        try:
            self.attached()
            if self._driver is not None:
                threading.Thread(target=self._drive, args=(self._driver,), name="emulator-driver", daemon=True).start()
            while True:
                try:
                    message = self.transport.receive(None)
                except SocketClosed:
                    break
                if message is not None:
                    with contextlib.suppress(SocketClosed):  # closed under our answer: what came before still counts
                        self._take(message)
        except SocketClosed:
            pass  # the client went away while we answered
        finally:
            remove()
            with self._inbox_changed:
                self._ended = True
                self._inbox_changed.notify_all()

    def _on_end(self, record: CallRecord) -> None:
        threading.Thread(target=self._end, args=(record,), name="emulator-sideband-end", daemon=True).start()

    def _end(self, record: CallRecord) -> None:
        try:
            self.ended(record)
        except SocketClosed:
            pass
        finally:
            self.transport.close(1000, "")

    def _drive(self, driver: Driver) -> None:
        try:
            driver(self)
        except SocketClosed:
            pass
        except Exception:
            traceback.print_exc()
            self.transport.close(INTERNAL_ERROR, "the emulator's driver failed")

    def _take(self, message: str | bytes) -> None:
        event = self._parse(message)
        if event is None:
            return
        try:
            self.calls.record_client_event(
                self._call_id, self.connection_id, self.for_record(event), merge=self.merge_recorded
            )
        except TooManyClientEvents:
            self.transport.close(POLICY_VIOLATION, "too many client events for the emulator's record")
            return
        except UnknownCall:
            self.transport.close(1000, "")
            return
        client_event_id = event.get("event_id") if isinstance(event.get("event_id"), str) else None
        kind = event.get("type")
        try:
            if not isinstance(kind, str):
                if kind is None:
                    raise Problem(
                        "Missing required parameter: 'type'.", code="missing_required_parameter", param="type"
                    )
                raise Problem("Invalid type for 'type': expected a string.", code="invalid_type", param="type")
            forward = self.handle(kind, event, client_event_id)
        except Problem as problem:
            self.send(self.error(problem, client_event_id))
            return
        except SocketClosed:  # the answer could not go out; the event was received all the same: pass it on
            forward = True
        except Exception:  # a bug of ours: say so on this socket, keep serving it and every other one
            traceback.print_exc()
            self.send(self.error(_SERVER_ERROR, client_event_id))
            return
        if forward and self._driver is not None:
            passed = copy.deepcopy(event)  # the driver's own: changing it cannot rewrite the call's record
            with self._inbox_changed:
                self._inbox.append(passed)
                self._inbox_changed.notify_all()

    def _parse(self, message: str | bytes) -> dict[str, Any] | None:
        """The event, or ``None`` after answering a frame that is not a JSON object."""
        if isinstance(message, bytes):
            problem = Problem("Binary frames are not supported: send JSON text events.", code="invalid_message")
        else:
            try:
                event = json.loads(message, parse_constant=_reject_constant)
            except (ValueError, RecursionError):
                problem = Problem("The event is not valid JSON.", code="invalid_json")
            else:
                if isinstance(event, dict):
                    return event
                problem = Problem("The event must be a JSON object.", code="invalid_type")
        self.send(self.error(problem, None))
        return None


_SERVER_ERROR = Problem(
    "The server had an error while processing your request. Sorry about that!", code="server_error", type="server_error"
)
