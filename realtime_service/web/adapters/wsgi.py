"""``FastRoutes``: the hot routes as a plain WSGI callable in front of the Flask app (``serve`` on waitress).

A mint through Flask passes its request and app contexts, signals, URL matching, dependency-injector's
per-request ``@inject`` and a Werkzeug response object: none of it does anything for ``POST``/``OPTIONS`` to the
token or signaling path, since the framework-neutral endpoint already does every check
(docs/performance-profile.md). So ``serve`` puts this callable in front of the Flask app, as
:mod:`.asgi` does for uvicorn: a ``POST`` or ``OPTIONS`` whose ``PATH_INFO`` is exactly one of its paths goes
straight to the endpoint (asked of the container's provider per request, as the blueprint's ``@inject`` asks
it, so an override takes effect at once); every other request (other methods and paths, health
checks, the demo, the phone webhook, Flask's own 404/405 answers) goes to the Flask app as before. Host
applications keep the blueprint unchanged.

The answers are the blueprint's, byte for byte (``tests/token_server/test_wsgi_fast_routes.py``): the request is
built as :func:`~.flask_blueprint.token_request` builds it from Werkzeug's request (Werkzeug's own header view,
content length and input stream over the same environ), and the response is sent as
:func:`~.flask_blueprint.to_flask` and Werkzeug would send it (Werkzeug's status line, no ``Connection``, the
``Content-Length`` last and none on a 1xx/204, ``Location`` as a URI).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from werkzeug.datastructures import EnvironHeaders
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.urls import iri_to_uri
from werkzeug.wsgi import get_content_length, get_input_stream

from realtime_service.webhooks.headers import request_headers

from ..messages import WebRequest, WebResponse
from ..settings import ServerSettings

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]

#: The methods the hot routes answer themselves; any other goes to the app (405 in OpenAI's shape from there).
METHODS = frozenset({"POST", "OPTIONS"})
#: Headers Werkzeug rewrites as URIs on the way out (``Response.get_wsgi_headers``).
_URI_HEADERS = frozenset({"location", "content-location"})


class Endpoint(Protocol):
    """What a hot route serves: the token or signaling endpoint (its ``handle`` writes the access line)."""

    @property
    def settings(self) -> ServerSettings: ...

    def handle(self, request: WebRequest) -> WebResponse: ...


@dataclass(frozen=True, slots=True)
class Route:
    """One hot path: a zero-argument callable giving its endpoint (the container's provider), asked per request."""

    endpoint: Callable[[], Endpoint]


class FastRoutes:
    """A WSGI app serving ``routes`` (path -> :class:`Route`) directly and everything else through ``app``."""

    def __init__(self, app: WSGIApp, routes: Mapping[str, Route]) -> None:
        self.app = app
        self.routes = dict(routes)

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") in METHODS:
            route = self.routes.get(environ.get("PATH_INFO", ""))
            if route is not None:
                endpoint = route.endpoint()
                response = endpoint.handle(read_request(environ, endpoint.settings.max_body_bytes))
                start_response(status_line(response.status), response_headers(response))
                return [response.body] if response.body and not _bodiless(response.status) else []
        return self.app(environ, start_response)


def read_request(environ: Environ, max_body_bytes: int) -> WebRequest:
    """The WSGI request as a :class:`WebRequest`, as the blueprint's ``token_request`` builds it from Flask's
    request: at most ``max_body_bytes + 1`` body bytes read, none when the declared length is over the cap."""
    length = get_content_length(environ)
    too_large = length is not None and length > max_body_bytes
    body = b"" if too_large else get_input_stream(environ).read(max_body_bytes + 1)
    path = environ.get("PATH_INFO") or ""
    return WebRequest(
        method=environ["REQUEST_METHOD"],
        path="/" + path.encode("latin-1").decode("utf-8", "replace").lstrip("/"),  # Werkzeug's request.path
        headers=request_headers(EnvironHeaders(environ).items()),
        body=body,
        client=environ.get("REMOTE_ADDR"),
        query=environ.get("QUERY_STRING", ""),
        body_too_large=too_large or len(body) > max_body_bytes,
        scheme=environ.get("wsgi.url_scheme", "http"),
    )


_STATUS_LINES: dict[int, str] = {}


def status_line(status: int) -> str:
    """Werkzeug's status line for ``status`` (``"421 MISDIRECTED REQUEST"``, ``"499 UNKNOWN"``)."""
    line = _STATUS_LINES.get(status)
    if line is None:
        reason = HTTP_STATUS_CODES.get(status)
        line = _STATUS_LINES[status] = f"{status} {reason.upper() if reason else 'UNKNOWN'}"
    return line


def _bodiless(status: int) -> bool:
    """Werkzeug sends no body and no ``Content-Length`` with these (RFC 9110); the endpoints give no 304."""
    return 100 <= status < 200 or status == 204


def response_headers(response: WebResponse) -> list[tuple[str, str]]:
    """The headers ``to_flask`` and Werkzeug send for ``response``: without ``Connection`` (hop-by-hop, the
    server's), ``Location``/``Content-Location`` as URIs, ``Content-Length`` last (none on a 1xx or 204)."""
    headers: list[tuple[str, str]] = []
    for name, value in response.headers:
        lowered = name.lower()
        if lowered == "connection" or lowered == "content-length":
            continue
        headers.append((name, iri_to_uri(value) if lowered in _URI_HEADERS else value))
    if not _bodiless(response.status):
        headers.append(("Content-Length", str(len(response.body))))
    return headers
