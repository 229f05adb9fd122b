"""The emulator rings: a signed incoming-call webhook to a local app, then the call followed to its end.

Like ``stripe trigger`` for payments: one command shows the whole phone flow offline. :func:`ring` registers a
pending SIP call, posts ``realtime.call.incoming`` (or ``live.transport.incoming``) signed with Standard
Webhooks (``standardwebhooks``, the ``webhooks`` extra) to a loopback URL, redelivers with the same
``webhook-id`` and a fresh timestamp on every non-2xx or connection failure (at most ``max_deliveries``
attempts, backoff doubling from ``first_retry_after`` up to 8 s), and waits for the app's decision through the
emulator's accept/reject/refer/hangup routes; nobody deciding within ``decide_within`` seconds is
``timed_out``. OpenAI's own redelivery schedule (up to 72 h per third parties) is UNCONFIRMED; this one is
bounded so a test ends.

Phone numbers are personal data: every log line masks them (``+1415555****``). The secret never appears.
"""

from __future__ import annotations

import base64
import functools
import ipaddress
import json
import logging
import os
import re
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from .call_registry import DECIDED, CallRecord

if TYPE_CHECKING:
    from .server import Emulator

logger = logging.getLogger(__name__)

USER_AGENT = "OpenAI/1.0 (+https://platform.openai.com/docs/webhooks)"
_MAX_BACKOFF = 8.0
_POST_TIMEOUT = 10.0
_FINAL = DECIDED | {"hung_up"}
_NUMBER = re.compile(r"\+?\d{7,15}")
_EVENT_TYPES = {"realtime": "realtime.call.incoming", "live": "live.transport.incoming"}


def mask_numbers(text: str) -> str:
    """``text`` with the last four digits of every phone-number-like run starred: ``+1415555****``."""
    return _NUMBER.sub(lambda match: match.group(0)[:-4] + "****", text)


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


def check_loopback(url: str) -> None:
    """Refuse any URL whose host is not loopback: the emulator never sends traffic anywhere else."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("the webhook URL must be an http(s) URL with a host")
    host = parts.hostname
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError("the emulator rings loopback URLs only (127.0.0.0/8, ::1, localhost)")


def _signer(secret: str) -> Callable[[str, datetime, str], str]:
    try:
        from standardwebhooks import Webhook
    except ImportError as error:  # pragma: no cover - the extra is part of the test install
        raise RuntimeError(
            "ringing needs the standardwebhooks package: pip install 'realtime-service[webhooks]'"
        ) from error
    # OpenAI's SDK base64-decodes a whsec_ secret and uses any other string as raw UTF-8 bytes: do the same.
    webhook = Webhook(secret if secret.startswith("whsec_") else secret.encode("utf-8"))
    return webhook.sign


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


def _deliver(url: str, body: bytes, headers: dict[str, str]) -> int | None:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 - loopback, checked
    try:
        with urllib.request.urlopen(request, timeout=_POST_TIMEOUT) as response:  # noqa: S310
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as error:
        error.read()
        return int(error.code)
    except (urllib.error.URLError, OSError, TimeoutError):
        return None


def ring(
    emulator: Emulator,
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
    """Ring ``webhook_url`` and return the call's record once it is decided, hung up or timed out.

    ``secret``: the endpoint's signing secret (``whsec_...``), else ``OPENAI_WEBHOOK_SECRET``. ``sip_headers``:
    pairs in order (duplicates kept) or a mapping; default From/To/Call-ID of a made-up call. The emulator must
    be running: the app decides by calling its ``/realtime/calls/{id}/...`` (or ``/live/sessions/...``) routes.
    """
    if not emulator.running:
        raise RuntimeError("start the emulator before ringing: the app answers through its routes")
    if api not in _EVENT_TYPES:
        raise ValueError("api must be 'realtime' or 'live'")
    if max_deliveries < 1:
        raise ValueError("max_deliveries must be >= 1")
    check_loopback(webhook_url)
    secret = secret or os.environ.get("OPENAI_WEBHOOK_SECRET")
    if not secret:
        raise ValueError("a webhook secret is needed: pass secret= or set OPENAI_WEBHOOK_SECRET")
    sign = _signer(secret)
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
    payload = body.decode()
    webhook_id = "wh_" + secrets.token_hex(16)
    caller = next((value for name, value in headers if name.lower() == "from"), "")
    logger.info("ringing %s: %s from %s", call_id, _EVENT_TYPES[api], mask_numbers(caller))
    wait = first_retry_after
    for attempt in range(1, max_deliveries + 1):
        now = datetime.now(tz=UTC)
        signed = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": webhook_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": sign(webhook_id, now, payload),
        }
        status = _deliver(webhook_url, body, signed)
        emulator.calls.update(call_id, functools.partial(_delivered, status=status))
        logger.info("webhook %s delivery %d: %s", call_id, attempt, status if status is not None else "no answer")
        if status is not None and 200 <= status < 300:
            break
        if attempt < max_deliveries:
            sleep(wait)
            wait = min(wait * 2, _MAX_BACKOFF)
    remaining = max(0.0, decide_within - (time.monotonic() - started))
    record = emulator.calls.wait_for(call_id, _FINAL, remaining)
    if record.state == "pending":
        record = emulator.calls.update(call_id, _timed_out)
    logger.info("call %s from %s: %s", call_id, mask_numbers(caller), record.state)
    return record


def _delivered(record: CallRecord, status: int | None) -> CallRecord:
    return replace(
        record, webhook_deliveries=record.webhook_deliveries + 1, webhook_statuses=(*record.webhook_statuses, status)
    )


def _timed_out(record: CallRecord) -> CallRecord:
    return replace(record, state="timed_out") if record.state == "pending" else record
