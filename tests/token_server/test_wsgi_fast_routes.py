"""``FastRoutes`` (realtime_service/web/adapters/wsgi.py), the plain WSGI callable ``serve`` puts in front of Flask,
and the waitress guard's one-write answers and arrival deadlines (realtime_service/web/servers/waitress_guard.py).

Like tests/token_server/test_fast_routes.py for the ASGI one, on real waitress servers over loopback sockets:
- the same hostile and ordinary requests, sent byte for byte to ``serve``'s app (the fast path) and to the bare
  Flask app (one container behind both), get the same answers, byte for byte but for the ``Date`` (a mint's fresh
  key aside), and the same access lines;
- the callable itself, around a recording handler and a stub app: what reaches the handler, what goes on to the
  app, a body over the cap with and without a declared length.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import re
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from waiting import wait_until

from realtime_service.emulator import Emulator
from realtime_service.web.messages import WebRequest, WebResponse
from realtime_service.web.servers.runners import ServedApp, WaitressRunner, bind

from .conftest import make_container
from .raw_http import exchange, shape

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("waitress") is None or importlib.util.find_spec("flask") is None,
    reason="the flask extra is not installed (pip install -e '.[test]')",
)

TOKEN = "tok-wsgi-fast-routes-0123456789"
ORIGIN = "https://app.example.com"


def without_date(answer: bytes) -> bytes:
    return re.sub(rb"\r\nDate: [^\r]*", b"", answer)


def request(method: str, target: str, body: bytes = b"", *, auth: bool = True, **headers: str) -> bytes:
    fields = {"host": "127.0.0.1", "connection": "close"}
    if auth:
        fields["authorization"] = f"Bearer {TOKEN}"
    fields.update({k.replace("_", "-"): v for k, v in headers.items()})
    if body and "content-length" not in fields and "transfer-encoding" not in fields:
        fields["content-length"] = str(len(body))
    head = "".join(f"{name}: {value}\r\n" for name, value in fields.items())
    return f"{method} {target} HTTP/1.1\r\n{head}\r\n".encode("latin-1") + body


JSON_TYPE = {"content_type": "application/json"}
SDP = b"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\n"
CHUNKED = {"transfer_encoding": "chunked", **JSON_TYPE}
#: (name, raw request, whether it mints: its body then differs by the fresh key or call)
CASES: list[tuple[str, bytes, bool]] = [
    ("mint", request("POST", "/token", b"{}", **JSON_TYPE), True),
    ("mint from the allowed origin", request("POST", "/token", b"{}", origin=ORIGIN, **JSON_TYPE), True),
    ("mint, HTTP/1.0", request("POST", "/token", b"{}", **JSON_TYPE).replace(b"HTTP/1.1", b"HTTP/1.0", 1), True),
    (
        "preflight allowed",
        request("OPTIONS", "/token", auth=False, origin=ORIGIN, access_control_request_method="POST"),
        False,
    ),
    (
        "preflight foreign",
        request("OPTIONS", "/token", auth=False, origin="http://evil.example", access_control_request_method="POST"),
        False,
    ),
    (
        "preflight asking PUT",
        request("OPTIONS", "/token", auth=False, origin=ORIGIN, access_control_request_method="PUT"),
        False,
    ),
    ("preflight bare", request("OPTIONS", "/token", auth=False), False),
    ("no token", request("POST", "/token", b"{}", auth=False, **JSON_TYPE), False),
    ("wrong token", request("POST", "/token", b"{}", auth=False, authorization="Bearer nope", **JSON_TYPE), False),
    ("get token", request("GET", "/token"), False),
    ("head token", request("HEAD", "/token"), False),
    ("put token", request("PUT", "/token", b"{}", **JSON_TYPE), False),
    ("slash", request("POST", "/token/", b"{}", **JSON_TYPE), False),
    ("double slash", request("POST", "//token", b"{}", **JSON_TYPE), True),
    ("percent-encoded path", request("POST", "/%74oken", b"{}", **JSON_TYPE), True),
    ("encoded slash", request("POST", "/tok%2Fen", b"{}", **JSON_TYPE), False),
    ("absolute form", request("POST", "http://127.0.0.1/token", b"{}", **JSON_TYPE), True),
    ("foreign host", request("POST", "/token", b"{}", host="evil.example", **JSON_TYPE), False),
    ("no host", request("POST", "/token", b"{}", host="", **JSON_TYPE), False),
    ("foreign origin", request("POST", "/token", b"{}", origin="http://evil.example", **JSON_TYPE), False),
    ("not json", request("POST", "/token", b"{", **JSON_TYPE), False),
    ("not utf-8", request("POST", "/token", b'{"a": "\xff"}', **JSON_TYPE), False),
    ("nested json", request("POST", "/token", b"[" * 2000 + b"]" * 2000, **JSON_TYPE), False),
    ("wrong type", request("POST", "/token", b"{}", content_type="text/plain"), False),
    ("no type", request("POST", "/token", b"{}"), False),
    ("declared too large", request("POST", "/token", b"{}", content_length="99999999", **JSON_TYPE), False),
    ("body at the cap", request("POST", "/token", b"{" + b" " * 4094 + b"}", **JSON_TYPE), True),
    ("body over the cap", request("POST", "/token", b"{" + b" " * 4095 + b"}", **JSON_TYPE), False),
    ("chunked", request("POST", "/token", b"2\r\n{}\r\n0\r\n\r\n", **CHUNKED), True),
    ("chunked over the cap", request("POST", "/token", b"1001\r\n" + b" " * 4097 + b"\r\n0\r\n\r\n", **CHUNKED), False),
    ("junk length", request("POST", "/token", b"{}", content_length="12abc", **JSON_TYPE), False),
    (
        "two lengths",
        request("POST", "/token", b"{}", **JSON_TYPE).replace(b"\r\n\r\n", b"\r\nContent-Length: 3\r\n\r\n", 1),
        False,
    ),
    ("policy", request("POST", "/token", b'{"model": "gpt-4o"}', **JSON_TYPE), False),
    ("latin-1 header", request("POST", "/token", b"{}", x_name="caf\xe9", **JSON_TYPE), True),
    (
        "underscore header",
        request("POST", "/token", b"{}", **JSON_TYPE).replace(b"\r\n\r\n", b"\r\nX_Forwarded_For: 1.2.3.4\r\n\r\n", 1),
        True,
    ),
    ("query", request("POST", "/token?model=x&%0a=1", b"{}", **JSON_TYPE), True),
    ("expect continue", request("POST", "/token", b"{}", expect="100-continue", **JSON_TYPE), True),
    ("session offer", request("POST", "/session", SDP, content_type="application/sdp"), True),
    (
        "session offer from the origin",
        request("POST", "/session", SDP, origin=ORIGIN, content_type="application/sdp"),
        True,
    ),
    ("session json", request("POST", "/session", b"{}", **JSON_TYPE), False),
    ("session not sdp", request("POST", "/session", b"hello", content_type="application/sdp"), False),
    (
        "session preflight",
        request("OPTIONS", "/session", auth=False, origin=ORIGIN, access_control_request_method="POST"),
        False,
    ),
    ("session get", request("GET", "/session"), False),
    ("healthz", request("GET", "/healthz"), False),
    ("not found", request("POST", "/nope", b"{}", **JSON_TYPE), False),
    ("malformed request line", b"POST /token HTTP/1.1 extra\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", False),
]


class Access(logging.Handler):
    """The access lines written, without their elapsed time and upstream request id."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        line = re.sub(r" in [0-9.]+ ms", "", record.getMessage())
        line = re.sub(r"call_id=rtc_\w+", "call_id=rtc_", line)  # a fresh call id each time
        self.lines.append(re.sub(r"request_id=req_\w+", "request_id=req_", line))  # the upstream's, fresh each time


