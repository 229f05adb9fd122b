"""RealtimeSessionService over real HTTP on loopback: sending, retrying, errors, logging, async.

These run the beta shape (``/realtime/sessions``), where the wire body is the request as written; the GA
operations and the bridge have their own module.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from typing import Any

import pytest
from conftest import REQUEST, FakeClock
from waiting import await_until

from realtime_service import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RequestValidationError,
    ResponseValidationError,
    UnprocessableEntityError,
)
from realtime_service.beta.models import RealtimeSessionCreateRequest, TurnDetection
from realtime_service.emulator import Emulator, Fault, http_date
from realtime_service.service import RealtimeSessionService


def test_a_minted_session_carries_the_secret_and_the_request_id(
    service: RealtimeSessionService, emulator: Emulator
) -> None:
    session = service.create_realtime_session(REQUEST)
    assert session.client_secret.value.startswith("ek_")
    assert session.client_secret.expires_at > time.time()
    assert session.request_id is not None
    assert session.request_id.startswith("req_")
    assert session.voice == "marin"
    assert len(emulator.requests) == 1


def test_the_dataclass_and_the_mapping_send_the_same_body(service: RealtimeSessionService, emulator: Emulator) -> None:
    service.create_realtime_session(REQUEST)
    service.create_realtime_session(RealtimeSessionCreateRequest(**REQUEST))
    first, second = emulator.requests
    assert first.json == second.json == REQUEST


def test_an_invalid_request_raises_naming_the_field_and_sends_nothing(
    service: RealtimeSessionService, emulator: Emulator
) -> None:
    with pytest.raises(RequestValidationError) as caught:
        service.create_realtime_session({**REQUEST, "voise": "marin"})
    assert "voise" in caught.value.messages
    with pytest.raises(RequestValidationError) as caught:
        service.create_realtime_session(
            RealtimeSessionCreateRequest(turn_detection=TurnDetection(type="server_vad", threshold=2.0))
        )
    assert "turn_detection.threshold" in caught.value.messages
    assert emulator.requests == []


def test_null_is_sent_as_null_and_a_field_not_given_is_not_sent(
    service: RealtimeSessionService, emulator: Emulator
) -> None:
    session = service.create_realtime_session({"voice": "marin", "turn_detection": None})
    (sent,) = emulator.requests
    assert sent.json == {"voice": "marin", "turn_detection": None}
    assert session.to_dict()["turn_detection"] is None


def test_the_configured_headers_are_sent(make_container: Any, emulator: Emulator) -> None:
    container = make_container({"organization": "org_123", "project": "proj_456"})
    container.realtime_session_service().create_realtime_session(REQUEST, extra_headers={"X-Trace": "abc"})
    headers = emulator.requests[0].headers
    assert headers["authorization"] == f"Bearer {emulator.api_key}"
    assert headers["openai-organization"] == "org_123"
    assert headers["openai-project"] == "proj_456"
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"].startswith("realtime-service/")
    assert headers["x-trace"] == "abc"


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504])
def test_a_transient_status_is_retried_with_backoff(
    service: RealtimeSessionService, emulator: Emulator, realtime_sleeps: list[float], status: int
) -> None:
    emulator.enqueue(Fault.status(status))
    session = service.create_realtime_session(REQUEST)
    assert session.client_secret.value.startswith("ek_")
    assert len(emulator.requests) == 2
    assert len(realtime_sleeps) == 1
    assert 0.375 <= realtime_sleeps[0] <= 0.5


def test_backoff_doubles_between_retries(
    service: RealtimeSessionService, emulator: Emulator, realtime_sleeps: list[float]
) -> None:
    emulator.enqueue(Fault.status(503), times=2)
    service.create_realtime_session(REQUEST)
    first, second = realtime_sleeps
    assert 0.375 <= first <= 0.5
    assert 0.75 <= second <= 1.0


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (422, UnprocessableEntityError),
    ],
)
def test_a_client_error_is_raised_at_once_as_its_class(
    service: RealtimeSessionService,
    emulator: Emulator,
    realtime_sleeps: list[float],
    status: int,
    error_class: type[APIStatusError],
) -> None:
    emulator.enqueue(Fault.status(status, message="nope", code="some_code", param="voice"))
    with pytest.raises(error_class) as caught:
        service.create_realtime_session(REQUEST)
    error = caught.value
    assert error.status_code == status
    assert error.message == "nope"
    assert error.code == "some_code"
    assert error.param == "voice"
    assert error.type is not None
    assert error.request_id is not None
    assert error.request_id.startswith("req_")
    assert error.body["error"]["message"] == "nope"
    assert len(emulator.requests) == 1
    assert realtime_sleeps == []


@pytest.mark.parametrize(
    ("status", "error_class"),
    [(408, APIStatusError), (409, ConflictError), (429, RateLimitError), (500, InternalServerError)],
)
def test_retries_run_out_and_raise_the_last_error(
    service: RealtimeSessionService, emulator: Emulator, status: int, error_class: type[APIStatusError]
) -> None:
    emulator.enqueue(Fault.status(status), times=3)
    with pytest.raises(error_class) as caught:
        service.create_realtime_session(REQUEST)
    assert caught.value.status_code == status
    assert len(emulator.requests) == 3


def test_a_wrong_key_is_an_authentication_error(emulator: Emulator) -> None:
    with pytest.raises(AuthenticationError) as caught:
        _with_key(emulator, "sk-wrong-key-0000000000").create_realtime_session(REQUEST)
    assert caught.value.code == "invalid_api_key"
    assert "sk-wrong-key-0000000000" not in str(caught.value)


def test_an_api_validation_error_keeps_its_param(service: RealtimeSessionService, emulator: Emulator) -> None:
    request = RealtimeSessionCreateRequest(voice="marin", extra={"brand_new_knob": 1})
    with pytest.raises(BadRequestError) as caught:
        service.create_realtime_session(request)
    assert caught.value.param == "brand_new_knob"
    assert emulator.requests[0].json == {"voice": "marin", "brand_new_knob": 1}


def _with_key(emulator: Emulator, key: str) -> RealtimeSessionService:
    from realtime_service.containers import RealtimeContainer

    container = RealtimeContainer(environ={})
    container.config.from_dict({"api_key": key, "base_url": emulator.base_url, "api_shape": "beta"})
    return container.realtime_session_service()


@pytest.mark.parametrize(
    "headers",
    [{"retry-after": "3"}, {"retry-after-ms": "3000"}, {"retry-after": "http-date 3 s from now"}],
    ids=["seconds", "milliseconds", "http-date"],
)
def test_retry_after_is_honoured_in_each_form(
    service: RealtimeSessionService, emulator: Emulator, realtime_sleeps: list[float], headers: dict[str, str]
) -> None:
    if headers.get("retry-after", "").startswith("http-date"):
        headers = {"retry-after": http_date(3)}
    emulator.enqueue(Fault.status(429, headers=headers))
    service.create_realtime_session(REQUEST)
    (wait,) = realtime_sleeps
    assert 1.5 < wait <= 3.0
    assert len(emulator.requests) == 2


def test_a_retry_after_beyond_max_retry_after_is_not_retried(
    service: RealtimeSessionService, emulator: Emulator, realtime_sleeps: list[float]
) -> None:
    emulator.enqueue(Fault.status(429, headers={"retry-after": "120"}))
    with pytest.raises(RateLimitError) as caught:
        service.create_realtime_session(REQUEST)
    assert caught.value.retry_after == 120.0
    assert realtime_sleeps == []
    assert len(emulator.requests) == 1


def test_x_should_retry_true_retries_a_400(service: RealtimeSessionService, emulator: Emulator) -> None:
    emulator.enqueue(Fault.status(400, headers={"x-should-retry": "true"}))
    service.create_realtime_session(REQUEST)
    assert len(emulator.requests) == 2


def test_x_should_retry_false_stops_a_503(service: RealtimeSessionService, emulator: Emulator) -> None:
    emulator.enqueue(Fault.status(503, headers={"x-should-retry": "false"}))
    with pytest.raises(InternalServerError):
        service.create_realtime_session(REQUEST)
    assert len(emulator.requests) == 1


def test_no_retry_starts_whose_wait_would_end_past_the_total_timeout(make_container: Any, emulator: Emulator) -> None:
    clock = FakeClock()
    container = make_container({"retry": {"total_timeout": 5, "max_retries": 5}}, clock=clock, sleep=clock.sleep)
    emulator.enqueue(Fault.status(503, headers={"retry-after": "3"}), times=3)
    with pytest.raises(InternalServerError):
        container.realtime_session_service().create_realtime_session(REQUEST)
    assert clock.sleeps == [3.0]
    assert len(emulator.requests) == 2


def test_each_attempt_reads_no_longer_than_the_time_left(make_container: Any, emulator: Emulator) -> None:
    container = make_container({"retry": {"total_timeout": 0.3}, "timeout": {"read": 20}})
    emulator.enqueue(Fault.delay(3))
    with pytest.raises(APITimeoutError):
        container.realtime_session_service().create_realtime_session(REQUEST)
    assert len(emulator.requests) == 1


def test_a_per_call_timeout_overrides_the_configured_one(service: RealtimeSessionService, emulator: Emulator) -> None:
    emulator.enqueue(Fault.delay(3), Fault.delay(3), Fault.delay(3))
    with pytest.raises(APITimeoutError):
        service.create_realtime_session(REQUEST, timeout=0.2)
    assert len(emulator.requests) == 3


def test_a_dropped_connection_is_retried(service: RealtimeSessionService, emulator: Emulator) -> None:
    emulator.enqueue(Fault.drop())
    assert service.create_realtime_session(REQUEST).client_secret.value.startswith("ek_")
    assert len(emulator.requests) == 2


def test_a_refused_connection_raises_api_connection_error_after_retries(
    make_container: Any, realtime_sleeps: list[float]
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    container = make_container({"base_url": f"http://127.0.0.1:{closed_port}/v1"}, sleep=realtime_sleeps.append)
    with pytest.raises(APIConnectionError) as caught:
        container.realtime_session_service().create_realtime_session(REQUEST)
    assert not isinstance(caught.value, APITimeoutError)
    assert len(realtime_sleeps) == 2


def test_a_redirect_is_an_error_and_is_not_followed(service: RealtimeSessionService, emulator: Emulator) -> None:
    emulator.enqueue(Fault.redirect("http://127.0.0.2:1/steal"))
    with pytest.raises(APIStatusError) as caught:
        service.create_realtime_session(REQUEST)
    assert caught.value.status_code == 307
    assert "redirect" in caught.value.message
    assert len(emulator.requests) == 1


@pytest.mark.parametrize(
    "fault",
    [Fault.raw(b"<html>oops</html>", content_type="text/html"), Fault.empty(), Fault.json({"id": "sess_1"})],
    ids=["html", "empty", "no-client-secret"],
)
def test_a_200_that_is_not_a_session_raises_response_validation_error_with_the_request_id(
    service: RealtimeSessionService, emulator: Emulator, fault: Fault
) -> None:
    emulator.enqueue(fault)
    with pytest.raises(ResponseValidationError) as caught:
        service.create_realtime_session(REQUEST)
    assert caught.value.request_id is not None
    assert len(emulator.requests) == 1


def test_unknown_response_fields_are_kept_at_every_level(service: RealtimeSessionService, emulator: Emulator) -> None:
    body = {
        "id": "sess_1",
        "object": "realtime.session",
        "brand_new": {"nested": [1, 2]},
        "turn_detection": {"type": "server_vad", "threshold": 0.5, "future_knob": True},
        "client_secret": {"value": "ek_" + "a" * 32, "expires_at": 2_000_000_000, "scope": "x"},
    }
    emulator.enqueue(Fault.json(body))
    assert service.create_realtime_session(REQUEST).to_dict() == body


def test_a_gzip_encoded_answer_is_decoded(service: RealtimeSessionService, emulator: Emulator) -> None:
    emulator.enqueue(Fault.gzip())
    assert service.create_realtime_session(REQUEST).client_secret.value.startswith("ek_")


def test_a_body_over_the_size_cap_is_refused(make_container: Any, emulator: Emulator) -> None:
    container = make_container({"max_response_bytes": 4096, "retry": {"max_retries": 0}})
    emulator.enqueue(Fault.huge(1_000_000))
    with pytest.raises(APIConnectionError, match="max_response_bytes"):
        container.realtime_session_service().create_realtime_session(REQUEST)


def test_each_attempt_logs_one_line_without_secrets(
    service: RealtimeSessionService, emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    emulator.enqueue(Fault.status(503))
    with caplog.at_level(logging.DEBUG):
        session = service.create_realtime_session(REQUEST)
    ours = [r for r in caplog.records if r.name == "realtime_service"]
    assert [r.attempt for r in ours] == [1, 2]  # type: ignore[attr-defined]
    assert [r.status for r in ours] == [503, 200]  # type: ignore[attr-defined]
    assert all(r.method == "POST" and r.path == "/realtime/sessions" for r in ours)  # type: ignore[attr-defined]
    assert ours[1].request_id == session.request_id  # type: ignore[attr-defined]
    everything = caplog.text + "".join(repr(r.__dict__) for r in caplog.records)
    assert emulator.api_key not in everything
    assert session.client_secret.value not in everything


def test_reprs_and_errors_never_show_the_key_or_the_secret(container: Any, emulator: Emulator) -> None:
    service = container.realtime_session_service()
    session = service.create_realtime_session(REQUEST)
    secret = session.client_secret.value
    emulator.enqueue(Fault.status(401, message=f"Incorrect API key provided: {emulator.api_key}."))
    with pytest.raises(AuthenticationError) as caught:
        service.create_realtime_session(REQUEST)
    texts = [
        repr(session),
        str(session),
        repr(session.client_secret),
        str(session.client_secret),
        repr(container.gateway()),
        repr(container.settings()),
        str(caught.value),
        repr(caught.value),
        caught.value.message,
        json.dumps(caught.value.body),
    ]
    for text in texts:
        assert emulator.api_key not in text
        assert secret not in text


def test_the_async_twin_mints_and_retries_without_blocking_the_loop(
    service: RealtimeSessionService, emulator: Emulator, realtime_sleeps: list[float]
) -> None:
    emulator.enqueue(Fault.status(503))

    async def scenario() -> tuple[str, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.001)  # the ticker yields like any other task: it only counts when the loop runs

        ticking = asyncio.create_task(ticker())
        session = await service.acreate_realtime_session(REQUEST)
        ticking.cancel()
        return session.client_secret.value, ticks

    value, ticks = asyncio.run(scenario())
    assert value.startswith("ek_")
    assert len(realtime_sleeps) == 1
    assert len(emulator.requests) == 2
    assert ticks > 0


def test_the_async_twin_raises_the_same_errors(service: RealtimeSessionService, emulator: Emulator) -> None:
    emulator.enqueue(Fault.status(401))
    with pytest.raises(AuthenticationError):
        asyncio.run(service.acreate_realtime_session(REQUEST))
    with pytest.raises(RequestValidationError):
        asyncio.run(service.acreate_realtime_session({"voise": "x"}))


def test_cancelling_the_async_twin_starts_no_further_attempt(
    service: RealtimeSessionService, emulator: Emulator
) -> None:
    emulator.enqueue(Fault.delay(0.5, then=Fault.status(503)))

    async def scenario() -> None:
        task = asyncio.create_task(service.acreate_realtime_session(REQUEST))
        await await_until(lambda: emulator.received == 1, what="the first attempt to reach the emulator")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # Not a wait for something: the window in which a retry left running would show up (the delayed 503
        # goes out 0.5 s after the request, and the test's retry waits are recorded, not slept).
        await asyncio.sleep(0.8)

    asyncio.run(scenario())
    assert len(emulator.requests) == 1


def test_eight_threads_share_one_service_and_reuse_connections(container: Any, emulator: Emulator) -> None:
    service = container.realtime_session_service()
    secrets: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            for _ in range(10):
                value = service.create_realtime_session(REQUEST).client_secret.value
                with lock:
                    secrets.append(value)
        except BaseException as exc:  # recorded and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(secrets)) == 80
    manager = container.gateway()._adapter.poolmanager
    assert len(manager.pools) == 1
    (key,) = manager.pools.keys()
    pool = manager.pools[key]
    assert pool.num_requests == 80
    assert pool.num_connections <= 8


def test_a_trickling_answer_cannot_outlast_the_total_timeout(make_container: Any, emulator: Emulator) -> None:
    container = make_container({"retry": {"total_timeout": 0.5, "max_retries": 0}, "timeout": {"read": 5}})
    emulator.enqueue(Fault.trickle(interval=0.05))
    with pytest.raises(APITimeoutError, match="total_timeout"):
        container.realtime_session_service().create_realtime_session(REQUEST)
