"""The gateway's two ways to send (issue 22): straight to the adapter's urllib3 pool (the default) and through
``HTTPAdapter.send`` (a proxy, a host's adapter subclass, a retrying adapter). Which way is taken, and that both
send the same request and answer or fail the same way, fault by fault."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from realtime_service import APIConnectionError
from realtime_service.config import load_settings
from realtime_service.emulator import Emulator, Fault
from realtime_service.transport.gateway import URL_CACHE_SIZE, HttpGateway
from realtime_service.transport.seam import HttpRequest, HttpResponse

SESSIONS = "/realtime/sessions"
BODY = b'{"voice":"marin"}'
#: Headers whose values differ from one answer to the next whatever the client.
VARYING = {"date", "x-request-id"}


class HostAdapter(HTTPAdapter):
    """A host's adapter subclass: it may override any step, so the gateway sends through its ``send``."""

    def add_headers(self, request: requests.PreparedRequest, **kwargs: Any) -> None:
        request.headers["X-Host-Adapter"] = "1"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def direct_gateway(emulator: Emulator, **config: object) -> HttpGateway:
    return HttpGateway(load_settings({"api_key": emulator.api_key, "base_url": emulator.base_url, **config}, {}))


def adapter_gateway(emulator: Emulator, **config: object) -> HttpGateway:
    host = requests.Session()
    host.mount("http://", HostAdapter(max_retries=0))
    settings = load_settings({"api_key": emulator.api_key, "base_url": emulator.base_url, **config}, {})
    return HttpGateway(settings, host)


def test_the_default_gateway_sends_straight_to_the_pool(emulator: Emulator) -> None:
    assert direct_gateway(emulator).direct


