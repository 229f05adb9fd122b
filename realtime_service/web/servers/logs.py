"""``serve``'s log output: one text line per record (``server.log_format: text``) or one JSON object per line
(``json``), at the package's own levels or at ``server.log_level`` for every logger.

The format only changes how a record is written: the handler's filters (:class:`~realtime_service.redaction.
RedactingFilter`, :class:`~realtime_service.webhooks.masking.MaskingFilter`) have already scrubbed every secret and
masked every phone number from the message, the string fields and the traceback when the formatter sees it.
A JSON line takes its fields from the record (``extra=``: the access line's ``route``, ``status``,
``duration_ms``, ``request_id``, a call's ``call_id``), never by parsing the message, and ``json.dumps`` with
``ensure_ascii`` escapes every newline, ``U+2028`` and non-ASCII character, so a record is always one line.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import Any

from realtime_service.redaction import SECRETS, install_log_redaction

from ...webhooks.masking import MaskingFilter, mask_text

#: Today's text line (and the default).
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: The record fields a JSON line carries when a record has them, in this order (``extra=`` of the log call).
STRUCTURED_FIELDS = ("request_id", "call_id", "method", "route", "status", "duration_ms", "identity", "note")
#: The attribute :class:`~realtime_service.redaction.RedactingFilter` leaves the exception's type name in when it
#: replaces the live traceback by its scrubbed text.
EXC_TYPE_ATTRIBUTE = "exc_type"
#: Marks the stderr handler ``serve`` installed: only that one is re-formatted (a host's or pytest's are not).
_SERVE_HANDLER = "_realtime_service_serve_handler"

#: The package's loggers and their levels when ``server.log_level`` is not set: the access line already names the
#: upstream request id, so per-attempt lines only for retries and failures; calls attached and ended at INFO.
PACKAGE_LEVELS = {
    "realtime_service": logging.WARNING,
    "realtime_service.web": logging.INFO,
    "realtime_service.webhooks": logging.INFO,
    "realtime_service.sideband.phone": logging.INFO,
}


class JsonLogFormatter(logging.Formatter):
    """One JSON object per record, on one line: ``time`` (RFC 3339, UTC, milliseconds), ``level``, ``logger``,
    ``message``, the :data:`STRUCTURED_FIELDS` the record has, and for an exception ``exc_type`` and ``exc`` (the
    traceback as the text format prints it, scrubbed)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _rfc3339(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in STRUCTURED_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value if isinstance(value, str | int | float | bool) else str(value)
        if record.exc_info and record.exc_info[0] is not None:
            entry["exc_type"] = record.exc_info[0].__qualname__
            record.exc_text = record.exc_text or self.formatException(record.exc_info)
        elif isinstance(getattr(record, EXC_TYPE_ATTRIBUTE, None), str):
            entry["exc_type"] = getattr(record, EXC_TYPE_ATTRIBUTE)
        if record.exc_text:
            # normally scrubbed by the handler's filter already; again here, in case a host removed it
            entry["exc"] = mask_text(SECRETS.scrub(record.exc_text))
        if record.stack_info:
            entry["stack"] = SECRETS.scrub(record.stack_info)
        entry["message"] = SECRETS.scrub(entry["message"])
        return json.dumps(entry, ensure_ascii=True, separators=(",", ":"), default=str)


def _rfc3339(created: float) -> str:
    moment = dt.datetime.fromtimestamp(created, dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def configure_logging() -> None:
    """Before any setting is read: a stderr handler in the text format (unless the process has one), every
    secret redacted and every phone number masked on the root's handlers, the package's loggers at
    :data:`PACKAGE_LEVELS`."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
        setattr(handler, _SERVE_HANDLER, True)
        root.addHandler(handler)
        root.setLevel(logging.INFO)
    # Every secret this process holds (API key, bearer tokens, webhook secrets, Redis password) comes out
    # redacted, whoever logs it (uvicorn, waitress, redis, websockets, a host's own code).
    install_log_redaction(handlers=root.handlers)
    # Phone numbers are personal data: whatever logs one through these handlers, it comes out masked.
    for each in root.handlers:
        if not any(isinstance(f, MaskingFilter) for f in each.filters):
            each.addFilter(MaskingFilter())
    for name, level in PACKAGE_LEVELS.items():
        logging.getLogger(name).setLevel(level)


def apply_log_settings(log_format: str, log_level: str | None) -> None:
    """``server.log_format`` on the handler :func:`configure_logging` installed, and ``server.log_level`` (set:
    the root and every package logger at it, third-party loggers included through the root)."""
    root = logging.getLogger()
    formatter = JsonLogFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    for handler in root.handlers:
        if getattr(handler, _SERVE_HANDLER, False):
            handler.setFormatter(formatter)
    if log_level is None:
        return
    level = logging.getLevelNamesMapping()[log_level]
    root.setLevel(level)
    for name in PACKAGE_LEVELS:
        logging.getLogger(name).setLevel(level)
