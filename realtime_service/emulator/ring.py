"""The emulator rings: a signed incoming-call webhook to a local app, then the call followed to its end.

Like ``stripe trigger`` for payments: one command shows the whole phone flow offline. :func:`ring` registers a
pending SIP call, posts ``realtime.call.incoming`` (or ``live.transport.incoming``) signed as Standard Webhooks
specifies (the verifier's own HMAC over the header text sent, :mod:`realtime_service.webhooks.verify`) to a
loopback URL, redelivers with the same ``webhook-id`` and a fresh timestamp on every answer a redelivery could
change (none, 5xx, 408, 409, 425, 429; at most ``max_deliveries`` attempts, backoff doubling from
``first_retry_after`` up to 8 s), and waits for the app's decision through the emulator's
accept/reject/refer/hangup routes; nobody deciding within ``decide_within`` seconds is ``timed_out``. Any other
answer (a 4xx such as ``400 bad_signature``, a redirect) cannot get better: :class:`WebhookRefused` at once.
OpenAI's own redelivery schedule (up to 72 h per third parties) is UNCONFIRMED; this one is bounded so a test ends.

Traffic stays on loopback (:func:`check_loopback`): the URL is parsed once, the IP it names is the one connected
to with :mod:`http.client` (no proxy from the environment, no redirect followed, no name looked up).
Phone numbers are personal data: every log line masks them (:func:`~realtime_service.webhooks.masking.mask_text`).
The secret never appears.
"""

from __future__ import annotations

import base64
import functools
import http.client
import ipaddress
import json
import logging
import os
import re
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal
from urllib.parse import urlsplit

from ..errors import WebhookVerificationError
from ..webhooks.masking import mask_text
from ..webhooks.verify import secret_keys, signature_of
from .call_registry import DECIDED, CallRecord
from .core import Core

logger = logging.getLogger(__name__)

USER_AGENT = "OpenAI/1.0 (+https://platform.openai.com/docs/webhooks)"
_MAX_BACKOFF = 8.0
_POST_TIMEOUT = 10.0
_FINAL = DECIDED | {"hung_up"}
_EVENT_TYPES = {"realtime": "realtime.call.incoming", "live": "live.transport.incoming"}
#: Answers a redelivery may change: none at all, 5xx, and 408/409 (another worker deciding)/425/429.
_RETRYABLE = frozenset({408, 409, 425, 429})
#: How much of a refusal's body is read for its reason code.
_MAX_ANSWER = 65536
_REASON = re.compile(r"[a-z][a-z0-9_]{0,47}")
#: Characters no URL the emulator rings may hold anywhere: white space, controls, backslashes (read as ``/`` by
#: some parsers and as part of a host name by others) and non-ASCII.
_UNSAFE = re.compile(r"[^\x21-\x7e]|\\")


@dataclass(frozen=True, slots=True)
class Target:
    """Where a webhook URL is delivered, from its one parse: the address connected to (a loopback IP literal),
    the port, the ``Host`` header and the request target (path and query) sent."""

    scheme: str
    address: str
    port: int
    host: str
    path: str


class WebhookRefused(RuntimeError):
    """The app answered a delivery with a status a redelivery cannot change (a 4xx such as ``400
    bad_signature``, or a redirect, which the emulator does not follow): the ring stops at once."""

    def __init__(self, record: CallRecord, status: int, reason: str | None) -> None:
        self.record = record
        self.status = status
        self.reason = reason
        why = f"{status} {reason}" if reason else str(status)
        hint = " (the app's webhook secret is not the one the emulator signs with)" if reason == "bad_signature" else ""
        super().__init__(f"the app refused the webhook for good: {why}{hint}; not delivered again")


