"""The emulator's Realtime-call and Live-session routes over real loopback sockets, and the official SDK on them."""

from __future__ import annotations

import importlib.util
import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import assume, given
from hypothesis import strategies as st

from realtime_service.emulator import Emulator, Fault, multipart
from realtime_service.emulator.call_registry import CallRecord

OFFER = (Path(__file__).parent / "sdp" / "chromium_offer.sdp").read_bytes()
SESSION = {"type": "realtime", "model": "gpt-realtime", "audio": {"output": {"voice": "marin"}}}
LIVE_SESSION = {"model": "gpt-live-1", "instructions": "Be brief.", "audio": {"output": {"voice": "marin"}}}
LOCATION = re.compile(r"\A/v1/realtime/calls/(rtc_[0-9a-f]{32})\Z")


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


def _auth(emu: Emulator) -> dict[str, str]:
    return {"authorization": f"Bearer {emu.api_key}"}


def _multipart(emu: Emulator, sdp: bytes, session: Any = None, **kwargs: Any) -> requests.Response:
    files: list[tuple[str, Any]] = [("sdp", (None, sdp, "application/sdp"))]
    if session is not None:
        files.append(("session", (None, json.dumps(session), "application/json")))
    return requests.post(emu.base_url + "/realtime/calls", files=files, headers=_auth(emu), timeout=10, **kwargs)


def _raw(emu: Emulator, sdp: bytes, key: str | None = None) -> requests.Response:
    headers = {"authorization": f"Bearer {key or emu.api_key}", "content-type": "application/sdp"}
    return requests.post(emu.base_url + "/realtime/calls", data=sdp, headers=headers, timeout=10)


