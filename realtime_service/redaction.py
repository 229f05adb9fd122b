"""Turning secrets into something safe to print, and the one registry of every secret the deployment holds.

Settings loading registers each secret it reads (:data:`SECRETS`): the API key (:func:`~realtime_service.config.
load_settings`), the bearer tokens of ``/token`` auth, every webhook signing secret, current and rotated, and the
password of a ``redis://`` URL (:func:`~realtime_service.web.settings.load_server_settings`). :func:`scrub` and
:func:`scrub_json` replace every registered secret (and any passed explicitly) with its :func:`redact` form, and
:class:`RedactingFilter` does the same to log records, so an upstream error that quotes a webhook secret is as
harmless in a log line, an exception or CLI output as one that quotes the API key.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

#: Strings shorter than this are not registered: they cannot be told apart from ordinary words in a log line.
MIN_SECRET_LENGTH = 8
#: Secrets shorter than this are shown as ``***`` by :func:`redact`.
MIN_SHOWN_LENGTH = 12
#: The last characters :func:`redact` shows, and the furthest a visible prefix may end (``whsec_``, ``sk-``).
SHOWN_TAIL = 4
MAX_PREFIX = 8
WEBHOOK_PREFIX = "whsec_"
#: Environment variables that hold secrets (read by :meth:`SecretRegistry.add_environment`).
SECRET_VARIABLES = ("OPENAI_API_KEY", "AZURE_OPENAI_API_KEY", "OPENAI_WEBHOOK_SECRET", "REALTIME_SERVICE_TOKENS")


def redact(secret: str | None) -> str:
    """Show a secret as ``ek_...abcd``: its prefix up to the first ``_``/``-`` and its last four characters.

    The prefix names the kind of key (``sk-``, ``ek_``, ``whsec_``) and is shown only when it ends within the first
    :data:`MAX_PREFIX` characters and what is shown stays under a third of the secret; short secrets are hidden
    entirely, so redaction never reveals most of a key.
    """
    if not secret:
        return "<none>"
    if len(secret) < MIN_SHOWN_LENGTH:
        return "***"
    cuts = [index for index in (secret.find("_"), secret.find("-")) if index > 0]
    cut = min(cuts) if cuts else 0
    shown = cut + 1 + SHOWN_TAIL
    prefix = secret[: cut + 1] if 0 < cut < MAX_PREFIX and shown * 3 <= len(secret) else ""
    return f"{prefix}...{secret[-SHOWN_TAIL:]}"


#: The shape of every field name the APIs use: lower-case ASCII letters and underscores, at most 32 characters.
_FIELD_NAME = re.compile(r"[a-z][a-z_]{0,31}")


def shown_name(name: object) -> str:
    """``name``, a key of a caller's JSON (an unknown field, a map key), as an error or a log line may show it.

    A key is chosen by whoever sent the JSON and can be anything, a pasted API key included, while error paths
    reach exception messages, the CLI, logs and ``/token`` answers. So a key is shown as itself only when it has
    the shape of an API field name (:data:`_FIELD_NAME`), is empty, or is a list index; any other is shown by its
    length alone (``<name of 45 characters>``), never by any of its characters.
    """
    if isinstance(name, int) and not isinstance(name, bool):
        return str(name)
    if isinstance(name, str):
        return name if not name or _FIELD_NAME.fullmatch(name) else f"<name of {len(name)} characters>"
    return f"<{type(name).__name__} name>"


class SecretRegistry:
    """The secrets of this process and every form a text may quote them in, each mapped to its redacted form.

    Thread-safe; secrets are only ever added (a rotated-out secret may still be quoted by a late error).
    ``repr`` shows how many, never them.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._shown: dict[str, str] = {}  # form -> what replaces it
        #: The forms longest first, so a secret is replaced whole rather than a registered part of it. Plain
        #: substring search: no pattern to compile (whose memory a call would pay for) and few forms to try.
        self._ordered: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return f"SecretRegistry({len(self._shown)} forms)"

    def __len__(self) -> int:
        return len(self._shown)

    def forms(self) -> tuple[str, ...]:
        """Every registered form (for tests and audits: these are the secrets themselves)."""
        with self._lock:
            return tuple(self._shown)

    def add(self, secret: str | None, *, forms: Iterable[str] = ()) -> None:
        """Register ``secret`` (``None``/empty/short: ignored) with its escaped and URL-encoded forms, and any
        further ``forms`` it may be quoted in, all shown as ``redact(secret)``."""
        if not isinstance(secret, str) or len(secret) < MIN_SECRET_LENGTH:
            return
        shown = redact(secret)
        candidates = {secret, *forms, quote(secret, safe=""), *_json_forms(secret)}
        with self._lock:
            before = len(self._shown)
            for form in candidates:
                if len(form) >= MIN_SECRET_LENGTH:
                    self._shown.setdefault(form, shown)
            if len(self._shown) != before:
                self._ordered = tuple(sorted(self._shown, key=len, reverse=True))

    def add_webhook_secret(self, secret: str | None) -> None:
        """A ``whsec_`` signing secret: with and without its prefix, and its key bytes when they are text."""
        if not isinstance(secret, str):
            return
        bare = secret[len(WEBHOOK_PREFIX) :] if secret.startswith(WEBHOOK_PREFIX) else secret
        forms = {bare, WEBHOOK_PREFIX + bare, bare.rstrip("=")}
        try:
            decoded = base64.b64decode(bare, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):  # not base64, or key bytes that are not text: no quotable form
            decoded = ""
        if decoded.isprintable():
            forms.add(decoded)
        self.add(WEBHOOK_PREFIX + bare, forms=forms)

    def add_url_password(self, url: str | None) -> None:
        """The password of a URL such as ``redis://:password@host:6379/0`` (also a ``?password=`` parameter)."""
        if not isinstance(url, str):
            return
        try:
            parts = urlsplit(url)
            password = parts.password
        except ValueError:  # a malformed URL: its loader refuses it; nothing to register
            return
        for value in [password or "", *parse_qs(parts.query).get("password", [])]:
            self.add(unquote(value), forms={value})

    def add_environment(self, environ: Mapping[str, str]) -> None:
        """The secrets a process may hold in its environment (:data:`SECRET_VARIABLES`), before any configuration
        is loaded: a command that fails before loading settings still prints none of them."""
        for name in ("OPENAI_API_KEY", "AZURE_OPENAI_API_KEY"):
            self.add(environ.get(name))
        for secret in environ.get("OPENAI_WEBHOOK_SECRET", "").replace(",", " ").split():
            self.add_webhook_secret(secret)
        for item in environ.get("REALTIME_SERVICE_TOKENS", "").split(","):
            self.add(item.partition("=")[2].strip() or item.strip())

    def scrub(self, text: str) -> str:
        """``text`` with every registered form replaced by its secret's redacted form."""
        for form in self._ordered:
            if form in text:
                text = text.replace(form, self._shown[form])
        return text


