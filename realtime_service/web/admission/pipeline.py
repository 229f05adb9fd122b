"""Admission: the steps a request passes before a route does its own work, composed per route.

Each step is one module, takes the framework-neutral :class:`~realtime_service.web.messages.WebRequest` and either
returns or raises :class:`~.answers.Refused` with an answer in OpenAI's error shape (``no-store``):

====================  ==========================  ====================================================
step                  module                      answer
====================  ==========================  ====================================================
Host allow-list       :mod:`.hosts`               421 ``host_not_allowed``
origin / CORS         :mod:`.cors`                403 ``origin_not_allowed``; the CORS headers otherwise
method                here                        405 ``method_not_allowed``
body size             :mod:`.bodies`              413 ``body_too_large``
failed-auth throttle  :mod:`.throttle`            429 ``auth_throttled`` (per client network)
authentication        :mod:`.auth`                401 ``unauthorized``
budget                :mod:`.budget`              429 ``rate_limited`` / 503 storage down
====================  ==========================  ====================================================

The body type is the route's own business: the token route parses a JSON object (:func:`.bodies.json_object`); a route
taking raw SDP or signed webhook bytes reads ``request.body`` after :meth:`Admission.admit`. A route that needs fewer
steps passes ``None`` for the ones it skips (a webhook route: no CORS, no bearer auth, its own signature check).
Access lines (:mod:`.accesslog`) and the servers' own limits (:mod:`~realtime_service.web.servers.waitress_guard`,
:mod:`~realtime_service.web.servers.uvicorn_guard`) wrap every route alike.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from dataclasses import dataclass

from realtime_service.errors import ConfigurationError

from ..messages import WebRequest
from .answers import Refused, error_answer
from .auth import Authenticator
from .bodies import check_size
from .clients import client_address, client_key
from .cors import CorsPolicy
from .hosts import HostAllowList
from .throttle import AuthThrottle


@dataclass(frozen=True, slots=True)
class Admitted:
    """What admission learned: who asks (``identity``), from which network (``client``), and the CORS headers
    every answer to this request carries."""

    identity: str
    client: str
    cors: list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class ClientKeys:
    """How a request's client address becomes its budget key (see :mod:`.clients`)."""

    trusted_hops: int = 0
    ipv4_prefix: int = 32
    ipv6_prefix: int = 64

    def of(self, request: WebRequest) -> str:
        return client_key(client_address(request, self.trusted_hops), self.ipv4_prefix, self.ipv6_prefix)


class Admission:
    """The admission steps of one route; ``None`` skips a step."""

    def __init__(
        self,
        *,
        methods: tuple[str, ...],
        max_body_bytes: int,
        clients: ClientKeys,
        hosts: HostAllowList | None = None,
        cors: CorsPolicy | None = None,
        authenticator: Authenticator | None = None,
        throttle: AuthThrottle | None = None,
    ) -> None:
        self.methods = methods
        self.max_body_bytes = max_body_bytes
        self.clients = clients
        self.hosts = hosts
        self.cors = cors
        self.authenticator = authenticator
        self.throttle = throttle

    def precheck(self, request: WebRequest) -> tuple[list[tuple[str, str]], str]:
        """Host, origin, method, size: checked before anyone is authenticated. Returns (CORS headers, client)."""
        if self.hosts is not None:
            self.hosts.check(request)
        cors = self.cors.headers(request) if self.cors is not None else []
        if request.method not in self.methods:
            allow = ", ".join((*self.methods, "OPTIONS"))
            raise Refused(
                error_answer(
                    405,
                    f"Use {' or '.join(self.methods)}.",
                    "invalid_request_error",
                    "method_not_allowed",
                    [*cors, ("Allow", allow)],
                )
            )
        check_size(request, self.max_body_bytes, cors)
        client = self.clients.of(request)
        if self.throttle is not None and self.authenticator is not None and self.authenticator.scheme != "none":
            self.throttle.check(client, cors)
        return cors, client

    def admit(self, request: WebRequest) -> Admitted:
        """Every step, for a synchronous server (an ``async`` auth hook is a configuration error here)."""
        cors, client = self.precheck(request)
        if self.authenticator is None:
            return Admitted("-", client, cors)
        result = self.authenticator.start(request, client)
        if inspect.isawaitable(result):
            close = getattr(result, "close", None)
            if callable(close):
                close()
            raise ConfigurationError("an async authenticate hook needs the async adapter")
        return self._identified(self.authenticator.finish(result), client, cors)

    async def aadmit(self, request: WebRequest) -> Admitted:
        """Every step; an ``async`` auth hook is awaited."""
        cors, client = self.precheck(request)
        if self.authenticator is None:
            return Admitted("-", client, cors)
        result = self.authenticator.start(request, client)
        if inspect.isawaitable(result):
            result = await result
        return self._identified(self.authenticator.finish(result), client, cors)

    def _identified(self, identity: str | None, client: str, cors: list[tuple[str, str]]) -> Admitted:
        if identity is not None:
            return Admitted(identity, client, cors)
        if self.throttle is not None and self.authenticator is not None and self.authenticator.scheme != "none":
            self.throttle.failed(client)
        challenge: Iterable[tuple[str, str]] = self.authenticator.challenge if self.authenticator else ()
        raise Refused(
            error_answer(401, "Authentication required.", "authentication_error", "unauthorized", [*cors, *challenge])
        )
