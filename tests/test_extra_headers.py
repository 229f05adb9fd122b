"""One meaning of a request's own headers (``extra_headers``) on both gateways, observed on the wire.

The same cases run against the ``requests`` gateway and the event-loop gateway over real loopback sockets: a
raw scripted server records each request's head byte for byte, so "the same headers" means the same lines in
the same order and spelling, not the same client-side state. What is refused is refused by both before a
connection is made, and the refusal never repeats the value (it may be a key). Then the service's own rule on
top: ``extra_headers`` may not set the operation's media types either.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("httptools")

from scripted_server import ScriptedServer, run

from realtime_service.config import load_settings
from realtime_service.emulator import Emulator
from realtime_service.errors import RequestValidationError
from realtime_service.service import RealtimeSessionService
from realtime_service.transport.aio import EventLoopGateway
from realtime_service.transport.gateway import USER_AGENT, HttpGateway
from realtime_service.transport.seam import HttpRequest

KEY = "sk-test-headers-0123456789abcdef"
BODY = b'{"voice":"marin"}'
TIMEOUT = (2.0, 2.0)
GATEWAYS = ["requests", "event-loop"]
#: A marker in every refused value: the refusal must not repeat it.
HIDDEN = "sk-hidden-value"


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    scripted = ScriptedServer()
    yield scripted
    scripted.close()


def send(kind: str, server: ScriptedServer, headers: dict[str, Any]) -> None:
    """One attempt through the gateway ``kind``, its connections closed afterwards."""
    settings = load_settings({"api_key": KEY, "base_url": server.base_url}, {})
    request = HttpRequest("POST", "/realtime/sessions", BODY, headers, TIMEOUT)
    if kind == "requests":
        threaded = HttpGateway(settings)
        try:
            threaded.send(request)
        finally:
            threaded.close()
    else:
        loop_gateway = EventLoopGateway(settings)
        try:
            run(loop_gateway, loop_gateway.asend(request))
        finally:
            loop_gateway.close()


def header_lines(raw: bytes) -> list[tuple[str, str]]:
    """The head's header lines as ``(name, value)``, exactly as written (Latin-1)."""
    head = raw.partition(b"\r\n\r\n")[0].decode("latin-1")
    _request_line, *lines = head.split("\r\n")
    return [(name, value) for name, _, value in (line.partition(": ") for line in lines)]


def fixed(**replaced: tuple[str, str]) -> list[tuple[str, str]]:
    """The fixed headers in their order; ``replaced`` maps a fixed name (``_`` for ``-``) to its new line."""
    lines = [
        ("Authorization", f"Bearer {KEY}"),
        ("Content-Type", "application/json"),
        ("Accept", "application/json"),
        ("Accept-Encoding", "gzip, deflate"),
        ("User-Agent", USER_AGENT),
        ("Connection", "keep-alive"),
    ]
    return [replaced.get(name.replace("-", "_"), (name, value)) for name, value in lines]


SENT = [
    pytest.param({"X-Trace": "t1"}, [*fixed(), ("X-Trace", "t1")], id="added-after-the-fixed-ones"),
    pytest.param({"X-B": "2", "x-a": "1"}, [*fixed(), ("X-B", "2"), ("x-a", "1")], id="several-in-order-as-spelled"),
    pytest.param(
        {"user-agent": "probe/1"},
        fixed(User_Agent=("user-agent", "probe/1")),
        id="replaces-in-place-whatever-the-case",
    ),
    pytest.param(
        {"Content-Type": "application/sdp", "ACCEPT": "*/*"},
        fixed(Content_Type=("Content-Type", "application/sdp"), Accept=("ACCEPT", "*/*")),
        id="media-types-replaced",
    ),
    pytest.param(
        {"X-Tab": "a\tb", "X-Latin": "caf\u00e9", "X-Empty": ""},
        [*fixed(), ("X-Tab", "a\tb"), ("X-Latin", "caf\u00e9"), ("X-Empty", "")],
        id="tab-latin-1-and-empty-values",
    ),
    pytest.param({"!#$%&'*+-.^_`|~09az": "x"}, [*fixed(), ("!#$%&'*+-.^_`|~09az", "x")], id="every-token-character"),
]


@pytest.mark.parametrize("kind", GATEWAYS)
@pytest.mark.parametrize(("headers", "expected"), SENT)
def test_a_requests_headers_reach_the_wire_the_same_from_either_gateway(
    server: ScriptedServer, kind: str, headers: dict[str, str], expected: list[tuple[str, str]]
) -> None:
    send(kind, server, headers)
    (raw,) = server.requests
    assert header_lines(raw) == [("Host", f"127.0.0.1:{server.port}"), *expected, ("Content-Length", str(len(BODY)))]


