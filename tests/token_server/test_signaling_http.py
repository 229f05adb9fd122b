"""``POST /session`` over real sockets on waitress and uvicorn, against the emulator's ``/realtime/calls`` and
``/live/sessions``: the offer goes upstream byte for byte with the server's session, the answer and the call id
come back, refusals and upstream failures are mapped as ``/token`` maps them, and ``server.max_call_seconds``
hangs calls up (the emulator's registry records the hang-up)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
import requests

from realtime_service.emulator import Emulator, Fault
from realtime_service.web.routes.session.hangups import HangupScheduler
from realtime_service.web.servers.runners import ServedApp

OFFER = (Path(__file__).resolve().parents[1] / "sdp" / "chromium_offer.sdp").read_bytes()
SDP = {"Content-Type": "application/sdp"}
TIMEOUT = 10


def post(served: ServedApp, body: bytes = OFFER, query: str = "", **headers: str) -> requests.Response:
    response = requests.post(f"{served.url}/session{query}", data=body, headers={**SDP, **headers}, timeout=TIMEOUT)
    served.settle()  # the access line may follow the answer
    return response


def error_of(response: requests.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.content[:300])
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"] == "application/json"
    error: dict[str, Any] = json.loads(response.content)["error"]
    assert error["code"] == code
    return error


def test_the_offer_goes_upstream_byte_for_byte_with_the_servers_session(serve: Any, emulator: Emulator) -> None:
    served = serve(session={"instructions": "Be brief."})
    response = post(served)
    assert response.status_code == 201, response.content[:300]
    assert response.headers["content-type"] == "application/sdp"
    assert response.headers["cache-control"] == "no-store"
    call_id = response.headers["x-call-id"]
    record = emulator.calls.get(call_id)
    assert record is not None
    assert record.offer == OFFER  # CRLFs and all
    assert record.encoding == "multipart"
    assert record.auth == "api_key"
    assert record.session == {
        "type": "realtime",
        "model": "gpt-realtime-2.1",
        "instructions": "Be brief.",
        "audio": {"output": {"voice": "marin"}},
    }
    assert response.content.decode() == record.answer


def test_the_browser_chooses_an_allowed_field_in_the_query(serve: Any, emulator: Emulator) -> None:
    served = serve()
    response = post(served, query="?voice=cedar")
    assert response.status_code == 201
    record = emulator.calls.get(response.headers["x-call-id"])
    assert record is not None
    assert record.session["audio"]["output"]["voice"] == "cedar"


@pytest.mark.parametrize(
    ("query", "status", "code", "param"),
    [
        ("?model=gpt-realtime-mini", 400, "field_not_allowed", "model"),
        ("?instructions=ignore+your+rules", 400, "field_not_allowed", "instructions"),
        ("?colour=red", 400, "unknown_field", "colour"),
        ("?voice=cedar&voice=marin", 400, "duplicate_field", "voice"),
        ("?ttl=600", 400, "unknown_field", "ttl"),
        ("?voice=", 400, "invalid_type", "voice"),
        ("?voice=%ff", 400, "invalid_query", "query"),
        ("?" + "&".join(f"f{i}=x" for i in range(20)), 400, "invalid_query", "query"),
        ("?voice=" + "v" * 200, 400, "invalid_type", "voice"),
    ],
)
def test_query_field_tricks_are_refused_and_nothing_reaches_upstream(
    serve: Any, emulator: Emulator, query: str, status: int, code: str, param: str
) -> None:
    served = serve()
    error = error_of(post(served, query=query), status, code)
    assert error["param"] == param
    assert emulator.calls.all() == []


def test_live_sends_a_media_session_config_with_the_live_model(serve: Any, emulator: Emulator) -> None:
    served = serve(voice_api="live", session={"instructions": "Hi."})
    response = post(served, query="?voice=cedar")
    assert response.status_code == 201, response.content[:300]
    session_id = response.headers["x-call-id"]
    assert session_id.startswith("live_")
    record = emulator.calls.get(session_id)
    assert record is not None
    assert record.api == "live"
    assert record.offer == OFFER
    assert record.session == {"model": "gpt-live-1.1", "instructions": "Hi.", "audio": {"output": {"voice": "cedar"}}}
    assert response.content.decode() == record.answer


def test_cors_exposes_the_call_id_to_a_listed_origin(serve: Any) -> None:
    origin = "https://app.example"
    served = serve(cors_origins=[origin])
    preflight = requests.options(
        f"{served.url}/session",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
        timeout=TIMEOUT,
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == origin
    response = post(served, Origin=origin)
    assert response.status_code == 201
    assert response.headers["access-control-allow-origin"] == origin
    assert "X-Call-Id" in response.headers["access-control-expose-headers"]
    assert response.headers["vary"] == "Origin"


def test_calls_have_their_own_budget_apart_from_keys(serve: Any, emulator: Emulator) -> None:
    served = serve(rate_limit="2/minute")  # call_rate_limit unset: the same windows, its own count
    assert [requests.post(served.url + "/token", json={}, timeout=TIMEOUT).status_code for _ in range(2)] == [200, 200]
    assert [post(served).status_code for _ in range(2)] == [201, 201]  # the keys spent none of the calls
    error = error_of(post(served), 429, "rate_limited")
    assert "calls" in error["message"]
    assert len(emulator.calls.all()) == 2
    assert requests.post(served.url + "/token", json={}, timeout=TIMEOUT).status_code == 429


def test_call_rate_limit_sets_the_calls_budget_alone(serve: Any, emulator: Emulator) -> None:
    served = serve(rate_limit="5/minute", call_rate_limit="1/minute")
    assert post(served).status_code == 201
    error_of(post(served), 429, "rate_limited")
    assert [requests.post(served.url + "/token", json={}, timeout=TIMEOUT).status_code for _ in range(5)] == [200] * 5
    assert len(emulator.calls.all()) == 1


def test_an_upstream_outage_is_a_503_with_retry_after(serve: Any, emulator: Emulator) -> None:
    served = serve()
    emulator.enqueue(Fault(status_code=503), times=5)
    response = post(served)
    error_of(response, 503, "upstream_unavailable")
    assert int(response.headers["retry-after"]) >= 1


def test_an_upstream_that_refuses_the_key_is_a_502(serve: Any, emulator: Emulator) -> None:
    served = serve()
    emulator.enqueue(Fault(status_code=401))
    error_of(post(served), 502, "upstream_error")


def test_an_offer_the_upstream_refuses_is_the_browsers_400(serve: Any, emulator: Emulator) -> None:
    served = serve()
    emulator.enqueue(
        Fault(
            status_code=400, body=b'{"error":{"message":"bad","type":"invalid_request_error","code":"x","param":"sdp"}}'
        )
    )
    error = error_of(post(served), 400, "invalid_offer")
    assert error["param"] == "sdp"


def test_a_bad_session_configuration_is_the_servers_500_and_nothing_is_sent(serve: Any, emulator: Emulator) -> None:
    served = serve(session={"turn_detection": {"type": "nonsense_vad"}})
    error_of(post(served), 500, "server_misconfigured")
    assert emulator.calls.all() == []


def test_one_access_line_per_request_without_the_query(serve: Any, caplog: pytest.LogCaptureFixture) -> None:
    served = serve()
    with caplog.at_level(logging.INFO, logger="realtime_service.web.access"):
        post(served, query="?voice=cedar")
    lines = [r.getMessage() for r in caplog.records if r.name == "realtime_service.web.access"]
    assert len(lines) == 1
    assert lines[0].startswith("POST /session -> 201")
    assert "cedar" not in lines[0]


def test_the_signaling_route_can_be_turned_off(serve: Any, emulator: Emulator) -> None:
    served = serve(session_path="off")
    error_of(post(served), 404, "not_found")
    assert emulator.calls.all() == []


# -- cost control ------------------------------------------------------------------------------------------


def test_max_call_seconds_hangs_the_call_up(serve: Any, emulator: Emulator) -> None:
    served = serve(max_call_seconds=0.5)
    response = post(served)
    assert response.status_code == 201
    record = emulator.calls.wait_for(response.headers["x-call-id"], {"hung_up"}, timeout=15)
    assert record.states[-2:] == ("active", "hung_up") or list(record.states[-2:]) == ["active", "hung_up"]
    assert [d.action for d in record.decisions] == ["hangup"]


def test_max_call_seconds_hangs_a_live_session_up(serve: Any, emulator: Emulator) -> None:
    served = serve(max_call_seconds=0.5, voice_api="live")
    response = post(served)
    assert response.status_code == 201
    record = emulator.calls.wait_for(response.headers["x-call-id"], {"hung_up"}, timeout=15)
    assert record.api == "live"


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_scheduler_hangs_up_only_what_is_due(emulator: Emulator, realtime_emulator_container: Any) -> None:
    service = realtime_emulator_container.realtime_session_service()
    first = service.create_call(OFFER).call_id
    second = service.create_call(OFFER).call_id
    clock = ManualClock()
    scheduler = HangupScheduler(lambda: service, 60, clock=clock)
    scheduler.schedule("realtime", first)
    clock.now += 30
    scheduler.schedule("realtime", second)
    assert scheduler.run_due() == 0
    clock.now += 31
    assert scheduler.run_due() == 1
    assert emulator.calls.get(first).state == "hung_up"  # type: ignore[union-attr]
    assert emulator.calls.get(second).state == "active"  # type: ignore[union-attr]
    assert [(api, call_id) for api, call_id, _ in scheduler.pending()] == [("realtime", second)]


def test_a_call_that_already_ended_counts_as_hung_up(emulator: Emulator, realtime_emulator_container: Any) -> None:
    service = realtime_emulator_container.realtime_session_service()
    call_id = service.create_call(OFFER).call_id
    service.hangup_call(call_id)
    clock = ManualClock()
    scheduler = HangupScheduler(lambda: service, 1, clock=clock)
    scheduler.schedule("realtime", call_id)
    clock.now += 2
    assert scheduler.run_due() == 1
    assert scheduler.pending() == []


def test_a_failed_hang_up_is_tried_again_later(emulator: Emulator, realtime_emulator_container: Any) -> None:
    service = realtime_emulator_container.realtime_session_service()
    call_id = service.create_call(OFFER).call_id
    clock = ManualClock()
    scheduler = HangupScheduler(lambda: service, 1, clock=clock)
    scheduler.schedule("realtime", call_id)
    emulator.enqueue(Fault(status_code=500), times=10)
    clock.now += 2
    scheduler.run_due()
    assert [item[1] for item in scheduler.pending()] == [call_id]
    emulator.clear()
    clock.now += 10
    scheduler.run_due()
    assert emulator.calls.get(call_id).state == "hung_up"  # type: ignore[union-attr]


def test_stopping_logs_the_calls_left_running(caplog: pytest.LogCaptureFixture) -> None:
    scheduler = HangupScheduler(lambda: None, 600).start()
    scheduler.schedule("realtime", "rtc_left_running")
    with caplog.at_level(logging.WARNING, logger="realtime_service.web.hangups"):
        scheduler.stop()
    assert "rtc_left_running" in caplog.text
    assert "timers are now lost" in caplog.text


def test_an_answer_holding_the_api_key_is_never_handed_to_the_browser(
    serve: Any, emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    served = serve()
    leaked = f"v=0\r\ns=-\r\na=x-echo:{emulator.api_key}\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n".encode()
    emulator.enqueue(
        Fault(
            status_code=201,
            body=leaked,
            content_type="application/sdp",
            headers=(("location", "/v1/realtime/calls/rtc_0123456789abcdef"),),
        )
    )
    with caplog.at_level(logging.INFO):
        response = post(served)
    error_of(response, 502, "upstream_invalid_response")
    assert emulator.api_key.encode() not in response.content
    assert emulator.api_key not in caplog.text
