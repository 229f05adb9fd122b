"""Traces (issue 25): the servers on loopback (both frameworks), the emulator upstream, spans captured with the
OpenTelemetry SDK's in-memory exporter through a provider given to :mod:`realtime_service.observability.tracing`.

A mint is a SERVER span ``POST /token`` whose child is the CLIENT span of the operation, named by its path
template, with the HTTP client conventions' attributes and the API's request id; an upstream 500 that is retried
is a ``retry`` event on it; a refusal carries its code as ``error.type``; a phone delivery is a SERVER span, a
decision span (kind and outcome) and the accept's CLIENT span; a host's own span around an in-process WSGI call
is our span's parent. No API key, bearer token, minted secret, webhook secret, phone number or SDP appears in any
attribute, event or span name.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from realtime_service.emulator import Emulator
from realtime_service.emulator.faults import Fault
from realtime_service.observability import tracing
from realtime_service.testing import render_tree
from realtime_service.web.servers.runners import ServedApp

from .conftest import make_container
from .test_phone_endpoint import event_for, pending, signed

pytest.importorskip("opentelemetry.sdk")
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from span_capture import captured_spans

ROOT = Path(__file__).resolve().parents[2]
OFFER = (ROOT / "tests" / "sdp" / "chromium_offer.sdp").read_bytes()
TOKEN = "traces-test-bearer-0123456789abcdef"
ORIGIN = "https://app.example"
CALLER = "+14155550142"
SECRET = "whsec_" + base64.b64encode(b"phone-endpoint-test-secret-0001").decode()  # test_phone_endpoint's


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Our spans go to an in-memory exporter for the test (the global provider is left alone)."""
    with captured_spans() as exporter:
        yield exporter


def named(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.name == name]


def child_of(child: ReadableSpan, parent: ReadableSpan) -> bool:
    return (
        child.parent is not None
        and child.parent.span_id == parent.context.span_id
        and child.context.trace_id == parent.context.trace_id
    )


def assert_nothing_secret(exporter: InMemorySpanExporter, secrets: list[str]) -> None:
    """Every span's name, attributes and events' attributes hold none of ``secrets`` (nor an SDP line)."""
    texts = []
    for span in exporter.get_finished_spans():
        texts.append(span.name)
        texts.extend(f"{key}={value}" for key, value in (span.attributes or {}).items())
        for event in span.events:
            texts.append(event.name)
            texts.extend(f"{key}={value}" for key, value in (event.attributes or {}).items())
        texts.append(span.status.description or "")
    assert texts
    for secret in [*secrets, "v=0", "a=fingerprint", "Bearer"]:
        assert secret
        assert not [text for text in texts if secret in text], secret


def wait_for(exporter: InMemorySpanExporter, name: str, served: ServedApp) -> ReadableSpan:
    served.settle()
    found = named(exporter, name)
    assert len(found) == 1, [span.name for span in exporter.get_finished_spans()]
    return found[0]


