"""waitress, held to the token server's limits: its own answers in OpenAI's shape, and no slow client kept.

waitress reads each request (headers and body) in its event loop before a worker thread runs the app, so a
slow client costs a socket, not a thread. What it lacks is a bound on how long a request may take to arrive:
``channel_timeout`` counts *inactivity*, and a client that sends one byte a second is never inactive. Here:

- :class:`GuardedChannel` gives each request ``server.request_timeout`` seconds from its first byte (or from
  the connection's opening) to arrive whole; past that it answers 408 and closes. The deadlines are checked
  with waitress's own channel maintenance (:func:`guard_server`, every :data:`CHECK_INTERVAL`), not in
  ``readable()``, which waitress asks of every channel on every turn of its loop. Idle keep-alive connections
  close after ``server.idle_timeout`` (waitress's ``channel_timeout``).
- :class:`OneWriteTask` sends an answer's head and its whole body in one ``send`` (waitress sends them apart:
  two TCP segments for every small JSON answer).
- While a task thread sends its own answer, the loop does not poll that socket for writing
  (:meth:`GuardedChannel.writable`): it would be reported writable at once, and the loop would spin, turn after
  turn, on a buffer the task holds locked (measured: about 20 loop turns per answer at 8 clients, under 1 after).
- :class:`GuardedParser` bounds what a request may make waitress read: at most ``server.max_header_bytes`` of request
  line and headers and :data:`~realtime_service.web.admission.bodies.MAX_HEADER_COUNT` header lines (431), and at most
  ``server.max_body_bytes`` + :data:`~realtime_service.web.admission.bodies.FRAMING_BYTES` of body *with* its
  chunk-size lines, extensions and trailers (waitress counts them as body; 413). The body itself is held to
  ``server.max_body_bytes``, inclusive, by the adapter, as on uvicorn.
- :class:`OpenAIErrorTask` replaces waitress's plain-text error pages (malformed request 400, body over
  ``server.max_body_bytes`` 413, which waitress answers as soon as the headers declare it or a chunked body passes it,
  headers over ``server.max_header_bytes`` 431) with OpenAI's error shape, ``no-store``, and an access line.

:func:`adjustments` turns the settings into waitress's own: ``connection_limit`` (waitress's default of 100
is what ~100 slow sockets exhausted) and the ``poll()`` loop (``select()`` stops at file descriptor 1024).
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from waitress.channel import ClientDisconnected, HTTPChannel  # type: ignore[import-untyped]
from waitress.parser import HTTPRequestParser  # type: ignore[import-untyped]
from waitress.task import ErrorTask, WSGITask  # type: ignore[import-untyped]
from waitress.utilities import RequestHeaderFieldsTooLarge  # type: ignore[import-untyped]

from ..admission.accesslog import log_line
from ..admission.answers import COMMON_HEADERS, SERVER_ERRORS, raw_error, server_error
from ..admission.bodies import FRAMING_BYTES, MAX_HEADER_COUNT
from ..settings import ServerSettings

#: Seconds between two checks of the arrival deadlines (waitress's loop wakes at least this often).
CHECK_INTERVAL = 1


def adjustments(settings: ServerSettings) -> dict[str, Any]:
    """waitress ``create_server`` keyword arguments for ``settings``."""
    return {
        "threads": settings.threads,
        "connection_limit": settings.connection_limit,
        "channel_timeout": max(1, round(settings.idle_timeout)),
        "cleanup_interval": CHECK_INTERVAL,
        "asyncore_loop_timeout": CHECK_INTERVAL,
        "asyncore_use_poll": True,
        # waitress refuses at ">=" and counts chunk framing as body: +1 makes each maximum inclusive, and the body
        # check of the adapter (exactly max_body_bytes of body) stays the one that decides.
        "max_request_body_size": settings.max_body_bytes + FRAMING_BYTES + 1,
        "max_request_header_size": settings.max_header_bytes + 1,
        "backlog": 2048,
    }


class OpenAIErrorTask(ErrorTask):  # type: ignore[misc]
    """waitress's error answer, in OpenAI's shape with ``no-store``, logged as one access line."""

    def execute(self) -> None:
        started = time.perf_counter()
        error = self.request.error
        status = int(getattr(error, "code", 400))
        reason, body = server_error(status)
        self.status = f"{status} {reason}"
        self.response_headers.extend(COMMON_HEADERS)
        self.response_headers.append(("Connection", "close"))
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)
        log_line(
            getattr(self.request, "command", None) or None,
            getattr(self.request, "path", None) or None,
            status,
            (time.perf_counter() - started) * 1000.0,
            note="answered by the server",
            counted_as=SERVER_ERRORS.get(status, SERVER_ERRORS[400])[3],
        )


class GuardedParser(HTTPRequestParser):  # type: ignore[misc]
    """waitress's request parser, also refusing more than :data:`MAX_HEADER_COUNT` header lines, trailers
    included (431)."""

    _lines = 0
    _counted: bool | None = False

    def parse_header(self, header_plus: bytes) -> None:
        self._lines = header_plus.count(b"\n")  # the request line ends in one too: one line of slack
        super().parse_header(header_plus)

    def received(self, data: bytes) -> int:
        consumed: int = super().received(data)
        if self.headers_finished and not self._counted:
            self._counted = True
            self._refuse_past(self._lines)
        if self.completed and self._counted is not None:
            self._counted = None  # the trailers of a chunked body count with the head, once it is whole
            self._refuse_past(self._lines + getattr(self.body_rcv, "trailer", b"").count(b"\n"))
        return consumed

    def _refuse_past(self, lines: int) -> None:
        if getattr(self, "error", None) is None and lines > MAX_HEADER_COUNT + 1:
            self.error = RequestHeaderFieldsTooLarge(f"more than {MAX_HEADER_COUNT} header lines")
            self.completed = True


class OneWriteTask(WSGITask):  # type: ignore[misc]
    """waitress's WSGI task, writing the head together with a body that is the whole response (declared
    ``Content-Length``, one chunk), as one ``send``; any other answer is written as waitress writes it."""

    wrote_header: bool = False  # waitress's Task attributes, typed here
    complete: bool = False

    def write(self, data: bytes) -> None:
        if self.wrote_header or not data or not self.complete:
            super().write(data)
            return
        head: bytes = self.build_response_header()
        self.wrote_header = True
        if self.has_body and not self.chunked_response and self.content_length == len(data):
            self.content_bytes_written += len(data)
            self.channel.write_soon(head + data)
        else:
            self.channel.write_soon(head)
            super().write(data)


class GuardedChannel(HTTPChannel):  # type: ignore[misc]
    """An HTTP channel whose request must arrive within ``request_timeout`` seconds of its first byte
    (checked by :meth:`check_arrival`, from the server's maintenance: see :func:`guard_server`)."""

    error_task_class = OpenAIErrorTask
    task_class = OneWriteTask
    parser_class = GuardedParser
    request_timeout: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.arrival_started: float | None = time.monotonic()  # a connection that sends nothing is bounded too

    def received(self, data: bytes) -> bool:
        if data and self.request is None and self.arrival_started is None:
            self.arrival_started = time.monotonic()
        result: bool = super().received(data)
        if self.request is None:
            self.arrival_started = None  # every request received so far is whole
        return result

    #: A task thread is inside :meth:`write_soon`, sending what it wrote itself (waitress's ``send_bytes`` 1).
    _task_sending = False

    def write_soon(self, data: Any) -> int:
        """waitress's ``write_soon``, with the loop told to keep off this socket meanwhile (:meth:`writable`).
        Anything the task could not send is the loop's again after: the trigger wakes it for that."""
        self._task_sending = True
        try:
            written: int = super().write_soon(data)
            return written
        finally:
            self._task_sending = False
            if self.total_outbufs_len:
                self.server.pull_trigger()

    def _flush_outbufs_below_high_watermark(self) -> None:
        # The task waits here for the loop to drain a full buffer: the loop must see the socket meanwhile.
        sending, self._task_sending = self._task_sending, False
        try:
            super()._flush_outbufs_below_high_watermark()
        finally:
            self._task_sending = sending

    def writable(self) -> bool:
        """Not while a task thread sends: the socket is writable, so poll() would return at once, turn after turn,
        each turn finding the buffer locked by the task (about 20 loop turns per answer at 8 clients)."""
        writable: bool = not self._task_sending and super().writable()
        return writable

    def check_arrival(self, now: float) -> None:
        """Answer 408 and close if the request being received is past its deadline (``now``: monotonic)."""
        started = self.arrival_started
        if (
            started is not None
            and not self.requests
            and not self.will_close
            and not self.close_when_flushed
            and now - started > self.request_timeout
        ):
            self._too_slow()

    def _too_slow(self) -> None:
        self.arrival_started = None
        partial: Any = getattr(self, "request", None)
        self.request = None
        if partial is not None:
            with contextlib.suppress(ClientDisconnected):
                self.write_soon(raw_error(408, *SERVER_ERRORS[408]))
            command, path = getattr(partial, "command", None), getattr(partial, "path", None)
            log_line(command or None, path or None, 408, 0.0, note="request too slow", counted_as="request_timeout")
        self.close_when_flushed = True


def guarded_channel(settings: ServerSettings) -> type[GuardedChannel]:
    """A :class:`GuardedChannel` class bound to ``settings.request_timeout``."""
    return type("ConfiguredGuardedChannel", (GuardedChannel,), {"request_timeout": settings.request_timeout})


def guard_server(server: Any, settings: ServerSettings) -> None:
    """Make waitress ``server`` (``create_server``'s) open :class:`GuardedChannel` s bound to ``settings`` and check
    their arrival deadlines in its channel maintenance, which its loop runs every ``cleanup_interval``
    (:data:`CHECK_INTERVAL`) and wakes for at least as often (``asyncore_loop_timeout``)."""
    server.channel_class = guarded_channel(settings)
    maintenance = server.maintenance

    def guarded_maintenance(now: float) -> None:
        maintenance(now)
        clock = time.monotonic()
        for channel in list(server.active_channels.values()):
            if isinstance(channel, GuardedChannel):
                channel.check_arrival(clock)

    server.maintenance = guarded_maintenance
