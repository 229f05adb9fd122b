"""Every kind of error answer ``/token`` and ``/session`` give, pinned byte for byte on both servers (issue 22).

The answers (status, every header in wire order but ``Date``/``Server``, the body) and their access line's
identity and request id are compared with ``error_answers.json``, recorded from the routes before their error
builders were merged into one (:func:`~realtime_service.web.admission.answers.error_answer`): a refactoring that
changes one byte of an answer fails here. A request id is recorded as ``req_*`` (the emulator's are random).
``REALTIME_SERVICE_PIN_ERRORS=write`` records the file anew (then read the diff before committing it).
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from realtime_service.emulator import Emulator, Fault
from realtime_service.web.servers.containers import ServeContainer
from realtime_service.web.servers.runners import ServedApp

from .conftest import make_container

PINNED = Path(__file__).with_name("error_answers.json")
OFFER = (Path(__file__).resolve().parents[1] / "sdp" / "chromium_offer.sdp").read_bytes()
TOKEN = "web-token-0123456789abcdef"
APP = "http://app.example"
JSON = {"Content-Type": "application/json"}
SDP = {"Content-Type": "application/sdp"}
LOCATION = (("location", "/v1/realtime/calls/rtc_pinned"),)

Faults = Callable[[Emulator], None]


def nothing(emulator: Emulator) -> None:
    """No fault queued."""


def queue(*faults: tuple[Fault, int]) -> Faults:
    def enqueue(emulator: Emulator) -> None:
        for fault, times in faults:
            emulator.enqueue(fault, times=times)

    return enqueue


def leaked_answer(emulator: Emulator) -> None:
    """An SDP answer quoting the server's API key: the call exists, the browser must not get it."""
    body = f"v=0\r\ns=-\r\na=x-echo:{emulator.api_key}\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n".encode()
    emulator.enqueue(Fault(status_code=201, body=body, content_type="application/sdp", headers=LOCATION))


#: (case, method, path, headers, body, faults), per server configuration.
Case = tuple[str, str, str, dict[str, str], bytes, Faults]
PLAIN: list[Case] = [
    ("token get", "GET", "/token", {}, b"", nothing),
    ("not found", "GET", "/nowhere", {}, b"", nothing),
    ("foreign host", "POST", "/token", {**JSON, "Host": "evil.example"}, b"{}", nothing),
    ("token text", "POST", "/token", {"Content-Type": "text/plain"}, b"{}", nothing),
    ("token not json", "POST", "/token", JSON, b"{", nothing),
    ("token policy", "POST", "/token", JSON, b'{"model": "gpt-4o"}', nothing),
    ("token too large", "POST", "/token", JSON, b"{" + b" " * 20000 + b"}", nothing),
    ("token key refused", "POST", "/token", JSON, b"{}", queue((Fault.status(401), 1))),
    ("token rate limited", "POST", "/token", JSON, b"{}", queue((Fault.status(429, headers={"retry-after": "7"}), 2))),
    ("token unreachable", "POST", "/token", JSON, b"{}", queue((Fault.drop(), 2))),
    ("token unusable", "POST", "/token", JSON, b"{}", queue((Fault.json({"session": {}}), 1))),
    (
        "token browser field",
        "POST",
        "/token",
        JSON,
        b'{"voice": "cedar"}',
        queue((Fault.status(400, message="Invalid voice", param="session.audio.output.voice"), 1)),
    ),
    (
        "token server field",
        "POST",
        "/token",
        JSON,
        b'{"voice": "cedar"}',
        queue((Fault.status(400, message="Invalid model", param="session.model"), 1)),
    ),
    ("session json", "POST", "/session", JSON, b"{}", nothing),
    ("session bad offer", "POST", "/session", SDP, b"not sdp", nothing),
    ("session policy", "POST", "/session?model=gpt-4o", SDP, OFFER, nothing),
    ("session key refused", "POST", "/session", SDP, OFFER, queue((Fault(status_code=401), 1))),
    ("session outage", "POST", "/session", SDP, OFFER, queue((Fault(status_code=503), 5))),
    (
        "session offer refused",
        "POST",
        "/session",
        SDP,
        OFFER,
        queue((Fault.status(400, message="bad", param="sdp"), 1)),
    ),
    ("session unusable", "POST", "/session", SDP, OFFER, leaked_answer),
    ("session get", "GET", "/session", {}, b"", nothing),
]
BEARER = {"Origin": APP, "Authorization": f"Bearer {TOKEN}"}
CORS: list[Case] = [
    ("cors no token", "POST", "/token", {**JSON, "Origin": APP}, b"{}", nothing),
    ("cors wrong token", "POST", "/token", {**JSON, "Origin": APP, "Authorization": "Bearer nope"}, b"{}", nothing),
    ("cors foreign origin", "POST", "/token", {**JSON, **BEARER, "Origin": "http://evil.example"}, b"{}", nothing),
    ("cors not json", "POST", "/token", {**JSON, **BEARER}, b"[]", nothing),
    ("cors policy", "POST", "/token", {**JSON, **BEARER}, b'{"model": "x"}', nothing),
    (
        "cors outage",
        "POST",
        "/token",
        {**JSON, **BEARER},
        b"{}",
        queue((Fault.status(503, headers={"retry-after": "3"}), 2)),
    ),
    ("cors token unusable", "POST", "/token", {**JSON, **BEARER}, b"{}", queue((Fault.json({"session": {}}), 1))),
    ("cors not found", "GET", "/nowhere", {"Origin": APP}, b"", nothing),
    ("cors token get", "GET", "/token", {"Origin": APP}, b"", nothing),
    ("cors session json", "POST", "/session", {**JSON, **BEARER}, b"{}", nothing),
    ("cors session bad offer", "POST", "/session", {**SDP, **BEARER}, b"v=0\r\n", nothing),
    ("cors session outage", "POST", "/session", {**SDP, **BEARER}, OFFER, queue((Fault(status_code=503), 5))),
    ("cors session unusable", "POST", "/session", {**SDP, **BEARER}, OFFER, leaked_answer),
    ("cors session no token", "POST", "/session", {**SDP, "Origin": APP}, OFFER, nothing),
]
BUDGET: list[Case] = [
    ("budget first key", "POST", "/token", JSON, b"{}", nothing),
    ("budget second key", "POST", "/token", JSON, b"{}", nothing),
    ("budget first call", "POST", "/session", SDP, OFFER, nothing),
    ("budget second call", "POST", "/session", SDP, OFFER, nothing),
]
MISCONFIGURED: list[Case] = [
    ("bad session config call", "POST", "/session", SDP, OFFER, nothing),
    ("bad session config key", "POST", "/token", JSON, b"{}", nothing),
]
NO_KEY: list[Case] = [
    ("no api key", "POST", "/token", JSON, b"{}", nothing),
    ("no api key call", "POST", "/session", SDP, OFFER, nothing),
]