def test_a_mint_is_a_server_span_over_the_operations_client_span(
    emulator: Emulator, serve: Callable[..., ServedApp], spans: InMemorySpanExporter
) -> None:
    served = serve(auth="bearer", bearer_tokens={"app": TOKEN}, cors_origins=[ORIGIN])
    answer = requests.post(
        f"{served.url}/token", json={}, headers={"Authorization": f"Bearer {TOKEN}", "Origin": ORIGIN}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    server = wait_for(spans, "POST /token", served)
    (client,) = [span for span in spans.get_finished_spans() if span.kind is SpanKind.CLIENT]
    assert server.kind is SpanKind.SERVER
    assert child_of(client, server)
    assert server.attributes == {
        "http.request.method": "POST",
        "http.route": "/token",
        "http.response.status_code": 200,
    }
    template = client.attributes["url.template"]  # type: ignore[index]
    assert client.name == f"POST {template}"
    assert template in {"/client_secrets", "/realtime/client_secrets"}  # the shape's path, not a filled one
    assert client.attributes["http.request.method"] == "POST"  # type: ignore[index]
    assert client.attributes["server.address"] == "127.0.0.1"  # type: ignore[index]
    assert client.attributes["server.port"] == int(emulator.base_url.rsplit(":", 1)[1].split("/")[0])  # type: ignore[index]
    assert client.attributes["http.response.status_code"] == 200  # type: ignore[index]
    assert str(client.attributes["openai.request_id"]).startswith("req_")  # type: ignore[index]
    assert "error.type" not in client.attributes  # type: ignore[operator]
    assert not client.events
    assert_nothing_secret(spans, [emulator.api_key, TOKEN, answer.json()["value"], ORIGIN])


def test_a_retried_attempt_is_an_event_and_a_refusal_names_its_code(
    emulator: Emulator, serve: Callable[..., ServedApp], spans: InMemorySpanExporter
) -> None:
    served = serve(auth="bearer", bearer_tokens={"app": TOKEN})
    emulator.enqueue(Fault.status(500))
    answer = requests.post(f"{served.url}/token", json={}, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    assert answer.status_code == 200, answer.text
    assert emulator.pending_faults == 0
    served.settle()
    (client,) = [span for span in spans.get_finished_spans() if span.kind is SpanKind.CLIENT]
    assert [(event.name, dict(event.attributes or {})) for event in client.events] == [
        ("retry", {"attempt": 2, "reason": "status_5xx"})
    ]
    assert client.attributes["http.response.status_code"] == 200  # type: ignore[index]

    spans.clear()
    refused = requests.post(f"{served.url}/token", json={}, headers={"Authorization": "Bearer wrong"}, timeout=30)
    assert refused.status_code == 401
    server = wait_for(spans, "POST /token", served)
    assert server.attributes["error.type"] == "unauthorized"  # type: ignore[index]
    assert server.attributes["http.response.status_code"] == 401  # type: ignore[index]
    assert server.status.status_code is StatusCode.UNSET  # the client's error, not the server's
    assert len(spans.get_finished_spans()) == 1  # nothing sent upstream

    spans.clear()
    emulator.enqueue(Fault.status(400, message=f"bad request from {CALLER} key {emulator.api_key}"))
    failed = requests.post(f"{served.url}/token", json={}, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    assert failed.status_code == 502, failed.text
    served.settle()
    (client,) = [span for span in spans.get_finished_spans() if span.kind is SpanKind.CLIENT]
    assert client.attributes["error.type"] == "BadRequestError"  # type: ignore[index]
    assert client.attributes["http.response.status_code"] == 400  # type: ignore[index]
    assert client.status.status_code is StatusCode.ERROR
    assert not client.events  # a 400 is not retried, and no exception is recorded
    assert_nothing_secret(spans, [emulator.api_key, TOKEN, CALLER, "bad request"])


def test_a_signaling_request_spans_hold_no_sdp(
    emulator: Emulator, serve: Callable[..., ServedApp], spans: InMemorySpanExporter
) -> None:
    served = serve(auth="bearer", bearer_tokens={"app": TOKEN}, session_path="/session")
    answer = requests.post(
        f"{served.url}/session",
        data=OFFER,
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/sdp"},
        timeout=30,
    )
    assert answer.status_code in (200, 201), answer.text
    server = wait_for(spans, "POST /session", served)
    (client,) = [span for span in spans.get_finished_spans() if span.kind is SpanKind.CLIENT]
    assert child_of(client, server)
    assert client.name.startswith("POST /")
    assert_nothing_secret(spans, [emulator.api_key, TOKEN, "a=ice-ufrag", "Y4FG", "a=candidate"])


def test_a_phone_delivery_is_a_decision_span_over_the_accept(
    emulator: Emulator, serve: Callable[..., ServedApp], spans: InMemorySpanExporter
) -> None:
    served = serve(phone={"webhook_secret": SECRET, "session": {"type": "realtime", "model": "gpt-realtime-2.1"}})
    ident = pending(emulator, caller=CALLER)
    body = event_for(ident, caller=CALLER)
    answer = requests.post(f"{served.url}/webhooks/openai", data=body, headers=signed(body, SECRET), timeout=30)
    assert answer.status_code == 200, answer.text
    server = wait_for(spans, "POST /webhooks/openai", served)
    (decision,) = named(spans, "realtime_service.webhook.decision")
    (client,) = [span for span in spans.get_finished_spans() if span.kind is SpanKind.CLIENT]
    assert child_of(decision, server)
    assert child_of(client, decision)
    assert decision.attributes == {
        "realtime_service.webhook.outcome": "accepted",
        "realtime_service.webhook.decision": "accept",
    }
    assert client.attributes["url.template"] == "/realtime/calls/{call_id}/accept"  # type: ignore[index]
    assert ident not in client.name

    spans.clear()
    forged = requests.post(
        f"{served.url}/webhooks/openai", data=body, headers=signed(body, "whsec_" + "A" * 32), timeout=30
    )
    assert forged.status_code in (400, 401)
    refused = wait_for(spans, "POST /webhooks/openai", served)
    assert refused.attributes["error.type"] == forged.json()["error"]["code"]  # type: ignore[index]
    assert_nothing_secret(spans, [emulator.api_key, SECRET, CALLER, CALLER[1:], "203.0.113.5"])


def test_our_span_is_a_child_of_the_hosts_span(emulator: Emulator, spans: InMemorySpanExporter) -> None:
    """A host's instrumentation (here: a span the test starts) around an in-process WSGI call parents ours."""
    pytest.importorskip("flask")
    container = make_container(emulator, auth="none")
    with ServedApp(container, "flask") as served:  # wires the Flask adapter to the container
        from realtime_service.web.adapters.flask_blueprint import create_flask_app

        settings = container.token_server.server_settings()
        app = create_flask_app(settings.path)
        host_tracer = TracerProvider().get_tracer("host")
        with host_tracer.start_as_current_span("host request") as parent:
            answer = app.test_client().post("/token", json={})
        assert answer.status_code == 200
        served.settle()
    (server,) = named(spans, "POST /token")
    assert server.parent is not None
    assert server.parent.span_id == parent.get_span_context().span_id
    assert server.context.trace_id == parent.get_span_context().trace_id


def test_values_outside_the_closed_sets_are_dropped() -> None:
    assert tracing.safe_value("/v1/realtime/calls/{call_id}/accept") == "/v1/realtime/calls/{call_id}/accept"
    assert tracing.safe_value("req_8f3a21c4b5d6") == "req_8f3a21c4b5d6"
    assert tracing.safe_value(CALLER) is None
    assert tracing.safe_value("ek_68a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5") is None  # a minted key's shape
    assert tracing.safe_value("sk-proj-abcdef0123456789") is None
    assert tracing.safe_value("Bearer abc") is None
    assert tracing.safe_value("ek_" + "x" * 200) is None  # too long for an id
    assert tracing.safe_value("/token?key=sk-test") is None
    assert tracing.safe_value("v=0\r\no=- 1 2 IN IP4 127.0.0.1") is None
    assert tracing.safe_value(object()) is None
    assert tracing.http_method("BREW") == "_OTHER"


def test_without_a_provider_the_calls_cost_nothing_visible(emulator: Emulator) -> None:
    """No SDK configured (the global provider is the API's default): a span is the no-op one, not recording."""
    with tracing.span("anything", "client", {"http.request.method": "POST"}) as span:
        assert not span.recording
        span.set("http.response.status_code", 200)
        span.event("retry", {"attempt": 2})
    tracing.add_event("retry")


def test_a_rendered_tree_is_the_same_text_on_every_run_without_durations(
    emulator: Emulator, serve: Callable[..., ServedApp], spans: InMemorySpanExporter
) -> None:
    served = serve(auth="none")
    answer = requests.post(f"{served.url}/token", json={}, timeout=30)
    assert answer.status_code == 200, answer.text
    served.settle()
    finished = spans.get_finished_spans()
    (client,) = [span for span in finished if span.kind is SpanKind.CLIENT]
    template = client.attributes["url.template"]  # type: ignore[index]
    assert render_tree(finished, attributes=["http.route", "http.response.status_code"], durations=False) == (
        "POST /token [SERVER] http.route=/token http.response.status_code=200\n"
        f"└─ POST {template} [CLIENT] http.response.status_code=200"
    )
    timed = render_tree(finished, attributes=[]).splitlines()
    assert [re.sub(r" \d+ ms$", "", line) for line in timed] == ["POST /token [SERVER]", f"└─ POST {template} [CLIENT]"]
    assert all(re.search(r"\] \d+ ms$", line) for line in timed)
    # the server span alone: the client span's parent was not captured, so it is a root of its own
    assert render_tree([client], attributes=[], durations=False) == f"POST {template} [CLIENT]"


#: One line of a rendered tree: the tree's lead, the name, the kind, the duration, attributes and links.
TREE_LINE = re.compile(r"(?P<lead>(?:│  |   |├─ |└─ )*)(?P<name>.+?) \[(?P<kind>[A-Z]+)\](?: \d+ ms)?(?P<rest>.*)")


def shape(tree: str) -> list[tuple[str, ...]]:
    """Each line without its duration: lead, name, kind, then the attributes and links as shown."""
    lines = []
    for line in tree.strip("\n").splitlines():
        match = TREE_LINE.fullmatch(line)
        assert match is not None, line
        lines.append((match["lead"], match["name"], match["kind"], match["rest"]))
    return lines


def test_the_docs_trace_tree_is_what_its_code_renders(monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/token-endpoint.md's /session trace: its Python block run as it stands, and the text block after it
    showing what it rendered (names, kinds, nesting, attributes and links; durations vary)."""
    pytest.importorskip("flask")
    from markdown_it import MarkdownIt

    page = ROOT / "docs" / "token-endpoint.md"
    fences = [
        token for token in MarkdownIt("commonmark").parse(page.read_text(encoding="utf-8")) if token.type == "fence"
    ]
    (index,) = [i for i, token in enumerate(fences) if token.info == "python" and "render_tree(" in token.content]
    shown = fences[index + 1]
    assert shown.info == "text"
    monkeypatch.chdir(ROOT)
    monkeypatch.syspath_prepend(str(ROOT))  # examples.order_tools, as the page's reader has it
    namespace: dict[str, object] = {"__name__": "docs_trace_block"}
    exec(compile(fences[index].content, f"{page}:{fences[index].map}", "exec"), namespace)  # noqa: S102 - the page's own code
    rendered = str(namespace["tree"])
    assert shape(rendered) == shape(shown.content)
    assert [line[:3] for line in shape(rendered)] == [
        ("", "POST /session", "SERVER"),
        ("└─ ", "POST /realtime/calls", "CLIENT"),
        ("", "realtime_service.tool_call", "INTERNAL"),
    ]
    assert shape(rendered)[-1][3].endswith(" <- POST /session")