def test_a_requests_without_the_public_pool_key_sends_through_the_adapter(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """requests 2.32.2 (the lowest ``setup.cfg`` allows) has no ``build_connection_pool_key_attributes``: the
    gateway then takes the adapter's path (found by the lowest-versions run of ``.ci/package-check``, which
    sends on that path for real). Here the method is gone while the gateway is built, back for the send."""
    with monkeypatch.context() as patch:
        patch.delattr(HTTPAdapter, "build_connection_pool_key_attributes")
        gateway = direct_gateway(emulator)
    assert not gateway.direct
    answer = gateway.send(HttpRequest("POST", "/realtime/client_secrets", b"{}"))
    assert answer.status_code == 200


def test_a_plain_host_adapter_that_retries_nothing_is_sent_to_directly(emulator: Emulator) -> None:
    host = requests.Session()
    settings = load_settings({"api_key": emulator.api_key, "base_url": emulator.base_url}, {})
    gateway = HttpGateway(settings, host)
    assert gateway.direct
    assert gateway.send(HttpRequest("POST", SESSIONS, BODY)).status_code == 200
    assert len(host.adapters["http://"].poolmanager.pools.keys()) == 1  # the host's own pool
    host.close()


def test_a_host_adapter_subclass_sends_every_attempt_through_its_own_steps(emulator: Emulator) -> None:
    gateway = adapter_gateway(emulator)
    assert not gateway.direct
    assert gateway.send(HttpRequest("POST", SESSIONS, BODY)).status_code == 200
    assert emulator.requests[0].headers["x-host-adapter"] == "1"


def test_a_host_adapter_that_retries_keeps_its_retries(emulator: Emulator) -> None:
    host = requests.Session()
    host.mount("http://", HTTPAdapter(max_retries=2))
    settings = load_settings({"api_key": emulator.api_key, "base_url": emulator.base_url}, {})
    assert not HttpGateway(settings, host).direct


def test_a_proxy_for_the_base_url_goes_through_the_adapter(emulator: Emulator) -> None:
    proxied = direct_gateway(emulator, proxies={"http": f"http://127.0.0.1:{closed_port()}"})
    assert not proxied.direct
    assert direct_gateway(emulator, proxies={"https": f"http://127.0.0.1:{closed_port()}"}).direct  # not for http


@pytest.mark.parametrize(
    ("verify", "cert_reqs"), [(False, "CERT_NONE"), (True, "CERT_REQUIRED"), ("bundle", "CERT_REQUIRED")]
)
def test_an_https_base_url_gets_the_tls_settings_requests_gives_it(
    emulator: Emulator, tmp_path: Any, verify: bool | str, cert_reqs: str
) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not read: nothing connects")
    chosen = str(bundle) if verify == "bundle" else verify
    gateway = direct_gateway(emulator, base_url=f"https://127.0.0.1:{closed_port()}/v1", verify=chosen)
    assert gateway.direct
    with pytest.raises(APIConnectionError) as caught:
        gateway.send(HttpRequest("POST", SESSIONS, BODY, timeout=(2, 2)))
    assert caught.value.request_sent is False
    manager = gateway._session.get_adapter("https://127.0.0.1/").poolmanager  # type: ignore[attr-defined]
    (key,) = manager.pools.keys()
    pool = manager.pools[key]
    assert pool.cert_reqs == cert_reqs
    assert pool.ca_certs == (str(bundle) if verify == "bundle" else (None if verify is False else pool.ca_certs))
    if verify is True:
        assert pool.ca_certs == requests.certs.where()  # requests' bundle, as HTTPAdapter.send sets it


def test_the_url_cache_keeps_the_fixed_paths_not_one_per_call_id(emulator: Emulator) -> None:
    gateway = direct_gateway(emulator)
    for number in range(URL_CACHE_SIZE * 2):
        path = f"/realtime/calls/rtc_{number}/hangup"
        assert gateway.url_for(path) == f"{emulator.base_url}{path}"
    assert len(gateway._urls) == URL_CACHE_SIZE


# -- the same answer and the same failure on both paths --------------------------------------------------------


def outcome(send: Callable[[], HttpResponse]) -> tuple[object, ...]:
    """What a caller sees of one attempt, minus what differs from one answer to the next."""
    try:
        response = send()
    except APIConnectionError as failure:
        headers = {k: v for k, v in (failure.headers or {}).items() if k not in VARYING}
        return (type(failure).__name__, str(failure), failure.request_sent, headers, failure.partial_body)
    headers = {k: v for k, v in response.headers.items() if k not in VARYING}
    return (response.status_code, headers, response.content)


FAULTS: dict[str, tuple[Fault, dict[str, object], dict[str, object]]] = {
    "ok": (Fault.json({"object": "realtime.session", "id": "sess_1"}), {}, {}),
    "503 with retry-after": (Fault.status(503, headers={"retry-after": "7"}), {}, {}),
    "redirect": (Fault.redirect("http://127.0.0.2:9/steal"), {}, {}),
    "drop": (Fault.drop(), {}, {}),
    "reset": (Fault.reset(), {}, {}),
    "truncated": (Fault.truncated(12, status=500), {}, {}),
    "truncated then reset": (Fault.truncated(12, status=500, reset=True), {}, {}),
    "read timeout": (Fault.delay(2), {}, {"timeout": (2.0, 0.2)}),
    "trickle past the budget": (Fault.trickle(0.05), {}, {"budget": 0.3}),
    "gzip": (Fault.gzip(200, body=b'{"a": 1}'), {}, {}),
    "gzip bomb": (Fault.gzip(200, body=b"a" * 50_000), {"max_response_bytes": 1000}, {}),
    "declared too large": (Fault.huge(5000), {"max_response_bytes": 1000}, {}),
}


@pytest.mark.parametrize("fault_name", list(FAULTS))
def test_both_paths_answer_or_fail_alike(emulator: Emulator, fault_name: str) -> None:
    fault, config, attempt = FAULTS[fault_name]
    seen = []
    for build in (direct_gateway, adapter_gateway):
        gateway = build(emulator, **config)
        emulator.enqueue(fault)
        seen.append(outcome(lambda: gateway.send(HttpRequest("POST", SESSIONS, BODY, **attempt))))  # noqa: B023
        gateway.close()
    direct, through_adapter = seen
    assert direct == through_adapter
    assert len(emulator.requests) == 2  # one attempt each: never resent, never redirected


def test_both_paths_name_a_refused_connection_alike(emulator: Emulator) -> None:
    unreachable = f"http://127.0.0.1:{closed_port()}/v1"
    seen = [
        outcome(lambda: build(emulator, base_url=unreachable).send(HttpRequest("POST", SESSIONS, BODY)))  # noqa: B023
        for build in (direct_gateway, adapter_gateway)
    ]
    assert seen[0] == seen[1] == ("APIConnectionError", "Connection error: ConnectionError", False, {}, b"")


def test_the_direct_path_keeps_the_head_and_start_of_a_lost_answer(emulator: Emulator) -> None:
    emulator.enqueue(Fault.truncated(12))
    with pytest.raises(APIConnectionError) as caught:
        direct_gateway(emulator).send(HttpRequest("POST", SESSIONS, BODY))
    assert caught.value.request_sent is True
    assert caught.value.headers is not None
    assert caught.value.headers["content-type"] == "application/json"
    assert len(caught.value.partial_body) == 12


def test_a_repeated_header_is_joined_on_both_paths() -> None:
    """As ``requests`` joins them (the emulator sends one of each name, so a raw server answers here)."""
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Dup: a\r\nx-dup: b\r\nContent-Type: application/json\r\n\r\n{}"
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(2)

        def serve_two() -> None:
            for _ in range(2):
                conn, _ = server.accept()
                with conn:
                    received = b""
                    while not received.endswith(BODY):
                        received += conn.recv(65536)
                    conn.sendall(answer)

        thread = threading.Thread(target=serve_two, daemon=True)
        thread.start()
        base_url = f"http://127.0.0.1:{server.getsockname()[1]}/v1"
        settings = load_settings({"api_key": "sk-test-0123456789abcdef", "base_url": base_url}, {})
        host = requests.Session()
        host.mount("http://", HostAdapter(max_retries=0))
        answers = [HttpGateway(settings, session).send(HttpRequest("POST", SESSIONS, BODY)) for session in (None, host)]
        thread.join(5)
    assert [dict(answer.headers) for answer in answers] == [
        {"content-length": "2", "x-dup": "a, b", "content-type": "application/json"}
    ] * 2
