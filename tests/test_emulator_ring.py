"""The emulator rings a real loopback webhook app: signatures, redelivery, decisions, time-outs, masking, the CLI.

The app below is a plain ``http.server`` on loopback that verifies each delivery with ``standardwebhooks`` (and,
when installed, the official SDK's ``client.webhooks.unwrap``), then decides through the emulator's routes
with ``requests``, as a host app would.
"""

from __future__ import annotations

import base64
import http.server
import importlib.util
import json
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from standardwebhooks import Webhook

from realtime_service.cli import main as cli_main
from realtime_service.emulator import Emulator
from realtime_service.emulator.ring import WebhookRefused, check_loopback, new_webhook_secret

SECRET = "whsec_" + base64.b64encode(b"emulator-ring-test-secret-32byte").decode()
SESSION = {"type": "realtime", "model": "gpt-realtime"}


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes
    event: dict[str, Any]


@dataclass
class App:
    """What the webhook app does with each delivery: a status to answer, and a decision to make (or none)."""

    emulator_url: str = ""
    api_key: str = ""
    statuses: list[int] = field(default_factory=list)  # answered in order; 200 after the list runs out
    decide: Callable[[App, dict[str, Any]], None] | None = None
    deliveries: list[Delivery] = field(default_factory=list)
    decisions: list[requests.Response] = field(default_factory=list)

    def post(self, path: str, body: Any = None) -> None:
        headers = {"authorization": f"Bearer {self.api_key}"}
        with requests.Session() as session:
            session.trust_env = False  # the proxy test sets http_proxy for the ring, not for the app
            self.decisions.append(session.post(self.emulator_url + path, json=body, headers=headers, timeout=10))


def _handler(app: App) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            headers = {name.lower(): value for name, value in self.headers.items()}
            event = Webhook(SECRET).verify(body, headers)  # raises on a bad signature
            app.deliveries.append(Delivery(headers, body, event))
            status = app.statuses[len(app.deliveries) - 1] if len(app.deliveries) <= len(app.statuses) else 200
            if status == 200 and app.decide is not None:
                app.decide(app, event)
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    return Handler


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


@pytest.fixture
def app(emu: Emulator) -> Iterator[tuple[App, str]]:
    state = App(emulator_url=emu.base_url, api_key=emu.api_key)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/webhooks/openai"
    finally:
        server.shutdown()
        server.server_close()


def _call_id(event: dict[str, Any]) -> str:
    data = event["data"]
    return str(data.get("call_id") or data["session_id"])


def accept(app: App, event: dict[str, Any]) -> None:
    app.post(f"/realtime/calls/{_call_id(event)}/accept", SESSION)


def test_ring_posts_a_signed_realtime_call_incoming_and_the_app_accepts(emu: Emulator, app: tuple[App, str]) -> None:
    state, url = app
    state.decide = accept
    headers = [("From", "<sip:+14155550100@pstn.example>"), ("Diversion", "a"), ("Diversion", "b")]
    record = emu.ring(url, headers, secret=SECRET)
    assert record.state == "accepted"
    assert record.session == SESSION
    assert (record.webhook_deliveries, record.webhook_statuses) == (1, (200,))
    assert [response.status_code for response in state.decisions] == [200]
    [delivery] = state.deliveries
    event = delivery.event
    assert event["type"] == "realtime.call.incoming"
    assert event["object"] == "event"
    assert event["id"].startswith("evt_")
    assert event["data"]["call_id"] == record.id
    assert event["data"]["sip_headers"] == [{"name": n, "value": v} for n, v in headers]  # order and duplicates
    assert event["data"]["sip_media_security"] == "srtp"
    assert delivery.headers["content-type"] == "application/json"
    assert delivery.headers["webhook-id"].startswith("wh_")
    assert delivery.headers["user-agent"].startswith("OpenAI/1.0")
    assert emu.calls.get(record.id) == record


