"""The event-loop gateway against a hostile or broken upstream, and a careless caller, over real loopback
sockets: a scripted raw-socket server answers each request with whatever bytes a test wants, and counts the
connections it accepts, so reuse and "nothing was sent" are observed on the wire, not on the client's state."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import TypeVar

import pytest
from waiting import await_until

pytest.importorskip("httptools")

from scripted_server import OK, ScriptedServer, answer, hold, run, trickle

from realtime_service import APIConnectionError, APITimeoutError
from realtime_service.config import load_settings
from realtime_service.transport.aio import MAX_HEAD_BYTES, EventLoopGateway
from realtime_service.transport.seam import HttpRequest, HttpResponse

KEY = "sk-test-hostile-0123456789abcdef"
BODY = b'{"voice":"marin"}'
SESSIONS = "/realtime/sessions"
TIMEOUT = (1.0, 0.3)
T = TypeVar("T")


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    scripted = ScriptedServer()
    yield scripted
    scripted.close()


def gateway_for(server: ScriptedServer, **config: object) -> EventLoopGateway:
    return EventLoopGateway(load_settings({"api_key": KEY, "base_url": server.base_url, **config}, {}))


def request(
    path: str = SESSIONS,
    *,
    headers: dict[str, str] | None = None,
    timeout: tuple[float, float] = TIMEOUT,
    budget: float | None = None,
) -> HttpRequest:
    return HttpRequest("POST", path, BODY, headers or {}, timeout, budget)


def asend(gateway: EventLoopGateway, attempt: HttpRequest | None = None) -> HttpResponse:
    return run(gateway, gateway.asend(attempt or request()))


async def twice(gateway: EventLoopGateway, settle: bool = False) -> tuple[HttpResponse | Exception, HttpResponse]:
    """Two attempts in a row on one loop (the first may fail): whether the second reuses the connection.
    ``settle``: between them, wait until the gateway has seen its first connection closed (by the server, or by
    itself on bytes nobody asked for)."""
    first: HttpResponse | Exception
    try:
        first = await gateway.asend(request())
    except APIConnectionError as exc:
        first = exc
    if settle:
        await await_until(
            lambda: not any(pool.open_connections for pool in gateway._pools.values()),
            what="the gateway to see the first connection closed",
        )
    return first, await gateway.asend(request())


# -- what is sent ------------------------------------------------------------------------------------------------


def test_the_request_on_the_wire_is_byte_exact(server: ScriptedServer) -> None:
    """The request line, one Host naming the origin, an honest Content-Length, and a caller's header replacing a
    fixed one of the same name in another case rather than doubling it."""
    asend(gateway_for(server), request(headers={"user-agent": "hostile/1"}))
    (raw,) = server.requests
    head, _, body = raw.partition(b"\r\n\r\n")
    line, *fields = head.decode("latin-1").split("\r\n")
    assert line == "POST /v1/realtime/sessions HTTP/1.1"
    names = [name.lower() for name, _, _ in (field.partition(":") for field in fields)]
    values = {name.lower(): value.strip() for name, _, value in (field.partition(":") for field in fields)}
    assert names.count("host") == 1
    assert values["host"] == f"127.0.0.1:{server.port}"
    assert names.count("content-length") == 1
    assert values["content-length"] == str(len(BODY))
    assert names.count("user-agent") == 1
    assert values["user-agent"] == "hostile/1"
    assert body == BODY


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Trace": "t1\r\nX-Injected: 1"},
        {"X-Trace": "t1\nX-Injected: 1"},
        {"X-Trace\r\nX-Injected": "1"},
        {"host": "evil.example"},
        {"Content-Length": "0"},
        {"Transfer-Encoding": "chunked"},
    ],
    ids=["crlf-in-value", "lf-in-value", "crlf-in-name", "second-host", "second-length", "chunked-too"],
)
def test_a_header_that_would_split_the_head_is_refused_before_anything_is_sent(
    server: ScriptedServer, headers: dict[str, str]
) -> None:
    """A caller's header must never become two headers (or a second request) on the wire, nor a second Host or
    length that another hop would read differently; the value may be a secret, so the error does not echo it."""
    with pytest.raises(ValueError) as caught:
        asend(gateway_for(server), request(headers=headers))
    for value in headers.values():
        assert value not in str(caught.value)
    assert server.accepted == 0
    assert server.requests == []


@pytest.mark.parametrize(
    "path",
    ["/realtime/sessions x", "/realtime/sessions\r\nX-Injected: 1", "/realtime/séssions", "/realtime/sessions\tx"],
    ids=["space", "crlf", "non-ascii", "tab"],
)
def test_a_path_that_would_break_the_request_line_is_refused_before_anything_is_sent(
    server: ScriptedServer, path: str
) -> None:
    """Whitespace or non-ASCII in the target would let a lenient server read another method, target or version."""
    with pytest.raises(ValueError):
        asend(gateway_for(server), request(path))
    assert server.accepted == 0


# -- what comes back ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "garbage",
    [b"NOT HTTP\r\n\r\n", b"HTTP/1.1 abc OK\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\n"],
    ids=["not-http", "bad-status", "bad-length"],
)
def test_garbage_instead_of_http_is_a_connection_error_of_a_sent_request(
    server: ScriptedServer, garbage: bytes
) -> None:
    """The server read the request, so it may have acted on it; the parser's traceback and the key stay out."""
    server.script(answer(garbage))
    with pytest.raises(APIConnectionError) as caught:
        asend(gateway_for(server))
    error = caught.value
    assert not isinstance(error, APITimeoutError)
    assert error.request_sent is True
    assert str(error).startswith("Connection error:")
    assert error.__cause__ is None
    assert error.__suppress_context__ is True
    assert all(KEY not in text for text in (str(error), repr(error), error.message, *map(str, error.args)))


