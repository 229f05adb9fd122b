"""The HTTP gateway's environment handling: resolved once, never per request, never overriding our auth."""

from __future__ import annotations

import gc
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from realtime_service import APIConnectionError, ConfigurationError
from realtime_service.config import load_settings
from realtime_service.emulator import Emulator, Fault
from realtime_service.gateway import HttpGateway
from realtime_service.transport import HttpRequest

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
