"""The event-loop gateway (the fastapi extra) over real loopback sockets: what one attempt sends and
returns, which failures say the request was sent, its timeouts, budget and size cap, no redirect, its pools."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

pytest.importorskip("httptools")

from scripted_server import ScriptedServer, run

from realtime_service import APIConnectionError, APITimeoutError
from realtime_service.config import load_settings
from realtime_service.containers import RealtimeContainer
from realtime_service.emulator import Emulator, Fault
from realtime_service.transport.aio import EventLoopGateway, aclose_loop_sessions, open_event_loop_gateway
from realtime_service.transport.gateway import HttpGateway
from realtime_service.transport.seam import AsyncGateway, Gateway, HttpRequest

BODY = b'{"voice":"marin"}'
SESSIONS = "/realtime/sessions"
OFFER = (Path(__file__).parent / "sdp" / "chromium_offer.sdp").read_bytes()
T = TypeVar("T")


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def gateway_for(emulator: Emulator, **config: object) -> EventLoopGateway:
    return EventLoopGateway(load_settings({"api_key": emulator.api_key, "base_url": emulator.base_url, **config}, {}))


def asend(gateway: EventLoopGateway, request: HttpRequest) -> Any:
    return run(gateway, gateway.asend(request))


def test_it_is_both_a_gateway_and_an_async_gateway(emulator: Emulator) -> None:
    gateway = gateway_for(emulator)
    assert isinstance(gateway, Gateway)
    assert isinstance(gateway, AsyncGateway)


def test_an_attempt_sends_the_fixed_headers_and_returns_the_answer(emulator: Emulator) -> None:
    response = asend(gateway_for(emulator), HttpRequest("POST", SESSIONS, BODY, {"X-Trace": "t1"}))
    assert response.status_code == 200
    assert b'"object": "realtime.session"' in response.content
    assert response.headers["content-type"].startswith("application/json")
    (received,) = emulator.requests
    assert received.body == BODY
    headers = received.headers
    assert headers["authorization"] == f"Bearer {emulator.api_key}"
    assert headers["accept"] == "application/json"
    assert headers["accept-encoding"] == "gzip, deflate"
    assert headers["content-type"] == "application/json"
    assert headers["content-length"] == str(len(BODY))
    assert headers["user-agent"].startswith("realtime-service/")
    assert headers["x-trace"] == "t1"
    assert "transfer-encoding" not in headers
    assert "cookie" not in headers


def test_any_status_is_returned_in_one_attempt(emulator: Emulator) -> None:
    emulator.enqueue(Fault.status(503))
    assert asend(gateway_for(emulator), HttpRequest("POST", SESSIONS, BODY)).status_code == 503
    assert len(emulator.requests) == 1


@pytest.fixture
def counting_server() -> Iterator[ScriptedServer]:
    server = ScriptedServer()  # answers every request 200 on the same keep-alive connection
    yield server
    server.close()


def test_attempts_on_one_loop_reuse_one_keep_alive_connection(counting_server: ScriptedServer) -> None:
    gateway = EventLoopGateway(
        load_settings({"api_key": "sk-test-0123456789abcdef", "base_url": counting_server.base_url}, {})
    )

    async def three() -> list[int]:
        return [(await gateway.asend(HttpRequest("POST", SESSIONS, BODY))).status_code for _ in range(3)]

    assert run(gateway, three()) == [200, 200, 200]
    assert counting_server.accepted == 1


def test_a_refused_connection_was_not_sent() -> None:
    settings = load_settings(
        {"api_key": "sk-test-0123456789abcdef", "base_url": f"http://127.0.0.1:{closed_port()}/v1"}, {}
    )
    gateway = EventLoopGateway(settings)
    with pytest.raises(APIConnectionError) as caught:
        asend(gateway, HttpRequest("POST", SESSIONS, BODY))
    assert caught.value.request_sent is False
    assert not isinstance(caught.value, APITimeoutError)


def test_a_server_that_reads_the_request_then_closes_may_have_got_it(emulator: Emulator) -> None:
    emulator.enqueue(Fault.drop())
    with pytest.raises(APIConnectionError, match=r"^Connection error: \w+$") as caught:
        asend(gateway_for(emulator), HttpRequest("POST", SESSIONS, BODY))
    assert caught.value.request_sent is True
    assert len(emulator.requests) == 1


@pytest.fixture
def loop_container(emulator: Emulator) -> Iterator[RealtimeContainer]:
    """A service container whose gateway is the event-loop one, as ``serve`` on FastAPI builds it."""
    container = RealtimeContainer(environ={})
    container.config.from_dict(
        {
            "api_key": emulator.api_key,
            "base_url": emulator.base_url,
            "retry": {"max_retries": 2, "initial_delay": 0.01, "max_delay": 0.02},
        }
    )
    container.event_loop_gateway.override(True)
    yield container
    container.shutdown_resources()


def test_a_billable_create_is_not_retried_after_the_server_read_it_and_closed(
    emulator: Emulator, loop_container: RealtimeContainer
) -> None:
    service = loop_container.realtime_session_service()
    gateway = loop_container.gateway()
    assert isinstance(gateway, EventLoopGateway)
    emulator.enqueue(Fault.drop())  # a retry would be answered normally
    with pytest.raises(APIConnectionError) as caught:
        run(gateway, service.acreate_call(OFFER))
    assert caught.value.request_sent is True
    assert [r.path for r in emulator.requests] == ["/v1/realtime/calls"]


def test_an_idempotent_mint_is_retried_after_the_server_read_it_and_closed(
    emulator: Emulator, loop_container: RealtimeContainer
) -> None:
    service = loop_container.realtime_session_service()
    emulator.enqueue(Fault.drop())
    secret = run(loop_container.gateway(), service.acreate_client_secret({"session": {"type": "realtime"}}))
    assert secret.value.startswith("ek_")
    assert len(emulator.requests) == 2


def test_a_read_timeout_is_a_timeout_of_a_sent_request(emulator: Emulator) -> None:
    emulator.enqueue(Fault.delay(2))
    with pytest.raises(APITimeoutError, match=r"^Request timed out: \w+$") as caught:
        asend(gateway_for(emulator), HttpRequest("POST", SESSIONS, BODY, timeout=(1, 0.2)))
    assert caught.value.request_sent is True


def test_the_configured_read_timeout_applies_when_the_request_names_none(emulator: Emulator) -> None:
    emulator.enqueue(Fault.delay(2))
    with pytest.raises(APITimeoutError):
        asend(gateway_for(emulator, timeout={"read": 0.2}), HttpRequest("POST", SESSIONS, BODY))


def test_a_trickled_body_past_the_budget_names_the_total_timeout(emulator: Emulator) -> None:
    emulator.enqueue(Fault.trickle(0.05))
    with pytest.raises(APITimeoutError) as caught:
        asend(gateway_for(emulator), HttpRequest("POST", SESSIONS, BODY, budget=0.3))
    assert str(caught.value) == "Request timed out: total_timeout reached while reading the body"


def test_a_body_of_many_chunks_comes_back_whole(emulator: Emulator) -> None:
    emulator.enqueue(Fault.huge(300_000))
    content = asend(gateway_for(emulator), HttpRequest("POST", SESSIONS, BODY)).content
    assert len(content) == 300_000


@pytest.mark.parametrize("compressed", [False, True], ids=["declared", "gzip-decoded"])
def test_a_body_of_exactly_max_response_bytes_passes_and_one_more_byte_does_not(
    emulator: Emulator, compressed: bool
) -> None:
    limit = 100_000
    gateway = gateway_for(emulator, max_response_bytes=limit)

    def fault(size: int) -> Fault:
        return Fault.gzip(200, body=b"a" * size) if compressed else Fault.huge(size)

    emulator.enqueue(fault(limit))
    assert len(asend(gateway, HttpRequest("POST", SESSIONS, BODY)).content) == limit
    emulator.enqueue(fault(limit + 1))
    with pytest.raises(APIConnectionError, match=f"max_response_bytes \\({limit}\\)"):
        asend(gateway, HttpRequest("POST", SESSIONS, BODY))


def test_a_gzip_body_is_decoded(emulator: Emulator) -> None:
    emulator.enqueue(Fault.gzip(200, body=b'{"value": "ek_1"}'))
    response = asend(gateway_for(emulator), HttpRequest("POST", SESSIONS, BODY))
    assert response.content == b'{"value": "ek_1"}'


def test_a_small_gzip_body_that_inflates_past_the_cap_is_refused(emulator: Emulator) -> None:
    emulator.enqueue(Fault.gzip(200, body=b"a" * 5_000_000))  # a few kilobytes on the wire
    with pytest.raises(APIConnectionError, match=r"max_response_bytes \(1024\)"):
        asend(gateway_for(emulator, max_response_bytes=1024), HttpRequest("POST", SESSIONS, BODY))


def test_a_redirect_is_returned_not_followed(emulator: Emulator) -> None:
    emulator.enqueue(Fault.redirect(f"{emulator.base_url}/realtime/client_secrets"))
    response = asend(gateway_for(emulator), HttpRequest("POST", SESSIONS, BODY))
    assert response.status_code == 307
    assert len(emulator.requests) == 1


def test_the_repr_shows_the_base_url_and_the_redacted_key(emulator: Emulator) -> None:
    text = repr(gateway_for(emulator))
    assert emulator.api_key not in text
    shown = "sk-..." + emulator.api_key[-4:]  # written out, not computed with redact(): that could not fail
    assert text == f"EventLoopGateway(base_url={emulator.base_url!r}, api_key={shown!r})"


def test_no_error_names_the_key(emulator: Emulator) -> None:
    emulator.enqueue(Fault.drop())
    with pytest.raises(APIConnectionError) as caught:
        asend(gateway_for(emulator), HttpRequest("POST", SESSIONS, BODY))
    assert emulator.api_key not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_blocking_callers_send_through_the_threaded_gateway(emulator: Emulator) -> None:
    gateway = gateway_for(emulator)
    assert gateway.send(HttpRequest("POST", SESSIONS, BODY)).status_code == 200
    assert gateway._pools == {}
    gateway.close()


def test_the_session_is_made_on_the_running_loop_and_closed_by_the_lifespan_hook(emulator: Emulator) -> None:
    gateway = gateway_for(emulator)

    async def main() -> tuple[bool, bool]:
        await gateway.asend(HttpRequest("POST", SESSIONS, BODY))
        (pool,) = gateway._pools.values()
        assert pool.open_connections == 1
        await aclose_loop_sessions()
        return pool.open_connections == 0, asyncio.get_running_loop() in gateway._pools

    assert asyncio.run(main()) == (True, False)


def test_a_new_loop_gets_a_new_session(emulator: Emulator) -> None:
    gateway = gateway_for(emulator)
    for _ in range(2):
        assert asend(gateway, HttpRequest("POST", SESSIONS, BODY)).status_code == 200
    assert len(emulator.requests) == 2


def test_close_closes_a_session_whose_loop_still_runs(emulator: Emulator) -> None:
    gateway = gateway_for(emulator)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        future = asyncio.run_coroutine_threadsafe(gateway.asend(HttpRequest("POST", SESSIONS, BODY)), loop)
        assert future.result(10).status_code == 200
        (pool,) = gateway._pools.values()
        assert pool.open_connections == 1
        gateway.close()
        assert pool.open_connections == 0
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


@pytest.mark.parametrize("config", [{"proxies": {"https": "http://127.0.0.1:9"}}], ids=["configured-proxies"])
def test_with_proxies_the_threaded_gateway_is_used_and_it_says_so(
    emulator: Emulator, config: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    settings = load_settings({"api_key": emulator.api_key, "base_url": emulator.base_url, **config}, {})
    with caplog.at_level(logging.WARNING, logger="realtime_service"):
        resource = open_event_loop_gateway(settings)
        gateway = next(resource)
    assert type(gateway) is HttpGateway
    assert "proxies are configured" in caplog.text
    resource.close()


def test_proxies_from_the_environment_keep_the_threaded_gateway_too(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    resource = open_event_loop_gateway(load_settings({"api_key": emulator.api_key, "base_url": emulator.base_url}, {}))
    assert type(next(resource)) is HttpGateway
    resource.close()


def test_without_proxies_the_event_loop_gateway_is_used(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    resource = open_event_loop_gateway(load_settings({"api_key": emulator.api_key, "base_url": emulator.base_url}, {}))
    assert type(next(resource)) is EventLoopGateway
    resource.close()


def test_a_sync_fake_overriding_the_gateway_runs_in_a_worker_thread(emulator: Emulator) -> None:
    from realtime_service.testing import FakeGateway

    container = RealtimeContainer(environ={})
    container.config.from_dict({"api_key": emulator.api_key, "base_url": emulator.base_url})
    container.event_loop_gateway.override(True)
    service = container.realtime_session_service()
    fake = FakeGateway()
    fake.queue_response({"value": "ek_fake", "expires_at": 2_000_000_000, "session": {"type": "realtime"}})
    threads: list[str] = []
    original = fake.send

    def send(request: HttpRequest) -> Any:
        threads.append(threading.current_thread().name)
        return original(request)

    fake.send = send  # type: ignore[method-assign]
    with container.gateway.override(fake):
        secret = asyncio.run(service.acreate_client_secret({"session": {"type": "realtime"}}))
    assert secret.value == "ek_fake"
    assert len(threads) == 1
    assert threads[0] != threading.main_thread().name
    assert emulator.requests == []
    container.shutdown_resources()
