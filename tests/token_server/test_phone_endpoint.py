"""``POST /webhooks/openai`` over real sockets on both frameworks (waitress and uvicorn in this process), its
decisions reaching the emulator: signatures, Host and size, the config router, router overrides (sync and
async), every decision's body, per-caller limits, redelivery and dedupe, upstream failures, masked logs."""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from dependency_injector import providers
from standardwebhooks import Webhook

from realtime_service.emulator import CallRecord, Emulator
from realtime_service.emulator.faults import Fault
from realtime_service.web.servers.runners import ServedApp
from realtime_service.webhooks import Accept, Ignore, Refer, Reject, WebhookEvent

from .conftest import make_container

SECRET = "whsec_" + base64.b64encode(b"phone-endpoint-test-secret-0001").decode()
OLD_SECRET = "whsec_" + base64.b64encode(b"phone-endpoint-old-secret-00002").decode()
SESSION = {"type": "realtime", "model": "gpt-realtime-2.1", "instructions": "You answer for Example Ltd."}
LIVE = {"type": "live", "model": "gpt-live-1", "instructions": "Hi."}
CALLER = "+14155550100"
PATH = "/webhooks/openai"


def phone(**more: Any) -> dict[str, Any]:
    return {"webhook_secret": SECRET, "session": SESSION, **more}


def pending(emulator: Emulator, api: str = "realtime", caller: str = CALLER) -> str:
    ident = ("live_" if api == "live" else "rtc_") + f"{time.monotonic_ns():x}"
    headers = (("From", f"<sip:{caller}@203.0.113.5>;tag=1"), ("To", "<sip:+18005550199@sip.api.openai.com>"))
    emulator.calls.add(
        CallRecord(id=ident, api=api, transport="sip", state="pending", created_at=time.time(), sip_headers=headers)  # type: ignore[arg-type]
    )
    return ident


def event_for(ident: str, caller: str = CALLER) -> bytes:
    live = ident.startswith("live_")
    data: dict[str, Any] = {
        "sip_headers": [
            {"name": "From", "value": f"<sip:{caller}@203.0.113.5>;tag=1"},
            {"name": "To", "value": "<sip:+18005550199@sip.api.openai.com>"},
        ],
        "sip_media_security": "srtp",
    }
    data.update({"type": "sip", "session_id": ident} if live else {"call_id": ident})
    event = {
        "object": "event",
        "id": "evt_" + ident,
        "type": "live.transport.incoming" if live else "realtime.call.incoming",
        "created_at": int(time.time()),
        "data": data,
    }
    return json.dumps(event).encode()


def signed(
    body: bytes, secret: str = SECRET, *, webhook_id: str | None = None, at: float | None = None
) -> dict[str, str]:
    webhook_id = webhook_id or f"wh_{time.monotonic_ns():x}"
    stamp = int(time.time() if at is None else at)
    signature = Webhook(secret).sign(webhook_id, datetime.fromtimestamp(stamp, tz=UTC), body.decode())
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": signature,
        "content-type": "application/json",
    }


def deliver(served: ServedApp, body: bytes, headers: dict[str, str], path: str = PATH) -> requests.Response:
    return requests.post(served.url + path, data=body, headers=headers, timeout=15)


def decisions(emulator: Emulator, ident: str) -> list[tuple[str, Any]]:
    record = emulator.calls.get(ident)
    assert record is not None
    return [(d.action, d.body) for d in record.decisions]


def access_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == "realtime_service.web.access" and PATH in r.getMessage()
    ]


# -- the happy path and the signature --------------------------------------------------------------------------


