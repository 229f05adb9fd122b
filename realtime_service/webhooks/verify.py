"""Standard Webhooks signature checks, on top of the ``standardwebhooks`` package.

``standardwebhooks.Webhook`` decodes the ``whsec_`` secret and computes the ``v1`` signature; around it this
module adds what its ``verify`` lacks (measured in docs/phone-calls.md, "Why not Webhook.verify"): several
secrets during a rotation, a configurable symmetric tolerance with an injectable clock, strict parsing of the
headers (its ``verify`` raises ``ValueError``/``binascii.Error`` on a signature entry without a comma or with bad
base64, and accepts a fractional timestamp it then floors), and one error class with a reason.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import EmptyWebhookSecretError

from ..errors import ConfigurationError, WebhookVerificationError
from .events import WebhookEvent, parse_event

#: Environment variable read when no secret is passed or configured (the official SDK reads the same one).
SECRET_VARIABLE = "OPENAI_WEBHOOK_SECRET"  # noqa: S105 - a variable name
DEFAULT_TOLERANCE = 300
SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix
HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
#: Bounds on what a sender may make us parse (an id is also a storage key for deduplication).
MAX_ID_LENGTH = 256
MAX_SIGNATURE_HEADER = 8192
_ID = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no spaces
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
SIGNATURE_BYTES = 32  # HMAC-SHA256


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


def _signer(secret: object, position: int) -> Webhook:
    where = f"webhook secret #{position + 1}"
    if not isinstance(secret, str) or not secret.startswith(SECRET_PREFIX):
        raise WebhookVerificationError(
            "bad_secret", f"{where} is not a {SECRET_PREFIX}... secret (use the signing secret OpenAI shows)"
        )
    body = secret[len(SECRET_PREFIX) :]
    if not _BASE64.fullmatch(body):
        raise WebhookVerificationError("bad_secret", f"{where} is not base64 after {SECRET_PREFIX}")
    try:
        base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
        return Webhook(secret)
    except (binascii.Error, ValueError, EmptyWebhookSecretError):
        raise WebhookVerificationError("bad_secret", f"{where} does not decode as base64") from None


def _header_values(headers: Mapping[str, Any]) -> dict[str, list[str]]:
    """The three Standard Webhooks headers, looked up case-insensitively, every value kept (repeated headers
    arrive as several items from multi-dicts such as werkzeug's and Starlette's)."""
    found: dict[str, list[str]] = {name: [] for name in HEADERS}
    items = headers.items()
    multi = getattr(headers, "multi_items", None)  # Starlette keeps repeats there
    if callable(multi):
        items = multi()
    for key, value in items:
        name = key.decode("latin-1") if isinstance(key, bytes) else str(key)
        name = name.strip().lower()
        if name in found:
            text = value.decode("latin-1") if isinstance(value, bytes) else value
            if not isinstance(text, str):
                raise WebhookVerificationError("malformed", f"the {name} header is not text")
            found[name].append(text.strip())
    return found


def _single(values: dict[str, list[str]], name: str) -> str:
    distinct = {value for value in values[name] if value}
    if len(distinct) > 1:
        raise WebhookVerificationError("malformed", f"the {name} header is repeated with different values")
    return distinct.pop()


def _candidates(signature_header: str) -> list[bytes]:
    """The ``v1`` signatures in the header (space-separated ``v1,<base64>`` entries); others are ignored."""
    found = []
    for entry in signature_header.split():
        version, sep, encoded = entry.partition(",")
        if version != "v1" or not sep or not _BASE64.fullmatch(encoded):
            continue
        try:
            decoded = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            continue
        if len(decoded) == SIGNATURE_BYTES:
            found.append(decoded)
    return found


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
        self._signers = tuple(_signer(item, index) for index, item in enumerate(secrets_from(secret, environ)))

    def __repr__(self) -> str:
        return f"WebhookVerifier(secrets={len(self._signers)}, tolerance={self.tolerance})"

    def verify(self, payload: bytes | str, headers: Mapping[str, Any], *, now: float | None = None) -> WebhookDelivery:
        """Check the delivery's headers against the raw body; raise :class:`WebhookVerificationError` if any check
        fails, else return its id and timestamp. Nothing of the body is parsed."""
        values = _header_values(headers)
        missing = [name for name in HEADERS if not any(values[name])]
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
        if isinstance(payload, str):
            body = payload
        else:
            try:
                body = bytes(payload).decode("utf-8")
            except UnicodeDecodeError:
                raise WebhookVerificationError("malformed", "the body is not UTF-8") from None
        candidates = _candidates(signature_header)
        if not candidates:
            raise WebhookVerificationError("bad_signature", "the webhook-signature header holds no v1 signature")
        try:
            signed_at = datetime.fromtimestamp(timestamp, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise WebhookVerificationError("malformed", "the webhook-timestamp header is out of range") from None
        matched = False
        for signer in self._signers:
            expected = base64.b64decode(signer.sign(webhook_id, signed_at, body).partition(",")[2])
            for candidate in candidates:
                matched |= hmac.compare_digest(expected, candidate)
        if not matched:
            raise WebhookVerificationError(
                "bad_signature",
                f"none of the {len(candidates)} v1 signature(s) matches the body under the "
                f"{len(self._signers)} configured secret(s)",
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
