"""What every route takes and gives, whatever the framework: plain request and response values.

Adapters (:mod:`.adapters`) build a :class:`WebRequest` from their framework's request (header names
lower-cased, repeated lines joined, the body already read up to the size limit) and turn the
:class:`WebResponse` back into theirs, nothing more. Every route and every admission step (:mod:`.admission`)
takes the same request, whatever its body. (The upstream side has its own pair,
:class:`realtime_service.transport.seam.HttpRequest` / ``HttpResponse``: what the gateway sends to the API.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

#: The response header carrying the id of the call or Live session ``/session`` started (``rtc_...`` /
#: ``live_...``); the access line logs it as ``call_id``.
CALL_ID_HEADER = "X-Call-Id"


@dataclass(frozen=True, slots=True)
class WebRequest:
    """One HTTP request. ``headers`` has lower-case names; ``client`` is the peer address (``None`` if unknown);
    ``body_too_large`` tells that the adapter stopped reading past the limit; ``disconnected`` that the client
    went away before its body arrived; ``scheme`` is how the request reached this server (``http``)."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes = b""
    client: str | None = None
    query: str = ""
    body_too_large: bool = False
    disconnected: bool = False
    scheme: str = "http"

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


@dataclass(frozen=True, slots=True)
class WebResponse:
    """One HTTP response, body already encoded. ``identity`` and ``request_id`` are for the access log."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    identity: str | None = field(default=None, compare=False)
    request_id: str | None = field(default=None, compare=False)
    #: The ``error.code`` of an error answer (``rate_limited``...): the refusal metrics' reason.
    error_code: str | None = field(default=None, compare=False)

    @property
    def content_type(self) -> str | None:
        for name, value in self.headers:
            if name.lower() == "content-type":
                return value
        return None

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None
