"""Reading the emulator's sockets in tests, with a deadline so a broken emulator fails a test instead of hanging
it: the ``openai`` SDK's realtime connections (typed events, a ``recv`` with no timeout: a watchdog closes the
socket) and raw ``websockets`` clients (JSON events, each ``recv`` bounded by :data:`WAIT`)."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection

WAIT = 10.0  # seconds a test waits for something that should happen at once (never reached when it works)


@contextlib.contextmanager
def watchdog(conn: Any) -> Iterator[Any]:
    """The SDK's ``recv`` (and its iteration) has no timeout: a watchdog closes the socket after ``3 * WAIT`` s,
    so a broken emulator fails the test (``ConnectionClosed``) instead of hanging it."""
    timer = threading.Timer(3 * WAIT, conn.close)
    timer.start()
    try:
        yield conn
    finally:
        timer.cancel()


def sdk_until(conn: Any, kind: str) -> list[Any]:
    """An SDK connection's events up to and including the first of type ``kind`` (its recv blocks; the emulator
    sends)."""
    events = []
    while True:
        event = conn.recv()
        events.append(event)
        if event.type == kind:
            return events


def sdk_until_closed(conn: Any) -> tuple[list[Any], ConnectionClosed]:
    """An SDK connection's events until the socket closes, and how it closed."""
    events = []
    while True:
        try:
            events.append(conn.recv())
        except ConnectionClosed as closed:
            return events, closed


def next_json(ws: ClientConnection) -> dict[str, Any]:
    """The next event of a raw socket, a JSON object (``TimeoutError`` after :data:`WAIT` s)."""
    event = json.loads(ws.recv(timeout=WAIT))
    assert isinstance(event, dict)
    return event


def json_until(ws: ClientConnection, kind: str) -> list[dict[str, Any]]:
    """A raw socket's events up to and including the first of type ``kind``."""
    events = [next_json(ws)]
    while events[-1]["type"] != kind:
        events.append(next_json(ws))
    return events


def json_until_closed(
    ws: ClientConnection, read: Callable[[ClientConnection], dict[str, Any]] = next_json
) -> list[dict[str, Any]]:
    """A raw socket's events (each from ``read``) until the server closes it (a test that never sees the close
    fails on the timeout)."""
    events = []
    with contextlib.suppress(ConnectionClosed):
        while True:
            events.append(read(ws))
    return events
