"""The one access-log line per request, every value from the request escaped first.

A request controls its method, path and (through a hook) even its identity: logged raw, a percent-decoded
``%0a`` would start a forged line of its own. :func:`escape` turns control characters (newlines included),
backslashes and non-ASCII into ``\\xNN``/``\\uNNNN`` escapes, and cuts long values, so one request is one line.
Headers, bodies and query strings are never logged: keys and tokens live there; a phone number in a path is
masked (:func:`~realtime_service.webhooks.masking.mask_text`).

The line's values are also the record's fields (``extra=``), already escaped: ``method``, ``route`` (the path,
masked), ``status``, ``duration_ms``, and when known ``identity``, ``request_id`` (the upstream's) and ``call_id``
(the call ``/session`` started); ``serve``'s JSON logs (:mod:`~realtime_service.web.servers.logs`) write them as
they are, never parsing the message. (``path`` and ``elapsed_ms`` are the older names of ``route`` and
``duration_ms``, kept for hosts that read them.)
"""

from __future__ import annotations

import logging
import time

from ...observability import metrics
from ...webhooks.masking import mask_text
from ..messages import CALL_ID_HEADER, WebRequest, WebResponse

access_logger = logging.getLogger("realtime_service.web.access")

#: The status of a request whose client went away before its answer (nginx's): one access line, nothing sent.
CLIENT_CLOSED = 499
#: Longest value written as is; longer ones are cut (and say so), so a 16 KiB path is not a 16 KiB log line.
MAX_LOGGED = 256


def escape(value: str | None, limit: int = MAX_LOGGED) -> str:
    """``value`` as one printable ASCII token (``-`` for nothing)."""
    if value is None or value == "":
        return "-"
    cut = len(value) > limit
    text = value[:limit]
    if text.isascii() and text.isprintable() and "\\" not in text:
        escaped = text
    else:
        escaped = text.encode("unicode_escape").decode("ascii")
        escaped = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in escaped)
    return escaped + ("...(cut)" if cut else "")


def log_access(request: WebRequest, response: WebResponse, started: float, note: str | None = None) -> None:
    """Log ``request`` answered by ``response``, ``started`` being its ``time.perf_counter()``; count it in the
    metrics (:mod:`~realtime_service.observability.metrics`; a no-op when they are off)."""
    metrics.request_answered(request.path, response.status, response.error_code)
    if not access_logger.isEnabledFor(logging.INFO):
        return
    elapsed_ms = (time.perf_counter() - started) * 1000.0
    log_line(
        request.method,
        request.path,
        response.status,
        elapsed_ms,
        response.identity,
        response.request_id,
        note,
        call_id=response.header(CALL_ID_HEADER),
    )


def log_answer(request: WebRequest, response: WebResponse, started: float) -> None:
    """:func:`log_access` for a route's answer: a :data:`CLIENT_CLOSED` one says the client disconnected."""
    log_access(request, response, started, "client disconnected" if response.status == CLIENT_CLOSED else None)


def log_line(
    method: str | None,
    path: str | None,
    status: int,
    elapsed_ms: float,
    identity: str | None = None,
    request_id: str | None = None,
    note: str | None = None,
    *,
    call_id: str | None = None,
    counted_as: str | None = None,
) -> None:
    """The access line itself, for the routes and for the answers the servers give on their own; those pass
    ``counted_as``, their answer's error code, and are counted in the metrics here."""
    if counted_as is not None:
        metrics.request_answered(path, status, counted_as)
    if not access_logger.isEnabledFor(logging.INFO):
        return
    method_, path_ = escape(method, 16), escape(mask_text(path) if path else path)  # a number in a path: masked
    identity_, request_id_ = escape(identity), escape(request_id)
    call_id_ = escape(call_id, 64)
    suffix = (f", call_id={call_id_}" if call_id else "") + (f", {escape(note)}" if note else "")
    access_logger.info(
        "%s %s -> %d in %.1f ms (identity=%s, request_id=%s%s)",
        method_,
        path_,
        status,
        elapsed_ms,
        identity_,
        request_id_,
        suffix,
        extra={
            "method": method_,
            "path": path_,
            "status": status,
            "elapsed_ms": elapsed_ms,
            "route": path_,
            "duration_ms": round(elapsed_ms, 3),
            "identity": identity_ if identity else None,
            "request_id": request_id_ if request_id else None,
            "call_id": call_id_ if call_id else None,
            "note": escape(note) if note else None,
        },
    )
