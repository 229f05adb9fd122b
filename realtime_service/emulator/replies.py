"""What an endpoint returns, and OpenAI's wire conventions for ids and error bodies."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Default (type, code, message) of the error body for a status, as the real API words them.
_STATUS_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Bad request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("request_forbidden", "unsupported_country_region_territory", "Country, region, or territory not supported."),
    404: ("invalid_request_error", None, "Not found."),
    408: ("server_error", None, "Request timed out."),
    409: ("invalid_request_error", None, "Conflict: the resource was modified concurrently."),
    422: ("invalid_request_error", None, "Unprocessable entity."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests. Please try again later."),
    500: ("server_error", None, "The server had an error while processing your request. Sorry about that!"),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
    504: ("server_error", None, "Gateway timeout."),
}


_URLSAFE_TO_ALNUM = str.maketrans("-_", "xZ")


def random_id(prefix: str) -> str:
    """An id shaped like OpenAI's: ``sess_`` and 24 letters and digits (cheap: no per-character draw)."""
    return prefix + secrets.token_urlsafe(18).translate(_URLSAFE_TO_ALNUM)


def error_body(message: str, *, type: str, param: str | None = None, code: str | None = None) -> bytes:  # noqa: A002
    """OpenAI's ``ErrorResponse``: all four keys of ``error`` are always present."""
    return json.dumps({"error": {"message": message, "type": type, "param": param, "code": code}}).encode()


def default_error_body(
    status: int,
    *,
    message: str | None = None,
    type: str | None = None,  # noqa: A002 - the API's own name
    code: str | None = None,
    param: str | None = None,
) -> bytes:
    """An error body for ``status`` with the real API's usual type and code, each overridable."""
    default_type, default_code, default_message = _STATUS_ERRORS.get(
        status,
        ("server_error" if status >= 500 else "invalid_request_error", None, f"HTTP {status}."),
    )
    return error_body(
        message if message is not None else default_message,
        type=type if type is not None else default_type,
        param=param,
        code=code if code is not None else default_code,
    )


@dataclass(frozen=True, slots=True)
class Reply:
    """One HTTP answer before delivery. The server adds the common headers (request id, version...)."""

    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str = "application/json"

    @classmethod
    def json(cls, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Reply:
        return cls(status, json.dumps(payload).encode(), tuple((headers or {}).items()))

    @classmethod
    def error(
        cls,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",  # noqa: A002 - the API's own name
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        return cls(status, error_body(message, type=type, param=param, code=code), tuple((headers or {}).items()))
