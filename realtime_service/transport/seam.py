"""What a gateway sends and receives: the seam between the service and HTTP.

The service builds an :class:`HttpRequest`, a :class:`Gateway` performs exactly one attempt and returns an
:class:`HttpResponse` (any status) or raises :class:`~realtime_service.errors.APIConnectionError`. A gateway that
is also an :class:`AsyncGateway` sends the service's awaitable calls on the event loop instead of a worker thread.
Retries, parsing and error mapping belong to the service, so a fake gateway only has to play back answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One attempt. ``path`` is relative to the base URL (``/realtime/sessions``); ``body`` is encoded JSON.

    ``timeout`` is ``(connect, read)`` per socket operation; ``budget`` bounds the whole attempt in seconds, so a
    server trickling its answer byte by byte cannot outlast the call's ``total_timeout``.
    """

    method: str
    path: str
    body: bytes = field(repr=False)  # it may hold personal data (an outbound call's numbers) or a password
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout: tuple[float, float] | None = None
    budget: float | None = None


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """The raw answer to one attempt. ``headers`` keys are lower-case."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes
    elapsed_ms: float = 0.0

    @property
    def request_id(self) -> str | None:
        return self.headers.get("x-request-id")


@runtime_checkable
class Gateway(Protocol):
    """Sends one request. Implementations must be safe to share across threads."""

    def send(self, request: HttpRequest) -> HttpResponse: ...


@runtime_checkable
class AsyncGateway(Protocol):
    """Sends one request on the running event loop, with the contract of :meth:`Gateway.send`: exactly one
    attempt, never resent; any status is returned; failures raise ``APIConnectionError``/``APITimeoutError`` whose
    ``request_sent`` is ``False`` only when the connection was never made."""

    async def asend(self, request: HttpRequest) -> HttpResponse: ...


#: How much of a lost body a gateway keeps on its error (``APIConnectionError.partial_body``): what a create
#: created is named at the start; the cap keeps a huge (or bomb) body from being copied once more.
PARTIAL_BODY_BYTES = 4096


def partial_body(chunks: list[bytes]) -> bytes:
    """The first :data:`PARTIAL_BODY_BYTES` of the body ``chunks`` that arrived before it was lost."""
    kept = bytearray()
    for chunk in chunks:
        kept += chunk[: PARTIAL_BODY_BYTES - len(kept)]
        if len(kept) >= PARTIAL_BODY_BYTES:
            break
    return bytes(kept)