def test_a_live_ring_is_live_transport_incoming_decided_through_the_live_routes(
    emu: Emulator, app: tuple[App, str]
) -> None:
    state, url = app

    def accept_live(app: App, event: dict[str, Any]) -> None:
        app.post(
            f"/live/sessions/{event['data']['session_id']}/accept", {"session": {"type": "live", "model": "gpt-live-1"}}
        )

    state.decide = accept_live
    record = emu.ring(url, {"From": "sip:+14155550100@x"}, secret=SECRET, api="live")
    assert (record.api, record.state) == ("live", "accepted")
    data = state.deliveries[0].event["data"]
    assert state.deliveries[0].event["type"] == "live.transport.incoming"
    assert (data["type"], data["session_id"]) == ("sip", record.id)
    assert record.id.startswith("live_")


@pytest.mark.parametrize(
    ("path", "body", "final"),
    [
        ("reject", {"status_code": 486}, "rejected"),
        ("refer", {"target_uri": "tel:+14155550123"}, "referred"),
        ("hangup", None, "hung_up"),
    ],
)
def test_each_decision_ends_the_ring_in_its_state(
    emu: Emulator, app: tuple[App, str], path: str, body: Any, final: str
) -> None:
    state, url = app
    state.decide = lambda app, event: app.post(f"/realtime/calls/{_call_id(event)}/{path}", body)
    record = emu.ring(url, secret=SECRET)
    assert record.state == final
    assert record.decisions[-1].action == path
    assert record.decisions[-1].body == body


def test_nobody_deciding_is_timed_out_and_later_decisions_are_refused(emu: Emulator, app: tuple[App, str]) -> None:
    _, url = app
    record = emu.ring(url, secret=SECRET, decide_within=0.3)
    assert record.state == "timed_out"
    assert record.states == ("pending", "timed_out")
    headers = {"authorization": f"Bearer {emu.api_key}"}
    late = requests.post(f"{emu.base_url}/realtime/calls/{record.id}/accept", json=SESSION, headers=headers, timeout=10)
    assert late.status_code == 400
    assert late.json()["error"]["code"] == "invalid_call_state"


def test_a_non_2xx_is_redelivered_with_the_same_webhook_id_and_a_fresh_signature(
    emu: Emulator, app: tuple[App, str]
) -> None:
    state, url = app
    state.statuses = [500, 503]
    state.decide = accept
    record = emu.ring(url, secret=SECRET, first_retry_after=0.05)
    assert record.state == "accepted"
    assert record.webhook_statuses == (500, 503, 200)
    assert len({delivery.headers["webhook-id"] for delivery in state.deliveries}) == 1
    assert len({delivery.body for delivery in state.deliveries}) == 1  # the same event each time
    assert len(state.decisions) == 1


def test_redelivery_is_bounded(emu: Emulator, app: tuple[App, str]) -> None:
    state, url = app
    state.statuses = [503] * 10
    record = emu.ring(url, secret=SECRET, max_deliveries=3, first_retry_after=0.01, decide_within=0.2)
    assert record.webhook_statuses == (503, 503, 503)
    assert len(state.deliveries) == 3
    assert record.state == "timed_out"


def test_an_unreachable_app_counts_as_failed_deliveries(emu: Emulator) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    record = emu.ring(
        f"http://127.0.0.1:{port}/hook", secret=SECRET, max_deliveries=2, first_retry_after=0.01, decide_within=0.1
    )
    assert record.webhook_statuses == (None, None)
    assert record.state == "timed_out"


@pytest.mark.parametrize(
    "url", ["http://example.com/hook", "http://10.0.0.1/hook", "ftp://127.0.0.1/hook", "http:///nohost"]
)
def test_only_loopback_urls_are_rung(emu: Emulator, url: str) -> None:
    with pytest.raises(ValueError, match=r"loopback|host"):
        emu.ring(url, secret=SECRET)
    assert emu.calls.all() == []


