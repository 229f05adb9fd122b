"""Fixtures for the webhooks library: deliveries signed by ``standardwebhooks`` itself, sample events."""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
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


# -- a real redis-server on loopback (copied from tests/token_server/conftest.py: conftests are not importable) --


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _ping(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """A real redis-server on loopback (``$REALTIME_TEST_REDIS_URL``, or one started here), for the session."""
    if importlib.util.find_spec("redis") is None:
        pytest.skip("REDIS TESTS SKIPPED: the redis package is not installed, the Redis ledger is UNTESTED")
    url = os.environ.get("REALTIME_TEST_REDIS_URL")
    if url:
        if not _ping(url):
            pytest.skip(f"REDIS TESTS SKIPPED: REALTIME_TEST_REDIS_URL={url} does not answer PING")
        yield url
        return
    binary = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None
    )
    if binary is None:
        pytest.skip("REDIS TESTS SKIPPED: redis-server is not installed, the Redis ledger is UNTESTED in this run")
    port = free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen([*args, "--loglevel", "warning"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while not _ping(url):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            _, err = process.communicate()
            pytest.skip(f"REDIS TESTS SKIPPED: redis-server could not start: {err.decode(errors='replace')[-300:]}")
        time.sleep(0.05)
    yield url
    process.terminate()
    process.wait(10)


@pytest.fixture
def redis_url(redis_server: str) -> str:
    """The session's Redis, emptied for this test."""
    import redis

    redis.Redis.from_url(redis_server).flushdb()
    return redis_server
