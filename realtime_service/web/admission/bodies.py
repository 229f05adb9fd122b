"""Request bodies: the size limit, and the JSON object a JSON route takes.

The adapters read at most ``server.max_body_bytes + 1`` bytes (waitress itself refuses a declared or streamed
body over the limit earlier, see :mod:`~realtime_service.web.servers.waitress_guard`); :func:`check_size` turns the
overflow into 413. :func:`json_object` parses strictly: no ``NaN``/``Infinity``, and a body nested deeper than
:data:`MAX_JSON_DEPTH` (or than Python's parser goes, ``RecursionError``) is one more invalid body, a cheap 400,
never a 500 with a traceback. Routes with other bodies (raw SDP, signed webhook bytes) use :func:`check_size`
and :func:`media_type` and parse their own.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from ..messages import WebRequest
from .answers import Refused, error_answer

#: Deepest nesting accepted before parsing is even tried (the session fields need a handful of levels).
MAX_JSON_DEPTH = 64
#: What a request may make the server read beyond its head and body: chunk-size lines, chunk extensions, the
#: final chunk and trailers (a client sending a body in a few chunks uses tens of bytes).
FRAMING_BYTES = 4096
#: Header lines a request may have (trailers included); each costs a little more than its bytes.
MAX_HEADER_COUNT = 100


def max_request_bytes(max_header_bytes: int, max_body_bytes: int) -> int:
    """The most bytes one request may make a server read, whatever part of it: head, body and framing."""
    return max_header_bytes + max_body_bytes + FRAMING_BYTES


def check_size(request: WebRequest, max_bytes: int, headers: Iterable[tuple[str, str]] = ()) -> None:
    """413 for a body over ``max_bytes`` (a body of exactly ``max_bytes`` is accepted: the maximum is inclusive)."""
    if request.body_too_large or len(request.body) > max_bytes:
        raise Refused(
            error_answer(
                413,
                f"The request body is larger than {max_bytes} bytes.",
                "invalid_request_error",
                "body_too_large",
                # The rest of the body may still be on its way: this connection is closed, not reused.
                [*headers, ("Connection", "close")],
            )
        )


def media_type(request: WebRequest) -> str:
    """The request's media type, lower-case, parameters dropped (``""`` when none was sent)."""
    return (request.header("content-type") or "").split(";", 1)[0].strip().lower()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class NestedTooDeeply(ValueError):
    """JSON text nested deeper than :data:`MAX_JSON_DEPTH`: refused before it is parsed."""


def _too_deep(body: bytes, limit: int) -> bool:
    """A cheap upper bound on the nesting (brackets inside strings count too, so it may over-count, which only
    refuses bodies no session needs)."""
    depth = 0
    for byte in body:
        if byte in b"[{":
            depth += 1
            if depth > limit:
                return True
        elif byte in b"]}":
            depth -= 1
    return False


def parse_json(text: bytes | str) -> Any:
    """JSON text a client sent (``/token``'s body, ``/session``'s ``tools`` and ``turn_detection``), parsed
    strictly: no ``NaN``/``Infinity``, nested at most :data:`MAX_JSON_DEPTH` deep. Anything else is a
    :class:`ValueError` (:class:`NestedTooDeeply` for the depth), never a ``RecursionError``: a client's JSON must
    not reach code that recurses over it (validation, encoding) deeper than that, where it would fail as a 500."""
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if _too_deep(raw, MAX_JSON_DEPTH):
        raise NestedTooDeeply(f"nested more than {MAX_JSON_DEPTH} levels deep")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:  # unreachable under the bound above; kept so no parser limit can become a 500
        raise NestedTooDeeply(f"nested more than {MAX_JSON_DEPTH} levels deep") from None


def json_object(
    request: WebRequest, headers: Iterable[tuple[str, str]] = (), identity: str | None = None
) -> dict[str, Any]:
    """The body as a JSON object (``{}`` for an empty body), or :class:`Refused` 415/400."""
    body = request.body
    media = media_type(request)
    headers = list(headers)
    if (body.strip() or media) and media != "application/json" and not media.endswith("+json"):
        raise Refused(
            error_answer(
                415,
                "Send the request body as application/json.",
                "invalid_request_error",
                "unsupported_media_type",
                headers,
                identity=identity,
            )
        )
    if not body.strip():
        return {}
    try:
        parsed = parse_json(body)
    except ValueError:  # JSONDecodeError, UnicodeDecodeError, NestedTooDeeply
        raise Refused(
            error_answer(
                400,
                "The request body is not valid JSON.",
                "invalid_request_error",
                "invalid_json",
                headers,
                identity=identity,
            )
        ) from None
    if not isinstance(parsed, dict):
        raise Refused(
            error_answer(
                400,
                "The request body must be a JSON object.",
                "invalid_request_error",
                "invalid_body",
                headers,
                identity=identity,
            )
        )
    return parsed
