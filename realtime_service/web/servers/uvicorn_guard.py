"""uvicorn, held to the token server's limits: bounded headers, a bounded request, a deadline for each request to
arrive, and its own answers in OpenAI's shape; with either of uvicorn's parsers (httptools, else h11).

uvicorn's httptools protocol accepts headers of any size (a 32 MiB header was taken), chunk-size lines of any length
(a 2 MiB chunk extension for a 2-byte body was read and minted), and gives a request that trickles in byte by byte all
the time it wants (``timeout_keep_alive`` only runs between requests). :class:`GuardedHttpToolsProtocol` counts the
bytes of a request's head and answers 431 past ``server.max_header_bytes`` or past
:data:`~realtime_service.web.admission.bodies.MAX_HEADER_COUNT` header lines (trailers included); counts every byte a
request makes it read (request line, headers, chunk-size lines and extensions, body, trailers) and answers 413 and
closes past :func:`~realtime_service.web.admission.bodies.max_request_bytes`; gives each request
``server.request_timeout`` seconds from its first byte (or from the connection's opening) to arrive whole, then
answers 408 and closes; and its malformed-request 400 is in OpenAI's shape with ``no-store`` instead of uvicorn's
plain text. :class:`GuardedH11Protocol` does the same on h11 (whose own bound on an incomplete head or chunk line is
set to ``server.max_header_bytes``). Each of these answers is one access line.
"""

from __future__ import annotations

import asyncio
import importlib.util
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from ..admission.accesslog import log_line
from ..admission.answers import SERVER_ERRORS, raw_error
from ..admission.bodies import MAX_HEADER_COUNT, max_request_bytes
from ..settings import ServerSettings

if importlib.util.find_spec("httptools") is not None:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
else:  # pragma: no cover - the fastapi extra installs httptools; without it serve runs on h11
    HttpToolsProtocol = H11Protocol  # type: ignore[misc, assignment]


class _Guard(asyncio.Protocol):
    """What both guarded protocols share: the arrival deadline (armed when the connection opens, for its first
    request), the per-request byte budget, the refusals. Listed before uvicorn's protocol in each class's bases,
    so ``super()`` here is uvicorn's.

    ``_message_bytes`` counts what the request in progress made the server read; a read that starts a request
    counts whole (it may hold the end of the previous one: a pipelining client is over-counted by at most one
    read, never under-counted).
    """

    max_header_bytes: int = 32 * 1024
    max_request_bytes: int = 32 * 1024 + 16 * 1024 + 4096
    request_timeout: float = 10.0
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _guard_init(self) -> None:
        self._answered = False
        self._in_message = False
        self._message_bytes = 0
        self._deadline: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.request_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _begin(self, data_length: int) -> None:
        """A request starts in a read of ``data_length`` bytes."""
        self._in_message = True
        self._message_bytes = data_length
        if self._deadline is None:
            self._arm()

    def _complete(self) -> None:
        self._disarm()
        self._in_message = False

    def _over_budget(self, head_done: bool) -> bool:
        """The request in progress made the server read more than it may: 413 and close (431 while its head is
        still arriving: the head is what is too large)."""
        if self._in_message and self._message_bytes > self.max_request_bytes:
            if head_done:
                self._refuse(413, "request too large")
            else:
                self._refuse(431, "headers too large")
            return True
        return False

    def _too_slow(self) -> None:
        self._deadline = None
        if self.transport.is_closing() or self._answered:
            return
        self._refuse(408, "request too slow")  # disarmed once a request is whole: this one is still arriving

    def _refuse(self, status: int, note: str) -> None:
        if self._answered:
            return
        self._answered = True
        self._disarm()
        scope = getattr(self, "scope", None)
        method = scope.get("method") if isinstance(scope, dict) else None
        self.transport.write(raw_error(status, *SERVER_ERRORS[status]))
        self.transport.close()
        url = getattr(self, "url", b"") or (scope.get("raw_path", b"") if isinstance(scope, dict) else b"")
        path = url.decode("latin-1") if url else None
        log_line(method, path, status, 0.0, note=note, counted_as=SERVER_ERRORS[status][3])


