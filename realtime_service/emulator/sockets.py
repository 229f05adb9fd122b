"""The emulator's WebSocket plumbing: the opening handshake on an accepted HTTP connection, and the connection.

The HTTP server parses a ``GET`` with ``Upgrade: websocket`` like any request and routes it to a
:class:`~.core.SocketRoute`; its handler refuses the handshake (a JSON :class:`~.replies.Reply`, sent as an
ordinary HTTP answer) or accepts it, and :func:`serve_websocket` then runs the protocol on the same socket with
the ``websockets`` library (its sans-I/O :class:`~websockets.server.ServerProtocol` for the handshake, its
threaded connection for frames): no frame parsing of our own. ``websockets`` is the optional ``sideband`` extra,
imported only here and only when a socket route is asked for, so the REST routes need nothing more; without it
a socket route answers :func:`missing_extra` (501) instead.
"""

from __future__ import annotations

import contextlib
import io
import logging
import secrets
import socket
import struct
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..redaction import SocketLogFilter
from .core import SocketClosed, SocketSession
from .replies import Reply

if TYPE_CHECKING:
    from websockets.sync.connection import Connection

#: What ``websockets`` logs of the emulator's sockets (handshakes, frames at DEBUG): keys and tokens masked, as on
#: the package's own sockets, whatever level a test runs at.
SOCKET_LOGGER = logging.getLogger("realtime_service.emulator.socket")
SOCKET_LOGGER.addFilter(SocketLogFilter())
SEND_STALL_TIMEOUT = 10.0
"""Seconds a send may wait for a client that does not read before the connection is dropped, so one stuck
client never holds its handler thread forever. Sends only (``SO_SNDTIMEO``): a client that listens without
sending anything (a sideband between tool calls) is a normal client, and a socket-wide timeout dropped it
after this many seconds of its silence."""
CLOSE_TIMEOUT = 2.0
"""Seconds the closing handshake waits for the client's close frame."""
MAX_QUEUE = 16
"""Messages received but not yet handled, per connection; beyond it the connection stops reading (backpressure)."""
_EXTRA_MESSAGE = (
    "This emulator cannot serve WebSocket routes: the 'websockets' package is not installed. "
    "Install the extra: pip install 'realtime-service[sideband]'."
)


def missing_extra() -> Reply | None:
    """The 501 for a WebSocket route when ``websockets`` (the ``sideband`` extra) cannot be imported, or ``None``."""
    try:
        import websockets.server
        import websockets.sync.connection  # noqa: F401
    except ImportError:
        return Reply.error(501, _EXTRA_MESSAGE, type="server_error", code="websockets_not_installed")
    return None


def wants_upgrade(method: str, headers: Mapping[str, str]) -> bool:
    """A ``GET`` asking for a WebSocket (headers with lower-case names)."""
    upgrade = headers.get("upgrade", "")
    return method == "GET" and any(token.strip().lower() == "websocket" for token in upgrade.split(","))


class _Connection:
    """:class:`~.core.Transport` over a ``websockets`` threaded connection."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._id = "ws_" + secrets.token_hex(12)
        self._closing = threading.Lock()
        self._close_started = False
        self._closer: threading.Thread | None = None

    @property
    def id(self) -> str:
        return self._id

    @property
    def closed(self) -> bool:
        from websockets.protocol import State

        return self._close_started or self._connection.state is not State.OPEN

    def send_text(self, text: str) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            self._connection.send(text)
        except ConnectionClosed as closed:
            raise SocketClosed(str(closed)) from closed
        except OSError as error:  # a send that stalled beyond SEND_STALL_TIMEOUT, or a reset
            self._abort()
            raise SocketClosed(str(error)) from error

    def receive(self, timeout: float | None) -> str | bytes | None:
        from websockets.exceptions import ConcurrencyError, ConnectionClosed

        try:
            return self._connection.recv(timeout)
        except TimeoutError:
            return None
        except ConnectionClosed as closed:
            raise SocketClosed(str(closed)) from closed
        except ConcurrencyError as error:  # a second reader: a bug in the caller, not the client's doing
            raise RuntimeError("two threads read one emulator socket") from error

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Send the close frame now; the closing handshake finishes on a thread of its own."""
        with self._closing:
            if self._close_started:
                return
            self._close_started = True
            self._closer = threading.Thread(
                target=self._finish_close, args=(code, reason), name="emulator-ws-close", daemon=True
            )
            # started under the lock: finish() joins it, and joining a thread not yet started raises
            self._closer.start()

    def _finish_close(self, code: int, reason: str) -> None:
        """The closing handshake: returns once the connection is closed (at most about ``CLOSE_TIMEOUT``)."""
        try:
            self._connection.close(code, reason)
        except OSError:
            self._abort()

    def _abort(self) -> None:
        with contextlib.suppress(OSError):
            self._connection.socket.shutdown(socket.SHUT_RDWR)

    def abort(self) -> None:
        """No close frame: shut the TCP connection down; the reader sees the end and the connection closes."""
        with self._closing:
            self._close_started = True
        self._abort()

    def wait_closed(self, timeout: float) -> bool:
        """The connection's reader ends once it is closed (a close frame, EOF, the emulator's shutdown)."""
        thread = self._connection.recv_events_thread
        thread.join(timeout)
        return not thread.is_alive()

    def finish(self) -> None:
        """Close (1000 unless a close was started already) and return once the connection is closed."""
        with self._closing:
            started, self._close_started = self._close_started, True
            closer = self._closer
        if not started:
            self._finish_close(1000, "")
        elif closer is not None:
            closer.join()
        self._connection.close()  # idempotent: returns at once when closed, else ends a close the peer began


