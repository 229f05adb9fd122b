"""Follow an outbound GPT-Live call on its sideband until the callee answers or the call fails: the small
watcher behind ``realtime-service dial --wait`` (the full controller, tools and all, is the rest of this package).

It attaches at once (the voice-sip guide: outbound calls are attached right after ``POST /live/sessions``), reads
``transport.ringing`` then ``transport.answered`` or ``transport.failed`` (``session.closed`` ends it too), and
skips every other event (reflected audio, transcripts). Replayed events keep their ``event_id`` and are seen once.
It only listens: nothing is sent on the socket, so nothing it does can change the call.

The socket is opened the one way every sideband is (:func:`~.connection.open_socket`: the URL from
:func:`~.connection.live_sideband_url`, keepalive, bounded queue, and the redacting
:data:`~.connection.SOCKET_LOGGER`, which masks the handshake's ``Authorization`` header at any level), with
larger frames allowed: reflected audio makes a Live sideband's frames large.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from ..errors import APIConnectionError, APITimeoutError, status_error_class
from .connection import SidebandTarget, live_sideband_url, open_socket

#: Reflected audio makes a Live sideband's frames large; a frame over this closes the socket (1009).
MAX_FRAME_BYTES = 16 << 20

Outcome = Literal["ringing", "answered", "failed", "closed", "timeout"]


@dataclass(frozen=True, slots=True)
class DialEvent:
    """What happened to the call: ``ringing``, then ``answered``, ``failed`` (with the API's ``code`` and
    ``message``), ``closed`` (the session ended first; ``code`` is its reason) or ``timeout`` (none of those in
    time)."""

    outcome: Outcome
    code: str | None = None
    message: str | None = None


def attach_url(base_url: str, session_id: str, *, provider: str = "openai") -> str:
    """``wss://.../live/sessions/{id}/attach`` from the REST ``base_url``: :func:`~.connection.live_sideband_url`
    (an id that is not a plain token is a ``ConfigurationError`` before anything connects)."""
    return live_sideband_url(base_url, session_id, provider=provider)


def _text(value: object) -> str | None:
    return value[:500] if isinstance(value, str) else None


def _reading(event: Mapping[str, object]) -> DialEvent | None:
    """The :class:`DialEvent` a server event means, or ``None`` for one the dial does not care about."""
    kind = event.get("type")
    if kind == "transport.ringing":
        return DialEvent("ringing")
    if kind == "transport.answered":
        return DialEvent("answered")
    if kind == "transport.failed":
        error = event.get("error")
        error = error if isinstance(error, Mapping) else {}
        return DialEvent("failed", _text(error.get("code")), _text(error.get("message")))
    if kind == "session.closed":
        return DialEvent("closed", _text(event.get("reason")))
    return None


async def watch_dial(
    url: str,
    headers: Mapping[str, str],
    *,
    timeout: float,
    on_event: Callable[[DialEvent], None] = lambda _event: None,
    open_timeout: float = 10.0,
) -> DialEvent:
    """Attach to ``url`` and return how the call ended its ringing (``answered``, ``failed``, ``closed`` or
    ``timeout`` after ``timeout`` seconds); ``on_event`` sees each step, ``ringing`` included, once.

    A refused attach is the package's :class:`~realtime_service.errors.APIStatusError` for its status; no
    connection, or one lost before the outcome, an :class:`~realtime_service.errors.APIConnectionError`."""
    deadline = time.monotonic() + timeout
    seen: set[str] = set()
    try:
        target = SidebandTarget(url, dict(headers))
        async with await open_socket(target, open_timeout=open_timeout, max_size=MAX_FRAME_BYTES) as socket:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return DialEvent("timeout")
                try:
                    async with asyncio.timeout(remaining):  # not wait_for: on 3.11 it can lose a Ctrl-C
                        frame = await socket.recv()
                except TimeoutError:
                    return DialEvent("timeout")
                try:
                    event = json.loads(frame)
                except ValueError:
                    continue  # not JSON: not an event this watcher reads
                if not isinstance(event, dict):
                    continue
                event_id = event.get("event_id")
                if isinstance(event_id, str):
                    if event_id in seen:
                        continue  # the attach's replay of an event already seen
                    seen.add(event_id)
                step = _reading(event)
                if step is None:
                    continue
                on_event(step)
                if step.outcome != "ringing":
                    return step
    except InvalidStatus as exc:
        status = exc.response.status_code
        raise status_error_class(status)(
            f"the sideband attach was refused (HTTP {status})", status_code=status
        ) from None
    except ConnectionClosed as exc:
        code = exc.rcvd.code if exc.rcvd is not None else 1006
        raise APIConnectionError(f"the sideband closed before the call was answered (close code {code})") from None
    except TimeoutError:
        raise APITimeoutError("the sideband attach timed out", request_sent=False) from None
    except (OSError, InvalidHandshake) as exc:
        raise APIConnectionError(f"the sideband could not attach: {type(exc).__name__}") from None


__all__ = ["MAX_FRAME_BYTES", "DialEvent", "attach_url", "watch_dial"]