def new_webhook_secret() -> str:
    """A fresh ``whsec_`` secret, as OpenAI issues them (base64 of 32 random bytes)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def default_sip_headers(caller: str, callee: str) -> tuple[tuple[str, str], ...]:
    """The headers a SIP trunk typically forwards for a call from ``caller`` to ``callee`` (E.164 numbers)."""
    return (
        ("From", f'"{caller}" <sip:{caller}@trunk.emulator.invalid>;tag={secrets.token_hex(4)}'),
        ("To", f"<sip:{callee}@sip.api.openai.com>"),
        ("Call-ID", f"{secrets.token_hex(12)}@trunk.emulator.invalid"),
    )


def check_loopback(url: str) -> Target:
    """The :class:`Target` of ``url``, refused (``ValueError``) unless it is plainly loopback.

    The URL is parsed once and the address it names is the one connected to: an IP literal in 127.0.0.0/8 or
    ``::1`` as Python's :mod:`ipaddress` reads it (no decimal, octal, hex or short forms), or ``localhost``
    (connected to as 127.0.0.1, never looked up). No user info (``@``), no ``%`` in the host, no backslash,
    white space or non-ASCII anywhere: forms that parsers disagree on are refused, not interpreted.
    """
    if _UNSAFE.search(url):
        raise ValueError("the webhook URL holds white space, a backslash or non-ASCII: write it plainly")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("the webhook URL must be an http(s) URL with a host")
    if "@" in parts.netloc or "%" in parts.netloc:
        raise ValueError("the webhook URL's host must be a plain loopback address, without user info or escapes")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("the webhook URL's port is not a number from 0 to 65535") from None
    host = parts.hostname or ""
    if host == "localhost":
        address = "127.0.0.1"
    else:
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            ip = None
        if ip is None or not ip.is_loopback:
            raise ValueError("the emulator rings loopback URLs only (127.0.0.0/8, ::1, localhost)")
        address = str(ip)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    default = 443 if parts.scheme == "https" else 80
    return Target(parts.scheme, address, port or default, parts.netloc, path)


def _keys(secret: str) -> tuple[bytes, ...]:
    """The HMAC keys to sign with: the verifier's reading of ``secret`` (a secret without ``whsec_`` has two,
    its base64 and its UTF-8 bytes, so Standard Webhooks' libraries and the official SDK both verify)."""
    try:
        return secret_keys(secret)
    except WebhookVerificationError as error:
        raise ValueError(str(error).replace("webhook refused (bad_secret): ", "")) from None


def _event(
    api: Literal["realtime", "live"], call_id: str, headers: Sequence[tuple[str, str]], media: str | None
) -> bytes:
    data: dict[str, object] = {}
    if api == "live":
        data["type"] = "sip"
        data["session_id"] = call_id
    else:
        data["call_id"] = call_id
    data["sip_headers"] = [{"name": name, "value": value} for name, value in headers]
    if media is not None:
        data["sip_media_security"] = media
    event = {
        "object": "event",
        "id": "evt_" + secrets.token_hex(12),
        "type": _EVENT_TYPES[api],
        "created_at": int(time.time()),
        "data": data,
    }
    return json.dumps(event).encode()


def _deliver(target: Target, body: bytes, headers: dict[str, str]) -> tuple[int | None, str | None]:
    """POST to exactly ``target`` (no proxy, no redirect followed): the status and, for a refusal, its reason
    code (``error.param`` of our endpoint's ``invalid_webhook``, else ``error.code``), or ``(None, None)``
    when nothing answered."""
    connection_class = http.client.HTTPSConnection if target.scheme == "https" else http.client.HTTPConnection
    connection = connection_class(target.address, target.port, timeout=_POST_TIMEOUT)
    try:
        connection.putrequest("POST", target.path, skip_host=True, skip_accept_encoding=True)
        for name, value in {"host": target.host, **headers, "content-length": str(len(body))}.items():
            connection.putheader(name, value)
        connection.endheaders(body)
        response = connection.getresponse()
        answer = response.read(_MAX_ANSWER)
        status = int(response.status)
    except (OSError, http.client.HTTPException):
        return None, None
    finally:
        connection.close()
    return status, (_reason(answer) if status >= 300 else None)


def _reason(answer: bytes) -> str | None:
    """The reason code of an OpenAI-shaped error body, when it has a plain one."""
    try:
        error = json.loads(answer).get("error")
        code = error.get("param") if error.get("code") == "invalid_webhook" else error.get("code")
    except (ValueError, AttributeError):
        return None
    return code if isinstance(code, str) and _REASON.fullmatch(code) else None


def retryable(status: int | None) -> bool:
    """Whether a redelivery could get a better answer than ``status`` (``None``: nothing answered)."""
    return status is None or status >= 500 or status in _RETRYABLE