@pytest.fixture
def two_servers(emulator: Emulator) -> Iterator[tuple[ServedApp, WaitressRunner, int, Access]]:
    """One container served twice by waitress: as ``serve`` runs it (the fast path) and as the bare Flask app."""
    container = make_container(
        emulator,
        rate_limit="1000/minute",
        auth_failure_limit="1000/minute",
        max_body_bytes=4096,
        cors_origins=[ORIGIN],
        auth="bearer",
        bearer_tokens={"web": TOKEN},
    )
    served = ServedApp(container, "flask").start()
    from realtime_service.web.adapters.flask_blueprint import create_flask_app
    from realtime_service.web.adapters.wsgi import FastRoutes

    settings = container.token_server.server_settings()
    app = create_flask_app(settings.path, session_path=settings.session_path)
    assert not isinstance(app, FastRoutes)
    sock = bind("127.0.0.1", 0)
    plain = WaitressRunner(app, sock, shutdown_timeout=1, settings=settings)
    thread = threading.Thread(target=plain.run, daemon=True)
    thread.start()
    port = sock.getsockname()[1]
    wait_until(lambda: exchange(port, request("GET", "/healthz")), what="the plain app to answer")
    access = Access()
    logger = logging.getLogger("realtime_service.web.access")
    logger.addHandler(access)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield served, plain, port, access
    finally:
        logger.removeHandler(access)
        logger.setLevel(level)
        plain.stop()
        thread.join(10)
        served.stop()


