"""``TokenEndpoint``: the framework-neutral token endpoint. Adapters hand it a request and send back its response.

The pipeline for ``POST <path>`` is the :mod:`~realtime_service.web.admission` steps (Host 421 -> origin 403 -> method
405 -> size 413 -> failed-auth throttle 429 -> authentication 401), then this route's own: media type (415) -> JSON
object (400) -> session policy (400) -> budget per identity (429) -> mint. Upstream failures are mapped, never echoed
(see :meth:`TokenEndpoint._failure`); a success body holds only the documented fields of the answer
(:func:`~.minting.browser_body`) and is scrubbed of every secret the server knows. Every response carries
``Cache-Control: no-store``; every request gets one access-log line
(:mod:`~realtime_service.web.admission.accesslog`).
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from realtime_service.config import Settings
from realtime_service.errors import ConfigurationError
from realtime_service.observability import metrics
from realtime_service.redaction import scrub

from ...admission.accesslog import log_access
from ...admission.answers import COMMON_HEADERS, Refused, dumps, error_answer
from ...admission.bodies import json_object
from ...admission.budget import Budget
from ...admission.clients import client_address
from ...admission.hosts import HostAllowList
from ...admission.pipeline import Admitted
from ...admission.ratelimit import IdentityRateLimiter
from ...messages import WebRequest, WebResponse
from ...settings import ServerSettings
from ..browser import BrowserRoute
from ..policy import PolicyError, SessionPolicy, SessionTerms
from ..secrets import KnownSecrets
from ..upstream import upstream_failure
from .minting import Minter, browser_body, choose_minter

__all__ = ["TokenEndpoint", "client_address", "log_access"]

logger = logging.getLogger("realtime_service.web")


class TokenEndpoint(BrowserRoute):
    """Mints one ephemeral key per accepted ``POST``, under the server's policy. Thread-safe; one per process.

    ``service`` and ``realtime_settings`` are zero-argument callables (the container's providers), resolved on
    first use so that ``/readyz`` can report a configuration error instead of the app failing to import.
    ``authenticate`` is called with the request under ``server.auth: hook``.
    """

    action = "mint"

    def __init__(
        self,
        service: Callable[[], Any],
        settings: ServerSettings,
        *,
        limiter: IdentityRateLimiter,
        authenticate: Callable[[WebRequest], Any],
        realtime_settings: Callable[[], Settings],
        throttle: IdentityRateLimiter | None = None,
    ) -> None:
        super().__init__(
            settings,
            hosts=HostAllowList(settings.allowed_hosts, settings.cors_origins),
            authenticate=authenticate,
            throttle=throttle,
        )
        self._service = service
        self._realtime_settings = realtime_settings
        self._limiter = limiter
        self._policy = SessionPolicy(settings.session, settings.browser_fields, settings.max_ttl)
        self._minter: tuple[Any, str, Minter] | None = None
        self._budget = Budget(limiter)
        self._secrets = KnownSecrets(settings.bearer_tokens, realtime_settings)

    # -- public entry points ------------------------------------------------------------------------------

    @property
    def minter(self) -> Minter:
        """The minting operation (see :func:`~.minting.choose_minter`) of the service the container provides now:
        chosen again only when the provider gives another service or shape (an override made after the server
        started reaches the next mint, on every adapter and on ``serve``'s fast routes alike)."""
        service, shape = self._service(), self._realtime_settings().api_shape
        chosen = self._minter
        if chosen is None or chosen[0] is not service or chosen[1] != shape:
            chosen = self._minter = (service, shape, choose_minter(service, shape))
        return chosen[2]

    def healthz(self, request: WebRequest) -> WebResponse:
        """Process alive."""
        started = time.perf_counter()
        response = self._answer(200, dumps({"status": "ok"}))
        log_access(request, response, started)
        return response

    def readyz(self, request: WebRequest) -> WebResponse:
        """Configured (service settings, key present, rate-limit storage answering); with ``?upstream=1`` also a
        TCP connection to the upstream host. Blocking: async adapters run it in a worker thread."""
        started = time.perf_counter()
        checks: dict[str, str] = {}
        try:
            settings = self._realtime_settings()
            settings.require_api_key()
            self.minter  # noqa: B018 - builds the service: a configuration error shows here
            checks["config"] = "ok"
        except ConfigurationError as exc:
            settings = None
            checks["config"] = str(exc)
        checks["rate_limit_storage"] = "ok" if self._limiter.check() else "unreachable"
        if parse_qs(request.query).get("upstream", ["0"])[-1].lower() in {"1", "true", "yes"}:
            checks["upstream"] = _reachable(settings.base_url) if settings is not None else "not configured"
        ready = all(value == "ok" for value in checks.values())
        body = dumps({"status": "ready" if ready else "not ready", "checks": checks})
        response = self._answer(200 if ready else 503, body)
        log_access(request, response, started)
        return response

    def refuse(self, request: WebRequest, status: int) -> WebResponse:
        """The adapters' fallback for what no route serves, in OpenAI's shape and logged like the rest: 404 or
        405, 421 for a host name not allowed, and any other framework answer (a malformed request) as itself."""
        started = time.perf_counter()
        if not self.hosts.allowed(request.header("host")):
            response = error_answer(
                421, "This server does not answer for that host name.", "invalid_request_error", "host_not_allowed"
            )
        elif status == 405:
            response = error_answer(405, "Method not allowed.", "invalid_request_error", "method_not_allowed")
        elif status == 404:
            response = error_answer(404, "Not found.", "invalid_request_error", "not_found")
        else:
            status = status if 400 <= status < 500 else 400
            response = error_answer(status, "The request is not valid.", "invalid_request_error", "malformed_request")
        response = self.cors.with_vary(response)
        log_access(request, response, started)
        return response

    def host_refusal(self, request: WebRequest) -> WebResponse | None:
        """For routes outside the admission pipeline (the demo page): the 421 if the host is not allowed."""
        if self.hosts.allowed(request.header("host")):
            return None
        return self.refuse(request, 421)

    # -- the route's own steps ---------------------------------------------------------------------------

    def _serve(self, request: WebRequest, admitted: Admitted) -> WebResponse:
        terms = self._terms(request, admitted)
        self._budget.spend(admitted.identity, admitted.cors)
        return self._mint_sync(terms, admitted)

    async def _aserve(self, request: WebRequest, admitted: Admitted) -> WebResponse:
        terms = self._terms(request, admitted)
        await self._budget.aspend(admitted.identity, admitted.cors)
        return await self._mint_async(terms, admitted)

    def _terms(self, request: WebRequest, admitted: Admitted) -> SessionTerms:
        parsed = json_object(request, admitted.cors, admitted.identity)
        try:
            return self._policy.terms(parsed)
        except PolicyError as exc:
            raise Refused(
                error_answer(
                    400,
                    exc.message,
                    "invalid_request_error",
                    exc.code,
                    admitted.cors,
                    param=exc.field,
                    identity=admitted.identity,
                )
            ) from None

    def _mint_sync(self, terms: SessionTerms, admitted: Admitted) -> WebResponse:
        try:
            minter = self.minter
            return self._success(minter.call(self._body(terms, minter)), minter, admitted.identity, admitted.cors)
        except Exception as exc:
            return self._failure(exc, terms, admitted.identity, admitted.cors)

    async def _mint_async(self, terms: SessionTerms, admitted: Admitted) -> WebResponse:
        try:
            minter = self.minter
            result = await minter.acall(self._body(terms, minter))
            return self._success(result, minter, admitted.identity, admitted.cors)
        except Exception as exc:
            return self._failure(exc, terms, admitted.identity, admitted.cors)

    @staticmethod
    def _body(terms: SessionTerms, minter: Minter) -> dict[str, Any]:
        return terms.ga_body() if minter.shape == "ga" else terms.beta_body()

    def _success(self, result: Any, minter: Minter, identity: str, cors: list[tuple[str, str]]) -> WebResponse:
        request_id = getattr(result, "request_id", None)
        body = self._scrubbed(dumps(browser_body(result.to_dict(), minter.shape)), request_id)
        metrics.key_minted()
        return WebResponse(200, [*COMMON_HEADERS, *cors], body, identity, request_id)

    def _scrubbed(self, body: bytes, request_id: str | None) -> bytes:
        """``body`` with every known secret replaced by its redacted form: an upstream (or a proxy) that echoes
        the API key into a field of a 200 must not hand it to the browser."""
        text = body.decode("utf-8")
        scrubbed = scrub(text, self._secrets.forms())
        if scrubbed == text:
            return body
        logger.error("upstream answer held a server secret: redacted (request_id=%s)", request_id)
        return scrubbed.encode("utf-8")

    # -- errors -------------------------------------------------------------------------------------------

    @staticmethod
    def _failure(exc: Exception, terms: SessionTerms, identity: str, cors: list[tuple[str, str]]) -> WebResponse:
        """Map what went wrong upstream (or in validation) to this endpoint's own answer; never echo it."""
        return upstream_failure(exc, terms.chosen, identity, cors, action="mint")

    # -- plumbing -----------------------------------------------------------------------------------------

    def _answer(self, status: int, body: bytes) -> WebResponse:
        return self.cors.with_vary(WebResponse(status, [*COMMON_HEADERS], body))


def _reachable(base_url: str, timeout: float = 2.0) -> str:
    parts = urlsplit(base_url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname or "", port), timeout=timeout).close()
    except OSError as exc:
        return f"unreachable ({type(exc).__name__})"
    return "ok"