def test_a_secret_is_required_and_a_stopped_emulator_cannot_ring(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_WEBHOOK_SECRET", raising=False)
    with Emulator() as emu, pytest.raises(ValueError, match="secret"):
        emu.ring("http://127.0.0.1:9/hook")
    with pytest.raises(RuntimeError, match="start the emulator"):
        Emulator().ring("http://127.0.0.1:9/hook", secret=SECRET)


def test_the_secret_can_come_from_the_environment(
    emu: Emulator, app: tuple[App, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    state, url = app
    state.decide = accept
    monkeypatch.setenv("OPENAI_WEBHOOK_SECRET", SECRET)
    assert emu.ring(url).state == "accepted"


def test_a_wrong_secret_fails_verification_at_the_app(emu: Emulator, app: tuple[App, str]) -> None:
    state, url = app
    record = emu.ring(url, secret=new_webhook_secret(), max_deliveries=2, first_retry_after=0.01, decide_within=0.1)
    assert state.deliveries == []  # the app's verify raised; http.server answered without recording
    assert record.state == "timed_out"
    assert all(status != 200 for status in record.webhook_statuses)


def test_the_official_sdk_unwraps_what_the_emulator_signs(emu: Emulator, app: tuple[App, str]) -> None:
    if importlib.util.find_spec("openai") is None:
        pytest.skip("SDK CROSS-CHECK SKIPPED: the openai package is not installed (pip install -e '.[bench]')")
    import openai

    client = openai.OpenAI(api_key=emu.api_key, base_url=emu.base_url, webhook_secret=SECRET, max_retries=0)
    if not hasattr(client, "webhooks"):
        pytest.skip(f"SDK CROSS-CHECK SKIPPED: openai {openai.__version__} has no client.webhooks")
    state, url = app
    unwrapped: list[Any] = []

    def unwrap_then_accept(app: App, event: dict[str, Any]) -> None:
        delivery = app.deliveries[-1]
        unwrapped.append(client.webhooks.unwrap(delivery.body.decode(), delivery.headers))
        client.realtime.calls.accept(_call_id(event), **SESSION)

    state.decide = unwrap_then_accept
    record = emu.ring(url, [("From", "sip:+14155550100@x"), ("To", "sip:+14155550199@y")], secret=SECRET)
    assert record.state == "accepted"
    [event] = unwrapped
    assert event.type == "realtime.call.incoming"
    assert event.data.call_id == record.id
    assert [(h.name, h.value) for h in event.data.sip_headers] == [
        ("From", "sip:+14155550100@x"),
        ("To", "sip:+14155550199@y"),
    ]
    tampered = state.deliveries[0].body.replace(b"realtime.call.incoming", b"realtime.call.incomin9")
    with pytest.raises(openai.InvalidWebhookSignatureError):
        client.webhooks.unwrap(tampered.decode(), state.deliveries[0].headers)


def test_logs_mask_numbers_and_never_hold_the_secret(
    emu: Emulator, app: tuple[App, str], caplog: pytest.LogCaptureFixture
) -> None:
    state, url = app
    state.decide = accept
    caplog.set_level(logging.DEBUG, logger="realtime_service")
    emu.ring(url, {"From": '"+14155550100" <sip:+14155550100@pstn.example>'}, secret=SECRET)
    text = caplog.text
    assert "+1415*******" in text
    assert "+14155550100" not in text
    assert SECRET not in text
    assert SECRET.removeprefix("whsec_") not in text


def test_the_testing_kit_rings_a_host_app_and_returns_the_final_state(
    realtime_emulator: Emulator, realtime_ring: Callable[..., Any]
) -> None:
    state = App(emulator_url=realtime_emulator.base_url, api_key=realtime_emulator.api_key, decide=accept)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        record = realtime_ring(f"http://127.0.0.1:{server.server_address[1]}/hook", secret=SECRET)
    finally:
        server.shutdown()
        server.server_close()
    assert record.state == "accepted"
    assert realtime_emulator.calls.get(record.id) == record


# the CLI


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_cli_rings_prints_the_outcome_masked_and_never_the_secret(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, key = _free_port(), "sk-emulator-cli-test"
    state = App(emulator_url=f"http://127.0.0.1:{port}/v1", api_key=key, decide=accept)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    monkeypatch.setenv("OPENAI_WEBHOOK_SECRET", SECRET)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        code = cli_main(
            [
                "emulator",
                "ring",
                url,
                "--from",
                "+14155550100",
                "--to",
                "+14155550199",
                "--port",
                str(port),
                "--api-key",
                key,
            ]
        )
    finally:
        server.shutdown()
        server.server_close()
    out = capsys.readouterr()
    assert code == 0
    assert ": accepted" in out.out
    assert "+1415*******" in out.out
    assert "+14155550100" not in out.out + out.err
    assert "+14155550199" not in out.out + out.err
    assert SECRET not in out.out + out.err
    event = state.deliveries[0].event
    assert any("+14155550100" in header["value"] for header in event["data"]["sip_headers"])


def test_the_cli_times_out_with_exit_1_and_needs_a_secret(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_WEBHOOK_SECRET", raising=False)
    assert cli_main(["emulator", "ring", "http://127.0.0.1:9/hook"]) == 2
    assert "secret" in capsys.readouterr().err
    port = _free_port()
    code = cli_main(
        [
            "emulator",
            "ring",
            f"http://127.0.0.1:{port}/hook",
            "--secret",
            SECRET,
            "--timeout",
            "0.2",
            "--deliveries",
            "1",
        ]
    )
    out = capsys.readouterr()
    assert code == 1
    assert "timed_out" in out.out
    assert SECRET not in out.out + out.err
    assert json.dumps(SECRET) not in out.out


@pytest.mark.parametrize(
    ("caller", "callee"),
    [("+1 (415) 555-0142", "+1-415-555-0199"), ("+1234567890123456", "+12345678901234567890")],
    ids=["separators", "16-and-20-digits"],
)
def test_the_cli_masks_numbers_written_with_separators_and_long_ones(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, caller: str, callee: str
) -> None:
    port = _free_port()  # nothing listens: the ring times out, what matters is what is printed
    monkeypatch.setenv("OPENAI_WEBHOOK_SECRET", SECRET)
    url = f"http://127.0.0.1:{port}/hook"
    args = ["emulator", "ring", url, "--from", caller, "--to", callee, "--timeout", "0.1", "--deliveries", "1"]
    assert cli_main(args) == 1
    out = capsys.readouterr()
    printed = out.out + out.err
    for number in (caller, callee):
        digits = "".join(ch for ch in number if ch.isdigit())
        shown = "".join(ch for ch in printed if ch.isdigit())
        assert digits[-4:] not in printed
        for start in range(len(digits) - 4):
            assert digits[start : start + 5] not in shown.replace(str(port), ""), (number, printed)


# -- loopback only: one parse, the address connected to, no redirect, no proxy ---------------------------------


class Backlog:
    """A listening socket nobody accepts on: a connection made to it waits in the kernel's backlog, so
    :meth:`received` tells, without waiting, whether anything connected (the handshake completes on connect)."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.sock.bind((host, 0))
        self.sock.listen(8)
        self.sock.setblocking(False)
        self.port = int(self.sock.getsockname()[1])

    def received(self) -> bool:
        try:
            connection, _ = self.sock.accept()
        except BlockingIOError:
            return False
        connection.close()
        return True

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def backlog() -> Iterator[Backlog]:
    listener = Backlog()
    yield listener
    listener.close()


def _redirecting(location: str) -> http.server.ThreadingHTTPServer:
    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["content-length"]))
            self.send_response(302)
            self.send_header("location", location)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


@pytest.mark.parametrize("other_host", ["127.0.0.2", "127.0.0.1"], ids=["other-loopback-host", "other-port"])
def test_a_redirect_is_not_followed_and_is_final(emu: Emulator, other_host: str) -> None:
    target = Backlog(other_host)
    server = _redirecting(f"http://{other_host}:{target.port}/stolen")
    try:
        with pytest.raises(WebhookRefused) as caught:
            emu.ring(f"http://127.0.0.1:{server.server_address[1]}/hook", secret=SECRET, decide_within=60)
        assert caught.value.status == 302
        assert caught.value.record.webhook_statuses == (302,)  # delivered once: a redirect is not retried
        assert caught.value.record.state == "timed_out"
        assert not target.received()
    finally:
        server.shutdown()
        server.server_close()
        target.close()


def test_proxies_from_the_environment_are_not_used(
    emu: Emulator, app: tuple[App, str], backlog: Backlog, monkeypatch: pytest.MonkeyPatch
) -> None:
    state, url = app
    state.decide = accept
    proxy = f"http://127.0.0.1:{backlog.port}"
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, proxy)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    assert emu.ring(url, secret=SECRET).state == "accepted"
    assert len(state.deliveries) == 1
    assert not backlog.received()


@pytest.mark.parametrize(
    "form",
    [
        "http://evil.example\\@127.0.0.1:{port}/hook",
        "http://evil.example@127.0.0.1:{port}/hook",
        "http://127.0.0.1:{port}@evil.example/hook",
        "http://user:pw@127.0.0.1:{port}/hook",
        "http://127.0.0.1:{port}\\@evil.example/hook",
        "http://%31%32%37.0.0.1:{port}/hook",
        "http://127.0.0.1%2f@evil.example:{port}/hook",
        "http://2130706433:{port}/hook",
        "http://0177.0.0.1:{port}/hook",
        "http://0x7f.0.0.1:{port}/hook",
        "http://127.1:{port}/hook",
        "http://[::1%25lo]:{port}/hook",
        "http://[::ffff:127.0.0.1]:{port}/hook",
        "http://localhost.:{port}/hook",
        "http://127.0.0.1.nip.io:{port}/hook",
        "http://127.0.0.1 .evil.example:{port}/hook",
        "http://127.0.0.1\t:{port}/hook",
        "http://127.0.0.1:{port}/ho\nok",
        "http://\u24dbocalhost:{port}/hook",
        "http://127.0.0.1:99999/hook",
        "http://[::1/hook",
    ],
)
def test_url_forms_parsers_disagree_on_are_refused_before_any_connection(
    emu: Emulator, backlog: Backlog, form: str
) -> None:
    url = form.format(port=backlog.port)
    with pytest.raises(ValueError, match=r"loopback|host|port|plainly|URL"):
        emu.ring(url, secret=SECRET)
    assert emu.calls.all() == []
    assert not backlog.received()


@pytest.mark.parametrize(
    ("url", "address", "host"),
    [
        ("http://localhost:8000/hook?x=1", "127.0.0.1", "localhost:8000"),
        ("http://LOCALHOST:8000/hook", "127.0.0.1", "LOCALHOST:8000"),
        ("http://127.0.0.2:8000", "127.0.0.2", "127.0.0.2:8000"),
        ("http://127.255.255.254/hook", "127.255.255.254", "127.255.255.254"),
        ("http://[::1]:8000/hook", "::1", "[::1]:8000"),
        ("http://[0:0:0:0:0:0:0:1]:8000/hook", "::1", "[0:0:0:0:0:0:0:1]:8000"),
        ("https://127.0.0.1/hook#frag@evil.example", "127.0.0.1", "127.0.0.1"),
    ],
)
def test_the_parsed_address_is_the_one_connected_to(url: str, address: str, host: str) -> None:
    target = check_loopback(url)
    assert (target.address, target.host) == (address, host)
    assert target.path.startswith("/")
    assert "evil" not in target.path


def test_an_ipv6_loopback_url_reaches_an_app_on_ipv6(emu: Emulator) -> None:
    if not socket.has_ipv6:
        pytest.skip("IPv6 ring UNTESTED: no IPv6 on this machine")
    state = App(emulator_url=emu.base_url, api_key=emu.api_key, decide=accept)

    class Server6(http.server.ThreadingHTTPServer):
        address_family = socket.AF_INET6

    try:
        server = Server6(("::1", 0), _handler(state))
    except OSError:
        pytest.skip("IPv6 ring UNTESTED: ::1 cannot be bound here")
    other = Backlog()  # the same port on IPv4 must not be what answers
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        assert emu.ring(f"http://[::1]:{server.server_address[1]}/hook", secret=SECRET).state == "accepted"
        assert len(state.deliveries) == 1
        assert not other.received()
    finally:
        server.shutdown()
        server.server_close()
        other.close()


# -- an answer no redelivery can change ends the ring at once ---------------------------------------------------


def _answering(status: int, body: bytes) -> http.server.ThreadingHTTPServer:
    seen: list[int] = []

    class Refuse(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["content-length"]))
            seen.append(status)
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    server.seen = seen  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (400, b'{"error": {"code": "invalid_webhook", "param": "bad_signature"}}', "bad_signature"),
        (404, b'{"error": {"code": "not_found"}}', "not_found"),
        (401, b"<html>no</html>", None),
        (400, b'{"error": {"code": "invalid_webhook", "param": "+14155550100 <script>"}}', None),
    ],
)
def test_a_final_refusal_stops_the_ring_after_one_delivery(
    emu: Emulator, status: int, body: bytes, reason: str | None
) -> None:
    server = _answering(status, body)
    try:
        with pytest.raises(WebhookRefused) as caught:
            emu.ring(f"http://127.0.0.1:{server.server_address[1]}/hook", secret=SECRET, decide_within=60)
    finally:
        server.shutdown()
        server.server_close()
    assert server.seen == [status]  # type: ignore[attr-defined]
    assert (caught.value.status, caught.value.reason) == (status, reason)
    assert caught.value.record.webhook_statuses == (status,)
    assert "+14155550100" not in str(caught.value)


@pytest.mark.parametrize("status", [408, 409, 425, 429, 500, 503])
def test_answers_a_redelivery_may_change_are_retried(emu: Emulator, status: int) -> None:
    server = _answering(status, b"{}")
    try:
        record = emu.ring(
            f"http://127.0.0.1:{server.server_address[1]}/hook",
            secret=SECRET,
            max_deliveries=2,
            first_retry_after=0.01,
            decide_within=0.1,
        )
    finally:
        server.shutdown()
        server.server_close()
    assert record.webhook_statuses == (status, status)
    assert record.state == "timed_out"


def test_a_secret_without_the_prefix_is_signed_for_both_readings(emu: Emulator) -> None:
    """Standard Webhooks' libraries read an unprefixed secret as base64, the official SDK as UTF-8 bytes: the
    ring signs with both, so an app on either verifies it."""
    plain = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    received: list[Delivery] = []

    class Keep(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            received.append(Delivery({k.lower(): v for k, v in self.headers.items()}, body, {}))
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Keep)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        emu.ring(f"http://127.0.0.1:{server.server_address[1]}/hook", secret=plain, decide_within=0.1)
    finally:
        server.shutdown()
        server.server_close()
    [delivery] = received
    Webhook(plain).verify(delivery.body, delivery.headers)  # the standard's reading
    if importlib.util.find_spec("openai") is not None:
        import openai

        client = openai.OpenAI(api_key="sk-x", base_url="http://127.0.0.1:9", webhook_secret=plain)
        client.webhooks.verify_signature(delivery.body, delivery.headers)  # the SDK's reading
