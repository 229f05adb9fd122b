"""Repeated webhook headers and refusal reasons, the same over real sockets on Flask/waitress, FastAPI/uvicorn and
the ASGI fast route (``FastRoutes`` in front of an app, as a host wraps its own): several ``webhook-signature``
lines are all tried (valid first or last, one per rotated secret), two different ``webhook-id`` or
``webhook-timestamp`` values are a 400 ``malformed``, identical repeats count as one; a refusal names its reason
in the 400 body and in the access line, never the secret or the signature."""

from __future__ import annotations

import base64
import http.client
import json
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from realtime_service.cli import main as cli_main
from realtime_service.emulator import Emulator
from realtime_service.emulator.cli import EXIT_REFUSED
from realtime_service.emulator.ring import WebhookRefused
from realtime_service.web.adapters.asgi import FastRoutes, Route
from realtime_service.web.servers.runners import ServedApp, UvicornRunner, bind

from .conftest import make_container, require
from .test_phone_endpoint import OLD_SECRET, PATH, SECRET, SESSION, decisions, event_for, pending, signed

WRONG = "whsec_" + base64.b64encode(b"someone-else-entirely-000000001").decode()


class _Lifespan:
    """The app behind the fast route: answers the lifespan, 404s anything else (the phone route is in front)."""

    def __init__(self) -> None:
        self.started = threading.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.startup":
                    self.started.set()
                if message["type"] == "lifespan.shutdown":
                    return
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})


@pytest.fixture(params=["flask", "fastapi", "asgi"])
def port(request: pytest.FixtureRequest, emulator: Emulator) -> Iterator[int]:
    """The phone webhook (secrets SECRET and OLD_SECRET) served by each server, on loopback."""
    kind: str = request.param
    require("fastapi" if kind == "asgi" else kind)
    container = make_container(emulator, phone={"webhook_secret": [SECRET, OLD_SECRET], "session": SESSION})
    if kind != "asgi":
        with ServedApp(container, kind) as served:
            yield served.port
        return
    phone = container.token_server.phone_endpoint()
    sock = bind("127.0.0.1", 0)
    phone.hosts.allow("127.0.0.1")
    app = _Lifespan()
    runner = UvicornRunner(
        FastRoutes(app, {PATH: Route(phone.ahandle, phone.settings.max_body_bytes)}), sock, shutdown_timeout=1
    )
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    assert app.started.wait(15)
    try:
        yield sock.getsockname()[1]
    finally:
        runner.stop()
        thread.join(10)
        sock.close()
        container.shutdown_resources()


