"""``FastRoutes`` (realtime_service/web/adapters/asgi.py), the plain ASGI callable ``serve`` puts in front of FastAPI.

Two kinds of checks, both on a real uvicorn over loopback sockets:
- the same hostile and ordinary requests, sent byte for byte to the served app with and without the fast path,
  get the same answers (status, headers, body; a mint's fresh key aside);
- the callable itself, around a recording handler and a stub app: what reaches the handler, what goes on to the
  app, a body over the cap with and without a length, a client gone mid-body, the lifespan.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from dependency_injector import providers
from waiting import wait_until

from realtime_service.emulator import Emulator
from realtime_service.web.adapters.asgi import FastRoutes, ProvidedRoute, Route
from realtime_service.web.messages import WebRequest, WebResponse
from realtime_service.web.servers.containers import ServeContainer
from realtime_service.web.servers.runners import ServedApp, UvicornRunner, bind
from realtime_service.web.servers.uvicorn_guard import HeadHeld

from .conftest import make_container
from .raw_http import exchange, shape

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("uvicorn") is None or importlib.util.find_spec("fastapi") is None,
    reason="the fastapi extra is not installed (pip install -e '.[test]')",
)


def parse(answer: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = sorted(
        (name.lower(), value.strip())
        for name, _, value in (line.partition(":") for line in lines[1:])
        if name.lower() not in ("date", "connection")
    )
    return status, headers, body


def request(method: str, path: str, body: bytes = b"", **headers: str) -> bytes:
    fields = {"host": "127.0.0.1", "connection": "close", **{k.replace("_", "-"): v for k, v in headers.items()}}
    if body and "content-length" not in fields and "transfer-encoding" not in fields:
        fields["content-length"] = str(len(body))
    head = "".join(f"{name}: {value}\r\n" for name, value in fields.items())
    return f"{method} {path} HTTP/1.1\r\n{head}\r\n".encode("latin-1") + body


JSON_TYPE = {"content_type": "application/json"}
SDP_TYPE = "application/sdp"
SDP = b"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\n"
#: (name, raw request, whether it mints: its body then differs by the fresh key)
CASES: list[tuple[str, bytes, bool]] = [
    ("mint", request("POST", "/token", b"{}", **JSON_TYPE), True),
    (
        "preflight",
        request("OPTIONS", "/token", origin="http://evil.example", access_control_request_method="POST"),
        False,
    ),
    ("get token", request("GET", "/token"), False),
    ("head token", request("HEAD", "/token"), False),
    ("slash", request("POST", "/token/", b"{}", **JSON_TYPE), False),
    ("foreign host", request("POST", "/token", b"{}", host="evil.example", **JSON_TYPE), False),
    ("foreign origin", request("POST", "/token", b"{}", origin="http://evil.example", **JSON_TYPE), False),
    ("not json", request("POST", "/token", b"{", **JSON_TYPE), False),
    ("nested json", request("POST", "/token", b"[" * 5000 + b"]" * 5000, **JSON_TYPE), False),
    ("wrong type", request("POST", "/token", b"{}", content_type="text/plain"), False),
    ("declared too large", request("POST", "/token", b"{}", content_length="99999999", **JSON_TYPE), False),
    ("policy", request("POST", "/token", b'{"model": "gpt-4o"}', **JSON_TYPE), False),
    ("junk length", request("POST", "/token", b"{}", content_length="12abc", **JSON_TYPE), False),
    ("latin-1 header", request("POST", "/token", b"{}", x_name="caf\xe9", **JSON_TYPE), True),
    ("chunked", request("POST", "/token", b"2\r\n{}\r\n0\r\n\r\n", transfer_encoding="chunked", **JSON_TYPE), True),
    ("query", request("POST", "/token?model=x&%0a=1", b"{}", **JSON_TYPE), True),
    ("session offer", request("POST", "/session", SDP, content_type="application/sdp"), True),
    ("session json", request("POST", "/session", b"{}", **JSON_TYPE), False),
    ("session get", request("GET", "/session"), False),
    ("healthz", request("GET", "/healthz"), False),
]


@pytest.fixture
def served_twice(emulator: Emulator) -> Iterator[tuple[ServeContainer, int, int]]:
    """One container served twice by uvicorn: as ``serve`` runs it (the fast path) and as the bare FastAPI app;
    the container and the two ports."""
    container = make_container(emulator, rate_limit="1000/minute", max_body_bytes=4096)
    served = ServedApp(container, "fastapi").start()
    from realtime_service.web.adapters.fastapi_router import create_fastapi_app

    settings = container.token_server.server_settings()
    app = create_fastapi_app(container.token_server.token_endpoint, settings.path, session_path=settings.session_path)
    assert not isinstance(app, FastRoutes)
    sock = bind("127.0.0.1", 0)
    plain = UvicornRunner(app, sock, shutdown_timeout=1, settings=settings)
    thread = threading.Thread(target=plain.run, daemon=True)
    thread.start()
    port = sock.getsockname()[1]
    wait_until(lambda: exchange(port, request("GET", "/healthz")), what="the plain app to answer")
    try:
        yield container, served.port, port
    finally:
        plain.stop()
        thread.join(10)
        served.stop()


@pytest.fixture
def two_servers(served_twice: tuple[ServeContainer, int, int]) -> tuple[int, int]:
    return served_twice[1], served_twice[2]


@pytest.mark.parametrize("name", [case[0] for case in CASES])
def test_the_fast_path_answers_as_the_fastapi_app_does(two_servers: tuple[int, int], name: str) -> None:
    raw, mints = next((raw, mints) for case, raw, mints in CASES if case == name)
    fast, plain = (parse(exchange(port, raw)) for port in two_servers)
    assert fast[0] == plain[0], (fast, plain)
    if mints:  # a fresh key (or call) each time: the same headers and the same shape of body
        assert fast[0] in (200, 201), fast
        assert [header for header, _ in fast[1]] == [header for header, _ in plain[1]]
        assert shape(fast[2]) == shape(plain[2])
    else:
        assert fast == plain


# -- providers overridden after start ---------------------------------------------------------------------------

TOKEN = "web-token-0123456789abcdef"


def status_of(port: int, raw: bytes) -> int:
    return parse(exchange(port, raw))[0]


def test_an_endpoint_overridden_after_start_answers_on_the_fast_and_the_fastapi_route(
    served_twice: tuple[ServeContainer, int, int], emulator: Emulator
) -> None:
    """A host app (or a test) overrides the endpoints once the server runs: both paths ask the provider at each
    request, so both answer from the override (here one that wants a bearer token), never the one built at start."""
    container, fast, plain = served_twice
    mint, call = request("POST", "/token", b"{}", **JSON_TYPE), request("POST", "/session", SDP, content_type=SDP_TYPE)
    assert [status_of(port, raw) for port in (fast, plain) for raw in (mint, call)] == [200, 201, 200, 201]
    strict = make_container(emulator, auth="bearer", bearer_tokens={"web": TOKEN}, rate_limit="1000/minute")
    server = container.token_server
    server.token_endpoint.override(providers.Object(strict.token_server.token_endpoint()))
    server.signaling_endpoint.override(providers.Object(strict.token_server.signaling_endpoint()))
    try:
        for port in (fast, plain):
            for raw in (mint, call):
                status, headers, body = parse(exchange(port, raw))
                assert status == 401, (port, raw[:20], body)
                assert json.loads(body)["error"]["code"] == "unauthorized"
                assert any(name == "www-authenticate" for name, _ in headers)
            authorized = {"authorization": f"Bearer {TOKEN}"}
            assert status_of(port, request("POST", "/token", b"{}", **JSON_TYPE, **authorized)) == 200
            assert status_of(port, request("POST", "/session", SDP, content_type=SDP_TYPE, **authorized)) == 201
    finally:
        server.token_endpoint.reset_override()
        server.signaling_endpoint.reset_override()
        strict.shutdown_resources()
    assert [status_of(port, raw) for port in (fast, plain) for raw in (mint, call)] == [200, 201, 200, 201]


def test_an_endpoint_overridden_after_start_also_answers_what_no_route_serves(
    served_twice: tuple[ServeContainer, int, int], emulator: Emulator
) -> None:
    """The 404/405/421 fallback asks the provider too: an override that answers only for another host name
    refuses this one with 421 where the endpoint built at start said 404."""
    container, fast, plain = served_twice
    missing = request("GET", "/missing")
    assert [status_of(port, missing) for port in (fast, plain)] == [404, 404]
    elsewhere = make_container(emulator, allowed_hosts=["voice.example"])
    server = container.token_server
    server.token_endpoint.override(providers.Object(elsewhere.token_server.token_endpoint()))
    try:
        for port in (fast, plain):
            status, _, body = parse(exchange(port, missing))
            assert (status, json.loads(body)["error"]["code"]) == (421, "host_not_allowed")
    finally:
        server.token_endpoint.reset_override()
        elsewhere.shutdown_resources()
    assert [status_of(port, missing) for port in (fast, plain)] == [404, 404]


def test_a_service_overridden_after_start_mints_and_calls_on_both_routes(
    served_twice: tuple[ServeContainer, int, int], emulator: Emulator
) -> None:
    """The service behind the endpoints overridden after the first mint: the next mint and call on either path
    go to the override's upstream (a second loopback emulator), none to the first."""
    container, fast, plain = served_twice
    mint, call = request("POST", "/token", b"{}", **JSON_TYPE), request("POST", "/session", SDP, content_type=SDP_TYPE)
    assert status_of(fast, mint) == 200  # the minter is chosen for the first service
    with Emulator() as other:
        elsewhere = make_container(other)
        realtime = container.token_server.realtime
        service = elsewhere.token_server.realtime.realtime_session_service()
        realtime.realtime_session_service.override(providers.Object(service))
        emulator.clear()
        try:
            answers = [status_of(port, raw) for port in (fast, plain) for raw in (mint, call)]
        finally:
            realtime.realtime_session_service.reset_override()
            elsewhere.shutdown_resources()
        assert answers == [200, 201, 200, 201]
        assert emulator.requests == []
        assert [(r.method, r.path) for r in other.requests] == [
            ("POST", "/v1/realtime/client_secrets"),
            ("POST", "/v1/realtime/calls"),
        ] * 2
    assert status_of(plain, mint) == 200
    assert len(emulator.requests) == 1


