"""``POST /session`` attacked over real sockets on waitress and uvicorn: each refusal has its documented answer
in OpenAI's shape with ``no-store``, and nothing reaches the upstream (the emulator's recorded calls stay empty)."""

from __future__ import annotations

import json
import logging
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
        ({}, OFFER + "a=x-note:\u0085X\r\n".encode(), 400, "invalid_offer"),  # NEL
        ({}, OFFER + "a=x-note:\u009b31m\r\n".encode(), 400, "invalid_offer"),  # CSI
        ({}, OFFER + "a=x-note:\u2028\r\n".encode(), 400, "invalid_offer"),
        ({}, OFFER + b"a=x-note:\x7f\r\n", 400, "invalid_offer"),
        ({}, OFFER.replace(b"a=rtcp-mux\r\n", b"a=rtcp-mux\ra=x\r\n", 1), 400, "invalid_offer"),  # a bare CR
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


# -- browser JSON in the query: the same depth bound as /token's body ------------------------------------------

JSON_FIELDS = ["tools", "turn_detection"]


def nested(depth: int) -> str:
    """JSON text nested exactly ``depth`` levels deep (``[[...1...]]``)."""
    return "[" * depth + "1" + "]" * depth


def tools_of_depth(depth: int) -> str:
    """A function tool whose JSON text is nested exactly ``depth`` levels (the tool list, the tool, its
    ``parameters`` and ``properties`` objects are four of them)."""
    head = '[{"type":"function","name":"f","parameters":{"type":"object","properties":{"a":'
    return head + nested(depth - 4) + "}}}]"


def turn_detection_of_depth(depth: int) -> str:
    return '{"type":"server_vad","x":' + nested(depth - 1) + "}"


def query_of(field: str, depth: int) -> str:
    # Brackets go raw (requests leaves them as they are): a 5000-deep value stays under the header limit.
    text = tools_of_depth(depth) if field == "tools" else turn_detection_of_depth(depth)
    return f"?{field}=" + text.replace('"', "%22").replace(",", "%2C").replace(":", "%3A")


def post_logged(served: Any, query: str, caplog: pytest.LogCaptureFixture) -> requests.Response:
    caplog.clear()
    with caplog.at_level(logging.INFO):
        response = requests.post(served.url + "/session" + query, data=OFFER, headers=GOOD, timeout=TIMEOUT)
        served.settle()
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], errors
    return response


@pytest.mark.parametrize("field", JSON_FIELDS)
@pytest.mark.parametrize("depth", [65, 450, 600, 5000])
def test_browser_json_nested_past_the_bound_is_the_browsers_400_and_nothing_is_sent(
    serve: Any, emulator: Emulator, caplog: pytest.LogCaptureFixture, field: str, depth: int
) -> None:
    served = bearer(serve, browser_fields=JSON_FIELDS)
    emulator.clear()
    response = post_logged(served, query_of(field, depth), caplog)
    error = refused(response, 400, "invalid_json", emulator)
    assert error["param"] == field
    assert "64 levels" in error["message"]
    assert emulator.requests == [], "a refused request reached the upstream"


def test_browser_json_at_the_bound_goes_upstream(
    serve: Any, emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    served = bearer(serve, browser_fields=JSON_FIELDS)
    response = post_logged(served, query_of("tools", 64), caplog)
    assert response.status_code == 201, response.content[:300]
    record = emulator.calls.get(response.headers["x-call-id"])
    assert record is not None
    assert json.dumps(record.session["tools"][0]["parameters"]["properties"]["a"], separators=(",", ":")) == nested(60)


def test_turn_detection_at_the_bound_is_parsed_and_judged_by_its_content(
    serve: Any, emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    """64 deep passes the bound; the unknown key inside is then the browser's 400 (the upstream's schema says
    so), never the server's 500."""
    served = bearer(serve, browser_fields=JSON_FIELDS)
    response = post_logged(served, query_of("turn_detection", 64), caplog)
    assert response.status_code == 400, response.content[:300]
    assert json.loads(response.content)["error"]["param"] == "turn_detection"
    assert emulator.calls.all() == []


def test_wide_browser_json_within_the_bound_goes_upstream(
    serve: Any, emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    """The bound is on nesting, not on brackets: many 50-deep siblings and many keys are one level each."""
    served = bearer(serve, browser_fields=JSON_FIELDS)
    properties = ",".join(f'"p{i}":{{"type":"string"}}' for i in range(300))
    siblings = ",".join(nested(50) for _ in range(20))
    tools = (
        '[{"type":"function","name":"f","parameters":{"type":"object","properties":{'
        + properties
        + '},"x-deep":['
        + siblings
        + "]}}]"
    )
    query = "?tools=" + tools.replace('"', "%22").replace(",", "%2C").replace(":", "%3A")
    response = post_logged(served, query, caplog)
    assert response.status_code == 201, response.content[:300]
    record = emulator.calls.get(response.headers["x-call-id"])
    assert record is not None
    assert len(record.session["tools"][0]["parameters"]["properties"]) == 300


def test_browser_json_with_nan_is_refused_as_tokens_body_is(serve: Any, emulator: Emulator) -> None:
    served = bearer(serve, browser_fields=JSON_FIELDS)
    response = requests.post(
        served.url + "/session?turn_detection=%7B%22type%22%3A%22server_vad%22%2C%22threshold%22%3ANaN%7D",
        data=OFFER,
        headers=GOOD,
        timeout=TIMEOUT,
    )
    error = refused(response, 400, "invalid_json", emulator)
    assert error["param"] == "turn_detection"
