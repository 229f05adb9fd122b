"""What a route answers when the call behind it fails: one mapping for ``/token`` and ``/session``.

Every answer is built by :func:`~..admission.answers.error_answer` (the one builder of error answers: common
headers, then the route's CORS headers, then ``Retry-After``); the route adds ``Vary`` as it does to all its
answers. Nothing the upstream said is echoed to the browser: a bad value the browser chose is a 400 naming its field;
a bad value of the server's own configuration is a 500 ``server_misconfigured`` (logged with the fields);
an upstream that is overloaded or down after the service's retries is a 503 with ``Retry-After``; an upstream
that refuses this server (its key, its request) is a 502; no answer is a 502 ``upstream_timeout`` or
``upstream_unreachable``; an unusable answer (one the service could not read, or one a route will not pass on:
:class:`UnusableAnswer`) a 502 ``upstream_invalid_response``. What is not an upstream failure is a bug or a
configuration error: :func:`internal_failure`'s 500.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable

from realtime_service.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    ConfigurationError,
    RequestValidationError,
    ResponseValidationError,
)

from ..admission.answers import error_answer
from ..messages import WebResponse
from .policy import endpoint_field

logger = logging.getLogger("realtime_service.web")

#: Seconds a browser is told to wait after an upstream outage when the upstream named no time.
UPSTREAM_RETRY_AFTER = 5
MAX_RETRY_AFTER = 86400
_RETRIED_UPSTREAM = frozenset({408, 409, 429})

#: What the 502 says the upstream refused to do, per action.
_REFUSED = {"mint": "The upstream API refused to mint a key.", "call": "The upstream API refused to start the call."}
#: What the route was doing, per action, for the log line of an unexpected error.
_DOING = {"mint": "minting", "call": "starting a call"}


class UnusableAnswer(Exception):
    """A 2xx answer a route will not pass on (``/session``: an SDP answer holding a server secret). The thing it
    created may exist upstream: ``call_id`` names it when the answer did."""

    def __init__(self, call_id: str | None, request_id: str | None) -> None:
        super().__init__("unusable answer")
        self.call_id = call_id
        self.request_id = request_id


def upstream_failure(
    exc: Exception,
    chosen: Iterable[str],
    identity: str,
    cors: list[tuple[str, str]],
    *,
    action: str = "mint",
) -> WebResponse:
    """The answer for ``exc`` raised by the upstream call (:func:`internal_failure`'s 500 for what is not an
    upstream failure). ``chosen`` names the fields the browser set: only those are the browser's fault."""
    chosen = frozenset(chosen)
    if isinstance(exc, RequestValidationError):
        for wire in exc.fields:
            name = endpoint_field(wire)
            if name is not None and name in chosen:
                detail = " ".join(exc.messages[wire])
                return error_answer(
                    400,
                    f"{name}: {detail}",
                    "invalid_request_error",
                    "invalid_value",
                    cors,
                    param=name,
                    identity=identity,
                )
        logger.error("the server's session configuration fails validation: fields %s", ", ".join(exc.fields))
        return error_answer(
            500,
            "The server's session configuration is invalid.",
            "server_error",
            "server_misconfigured",
            cors,
            identity=identity,
        )
    if isinstance(exc, APIStatusError):
        return _upstream_status(exc, chosen, identity, cors, action)
    if isinstance(exc, APIConnectionError):
        timeout = isinstance(exc, APITimeoutError)
        logger.warning("upstream %s: %s", "timed out" if timeout else "unreachable", type(exc).__name__)
        return error_answer(
            502,
            "The upstream API did not answer." if not timeout else "The upstream API did not answer in time.",
            "upstream_error",
            "upstream_timeout" if timeout else "upstream_unreachable",
            cors,
            identity=identity,
        )
    if isinstance(exc, ResponseValidationError | UnusableAnswer):
        if isinstance(exc, ResponseValidationError):  # an UnusableAnswer was logged where it was found
            what = "key" if action == "mint" else "call"
            logger.error("upstream answered an invalid %s response (request_id=%s)", what, exc.request_id)
        return error_answer(
            502,
            "The upstream API answered something unusable.",
            "upstream_error",
            "upstream_invalid_response",
            cors,
            identity=identity,
            request_id=exc.request_id,
        )
    return internal_failure(exc, cors, identity, action=action)


def internal_failure(
    exc: BaseException, cors: Iterable[tuple[str, str]] = (), identity: str | None = None, *, action: str = "mint"
) -> WebResponse:
    """The 500 for what is not an upstream failure: a configuration error (logged as one line) or a bug (logged
    with its traceback); never the exception's text."""
    if isinstance(exc, ConfigurationError):
        logger.error("configuration error: %s", exc)
        return error_answer(
            500, "The server is misconfigured.", "server_error", "server_misconfigured", cors, identity=identity
        )
    logger.error("unexpected error while %s", _DOING.get(action, action), exc_info=exc)
    return error_answer(500, "Internal error.", "server_error", "internal_error", cors, identity=identity)


def _upstream_status(
    exc: APIStatusError,
    chosen: frozenset[str],
    identity: str,
    cors: list[tuple[str, str]],
    action: str,
) -> WebResponse:
    status, request_id = exc.status_code, exc.request_id
    if status in (400, 422) and exc.param:
        name = endpoint_field(exc.param)
        if name is not None and name in chosen:
            logger.info("upstream rejected the browser's %s (request_id=%s, code=%s)", name, request_id, exc.code)
            api = "Realtime" if action == "mint" else "upstream"
            return error_answer(
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
        return error_answer(
            503,
            f"The upstream API is unavailable: try again in {seconds} s.",
            "upstream_error",
            "upstream_unavailable",
            [*cors, ("Retry-After", str(seconds))],
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
    return error_answer(
        502,
        _REFUSED.get(action, _REFUSED["mint"]),
        "upstream_error",
        "upstream_error",
        cors,
        identity=identity,
        request_id=request_id,
    )
