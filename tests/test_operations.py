"""The operation declarations over the real gateway and a scripted loopback server: path parameters checked
and escaped, non-JSON bodies and answers, response headers, and the two retry rules branch by branch."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from realtime_service.config import load_settings
from realtime_service.errors import (
    APIConnectionError,
    APITimeoutError,
    InternalServerError,
    NotFoundError,
    RateLimitError,
    RequestValidationError,
)
from realtime_service.retry import RetryPolicy, RetryRule
from realtime_service.service import RealtimeSessionService
from realtime_service.service.operations import Body, Operation
from realtime_service.transport.gateway import HttpGateway
from realtime_service.transport.seam import HttpResponse

KEY = "sk-test-operations-0123456789"


@dataclass
class Script:
    """What the server answers, one step per request: (status, headers, body), "drop" or "stall"."""

    steps: list[Any] = field(default_factory=list)
    received: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    over: threading.Event = field(default_factory=threading.Event)


class _Handler(BaseHTTPRequestHandler):
    script: Script

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(length)
        self.script.received.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        step = self.script.steps.pop(0) if self.script.steps else (200, {}, b"{}")
        if step == "drop":  # the request arrived, no answer ever comes: outcome unknown
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if step == "stall":  # slower than any client timeout here: answers only once the test is over
            self.script.over.wait(30)
            step = (200, {}, b"{}")
        status, headers, content = step
        self.send_response(status)
        for name, value in {"Content-Length": str(len(content)), **headers}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(content)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, Script]]:
    script = Script()
    handler = type("Handler", (_Handler,), {"script": script})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", script
    script.over.set()
    httpd.shutdown()
    httpd.server_close()


PATHS = {"hangup": "/things/{thing_id}/hangup", "create": "/things", "echo": "/echo"}
ID = re.compile(r"thing_[A-Za-z0-9_-]{1,64}")


def sdp_body(_kit: Any, request: Any) -> Body:
    return Body(request.encode("utf-8"), "application/sdp")


def read_sdp(_kit: Any, response: HttpResponse) -> tuple[str, str | None, str | None]:
    return response.content.decode("utf-8"), response.headers.get("location"), response.request_id


def read_nothing(_kit: Any, response: HttpResponse) -> int:
    return response.status_code


CREATE = Operation("create", sdp_body, read_sdp, retry=RetryRule.UNSENT_ONLY, accept="application/sdp", retired_hint="")
HANGUP = Operation(
    "hangup",
    lambda _kit, _request: Body(b"", "application/json"),
    read_nothing,
    path_params={"thing_id": ID},
    done_after_unknown=frozenset({404}),
)


def make_service(
    base_url: str, read_timeout: float = 5.0, sleep: Callable[[float], None] = lambda _s: None
) -> RealtimeSessionService:
    settings = load_settings({"api_key": KEY, "base_url": base_url}, {})
    gateway = HttpGateway(settings)
    policy = RetryPolicy(max_retries=2, sleep=sleep, jitter=lambda: 0.0)
    return RealtimeSessionService(gateway, None, policy, paths=PATHS, timeout=(2.0, read_timeout), secrets=(KEY,))


def test_a_path_parameter_is_checked_and_filled(server: tuple[str, Script]) -> None:
    base_url, script = server
    assert make_service(base_url).run(HANGUP, path_params={"thing_id": "thing_abc-1"}) == 200
    assert script.received[0][0] == "/things/thing_abc-1/hangup"


@pytest.mark.parametrize("bad", ["", "thing_../../x", "thing_a/b", "thing_a%2fb", "thing_a?x=1", "other_1", "thing_\n"])
def test_an_id_that_could_change_the_path_is_refused_before_sending(server: tuple[str, Script], bad: str) -> None:
    base_url, script = server
    with pytest.raises(RequestValidationError) as caught:
        make_service(base_url).run(HANGUP, path_params={"thing_id": bad})
    assert caught.value.fields == ["thing_id"]
    assert script.received == []


def test_a_missing_path_parameter_is_named(server: tuple[str, Script]) -> None:
    base_url, _ = server
    with pytest.raises(RequestValidationError) as caught:
        make_service(base_url).run(HANGUP)
    assert caught.value.fields == ["thing_id"]


def test_an_sdp_body_goes_byte_for_byte_and_the_answer_keeps_its_headers(server: tuple[str, Script]) -> None:
    base_url, script = server
    offer = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
    script.steps = [(201, {"Location": "/v1/things/thing_1", "x-request-id": "req_1"}, b"v=0\r\nanswer\r\n")]
    answer = make_service(base_url).run(CREATE, offer)
    assert answer == ("v=0\r\nanswer\r\n", "/v1/things/thing_1", "req_1")
    _path, headers, body = script.received[0]
    assert body == offer.encode()
    assert headers["content-type"] == "application/sdp"
    assert headers["accept"] == "application/sdp"
    assert headers["authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize("status", [429, 503])
def test_a_billable_create_is_retried_when_the_request_was_not_processed(
    server: tuple[str, Script], status: int
) -> None:
    base_url, script = server
    script.steps = [(status, {}, b"{}"), (201, {}, b"v=0\r\n")]
    assert make_service(base_url).run(CREATE, "v=0\r\n")[0] == "v=0\r\n"
    assert len(script.received) == 2


def test_a_billable_create_is_retried_when_the_server_says_x_should_retry(server: tuple[str, Script]) -> None:
    base_url, script = server
    script.steps = [(500, {"x-should-retry": "true"}, b"{}"), (201, {}, b"v=0\r\n")]
    make_service(base_url).run(CREATE, "v=0\r\n")
    assert len(script.received) == 2


@pytest.mark.parametrize("status", [500, 502, 504])
def test_a_billable_create_is_never_repeated_after_an_unknown_outcome(server: tuple[str, Script], status: int) -> None:
    base_url, script = server
    script.steps = [(status, {}, b"{}"), (201, {}, b"v=0\r\n")]
    with pytest.raises(InternalServerError):
        make_service(base_url).run(CREATE, "v=0\r\n")
    assert len(script.received) == 1


def test_a_billable_create_is_not_repeated_when_x_should_retry_says_false(server: tuple[str, Script]) -> None:
    base_url, script = server
    script.steps = [(429, {"x-should-retry": "false"}, b"{}")]
    with pytest.raises(RateLimitError):
        make_service(base_url).run(CREATE, "v=0\r\n")
    assert len(script.received) == 1


def test_a_billable_create_is_not_repeated_after_a_dropped_connection(server: tuple[str, Script]) -> None:
    base_url, script = server
    script.steps = ["drop", (201, {}, b"v=0\r\n")]
    with pytest.raises(APIConnectionError) as caught:
        make_service(base_url).run(CREATE, "v=0\r\n")
    assert caught.value.request_sent is True
    assert len(script.received) == 1


def test_a_billable_create_is_not_repeated_after_a_read_timeout(server: tuple[str, Script]) -> None:
    base_url, script = server
    script.steps = ["stall", (201, {}, b"v=0\r\n")]
    with pytest.raises(APITimeoutError):
        make_service(base_url, read_timeout=0.2).run(CREATE, "v=0\r\n")
    assert len(script.received) == 1


def test_a_refused_connection_is_marked_unsent_and_retried_even_for_a_billable_create() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    attempts: list[int] = []
    service = make_service(f"http://127.0.0.1:{port}", sleep=lambda _s: attempts.append(1))
    with pytest.raises(APIConnectionError) as caught:
        service.run(CREATE, "v=0\r\n")
    assert caught.value.request_sent is False
    assert len(attempts) == 2  # three attempts, two waits


def test_an_idempotent_operation_is_retried_after_an_unknown_outcome(server: tuple[str, Script]) -> None:
    base_url, script = server
    script.steps = [(502, {}, b"{}"), (200, {}, b"")]
    assert make_service(base_url).run(HANGUP, path_params={"thing_id": "thing_1"}) == 200
    assert len(script.received) == 2


def test_not_found_after_an_attempt_of_unknown_outcome_counts_as_done(server: tuple[str, Script]) -> None:
    base_url, script = server
    script.steps = ["drop", (404, {}, b'{"error": {"message": "no such thing"}}')]
    assert make_service(base_url).run(HANGUP, path_params={"thing_id": "thing_1"}) == 404
    assert len(script.received) == 2


def test_not_found_on_a_first_attempt_is_an_error(server: tuple[str, Script]) -> None:
    base_url, script = server
    script.steps = [(404, {}, b'{"error": {"message": "no such thing"}}')]
    with pytest.raises(NotFoundError):
        make_service(base_url).run(HANGUP, path_params={"thing_id": "thing_1"})


def test_the_async_twin_follows_the_same_rules(server: tuple[str, Script]) -> None:
    base_url, script = server
    script.steps = [(500, {}, b"{}")]
    with pytest.raises(InternalServerError):
        asyncio.run(make_service(base_url).arun(CREATE, "v=0\r\n"))
    assert len(script.received) == 1
    script.steps = ["drop", (404, {}, b"{}")]
    assert asyncio.run(make_service(base_url).arun(HANGUP, path_params={"thing_id": "thing_2"})) == 404


def test_an_operation_the_provider_has_no_path_for_is_a_configuration_error(server: tuple[str, Script]) -> None:
    from realtime_service.errors import ConfigurationError

    base_url, script = server
    with pytest.raises(ConfigurationError, match="no path"):
        make_service(base_url).run(Operation("missing", sdp_body, read_nothing), "v=0")
    assert script.received == []
