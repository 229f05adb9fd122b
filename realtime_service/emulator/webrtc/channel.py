"""The ``oai-events`` data channel as a :class:`~..core.Transport`, so a sideband session serves it unchanged.

``aiortc`` calls back on the peer loop; the session reads and writes on a thread of its own. Messages received
wait in a bounded inbox (:data:`MAX_QUEUED`; one more, or one over :data:`MAX_MESSAGE_BYTES`, closes the channel,
as a socket's message bound closes it with 1009), and sends are handed to the loop in order.
"""

from __future__ import annotations

import collections
import secrets
import threading

from aiortc import RTCDataChannel

from ..core import SocketClosed
from .loop import PeerLoop

MAX_QUEUED = 1_000
"""Messages received and not yet read by the session; a flood beyond it closes the channel."""
MAX_MESSAGE_BYTES = 1 << 20
"""The largest message taken (a socket route's default bound)."""


class DataChannelTransport:
    """One data channel; its :attr:`id` (``dc_...``) is the connection recorded with each client event."""

    def __init__(self, channel: RTCDataChannel, loop: PeerLoop) -> None:
        self._channel = channel
        self._loop = loop
        self._id = "dc_" + secrets.token_hex(12)
        self._inbox: collections.deque[str | bytes] = collections.deque()
        self._changed = threading.Condition()
        self._closed = False
        self.why_closed = ""
        """Why the emulator closed it ("" while open or when the browser closed it)."""
        channel.on("message", self._received)
        channel.on("close", self._gone)
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
            else:
                self._inbox.append(message)
                self._changed.notify_all()
                return
        self.why_closed = why
        self._close_now()

    def _gone(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def _close_now(self) -> None:
        self._gone()
        self._channel.close()

    def _send_now(self, text: str) -> None:
        if self._channel.readyState == "open":
            self._channel.send(text)

    # the session's side (core.Transport)

    @property
    def id(self) -> str:
        return self._id

    @property
    def closed(self) -> bool:
        return self._closed

    def send_text(self, text: str) -> None:
        if self._closed:
            raise SocketClosed(f"the data channel {self._id} is closed")
        self._loop.call_soon(self._send_now, text)

    def receive(self, timeout: float | None) -> str | bytes | None:
        with self._changed:
            if not self._changed.wait_for(lambda: self._inbox or self._closed, timeout):
                return None
            if self._inbox:
                return self._inbox.popleft()
        raise SocketClosed(f"the data channel {self._id} is closed")

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the channel (a data channel has no close code; ``code`` and ``reason`` are a socket's)."""
        with self._changed:
            if self._closed:
                return
        self._loop.call_soon(self._close_now)

    def abort(self) -> None:
        self.close()

    def wait_closed(self, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self._closed, timeout)
