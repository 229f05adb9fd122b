"""``TokenEndpoint``: the framework-neutral token endpoint. Adapters hand it a request and send back its response.

The pipeline for ``POST <path>``: origin (403) -> method (405) -> size (413) -> authentication (401) -> media type
(415) -> JSON object (400) -> session policy (400) -> rate limit per identity (429) -> mint. Upstream failures are
mapped, never echoed (see :meth:`TokenEndpoint._failure`). Every response carries ``Cache-Control: no-store``;
every request gets one access-log line (identity, status, latency, upstream request id; never a key).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import math
import socket
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..config import Settings
from ..errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    ConfigurationError,
    RequestValidationError,
    ResponseValidationError,
)
from .auth import BearerTokens
from .messages import TokenRequest, TokenResponse
from .minting import Minter, choose_minter
from .policy import PolicyError, SessionPolicy, SessionTerms, endpoint_field
from .ratelimit import IdentityRateLimiter, LimiterUnavailable
from .settings import ServerSettings

logger = logging.getLogger("realtime_service.web")
access_logger = logging.getLogger("realtime_service.web.access")

#: Seconds a browser is told to wait after an upstream outage when the upstream named no time.
UPSTREAM_RETRY_AFTER = 5
MAX_RETRY_AFTER = 86400
_RETRIED_UPSTREAM = frozenset({408, 409, 429})
_ALLOWED_HEADERS = "authorization, content-type"
_COMMON_HEADERS = (
    ("Content-Type", "application/json"),
    ("Cache-Control", "no-store"),
    ("Pragma", "no-cache"),
    ("X-Content-Type-Options", "nosniff"),
)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _dumps(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def client_address(request: TokenRequest, trusted_hops: int) -> str:
    """The caller's address: the peer, or with ``trusted_hops`` proxies in front the address the outermost
    trusted proxy saw (``X-Forwarded-For`` counted from the right, so a client cannot forge it)."""
    if trusted_hops > 0:
        forwarded = request.header("x-forwarded-for")
        if forwarded:
            hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
            if hops:
                return hops[-trusted_hops] if len(hops) >= trusted_hops else hops[0]
    return request.client or "unknown"


def log_access(request: TokenRequest, response: TokenResponse, started: float) -> None:
    """The one access-log line of a request. Never logs headers, bodies or query strings (keys live there)."""
    if not access_logger.isEnabledFor(logging.INFO):
        return
    elapsed_ms = (time.perf_counter() - started) * 1000.0
    access_logger.info(
        "%s %s -> %d in %.1f ms (identity=%s, request_id=%s)",
        request.method,
        request.path,
        response.status,
        elapsed_ms,
        response.identity or "-",
        response.request_id or "-",
        extra={
            "method": request.method,
            "path": request.path,
            "status": response.status,
            "elapsed_ms": elapsed_ms,
            "identity": response.identity,
            "request_id": response.request_id,
        },
    )


class _Refusal(Exception):
    """Internal: a step of the pipeline answers instead of going on."""

    def __init__(self, response: TokenResponse) -> None:
        self.response = response


class TokenEndpoint:
    """Mints one ephemeral key per accepted ``POST``, under the server's policy. Thread-safe; one per process.

    ``service`` and ``realtime_settings`` are zero-argument callables (the container's providers), resolved on
    first use so that ``/readyz`` can report a configuration error instead of the app failing to import.
    ``authenticate`` is called with the request under ``server.auth: hook``.
    """

    def __init__(
        self,
        service: Callable[[], Any],
        settings: ServerSettings,
        *,
        limiter: IdentityRateLimiter,
        authenticate: Callable[[TokenRequest], Any],
        realtime_settings: Callable[[], Settings],
    ) -> None:
        self.settings = settings
        self._service = service
        self._realtime_settings = realtime_settings
        self._limiter = limiter
        self._authenticate = authenticate
        self._bearer = BearerTokens(settings.bearer_tokens)
        self._policy = SessionPolicy(settings.session, settings.browser_fields, settings.max_ttl)
        self._minter: Minter | None = None
        self._vary = bool(settings.cors_origins)

    # -- public entry points ------------------------------------------------------------------------------

    @property
    def minter(self) -> Minter:
        """The minting operation (see :func:`~realtime_service.web.minting.choose_minter`), chosen on first use."""
        if self._minter is None:
            self._minter = choose_minter(self._service(), self._realtime_settings().api_shape)
        return self._minter

    def handle(self, request: TokenRequest) -> TokenResponse:
        """Serve one request to the token path (``POST`` mints, ``OPTIONS`` is the CORS preflight)."""
        started = time.perf_counter()
        try:
            if request.method == "OPTIONS":
                response = self.preflight(request)
            else:
                cors, identity, terms = self._admit(request, self._identify_sync(request))
                response = self._mint_sync(terms, identity, cors)
        except _Refusal as refusal:
            response = refusal.response
        except Exception as exc:  # a bug: still a JSON 500 and an access-log line, never a framework error page
            response = self._internal(exc)
        log_access(request, response, started)
        return response

    async def ahandle(self, request: TokenRequest) -> TokenResponse:
        """The awaitable twin of :meth:`handle`: an ``async`` auth hook is awaited, Redis is asked from a worker
        thread, and the mint awaits the service's async facade, so the event loop never blocks."""
        started = time.perf_counter()
        try:
            if request.method == "OPTIONS":
                response = self.preflight(request)
            else:
                cors, identity, terms = self._admit(request, await self._identify_async(request))
                response = await self._mint_async(terms, identity, cors)
        except _Refusal as refusal:
            response = refusal.response
        except Exception as exc:  # a bug: still a JSON 500 and an access-log line, never a framework error page
            response = self._internal(exc)
        log_access(request, response, started)
        return response

    def preflight(self, request: TokenRequest) -> TokenResponse:
        """The CORS preflight: a grant for an allowed origin asking for ``POST``, else 403 without any grant."""
        origin = request.header("origin")
        if origin is None:
            return self._answer(204, b"", extra=[("Allow", "POST, OPTIONS")])
        method = (request.header("access-control-request-method") or "POST").upper()
        if self._allowed_origin(origin) is None or method != "POST":
            return self._error(403, "This origin may not request keys.", "permission_error", "origin_not_allowed")
        headers = [
            ("Access-Control-Allow-Origin", origin),
            ("Access-Control-Allow-Methods", "POST"),
            ("Access-Control-Allow-Headers", _ALLOWED_HEADERS),
            ("Access-Control-Max-Age", "600"),
            ("Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"),
        ]
        if self.settings.cors_credentials:
            headers.append(("Access-Control-Allow-Credentials", "true"))
        return TokenResponse(204, [("Cache-Control", "no-store"), *headers], b"")

    def healthz(self, request: TokenRequest) -> TokenResponse:
        """Process alive."""
        started = time.perf_counter()
        response = self._answer(200, _dumps({"status": "ok"}))
        log_access(request, response, started)
        return response

    def readyz(self, request: TokenRequest) -> TokenResponse:
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
        body = _dumps({"status": "ready" if ready else "not ready", "checks": checks})
        response = self._answer(200 if ready else 503, body)
        log_access(request, response, started)
        return response

    def refuse(self, request: TokenRequest, status: int) -> TokenResponse:
        """404 or 405 for a path or method no route serves (adapters' fallbacks), logged like the rest."""
        started = time.perf_counter()
        if status == 405:
            response = self._error(405, "Method not allowed.", "invalid_request_error", "method_not_allowed")
        else:
            response = self._error(404, "Not found.", "invalid_request_error", "not_found")
        log_access(request, response, started)
        return response

    # -- the pipeline -------------------------------------------------------------------------------------

    def _admit(self, request: TokenRequest, identity: str | None) -> tuple[list[tuple[str, str]], str, SessionTerms]:
        """Everything between the request and the mint that does not wait on anything."""
        cors = self._cors(request)
        if identity is None:
            extra = [("WWW-Authenticate", 'Bearer realm="realtime-service"')] if self.settings.auth == "bearer" else []
            raise _Refusal(
                self._error(401, "Authentication required.", "authentication_error", "unauthorized", cors, extra)
            )
        terms = self._terms(request, cors, identity)
        return cors, identity, terms

    def _precheck(self, request: TokenRequest) -> None:
        """Origin, method and size: checked before anyone is authenticated."""
        self._cors(request)
        if request.method != "POST":
            raise _Refusal(
                self._error(
                    405, "Use POST.", "invalid_request_error", "method_not_allowed", extra=[("Allow", "POST, OPTIONS")]
                )
            )
        if request.body_too_large or len(request.body) > self.settings.max_body_bytes:
            raise _Refusal(
                self._error(
                    413,
                    f"The request body is larger than {self.settings.max_body_bytes} bytes.",
                    "invalid_request_error",
                    "body_too_large",
                    self._cors(request),
                )
            )

    def _identify_sync(self, request: TokenRequest) -> str | None:
        self._precheck(request)
        auth = self.settings.auth
        if auth == "none":
            return "anon:" + client_address(request, self.settings.trust_forwarded)
        if auth == "bearer":
            return self._bearer.identify(request.header("authorization"))
        result = self._call_hook(request)
        if inspect.isawaitable(result):
            close = getattr(result, "close", None)
            if callable(close):
                close()
            raise _Refusal(self._internal(ConfigurationError("an async authenticate hook needs the async adapter")))
        return self._identity(result)

    async def _identify_async(self, request: TokenRequest) -> str | None:
        self._precheck(request)
        auth = self.settings.auth
        if auth == "none":
            return "anon:" + client_address(request, self.settings.trust_forwarded)
        if auth == "bearer":
            return self._bearer.identify(request.header("authorization"))
        result = self._call_hook(request)
        if inspect.isawaitable(result):
            try:
                result = await result
            except Exception as exc:
                raise _Refusal(self._internal(exc)) from None
        return self._identity(result)

    def _call_hook(self, request: TokenRequest) -> Any:
        try:
            return self._authenticate(request)
        except Exception as exc:
            raise _Refusal(self._internal(exc)) from None

    def _identity(self, result: Any) -> str | None:
        if result is None or result is False:
            return None
        if not isinstance(result, str) or not result:
            raise _Refusal(self._internal(TypeError(f"authenticate hook returned {type(result).__name__}")))
        return "hook:" + result

    def _terms(self, request: TokenRequest, cors: list[tuple[str, str]], identity: str) -> SessionTerms:
        body = request.body
        media = (request.header("content-type") or "").split(";", 1)[0].strip().lower()
        if (body.strip() or media) and media != "application/json" and not media.endswith("+json"):
            raise _Refusal(
                self._error(
                    415,
                    "Send the request body as application/json.",
                    "invalid_request_error",
                    "unsupported_media_type",
                    cors,
                    identity=identity,
                )
            )
        parsed: Any = {}
        if body.strip():
            try:
                parsed = json.loads(body, parse_constant=_reject_constant)
            except ValueError:  # JSONDecodeError and UnicodeDecodeError
                raise _Refusal(
                    self._error(
                        400,
                        "The request body is not valid JSON.",
                        "invalid_request_error",
                        "invalid_json",
                        cors,
                        identity=identity,
                    )
                ) from None
        if not isinstance(parsed, dict):
            raise _Refusal(
                self._error(
                    400,
                    "The request body must be a JSON object.",
                    "invalid_request_error",
                    "invalid_body",
                    cors,
                    identity=identity,
                )
            )
        try:
            return self._policy.terms(parsed)
        except PolicyError as exc:
            raise _Refusal(
                self._error(
                    400, exc.message, "invalid_request_error", exc.code, cors, param=exc.field, identity=identity
                )
            ) from None

    def _limited(self, retry_after: float | None, cors: list[tuple[str, str]], identity: str) -> None:
        if retry_after is None:
            return
        seconds = int(retry_after)
        raise _Refusal(
            self._error(
                429,
                f"Too many keys requested: try again in {seconds} s.",
                "rate_limit_error",
                "rate_limited",
                cors,
                extra=[("Retry-After", str(seconds))],
                identity=identity,
                retry_after=seconds,
            )
        )

    def _mint_sync(self, terms: SessionTerms, identity: str, cors: list[tuple[str, str]]) -> TokenResponse:
        try:
            retry_after = self._limiter.hit(identity)
        except LimiterUnavailable as exc:
            return self._limiter_down(exc, cors, identity)
        self._limited(retry_after, cors, identity)
        try:
            minter = self.minter
            return self._success(minter.call(self._body(terms, minter)), identity, cors)
        except Exception as exc:
            return self._failure(exc, terms, identity, cors)

    async def _mint_async(self, terms: SessionTerms, identity: str, cors: list[tuple[str, str]]) -> TokenResponse:
        try:
            if self._limiter.in_memory:
                retry_after = self._limiter.hit(identity)
            else:
                retry_after = await asyncio.to_thread(self._limiter.hit, identity)
        except LimiterUnavailable as exc:
            return self._limiter_down(exc, cors, identity)
        self._limited(retry_after, cors, identity)
        try:
            minter = self.minter
            return self._success(await minter.acall(self._body(terms, minter)), identity, cors)
        except Exception as exc:
            return self._failure(exc, terms, identity, cors)

    @staticmethod
    def _body(terms: SessionTerms, minter: Minter) -> dict[str, Any]:
        return terms.ga_body() if minter.shape == "ga" else terms.beta_body()

    def _success(self, result: Any, identity: str, cors: list[tuple[str, str]]) -> TokenResponse:
        request_id = getattr(result, "request_id", None)
        return TokenResponse(200, self._headers(cors), _dumps(result.to_dict()), identity, request_id)

    # -- errors -------------------------------------------------------------------------------------------

    def _failure(
        self, exc: Exception, terms: SessionTerms, identity: str, cors: list[tuple[str, str]]
    ) -> TokenResponse:
        """Map what went wrong upstream (or in validation) to this endpoint's own answer; never echo it."""
        if isinstance(exc, RequestValidationError):
            for wire in exc.fields:
                name = endpoint_field(wire)
                if name is not None and name in terms.chosen:
                    detail = " ".join(exc.messages[wire])
                    return self._error(
                        400,
                        f"{name}: {detail}",
                        "invalid_request_error",
                        "invalid_value",
                        cors,
                        param=name,
                        identity=identity,
                    )
            logger.error("the server's session configuration fails validation: fields %s", ", ".join(exc.fields))
            return self._error(
                500,
                "The server's session configuration is invalid.",
                "server_error",
                "server_misconfigured",
                cors,
                identity=identity,
            )
        if isinstance(exc, APIStatusError):
            return self._upstream_status(exc, terms, identity, cors)
        if isinstance(exc, APIConnectionError):
            timeout = isinstance(exc, APITimeoutError)
            logger.warning("upstream %s: %s", "timed out" if timeout else "unreachable", type(exc).__name__)
            return self._error(
                502,
                "The upstream API did not answer." if not timeout else "The upstream API did not answer in time.",
                "upstream_error",
                "upstream_timeout" if timeout else "upstream_unreachable",
                cors,
                identity=identity,
            )
        if isinstance(exc, ResponseValidationError):
            logger.error("upstream answered an invalid key response (request_id=%s)", exc.request_id)
            return self._error(
                502,
                "The upstream API answered something unusable.",
                "upstream_error",
                "upstream_invalid_response",
                cors,
                identity=identity,
                request_id=exc.request_id,
            )
        return self._internal(exc, cors, identity)

    def _upstream_status(
        self, exc: APIStatusError, terms: SessionTerms, identity: str, cors: list[tuple[str, str]]
    ) -> TokenResponse:
        status, request_id = exc.status_code, exc.request_id
        if status in (400, 422) and exc.param:
            name = endpoint_field(exc.param)
            if name is not None and name in terms.chosen:
                logger.info("upstream rejected the browser's %s (request_id=%s, code=%s)", name, request_id, exc.code)
                return self._error(
                    400,
                    f"The Realtime API rejected the value of {name!r}.",
                    "invalid_request_error",
                    "invalid_value",
                    cors,
                    param=name,
                    identity=identity,
                    request_id=request_id,
                )
        if status in _RETRIED_UPSTREAM or status >= 500:
            retry_after = exc.retry_after if exc.retry_after and exc.retry_after > 0 else UPSTREAM_RETRY_AFTER
            seconds = min(MAX_RETRY_AFTER, max(1, math.ceil(retry_after)))
            logger.warning(
                "upstream unavailable after retries: %d (request_id=%s, code=%s)", status, request_id, exc.code
            )
            return self._error(
                503,
                f"The upstream API is unavailable: try again in {seconds} s.",
                "upstream_error",
                "upstream_unavailable",
                cors,
                extra=[("Retry-After", str(seconds))],
                identity=identity,
                request_id=request_id,
                retry_after=seconds,
            )
        if status in (401, 403):
            logger.error(
                "upstream rejected this server's API key: %d (request_id=%s, code=%s)", status, request_id, exc.code
            )
        else:
            logger.error(
                "upstream refused the mint: %d (request_id=%s, code=%s, param=%s)",
                status,
                request_id,
                exc.code,
                exc.param,
            )
        return self._error(
            502,
            "The upstream API refused to mint a key.",
            "upstream_error",
            "upstream_error",
            cors,
            identity=identity,
            request_id=request_id,
        )

    def _limiter_down(self, exc: LimiterUnavailable, cors: list[tuple[str, str]], identity: str) -> TokenResponse:
        logger.error("rate-limit storage unavailable (%s): refusing to mint unchecked", exc)
        return self._error(
            503,
            "Try again shortly.",
            "server_error",
            "rate_limiter_unavailable",
            cors,
            extra=[("Retry-After", str(UPSTREAM_RETRY_AFTER))],
            identity=identity,
            retry_after=UPSTREAM_RETRY_AFTER,
        )

    def _internal(
        self, exc: BaseException, cors: Iterable[tuple[str, str]] = (), identity: str | None = None
    ) -> TokenResponse:
        if isinstance(exc, ConfigurationError):
            logger.error("configuration error: %s", exc)
            return self._error(
                500, "The server is misconfigured.", "server_error", "server_misconfigured", cors, identity=identity
            )
        logger.error("unexpected error while minting", exc_info=exc)
        return self._error(500, "Internal error.", "server_error", "internal_error", cors, identity=identity)

    # -- CORS and plumbing --------------------------------------------------------------------------------

    def _allowed_origin(self, origin: str) -> str | None:
        return origin if origin.lower().rstrip("/") in self.settings.cors_origins else None

    def _cors(self, request: TokenRequest) -> list[tuple[str, str]]:
        """The CORS headers for this request's origin; a foreign origin is refused outright (403, no key)."""
        origin = request.header("origin")
        if origin is None:
            return []
        if self._allowed_origin(origin) is not None:
            headers = [("Access-Control-Allow-Origin", origin), ("Access-Control-Expose-Headers", "Retry-After")]
            if self.settings.cors_credentials:
                headers.append(("Access-Control-Allow-Credentials", "true"))
            return headers
        host = request.header("host")
        if host and urlsplit(origin).netloc.lower() == host.lower():
            return []  # same origin (the demo page, or a host app's own page)
        raise _Refusal(self._error(403, "This origin may not request keys.", "permission_error", "origin_not_allowed"))

    def _headers(
        self, cors: Iterable[tuple[str, str]] = (), extra: Iterable[tuple[str, str]] = ()
    ) -> list[tuple[str, str]]:
        headers = [*_COMMON_HEADERS, *cors, *extra]
        if self._vary:
            headers.append(("Vary", "Origin"))
        return headers

    def _answer(self, status: int, body: bytes, extra: Iterable[tuple[str, str]] = ()) -> TokenResponse:
        return TokenResponse(status, self._headers((), extra), body)

    def _error(
        self,
        status: int,
        message: str,
        type_: str,
        code: str,
        cors: Iterable[tuple[str, str]] = (),
        extra: Iterable[tuple[str, str]] = (),
        *,
        param: str | None = None,
        identity: str | None = None,
        request_id: str | None = None,
        retry_after: int | None = None,
    ) -> TokenResponse:
        error: dict[str, Any] = {"message": message, "type": type_, "code": code, "param": param}
        if retry_after is not None:
            error["retry_after"] = retry_after
        return TokenResponse(status, self._headers(cors, extra), _dumps({"error": error}), identity, request_id)


def _reachable(base_url: str, timeout: float = 2.0) -> str:
    parts = urlsplit(base_url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname or "", port), timeout=timeout).close()
    except OSError as exc:
        return f"unreachable ({type(exc).__name__})"
    return "ok"
