"""``FakeGateway``: plays back queued answers and records what the service sent."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..transport.seam import HttpRequest, HttpResponse


@dataclass(frozen=True, slots=True)
class FakeCall:
    """One recorded attempt. ``json`` is the decoded body (``None`` for a body that is not JSON: multipart, SDP,
    empty); ``body`` is the bytes as sent; ``headers`` are the per-call extra headers."""

    method: str
    path: str
    json: Any
    headers: Mapping[str, str]
    body: bytes = b""


class FakeGateway:
    """A thread-safe gateway that answers from a FIFO queue of responses and exceptions.

    Each attempt (retries included) consumes one queued item, so queue a 503 then a 200 to test a retry.
    An attempt with nothing queued fails the test with a ``LookupError`` that says what was sent.
    """

    def __init__(self) -> None:
        self._queue: deque[HttpResponse | BaseException] = deque()
        self._lock = threading.Lock()
        self.calls: list[FakeCall] = []

    def queue_response(self, body: Any = None, status: int = 200, headers: Mapping[str, str] | None = None) -> None:
        """Queue an answer. ``body`` may be JSON-able data, ``str`` or ``bytes`` (sent as is)."""
        if isinstance(body, bytes):
            content = body
        elif isinstance(body, str):
            content = body.encode("utf-8")
        else:
            content = json.dumps(body if body is not None else session_body()).encode("utf-8")
        lowered = {key.lower(): value for key, value in (headers or {}).items()}
        lowered.setdefault("content-type", "application/json")
        with self._lock:
            self._queue.append(HttpResponse(status, lowered, content))

    def queue_exception(self, exc: BaseException) -> None:
        """Queue an exception to raise, e.g. ``APIConnectionError()`` or ``APITimeoutError()``."""
        with self._lock:
            self._queue.append(exc)

    @property
    def pending(self) -> int:
        """How many queued items are left."""
        with self._lock:
            return len(self._queue)

    def send(self, request: HttpRequest) -> HttpResponse:
        call = FakeCall(request.method, request.path, _json_or_none(request), dict(request.headers), request.body)
        with self._lock:
            self.calls.append(call)
            if not self._queue:
                raise LookupError(f"FakeGateway: nothing queued for {request.method} {request.path}")
            item = self._queue.popleft()
        if isinstance(item, BaseException):
            raise item
        return item


def _json_or_none(request: HttpRequest) -> Any:
    content_type = {k.lower(): v for k, v in request.headers.items()}.get("content-type", "application/json")
    if not request.body or not content_type.startswith("application/json"):
        return None
    return json.loads(request.body)


def session_body(**overrides: Any) -> dict[str, Any]:
    """A realistic ``/realtime/sessions`` 200 body with a fresh ``ek_`` secret; keys in ``overrides`` win."""
    body: dict[str, Any] = {
        "id": f"sess_{secrets.token_hex(12)}",
        "object": "realtime.session",
        "model": "gpt-realtime-2.1",
        "modalities": ["text", "audio"],
        "voice": "alloy",
        "input_audio_format": "pcm16",
        "output_audio_format": "pcm16",
        "client_secret": {"value": f"ek_{secrets.token_urlsafe(24)}", "expires_at": int(time.time()) + 60},
    }
    body.update(overrides)
    return body