def post(port: int, body: bytes, headers: list[tuple[str, str]]) -> tuple[int, dict[str, Any]]:
    """POST with ``headers`` sent line by line, repeats included (``requests`` would merge them)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        connection.putrequest("POST", PATH, skip_accept_encoding=True)
        for name, value in [*headers, ("content-type", "application/json"), ("content-length", str(len(body)))]:
            connection.putheader(name, value)
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


def lines(headers: dict[str, str], *names: str) -> list[tuple[str, str]]:
    return [(name, value) for name, value in headers.items() if name not in names]


def test_several_signature_lines_are_all_tried_valid_first_or_last(port: int, emulator: Emulator) -> None:
    for order in ("good first", "good last"):
        ident = pending(emulator)
        body = event_for(ident)
        good = signed(body)
        bad = signed(body, WRONG, webhook_id=good["webhook-id"], at=int(good["webhook-timestamp"]))
        sigs = [good["webhook-signature"], bad["webhook-signature"]]
        if order == "good last":
            sigs.reverse()
        headers = lines(good, "webhook-signature") + [("webhook-signature", sig) for sig in sigs]
        assert post(port, body, headers) == (200, {"result": "accepted"}), order
        assert decisions(emulator, ident) == [("accept", SESSION)]


def test_rotation_with_one_signature_line_per_secret_rings_through(port: int, emulator: Emulator) -> None:
    ident = pending(emulator)
    body = event_for(ident)
    new = signed(body, SECRET)
    old = signed(body, OLD_SECRET, webhook_id=new["webhook-id"], at=int(new["webhook-timestamp"]))
    headers = [
        *lines(new, "webhook-signature"),
        ("webhook-signature", old["webhook-signature"]),
        ("webhook-signature", new["webhook-signature"]),
    ]
    assert post(port, body, headers) == (200, {"result": "accepted"})


@pytest.mark.parametrize("name", ["webhook-id", "webhook-timestamp"])
def test_two_different_ids_or_timestamps_are_refused_and_identical_repeats_are_one(
    port: int, emulator: Emulator, name: str
) -> None:
    ident = pending(emulator)
    body = event_for(ident)
    headers = signed(body)
    other = "wh_other" if name == "webhook-id" else str(int(headers[name]) - 1)
    status, answer = post(port, body, [*lines(headers), (name, other)])  # the signed value first: not picked
    assert status == 400
    assert (answer["error"]["code"], answer["error"]["param"]) == ("invalid_webhook", "malformed")
    status, answer = post(port, body, [(name, other), *lines(headers)])  # the signed value last: not picked
    assert (status, answer["error"]["param"]) == (400, "malformed")
    assert emulator.calls.get(ident).state == "pending"  # type: ignore[union-attr]
    assert post(port, body, [*lines(headers), (name, headers[name])]) == (200, {"result": "accepted"})


def test_a_wrong_secret_is_refused_with_its_reason_in_the_body_and_the_access_line(
    port: int, emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    ident = pending(emulator)
    body = event_for(ident)
    headers = signed(body, WRONG)
    status, answer = post(port, body, lines(headers))
    assert status == 400
    assert answer["error"]["param"] == "bad_signature"
    assert "bad_signature" in answer["error"]["message"]
    access = [r.getMessage() for r in caplog.records if r.name == "realtime_service.web.access"]
    assert any("-> 400" in line and "refused:bad_signature" in line for line in access), access
    signature = headers["webhook-signature"].partition(",")[2]
    for secret in (WRONG, SECRET, SECRET.removeprefix("whsec_"), signature):
        assert secret not in caplog.text
        assert secret not in json.dumps(answer)


def test_ringing_with_the_wrong_secret_stops_at_the_first_refusal_with_its_reason(
    port: int, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{port}{PATH}"
    with pytest.raises(WebhookRefused) as caught:
        emulator.ring(url, secret=WRONG, decide_within=60, first_retry_after=60)  # a retry would wait a minute
    assert (caught.value.status, caught.value.reason) == (400, "bad_signature")
    assert caught.value.record.webhook_statuses == (400,)
    assert "bad_signature" in str(caught.value)
    code = cli_main(["emulator", "ring", url, "--secret", WRONG, "--timeout", "60"])
    out = capsys.readouterr()
    assert code == EXIT_REFUSED == 3
    [line] = out.err.strip().splitlines()
    assert line.startswith(
        "realtime-service emulator ring: error: the app refused the webhook for good: 400 bad_signature"
    )
    assert "webhook deliveries" not in out.out  # it stopped there: no time-out report
    assert WRONG not in out.out + out.err


def test_a_phone_number_in_a_path_is_masked_in_the_access_line(
    serve: Callable[..., ServedApp], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    served = serve(phone={"webhook_secret": SECRET, "session": SESSION})
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=15)
    try:
        connection.request("POST", "/webhooks/openai/+1%20(415)%20555-0142/+14155550100", body=b"{}")
        assert connection.getresponse().status in (404, 405)
    finally:
        connection.close()
    served.settle()
    access = [r.getMessage() for r in caplog.records if r.name == "realtime_service.web.access"]
    assert any("/+1415*******" in line for line in access), access
    assert not any("0142" in line or "0100" in line for line in access), access
