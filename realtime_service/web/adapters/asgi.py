"""``FastRoutes``: the hot routes as a plain ASGI callable in front of the FastAPI app.

A mint through FastAPI passes Starlette's middleware stack, its router, ``solve_dependencies`` and
dependency-injector's per-request ``@inject``: about half the CPU of a mint under uvicorn
(docs/performance-profile.md). None of it does anything for ``POST /token`` or ``POST /session``: the
framework-neutral endpoint already does every check. So ``serve`` puts this callable in front: a ``POST`` or
``OPTIONS`` to exactly one of its paths goes straight to the endpoint, and every other request (other methods
and paths, the lifespan, health checks, the demo, the phone webhook, the framework's own 404/405 answers) goes
to the FastAPI app as before. Host applications keep the router; they can wrap their
app the same way (see docs/host-applications.md).

The endpoint is asked of its container provider at every request (:class:`ProvidedRoute`), as FastAPI's
``Provide`` markers ask it: a provider overridden after start (``token_endpoint.override(...)`` in a test or a
host app) answers on the fast path and on FastAPI's route alike, never the one resolved at start-up. The cost is
one provider call and an identity check per request (the bound handlers are rebuilt only when the provider gives
another endpoint): about 0.1 µs, against about 1 ms for a mint.

The request the endpoint sees is the one :func:`~realtime_service.web.adapters.fastapi_router.token_request` builds from
Starlette's: lower-case headers (a repeated header has its values joined by ``", "`` as WSGI servers join them,
see :mod:`realtime_service.webhooks.headers`), the path as received,
the body read only up to ``max_body_bytes + 1`` (a declared ``Content-Length`` over the cap is not read at all)
and a client that goes away mid-body marked ``disconnected`` (one 499 access line).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, Protocol

from ...webhooks.headers import request_headers
from ..messages import WebRequest, WebResponse

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: The methods the hot routes answer themselves; any other goes to the app (405 in OpenAI's shape from there).
METHODS = frozenset({"POST", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class Route:
    """One hot path: the endpoint's ``ahandle`` and the body cap it enforces; or its ``aanswer`` and ``log``,
    so the access line is written after the answer (the client does not wait for it)."""

    handle: Callable[[WebRequest], Awaitable[WebResponse]]
    max_body_bytes: int
    log: Callable[[WebRequest, WebResponse, float], None] | None = None


    def resolve(self) -> Route:
        """The route to serve this request: this one."""
        return self


class _Limits(Protocol):
    @property
    def max_body_bytes(self) -> int: ...


class AnswersFirst(Protocol):
    """An endpoint that answers first and logs after (``TokenEndpoint``, ``SignalingEndpoint``)."""

    @property
    def settings(self) -> _Limits: ...

    async def aanswer(self, request: WebRequest) -> WebResponse: ...

    def log(self, request: WebRequest, response: WebResponse, started: float) -> None: ...


class ProvidedRoute:
    """A hot path served by the endpoint ``provider`` (a container provider, or any zero-argument callable)
    gives at each request, so an override made after start is served here as on FastAPI's route."""

    __slots__ = ("_last", "provider")

    def __init__(self, provider: Callable[[], AnswersFirst]) -> None:
        self.provider = provider
        self._last: tuple[AnswersFirst, Route] | None = None

    def resolve(self) -> Route:
        """The :class:`Route` of the endpoint the provider gives now (rebuilt only when it gives another)."""
        endpoint = self.provider()
        last = self._last
        if last is None or last[0] is not endpoint:
            last = self._last = (endpoint, Route(endpoint.aanswer, endpoint.settings.max_body_bytes, endpoint.log))
        return last[1]


class FastRoutes:
    """An ASGI app serving ``routes`` (path -> :class:`Route` or :class:`ProvidedRoute`) directly and everything
    else through ``app``."""

    def __init__(self, app: ASGIApp, routes: Mapping[str, Route | ProvidedRoute]) -> None:
        self.app = app
        self.routes = dict(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in METHODS:
            path_route = self.routes.get(scope["path"])
            if path_route is not None:
                route = path_route.resolve()
                started = time.perf_counter()
                request = await read_request(scope, receive, route.max_body_bytes)
                response = await route.handle(request)
                try:
                    await send_response(send, response)
                finally:
                    if route.log is not None:
                        route.log(request, response, started)
                return
        await self.app(scope, receive, send)


async def read_request(scope: Scope, receive: Receive, max_body_bytes: int) -> WebRequest:
    """The ASGI request as a :class:`WebRequest`, its body read only up to ``max_body_bytes + 1``."""
    headers = request_headers((name.decode("latin-1"), value.decode("latin-1")) for name, value in scope["headers"])
    length = headers.get("content-length")
    too_large = length is not None and length.isdigit() and int(length) > max_body_bytes
    disconnected = False
    chunks: list[bytes] = []
    if not too_large and scope["method"] != "OPTIONS":
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                disconnected = True
                break
            chunk = message.get("body", b"")
            if chunk:
                chunks.append(chunk)
                size += len(chunk)
                if size > max_body_bytes:
                    too_large = True
                    break
            if not message.get("more_body", False):
                break
    client = scope.get("client")
    return WebRequest(
        method=scope["method"],
        path=scope["path"],
        headers=headers,
        body=b"".join(chunks),
        client=client[0] if client else None,
        query=scope.get("query_string", b"").decode("latin-1"),
        body_too_large=too_large,
        disconnected=disconnected,
        scheme=scope.get("scheme", "http"),
    )


async def send_response(send: Send, response: WebResponse) -> None:
    """``response`` as ``http.response.start`` + one ``http.response.body``, with its ``Content-Length``."""
    headers = [(b"content-length", str(len(response.body)).encode("latin-1"))]
    headers += [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in response.headers]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})
