"""A scripted raw HTTP/1.1 server on loopback for the event-loop gateway's tests: it reads one request per
exchange and answers with whatever bytes a test scripts, counting the connections it accepts, so reuse and
"nothing was sent" are observed on the wire, not on the client's state."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TypeVar

from realtime_service.transport.aio import EventLoopGateway

T = TypeVar("T")
OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"

#: What the server does after reading one request; True keeps the connection for another exchange.
Reply = Callable[[socket.socket], bool]


def answer(data: bytes, *, close: bool = False, delay: float = 0.0, then: bytes = b"") -> Reply:
    """Send ``data`` (after ``delay``), then ``then`` a moment later; close the connection if ``close``."""

    def reply(conn: socket.socket) -> bool:
        if delay:
            time.sleep(delay)  # the behaviour: a slow server
        conn.sendall(data)
        if then:
            time.sleep(0.02)  # the behaviour: ``then`` comes as a later segment, not with ``data``
            conn.sendall(then)
        return not close

    return reply


def hold(data: bytes = b"", ended: threading.Event | None = None) -> Reply:
    """Send ``data`` (maybe nothing) and never finish: wait for the client to close, and say so in ``ended``."""

    def reply(conn: socket.socket) -> bool:
        if data:
            conn.sendall(data)
        while conn.recv(65536):
            pass
        if ended is not None:
            ended.set()
        return False

    return reply


def trickle(head: bytes, piece: bytes, every: float) -> Reply:
    """Send ``head``, then ``piece`` every ``every`` seconds until the client goes (a head that never ends)."""

    def reply(conn: socket.socket) -> bool:
        conn.sendall(head)
        stop = time.monotonic() + 5
        while time.monotonic() < stop:
            time.sleep(every)  # the behaviour: a trickle
            conn.sendall(piece)
        return False

    return reply


class ScriptedServer:
    """A raw HTTP/1.1 server on 127.0.0.1: reads one request head and body per exchange, answers with the next
    scripted :data:`Reply` (``200 {}`` keep-alive when none is left), records each raw request."""

    def __init__(self) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(16)
        self.port: int = self.socket.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.accepted = 0
        self.requests: list[bytes] = []
        self._replies: deque[Reply] = deque()
        self._connections: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._replies.extend(replies)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.socket.accept()
            except OSError:
                return
            conn.settimeout(5)  # no thread outlives a stuck test by much
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            with self._lock:
                self.accepted += 1
                self._connections.append(conn)
                self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        buffer = b""
        try:
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffer += data
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = next(
                    (
                        int(line.partition(b":")[2])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                while len(buffer) < length:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffer += data
                body, buffer = buffer[:length], buffer[length:]
                with self._lock:
                    self.requests.append(head + b"\r\n\r\n" + body)
                    reply = self._replies.popleft() if self._replies else answer(OK)
                if not reply(conn):
                    return
        except OSError:
            return
        finally:
            conn.close()

    def close(self) -> None:
        """Wake every thread (shutdown), wait for it to end, and only then close the sockets: a thread still in
        ``accept`` or ``recv`` when its descriptor is closed can be handed the next socket given that number (a
        later test's emulator lost a connection to one and hung in ``accept``)."""
        with contextlib.suppress(OSError):
            self.socket.shutdown(socket.SHUT_RDWR)  # a blocked accept returns (EINVAL)
        self._acceptor.join(5)
        with self._lock:
            connections, threads = list(self._connections), list(self._threads)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(5)
        for conn in connections:
            conn.close()
        self.socket.close()


def run(gateway: EventLoopGateway, awaitable: Awaitable[T]) -> T:
    """Await ``awaitable`` on a fresh loop, closing the gateway's connections on it before the loop ends."""

    async def main() -> T:
        try:
            return await awaitable
        finally:
            await gateway.aclose()

    return asyncio.run(main())
