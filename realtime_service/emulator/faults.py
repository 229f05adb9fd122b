"""Scripted faults: what the network or the server does wrong, one per incoming request.

A :class:`Fault` is consumed by the next request, whatever its path, *before* auth and validation, because
it simulates the network or an overloaded server rather than the API's judgement of the request. Faults
whose ``status_code`` is ``None`` let the endpoint answer normally and only change how that answer is
delivered (late, gzipped, a byte at a time, cut short).
"""

from __future__ import annotations

import email.utils
import json as _json
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from .replies import default_error_body

Action = Literal["respond", "drop", "reset"]


def http_date(seconds_from_now: float, *, now: float | None = None) -> str:
    """An HTTP-date ``seconds_from_now`` in the future, for a ``retry-after`` header in date form."""
    return email.utils.formatdate((time.time() if now is None else now) + seconds_from_now, usegmt=True)


def _pairs(headers: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    return tuple((name.lower(), value) for name, value in (headers or {}).items())


@dataclass(frozen=True, slots=True)
class Fault:
    """How to answer (or not) one request. Build one with the classmethods; they compose through ``then=``
    and ``status=`` arguments, or ``dataclasses.replace`` for anything else.

    - ``action``: ``respond``; ``drop`` closes the connection without answering (FIN); ``reset`` aborts it
      (``SO_LINGER`` 0, the peer sees RST).
    - ``delay_s``: seconds to wait before acting.
    - ``status_code``/``body``/``content_type``: a scripted answer; ``status_code=None`` lets the endpoint
      answer.
    - ``headers``: added to the answer (lower-case names), overriding common headers of the same name.
    - ``compress``: send the body gzip-compressed with ``content-encoding: gzip``.
    - ``trickle_s``: send the body one byte at a time, this many seconds apart.
    - ``truncate_to``: send only this many body bytes (``-1``: half) under the full ``content-length``,
      then close.
    - ``reset_after``: end the connection with an RST instead of a FIN once the (partial) answer is sent.
    - ``stream_size``: a generated JSON body of exactly this many bytes, streamed in chunks.
    """

    action: Action = "respond"
    delay_s: float = 0.0
    status_code: int | None = None
    body: bytes | None = None
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    compress: bool = False
    trickle_s: float | None = None
    truncate_to: int | None = None
    reset_after: bool = False
    stream_size: int | None = None

    @classmethod
    def status(
        cls,
        status: int,
        *,
        message: str | None = None,
        type: str | None = None,  # noqa: A002 - the API's own name
        code: str | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Fault:
        """Answer ``status`` with an OpenAI-style error body, the usual type and code for that status
        (429 ``rate_limit_exceeded``, 5xx ``server_error``...) unless given. ``headers`` carries
        ``retry-after`` (seconds or :func:`http_date`), ``retry-after-ms``, ``x-should-retry``..."""
        return cls(
            status_code=status,
            body=default_error_body(status, message=message, type=type, code=code, param=param),
            headers=_pairs(headers),
        )

    @classmethod
    def delay(cls, seconds: float, then: Fault | None = None) -> Fault:
        """Wait ``seconds`` before answering normally, or before doing what ``then`` says
        (``Fault.delay(2, then=Fault.status(503))``). Exercises read timeouts."""
        return replace(then if then is not None else cls(), delay_s=seconds)

    @classmethod
    def drop(cls) -> Fault:
        """Read the request, then close the connection without a byte of answer (the client sees EOF)."""
        return cls(action="drop")

    @classmethod
    def reset(cls) -> Fault:
        """Read the request, then reset the connection (RST): ``ConnectionResetError`` on the client."""
        return cls(action="reset")

    @classmethod
    def truncated(cls, keep: int | None = None, *, status: int | None = None, reset: bool = False) -> Fault:
        """Send the normal answer (or ``status``'s error) with its full ``content-length`` but only ``keep``
        body bytes (default: half), then close: the client sees an incomplete read. ``reset=True`` aborts the
        connection (RST) after those bytes instead: a connection reset in the middle of the answer."""
        base = cls.status(status) if status is not None else cls()
        return replace(base, truncate_to=-1 if keep is None else keep, reset_after=reset)

    @classmethod
    def trickle(cls, interval: float = 0.05, *, status: int | None = None) -> Fault:
        """Send the headers at once, then the normal answer's body (or ``status``'s error) one byte every
        ``interval`` seconds: each read succeeds, so only a total deadline catches it."""
        base = cls.status(status) if status is not None else cls()
        return replace(base, trickle_s=interval)

    @classmethod
    def raw(
        cls,
        body: bytes | str,
        *,
        status: int = 200,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
    ) -> Fault:
        """Answer exactly ``body`` (non-JSON, a proxy's HTML page...), labelled ``content_type``."""
        return cls(
            status_code=status,
            body=body.encode() if isinstance(body, str) else body,
            content_type=content_type,
            headers=_pairs(headers),
        )

    @classmethod
    def json(cls, payload: Any, *, status: int = 200) -> Fault:
        """Answer ``payload`` as JSON: wrong-shape 200s (a list, a session without ``client_secret``)."""
        return cls.raw(_json.dumps(payload).encode(), status=status)

    @classmethod
    def empty(cls, *, status: int = 200) -> Fault:
        """Answer ``status`` with an empty body (``content-length: 0``)."""
        return cls.raw(b"", status=status)

    @classmethod
    def huge(cls, size: int, *, status: int = 200) -> Fault:
        """Answer a valid JSON object of exactly ``size`` bytes, streamed in chunks so it is never built in
        memory: exercises the client's response size limit."""
        if size < 0:
            raise ValueError("size must be >= 0")
        return cls(status_code=status, stream_size=size)

    @classmethod
    def redirect(cls, location: str, *, status: int = 307) -> Fault:
        """Answer a 3xx pointing at ``location``; a client must not follow it with the API key."""
        return cls(status_code=status, body=b"", headers=(("location", location),))

    @classmethod
    def gzip(cls, status: int | None = None, *, body: bytes | None = None) -> Fault:
        """Send the normal answer, ``status``'s error, or ``body`` (with ``status``, default 200)
        gzip-encoded with ``content-encoding: gzip``."""
        if body is not None:
            base = cls(status_code=200 if status is None else status, body=body)
        elif status is not None:
            base = cls.status(status)
        else:
            base = cls()
        return replace(base, compress=True)


#: REST faults that may be pending at once: a test's queue, not a memory sink (``enqueue(f, times=10**9)``).
MAX_PENDING_FAULTS = 100_000


class TooManyFaults(ValueError):
    """Queuing these would exceed :data:`MAX_PENDING_FAULTS` pending faults; none of them was queued."""


class FaultQueue:
    """A thread-safe, bounded FIFO of faults, one consumed per request."""

    def __init__(self, max_pending: int = MAX_PENDING_FAULTS) -> None:
        self._lock = threading.Lock()
        self._max = max_pending
        self._queue: deque[Fault] = deque()

    def extend(self, faults: Sequence[Fault], times: int = 1) -> None:
        """Queue ``faults`` ``times`` times over, all or none (:class:`TooManyFaults`)."""
        for fault in faults:
            if not isinstance(fault, Fault):
                raise TypeError(f"expected a Fault, got {type(fault).__name__}")
        if not faults or times <= 0:  # nothing to queue (and no billion-step loop over an empty batch)
            return
        with self._lock:
            if len(self._queue) + len(faults) * times > self._max:
                raise TooManyFaults(
                    f"at most {self._max:,} faults may be pending ({len(self._queue):,} are): none was queued"
                )
            for _ in range(times):
                self._queue.extend(faults)

    def pop(self) -> Fault | None:
        if not self._queue:  # an unlocked peek keeps the common no-fault path cheap
            return None
        with self._lock:
            return self._queue.popleft() if self._queue else None

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()

    def __len__(self) -> int:
        return len(self._queue)