def settled(runner: Callable[[], bool]) -> None:
    wait_until(runner, what="every request handled to the end")


@pytest.mark.parametrize("name", [case[0] for case in CASES])
def test_the_fast_path_answers_as_the_flask_app_does(
    two_servers: tuple[ServedApp, WaitressRunner, int, Access], name: str
) -> None:
    served, plain, plain_port, access = two_servers
    raw, mints = next((raw, mints) for case, raw, mints in CASES if case == name)
    fast = without_date(exchange(served.port, raw))
    served.settle()
    fast_lines, access.lines[:] = list(access.lines), []
    slow = without_date(exchange(plain_port, raw))
    settled(plain.idle)
    assert fast_lines == access.lines
    assert fast.startswith(b"HTTP/1.")
    if not mints:
        assert fast == slow
        return
    interim = b"HTTP/1.1 100 Continue\r\n\r\n"
    assert fast.startswith(interim) == slow.startswith(interim)
    fast, slow = fast.removeprefix(interim), slow.removeprefix(interim)
    fast_head, _, fast_body = fast.partition(b"\r\n\r\n")
    slow_head, _, slow_body = slow.partition(b"\r\n\r\n")
    assert fast_head.split(b"\r\n")[0] in (b"HTTP/1.1 200 OK", b"HTTP/1.1 201 CREATED", b"HTTP/1.0 200 OK"), fast
    if b"content-length: " in fast_head.lower():  # the lengths differ with the key or call id
        fast_head, slow_head = (re.sub(rb"(?i)content-length: \d+", b"", h) for h in (fast_head, slow_head))
    fast_head, slow_head = (re.sub(rb"rtc_\w+", b"rtc_", h) for h in (fast_head, slow_head))  # a fresh call id
    assert fast_head == slow_head
    assert shape(fast_body) == shape(slow_body)


def test_serve_on_flask_runs_the_fast_path(emulator: Emulator) -> None:
    from realtime_service.web.adapters.wsgi import FastRoutes

    served = ServedApp(make_container(emulator), "flask")
    try:
        app = served._runner._app.app  # type: ignore[attr-defined]
        assert isinstance(app, FastRoutes)
        assert set(app.routes) == {"/token", "/session"}
        served.start()
        answer = exchange(served.port, request("POST", "/token", b"{}", auth=False, **JSON_TYPE))
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK")
        assert json.loads(body)["value"].startswith("ek_")
    finally:
        served.stop()


def test_an_override_of_the_endpoint_applies_to_the_fast_path_at_once(emulator: Emulator) -> None:
    """The providers are asked per request, as the blueprint's ``@inject`` asks them."""
    from dependency_injector import providers

    container = make_container(emulator)
    with ServedApp(container, "flask") as served:
        recorder = Recorder()
        with container.token_server.token_endpoint.override(providers.Object(recorder)):
            answer = exchange(served.port, request("POST", "/token", b"{}", auth=False, **JSON_TYPE))
        assert answer.startswith(b"HTTP/1.1 200 OK")
        assert answer.endswith(b"\r\n\r\nok")
        assert [seen.path for seen in recorder.requests] == ["/token"]
        after = exchange(served.port, request("POST", "/token", b"{}", auth=False, **JSON_TYPE))
        assert json.loads(after.partition(b"\r\n\r\n")[2])["value"].startswith("ek_")  # the container's again


# -- the callable itself ---------------------------------------------------------------------------------------