def _error(response: requests.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return dict(error)


def _pending(emu: Emulator, api: str = "realtime") -> str:
    call_id = ("live_" if api == "live" else "rtc_") + "0123456789abcdef0123456789abcdef"
    emu.calls.add(CallRecord(id=call_id, api=api, transport="sip", state="pending", created_at=0.0))  # type: ignore[arg-type]
    return call_id


def _post(emu: Emulator, path: str, body: Any = None) -> requests.Response:
    return requests.post(emu.base_url + path, json=body, headers=_auth(emu), timeout=10)


# POST /realtime/calls


def test_multipart_from_a_standard_key_gets_201_sdp_and_a_location_and_is_recorded_byte_for_byte(
    emu: Emulator,
) -> None:
    response = _multipart(emu, OFFER, SESSION)
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/sdp"
    match = LOCATION.match(response.headers["location"])
    assert match is not None
    assert response.text.startswith("v=0\r\n")
    assert "a=mid:0" in response.text
    record = emu.calls.get(match.group(1))
    assert record is not None
    assert record.offer == OFFER  # CRLFs and all
    assert b"\r\n" in record.offer
    assert record.session == SESSION
    assert (record.encoding, record.auth, record.state, record.transport) == (
        "multipart",
        "api_key",
        "active",
        "webrtc",
    )
    assert record.answer == response.text
    assert OFFER in emu.requests[-1].body


def test_raw_sdp_from_an_ephemeral_key_the_emulator_minted_creates_a_call_with_the_keys_session(emu: Emulator) -> None:
    minted = _post(emu, "/realtime/client_secrets", {"session": SESSION}).json()
    response = _raw(emu, OFFER, key=minted["value"])
    assert response.status_code == 201, response.text
    record = emu.calls.get(response.headers["location"].rsplit("/", 1)[-1])
    assert record is not None
    assert (record.encoding, record.auth) == ("raw", "ephemeral")
    assert record.offer == OFFER
    assert record.session == minted["session"]


def test_an_ephemeral_key_it_did_not_mint_or_that_expired_is_a_401() -> None:
    now = [1_000_000.0]
    with Emulator(clock=lambda: now[0]) as emu:
        assert _error(_raw(emu, OFFER, key="ek_" + "0" * 32), 401)["code"] == "invalid_api_key"
        minted = _post(emu, "/realtime/client_secrets", {"expires_after": {"anchor": "created_at", "seconds": 10}})
        key = minted.json()["value"]
        assert _raw(emu, OFFER, key=key).status_code == 201
        now[0] += 11
        error = _error(_raw(emu, OFFER, key=key), 401)
        assert key not in error["message"]
        assert len(emu.calls.all()) == 1


def test_raw_sdp_from_a_standard_key_is_tolerated_unless_the_emulator_is_told_to_refuse_it(emu: Emulator) -> None:
    response = _raw(emu, OFFER)
    assert response.status_code == 201
    emu.calls.refuse_raw_sdp_with_api_key = True
    assert _error(_raw(emu, OFFER), 400)["param"] == "sdp"


def test_without_a_key_it_is_a_401_and_no_call(emu: Emulator) -> None:
    response = requests.post(
        emu.base_url + "/realtime/calls", data=OFFER, headers={"content-type": "application/sdp"}, timeout=10
    )
    _error(response, 401)
    wrong = requests.post(
        emu.base_url + "/realtime/calls",
        data=OFFER,
        headers={"content-type": "application/sdp", "authorization": "Bearer sk-wrong"},
        timeout=10,
    )
    _error(wrong, 401)
    assert emu.calls.all() == []


@pytest.mark.parametrize(
    ("offer", "code"),
    [
        (b"", "missing_required_parameter"),
        (b"v=1\r\nm=audio 9 RTP/AVP 0\r\n", "invalid_offer"),
        (b"v=0\r\ns=-\r\nm=video 9 RTP/AVP 96\r\n", "invalid_offer"),
        (b"v=0\r\nm=audio 9 RTP/AVP 0\r\ns=\xff\r\n", "invalid_offer"),
        (b"v=0\r\nm=audio 9 RTP/AVP 0\r\n\r\nm=audio x\r\n", "invalid_offer"),
    ],
    ids=["empty", "not-v0", "no-audio", "not-utf8", "empty-line"],
)
@pytest.mark.parametrize("encoding", ["multipart", "raw"])
def test_a_malformed_offer_is_a_400_naming_sdp_and_creates_nothing(
    emu: Emulator, offer: bytes, code: str, encoding: str
) -> None:
    response = _multipart(emu, offer, SESSION) if encoding == "multipart" else _raw(emu, offer)
    error = _error(response, 400)
    assert (error["param"], error["code"]) == ("sdp", code)
    assert emu.calls.all() == []


@pytest.mark.parametrize(
    ("session", "param", "code"),
    [
        ({"model": "gpt-realtime"}, "session.type", "missing_required_parameter"),
        ({"type": "realtime", "voise": "marin"}, "session.voise", "unknown_parameter"),
        ({"type": "realtime", "audio": {"output": {"speed": 9}}}, "session.audio.output.speed", None),
        ({"type": "transcription"}, "session.type", "invalid_value"),
        ([1], "session", "invalid_type"),
    ],
)
def test_the_session_part_is_validated_as_client_secrets_sessions_are(
    emu: Emulator, session: Any, param: str, code: str | None
) -> None:
    error = _error(_multipart(emu, OFFER, session), 400)
    assert error["param"] == param
    if code is not None:
        assert error["code"] == code
    assert emu.calls.all() == []


def test_a_multipart_without_sdp_or_with_an_unknown_or_repeated_part_is_a_400(emu: Emulator) -> None:
    session_only = [("session", (None, json.dumps(SESSION), "application/json"))]
    response = requests.post(emu.base_url + "/realtime/calls", files=session_only, headers=_auth(emu), timeout=10)
    assert _error(response, 400)["param"] == "sdp"
    extra = [("sdp", (None, OFFER, "application/sdp")), ("model", (None, b"gpt-realtime", "text/plain"))]
    response = requests.post(emu.base_url + "/realtime/calls", files=extra, headers=_auth(emu), timeout=10)
    assert _error(response, 400)["code"] == "unknown_parameter"
    twice = [("sdp", (None, OFFER, "application/sdp"))] * 2
    response = requests.post(emu.base_url + "/realtime/calls", files=twice, headers=_auth(emu), timeout=10)
    assert _error(response, 400)["param"] == "sdp"
    assert emu.calls.all() == []


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data; boundary=abc", b'--abc\r\nContent-Disposition: form-data; name="sdp"\r\n\r\nv=0'),
        ("multipart/form-data", b"--abc--"),
        ("multipart/form-data; boundary=abc", b"garbage"),
        ("application/json", json.dumps({"sdp": OFFER.decode()}).encode()),
        ("text/plain", OFFER),
    ],
    ids=["unclosed", "no-boundary", "no-delimiter", "json", "text"],
)
def test_a_body_neither_multipart_nor_sdp_is_a_clear_400(emu: Emulator, content_type: str, body: bytes) -> None:
    headers = {**_auth(emu), "content-type": content_type}
    response = requests.post(emu.base_url + "/realtime/calls", data=body, headers=headers, timeout=10)
    assert _error(response, 400)["message"]
    assert emu.calls.all() == []