# -- the callable itself ---------------------------------------------------------------------------------------


class Recorder:
    """A hot route's handler that keeps what it got and answers 200 ``ok``."""

    def __init__(self) -> None:
        self.requests: list[WebRequest] = []

    async def handle(self, received: WebRequest) -> WebResponse:
        self.requests.append(received)
        return WebResponse(200, [("Content-Type", "text/plain"), ("X-Seen", str(len(self.requests)))], b"ok")


class StubApp:
    """The app behind: answers 299 with the path, and records lifespan events."""

    def __init__(self) -> None:
        self.events: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                self.events.append(message["type"])
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        body = f"app {scope['method']} {scope['path']}".encode()
        await send({"type": "http.response.start", "status": 299, "headers": [(b"content-length", b"%d" % len(body))]})
        await send({"type": "http.response.body", "body": body})


@pytest.fixture
def wrapped() -> Iterator[tuple[int, Recorder, StubApp]]:
    recorder, app = Recorder(), StubApp()
    sock = bind("127.0.0.1", 0)
    runner = UvicornRunner(FastRoutes(app, {"/token": Route(recorder.handle, 16)}), sock, shutdown_timeout=1)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    port = sock.getsockname()[1]
    wait_until(lambda: "lifespan.startup" in app.events, what="the app's lifespan startup")
    yield port, recorder, app
    runner.stop()
    thread.join(10)
    assert app.events == ["lifespan.startup", "lifespan.shutdown"]


