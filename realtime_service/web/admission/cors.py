"""Origins: which pages may read this server's answers (CORS), and what "same origin" means.

A request without ``Origin`` is not from a cross-origin page and passes. An ``Origin`` listed in
``server.cors_origins`` (compared in canonical form: lower-case scheme and host, default port dropped) gets the
CORS headers, echoing the *canonical* origin, never the raw header. The page's own origin passes too: scheme,
host and port all equal to this server's (``http``, or ``X-Forwarded-Proto`` behind trusted proxies, and the
request's ``Host``, which :mod:`.hosts` has already checked). Anything else is 403 before any other step.
A preflight is granted only for an allowed origin asking exactly for one of the route's methods.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..authority import canonical_origin
from ..messages import WebRequest, WebResponse
from .answers import Refused, error_answer

ALLOWED_HEADERS = "authorization, content-type"


def forbidden() -> Refused:
    return Refused(error_answer(403, "This origin may not request keys.", "permission_error", "origin_not_allowed"))


class CorsPolicy:
    """The origin step of a route, and its preflight answer."""

    def __init__(
        self,
        origins: Iterable[str],
        *,
        credentials: bool,
        trusted_hops: int,
        expose: tuple[str, ...] = ("Retry-After",),
    ) -> None:
        self._origins = frozenset(filter(None, (canonical_origin(origin) for origin in origins)))
        #: The response headers a page may read (``Access-Control-Expose-Headers``): a route adds its own.
        self._expose = ", ".join(expose)
        self._credentials = credentials
        self._trusted_hops = trusted_hops

    @property
    def vary(self) -> bool:
        """Whether answers depend on ``Origin`` (then every answer says ``Vary: Origin``)."""
        return bool(self._origins)

    def with_vary(self, response: WebResponse) -> WebResponse:
        """``response``, with ``Vary: Origin`` added when answers depend on ``Origin`` and it has no ``Vary``."""
        if not self.vary or response.header("vary") is not None:
            return response
        return WebResponse(
            response.status,
            [*response.headers, ("Vary", "Origin")],
            response.body,
            response.identity,
            response.request_id,
            response.error_code,
        )

    def allowed(self, origin: str) -> str | None:
        """The canonical form of ``origin`` if it is listed, else ``None``."""
        canonical = canonical_origin(origin)
        return canonical if canonical in self._origins else None

    def same_origin(self, request: WebRequest, origin: str) -> bool:
        canonical = canonical_origin(origin)
        host = request.header("host")
        if canonical is None or not host:
            return False
        scheme = request.scheme
        if self._trusted_hops > 0:
            forwarded = (request.header("x-forwarded-proto") or "").split(",")[-1].strip().lower()
            scheme = forwarded or scheme
        return canonical == canonical_origin(f"{scheme}://{host}")

    def headers(self, request: WebRequest) -> list[tuple[str, str]]:
        """The CORS headers for the request's origin; raises :class:`Refused` (403) for a foreign origin."""
        origin = request.header("origin")
        if origin is None:
            return []
        canonical = self.allowed(origin)
        if canonical is not None:
            headers = [("Access-Control-Allow-Origin", canonical), ("Access-Control-Expose-Headers", self._expose)]
            if self._credentials:
                headers.append(("Access-Control-Allow-Credentials", "true"))
            return headers
        if self.same_origin(request, origin):
            return []
        raise forbidden()

    def preflight(self, request: WebRequest, methods: tuple[str, ...]) -> WebResponse:
        """``OPTIONS``: without ``Origin`` a plain ``Allow``; for a listed origin asking for one of ``methods``
        (exactly: ``post`` is not ``POST``) the grant; anything else 403 without any grant."""
        allow = ", ".join((*methods, "OPTIONS"))
        origin = request.header("origin")
        if origin is None:
            return WebResponse(204, [("Cache-Control", "no-store"), ("Allow", allow)], b"")
        canonical = self.allowed(origin)
        method = request.header("access-control-request-method")
        if canonical is None or method not in methods:
            raise forbidden()
        headers = [
            ("Cache-Control", "no-store"),
            ("Access-Control-Allow-Origin", canonical),
            ("Access-Control-Allow-Methods", ", ".join(methods)),
            ("Access-Control-Allow-Headers", ALLOWED_HEADERS),
            ("Access-Control-Max-Age", "600"),
            ("Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"),
        ]
        if self._credentials:
            headers.append(("Access-Control-Allow-Credentials", "true"))
        return WebResponse(204, headers, b"")