def test_an_explicit_null_session_part_is_no_session(emu: Emulator) -> None:
    files = [("sdp", (None, OFFER, "application/sdp")), ("session", (None, b"null", "application/json"))]
    response = requests.post(emu.base_url + "/realtime/calls", files=files, headers=_auth(emu), timeout=10)
    assert response.status_code == 201
    assert emu.calls.all()[0].session is None


def test_faults_apply_to_calls_and_a_lost_answer_still_leaves_the_call(emu: Emulator) -> None:
    emu.enqueue(Fault(status_code=503))
    assert _multipart(emu, OFFER, SESSION).status_code == 503
    assert emu.calls.all() == []  # a scripted answer: the endpoint never ran
    emu.enqueue(Fault(truncate_to=10))  # the endpoint ran, then the answer was cut off
    with pytest.raises(requests.RequestException):
        _multipart(emu, OFFER, SESSION)
    assert len(emu.calls.all()) == 1  # why a client must not retry a create after an unknown outcome
    emu.enqueue(Fault(status_code=429, headers=(("retry-after", "1"),)))
    assert _post(emu, f"/realtime/calls/{emu.calls.all()[0].id}/hangup").status_code == 429
    assert emu.calls.all()[0].state == "active"


# hangup / accept / reject / refer (Realtime)


def test_hangup_of_a_webrtc_call_is_200_empty_then_404(emu: Emulator) -> None:
    call_id = LOCATION.match(_multipart(emu, OFFER, SESSION).headers["location"]).group(1)  # type: ignore[union-attr]
    response = requests.post(f"{emu.base_url}/realtime/calls/{call_id}/hangup", headers=_auth(emu), timeout=10)
    assert (response.status_code, response.content) == (200, b"")
    assert emu.calls.get(call_id).state == "hung_up"  # type: ignore[union-attr]
    again = requests.post(f"{emu.base_url}/realtime/calls/{call_id}/hangup", headers=_auth(emu), timeout=10)
    assert _error(again, 404)["code"] == "call_id_not_found"


def test_a_webrtc_call_cannot_be_accepted_rejected_or_referred(emu: Emulator) -> None:
    call_id = _multipart(emu, OFFER, SESSION).headers["location"].rsplit("/", 1)[-1]
    assert _error(_post(emu, f"/realtime/calls/{call_id}/accept", SESSION), 400)["code"] == "invalid_call_state"
    assert _error(_post(emu, f"/realtime/calls/{call_id}/reject", {}), 400)["code"] == "invalid_call_state"
    refer = {"target_uri": "tel:+14155550123"}
    assert _error(_post(emu, f"/realtime/calls/{call_id}/refer", refer), 400)["code"] == "invalid_call_state"
    assert emu.calls.get(call_id).state == "active"  # type: ignore[union-attr]


