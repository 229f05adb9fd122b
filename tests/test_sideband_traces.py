"""The sideband's spans, in-process against the emulator over real loopback sockets, captured with the
OpenTelemetry SDK's in-memory exporter: each function call a controller answers is one INTERNAL
``realtime_service.tool_call`` span (a tool that answers, one that raises, one that hangs past its timeout, a call
refused at once), each Live client delegation one ``realtime_service.delegation`` span; their tool and outcome are
the metrics' own labels; they are roots of their own traces, linked to the span that was current when the
sideband was attached (never children of a request that ended long before); no argument, output, key or number
reaches a name, an attribute or an event. GPT-Live Responses delegations' tool calls are the same spans,
labelled ``live``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from sideband_fakes import FAST, ORDER, Tools, service_for, settled

from realtime_service.emulator import CallRecord, Emulator
from realtime_service.observability import metrics, tracing

pytest.importorskip("opentelemetry.sdk")
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from span_capture import captured_spans

CALLER_NUMBER = "+14155550142"
ARGUMENT_MARK = "arg-mark-7f3a"
OUTPUT_MARK = "out-mark-91c2"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    with captured_spans() as exporter:
        yield exporter


@pytest.fixture(params=["metrics_off", "metrics_on"])
def counting(request: pytest.FixtureRequest) -> Iterator[bool]:
    """Spans do not depend on metrics being on (the tool labels are read for either)."""
    on = request.param == "metrics_on"
    if on:
        pytest.importorskip("prometheus_client")
        metrics.enable()
    try:
        yield on
    finally:
        if on:
            metrics.disable()


class Marked(Tools):
    """``lookup_order`` answers with text that must never reach a span; ``hang`` never returns; else :class:`Tools`."""

    async def run(self, name: str, arguments: str, *, call_id: str) -> str:
        if name == "hang":
            await asyncio.Event().wait()
        if name == "lookup_order":
            return json.dumps({"status": f"shipped {OUTPUT_MARK} to {CALLER_NUMBER}"})
        return await super().run(name, arguments, call_id=call_id)


def texts_of(exporter: InMemorySpanExporter) -> list[str]:
    """Every span's name, attributes, events, links' attributes and status description, as text."""
    texts = []
    for span in exporter.get_finished_spans():
        texts.append(span.name)
        texts.extend(f"{key}={value}" for key, value in (span.attributes or {}).items())
        for event in span.events:
            texts.append(event.name)
            texts.extend(f"{key}={value}" for key, value in (event.attributes or {}).items())
        for link in span.links:
            texts.extend(f"{key}={value}" for key, value in (link.attributes or {}).items())
        texts.append(span.status.description or "")
    return texts


def assert_nothing_secret(exporter: InMemorySpanExporter, secrets: list[str]) -> None:
    texts = texts_of(exporter)
    assert texts
    for secret in secrets:
        assert secret
        assert not [text for text in texts if secret in text], secret


def tool_spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.name == "realtime_service.tool_call"]


def by_tool_call_id(exporter: InMemorySpanExporter) -> dict[object, ReadableSpan]:
    found = tool_spans(exporter)
    keyed = {(span.attributes or {}).get("realtime_service.tool_call_id"): span for span in found}
    assert len(keyed) == len(found), "two tool spans with one id"
    return keyed


def test_each_tool_call_is_one_root_span_linked_to_the_attach(spans: InMemorySpanExporter, counting: bool) -> None:
    with Emulator() as emulator:
        secret_call_id = f"call_{emulator.api_key}"
        script = [
            {"caller": "Where is my order?"},
            {
                "model_calls": {
                    "name": "lookup_order",
                    "arguments": {"order_id": "1234", "note": ARGUMENT_MARK, "phone": CALLER_NUMBER},
                    "call_id": "call_ok",
                }
            },
            {"expect_output": {"timeout": 10}},
            {"model_calls": {"name": "explode", "arguments": {"x": ARGUMENT_MARK}, "call_id": "call_raises"}},
            {"expect_output": {"timeout": 10}},
            {"model_calls": {"name": "hang", "arguments": {}, "call_id": "call_hangs"}},
            {"expect_output": {"timeout": 10}},
            {"model_calls": {"name": CALLER_NUMBER[1:], "arguments": {}, "call_id": secret_call_id}},
            {"expect_output": {"timeout": 10}},
            "hangup",
        ]
        emulator.calls.add(CallRecord(id="rtc_t", api="realtime", transport="sip", state="accepted", created_at=0.0))
        emulator.script_call("rtc_t", script)
        refused_script = [
            {"model_calls": {"name": "lookup_order", "arguments": {}, "call_id": "call_no_tools"}},
            {"expect_output": {"timeout": 10}},
            "hangup",
        ]
        emulator.calls.add(CallRecord(id="rtc_n", api="realtime", transport="sip", state="accepted", created_at=0.0))
        emulator.script_call("rtc_n", refused_script)

        async def main() -> Any:
            service = service_for(emulator)
            with tracing.span("POST /session", "server"):  # the request that attached them
                request_span = trace.get_current_span()
                handle = await service.aattach_call("rtc_t", tools=Marked(), tool_timeout=0.2, **FAST)
                bare = await service.aattach_call("rtc_n", **FAST)
            async with asyncio.timeout(60):
                await handle.closed()
                await bare.closed()
            return request_span.get_span_context()

        attached_from = asyncio.run(main())
        assert settled(emulator, "rtc_t").script_state.status == "done"
        assert settled(emulator, "rtc_n").script_state.status == "done"
        api_key = emulator.api_key

    found = by_tool_call_id(spans)
    assert set(found) == {"call_ok", "call_raises", "call_hangs", "call_no_tools", None}  # None: the secret id
    expected = {
        "call_ok": ("rtc_t", "lookup_order", "ok"),
        "call_raises": ("rtc_t", "other", "error"),
        "call_hangs": ("rtc_t", "other", "timeout"),
        None: ("rtc_t", "other", "error"),  # an unknown tool: the runner's error answer
        "call_no_tools": ("rtc_n", "other", "no_tools"),
    }
    for key, (call, tool, outcome) in expected.items():
        span = found[key]
        attributes = dict(span.attributes or {})
        assert span.kind is SpanKind.INTERNAL
        assert span.parent is None, "a tool span is the root of its own trace"
        assert span.context.trace_id != attached_from.trace_id
        assert [link.context.span_id for link in span.links] == [attached_from.span_id]
        wanted: dict[str, object] = {
            "realtime_service.api": "realtime",
            "realtime_service.call_id": call,
            "realtime_service.tool": tool,
            "realtime_service.outcome": outcome,
        }
        if key is not None:
            wanted["realtime_service.tool_call_id"] = key
        if outcome != "ok":
            wanted["error.type"] = outcome
        assert attributes == wanted, key
        assert span.status.status_code is (StatusCode.UNSET if outcome == "ok" else StatusCode.ERROR)
        assert not span.events
    assert found["call_hangs"].end_time - found["call_hangs"].start_time >= 0.2e9  # the run, not an instant
    if counting:  # the same outcomes as the metric: one span per count
        counted = {
            tuple(sample.labels.values()): sample.value
            for family in metrics._registry.collect()
            for sample in family.samples
            if sample.name == "realtime_service_tool_calls_total"
        }
        shown = [
            (
                attributes["realtime_service.api"],
                attributes["realtime_service.tool"],
                attributes["realtime_service.outcome"],
            )
            for attributes in (dict(span.attributes or {}) for span in tool_spans(spans))
        ]
        assert counted == {labels: shown.count(labels) for labels in set(shown)}
    assert_nothing_secret(spans, [api_key, ARGUMENT_MARK, OUTPUT_MARK, CALLER_NUMBER, "14155550142", "boom", "1234"])


def test_a_controller_attached_outside_any_span_makes_unlinked_roots(spans: InMemorySpanExporter) -> None:
    script = [
        {"model_calls": {"name": "lookup_order", "arguments": {"order_id": "1"}, "call_id": "call_alone"}},
        {"expect_output": {"timeout": 10}},
        "hangup",
    ]
    with Emulator() as emulator:
        emulator.calls.add(CallRecord(id="rtc_a", api="realtime", transport="sip", state="accepted", created_at=0.0))
        emulator.script_call("rtc_a", script)

        async def main() -> None:
            handle = await service_for(emulator).aattach_call("rtc_a", tools=Marked(), **FAST)
            async with asyncio.timeout(60):
                await handle.closed()

        asyncio.run(main())
        assert settled(emulator, "rtc_a").script_state.status == "done"
    (span,) = tool_spans(spans)
    assert span.parent is None
    assert not span.links
    assert dict(span.attributes or {})["realtime_service.outcome"] == "ok"


def live_session(emulator: Emulator, session_id: str, delegate: Any) -> None:
    session = {"type": "live", "model": "gpt-live-1"}
    record = CallRecord(id=session_id, api="live", transport="sip", state="accepted", created_at=0.0, session=session)
    emulator.calls.add(record)
    emulator.script_call(
        session_id,
        [
            {"caller": f"My number is {CALLER_NUMBER}"},
            {"delegate": {"id": f"deleg_{session_id}"}},
            {"expect_commentary": {"timeout": 10}},
            {"model_says": "Anything else?"},
            "hangup",
        ],
    )

    async def main() -> None:
        with tracing.span("POST /session"):
            handle = await service_for(emulator).aattach_live_session(
                session_id, delegate=delegate, delegation_deadline=5, **FAST
            )
        async with asyncio.timeout(60):
            await handle.closed()

    asyncio.run(main())
    assert settled(emulator, session_id).script_state.status == "done"


def test_each_live_delegation_is_one_span_answered_or_refused(spans: InMemorySpanExporter) -> None:
    def answers(ctx: Any) -> str:
        return f"Your balance is 42 dollars {OUTPUT_MARK}."

    def raises(ctx: Any) -> str:
        raise RuntimeError(f"broken {ARGUMENT_MARK}")

    with Emulator() as emulator:
        live_session(emulator, "live_a", answers)
        live_session(emulator, "live_r", raises)
        api_key = emulator.api_key
    (request_a, request_r) = [span for span in spans.get_finished_spans() if span.name == "POST /session"]
    delegations = [span for span in spans.get_finished_spans() if span.name == "realtime_service.delegation"]
    assert len(delegations) == 2
    shown = {dict(span.attributes or {})["realtime_service.call_id"]: span for span in delegations}
    assert dict(shown["live_a"].attributes or {}) == {
        "realtime_service.api": "live",
        "realtime_service.call_id": "live_a",
        "realtime_service.delegation_id": "deleg_live_a",
        "realtime_service.outcome": "answered",
    }
    assert shown["live_a"].status.status_code is StatusCode.UNSET
    assert dict(shown["live_r"].attributes or {}) == {
        "realtime_service.api": "live",
        "realtime_service.call_id": "live_r",
        "realtime_service.delegation_id": "deleg_live_r",
        "realtime_service.outcome": "refused",
        "error.type": "refused",
    }
    assert shown["live_r"].status.status_code is StatusCode.ERROR
    for span, request in [(shown["live_a"], request_a), (shown["live_r"], request_r)]:
        assert span.kind is SpanKind.INTERNAL
        assert span.parent is None
        assert [link.context.span_id for link in span.links] == [request.context.span_id]
    assert_nothing_secret(spans, [api_key, ARGUMENT_MARK, OUTPUT_MARK, CALLER_NUMBER, "42 dollars", "broken"])


def test_a_tool_still_running_when_the_call_ends_ends_its_span_with_no_outcome(spans: InMemorySpanExporter) -> None:
    """The call closed while its tool ran: the tool's task is cancelled, and its span says neither an outcome
    nor a failure (the tool was stopped, not broken)."""
    started = asyncio.Event()

    class Stuck(Tools):
        async def run(self, name: str, arguments: str, *, call_id: str) -> str:
            started.set()
            await asyncio.Event().wait()
            raise AssertionError("never reached")

    script = [
        {"model_calls": {"name": "lookup_order", "arguments": {"order_id": "1"}, "call_id": "call_stuck"}},
        {"expect_output": {"timeout": 30}},
        "hangup",
    ]
    with Emulator() as emulator:
        emulator.calls.add(CallRecord(id="rtc_c", api="realtime", transport="sip", state="accepted", created_at=0.0))
        emulator.script_call("rtc_c", script)

        async def main() -> Any:
            handle = await service_for(emulator).aattach_call("rtc_c", tools=Stuck(), tool_timeout=60, **FAST)
            async with asyncio.timeout(30):
                await started.wait()
                return await handle.close()

        end = asyncio.run(main())
    assert end.reason == "closed"
    (span,) = tool_spans(spans)
    assert dict(span.attributes or {}) == {
        "realtime_service.api": "realtime",
        "realtime_service.call_id": "rtc_c",
        "realtime_service.tool_call_id": "call_stuck",
    }
    assert span.status.status_code is StatusCode.UNSET


def test_a_live_responses_delegations_tool_call_is_a_live_tool_span(spans: InMemorySpanExporter) -> None:
    """GPT-Live: a function call of a Responses delegation runs through the same code, labelled ``live``."""
    session = {"type": "live", "model": "gpt-live-1"}
    with Emulator() as emulator:
        record = CallRecord(id="live_t", api="live", transport="sip", state="accepted", created_at=0.0, session=session)
        emulator.calls.add(record)
        emulator.script_call("live_t", ORDER)

        async def main() -> None:
            with tracing.span("POST /session", "server"):
                handle = await service_for(emulator).aattach_live_session("live_t", tools=Marked(), **FAST)
            async with asyncio.timeout(60):
                await handle.closed()

        asyncio.run(main())
        assert settled(emulator, "live_t").script_state.status == "done"
    (request,) = [span for span in spans.get_finished_spans() if span.name == "POST /session"]
    (span,) = tool_spans(spans)
    assert dict(span.attributes or {}) == {
        "realtime_service.api": "live",
        "realtime_service.call_id": "live_t",
        "realtime_service.tool_call_id": "call_1",
        "realtime_service.tool": "lookup_order",
        "realtime_service.outcome": "ok",
    }
    assert span.parent is None
    assert [link.context.span_id for link in span.links] == [request.context.span_id]