def ring(
    emulator: Core,
    webhook_url: str,
    sip_headers: Sequence[tuple[str, str]] | Mapping[str, str] | None = None,
    *,
    secret: str | None = None,
    api: Literal["realtime", "live"] = "realtime",
    decide_within: float = 30.0,
    max_deliveries: int = 5,
    first_retry_after: float = 0.5,
    sip_media_security: str | None = "srtp",
    sleep: Callable[[float], None] = time.sleep,
) -> CallRecord:
    """Ring ``webhook_url`` and return the call's record once it is decided, hung up or timed out; raise
    :class:`WebhookRefused` (the record in it, ended) when the app answers with a status no redelivery changes.

    ``secret``: the endpoint's signing secret (``whsec_...``, or without the prefix as Standard Webhooks allows),
    else ``OPENAI_WEBHOOK_SECRET``. ``sip_headers``:
    pairs in order (duplicates kept) or a mapping; default From/To/Call-ID of a made-up call. The emulator must
    be running: the app decides by calling its ``/realtime/calls/{id}/...`` (or ``/live/sessions/...``) routes.
    """
    if not emulator.running:
        raise RuntimeError("start the emulator before ringing: the app answers through its routes")
    if api not in _EVENT_TYPES:
        raise ValueError("api must be 'realtime' or 'live'")
    if max_deliveries < 1:
        raise ValueError("max_deliveries must be >= 1")
    target = check_loopback(webhook_url)
    secret = secret or os.environ.get("OPENAI_WEBHOOK_SECRET")
    if not secret:
        raise ValueError("a webhook secret is needed: pass secret= or set OPENAI_WEBHOOK_SECRET")
    keys = _keys(secret)
    if sip_headers is None:
        headers = default_sip_headers("+14155550100", "+14155550199")
    elif isinstance(sip_headers, Mapping):
        headers = tuple((str(name), str(value)) for name, value in sip_headers.items())
    else:
        headers = tuple((str(name), str(value)) for name, value in sip_headers)
    call_id = ("live_" if api == "live" else "rtc_") + secrets.token_hex(16)
    started = time.monotonic()
    emulator.calls.add(
        CallRecord(id=call_id, api=api, transport="sip", state="pending", created_at=time.time(), sip_headers=headers)
    )
    body = _event(api, call_id, headers, sip_media_security)
    webhook_id = "wh_" + secrets.token_hex(16)
    caller = next((value for name, value in headers if name.lower() == "from"), "")
    logger.info("ringing %s: %s from %s", call_id, _EVENT_TYPES[api], mask_text(caller))
    wait = first_retry_after
    for attempt in range(1, max_deliveries + 1):
        stamp = str(int(time.time()))  # signed exactly as sent
        signed = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": webhook_id,
            "webhook-timestamp": stamp,
            "webhook-signature": " ".join("v1," + signature_of(key, webhook_id, stamp, body) for key in keys),
        }
        status, reason = _deliver(target, body, signed)
        record = emulator.calls.update(call_id, functools.partial(_delivered, status=status))
        logger.info("webhook %s delivery %d: %s", call_id, attempt, status if status is not None else "no answer")
        if status is not None and 200 <= status < 300:
            break
        if status is not None and not retryable(status):
            record = emulator.calls.update(call_id, _timed_out)  # nobody will decide it: the call ends now
            raise WebhookRefused(record, status, reason)
        if attempt < max_deliveries:
            sleep(wait)
            wait = min(wait * 2, _MAX_BACKOFF)
    remaining = max(0.0, decide_within - (time.monotonic() - started))
    record = emulator.calls.wait_for(call_id, _FINAL, remaining)
    if record.state == "pending":
        record = emulator.calls.update(call_id, _timed_out)
    logger.info("call %s from %s: %s", call_id, mask_text(caller), record.state)
    return record


def _delivered(record: CallRecord, status: int | None) -> CallRecord:
    return replace(
        record, webhook_deliveries=record.webhook_deliveries + 1, webhook_statuses=(*record.webhook_statuses, status)
    )


def _timed_out(record: CallRecord) -> CallRecord:
    return replace(record, state="timed_out") if record.state == "pending" else record
