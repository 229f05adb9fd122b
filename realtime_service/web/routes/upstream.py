"""What a route answers when the upstream call behind it fails: one mapping for ``/token`` and ``/session``.

Nothing the upstream said is echoed to the browser: a bad value the browser chose is a 400 naming its field;
a bad value of the server's own configuration is a 500 ``server_misconfigured`` (logged with the fields);
an upstream that is overloaded or down after the service's retries is a 503 with ``Retry-After``; an upstream
that refuses this server (its key, its request) is a 502; no answer is a 502 ``upstream_timeout`` or
``upstream_unreachable``; an unusable answer a 502 ``upstream_invalid_response``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from typing import Any

from realtime_service.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    RequestValidationError,
    ResponseValidationError,
)

from ..messages import WebResponse
from .policy import endpoint_field

logger = logging.getLogger("realtime_service.web")

#: Seconds a browser is told to wait after an upstream outage when the upstream named no time.
UPSTREAM_RETRY_AFTER = 5
MAX_RETRY_AFTER = 86400
_RETRIED_UPSTREAM = frozenset({408, 409, 429})

#: A route's error builder: ``(status, message, type, code, cors, extra, *, param, identity, request_id,
#: retry_after) -> WebResponse`` (the route adds its own common headers).
ErrorBuilder = Callable[..., WebResponse]

#: What the 502 says the upstream refused to do, per action.
_REFUSED = {"mint": "The upstream API refused to mint a key.", "call": "The upstream API refused to start the call."}


def upstream_failure(
    exc: Exception,
    chosen: Iterable[str],
    identity: str,
    cors: list[tuple[str, str]],
    error: ErrorBuilder,
    *,
    action: str = "mint",
) -> WebResponse | None:
    """The answer for ``exc`` raised by the upstream call (``None``: not an upstream failure, a bug for the
    route's 500). ``chosen`` names the fields the browser set: only those are the browser's fault."""
    chosen = frozenset(chosen)
    if isinstance(exc, RequestValidationError):
        for wire in exc.fields:
            name = endpoint_field(wire)
            if name is not None and name in chosen:
                detail = " ".join(exc.messages[wire])
                return error(
                    400,
                    f"{name}: {detail}",
                    "invalid_request_error",
                    "invalid_value",
                    cors,
                    param=name,
                    identity=identity,
                )
        logger.error("the server's session configuration fails validation: fields %s", ", ".join(exc.fields))
        return error(
            500,
            "The server's session configuration is invalid.",
            "server_error",
            "server_misconfigured",
            cors,
            identity=identity,
        )
    if isinstance(exc, APIStatusError):
        return _upstream_status(exc, chosen, identity, cors, error, action)
    if isinstance(exc, APIConnectionError):
        timeout = isinstance(exc, APITimeoutError)
        logger.warning("upstream %s: %s", "timed out" if timeout else "unreachable", type(exc).__name__)
        return error(
            502,
            "The upstream API did not answer." if not timeout else "The upstream API did not answer in time.",
            "upstream_error",
            "upstream_timeout" if timeout else "upstream_unreachable",
            cors,
            identity=identity,
        )
    if isinstance(exc, ResponseValidationError):
        what = "key" if action == "mint" else "call"
        logger.error("upstream answered an invalid %s response (request_id=%s)", what, exc.request_id)
        return error(
            502,
            "The upstream API answered something unusable.",
            "upstream_error",
            "upstream_invalid_response",
            cors,
            identity=identity,
            request_id=exc.request_id,
        )
    return None


def _upstream_status(
    exc: APIStatusError,
    chosen: frozenset[str],
    identity: str,
    cors: list[tuple[str, str]],
    error: ErrorBuilder,
    action: str,
) -> WebResponse:
    status, request_id = exc.status_code, exc.request_id
    if status in (400, 422) and exc.param:
        name = endpoint_field(exc.param)
        if name is not None and name in chosen:
            logger.info("upstream rejected the browser's %s (request_id=%s, code=%s)", name, request_id, exc.code)
            api = "Realtime" if action == "mint" else "upstream"
            return error(
                400,
                f"The {api} API rejected the value of {name!r}.",
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
        logger.warning("upstream unavailable after retries: %d (request_id=%s, code=%s)", status, request_id, exc.code)
        extra: Any = [("Retry-After", str(seconds))]
        return error(
            503,
            f"The upstream API is unavailable: try again in {seconds} s.",
            "upstream_error",
            "upstream_unavailable",
            cors,
            extra=extra,
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
            "upstream refused the %s: %d (request_id=%s, code=%s, param=%s)",
            action,
            status,
            request_id,
            exc.code,
            exc.param,
        )
    return error(
        502,
        _REFUSED.get(action, _REFUSED["mint"]),
        "upstream_error",
        "upstream_error",
        cors,
        identity=identity,
        request_id=request_id,
    )