def test_a_post_reaches_the_handler_as_received(wrapped: tuple[int, Recorder, StubApp]) -> None:
    port, recorder, _ = wrapped
    raw = request("POST", "/token?a=1&b=%0a", b'{"x":1}', x_twice="first").replace(
        b"\r\n\r\n", b"\r\nX-Twice: second\r\nX-Latin: caf\xe9\r\n\r\n", 1
    )
    status, headers, body = parse(exchange(port, raw))
    assert (status, body) == (200, b"ok")
    assert ("content-length", "2") in headers
    assert ("x-seen", "1") in headers
    (seen,) = recorder.requests
    assert (seen.method, seen.path, seen.query, seen.body) == ("POST", "/token", "a=1&b=%0a", b'{"x":1}')
    assert seen.headers["x-twice"] == "first, second"  # a repeated header joined, as a WSGI server joins it
    assert seen.headers["x-latin"] == "caf\xe9"
    assert seen.client == "127.0.0.1"
    assert seen.scheme == "http"
    assert not seen.body_too_large
    assert not seen.disconnected


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/token"), ("HEAD", "/token"), ("POST", "/token/"), ("POST", "/tokens"), ("POST", "/")]
)
def test_other_methods_and_paths_go_to_the_app(wrapped: tuple[int, Recorder, StubApp], method: str, path: str) -> None:
    port, recorder, _ = wrapped
    status, _, body = parse(exchange(port, request(method, path, b"{}")))
    assert status == 299
    assert body == (b"" if method == "HEAD" else f"app {method} {path}".encode())
    assert recorder.requests == []