def test_a_ring_is_accepted_with_the_configured_session(
    serve: Callable[..., ServedApp], emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    served = serve(phone=phone())
    record = emulator.ring(served.url + PATH, secret=SECRET, decide_within=10)
    assert record.state == "accepted"
    assert [(d.action, d.body) for d in record.decisions] == [("accept", SESSION)]
    assert record.webhook_statuses == (200,)
    lines = access_lines(caplog)
    assert len(lines) == 1
    assert "-> 200" in lines[0]
    assert "accepted" in lines[0]


def tampered(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return body.replace(b"srtp", b"rtp!"), headers


def stale(body: bytes, _headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return body, signed(body, at=time.time() - 301)


def future(body: bytes, _headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return body, signed(body, at=time.time() + 360)  # well past the tolerance, even on a slow run


def wrong_secret(body: bytes, _headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    other = "whsec_" + base64.b64encode(b"someone-else-entirely-000000001").decode()
    return body, signed(body, other)


def missing(name: str) -> Callable[[bytes, dict[str, str]], tuple[bytes, dict[str, str]]]:
    def drop(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
        return body, {k: v for k, v in headers.items() if k != name}

    return drop


def not_json(_body: bytes, _headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    body = b"{not json"
    return body, signed(body)


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        (tampered, "bad_signature"),
        (stale, "stale"),
        (future, "future"),
        (wrong_secret, "bad_signature"),
        (missing("webhook-signature"), "missing_header"),
        (missing("webhook-id"), "missing_header"),
        (missing("webhook-timestamp"), "missing_header"),
        (not_json, "malformed"),
    ],
)
def test_a_bad_delivery_is_refused_with_nothing_called_upstream_and_one_access_line(
    serve: Callable[..., ServedApp],
    emulator: Emulator,
    caplog: pytest.LogCaptureFixture,
    spoil: Callable[[bytes, dict[str, str]], tuple[bytes, dict[str, str]]],
    reason: str,
) -> None:
    caplog.set_level(logging.INFO)
    served = serve(phone=phone())
    ident = pending(emulator)
    body = event_for(ident)
    body, headers = spoil(body, signed(body))
    response = deliver(served, body, headers)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", "invalid_webhook", reason)
    assert response.headers["cache-control"] == "no-store"
    assert emulator.requests == []
    assert emulator.calls.get(ident).state == "pending"  # type: ignore[union-attr]
    assert len(access_lines(caplog)) == 1
    assert SECRET not in caplog.text


def test_rotated_secrets_and_several_signatures(serve: Callable[..., ServedApp], emulator: Emulator) -> None:
    served = serve(phone=phone(webhook_secret=[SECRET, OLD_SECRET]))
    first = pending(emulator)
    body = event_for(first)
    assert deliver(served, body, signed(body, OLD_SECRET)).status_code == 200  # the old secret, still listed
    second = pending(emulator)
    body = event_for(second)
    headers = signed(body)
    bogus = "v1," + base64.b64encode(b"x" * 32).decode()
    headers["webhook-signature"] = f"{bogus} {headers['webhook-signature']}"  # one bad entry, one good
    assert deliver(served, body, headers).status_code == 200
    assert decisions(emulator, first) == [("accept", SESSION)]
    assert decisions(emulator, second) == [("accept", SESSION)]


def test_without_a_secret_serve_does_not_serve_the_webhook(serve: Callable[..., ServedApp], emulator: Emulator) -> None:
    served = serve(phone={"session": SESSION})
    ident = pending(emulator)
    body = event_for(ident)
    response = deliver(served, body, signed(body))
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert emulator.requests == []


def test_a_host_app_mounting_the_view_without_a_secret_gets_a_clear_500(emulator: Emulator) -> None:
    from realtime_service.web.messages import WebRequest

    container = make_container(emulator, phone={"session": SESSION})
    endpoint = container.token_server.phone_endpoint()
    ident = pending(emulator)
    body = event_for(ident)
    response = endpoint.handle(WebRequest("POST", PATH, signed(body), body, client="127.0.0.1"))
    assert response.status == 500
    assert json.loads(response.body)["error"]["code"] == "webhook_secret_missing"
    assert emulator.requests == []
    container.shutdown_resources()


def test_host_allow_list_method_and_size_come_from_the_shared_admission(
    serve: Callable[..., ServedApp], emulator: Emulator
) -> None:
    served = serve(phone=phone(), max_body_bytes=2048)
    ident = pending(emulator)
    body = event_for(ident)
    wrong_host = deliver(served, body, {**signed(body), "Host": "evil.example.com"})
    assert wrong_host.status_code == 421
    big = body[:-1] + b', "padding": "' + b"x" * 4096 + b'"}'
    assert deliver(served, big, signed(big)).status_code == 413
    assert requests.get(served.url + PATH, timeout=10).status_code in (404, 405)
    assert emulator.requests == []


def test_a_configured_path(serve: Callable[..., ServedApp], emulator: Emulator) -> None:
    served = serve(phone=phone(path="/hooks/calls"))
    ident = pending(emulator)
    body = event_for(ident)
    assert deliver(served, body, signed(body), path="/hooks/calls").status_code == 200
    assert decisions(emulator, ident) == [("accept", SESSION)]


# -- decisions --------------------------------------------------------------------------------------------------


def test_without_a_session_every_call_is_declined(serve: Callable[..., ServedApp], emulator: Emulator) -> None:
    served = serve(phone={"webhook_secret": SECRET})
    record = emulator.ring(served.url + PATH, secret=SECRET, decide_within=10)
    assert record.state == "rejected"
    assert [(d.action, d.body) for d in record.decisions] == [("reject", {"status_code": 603})]


def test_a_live_session_config_answers_the_live_announcement(
    serve: Callable[..., ServedApp], emulator: Emulator
) -> None:
    served = serve(phone=phone(session=LIVE))
    record = emulator.ring(served.url + PATH, secret=SECRET, api="live", decide_within=10)
    assert record.state == "accepted"
    assert [(d.action, d.body) for d in record.decisions] == [("accept", {"session": LIVE})]


class SyncRouter:
    def __init__(self, decision: Any) -> None:
        self.decision = decision
        self.seen: list[WebhookEvent] = []

    def route(self, event: WebhookEvent) -> Any:
        self.seen.append(event)
        return self.decision


class AsyncRouter(SyncRouter):
    async def route(self, event: WebhookEvent) -> Any:  # type: ignore[override]
        self.seen.append(event)
        return self.decision


@pytest.mark.parametrize("router_class", [SyncRouter, AsyncRouter])
@pytest.mark.parametrize(
    ("api", "decision", "expected"),
    [
        ("realtime", Reject(486), ("reject", {"status_code": 486})),
        ("realtime", Refer("tel:+14155550123"), ("refer", {"target_uri": "tel:+14155550123"})),
        (
            "realtime",
            Accept({**SESSION, "instructions": "override"}),
            ("accept", {**SESSION, "instructions": "override"}),
        ),
        ("live", Reject(480), ("reject", {"status_code": 480})),
        ("live", Refer("sip:desk@example.com"), ("refer", {"target_uri": "sip:desk@example.com"})),
        ("live", Accept(LIVE), ("accept", {"session": LIVE})),
    ],
)
def test_an_overridden_router_decides_and_each_decision_reaches_the_emulator(
    serve: Callable[..., ServedApp],
    emulator: Emulator,
    router_class: type[SyncRouter],
    api: str,
    decision: Any,
    expected: tuple[str, Any],
) -> None:
    container = make_container(emulator, phone=phone())
    router = router_class(decision)
    container.token_server.call_router.override(providers.Object(router))
    served = serve(container=container)
    record = emulator.ring(served.url + PATH, secret=SECRET, api=api, decide_within=10)  # type: ignore[arg-type]
    assert [(d.action, d.body) for d in record.decisions] == [expected]
    assert len(router.seen) == 1
    assert record.id in {getattr(router.seen[0], "call_id", None), getattr(router.seen[0], "session_id", None)}


def test_an_ignore_decides_nothing(serve: Callable[..., ServedApp], emulator: Emulator) -> None:
    container = make_container(emulator, phone=phone())
    container.token_server.call_router.override(providers.Object(SyncRouter(Ignore())))
    served = serve(container=container)
    ident = pending(emulator)
    body = event_for(ident)
    response = deliver(served, body, signed(body))
    assert (response.status_code, response.json()) == (200, {"result": "ignored"})
    assert emulator.requests == []


def test_a_router_that_raises_is_a_500_and_a_redelivery_may_decide(
    serve: Callable[..., ServedApp], emulator: Emulator
) -> None:
    calls: list[int] = []

    def flaky(_event: WebhookEvent) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the database is down")
        return Reject(486)

    container = make_container(emulator, phone=phone())
    container.token_server.call_router.override(providers.Object(flaky))
    served = serve(container=container)
    ident = pending(emulator)
    body = event_for(ident)
    headers = signed(body)
    assert deliver(served, body, headers).status_code == 500
    assert deliver(served, body, headers).status_code == 200
    assert decisions(emulator, ident) == [("reject", {"status_code": 486})]


# -- at least once delivered, decided once ------------------------------------------------------------------


def test_a_redelivery_of_a_decided_event_is_200_and_no_second_accept(
    serve: Callable[..., ServedApp], emulator: Emulator
) -> None:
    served = serve(phone=phone())
    ident = pending(emulator)
    body = event_for(ident)
    headers = signed(body)
    assert deliver(served, body, headers).json() == {"result": "accepted"}
    again = deliver(served, body, headers)
    assert (again.status_code, again.json()) == (200, {"result": "already_decided:accepted"})
    other_id = deliver(served, body, signed(body))  # the same call under another webhook-id
    assert (other_id.status_code, other_id.json()) == (200, {"result": "duplicate"})
    assert decisions(emulator, ident) == [("accept", SESSION)]


def test_an_upstream_failure_of_unknown_outcome_is_503_and_the_redelivery_decides(
    serve: Callable[..., ServedApp], emulator: Emulator
) -> None:
    served = serve(phone=phone())
    emulator.enqueue(Fault.status(500))
    record = emulator.ring(served.url + PATH, secret=SECRET, decide_within=10, first_retry_after=0.05)
    assert record.webhook_statuses == (503, 200)
    assert record.state == "accepted"
    assert [(d.action, d.body) for d in record.decisions] == [("accept", SESSION)]


def test_a_slow_upstream_is_cut_at_the_upstream_timeout(serve: Callable[..., ServedApp], emulator: Emulator) -> None:
    served = serve(phone=phone(upstream_timeout=0.3))
    emulator.enqueue(Fault.delay(2.0))
    ident = pending(emulator)
    body = event_for(ident)
    response = deliver(served, body, signed(body))  # unbounded, the 2 s answer would arrive: accepted, 200
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["error"]["code"] == "retry"


def test_a_permanent_upstream_error_is_recorded_and_answered_200(
    serve: Callable[..., ServedApp], emulator: Emulator
) -> None:
    served = serve(phone=phone())
    body = event_for("rtc_nosuchcall")
    response = deliver(served, body, signed(body))
    assert (response.status_code, response.json()) == (200, {"result": "failed:NotFoundError"})


# -- per-caller limits and masked numbers ----------------------------------------------------------------------


def test_a_caller_over_the_limit_gets_486_and_the_number_is_masked_in_logs(
    serve: Callable[..., ServedApp], emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    served = serve(phone=phone(rate_limit="2/hour"))
    states = [emulator.ring(served.url + PATH, secret=SECRET, decide_within=10).state for _ in range(3)]
    assert states == ["accepted", "accepted", "rejected"]
    spent = emulator.calls.all()[-1]
    assert [(d.action, d.body) for d in spent.decisions] == [("reject", {"status_code": 486})]
    other = emulator.ring(
        served.url + PATH, [("From", "<sip:+442071838750@example.com>")], secret=SECRET, decide_within=10
    )
    assert other.state == "accepted"
    assert "+1415*******" in caplog.text
    assert CALLER not in caplog.text
