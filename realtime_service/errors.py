"""The exception tree. Names mirror the official OpenAI SDK so users already know them.

Every error raised by this package derives from :class:`RealtimeServiceError`. No message, ``str`` or
``repr`` of these errors contains the API key or a minted secret: server text is scrubbed on the way in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class RealtimeServiceError(Exception):
    """Base class of every error this package raises."""


class ConfigurationError(RealtimeServiceError):
    """The configuration is missing a key or holds a value that cannot work."""


class RequestValidationError(RealtimeServiceError, ValueError):
    """The request failed validation before anything was sent.

    ``messages`` maps each offending field, as a dotted path (``turn_detection.threshold``), to its messages.
    """

    def __init__(self, messages: Mapping[str, list[str]]) -> None:
        self.messages: dict[str, list[str]] = {field: list(msgs) for field, msgs in messages.items()}
        detail = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in sorted(self.messages.items()))
        super().__init__(f"invalid request: {detail}")

    @property
    def fields(self) -> list[str]:
        """The offending fields, sorted."""
        return sorted(self.messages)


class ResponseValidationError(RealtimeServiceError):
    """A 2xx answer whose body is not the JSON object the operation promises.

    ``headers`` (lower-case names) are the answer's, when the operation kept them: a 2xx that created something
    may name it there (``Location``) though its body is unusable.
    """

    def __init__(
        self,
        message: str,
        *,
        request_id: str | None = None,
        status_code: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.request_id = request_id
        self.status_code = status_code
        self.headers: dict[str, str] = dict(headers or {})
        super().__init__(f"{message} (request_id={request_id})" if request_id else message)


class APIConnectionError(RealtimeServiceError):
    """No HTTP answer was received: DNS, refused or reset connection, TLS failure, cut-off body.

    ``request_sent`` is ``False`` only when the request certainly never reached the server (the connection was
    never made), which is what decides whether a billable, non-idempotent operation may be retried.

    ``headers`` (lower-case names) are the head of an answer whose body was then lost (cut short, timed out,
    too large), empty when no head arrived, and ``partial_body`` the start (4 KiB at most) of the decoded body
    bytes that did arrive: a
    create that was carried out may name what it created there (``Location``, a Live session's ``id``), and
    that is all that is left to hang it up by. Neither is in the message.
    """

    def __init__(
        self,
        message: str = "Connection error.",
        *,
        request_sent: bool = True,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.message = message
        self.request_sent = request_sent
        self.headers: dict[str, str] = dict(headers or {})
        self.partial_body = b""
        super().__init__(message)


class APITimeoutError(APIConnectionError):
    """The connect or read timeout, or the call's total timeout, ran out."""

    def __init__(
        self,
        message: str = "Request timed out.",
        *,
        request_sent: bool = True,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message, request_sent=request_sent, headers=headers)


class APIStatusError(RealtimeServiceError):
    """The API answered with a status other than 2xx.

    ``type``, ``code``, ``param`` and ``message`` come from OpenAI's error body
    (``{"error": {"message", "type", "param", "code"}}``) when the body has that shape; ``headers`` holds the
    response headers (lower-case keys), ``retry_after`` the server's requested wait in seconds, if any.
    """

    status_code: int

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        request_id: str | None = None,
        body: Any = None,
        type: str | None = None,  # noqa: A002 - the API's own name
        code: str | None = None,
        param: str | None = None,
        retry_after: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.message = message
        self.status_code = status_code
        self.request_id = request_id
        self.body = body
        self.type = type
        self.code = code
        self.param = param
        self.retry_after = retry_after
        self.headers: Mapping[str, str] = headers if headers is not None else {}
        suffix = f" (request_id={request_id})" if request_id else ""
        super().__init__(f"Error code: {status_code} - {message}{suffix}")


class BadRequestError(APIStatusError):
    """400: a field or value the API rejects."""


class AuthenticationError(APIStatusError):
    """401: invalid or missing API key."""


class PermissionDeniedError(APIStatusError):
    """403: region not supported or permission denied."""


class NotFoundError(APIStatusError):
    """404."""


class ConflictError(APIStatusError):
    """409."""


class UnprocessableEntityError(APIStatusError):
    """422."""


class RateLimitError(APIStatusError):
    """429: rate limit reached or quota exhausted."""


class InternalServerError(APIStatusError):
    """5xx."""


#: Why a webhook was refused: :attr:`WebhookVerificationError.reason` is one of these.
WEBHOOK_FAILURE_REASONS = ("missing_header", "stale", "future", "bad_signature", "bad_secret", "malformed")


class WebhookVerificationError(RealtimeServiceError, ValueError):
    """A webhook delivery was refused: unsigned, wrongly signed, out of the time window, or not a valid event.

    ``reason`` says why in one word (:data:`WEBHOOK_FAILURE_REASONS`): ``bad_secret`` is *our* configuration's
    fault (the endpoint should answer 500 and log it); every other reason is the request's (answer 400). The
    message never quotes the secret, the signature or the body.
    """

    def __init__(self, reason: str, message: str) -> None:
        if reason not in WEBHOOK_FAILURE_REASONS:
            raise ValueError(f"unknown webhook failure reason {reason!r}")
        self.reason = reason
        super().__init__(f"webhook refused ({reason}): {message}")


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def status_error_class(status_code: int) -> type[APIStatusError]:
    """The exception class the SDK uses for ``status_code``."""
    if status_code >= 500:
        return InternalServerError
    return _BY_STATUS.get(status_code, APIStatusError)


__all__ = [
    "WEBHOOK_FAILURE_REASONS",
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "ConflictError",
    "InternalServerError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RealtimeServiceError",
    "RequestValidationError",
    "ResponseValidationError",
    "UnprocessableEntityError",
    "WebhookVerificationError",
    "status_error_class",
]
