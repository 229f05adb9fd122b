"""``BrowserRoute``: what ``/token`` and ``/session`` share, so the two routes a browser calls cannot drift apart.

Both take a browser's ``POST`` through the same :mod:`..admission` pipeline (built here from the same settings),
answer ``OPTIONS`` as the CORS preflight, answer a client gone mid-body with one 499 access line, add
``Vary: Origin`` to every answer when CORS is on, and turn a bug into a JSON 500 (:func:`.upstream.internal_failure`),
never a framework's error page. Each route adds only its own steps after admission (:meth:`BrowserRoute._serve`
and its awaitable twin :meth:`BrowserRoute._aserve`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, ClassVar

from ..admission.accesslog import log_answer
from ..admission.answers import Refused, client_gone
from ..admission.auth import Authenticator
from ..admission.cors import CorsPolicy
from ..admission.hosts import HostAllowList
from ..admission.pipeline import Admission, Admitted, ClientKeys
from ..admission.ratelimit import IdentityRateLimiter
from ..admission.spans import answered, served
from ..admission.throttle import AuthThrottle
from ..messages import WebRequest, WebResponse
from ..settings import ServerSettings
from .upstream import internal_failure

#: The one method a browser route serves (``OPTIONS`` is its preflight).
METHODS = ("POST",)


class BrowserRoute:
    """The skeleton of a browser's route. ``hosts`` is the Host allow-list (``serve`` adds the address it is bound
    to); ``throttle`` counts failed authentications (shared by both routes); ``expose`` names the response headers
    a page may read (CORS, ``server.cors_origins``)."""

    #: What the route does, for its error answers and log lines (``"mint"`` or ``"call"``, see :mod:`.upstream`).
    action: ClassVar[str]

    def __init__(
        self,
        settings: ServerSettings,
        *,
        hosts: HostAllowList,
        authenticate: Callable[[WebRequest], Any],
        throttle: IdentityRateLimiter | None,
        expose: tuple[str, ...] = ("Retry-After",),
    ) -> None:
        self.settings = settings
        self.hosts = hosts
        cors = self.cors = CorsPolicy(
            settings.cors_origins,
            credentials=settings.cors_credentials,
            trusted_hops=settings.trust_forwarded,
            expose=expose,
        )
        self.admission = Admission(
            methods=METHODS,
            max_body_bytes=settings.max_body_bytes,
            clients=ClientKeys(settings.trust_forwarded, settings.ipv4_prefix, settings.ipv6_prefix),
            hosts=hosts,
            cors=cors,
            authenticator=Authenticator(settings.auth, settings.bearer_tokens, authenticate),
            throttle=AuthThrottle(throttle) if throttle is not None else None,
        )

    def handle(self, request: WebRequest) -> WebResponse:
        """Serve one request from sync code (a WSGI worker): ``POST`` does the route's work, ``OPTIONS`` is the
        CORS preflight; one access line."""
        started = time.perf_counter()
        with served(request) as span:
            try:
                early = self._before_admission(request)
                response = early if early is not None else self._serve(request, self.admission.admit(request))
            except Refused as refusal:
                response = refusal.response
            except Exception as exc:  # a bug: still a JSON 500 and an access line, never a framework error page
                response = internal_failure(exc, action=self.action)
            response = self.cors.with_vary(response)
            answered(span, response)
        self.log(request, response, started)
        return response

    async def ahandle(self, request: WebRequest) -> WebResponse:
        """The awaitable twin of :meth:`handle`: an ``async`` auth hook is awaited, Redis is asked from a worker
        thread, the upstream call awaits the service's async facade, so the event loop never blocks."""
        started = time.perf_counter()
        response = await self.aanswer(request)
        self.log(request, response, started)
        return response

    async def aanswer(self, request: WebRequest) -> WebResponse:
        """:meth:`ahandle` without the access line, for a server that writes the answer first and then calls
        :meth:`log` (``serve``'s fast routes: the client does not wait for the line to be formatted)."""
        with served(request) as span:
            try:
                early = self._before_admission(request)
                response = (
                    early if early is not None else await self._aserve(request, await self.admission.aadmit(request))
                )
            except Refused as refusal:
                response = refusal.response
            except Exception as exc:  # a bug: still a JSON 500 and an access line, never a framework error page
                response = internal_failure(exc, action=self.action)
            response = self.cors.with_vary(response)
            answered(span, response)
        return response

    def _before_admission(self, request: WebRequest) -> WebResponse | None:
        """The answer of a request that never reaches admission: a client gone (499), a preflight."""
        if request.disconnected:
            return client_gone()
        if request.method == "OPTIONS":
            return self.preflight(request)
        return None

    def preflight(self, request: WebRequest) -> WebResponse:
        """The CORS preflight: a grant for an allowed origin asking exactly for ``POST``, else 403, no grant."""
        try:
            self.hosts.check(request)
            return self.cors.preflight(request, METHODS)
        except Refused as refusal:
            return refusal.response

    @staticmethod
    def log(request: WebRequest, response: WebResponse, started: float) -> None:
        """The request's access line (``started``: its ``time.perf_counter()``)."""
        log_answer(request, response, started)

    # -- the route's own steps, after admission ------------------------------------------------------------

    def _serve(self, request: WebRequest, admitted: Admitted) -> WebResponse:
        raise NotImplementedError

    async def _aserve(self, request: WebRequest, admitted: Admitted) -> WebResponse:
        raise NotImplementedError
