"""Standard Webhooks signature checks: ``HMAC-SHA256(key, "<webhook-id>.<webhook-timestamp>.<body>")``.

The signed text is built from the header text exactly as received (a ``webhook-timestamp`` of ``0<now>`` is
signed as ``0<now>``, never re-formatted from its number) and the raw body bytes, as the official SDK does;
``standardwebhooks.Webhook.sign`` re-formats the timestamp, so it is not used here. Around the HMAC this module
adds what ``Webhook.verify`` lacks (docs/phone-calls.md, "Why not Webhook.verify"): several secrets during a
rotation, a configurable symmetric tolerance with an injectable clock, strict parsing of the headers (plain
ASCII digits for the timestamp, repeated headers by one rule, see :mod:`.headers`), and one error class with a
reason.

Secrets: ``whsec_<base64>`` is decoded. Without the prefix, a secret is read both ways the reference
implementations read it: as base64 (Standard Webhooks' libraries and test vectors) and as its UTF-8 bytes (the
official OpenAI SDK); a signature under either key verifies.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigurationError, WebhookVerificationError
from ..redaction import SECRETS
from .events import WebhookEvent, parse_event
from .headers import OWS, WEBHOOK_HEADERS, elements

#: Environment variable read when no secret is passed or configured (the official SDK reads the same one).
SECRET_VARIABLE = "OPENAI_WEBHOOK_SECRET"  # noqa: S105 - a variable name
DEFAULT_TOLERANCE = 300
SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix
HEADERS = WEBHOOK_HEADERS
#: Bounds on what a sender may make us parse (an id is also a storage key for deduplication).
MAX_ID_LENGTH = 256
MAX_SIGNATURE_HEADER = 8192
_ID = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no spaces
#: Plain ASCII digits only: no sign, space, underscore, fraction or other script's digits (``int()`` takes those).
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
#: Canonical base64, its padding optional: whole quanta, then 2 or 3 characters with their own padding or none.
_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}(?:==)?|[A-Za-z0-9+/]{3}=?)?")
#: A ``v1,<base64>`` entry, separated from the next by white space or by the comma of a joined repeat.
_V1_ENTRY = re.compile(r"(?<![^\s,])v1,([A-Za-z0-9+/]+={0,2})(?![^\s,])")


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """A delivery whose signature checked out: its idempotency id and its signing time (Unix seconds)."""

    webhook_id: str
    timestamp: int


def secrets_from(secret: str | Sequence[str] | None, environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The secrets to check against: ``secret`` (one, or several during a rotation), else ``$OPENAI_WEBHOOK_SECRET``
    (several separated by spaces or commas). None at all is a ``bad_secret`` refusal naming where to set one."""
    if secret is None:
        raw = (os.environ if environ is None else environ).get(SECRET_VARIABLE, "")
        found = tuple(part for part in re.split(r"[\s,]+", raw) if part)
    elif isinstance(secret, str):
        found = (secret,)
    else:
        found = tuple(secret)
    if not found:
        raise WebhookVerificationError(
            "bad_secret",
            f"no webhook secret is configured: pass secret=, set server.phone.webhook_secret or {SECRET_VARIABLE}",
        )
    return found


def _base64_key(text: str) -> bytes | None:
    """``text`` as base64 (its padding optional), or ``None`` when it is not base64 or decodes to nothing."""
    if not _BASE64.fullmatch(text):
        return None
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True) or None
    except binascii.Error:
        return None


def secret_keys(secret: object, position: int = 0) -> tuple[bytes, ...]:
    """The HMAC keys ``secret`` stands for: one for ``whsec_<base64>``; for a secret without the prefix its
    base64 reading (when it is base64) and its UTF-8 bytes. A bad one is a ``bad_secret`` refusal naming its
    position, never its text."""
    where = f"webhook secret #{position + 1}"
    if not isinstance(secret, str) or not secret:
        raise WebhookVerificationError("bad_secret", f"{where} is not a non-empty string")
    if secret.startswith(SECRET_PREFIX):
        key = _base64_key(secret[len(SECRET_PREFIX) :])
        if key is None:
            raise WebhookVerificationError("bad_secret", f"{where} is not base64 after {SECRET_PREFIX}")
        return (key,)
    try:
        raw = secret.encode("utf-8")
    except UnicodeEncodeError:
        raise WebhookVerificationError("bad_secret", f"{where} is not valid text") from None
    decoded = _base64_key(secret)
    return (raw,) if decoded is None or decoded == raw else (decoded, raw)


def _header_values(headers: Mapping[str, Any]) -> dict[str, list[str]]:
    """The three Standard Webhooks headers, looked up case-insensitively, every value kept (werkzeug's and
    Starlette's headers yield a repeated header once per line from ``items()``; adapters join them by commas)."""
    found: dict[str, list[str]] = {name: [] for name in HEADERS}
    for key, value in headers.items():
        name = str(key).lower()
        if name in found:
            if not isinstance(value, str):
                raise WebhookVerificationError("malformed", f"the {name} header is not text")
            found[name].append(value.strip(OWS))
    return found