@pytest.mark.parametrize("action", ["accept", "reject", "refer", "hangup"])
@pytest.mark.parametrize("family", ["/realtime/calls", "/live/sessions"])
def test_an_unknown_id_is_the_apis_404(emu: Emulator, family: str, action: str) -> None:
    body = {"accept": SESSION, "reject": {"status_code": 486}, "refer": {"target_uri": "tel:+1"}, "hangup": None}[
        action
    ]
    if family == "/live/sessions" and action == "accept":
        body = {"session": {"type": "live", "model": "gpt-live-1"}}
    error = _error(_post(emu, f"{family}/rtc_unknown/{action}", body), 404)
    assert error["code"] in {"call_id_not_found", "session_id_not_found"}
    assert "rtc_unknown" in error["message"]


def test_a_live_id_on_the_realtime_path_is_not_found(emu: Emulator) -> None:
    live_id = _pending(emu, "live")
    _error(_post(emu, f"/realtime/calls/{live_id}/accept", SESSION), 404)
    assert emu.calls.get(live_id).state == "pending"  # type: ignore[union-attr]


def test_accepting_a_pending_call_records_the_session_and_a_second_decision_is_refused(emu: Emulator) -> None:
    call_id = _pending(emu)
    response = _post(emu, f"/realtime/calls/{call_id}/accept", SESSION)
    assert (response.status_code, response.content) == (200, b"")
    record = emu.calls.get(call_id)
    assert record is not None
    assert (record.state, record.session) == ("accepted", SESSION)
    assert [d.action for d in record.decisions] == ["accept"]
    assert _error(_post(emu, f"/realtime/calls/{call_id}/accept", SESSION), 400)["code"] == "invalid_call_state"
    assert _error(_post(emu, f"/realtime/calls/{call_id}/reject", {}), 400)["code"] == "invalid_call_state"
    assert _post(emu, f"/realtime/calls/{call_id}/refer", {"target_uri": "sip:agent@example.com"}).status_code == 200
    assert _error(_post(emu, f"/realtime/calls/{call_id}/hangup"), 404)["code"] == "call_id_not_found"
    assert emu.calls.get(call_id).states == ("pending", "accepted", "referred")  # type: ignore[union-attr]


def test_an_invalid_accept_payload_is_refused_and_the_call_stays_pending(emu: Emulator) -> None:
    call_id = _pending(emu)
    error = _error(_post(emu, f"/realtime/calls/{call_id}/accept", {"type": "realtime", "voice": "marin"}), 400)
    assert (error["param"], error["code"]) == ("voice", "unknown_parameter")
    assert _error(_post(emu, f"/realtime/calls/{call_id}/accept", {"model": "x"}), 400)["param"] == "type"
    assert emu.calls.get(call_id).state == "pending"  # type: ignore[union-attr]


def test_reject_without_a_body_or_with_a_status_and_its_bad_statuses(emu: Emulator) -> None:
    bare = _pending(emu)
    response = requests.post(f"{emu.base_url}/realtime/calls/{bare}/reject", headers=_auth(emu), timeout=10)
    assert response.status_code == 200
    assert emu.calls.get(bare).state == "rejected"  # type: ignore[union-attr]
    assert _error(_post(emu, f"/realtime/calls/{bare}/reject", {}), 400)["code"] == "invalid_call_state"
    emu.calls.clear()
    call_id = _pending(emu)
    assert _error(_post(emu, f"/realtime/calls/{call_id}/reject", {"status_code": 200}), 400)["param"] == "status_code"
    assert (
        _error(_post(emu, f"/realtime/calls/{call_id}/reject", {"status_code": "486"}), 400)["param"] == "status_code"
    )
    assert _post(emu, f"/realtime/calls/{call_id}/reject", {"status_code": 486}).status_code == 200
    assert emu.calls.get(call_id).decisions[-1].body == {"status_code": 486}  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("body", "param"),
    [({}, "target_uri"), ({"target_uri": " "}, "target_uri"), ({"target_uri": "https://x.example"}, "target_uri")],
)
def test_refer_needs_a_tel_sip_or_sips_uri(emu: Emulator, body: dict[str, Any], param: str) -> None:
    call_id = _pending(emu)
    assert _error(_post(emu, f"/realtime/calls/{call_id}/refer", body), 400)["param"] == param
    assert emu.calls.get(call_id).state == "pending"  # type: ignore[union-attr]