def test_a_declared_body_over_the_cap_is_not_read(wrapped: tuple[int, Recorder, StubApp]) -> None:
    port, recorder, _ = wrapped
    parse(exchange(port, request("POST", "/token", b"x" * 17)))
    (seen,) = recorder.requests
    assert seen.body_too_large
    assert seen.body == b""


def test_a_chunked_body_over_the_cap_is_marked_too_large(wrapped: tuple[int, Recorder, StubApp]) -> None:
    port, recorder, _ = wrapped
    chunks = b"".join(b"a\r\n" + b"y" * 10 + b"\r\n" for _ in range(5)) + b"0\r\n\r\n"
    parse(exchange(port, request("POST", "/token", chunks, transfer_encoding="chunked")))
    (seen,) = recorder.requests
    assert seen.body_too_large
    assert len(seen.body) > 16  # uvicorn hands over what it has buffered: the cap is checked per message


def test_a_client_gone_mid_body_is_marked_disconnected(wrapped: tuple[int, Recorder, StubApp]) -> None:
    port, recorder, _ = wrapped
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request("POST", "/token", b"{", content_length="10"))
        time.sleep(0.2)  # the behaviour: a client that stays a moment mid-body, then goes (nothing to wait on)
    wait_until(lambda: recorder.requests, what="the handler to see the request")
    (seen,) = recorder.requests
    assert seen.disconnected
    assert seen.body == b"{"


def test_an_options_request_is_not_read_for_a_body(wrapped: tuple[int, Recorder, StubApp]) -> None:
    port, recorder, _ = wrapped
    status, _, _ = parse(exchange(port, request("OPTIONS", "/token", origin="http://a.example")))
    assert status == 200
    (seen,) = recorder.requests
    assert seen.method == "OPTIONS"
    assert seen.body == b""


def test_keep_alive_requests_each_reach_the_handler(wrapped: tuple[int, Recorder, StubApp]) -> None:
    port, recorder, _ = wrapped
    one = request("POST", "/token", b"{}", connection="keep-alive")
    answer = exchange(port, one + one + request("POST", "/token", b"{}"))
    assert answer.count(b"HTTP/1.1 200") == 3
    assert len(recorder.requests) == 3