def test_both_gateways_write_the_same_head(server: ScriptedServer) -> None:
    """The whole head, request line included, byte for byte, for one request with a replaced and an added header."""
    headers = {"user-agent": "probe/1", "X-Trace": "t1", "Content-Type": "application/sdp"}
    for kind in GATEWAYS:
        send(kind, server, headers)
    threaded, on_the_loop = (raw.partition(b"\r\n\r\n")[0] for raw in server.requests)
    assert threaded == on_the_loop


REFUSED = [
    pytest.param({"X-Trace": f"{HIDDEN}\r\nX-Injected: 1"}, id="crlf-in-value"),
    pytest.param({"X-Trace": f"{HIDDEN}\nX-Injected: 1"}, id="lf-in-value"),
    pytest.param({"X-Trace": f"{HIDDEN}\rX-Injected: 1"}, id="cr-in-value"),
    pytest.param({"X-Trace": f"{HIDDEN}\r\n folded"}, id="obs-fold"),
    pytest.param({"X-Trace": f"{HIDDEN}\x00"}, id="nul"),
    pytest.param({"X-Trace": f"{HIDDEN}\x7f"}, id="del"),
    pytest.param({"X-Trace": f"{HIDDEN}\x85X-Injected: 1"}, id="nel"),
    pytest.param({"X-Trace": f"{HIDDEN}\x9b31m"}, id="c1-csi"),
    pytest.param({"X-Trace": f"{HIDDEN}\u2028X-Injected: 1"}, id="line-separator"),
    pytest.param({"X-Trace": f"{HIDDEN}\u2029"}, id="paragraph-separator"),
    pytest.param({"X-Trace": f"{HIDDEN}\u20ac"}, id="not-latin-1"),
    pytest.param({"X-Trace": 5, "X-Other": HIDDEN}, id="not-a-string"),
    pytest.param({f"X-Trace\r\nX-{HIDDEN}": "1"}, id="crlf-in-name"),
    pytest.param({"X Trace": HIDDEN}, id="space-in-name"),
    pytest.param({"X-Trace:": HIDDEN}, id="colon-in-name"),
    pytest.param({"X(Trace)": HIDDEN}, id="separator-in-name"),
    pytest.param({"X-Tr\u00e4ce": HIDDEN}, id="non-ascii-name"),
    pytest.param({"": HIDDEN}, id="empty-name"),
    pytest.param({"X-Trace": HIDDEN, "x-trace": HIDDEN}, id="one-name-twice-in-two-cases"),
    pytest.param({"host": HIDDEN}, id="host"),
    pytest.param({"Content-Length": "0", "X-Other": HIDDEN}, id="content-length"),
    pytest.param({"Transfer-Encoding": "chunked", "X-Other": HIDDEN}, id="transfer-encoding"),
    pytest.param({"Connection": "close", "X-Other": HIDDEN}, id="connection"),
    pytest.param({"Upgrade": "h2c", "X-Other": HIDDEN}, id="upgrade"),
    pytest.param({"Accept-Encoding": "br", "X-Other": HIDDEN}, id="accept-encoding"),
    pytest.param({"authorization": f"Bearer {HIDDEN}"}, id="authorization"),
    pytest.param({"api-key": HIDDEN}, id="api-key"),
]


@pytest.mark.parametrize("kind", GATEWAYS)
@pytest.mark.parametrize("headers", REFUSED)
def test_what_could_split_reframe_or_reroute_the_request_is_refused_by_both_before_connecting(
    server: ScriptedServer, kind: str, headers: dict[str, Any]
) -> None:
    with pytest.raises(ValueError, match=r"header|gateway") as caught:
        send(kind, server, headers)
    assert HIDDEN not in str(caught.value)
    assert server.accepted == 0
    assert server.requests == []


# -- through the service: extra_headers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        {"Content-Type": "text/plain"},
        {"accept": "text/html"},
        {"Content-Encoding": "gzip"},
        {"Authorization": f"Bearer {HIDDEN}"},
        {"X-Trace": f"{HIDDEN}\u0085"},
    ],
    ids=["content-type", "accept", "content-encoding", "authorization", "nel"],
)
def test_the_service_refuses_bad_extra_headers_naming_them_before_sending(
    emulator: Emulator, service: RealtimeSessionService, extra: dict[str, str]
) -> None:
    with pytest.raises(RequestValidationError) as caught:
        service.create_client_secret({"session": {"type": "realtime"}}, extra_headers=extra)
    assert caught.value.fields == ["extra_headers"]
    assert HIDDEN not in str(caught.value)
    assert emulator.requests == []


def test_extra_headers_ride_along_a_multipart_body_without_touching_its_media_type(
    emulator: Emulator, service: RealtimeSessionService
) -> None:
    offer = (Path(__file__).parent / "sdp" / "chromium_offer.sdp").read_bytes()
    service.create_call(offer, extra_headers={"x-trace": "t1"})
    (sent,) = emulator.requests
    assert sent.headers["x-trace"] == "t1"
    assert sent.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert sent.headers["accept"] == "application/sdp"