def test_racing_accepts_decide_once(emu: Emulator) -> None:
    call_id = _pending(emu)
    statuses: list[int] = []
    barrier = threading.Barrier(8)

    def accept() -> None:
        barrier.wait()
        statuses.append(_post(emu, f"/realtime/calls/{call_id}/accept", SESSION).status_code)

    threads = [threading.Thread(target=accept) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] + [400] * 7
    assert len(emu.calls.get(call_id).decisions) == 1  # type: ignore[union-attr]


# GPT-Live


def test_live_create_answers_the_session_id_and_an_sdp_answer_and_records_the_offer(emu: Emulator) -> None:
    body = {"session": LIVE_SESSION, "transport": {"type": "webrtc", "sdp": OFFER.decode()}}
    response = _post(emu, "/live/sessions", body)
    assert response.status_code == 200
    answer = response.json()
    assert answer["transport"]["type"] == "webrtc"
    assert answer["transport"]["sdp"].startswith("v=0\r\n")
    assert re.fullmatch(r"live_[0-9a-f]{32}", answer["session"]["id"])
    record = emu.calls.get(answer["session"]["id"])
    assert record is not None
    assert (record.api, record.state, record.offer, record.session) == ("live", "active", OFFER, LIVE_SESSION)
    hangup = _post(emu, f"/live/sessions/{record.id}/hangup")
    assert hangup.status_code == 200
    assert _error(_post(emu, f"/live/sessions/{record.id}/hangup"), 404)["code"] == "session_id_not_found"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"transport": {"type": "webrtc", "sdp": OFFER.decode()}}, "session"),
        ({"session": {"instructions": "x"}, "transport": {"type": "webrtc", "sdp": OFFER.decode()}}, "session.model"),
        (
            {"session": {**LIVE_SESSION, "voice": "marin"}, "transport": {"type": "webrtc", "sdp": "v=0"}},
            "session.voice",
        ),
        ({"session": LIVE_SESSION, "transport": {"type": "websocket", "sdp": OFFER.decode()}}, "transport.type"),
        ({"session": LIVE_SESSION, "transport": {"type": "webrtc"}}, "transport.sdp"),
        ({"session": LIVE_SESSION, "transport": {"type": "webrtc", "sdp": "v=1"}}, "transport.sdp"),
        (
            {"session": {**LIVE_SESSION, "delegation": {"type": "responses"}}, "transport": {}},
            "session.delegation.responses",
        ),
        (
            {
                "session": {**LIVE_SESSION, "wake_policy": {"type": "speech", "vad_threshold": 2}},
                "transport": {"type": "webrtc", "sdp": OFFER.decode()},
            },
            "session.wake_policy.vad_threshold",
        ),
    ],
)
def test_live_create_is_validated_field_by_field(emu: Emulator, body: dict[str, Any], param: str) -> None:
    assert _error(_post(emu, "/live/sessions", body), 400)["param"] == param
    assert emu.calls.all() == []