def _json_forms(secret: str) -> set[str]:
    """How a JSON text may spell ``secret`` inside a string (escaped quotes, ``\\uXXXX`` for non-ASCII)."""
    return {json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}


#: The process's registry: settings loading feeds it, every scrub and :class:`RedactingFilter` reads it.
SECRETS = SecretRegistry()


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every registered secret and each of ``secrets`` replaced by its redacted form."""
    if not isinstance(text, str):
        raise TypeError(f"scrub takes text, not {type(text).__name__}")
    text = SECRETS.scrub(text)
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, redact(secret))
    return text


def scrub_json(value: Any, secrets: Iterable[str] = ()) -> Any:
    """``value`` (parsed JSON) with every secret in any string, key or value, redacted."""
    secrets = tuple(secrets)
    if isinstance(value, str):
        return scrub(value, secrets)
    if isinstance(value, list):
        return [scrub_json(item, secrets) for item in value]
    if isinstance(value, dict):
        return {scrub(key, secrets): scrub_json(item, secrets) for key, item in value.items()}
    return value


#: LogRecord attributes that are never text a secret could be in (the rest, ``extra`` included, are scrubbed).
_PLAIN_ATTRIBUTES = frozenset({"args", "msg", "exc_info", "levelname", "levelno", "name", "pathname", "filename"})


#: The record attribute that says which registry, at how many forms, already scrubbed it.
_SCRUBBED = "_realtime_service_scrubbed"


class RedactingFilter(logging.Filter):
    """A logging filter that scrubs every registered secret from a record: message and arguments, traceback,
    stack, and string ``extra`` fields. Attach it to a handler (everything it writes) or to a logger (what is
    logged on that logger itself)."""

    def __init__(self, registry: SecretRegistry | None = None) -> None:
        super().__init__()
        self.registry = registry if registry is not None else SECRETS

    def filter(self, record: logging.LogRecord) -> bool:
        forms = len(self.registry)
        # Under ``serve`` a record of the package passes a logger's filter and then a handler's: scrubbed once
        # by this registry, it is scrubbed again only if secrets were registered since.
        if not forms or getattr(record, _SCRUBBED, None) == (id(self.registry), forms):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: the handler reports it; scrub what it will print
            message = f"{record.msg!s} {record.args!r}"
        record.msg = self.registry.scrub(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.registry.scrub(record.exc_text)
            if record.exc_info and record.exc_info[0] is not None:  # a type name holds no value: kept for JSON logs
                record.exc_type = record.exc_info[0].__qualname__
            record.exc_info = None  # the formatter prints exc_text; the live traceback would be formatted afresh
        for name, value in list(vars(record).items()):
            if isinstance(value, str) and name not in _PLAIN_ATTRIBUTES:
                setattr(record, name, self.registry.scrub(value))
        setattr(record, _SCRUBBED, (id(self.registry), forms))
        return True


#: Header names whose value is a credential: masked in any log line that names them.
_AUTH_HEADERS = frozenset({"authorization", "api-key", "openai-organization", "openai-project"})
_AUTH_LINE = re.compile(r"(?i)\b(authorization|api-key)(\s*[:=]\s*)[^\r\n]*")
#: A browser's key rides in its WebSocket subprotocol (``openai-insecure-api-key.ek_...``): masked wherever it shows.
_KEY_SUBPROTOCOL = re.compile(r"(?i)(openai-insecure-api-key\.)[^,\s]+")


class SocketLogFilter(logging.Filter):
    """Masks credential headers of handshake log lines (``> Authorization: Bearer ...``, a key offered as a
    subprotocol) and scrubs every registered secret from what remains: ``websockets`` logs a handshake's headers
    at DEBUG, on both sides. Attach it to the logger a socket is given."""

    def __init__(self) -> None:
        super().__init__()
        self._scrub = RedactingFilter()

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 2 and str(args[0]).lower() in _AUTH_HEADERS:
            record.args = (args[0], "<redacted>")
        self._scrub.filter(record)
        try:
            text = record.getMessage()
        except Exception:  # a broken format string: mask what the handler would print of it
            text = f"{record.msg!s} {record.args!r}"
        text = _AUTH_LINE.sub(r"\1\2<redacted>", text)
        record.msg, record.args = _KEY_SUBPROTOCOL.sub(r"\1<redacted>", text), None
        return True


#: Every logger this package writes to: each scrubs what is logged on it, whatever handler a host attaches.
PACKAGE_LOGGERS = (
    "realtime_service",
    "realtime_service.lifecycle",
    "realtime_service.web",
    "realtime_service.web.access",
    "realtime_service.web.hangups",
    "realtime_service.webhooks",
    "realtime_service.sideband",
    "realtime_service.emulator",
    "realtime_service.emulator.ring",
    "realtime_service.emulator.socket",
    "realtime_service.sideband.socket",
    "realtime_service.sideband.phone",
)


def install_log_redaction(handlers: Iterable[logging.Handler] = (), loggers: Iterable[str] = ()) -> None:
    """Add one :class:`RedactingFilter` to each of ``handlers`` and of the loggers named ``loggers`` (once)."""
    targets: list[logging.Filterer] = [*handlers, *(logging.getLogger(name) for name in loggers)]
    for target in targets:
        if not any(isinstance(each, RedactingFilter) for each in target.filters):
            target.addFilter(RedactingFilter())


install_log_redaction(loggers=PACKAGE_LOGGERS)