class Recorder:
    """A hot route's endpoint that keeps what it got and answers 200 ``ok`` (its body cap: 16 bytes)."""

    def __init__(self) -> None:
        self.requests: list[WebRequest] = []
        self.settings = SimpleNamespace(max_body_bytes=16)

    def handle(self, received: WebRequest) -> WebResponse:
        self.requests.append(received)
        return WebResponse(200, [("Content-Type", "text/plain"), ("X-Seen", str(len(self.requests)))], b"ok")


def stub_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The app behind: answers 299 with the method and path."""
    body = f"app {environ['REQUEST_METHOD']} {environ['PATH_INFO']}".encode()
    start_response("299 Other", [("Content-Length", str(len(body)))])
    return [body]


@pytest.fixture
def wrapped() -> Iterator[tuple[int, Recorder]]:
    from realtime_service.web.adapters.wsgi import FastRoutes, Route

    recorder = Recorder()
    sock = bind("127.0.0.1", 0)
    runner = WaitressRunner(FastRoutes(stub_app, {"/token": Route(lambda: recorder)}), sock, shutdown_timeout=1)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    port = sock.getsockname()[1]
    yield port, recorder
    runner.stop()
    thread.join(10)


def test_a_post_reaches_the_handler_as_received(wrapped: tuple[int, Recorder]) -> None:
    port, recorder = wrapped
    raw = request("POST", "/token?a=1&b=%0a", b'{"x":1}', auth=False, x_twice="first").replace(
        b"\r\n\r\n", b"\r\nX-Twice: second\r\nX-Latin: caf\xe9\r\n\r\n", 1
    )
    answer = exchange(port, raw)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\nContent-Length: 2" in head
    assert b"\r\nX-Seen: 1" in head
    assert body == b"ok"
    (seen,) = recorder.requests
    assert (seen.method, seen.path, seen.query, seen.body) == ("POST", "/token", "a=1&b=%0a", b'{"x":1}')
    assert seen.headers["x-twice"] == "first, second"  # a repeated header joined by the WSGI server
    assert seen.headers["x-latin"] == "caf\xe9"
    assert seen.client == "127.0.0.1"
    assert seen.scheme == "http"
    assert not seen.body_too_large
    assert not seen.disconnected


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/token"), ("HEAD", "/token"), ("POST", "/token/"), ("POST", "/tokens"), ("POST", "/")]
)
def test_other_methods_and_paths_go_to_the_app(wrapped: tuple[int, Recorder], method: str, path: str) -> None:
    port, recorder = wrapped
    answer = exchange(port, request(method, path, b"{}", auth=False))
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 299 Other")
    assert body == f"app {method} {path}".encode()  # the stub's own answer, as it gave it (even to a HEAD)
    assert recorder.requests == []


def test_a_declared_body_over_the_cap_is_not_read(wrapped: tuple[int, Recorder]) -> None:
    port, recorder = wrapped
    exchange(port, request("POST", "/token", b"x" * 17, auth=False))
    (seen,) = recorder.requests
    assert seen.body_too_large
    assert seen.body == b""


def test_a_chunked_body_over_the_cap_is_marked_too_large(wrapped: tuple[int, Recorder]) -> None:
    port, recorder = wrapped
    chunks = b"".join(b"a\r\n" + b"y" * 10 + b"\r\n" for _ in range(5)) + b"0\r\n\r\n"
    exchange(port, request("POST", "/token", chunks, auth=False, transfer_encoding="chunked"))
    (seen,) = recorder.requests
    assert seen.body_too_large
    assert seen.body == b""  # waitress declares a dechunked body's length: over the cap, it is not read


def test_keep_alive_requests_each_reach_the_handler_in_one_write_each(wrapped: tuple[int, Recorder]) -> None:
    port, recorder = wrapped
    one = request("POST", "/token", b"{}", auth=False, connection="keep-alive")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        for count in (1, 2):
            sock.sendall(one)
            answer = b""
            while not answer.endswith(b"ok"):
                chunk = sock.recv(65536)
                assert chunk, answer
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 200 OK")
            assert f"X-Seen: {count}".encode() in answer
    assert len(recorder.requests) == 2


# -- the waitress guard: one write per answer -----------------------------------------------------------------


class Sends:
    """A channel stand-in for :class:`OneWriteTask`: records each ``write_soon``."""

    def __init__(self) -> None:
        from waitress.adjustments import Adjustments  # type: ignore[import-untyped]

        self.writes: list[bytes] = []
        self.server = type("Server", (), {"adj": Adjustments(ident="test")})()

    def write_soon(self, data: bytes) -> int:
        self.writes.append(data)
        return len(data)


def one_write_task(status: str, headers: list[tuple[str, str]]) -> tuple[Any, Sends]:
    from waitress.adjustments import Adjustments  # type: ignore[import-untyped]
    from waitress.parser import HTTPRequestParser  # type: ignore[import-untyped]

    from realtime_service.web.servers.waitress_guard import OneWriteTask

    parser = HTTPRequestParser(Adjustments())
    parser.received(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    sends = Sends()
    task = OneWriteTask(sends, parser)
    task.complete = True
    task.status = status
    task.response_headers = list(headers)
    for name, value in headers:
        if name.lower() == "content-length":
            task.content_length = int(value)
    return task, sends


def test_a_whole_body_goes_out_with_its_head() -> None:
    task, sends = one_write_task("200 OK", [("Content-Length", "4")])
    task.write(b"body")
    (only,) = sends.writes
    assert only.startswith(b"HTTP/1.1 200 OK\r\n")
    assert only.endswith(b"\r\n\r\nbody")
    assert task.content_bytes_written == 4


@pytest.mark.parametrize(
    ("headers", "pieces", "expected"),
    [
        ([("Content-Length", "8")], [b"body", b"more"], [b"body", b"more"]),  # in parts: as waitress writes them
        ([], [b"body"], [b"4\r\nbody\r\n"]),  # no length: chunked, as waitress frames it
        ([("Content-Length", "2")], [b"body"], [b"bo"]),  # more than declared: cut, as waitress cuts it
    ],
)
def test_any_other_body_is_written_as_waitress_writes_it(
    headers: list[tuple[str, str]], pieces: list[bytes], expected: list[bytes]
) -> None:
    task, sends = one_write_task("200 OK", headers)
    for piece in pieces:
        task.write(piece)
    head, *rest = sends.writes
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert head.endswith(b"\r\n\r\n")
    assert rest == expected


def test_a_bodiless_answer_writes_its_head_only() -> None:
    task, sends = one_write_task("204 No Content", [])
    task.write(b"ignored")
    (head,) = sends.writes
    assert head.startswith(b"HTTP/1.1 204 No Content\r\n")
    assert head.endswith(b"\r\n\r\n")


# -- the waitress guard: the loop keeps off a socket its task is sending on -----------------------------------


class TriggerCounter:
    """The server a channel needs: its channels by file descriptor, and the trigger pulls counted."""

    def __init__(self) -> None:
        self.active_channels: dict[int, Any] = {}
        self.pulls = 0

    def pull_trigger(self) -> None:
        self.pulls += 1


@pytest.fixture
def channel() -> Iterator[Any]:
    """A :class:`GuardedChannel` on one end of a real socket pair, outside any loop."""
    from waitress.adjustments import Adjustments  # type: ignore[import-untyped]

    from realtime_service.web.servers.waitress_guard import GuardedChannel

    ours, theirs = socket.socketpair()
    made = GuardedChannel(TriggerCounter(), ours, ("127.0.0.1", 1), Adjustments(), map={})
    yield made
    made.close()
    theirs.close()


def test_the_loop_does_not_poll_a_socket_while_its_task_sends(channel: Any) -> None:
    seen: list[bool] = []
    send = channel.send

    def watched(data: bytes, do_close: bool = True) -> int:
        seen.append(bool(channel.writable()))  # what the loop would be told at this moment
        sent: int = send(data, do_close)
        return sent

    channel.send = watched
    channel.write_soon(b"answer")
    assert seen == [False]
    assert not channel.writable()  # all sent: nothing left for the loop


def test_what_a_task_could_not_send_is_the_loops_again(channel: Any) -> None:
    channel.send = lambda data, do_close=True: 0  # a full socket buffer: nothing goes
    pulls = channel.server.pulls
    channel.write_soon(b"answer")
    assert channel.writable()
    assert channel.server.pulls > pulls  # the loop is woken to send it
