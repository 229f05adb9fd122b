"""Answers in OpenAI's error shape, for every refusal of every route and of the servers themselves.

``{"error": {"message", "type", "code", "param"}}``, JSON, ``Cache-Control: no-store`` (a browser or proxy must
never keep an answer of a route that hands out keys). :class:`Refused` carries such an answer out of an
admission step; the route or adapter sends it back as it is.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from ..messages import WebResponse
from .accesslog import CLIENT_CLOSED

COMMON_HEADERS: tuple[tuple[str, str], ...] = (
    ("Content-Type", "application/json"),
    ("Cache-Control", "no-store"),
    ("Pragma", "no-cache"),
    ("X-Content-Type-Options", "nosniff"),
)


def dumps(payload: Any) -> bytes:
    """Compact UTF-8 JSON."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def error_body(message: str, type_: str, code: str, param: str | None = None, retry_after: int | None = None) -> bytes:
    error: dict[str, Any] = {"message": message, "type": type_, "code": code, "param": param}
    if retry_after is not None:
        error["retry_after"] = retry_after
    return dumps({"error": error})


def error_answer(
    status: int,
    message: str,
    type_: str,
    code: str,
    headers: Iterable[tuple[str, str]] = (),
    *,
    param: str | None = None,
    identity: str | None = None,
    request_id: str | None = None,
    retry_after: int | None = None,
) -> WebResponse:
    """An error :class:`WebResponse`: the common headers, then ``headers`` (CORS, Retry-After, Vary...)."""
    return WebResponse(
        status,
        [*COMMON_HEADERS, *headers],
        error_body(message, type_, code, param, retry_after),
        identity,
        request_id,
        code,
    )


def client_gone() -> WebResponse:
    """What a route "answers" a client that went away before its answer: nothing is sent, the access line says
    :data:`~.accesslog.CLIENT_CLOSED`."""
    return error_answer(
        CLIENT_CLOSED, "The client closed the connection.", "invalid_request_error", "client_disconnected"
    )


def raw_error(status: int, reason: str, message: str, type_: str, code: str) -> bytes:
    """A whole HTTP/1.1 error response that closes the connection: for answers the servers give themselves
    (malformed requests, bodies or headers over the limit, requests that arrive too slowly)."""
    body = error_body(message, type_, code)
    head = [f"HTTP/1.1 {status} {reason}", *(f"{name}: {value}" for name, value in COMMON_HEADERS)]
    head += [f"Content-Length: {len(body)}", "Connection: close"]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


#: What the servers answer themselves, by status: (reason, message, type, code).
SERVER_ERRORS: dict[int, tuple[str, str, str, str]] = {
    400: ("Bad Request", "The request is not valid HTTP.", "invalid_request_error", "malformed_request"),
    408: ("Request Timeout", "The request did not arrive in time.", "invalid_request_error", "request_timeout"),
    413: ("Payload Too Large", "The request body is too large.", "invalid_request_error", "body_too_large"),
    431: (
        "Request Header Fields Too Large",
        "The request headers are too large.",
        "invalid_request_error",
        "headers_too_large",
    ),
    501: ("Not Implemented", "This request is not supported.", "invalid_request_error", "not_implemented"),
}


def server_error(status: int) -> tuple[str, bytes]:
    """``(reason, body)`` of a server-level error (unknown statuses read as a malformed request)."""
    reason, message, type_, code = SERVER_ERRORS.get(status, SERVER_ERRORS[400])
    return reason, error_body(message, type_, code)


class Refused(Exception):
    """An admission step answers instead of letting the request go on."""

    def __init__(self, response: WebResponse) -> None:
        super().__init__(response.status)
        self.response = response
