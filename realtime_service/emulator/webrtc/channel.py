"""The ``oai-events`` data channel as a :class:`~..core.Transport`, so a sideband session serves it unchanged.

``aiortc`` calls back on the peer loop; the session reads and writes on a thread of its own. Messages received
wait in a bounded inbox (:data:`MAX_QUEUED` messages, :data:`MAX_QUEUED_BYTES`; one more, or one over
:data:`MAX_MESSAGE_BYTES`, closes the channel, as a socket's message bound closes it with 1009: SCTP gives no way
to stop reading, which is how a socket throttles a flood). Sends are handed to the loop in order; while
:data:`MAX_BUFFERED` bytes wait unsent (a browser that stopped reading: ``RTCDataChannel.bufferedAmount``) a send
waits, and after :data:`SEND_STALL_TIMEOUT` the channel is dropped, as a socket is after a stalled send. The
emulator dropping the channel for any of these tells ``on_dropped`` why (the call then ends, :mod:`.host`).
"""

from __future__ import annotations

import collections
import secrets
import threading
from collections.abc import Callable

from aiortc import RTCDataChannel

from ..core import SocketClosed
from .loop import PeerLoop

MAX_QUEUED = 1_000
"""Messages received and not yet read by the session; a flood beyond it closes the channel."""
MAX_MESSAGE_BYTES = 1 << 20
"""The largest message taken (a socket route's default bound)."""
MAX_QUEUED_BYTES = 4 << 20
"""Bytes received and not yet read by the session (so :data:`MAX_QUEUED` large messages cannot add up)."""
MAX_BUFFERED = 1 << 20
"""Bytes sent by the session and not yet taken by the browser's SCTP stack beyond which a send waits."""
SEND_STALL_TIMEOUT = 10.0
"""Seconds a send may wait for the browser to read before the channel is dropped (the sockets' value)."""


class DataChannelTransport:
    """One data channel; its :attr:`id` (``dc_...``) is the connection recorded with each client event."""

    def __init__(
        self, channel: RTCDataChannel, loop: PeerLoop, on_dropped: Callable[[str], None] | None = None
    ) -> None:
        self._channel = channel
        self._loop = loop
        self._on_dropped = on_dropped
        self._id = "dc_" + secrets.token_hex(12)
        self._inbox: collections.deque[str | bytes] = collections.deque()
        self._inbox_bytes = 0
        self._handing = 0  # bytes handed to the loop and not yet given to the channel
        self._buffered = 0  # the channel's bufferedAmount, as last seen on the loop
        self._changed = threading.Condition()
        self._closed = False
        self.why_closed = ""
        """Why the emulator closed it ("" while open, when the browser closed it, or the call ended)."""
        channel.bufferedAmountLowThreshold = MAX_BUFFERED // 2
        channel.on("message", self._received)
        channel.on("close", self._gone)
        channel.on("bufferedamountlow", self._drained)
        if channel.readyState == "closed":
            self._gone()

    # aiortc's side (the loop thread)

    def _received(self, message: str | bytes) -> None:
        with self._changed:
            if self._closed:
                return
            if len(message) > MAX_MESSAGE_BYTES:
                why = f"a message over {MAX_MESSAGE_BYTES} bytes"
            elif len(self._inbox) >= MAX_QUEUED:
                why = f"more than {MAX_QUEUED} messages waiting"
            elif self._inbox_bytes + len(message) > MAX_QUEUED_BYTES:
                why = f"more than {MAX_QUEUED_BYTES} bytes of messages waiting"
            else:
                self._inbox.append(message)
                self._inbox_bytes += len(message)
                self._changed.notify_all()
                return
        self._drop(why)

    def _drop(self, why: str) -> None:
        """Close the channel because of what the browser did (or did not do), and say why (loop thread)."""
        if self._closed:
            return
        self.why_closed = why
        self._close_now()
        if self._on_dropped is not None:
            self._on_dropped(why)

    def _drained(self) -> None:
        with self._changed:
            self._buffered = self._channel.bufferedAmount
            self._changed.notify_all()

    def _gone(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def _close_now(self) -> None:
        self._gone()
        self._channel.close()

    def _send_now(self, text: str, size: int) -> None:
        if self._channel.readyState == "open":
            try:
                self._channel.send(text)
            except ValueError as error:  # over the browser's a=max-message-size
                self._drop(f"an event the browser cannot take ({str(error)[:120]})")
        with self._changed:
            self._handing -= size
            self._buffered = self._channel.bufferedAmount
            self._changed.notify_all()

    # the session's side (core.Transport)

    @property
    def id(self) -> str:
        return self._id

    @property
    def closed(self) -> bool:
        return self._closed

    def send_text(self, text: str) -> None:
        size = len(text.encode("utf-8"))
        with self._changed:
            room = self._changed.wait_for(
                lambda: self._closed or self._handing + self._buffered <= MAX_BUFFERED, SEND_STALL_TIMEOUT
            )
            if self._closed:
                raise SocketClosed(f"the data channel {self._id} is closed")
            if room:
                self._handing += size
        if not room:
            why = (
                f"the browser did not take the emulator's events for {SEND_STALL_TIMEOUT:g} s "
                f"(over {MAX_BUFFERED} bytes unsent)"
            )
            self._loop.call_soon(self._drop, why)
            raise SocketClosed(f"the data channel {self._id} is dropped: {why}")
        self._loop.call_soon(self._send_now, text, size)

    def receive(self, timeout: float | None) -> str | bytes | None:
        with self._changed:
            if not self._changed.wait_for(lambda: self._inbox or self._closed, timeout):
                return None
            if self._inbox:
                message = self._inbox.popleft()
                self._inbox_bytes -= len(message)
                return message
        raise SocketClosed(f"the data channel {self._id} is closed")

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the channel (a data channel has no close code; ``code`` and ``reason`` are a socket's). A code
        other than 1000 (the record's bound, 1008; the driver's failure, 1011) is a drop: the call ends too."""
        with self._changed:
            if self._closed:
                return
        if code == 1000:
            self._loop.call_soon(self._close_now)
        else:
            self._loop.call_soon(self._drop, reason or f"closed with code {code}")

    def abort(self) -> None:
        self.close()

    def wait_closed(self, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self._closed, timeout)