def test_live_sip_decisions_follow_the_notes(emu: Emulator) -> None:
    session_id = _pending(emu, "live")
    base = f"/live/sessions/{session_id}"
    assert _error(_post(emu, f"{base}/accept", {"session": {"model": "gpt-live-1"}}), 400)["param"] == "session.type"
    assert _error(_post(emu, f"{base}/accept", {"type": "live", "model": "gpt-live-1"}), 400)["param"] in {
        "session",
        "type",
        "model",
    }
    assert _error(_post(emu, f"{base}/reject", {}), 400)["param"] == "status_code"  # required for Live
    assert _error(_post(emu, f"{base}/reject", {"status_code": 700}), 400)["param"] == "status_code"
    accepted = {"session": {"type": "live", "model": "gpt-live-1", "instructions": "Hi."}}
    assert _post(emu, f"{base}/accept", accepted).status_code == 200
    record = emu.calls.get(session_id)
    assert record is not None
    assert (record.state, record.session) == ("accepted", accepted["session"])
    assert _error(_post(emu, f"{base}/reject", {"status_code": 486}), 400)["code"] == "invalid_call_state"
    assert _post(emu, f"{base}/hangup").status_code == 200


def test_live_reject_and_refer_of_pending_sessions(emu: Emulator) -> None:
    first = _pending(emu, "live")
    assert _post(emu, f"/live/sessions/{first}/reject", {"status_code": 486}).status_code == 200
    assert emu.calls.get(first).state == "rejected"  # type: ignore[union-attr]
    emu.calls.clear()
    second = _pending(emu, "live")
    assert _post(emu, f"/live/sessions/{second}/refer", {"target_uri": "tel:+14155550123"}).status_code == 200
    assert emu.calls.get(second).state == "referred"  # type: ignore[union-attr]


# Azure


def test_azure_serves_create_call_reject_and_live_create_only() -> None:
    with Emulator(azure=True) as emu:
        headers = {"api-key": emu.api_key}
        files = [
            ("sdp", (None, OFFER, "application/sdp")),
            ("session", (None, json.dumps(SESSION), "application/json")),
        ]
        response = requests.post(
            emu.azure_endpoint + "/openai/v1/realtime/calls", files=files, headers=headers, timeout=10
        )
        assert response.status_code == 201
        assert re.fullmatch(r"/openai/v1/realtime/calls/rtc_[0-9a-f]{32}", response.headers["location"])
        live = {"session": LIVE_SESSION, "transport": {"type": "webrtc", "sdp": OFFER.decode()}}
        response = requests.post(
            emu.azure_endpoint + "/openai/v1/live/sessions", json=live, headers=headers, timeout=10
        )
        assert response.status_code == 200
        call_id = _pending(emu)
        hangup = requests.post(
            f"{emu.azure_endpoint}/openai/v1/realtime/calls/{call_id}/hangup", headers=headers, timeout=10
        )
        assert (hangup.status_code, hangup.json()) == (404, {"error": {"code": "404", "message": "Resource not found"}})
        reject = requests.post(
            f"{emu.azure_endpoint}/openai/v1/realtime/calls/{call_id}/reject", json={}, headers=headers, timeout=10
        )
        assert reject.status_code == 200
        no_key = requests.post(emu.azure_endpoint + "/openai/v1/realtime/calls", files=files, timeout=10)
        assert no_key.status_code == 401


# the official SDK against the emulator


@pytest.fixture
def sdk(emu: Emulator) -> Any:
    if importlib.util.find_spec("openai") is None:
        pytest.skip("SDK CROSS-CHECK SKIPPED: the openai package is not installed (pip install -e '.[bench]')")
    import openai

    client = openai.OpenAI(api_key=emu.api_key, base_url=emu.base_url, max_retries=0)
    if not hasattr(client.realtime, "calls") or not hasattr(client, "live"):
        pytest.skip(f"SDK CROSS-CHECK SKIPPED: openai {openai.__version__} has no client.realtime.calls/client.live")
    return client


