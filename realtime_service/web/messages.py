"""What the framework-neutral endpoint takes and gives: plain request and response values.

Adapters build a :class:`TokenRequest` from their framework's request (header names lower-cased, the body
already read up to the size limit) and turn the :class:`TokenResponse` back into theirs, nothing more. They are
the framework-neutral request description every route and every admission step (:mod:`.admission`) takes,
whatever the body type; :data:`HttpRequest` and :data:`HttpResponse` name them so for routes that mint nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class TokenRequest:
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
class TokenResponse:
    """One HTTP response, body already encoded. ``identity`` and ``request_id`` are for the access log."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    identity: str | None = field(default=None, compare=False)
    request_id: str | None = field(default=None, compare=False)

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


HttpRequest = TokenRequest
HttpResponse = TokenResponse