def test_serve_on_fastapi_runs_the_fast_path(emulator: Emulator, caplog: pytest.LogCaptureFixture) -> None:
    container = make_container(emulator)
    served = ServedApp(container, "fastapi")
    try:
        app = served._runner.server.config.app  # type: ignore[attr-defined]
        assert isinstance(app, FastRoutes)
        assert set(app.routes) == {"/token", "/session"}
        assert all(isinstance(route, ProvidedRoute) for route in app.routes.values())  # asked at each request
        served.start()
        answer = parse(exchange(served.port, request("POST", "/token", b"{}", **JSON_TYPE)))
        assert answer[0] == 200
        assert json.loads(answer[2])["value"].startswith("ek_")
    finally:
        served.stop()


def test_the_recorder_answers_on_its_own_loop() -> None:
    """The handler protocol is plain ``async``: FastRoutes needs nothing from uvicorn but the ASGI calls."""
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    recorder = Recorder()
    scope = {"type": "http", "method": "POST", "path": "/token", "headers": [(b"host", b"x")], "query_string": b""}
    asyncio.run(FastRoutes(StubApp(), {"/token": Route(recorder.handle, 16)})(scope, receive, send))
    assert sent[0]["status"] == 200
    assert sent[1]["body"] == b"ok"
    assert recorder.requests[0].client is None


# -- one write per answer (web/uvicorn_guard.py HeadHeld) ------------------------------------------------------


class Writes:
    """A transport that records what is written to it, and whether it was closed."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


class Cycle:
    response_started = False
    response_complete = False


def test_the_head_goes_out_with_the_body() -> None:
    transport, cycle = Writes(), Cycle()
    held = HeadHeld(transport, cycle)  # type: ignore[arg-type]
    held.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # before the response starts: at once
    assert transport.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    cycle.response_started = True
    held.write(b"HEAD\r\n\r\n")
    assert len(transport.writes) == 1
    held.write(b"body")
    held.write(b"more")
    assert transport.writes[1:] == [b"HEAD\r\n\r\nbody", b"more"]
    assert held.is_closing() is False  # everything else is the transport's


def test_a_held_head_is_written_before_close_and_by_flush() -> None:
    transport, cycle = Writes(), Cycle()
    cycle.response_started = True
    held = HeadHeld(transport, cycle)  # type: ignore[arg-type]
    held.write(b"HEAD\r\n\r\n")
    held.close()
    assert transport.writes == [b"HEAD\r\n\r\n"]
    assert transport.closed
    other = HeadHeld(Writes(), cycle)  # type: ignore[arg-type]
    other.write(b"HEAD\r\n\r\n")
    other.flush()
    other.flush()
    assert other._transport.writes == [b"HEAD\r\n\r\n"]  # type: ignore[attr-defined]


def test_a_head_answer_on_keep_alive_is_not_held_back(two_servers: tuple[int, int]) -> None:
    fast, _ = two_servers
    answer = exchange(fast, request("HEAD", "/healthz", connection="keep-alive") + request("GET", "/healthz"))
    assert answer.startswith(b"HTTP/1.1 405 ")  # the health check is GET only; the HEAD answer has no body
    assert answer.count(b"HTTP/1.1 ") == 2
    assert answer.endswith(b'{"status":"ok"}')


def test_expect_100_continue_still_gets_its_interim_answer(two_servers: tuple[int, int]) -> None:
    fast, _ = two_servers
    with socket.create_connection(("127.0.0.1", fast), timeout=5) as sock:
        head = request("POST", "/token", content_length="2", expect="100-continue", **JSON_TYPE)
        sock.sendall(head)
        assert sock.recv(65536).startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(b"{}")
        answer = b""
        while b'"value"' not in answer:
            chunk = sock.recv(65536)
            assert chunk, answer
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200")