def test_a_chunked_body_is_assembled_and_one_past_the_cap_is_refused_and_its_connection_dropped(
    server: ScriptedServer,
) -> None:
    """Chunked framing counts against max_response_bytes like any body; a refused answer's connection holds
    unread or unwanted bytes and must not serve the next attempt."""
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    server.script(
        answer(chunked + b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
        answer(chunked + b"8\r\naaaaaaaa\r\n8\r\nbbbbbbbb\r\n8\r\ncccccccc\r\n0\r\n\r\n"),
    )
    gateway = gateway_for(server, max_response_bytes=16)

    async def three() -> tuple[bytes, Exception, int, HttpResponse]:
        whole = (await gateway.asend(request())).content
        with pytest.raises(APIConnectionError) as caught:
            await gateway.asend(request())
        accepted = server.accepted
        return whole, caught.value, accepted, await gateway.asend(request())

    whole, refused, accepted, after = run(gateway, three())
    assert whole == b"hello world"
    assert "max_response_bytes (16)" in str(refused)
    assert accepted == 1  # the first, good answer's connection was reused for the second attempt
    assert after.status_code == 200
    assert server.accepted == 2


def test_a_close_delimited_body_comes_back_whole_and_its_connection_is_not_reused(server: ScriptedServer) -> None:
    """Without Content-Length or chunking the server's close ends the body: all of it, and that connection is gone."""
    body = bytes(range(256)) * 800
    server.script(answer(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n" + body, close=True))
    first, second = run(gateway := gateway_for(server), twice(gateway))
    assert isinstance(first, HttpResponse)
    assert first.content == body
    assert second.status_code == 200
    assert server.accepted == 2


def test_connection_close_in_the_answer_is_honoured(server: ScriptedServer) -> None:
    """The server said it will close: the next attempt must not be written into that connection."""
    server.script(answer(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}"))
    first, second = run(gateway := gateway_for(server), twice(gateway))
    assert isinstance(first, HttpResponse)
    assert first.status_code == second.status_code == 200
    assert server.accepted == 2


def test_an_idle_connection_the_server_closed_is_not_handed_out(server: ScriptedServer) -> None:
    """A keep-alive server may close an idle connection at any time; the next attempt takes a new one instead of
    failing with a "sent" disconnect."""
    server.script(answer(OK, close=True))
    first, second = run(gateway := gateway_for(server), twice(gateway, settle=True))
    assert isinstance(first, HttpResponse)
    assert second.status_code == 200
    assert server.accepted == 2
    assert len(server.requests) == 2


@pytest.mark.parametrize("together", [True, False], ids=["same-segment", "later-segment"])
def test_bytes_after_a_complete_answer_are_not_taken_as_part_of_it_or_of_the_next(
    server: ScriptedServer, together: bool
) -> None:
    """An unsolicited second response must neither change the first answer nor be read as the next attempt's."""
    extra = b"HTTP/1.1 201 Created\r\nX-Evil: 1\r\nContent-Length: 4\r\n\r\nevil"
    first_answer = b"HTTP/1.1 200 OK\r\nX-Good: 1\r\nContent-Length: 5\r\n\r\nfirst"
    server.script(answer(first_answer + extra) if together else answer(first_answer, then=extra))
    first, second = run(gateway := gateway_for(server), twice(gateway, settle=True))
    assert isinstance(first, HttpResponse)
    assert first.status_code == 200
    assert first.content == b"first"
    assert "x-evil" not in first.headers
    assert first.headers["content-length"] == "5"
    assert second.status_code == 200
    assert second.content == b"{}"
    assert server.accepted == 2


@pytest.mark.parametrize("together", [True, False], ids=["same-segment", "later-segment"])
def test_an_interim_100_continue_is_skipped_for_the_final_answer(server: ScriptedServer, together: bool) -> None:
    """1xx answers are not the answer; their headers do not leak into the final one."""
    interim = b"HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n"
    final = b"HTTP/1.1 200 OK\r\nX-Final: yes\r\nContent-Length: 5\r\n\r\nfinal"
    server.script(answer(interim + final) if together else answer(interim, then=final))
    response = asend(gateway_for(server))
    assert response.status_code == 200
    assert response.content == b"final"
    assert response.headers["x-final"] == "yes"
    assert "x-interim" not in response.headers


def test_repeated_response_headers_are_joined_under_the_lower_case_name(server: ScriptedServer) -> None:
    """As requests/urllib3 do, so both gateways give a caller the same mapping."""
    server.script(
        answer(
            b"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nX-Test: 1\r\n"
            b"Set-Cookie: b=2\r\nx-test: 2\r\nContent-Length: 0\r\n\r\n"
        )
    )
    headers = asend(gateway_for(server)).headers
    assert headers["set-cookie"] == "a=1, b=2"
    assert headers["x-test"] == "1, 2"
    assert all(name == name.lower() for name in headers)


def test_a_declared_length_past_the_cap_is_refused_before_the_body_is_read(server: ScriptedServer) -> None:
    """The head alone says the body is too large: refusing then, not after reading (or waiting for) it."""
    ended = threading.Event()
    server.script(hold(b"HTTP/1.1 200 OK\r\nContent-Length: 10000000000\r\n\r\n", ended))
    with pytest.raises(APIConnectionError) as caught:
        asend(gateway_for(server, max_response_bytes=1024), request(timeout=(1.0, 1.5)))
    assert not isinstance(caught.value, APITimeoutError)  # refused at the head, not timed out on the body
    assert "max_response_bytes (1024)" in str(caught.value)
    assert ended.wait(1)  # and the connection was closed


def test_a_head_that_never_ends_is_bounded_by_the_budget(server: ScriptedServer) -> None:
    """Each header line arrives well within the read timeout, so only the attempt's budget can end it."""
    server.script(trickle(b"HTTP/1.1 200 OK\r\n", b"X-Slow: 1\r\n", every=0.03))
    with pytest.raises(APITimeoutError) as caught:
        asend(gateway_for(server), request(budget=0.4))
    assert "total_timeout reached" in str(caught.value)
    assert caught.value.request_sent is True


@pytest.mark.parametrize(
    "piece", [b"X-Flood: " + b"a" * 4000 + b"\r\n", b"a" * 4096], ids=["many-headers", "one-header"]
)
def test_a_head_flooded_past_its_cap_is_refused_fast(server: ScriptedServer, piece: bytes) -> None:
    """A head that grows without end (many headers, or one endless value the parser would buffer) is refused once
    it passes MAX_HEAD_BYTES, long before the budget: memory stays bounded whatever the upstream sends."""
    head = b"HTTP/1.1 200 OK\r\n" + (b"" if piece.startswith(b"X-") else b"X-Endless: ")
    server.script(trickle(head, piece, every=0.0005))
    with pytest.raises(APIConnectionError, match=f"^Response head exceeds {MAX_HEAD_BYTES} bytes$") as caught:
        asend(gateway_for(server), request(budget=4))
    assert not isinstance(caught.value, APITimeoutError)
    assert caught.value.request_sent is True


# -- the pool ----------------------------------------------------------------------------------------------------


def test_one_slot_serves_five_concurrent_attempts_over_one_connection(server: ScriptedServer) -> None:
    """pool.maxsize bounds the connections: later attempts wait for the slot and reuse its connection."""
    gateway = gateway_for(server, pool={"maxsize": 1})

    async def five() -> list[HttpResponse]:
        return list(await asyncio.gather(*(gateway.asend(request()) for _ in range(5))))

    responses = run(gateway, five())
    assert [response.status_code for response in responses] == [200] * 5
    assert server.accepted == 1
    assert len(server.requests) == 5


def test_an_attempt_whose_budget_runs_out_waiting_for_the_slot_was_never_sent(server: ScriptedServer) -> None:
    """Waiting for a pool slot is not sending: the caller may safely retry even a billable request."""
    server.script(answer(OK, delay=0.5))
    gateway = gateway_for(server, pool={"maxsize": 1})

    async def both() -> list[HttpResponse | BaseException]:
        slow = asyncio.ensure_future(gateway.asend(request(timeout=(1.0, 1.0))))
        await await_until(lambda: server.requests, what="the slow one to hold the slot (its request sent)")
        waiting = gateway.asend(request(budget=0.1))
        return list(await asyncio.gather(slow, waiting, return_exceptions=True))

    slow, waiting = run(gateway, both())
    assert isinstance(slow, HttpResponse)
    assert slow.status_code == 200
    assert isinstance(waiting, APITimeoutError)
    assert waiting.request_sent is False
    assert "total_timeout reached" in str(waiting)
    assert len(server.requests) == 1
    assert server.accepted == 1


def test_a_cancelled_attempt_closes_its_connection_and_it_is_not_reused(server: ScriptedServer) -> None:
    """Cancelled mid-answer, the connection may still get that answer: it must be closed, never pooled."""
    ended = threading.Event()
    server.script(hold(ended=ended))
    gateway = gateway_for(server)

    async def cancelled_then_one() -> HttpResponse:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(gateway.asend(request(timeout=(1.0, 1.5))), 0.1)
        return await gateway.asend(request())

    assert run(gateway, cancelled_then_one()).status_code == 200
    assert ended.wait(1)
    assert server.accepted == 2