def _single(values: dict[str, list[str]], name: str) -> str:
    """The one value of ``name``: its repeats (lines or comma-joined) must all be the same text."""
    distinct = {part for value in values[name] for part in elements(value)}
    if len(distinct) > 1:
        raise WebhookVerificationError("malformed", f"the {name} header is repeated with different values")
    return distinct.pop()


def signature_of(key: bytes, webhook_id: str, timestamp: str, body: bytes) -> str:
    """The base64 ``v1`` signature of ``body`` under ``key``, over the id and timestamp texts as sent."""
    digest = hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


class WebhookVerifier:
    """Checks deliveries against one or more secrets; build it once (secrets are decoded here, and a bad one is
    refused here). ``repr`` shows how many secrets, never them."""

    def __init__(
        self,
        secret: str | Sequence[str] | None = None,
        *,
        tolerance: float = DEFAULT_TOLERANCE,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or not 0 <= tolerance < 10**9:
            raise ConfigurationError(f"webhook tolerance must be a number of seconds >= 0, not {tolerance!r}")
        self.tolerance = tolerance
        secrets = secrets_from(secret, environ)
        for item in secrets:  # a host app that builds its own verifier gets its secrets redacted too
            SECRETS.add_webhook_secret(item)
        self._keys = tuple(key for index, item in enumerate(secrets) for key in secret_keys(item, index))
        self._count = len(secrets)

    def __repr__(self) -> str:
        return f"WebhookVerifier(secrets={self._count}, tolerance={self.tolerance})"

    def verify(self, payload: bytes | str, headers: Mapping[str, Any], *, now: float | None = None) -> WebhookDelivery:
        """Check the delivery's headers against the raw body; raise :class:`WebhookVerificationError` if any check
        fails, else return its id and timestamp. Nothing of the body is parsed."""
        values = _header_values(headers)
        missing = [name for name in HEADERS if not any(elements(value) for value in values[name])]
        if missing:
            raise WebhookVerificationError("missing_header", f"missing header(s): {', '.join(missing)}")
        webhook_id = _single(values, "webhook-id")
        if len(webhook_id) > MAX_ID_LENGTH or not _ID.fullmatch(webhook_id):
            raise WebhookVerificationError(
                "malformed", f"the webhook-id header is not printable ASCII of at most {MAX_ID_LENGTH} characters"
            )
        stamp = _single(values, "webhook-timestamp")
        if not _TIMESTAMP.fullmatch(stamp):
            raise WebhookVerificationError("malformed", "the webhook-timestamp header is not whole Unix seconds")
        timestamp = int(stamp)
        current = time.time() if now is None else now
        age = current - timestamp
        if age > self.tolerance:
            raise WebhookVerificationError(
                "stale", f"the webhook-timestamp is {age:.0f} s old, more than the {self.tolerance} s tolerated"
            )
        if -age > self.tolerance:
            raise WebhookVerificationError(
                "future", f"the webhook-timestamp is {-age:.0f} s ahead, more than the {self.tolerance} s tolerated"
            )
        signature_header = " ".join(values["webhook-signature"])
        if len(signature_header) > MAX_SIGNATURE_HEADER:
            raise WebhookVerificationError(
                "malformed", f"the webhook-signature header is longer than {MAX_SIGNATURE_HEADER} characters"
            )
        try:
            body = payload.encode("utf-8") if isinstance(payload, str) else bytes(payload)
            body.decode("utf-8")
        except UnicodeError:
            raise WebhookVerificationError("malformed", "the body is not UTF-8") from None
        candidates = _V1_ENTRY.findall(signature_header)
        if not candidates:
            raise WebhookVerificationError("bad_signature", "the webhook-signature header holds no v1 signature")
        matched = False
        for key in self._keys:
            expected = signature_of(key, webhook_id, stamp, body).encode("ascii")
            for candidate in candidates:
                matched |= hmac.compare_digest(expected, candidate.encode("ascii"))
        if not matched:
            raise WebhookVerificationError(
                "bad_signature",
                f"none of the {len(candidates)} v1 signature(s) matches the body under the "
                f"{self._count} configured secret(s)",
            )
        return WebhookDelivery(webhook_id, timestamp)

    def unwrap(self, payload: bytes | str, headers: Mapping[str, Any], *, now: float | None = None) -> WebhookEvent:
        """:meth:`verify`, then the typed event (:func:`~.events.parse_event`); the body is parsed only once
        its signature has checked out."""
        self.verify(payload, headers, now=now)
        return parse_event(payload)


def verify(
    payload: bytes | str,
    headers: Mapping[str, Any],
    secret: str | Sequence[str] | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> WebhookDelivery:
    """Check a delivery (see :meth:`WebhookVerifier.verify`); ``secret=None`` reads ``$OPENAI_WEBHOOK_SECRET``."""
    return WebhookVerifier(secret, tolerance=tolerance).verify(payload, headers, now=now)


def unwrap(
    payload: bytes | str,
    headers: Mapping[str, Any],
    secret: str | Sequence[str] | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> WebhookEvent:
    """:func:`verify`, then the typed event; a bad body is a ``malformed`` :class:`WebhookVerificationError`."""
    return WebhookVerifier(secret, tolerance=tolerance).unwrap(payload, headers, now=now)