def _pending_bytes(sock: socket.socket, rfile: io.BufferedIOBase) -> bytes:
    """Bytes the HTTP parser already read past the handshake request (a client that sent frames before our
    101, which RFC 6455 forbids), without blocking."""
    peek = getattr(rfile, "peek", None)
    if peek is None:
        return b""
    timeout = sock.gettimeout()
    sock.settimeout(0.0)
    try:
        data: bytes = peek(1)
    except (BlockingIOError, OSError):
        data = b""
    finally:
        sock.settimeout(timeout)
    return data


def serve_websocket(
    sock: socket.socket,
    rfile: io.BufferedIOBase,
    path: str,
    headers: list[tuple[str, str]],
    session: SocketSession,
    *,
    max_message_bytes: int,
    stopping: threading.Event,
    subprotocols: tuple[str, ...] = (),
) -> None:
    """Answer the opening handshake on ``sock`` (101, or the library's 400 for a malformed one), then run
    ``session`` on the connection until it returns, and close it (1000 unless closed already). ``subprotocols``:
    the ones the route speaks; the handshake selects one the client offers (a browser fails a connection whose
    offered subprotocols get no answer)."""
    from websockets.http11 import Request
    from websockets.server import ServerProtocol
    from websockets.sync.connection import Connection
    from websockets.typing import Subprotocol

    def select(_: ServerProtocol, offered: Sequence[Subprotocol]) -> Subprotocol | None:
        """The first of the route's subprotocols the client offers, else none (never a refusal)."""
        return next((Subprotocol(name) for name in subprotocols if name in offered), None)

    protocol = ServerProtocol(max_size=max_message_bytes, select_subprotocol=select, logger=SOCKET_LOGGER)
    # The request goes through the protocol's own parser (re-serialised from what http.server parsed), so the
    # protocol moves on to frames exactly as it would on a socket it had read itself.
    head = f"GET {path} HTTP/1.1\r\n" + "".join(f"{name}: {value}\r\n" for name, value in headers) + "\r\n"
    protocol.receive_data(head.encode("latin-1", "replace"))
    requests = [event for event in protocol.events_received() if isinstance(event, Request)]
    if requests:
        response = protocol.accept(requests[0])
    else:  # the library's parser refused it (a header line beyond its limits...) and gave up on that protocol
        protocol = ServerProtocol(max_size=max_message_bytes, logger=SOCKET_LOGGER)
        response = protocol.reject(400, "Failed to open a WebSocket connection: the request is not valid HTTP.\n")
    if _pending_bytes(sock, rfile):
        response = protocol.reject(400, "Data was sent before the WebSocket handshake completed.\n")
    if stopping.is_set():
        response = protocol.reject(503, "The emulator is stopping.\n")
    response.headers["Server"] = "openai-emulator"
    protocol.send_response(response)
    for data in protocol.data_to_send():
        if data:
            sock.sendall(data)
    if response.status_code != 101:
        return
    _bound_sends(sock, SEND_STALL_TIMEOUT)
    connection = _Connection(
        Connection(sock, protocol, ping_interval=None, close_timeout=CLOSE_TIMEOUT, max_queue=MAX_QUEUE)
    )
    try:
        session(connection)
    finally:
        connection.finish()


def _bound_sends(sock: socket.socket, seconds: float) -> None:
    """Bound each send to ``seconds`` and leave reads unbounded: the socket blocks, the kernel's ``SO_SNDTIMEO``
    ends a send that waits that long (the send then raises ``OSError``)."""
    sock.settimeout(None)
    whole = int(seconds)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", whole, int((seconds - whole) * 1e6)))


def raw_headers(items: Any) -> list[tuple[str, str]]:
    """The request's headers as (name, value) pairs, repeats kept (``http.client.HTTPMessage.items()``)."""
    return [(str(name), str(value)) for name, value in items]
