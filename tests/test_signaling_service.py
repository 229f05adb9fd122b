"""WebRTC signaling through the service, over real sockets against the emulator: ``create_call``,
``create_live_session``, both hang-ups and their ``a``-twins; what is checked before sending; the retry rule of
each operation branch by branch; Azure; and property tests for the id patterns and ``Location`` parsing."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realtime_service import (
    APIConnectionError,
    APITimeoutError,
    CallCreateResult,
    ConfigurationError,
    InternalServerError,
    LiveSessionConfig,
    NotFoundError,
    RateLimitError,
    RealtimeSessionConfig,
    RealtimeSessionService,
    RequestValidationError,
    ResponseValidationError,
    RetryPolicy,
)
from realtime_service.containers import RealtimeContainer
from realtime_service.emulator import Emulator, Fault
from realtime_service.ga.calls import CALL_ID, call_id_from_location
from realtime_service.ga.models import AudioOutput, RealtimeAudioConfig
from realtime_service.live.models import SESSION_ID, AudioConfig, CustomVoice, ResponsesConfig, ResponsesDelegation
from realtime_service.live.models import AudioOutput as LiveAudioOutput
from realtime_service.testing import FakeGateway

OFFER = (Path(__file__).parent / "sdp" / "chromium_offer.sdp").read_bytes()
LIVE = {"model": "gpt-live-1", "audio": {"output": {"voice": "marin"}}}


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator() as emu:
        yield emu


def service_for(emulator: Emulator, **config: Any) -> tuple[RealtimeContainer, RealtimeSessionService]:
    container = RealtimeContainer(environ={})
    container.config.from_dict(
        {"api_key": emulator.api_key, "base_url": emulator.base_url, "retry": {"max_retries": 2}, **config}
    )
    container.sleep.override(lambda _seconds: None)
    container.asleep.override(_no_wait)
    return container, container.realtime_session_service()


async def _no_wait(_seconds: float) -> None:
    return None


@pytest.fixture
def service(emulator: Emulator) -> Iterator[RealtimeSessionService]:
    container, svc = service_for(emulator, timeout={"connect": 2.0, "read": 0.5})
    yield svc
    container.shutdown_resources()


def posts(emulator: Emulator, path_end: str) -> int:
    return sum(1 for r in emulator.requests if r.method == "POST" and r.path.endswith(path_end))


# --- create_call ---------------------------------------------------------------------------------------------


def test_create_call_sends_the_offer_byte_for_byte_and_the_session_as_multipart(
    emulator: Emulator, service: RealtimeSessionService
) -> None:
    session = {"type": "realtime", "instructions": "Be brief.", "audio": {"output": {"voice": "marin"}}}
    result = service.create_call(OFFER, session)
    assert isinstance(result, CallCreateResult)
    record = emulator.calls.get(result.call_id or "")
    assert record is not None
    assert record.offer == OFFER
    assert b"\r\n" in record.offer
    assert record.encoding == "multipart"
    assert record.session == session
    assert result.sdp == record.answer
    assert result.sdp.startswith("v=0\r\n")
    assert result.request_id is not None
    assert result.request_id.startswith("req_")


def test_create_call_without_a_session_stays_multipart_so_a_standard_key_is_never_sent_raw_sdp(
    emulator: Emulator, service: RealtimeSessionService
) -> None:
    emulator.calls.refuse_raw_sdp_with_api_key = True
    result = service.create_call(OFFER.decode("utf-8"))
    record = emulator.calls.get(result.call_id or "")
    assert record is not None
    assert record.encoding == "multipart"
    assert record.session == {"type": "realtime"}
    assert record.offer == OFFER


def test_create_call_takes_a_typed_session(emulator: Emulator, service: RealtimeSessionService) -> None:
    session = RealtimeSessionConfig(
        model="gpt-realtime-2", audio=RealtimeAudioConfig(output=AudioOutput(voice="cedar"))
    )
    result = service.create_call(OFFER, session)
    record = emulator.calls.get(result.call_id or "")
    assert record is not None
    assert record.session == {
        "type": "realtime",
        "model": "gpt-realtime-2",
        "audio": {"output": {"voice": "cedar"}},
    }


def test_an_invalid_session_is_refused_by_dotted_path_before_anything_is_sent(
    emulator: Emulator, service: RealtimeSessionService
) -> None:
    with pytest.raises(RequestValidationError) as caught:
        service.create_call(OFFER, {"type": "realtime", "audio": {"output": {"speed": 9}}, "tempo": 1})
    assert caught.value.fields == ["session.audio.output.speed", "session.tempo"]
    with pytest.raises(RequestValidationError) as untyped:
        service.create_call(OFFER, {"instructions": "no type"})
    assert untyped.value.fields == ["session.type"]
    assert posts(emulator, "/realtime/calls") == 0


@pytest.mark.parametrize(
    "offer",
    [b"", b"   ", b"v=1\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n", b"v=0\r\nm=video 9 RTP/AVP 96\r\n", b"\xff\xfe"],
)
def test_an_offer_that_cannot_work_is_refused_naming_sdp_before_anything_is_sent(
    emulator: Emulator, service: RealtimeSessionService, offer: bytes
) -> None:
    with pytest.raises(RequestValidationError) as caught:
        service.create_call(offer)
    assert caught.value.fields == ["sdp"]
    with pytest.raises(RequestValidationError) as live:
        service.create_live_session(offer, LIVE)
    assert live.value.fields == ["sdp"]
    assert emulator.requests == []


def test_a_201_that_is_not_sdp_is_a_response_validation_error_with_the_request_id(
    emulator: Emulator, service: RealtimeSessionService
) -> None:
    emulator.enqueue(Fault.raw(b'{"ok": true}', status=201))
    with pytest.raises(ResponseValidationError) as caught:
        service.create_call(OFFER)
    assert "SDP answer" in str(caught.value)
    assert caught.value.status_code == 201


# --- create_live_session -------------------------------------------------------------------------------------


def test_create_live_session_sends_session_and_transport_and_reads_id_and_answer(
    emulator: Emulator, service: RealtimeSessionService
) -> None:
    result = service.create_live_session(OFFER, LIVE)
    assert SESSION_ID.fullmatch(result.session_id)
    record = emulator.calls.get(result.session_id)
    assert record is not None
    assert record.api == "live"
    assert record.offer == OFFER
    assert record.session == LIVE
    assert result.sdp == record.answer
    assert result.request_id is not None


def test_create_live_session_takes_a_typed_config(emulator: Emulator, service: RealtimeSessionService) -> None:
    config = LiveSessionConfig(
        model="gpt-live-1.1",
        audio=AudioConfig(output=LiveAudioOutput(voice=CustomVoice("voice_123"))),
        delegation=ResponsesDelegation(responses=ResponsesConfig(model="gpt-5", tools=[{"type": "web_search"}])),
        store=True,
    )
    result = service.create_live_session(OFFER, config)
    record = emulator.calls.get(result.session_id)
    assert record is not None
    assert record.session == {
        "model": "gpt-live-1.1",
        "audio": {"output": {"voice": {"id": "voice_123"}}},
        "delegation": {"type": "responses", "responses": {"model": "gpt-5", "tools": [{"type": "web_search"}]}},
        "store": True,
    }


def test_a_live_session_without_a_model_is_refused_before_sending(
    emulator: Emulator, service: RealtimeSessionService
) -> None:
    with pytest.raises(RequestValidationError) as caught:
        service.create_live_session(OFFER, {"audio": {"output": {"voice": "marin"}}})
    assert caught.value.fields == ["session.model"]
    assert emulator.requests == []


@pytest.mark.parametrize(
    "body",
    [
        {"session": {}, "transport": {"type": "webrtc", "sdp": "v=0\r\n"}},
        {"session": {"id": "live_../x"}, "transport": {"type": "webrtc", "sdp": "v=0\r\n"}},
        {"session": {"id": "live_1"}, "transport": {"type": "webrtc"}},
        [],
    ],
)
def test_a_live_answer_without_a_usable_id_or_sdp_is_a_response_validation_error(
    emulator: Emulator, service: RealtimeSessionService, body: Any
) -> None:
    emulator.enqueue(Fault.json(body))
    with pytest.raises(ResponseValidationError):
        service.create_live_session(OFFER, LIVE)


# --- hang-ups ------------------------------------------------------------------------------------------------


def test_hangups_end_the_call_and_the_session(emulator: Emulator, service: RealtimeSessionService) -> None:
    call = service.create_call(OFFER)
    live = service.create_live_session(OFFER, LIVE)
    hung_up = service.hangup_call(call.call_id or "")
    closed = asyncio.run(service.ahangup_live_session(live.session_id))
    assert (hung_up.status_code, closed.status_code) == (200, 200)
    assert hung_up.request_id is not None
    assert closed.request_id is not None
    assert hung_up.request_id != closed.request_id
    assert [emulator.calls.get(i).state for i in (call.call_id or "", live.session_id)] == ["hung_up", "hung_up"]  # type: ignore[union-attr]


def test_hanging_up_an_unknown_call_on_the_first_attempt_is_not_found(
    emulator: Emulator, service: RealtimeSessionService
) -> None:
    with pytest.raises(NotFoundError):
        service.hangup_call("rtc_" + "0" * 32)
    with pytest.raises(NotFoundError):
        service.hangup_live_session("live_" + "0" * 32)


def test_a_hangup_retried_after_an_unknown_outcome_that_then_gets_not_found_counts_as_done(
    emulator: Emulator, service: RealtimeSessionService
) -> None:
    call_id = service.create_call(OFFER).call_id or ""
    service.hangup_call(call_id)  # the call is gone: any later hang-up is a 404
    emulator.enqueue(Fault.status(502))  # outcome unknown: the server may have hung up
    assert service.hangup_call(call_id).status_code == 404  # the retry's 404 means done, and says so
    assert posts(emulator, f"/{call_id}/hangup") == 3


@pytest.mark.parametrize(
    "bad",
    ["", "rtc_", "rtc_../../v1/models", "rtc_a/b", "rtc_a%2Fb", "rtc_a?x=1", "rtc_a#f", "rtc_a\n", "live_1", " rtc_1"],
)
def test_a_call_id_that_could_change_the_path_is_refused_before_sending(
    emulator: Emulator, service: RealtimeSessionService, bad: str
) -> None:
    with pytest.raises(RequestValidationError) as caught:
        service.hangup_call(bad)
    assert caught.value.fields == ["call_id"]
    assert emulator.requests == []


def test_a_session_id_of_the_wrong_family_is_refused(emulator: Emulator, service: RealtimeSessionService) -> None:
    with pytest.raises(RequestValidationError) as caught:
        service.hangup_live_session("rtc_abc")
    assert caught.value.fields == ["session_id"]
    assert emulator.requests == []


# --- the retry rule per operation, over the emulator's faults ------------------------------------------------


def _create(service: RealtimeSessionService, operation: str) -> Any:
    if operation == "create_call":
        return service.create_call(OFFER)
    return service.create_live_session(OFFER, LIVE)


CREATES = [("create_call", "/realtime/calls"), ("create_live_session", "/live/sessions")]


@pytest.mark.parametrize(("operation", "path"), CREATES)
@pytest.mark.parametrize(
    "fault", [Fault.status(429), Fault.status(503), Fault.status(500, headers={"x-should-retry": "true"})]
)
def test_a_billable_create_is_retried_when_the_request_cannot_have_been_processed(
    emulator: Emulator, service: RealtimeSessionService, operation: str, path: str, fault: Fault
) -> None:
    emulator.enqueue(fault)
    _create(service, operation)
    assert posts(emulator, path) == 2
    assert len(emulator.calls.all()) == 1


@pytest.mark.parametrize(("operation", "path"), CREATES)
@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault.status(500), InternalServerError),
        (Fault.status(502), InternalServerError),
        (Fault.status(504), InternalServerError),
        (Fault.status(429, headers={"x-should-retry": "false"}), RateLimitError),
        (Fault.drop(), APIConnectionError),
        (Fault.reset(), APIConnectionError),
        (Fault.delay(1.5), APITimeoutError),
    ],
)
def test_a_billable_create_is_never_repeated_after_an_unknown_outcome(
    emulator: Emulator, service: RealtimeSessionService, operation: str, path: str, fault: Fault, error: type
) -> None:
    emulator.enqueue(fault)
    with pytest.raises(error):
        _create(service, operation)
    assert posts(emulator, path) == 1


def test_a_billable_create_is_retried_when_the_connection_is_refused() -> None:
    with Emulator() as emu:
        base_url, key = emu.base_url, emu.api_key
    waits: list[float] = []
    container = RealtimeContainer(environ={})
    container.config.from_dict({"api_key": key, "base_url": base_url, "retry": {"max_retries": 2}})
    container.sleep.override(waits.append)
    with pytest.raises(APIConnectionError) as caught:
        container.realtime_session_service().create_call(OFFER)
    assert caught.value.request_sent is False
    assert len(waits) == 2  # three attempts


@pytest.mark.parametrize("operation", ["hangup_call", "hangup_live_session"])
@pytest.mark.parametrize("fault", [Fault.status(500), Fault.status(502), Fault.drop(), Fault.delay(1.5)])
def test_a_hangup_is_retried_after_any_retryable_failure(
    emulator: Emulator, service: RealtimeSessionService, operation: str, fault: Fault
) -> None:
    ident = service.create_call(OFFER).call_id if operation == "hangup_call" else None
    ident = ident or service.create_live_session(OFFER, LIVE).session_id
    emulator.enqueue(fault)
    getattr(service, operation)(ident)
    assert emulator.calls.get(ident).state == "hung_up"  # type: ignore[union-attr]
    assert posts(emulator, "/hangup") == 2


def test_the_async_twins_follow_the_same_rules(emulator: Emulator, service: RealtimeSessionService) -> None:
    emulator.enqueue(Fault.status(502))
    with pytest.raises(InternalServerError):
        asyncio.run(service.acreate_call(OFFER))
    emulator.enqueue(Fault.status(503))
    call = asyncio.run(service.acreate_call(OFFER))
    emulator.enqueue(Fault.status(500))
    with pytest.raises(InternalServerError):
        asyncio.run(service.acreate_live_session(OFFER, LIVE))
    live = asyncio.run(service.acreate_live_session(OFFER, LIVE))
    emulator.enqueue(Fault.status(502))
    asyncio.run(service.ahangup_call(call.call_id or ""))
    assert posts(emulator, "/realtime/calls") == 3
    assert posts(emulator, "/live/sessions") == 2
    assert emulator.calls.get(live.session_id) is not None


def test_each_attempt_logs_one_line_with_its_path_and_request_id(
    emulator: Emulator, service: RealtimeSessionService, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="realtime_service")
    emulator.enqueue(Fault.status(503))
    call = service.create_call(OFFER)
    lines = [r for r in caplog.records if r.name == "realtime_service"]
    assert [r.status for r in lines] == [503, 201]  # type: ignore[attr-defined]
    assert lines[-1].path == "/v1/realtime/calls" or lines[-1].path == "/realtime/calls"  # type: ignore[attr-defined]
    assert lines[-1].request_id == call.request_id  # type: ignore[attr-defined]


# --- Azure ---------------------------------------------------------------------------------------------------


def test_azure_creates_calls_and_live_sessions_under_openai_v1_and_refuses_hangups_before_sending() -> None:
    with Emulator(azure=True) as emu:
        container = RealtimeContainer(environ={})
        container.config.from_dict({"provider": "azure", "api_key": emu.api_key, "base_url": emu.azure_endpoint})
        service = container.realtime_session_service()
        call = service.create_call(OFFER)
        live = service.create_live_session(OFFER, LIVE)
        assert emu.calls.get(call.call_id or "") is not None
        assert emu.calls.get(live.session_id) is not None
        sent = len(emu.requests)
        with pytest.raises(ConfigurationError, match="Azure"):
            service.hangup_call(call.call_id or "")
        with pytest.raises(ConfigurationError, match="Azure"):
            asyncio.run(service.ahangup_live_session(live.session_id))
        assert len(emu.requests) == sent
        assert {r.path for r in emu.requests} == {"/openai/v1/realtime/calls", "/openai/v1/live/sessions"}
        container.shutdown_resources()


# --- FakeGateway still serves non-JSON operations ------------------------------------------------------------


def test_the_fake_gateway_records_multipart_and_empty_bodies() -> None:
    fake = FakeGateway()
    service = RealtimeSessionService(fake, None, RetryPolicy(sleep=lambda _s: None))
    fake.queue_response(
        "v=0\r\n", status=201, headers={"Location": "/v1/realtime/calls/rtc_1", "content-type": "application/sdp"}
    )
    fake.queue_response(b"", status=200)
    session = RealtimeSessionConfig(model="gpt-realtime-2", extra={"x_new": 1})
    assert service.create_call(OFFER, session).call_id == "rtc_1"
    service.hangup_call("rtc_1")
    assert [c.path for c in fake.calls] == ["/realtime/calls", "/realtime/calls/rtc_1/hangup"]
    assert fake.calls[0].json is None
    assert OFFER in fake.calls[0].body
    assert b'{"type":"realtime","model":"gpt-realtime-2","x_new":1}' in fake.calls[0].body  # extra merged
    assert fake.calls[1].body == b""


# --- properties ----------------------------------------------------------------------------------------------

_ID_TAIL = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", min_size=1, max_size=128
)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_id_either_fills_the_path_exactly_or_is_refused_before_sending(candidate: str) -> None:
    fake = FakeGateway()
    service = RealtimeSessionService(fake, None, RetryPolicy(sleep=lambda _s: None))
    fake.queue_response(b"", status=200)
    fake.queue_response(b"", status=200)
    for method, pattern, prefix, name in (
        (service.hangup_call, CALL_ID, "/realtime/calls/", "call_id"),
        (service.hangup_live_session, SESSION_ID, "/live/sessions/", "session_id"),
    ):
        sent = len(fake.calls)
        if pattern.fullmatch(candidate):
            method(candidate)
            assert fake.calls[-1].path == f"{prefix}{candidate}/hangup"
        else:
            with pytest.raises(RequestValidationError) as caught:
                method(candidate)
            assert caught.value.fields == [name]
            assert len(fake.calls) == sent


@settings(max_examples=200, deadline=None)
@given(
    _ID_TAIL,
    st.sampled_from(
        [
            "/v1/realtime/calls/{}",
            "{}",
            "https://api.openai.com/v1/realtime/calls/{}",
            "/v1/realtime/calls/{}?x=1&y=/z",
            "/openai/v1/realtime/calls/{}#frag",
            "/v1/realtime/calls/{}/",
        ]
    ),
)
def test_the_call_id_is_read_from_every_location_form(tail: str, form: str) -> None:
    assert call_id_from_location(form.format("rtc_" + tail)) == "rtc_" + tail


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_location_gives_a_whole_call_id_or_none_and_never_raises(location: str) -> None:
    found = call_id_from_location(location)
    assert found is None or (CALL_ID.fullmatch(found) is not None and found in location)


def test_a_location_without_a_call_id_gives_none() -> None:
    assert call_id_from_location(None) is None
    assert call_id_from_location("/v1/realtime/calls/") is None
    assert call_id_from_location("http://[bad/rtc_1") is None
    assert call_id_from_location("/v1/realtime/calls?id=rtc_1") is None


def test_a_call_session_naming_a_retiring_model_warns_as_every_json_request_does(
    emulator: Emulator, service: RealtimeSessionService, caplog: pytest.LogCaptureFixture
) -> None:
    from realtime_service.lifecycle import _forget_warnings

    _forget_warnings()
    caplog.set_level(logging.WARNING, logger="realtime_service")
    service.create_call(OFFER, {"type": "realtime", "model": "gpt-realtime"})
    assert any("gpt-realtime" in r.getMessage() and "2027-01-20" in r.getMessage() for r in caplog.records)
    _forget_warnings()


# -- a create whose answer is lost (issue 20) ---------------------------------------------------------------


def _creates(emulator: Emulator) -> list[Any]:
    return [r for r in emulator.requests if r.method == "POST" and r.path.endswith("/realtime/calls")]


@pytest.mark.parametrize(
    "fault",
    [Fault.truncated(), Fault.truncated(reset=True), Fault.trickle(5.0)],
    ids=["cut-short", "reset-mid-body", "body-after-the-read-timeout"],
)
def test_a_create_whose_body_is_lost_is_not_sent_again_and_keeps_the_head(
    emulator: Emulator, service: RealtimeSessionService, fault: Fault
) -> None:
    emulator.enqueue(fault)
    with pytest.raises(APIConnectionError) as caught:
        service.create_call(OFFER)
    (record,) = emulator.calls.all()  # the upstream created the call; it was created once, never again
    assert len(_creates(emulator)) == 1
    assert call_id_from_location(caught.value.headers["location"]) == record.id
    assert record.state == "active"
    assert emulator.api_key not in repr(caught.value)
    assert "location" not in str(caught.value)


def test_a_create_whose_head_is_lost_has_no_head(emulator: Emulator, service: RealtimeSessionService) -> None:
    emulator.enqueue(Fault.delay(2.0))
    with pytest.raises(APITimeoutError) as caught:
        service.create_call(OFFER)
    assert caught.value.headers == {}
    assert len(_creates(emulator)) == 1


def test_the_event_loop_gateway_keeps_the_head_of_a_lost_body_too(emulator: Emulator) -> None:
    pytest.importorskip("httptools")
    from scripted_server import run

    from realtime_service.config import load_settings
    from realtime_service.transport.aio import EventLoopGateway
    from realtime_service.transport.seam import HttpRequest

    gateway = EventLoopGateway(load_settings({"api_key": emulator.api_key, "base_url": emulator.base_url}, {}))
    emulator.enqueue(Fault.truncated())
    with pytest.raises(APIConnectionError) as caught:
        run(gateway, gateway.asend(HttpRequest("POST", "/realtime/sessions", b'{"voice":"marin"}')))
    assert caught.value.headers["content-type"].startswith("application/json")
    assert caught.value.headers["x-request-id"].startswith("req_")
    assert caught.value.partial_body.startswith(b'{"id": "sess_')
    emulator.enqueue(Fault.delay(2.0))
    with pytest.raises(APITimeoutError) as timed_out:
        run(gateway, gateway.asend(HttpRequest("POST", "/realtime/sessions", b"{}", timeout=(2.0, 0.3))))
    assert timed_out.value.headers == {}


def test_a_live_session_id_is_read_only_from_the_exact_start_of_a_cut_answer() -> None:
    from realtime_service.live.sessions import session_id_in_partial

    answer = json.dumps({"session": {"id": "live_abc123"}, "transport": {"type": "webrtc", "sdp": "v=0"}}).encode()
    assert session_id_in_partial(answer) == "live_abc123"
    assert session_id_in_partial(b'{"session":{"id":"live_x-_9"') == "live_x-_9"
    for cut in range(len(b'{"session": {"id": "live_abc123"')):
        assert session_id_in_partial(answer[:cut]) is None  # a cut id is never taken for a whole one
    assert session_id_in_partial(b'{"transport": {"id": "live_abc123"}}') is None
    assert session_id_in_partial(b'{"session": {"x": 1, "id": "live_abc123"}}') is None
    assert session_id_in_partial(b'{"session": {"id": "live_../hangup"}}') is None
    assert session_id_in_partial(b"") is None


@given(st.binary(max_size=200))
def test_a_live_session_id_read_from_any_bytes_is_a_whole_id_or_none(data: bytes) -> None:
    from realtime_service.live.sessions import SESSION_ID, session_id_in_partial

    found = session_id_in_partial(data)
    assert found is None or SESSION_ID.fullmatch(found)


def test_a_lost_body_keeps_the_bytes_that_arrived(emulator: Emulator, service: RealtimeSessionService) -> None:
    emulator.enqueue(Fault.truncated())
    with pytest.raises(APIConnectionError) as caught:
        service.create_live_session(OFFER, LIVE)
    (record,) = emulator.calls.all()
    assert caught.value.partial_body.startswith(b'{"session": {"id": "' + record.id.encode() + b'"')
    assert record.id not in str(caught.value)


def test_a_lost_body_is_kept_only_up_to_4_kib() -> None:
    from realtime_service.transport.seam import PARTIAL_BODY_BYTES, partial_body

    assert PARTIAL_BODY_BYTES == 4096
    assert partial_body([b"a" * 3000, b"b" * 3000, b"c"]) == b"a" * 3000 + b"b" * 1096
    assert partial_body([b"ab", b"", b"cd"]) == b"abcd"
    assert partial_body([]) == b""
