"""uvicorn, held to the token server's limits: bounded headers, a deadline for each request to arrive, and
its own answers in OpenAI's shape.

uvicorn's httptools protocol accepts headers of any size (a 32 MiB header was taken) and gives a request
that trickles in byte by byte all the time it wants (``timeout_keep_alive`` only runs between requests).
:class:`GuardedHttpToolsProtocol` counts the bytes of a request's head and answers 431 past
``server.max_header_bytes``; it gives each request ``server.request_timeout`` seconds from its first byte (or
from the connection's opening) to arrive whole, then answers 408 and closes; and its malformed-request 400 is
in OpenAI's shape with ``no-store`` instead of uvicorn's plain text. Each of these answers is one access line.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .accesslog import log_line
from .answers import SERVER_ERRORS, raw_error
from .settings import ServerSettings


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    max_header_bytes: int = 32 * 1024
    request_timeout: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = 0
        self._head_done = False
        self._answered = False
        self._message_done = False
        self._deadline: asyncio.TimerHandle | None = None

    # the deadline -------------------------------------------------------------------------------------

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.request_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = 0
        self._head_done = False
        self._message_done = False
        if self._deadline is None:
            self._arm()

    def on_url(self, url: bytes) -> None:
        self._head_bytes += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_bytes += len(name) + len(value) + 4
        if self._head_bytes > self.max_header_bytes:
            raise ValueError("headers too large")  # httptools stops parsing; data_received answers 431
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._head_done = True
        started = self.cycle
        super().on_headers_complete()
        if self.cycle is not None and self.cycle is not started:  # its task has not run yet
            HeadHeld.install(self.cycle, self.transport)

    def on_message_complete(self) -> None:
        self._disarm()
        self._message_done = True
        super().on_message_complete()

    def on_response_complete(self) -> None:
        if not self._message_done and not self.transport.is_closing():
            # Answered before the body was all in (a 413): close rather than keep reading a body for nobody.
            self._disarm()
            self.transport.close()
            return
        super().on_response_complete()

    def _too_slow(self) -> None:
        self._deadline = None
        if self.transport.is_closing() or self._answered:
            return
        self._refuse(408, "request too slow")  # disarmed once a request is whole: this one is still arriving

    # answers ------------------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._answered:
            return
        super().data_received(data)
        if not self._head_done and not self._answered:  # a head still arriving: count what it has taken
            self._head_bytes += len(data)
            if self._head_bytes > self.max_header_bytes:
                self._refuse(431, "headers too large")

    def send_400_response(self, msg: str) -> None:
        if self._head_bytes > self.max_header_bytes:
            self._refuse(431, "headers too large")
        else:
            self._refuse(400, "malformed request")

    def _refuse(self, status: int, note: str) -> None:
        if self._answered:
            return
        self._answered = True
        self._disarm()
        method = self.scope.get("method") if isinstance(getattr(self, "scope", None), dict) else None
        self.transport.write(raw_error(status, *SERVER_ERRORS[status]))
        self.transport.close()
        url = getattr(self, "url", b"")
        log_line(method, url.decode("latin-1") if url else None, status, 0.0, note=note)


class HeadHeld:
    """A response cycle's transport that holds the response head back and sends it with the first body write.

    uvicorn writes the status line and headers at ``http.response.start`` and the body at
    ``http.response.body``: two writes, so two TCP segments and two wake-ups of the client for every answer
    (with ``TCP_NODELAY``, which uvicorn sets). Holding the head until the body comes makes it one. Only the head
    is held: a ``100 Continue`` (written before the response starts) and every later write go out at once, and
    anything held is written before the transport closes and when the response completes (a ``HEAD`` answer).
    """

    __slots__ = ("_cycle", "_done", "_head", "_transport")

    def __init__(self, transport: asyncio.Transport, cycle: Any) -> None:
        self._transport = transport
        self._cycle = cycle
        self._head = b""
        self._done = False

    @classmethod
    def install(cls, cycle: Any, transport: asyncio.Transport) -> None:
        """Give ``cycle`` a held transport, flushed when the cycle's response completes (by then the protocol
        may already be parsing the next, pipelined request: the flush belongs to this cycle)."""
        held = cls(transport, cycle)
        completed = cycle.on_response

        def on_response() -> None:
            held.flush()
            completed()

        cycle.transport = held
        cycle.on_response = on_response

    def write(self, data: bytes) -> None:
        if not self._done and self._cycle.response_started:
            self._done = True
            if not self._cycle.response_complete:
                self._head = data
                return
        if self._head:
            data, self._head = self._head + data, b""
        self._transport.write(data)

    def flush(self) -> None:
        if self._head:
            head, self._head = self._head, b""
            self._transport.write(head)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def guarded_protocol(settings: ServerSettings) -> type[GuardedHttpToolsProtocol]:
    """A :class:`GuardedHttpToolsProtocol` class bound to ``settings`` (uvicorn's ``http=`` takes a class)."""
    return type(
        "ConfiguredGuardedHttpToolsProtocol",
        (GuardedHttpToolsProtocol,),
        {"max_header_bytes": settings.max_header_bytes, "request_timeout": settings.request_timeout},
    )
