"""The HTTP gateway: environment handling (resolved once, never per request, never overriding our auth), what one
attempt sends and returns, its size cap and budget, and closing its sockets."""

from __future__ import annotations

import gc
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from realtime_service import APIConnectionError, APITimeoutError, ConfigurationError
from realtime_service.config import load_settings
from realtime_service.emulator import Emulator, Fault
from realtime_service.transport.gateway import HttpGateway
from realtime_service.transport.seam import HttpRequest

BODY = b'{"voice":"marin"}'


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def gateway_for(emulator: Emulator, **config: object) -> HttpGateway:
    return HttpGateway(load_settings({"api_key": emulator.api_key, "base_url": emulator.base_url, **config}, {}))


def test_a_netrc_entry_does_not_replace_the_bearer_header(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine 127.0.0.1 login intruder password hunter2\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("HOME", str(tmp_path))
    response = gateway_for(emulator).send(HttpRequest("POST", "/realtime/sessions", BODY))
    assert response.status_code == 200
    assert emulator.requests[0].headers["authorization"] == f"Bearer {emulator.api_key}"


def test_proxies_from_the_environment_are_read_when_the_gateway_is_built(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    gateway = gateway_for(emulator)
    with pytest.raises(APIConnectionError):
        gateway.send(HttpRequest("POST", "/realtime/sessions", BODY))
    assert emulator.requests == []


def test_the_environment_is_not_consulted_after_the_gateway_is_built(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    monkeypatch.delenv("http_proxy", raising=False)
    gateway = gateway_for(emulator)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")
    assert gateway.send(HttpRequest("POST", "/realtime/sessions", BODY)).status_code == 200


def test_configured_proxies_override_the_environment(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")
    gateway = gateway_for(emulator, proxies={})
    assert gateway.send(HttpRequest("POST", "/realtime/sessions", BODY)).status_code == 200


def test_a_ca_bundle_from_the_environment_that_does_not_exist_is_refused(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "missing.pem"))
    with pytest.raises(ConfigurationError, match=r"missing\.pem"):
        gateway_for(emulator)


def test_the_gateway_repr_redacts_the_key(emulator: Emulator) -> None:
    assert emulator.api_key not in repr(gateway_for(emulator))


def test_a_closed_gateway_owned_session_is_closed(emulator: Emulator) -> None:
    gateway = gateway_for(emulator)
    gateway.send(HttpRequest("POST", "/realtime/sessions", BODY))
    gateway.close()
    assert gateway._session.adapters["http://"].poolmanager.pools.keys() == set()


@pytest.fixture
def no_cyclic_gc() -> Iterator[None]:
    """Only reference counting frees objects meanwhile, as between two runs of the cyclic collector."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.mark.usefixtures("no_cyclic_gc")
def test_close_closes_the_pooled_sockets_even_after_a_failed_attempt(emulator: Emulator) -> None:
    gateway = gateway_for(emulator)
    emulator.enqueue(Fault.reset())
    with pytest.raises(APIConnectionError) as caught:
        gateway.send(HttpRequest("POST", "/realtime/sessions", BODY))
    assert gateway.send(HttpRequest("POST", "/realtime/sessions", BODY)).status_code == 200
    manager = gateway._adapter.poolmanager
    (key,) = manager.pools.keys()
    pool = manager.pools[key]
    pooled = [conn for conn in list(pool.pool.queue) if conn is not None]
    assert pooled
    assert all(conn.sock is not None for conn in pooled)
    gateway.close()
    assert all(conn.sock is None for conn in pooled)
    del caught


# --- what one attempt sends and returns (several found by mutation testing) ----------------------------------------

SESSIONS = "/realtime/sessions"


def test_each_attempt_sends_the_fixed_headers_and_the_exact_content_length(emulator: Emulator) -> None:
    gateway_for(emulator).send(HttpRequest("POST", SESSIONS, BODY, {"X-Trace": "t1"}))
    headers = emulator.requests[0].headers
    assert headers["authorization"] == f"Bearer {emulator.api_key}"
    assert headers["accept"] == "application/json"
    assert headers["accept-encoding"] == "gzip, deflate"
    assert headers["connection"] == "keep-alive"
    assert headers["content-type"] == "application/json"
    assert headers["content-length"] == str(len(BODY))
    assert headers["user-agent"].startswith("realtime-service/")
    assert headers["x-trace"] == "t1"
    assert "transfer-encoding" not in headers
    assert "api-key" not in headers


def test_azure_sends_the_api_key_header_and_the_api_version_query() -> None:
    with Emulator(azure=True) as azure:
        settings = {"provider": "azure", "api_key": azure.api_key, "base_url": azure.azure_endpoint}
        path = "/openai/v1/realtime/client_secrets"
        versioned = HttpGateway(load_settings({**settings, "api_version": "2025-04-01-preview"}, {}))
        assert versioned.send(HttpRequest("POST", path, b"{}")).status_code == 200
        assert HttpGateway(load_settings(settings, {})).send(HttpRequest("POST", path, b"{}")).status_code == 200
        with_version, without = azure.requests
    assert with_version.headers["api-key"] == azure.api_key
    assert "authorization" not in with_version.headers
    assert with_version.query == "api-version=2025-04-01-preview"
    assert without.query == ""


def test_one_send_is_one_attempt_whatever_fails(emulator: Emulator) -> None:
    gateway = gateway_for(emulator)
    emulator.enqueue(Fault.drop())
    with pytest.raises(APIConnectionError, match=r"^Connection error: \w+Error$"):
        gateway.send(HttpRequest("POST", SESSIONS, BODY))
    emulator.enqueue(Fault.status(503))
    assert gateway.send(HttpRequest("POST", SESSIONS, BODY)).status_code == 503
    assert len(emulator.requests) == 2


def test_the_configured_read_timeout_applies_when_the_request_names_none(emulator: Emulator) -> None:
    emulator.enqueue(Fault.delay(2))
    with pytest.raises(APITimeoutError, match=r"^Request timed out: \w+$"):
        gateway_for(emulator, timeout={"read": 0.2}).send(HttpRequest("POST", SESSIONS, BODY))


def test_a_trickled_body_past_the_budget_names_the_total_timeout(emulator: Emulator) -> None:
    emulator.enqueue(Fault.trickle(0.05))
    with pytest.raises(APITimeoutError) as caught:
        gateway_for(emulator).send(HttpRequest("POST", SESSIONS, BODY, budget=0.3))
    assert str(caught.value) == "Request timed out: total_timeout reached while reading the body"


def test_elapsed_time_is_measured_in_milliseconds(emulator: Emulator) -> None:
    emulator.enqueue(Fault.delay(0.2))
    started = time.perf_counter()
    elapsed = gateway_for(emulator).send(HttpRequest("POST", SESSIONS, BODY)).elapsed_ms
    outside_ms = (time.perf_counter() - started) * 1000
    assert 150 <= elapsed <= outside_ms  # milliseconds: about the delay, at most what the caller waited


def test_a_body_of_many_chunks_comes_back_whole(emulator: Emulator) -> None:
    emulator.enqueue(Fault.huge(300_000))
    content = gateway_for(emulator).send(HttpRequest("POST", SESSIONS, BODY)).content
    assert len(content) == 300_000
    assert content.startswith(b'{"object": "realtime.session"')


@pytest.mark.parametrize("compressed", [False, True], ids=["declared", "gzip-decoded"])
def test_a_body_of_exactly_max_response_bytes_passes_and_one_more_byte_does_not(
    emulator: Emulator, compressed: bool
) -> None:
    limit = 100_000
    gateway = gateway_for(emulator, max_response_bytes=limit)

    def fault(size: int) -> Fault:
        return Fault.gzip(200, body=b"a" * size) if compressed else Fault.huge(size)

    emulator.enqueue(fault(limit))
    assert len(gateway.send(HttpRequest("POST", SESSIONS, BODY)).content) == limit
    emulator.enqueue(fault(limit + 1))
    with pytest.raises(APIConnectionError, match=f"max_response_bytes \\({limit}\\)"):
        gateway.send(HttpRequest("POST", SESSIONS, BODY))


def test_the_pool_size_is_the_configured_one(emulator: Emulator) -> None:
    gateway = gateway_for(emulator, pool={"maxsize": 3})
    assert gateway._adapter is gateway._session.get_adapter("http://127.0.0.1/")
    assert gateway._adapter.poolmanager.connection_pool_kw["maxsize"] == 3


def test_a_host_session_is_used_and_left_open(emulator: Emulator) -> None:
    import requests

    from realtime_service.transport.gateway import open_gateway

    host = requests.Session()
    resource = open_gateway(load_settings({"api_key": emulator.api_key, "base_url": emulator.base_url}, {}), host)
    gateway = next(resource)
    assert gateway._session is host
    assert gateway.send(HttpRequest("POST", SESSIONS, BODY)).status_code == 200
    resource.close()
    assert len(host.adapters["http://"].poolmanager.pools.keys()) == 1
    host.close()


def test_verify_false_never_reads_the_environments_ca_bundle(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "missing.pem"))
    assert gateway_for(emulator, verify=False)._verify is False


def test_the_ca_bundle_comes_from_curl_ca_bundle_too_and_defaults_to_true(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    assert gateway_for(emulator)._verify is True
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not checked here")
    monkeypatch.setenv("CURL_CA_BUNDLE", str(bundle))
    assert gateway_for(emulator)._verify == str(bundle)


def test_the_repr_shows_the_base_url_and_the_redacted_key(emulator: Emulator) -> None:
    shown = "sk-..." + emulator.api_key[-4:]  # written out, not computed with redact(): that could not fail
    expected = f"HttpGateway(base_url={emulator.base_url!r}, api_key={shown!r})"
    assert repr(gateway_for(emulator)) == expected


@pytest.mark.usefixtures("no_cyclic_gc")
def test_close_closes_the_pooled_sockets_of_a_proxy_too(emulator: Emulator) -> None:
    unreachable = f"http://127.0.0.1:{closed_port()}/v1"
    gateway = gateway_for(emulator, base_url=unreachable, proxies={"http": emulator.azure_endpoint})
    assert gateway.send(HttpRequest("POST", SESSIONS, BODY)).status_code == 200
    (proxy_manager,) = gateway._adapter.proxy_manager.values()
    (key,) = proxy_manager.pools.keys()
    pooled = [conn for conn in list(proxy_manager.pools[key].pool.queue) if conn is not None]
    assert pooled
    gateway.close()
    assert all(conn.sock is None for conn in pooled)


def test_urllib3_never_retries_on_its_own_retries_are_the_policys(emulator: Emulator) -> None:
    retries = gateway_for(emulator)._adapter.max_retries
    assert (retries.total, retries.read) == (0, False)


def test_https_goes_through_the_same_configured_adapter(emulator: Emulator) -> None:
    gateway = gateway_for(emulator, base_url="https://api.example.invalid/v1", pool={"maxsize": 4})
    assert gateway._adapter is gateway._session.get_adapter("http://127.0.0.1/")
    assert gateway._adapter.poolmanager.connection_pool_kw["maxsize"] == 4


def test_a_timeout_names_the_timeout_it_was(emulator: Emulator) -> None:
    emulator.enqueue(Fault.delay(2))
    with pytest.raises(APITimeoutError) as caught:
        gateway_for(emulator).send(HttpRequest("POST", SESSIONS, BODY, timeout=(1, 0.2)))
    assert str(caught.value) in {"Request timed out: ReadTimeout", "Request timed out: ReadTimeoutError"}


def test_a_body_without_content_length_is_read_to_the_end_of_the_connection() -> None:
    import threading

    body = b'{"object": "realtime.session"}'
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)

        def answer() -> None:
            conn, _ = server.accept()
            with conn:
                received = b""
                while not received.endswith(BODY):
                    received += conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n" + body)

        thread = threading.Thread(target=answer, daemon=True)
        thread.start()
        base_url = f"http://127.0.0.1:{server.getsockname()[1]}/v1"
        settings = load_settings({"api_key": "sk-test-0123456789abcdef", "base_url": base_url}, {})
        response = HttpGateway(settings).send(HttpRequest("POST", SESSIONS, BODY, timeout=(2, 2)))
        thread.join(5)
    assert (response.status_code, response.content) == (200, body)
    assert "content-length" not in response.headers
