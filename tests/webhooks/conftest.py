"""Fixtures for the webhooks library: deliveries signed by ``standardwebhooks`` itself, sample events."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from standardwebhooks import Webhook

NOW = 1_780_000_000
SECRET = "whsec_" + base64.b64encode(b"a" * 24 + b"rotation-secret-one").decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"b" * 24 + b"rotation-secret-two").decode()

FROM = '"Alice Example" <sip:+14155550100@203.0.113.5;user=phone>;tag=as12f'
TO = "<sip:+18005550199@sip.api.openai.com;transport=tls>"
SIP_HEADERS = [
    {"name": "From", "value": FROM},
    {"name": "To", "value": TO},
    {"name": "Call-ID", "value": "a84b4c76e66710@pc33.example.com"},
    {"name": "Diversion", "value": "<sip:+14155550111@example.com>;reason=unconditional"},
    {"name": "X-Custom", "value": "one"},
    {"name": "X-Custom", "value": "two"},
]


def incoming_call(call_id: str = "rtc_u1_9c6574da8b8a41a18da9308f4ad974ce", **data: Any) -> dict[str, Any]:
    return {
        "object": "event",
        "id": "evt_685343a1381c819085d44c354e1b330e",
        "type": "realtime.call.incoming",
        "created_at": NOW,
        "data": {"call_id": call_id, "sip_headers": SIP_HEADERS, "sip_media_security": "srtp", **data},
    }


def live_incoming(session_id: str = "live_123", **data: Any) -> dict[str, Any]:
    return {
        "object": "event",
        "id": "evt_abc123",
        "type": "live.transport.incoming",
        "created_at": NOW,
        "data": {"type": "sip", "session_id": session_id, "sip_headers": SIP_HEADERS, **data},
    }


def sign(
    body: bytes | str,
    secret: str = SECRET,
    *,
    webhook_id: str = "wh_685342e6c53c8190a1be43f081506c52",
    timestamp: int = NOW,
) -> dict[str, str]:
    """The headers OpenAI would send with ``body``, signed by the reference implementation."""
    text = body.decode() if isinstance(body, bytes) else body
    signature = Webhook(secret).sign(webhook_id, datetime.fromtimestamp(timestamp, tz=UTC), text)
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
        "content-type": "application/json",
        "user-agent": "OpenAI/1.0 (+https://platform.openai.com/docs/webhooks)",
    }


def body_of(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()


@pytest.fixture
def call_body() -> bytes:
    return body_of(incoming_call())