class GuardedHttpToolsProtocol(_Guard, HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._guard_init()
        self._head_bytes = 0
        self._head_lines = 0
        self._head_done = False
        self._message_done = False
        self._reading = 0

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = 0
        self._head_lines = 0
        self._head_done = False
        self._message_done = False
        self._begin(self._reading)

    def on_url(self, url: bytes) -> None:
        self._head_bytes += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        # Called for trailers too: they count against the same bounds as the head.
        self._head_bytes += len(name) + len(value) + 4
        self._head_lines += 1
        if self._head_bytes > self.max_header_bytes or self._head_lines > MAX_HEADER_COUNT:
            raise ValueError("headers too large")  # httptools stops parsing; data_received answers 431
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._head_done = True
        started = self.cycle
        super().on_headers_complete()
        if self.cycle is not None and self.cycle is not started:  # its task has not run yet
            HeadHeld.install(self.cycle, self.transport)

    def on_message_complete(self) -> None:
        self._complete()
        self._message_done = True
        super().on_message_complete()

    def on_response_complete(self) -> None:
        if not self._message_done and not self.transport.is_closing():
            # Answered before the body was all in (a 413): close rather than keep reading a body for nobody.
            self._disarm()
            self.transport.close()
            return
        super().on_response_complete()

    # answers ------------------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._answered:
            return
        if self._in_message:
            self._message_bytes += len(data)
            if self._over_budget(self._head_done):
                return
        self._reading = len(data)
        super().data_received(data)
        if self._answered:
            return
        if not self._head_done:  # a head still arriving: count what it has taken
            self._head_bytes += len(data)
            if self._head_bytes > self.max_header_bytes:
                self._refuse(431, "headers too large")
                return
        self._over_budget(self._head_done)

    def send_400_response(self, msg: str) -> None:
        if self._head_bytes > self.max_header_bytes or self._head_lines > MAX_HEADER_COUNT:
            self._refuse(431, "headers too large")
        else:
            self._refuse(400, "malformed request")


class GuardedH11Protocol(_Guard, H11Protocol):
    """The same guard on uvicorn's h11 protocol (uvicorn's pure-Python parser, when httptools is absent). h11
    bounds an incomplete head or chunk line itself (``h11_max_incomplete_event_size``, set to
    ``server.max_header_bytes``): past it, 431 here."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._guard_init()
        self._too_many_headers = False
        self._head_lines = self._head_bytes = 0
        next_event = self.conn.next_event

        def counted() -> Any:
            # h11 bounds only a head still arriving: a whole one of any size, or trailers, are counted here.
            event = next_event()
            if isinstance(event, h11.Request | h11.EndOfMessage):
                if isinstance(event, h11.Request):
                    self._head_lines, self._head_bytes = 0, len(event.target)
                self._head_lines += len(event.headers)
                self._head_bytes += sum(len(name) + len(value) + 4 for name, value in event.headers)
                if self._head_lines > MAX_HEADER_COUNT or self._head_bytes > self.max_header_bytes:
                    self._too_many_headers = True
                    raise h11.RemoteProtocolError("headers too large")
            return event

        self.conn.next_event = counted  # type: ignore[method-assign]

    def data_received(self, data: bytes) -> None:
        if self._answered:
            return
        if self._in_message:
            self._message_bytes += len(data)
            if self._over_budget(self.conn.their_state is not h11.IDLE):
                return
        elif self.conn.their_state is h11.IDLE:
            self._begin(len(data))
        super().data_received(data)
        if self._answered or self.transport.is_closing():
            return
        if self._in_message and self.conn.their_state is not h11.SEND_BODY and self.conn.their_state is not h11.IDLE:
            self._complete()  # the request is whole
        else:
            self._over_budget(self.conn.their_state is not h11.IDLE)

    def on_response_complete(self) -> None:
        if self.conn.their_state is h11.SEND_BODY and not self.transport.is_closing():
            self._disarm()  # answered before the body was all in (a 413): close, read no more
            self.transport.close()
            return
        super().on_response_complete()

    def send_400_response(self, msg: str) -> None:
        incomplete = len(self.conn.trailing_data[0])
        if self._too_many_headers or incomplete > self.max_header_bytes:
            self._refuse(431, "headers too large")
        else:
            self._refuse(400, "malformed request")


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


def guarded_protocol(settings: ServerSettings, parser: str | None = None) -> type[GuardedHttpToolsProtocol]:
    """A guarded protocol class bound to ``settings`` (uvicorn's ``http=`` takes a class): on httptools when it
    is installed (or ``parser="httptools"``), else (or ``parser="h11"``) on h11."""
    if parser is None:
        parser = "httptools" if importlib.util.find_spec("httptools") is not None else "h11"
    base: type[Any] = GuardedHttpToolsProtocol if parser == "httptools" else GuardedH11Protocol
    limits = {
        "max_header_bytes": settings.max_header_bytes,
        "max_request_bytes": max_request_bytes(settings.max_header_bytes, settings.max_body_bytes),
        "request_timeout": settings.request_timeout,
    }
    configured: type[GuardedHttpToolsProtocol] = type(f"Configured{base.__name__}", (base,), limits)
    return configured