def container_for(config: str, emulator: Emulator) -> ServeContainer:
    if config == "plain":
        return make_container(emulator, rate_limit="1000/minute")
    if config == "cors":
        return make_container(
            emulator, cors_origins=[APP], auth="bearer", bearer_tokens={"web": TOKEN}, rate_limit="1000/minute"
        )
    if config == "budget":
        return make_container(emulator, rate_limit="1/minute", call_rate_limit="1/minute")
    if config == "misconfigured":
        return make_container(emulator, session={"turn_detection": {"type": "nonsense_vad"}})
    container = ServeContainer(environ={})
    container.config.from_dict({"realtime": {"base_url": emulator.base_url}, "server": {}})
    return container


CONFIGS: dict[str, list[Case]] = {
    "plain": PLAIN,
    "cors": CORS,
    "budget": BUDGET,
    "misconfigured": MISCONFIGURED,
    "no key": NO_KEY,
}
_REQUEST_ID = re.compile(r"req_[A-Za-z0-9_-]+")


def exchange(served: ServedApp, method: str, path: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=30)
    try:
        connection.putrequest(method, path, skip_host="Host" in headers, skip_accept_encoding=True)
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            connection.putheader(name, value)
        connection.endheaders(body)
        response = connection.getresponse()
        answer = {
            "status": response.status,
            "headers": [
                [name.lower(), value]
                for name, value in response.getheaders()
                if name.lower() not in ("date", "server", "connection")
            ],
            "body": response.read().decode("utf-8"),
        }
    finally:
        connection.close()
    served.settle()
    return answer


def record(served: ServedApp, emulator: Emulator, caplog: pytest.LogCaptureFixture, case: Case) -> dict[str, Any]:
    _, method, path, headers, body, faults = case
    emulator.clear()
    faults(emulator)
    caplog.clear()
    answer = exchange(served, method, path, headers, body)
    (line,) = [r for r in caplog.records if r.name == "realtime_service.web.access"]
    request_id = getattr(line, "request_id", None)
    answer["identity"] = getattr(line, "identity", None)
    answer["request_id"] = _REQUEST_ID.sub("req_*", request_id) if request_id else None
    if answer["status"] < 400:  # a success that spends a budget: its body holds a fresh key or call
        return {"status": answer["status"], "identity": answer["identity"]}
    return answer


@pytest.mark.parametrize("config", list(CONFIGS))
def test_every_error_answer_is_as_pinned(
    serve: Callable[..., ServedApp],
    framework: str,
    emulator: Emulator,
    caplog: pytest.LogCaptureFixture,
    config: str,
) -> None:
    served = serve(container=container_for(config, emulator))
    with caplog.at_level(logging.INFO, logger="realtime_service.web"):
        seen = {case[0]: record(served, emulator, caplog, case) for case in CONFIGS[config]}
    pinned: dict[str, Any] = json.loads(PINNED.read_text()) if PINNED.exists() else {}
    key = f"{framework} {config}"
    if os.environ.get("REALTIME_SERVICE_PIN_ERRORS") == "write":
        pinned[key] = seen
        PINNED.write_text(json.dumps(pinned, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
        pytest.skip("pinned anew: read the diff")
    assert key in pinned, f"nothing pinned for {key}"
    for name, answer in seen.items():
        assert answer == pinned[key][name], name
    assert set(seen) == set(pinned[key])