def test_the_sdk_creates_a_call_multipart_with_session_and_the_offer_arrives_byte_for_byte(
    emu: Emulator, sdk: Any
) -> None:
    raw = sdk.realtime.calls.with_raw_response.create(sdp=OFFER.decode(), session=SESSION)
    assert raw.status_code == 201
    call_id = raw.headers["location"].rsplit("/", 1)[-1]
    record = emu.calls.get(call_id)
    assert record is not None
    assert (record.encoding, record.offer, record.session) == ("multipart", OFFER, SESSION)
    assert raw.parse().content.decode() == record.answer


def test_the_sdk_sends_raw_sdp_when_session_is_omitted_and_it_works(emu: Emulator, sdk: Any) -> None:
    answer = sdk.realtime.calls.create(sdp=OFFER.decode())
    record = emu.calls.all()[-1]
    assert record.encoding == "raw"
    assert record.offer == OFFER
    assert answer.content.decode() == record.answer


def test_the_sdk_live_create_and_hangup(emu: Emulator, sdk: Any) -> None:
    created = sdk.live.create(session=LIVE_SESSION, transport={"type": "webrtc", "sdp": OFFER.decode()})
    assert created.session.id.startswith("live_")
    assert created.transport.sdp == emu.calls.get(created.session.id).answer  # type: ignore[union-attr]
    assert sdk.live.sessions.hangup(created.session.id) is None
    assert emu.calls.get(created.session.id).state == "hung_up"  # type: ignore[union-attr]


def test_the_sdk_realtime_accept_reject_refer_hangup(emu: Emulator, sdk: Any) -> None:
    import openai

    first = _pending(emu)
    assert sdk.realtime.calls.accept(first, **SESSION) is None
    assert emu.calls.get(first).session == SESSION  # type: ignore[union-attr]
    sdk.realtime.calls.refer(first, target_uri="tel:+14155550123")
    assert emu.calls.get(first).state == "referred"  # type: ignore[union-attr]
    with pytest.raises(openai.NotFoundError):
        sdk.realtime.calls.hangup(first)
    emu.calls.clear()
    second = _pending(emu)
    sdk.realtime.calls.reject(second, status_code=486)
    assert emu.calls.get(second).decisions[-1].body == {"status_code": 486}  # type: ignore[union-attr]
    with pytest.raises(openai.BadRequestError):
        sdk.realtime.calls.accept(second, type="realtime")


def test_the_sdk_live_accept_reject_refer(emu: Emulator, sdk: Any) -> None:
    first = _pending(emu, "live")
    sdk.live.sessions.accept(first, session={"type": "live", "model": "gpt-live-1"})
    assert emu.calls.get(first).state == "accepted"  # type: ignore[union-attr]
    sdk.live.sessions.refer(first, target_uri="sip:agent@example.com")
    assert emu.calls.get(first).state == "referred"  # type: ignore[union-attr]
    emu.calls.clear()
    second = _pending(emu, "live")
    sdk.live.sessions.reject(second, status_code=603)
    assert emu.calls.get(second).state == "rejected"  # type: ignore[union-attr]


# the multipart reader


@given(st.binary(max_size=300), st.from_regex(r"\A[A-Za-z0-9'()+_,\-.=]{1,40}\Z", fullmatch=True))
def test_the_multipart_reader_returns_each_part_byte_for_byte(data: bytes, boundary: str) -> None:
    delimiter = b"\r\n--" + boundary.encode()
    assume(delimiter not in b"\r\n" + data + b"\r\n")
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="sdp"\r\nContent-Type: application/sdp\r\n\r\n'.encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    [part] = multipart.parse(body, boundary)
    assert (part.name, part.content_type, part.data) == ("sdp", "application/sdp", data)


@given(st.binary(max_size=300))
def test_the_multipart_reader_never_fails_but_with_its_own_error(body: bytes) -> None:
    try:
        parts = multipart.parse(body, "abc")
    except multipart.MultipartError:
        return
    assert all(isinstance(part.data, bytes) for part in parts)
