"""``POST /session`` attacked over real sockets on waitress and uvicorn: each refusal has its documented answer
in OpenAI's shape with ``no-store``, and nothing reaches the upstream (the emulator's recorded calls stay empty)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from realtime_service.emulator import Emulator

OFFER = (Path(__file__).resolve().parents[1] / "sdp" / "chromium_offer.sdp").read_bytes()
TOKEN = "signaling-attack-token-0123456789"
GOOD = {"Content-Type": "application/sdp", "Authorization": f"Bearer {TOKEN}"}
TIMEOUT = 10


def bearer(serve: Any, **server: Any) -> Any:
    return serve(auth="bearer", bearer_tokens={"web": TOKEN}, **server)


def refused(response: requests.Response, status: int, code: str, emulator: Emulator) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.content[:300])
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"] == "application/json"
    assert "x-call-id" not in response.headers
    error: dict[str, Any] = json.loads(response.content)["error"]
    assert error["code"] == code
    assert emulator.calls.all() == [], "a refused request reached the upstream"
    return error


@pytest.mark.parametrize(
    ("headers", "body", "status", "code"),
    [
        ({"Host": "evil.example"}, OFFER, 421, "host_not_allowed"),
        ({"Origin": "https://evil.example"}, OFFER, 403, "origin_not_allowed"),
        ({"Authorization": ""}, OFFER, 401, "unauthorized"),
        ({"Authorization": "Bearer wrong-token-0123456789abc"}, OFFER, 401, "unauthorized"),
        ({"Authorization": f"Basic {TOKEN}"}, OFFER, 401, "unauthorized"),
        ({"Content-Type": "application/json"}, b'{"sdp": "v=0"}', 415, "unsupported_media_type"),
        ({"Content-Type": "text/plain"}, OFFER, 415, "unsupported_media_type"),
        ({"Content-Type": "multipart/form-data; boundary=x"}, b"--x--", 415, "unsupported_media_type"),
        ({}, b"", 400, "invalid_offer"),
        ({}, b"v=0\r\ns=-\r\nm=video 9 RTP/AVP 96\r\n", 400, "invalid_offer"),
        ({}, b"<script>alert(1)</script>", 400, "invalid_offer"),
        ({}, OFFER.replace(b"\r\n", b"\n", 3), 400, "invalid_offer"),
        ({}, OFFER + b"a=x\x00\r\n", 400, "invalid_offer"),
        ({}, b"v=0\r\nm=audio 9 RTP/AVP 0\r\ns=\xff\xfe\r\n", 400, "invalid_offer"),
    ],
)
def test_hostile_requests_are_refused_before_the_upstream(
    serve: Any, emulator: Emulator, headers: dict[str, str], body: bytes, status: int, code: str
) -> None:
    served = bearer(serve)
    response = requests.post(served.url + "/session", data=body, headers={**GOOD, **headers}, timeout=TIMEOUT)
    error = refused(response, status, code, emulator)
    if code == "invalid_offer":
        assert error["param"] == "sdp"


def test_an_oversized_offer_is_413(serve: Any, emulator: Emulator) -> None:
    served = bearer(serve)
    big = OFFER + b"a=x-pad:" + b"p" * (20 * 1024) + b"\r\n"
    response = requests.post(served.url + "/session", data=big, headers=GOOD, timeout=TIMEOUT)
    refused(response, 413, "body_too_large", emulator)


def test_over_budget_is_429_and_spends_nothing_upstream(serve: Any, emulator: Emulator) -> None:
    served = bearer(serve, rate_limit="1/minute")
    assert requests.post(served.url + "/session", data=OFFER, headers=GOOD, timeout=TIMEOUT).status_code == 201
    emulator.calls.clear()
    response = requests.post(served.url + "/session", data=OFFER, headers=GOOD, timeout=TIMEOUT)
    refused(response, 429, "rate_limited", emulator)
    assert int(response.headers["retry-after"]) >= 1


def test_guessing_tokens_is_throttled_per_network(serve: Any, emulator: Emulator) -> None:
    served = bearer(serve, auth_failure_limit="3/minute")
    wrong = {**GOOD, "Authorization": "Bearer not-the-token-0123456789"}
    for _ in range(3):
        refused(
            requests.post(served.url + "/session", data=OFFER, headers=wrong, timeout=TIMEOUT),
            401,
            "unauthorized",
            emulator,
        )
    response = requests.post(served.url + "/session", data=OFFER, headers=GOOD, timeout=TIMEOUT)
    refused(response, 429, "auth_throttled", emulator)


def test_a_preflight_from_a_foreign_origin_gets_no_grant(serve: Any, emulator: Emulator) -> None:
    served = bearer(serve, cors_origins=["https://app.example"])
    response = requests.options(
        served.url + "/session",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_other_methods_are_405(serve: Any, emulator: Emulator, method: str) -> None:
    served = bearer(serve)
    response = requests.request(method, served.url + "/session", data=OFFER, headers=GOOD, timeout=TIMEOUT)
    refused(response, 405, "method_not_allowed", emulator)


def test_a_query_cannot_smuggle_server_fields(serve: Any, emulator: Emulator) -> None:
    served = bearer(serve)
    for query in ("?voice=cedar&model=gpt-realtime-2", "?tools=%5B%5D", "?turn_detection=null", "?voice=a&=b"):
        response = requests.post(served.url + "/session" + query, data=OFFER, headers=GOOD, timeout=TIMEOUT)
        assert response.status_code == 400, (query, response.content)
    assert emulator.calls.all() == []
