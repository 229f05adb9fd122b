"""The cheaper tracing hot path (bench/bench_observability.py) keeps its behaviour: a span made current with
``context.attach`` is still the parent of spans started inside it and is undone after the block (also when the
block raises, which marks it failed by class name only and lets the exception through); a value's text checks are
cached but a secret registered after a value was first checked still keeps it out of a span."""

from __future__ import annotations

import random
import string
from collections.abc import Iterator

import pytest

from realtime_service.observability import tracing
from realtime_service.redaction import SECRETS

pytest.importorskip("opentelemetry.sdk")
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from span_capture import captured_spans


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    with captured_spans() as exporter:
        yield exporter


def test_a_span_is_current_inside_its_block_the_parent_of_inner_spans_and_undone_after(
    exporter: InMemorySpanExporter,
) -> None:
    before = trace.get_current_span()
    with tracing.span("outer", "server", {"http.route": "/token"}) as outer:
        assert outer.recording
        outer_context = trace.get_current_span().get_span_context()
        with tracing.span("inner", "client"):
            assert trace.get_current_span().get_span_context() != outer_context
        assert trace.get_current_span().get_span_context() == outer_context
    assert trace.get_current_span() is before
    inner, outer_span = exporter.get_finished_spans()
    assert (inner.name, outer_span.name) == ("inner", "outer")
    assert inner.parent is not None
    assert inner.parent.span_id == outer_span.context.span_id
    assert (inner.kind, outer_span.kind) == (SpanKind.CLIENT, SpanKind.SERVER)
    assert dict(outer_span.attributes or {}) == {"http.route": "/token"}
    assert outer_span.status.status_code == StatusCode.UNSET


def test_an_exception_leaving_the_block_ends_the_span_failed_by_class_name_only(
    exporter: InMemorySpanExporter,
) -> None:
    before = trace.get_current_span()
    with pytest.raises(KeyError), tracing.span("failing", "client"):
        raise KeyError("sk-not-in-any-span-0123456789")
    assert trace.get_current_span() is before
    (failed,) = exporter.get_finished_spans()
    assert failed.end_time is not None
    assert failed.status.status_code == StatusCode.ERROR
    assert failed.status.description is None
    assert dict(failed.attributes or {}) == {"error.type": "KeyError"}
    assert failed.events == ()  # never the exception's message


def test_a_value_checked_before_its_secret_was_registered_is_dropped_after(exporter: InMemorySpanExporter) -> None:
    # letters only (a run of digits is masked as a number); unique, so it is left registered harmlessly
    value = "hot-path-later-secret-" + "".join(random.choices(string.ascii_lowercase, k=24))
    assert tracing.safe_value(value) == value  # checked once: its text checks are now cached
    SECRETS.add(value)
    assert tracing.safe_value(value) is None
    with tracing.span("after", "internal", {"kept": "ok", "dropped": value}) as span:
        span.set("also.dropped", value)
    (after,) = exporter.get_finished_spans()
    assert dict(after.attributes or {}) == {"kept": "ok"}


def test_a_span_the_sampler_drops_holds_nothing_and_still_nests() -> None:
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ALWAYS_OFF)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use_provider(provider)
    try:
        with tracing.span("dropped", "server", {"http.route": "/token"}) as span:
            assert not span.recording
            assert trace.get_current_span().get_span_context().is_valid  # made current, for its children
            span.set("http.response.status_code", 200)
    finally:
        tracing.use_provider(None)
        provider.shutdown()
    assert exporter.get_finished_spans() == ()


def test_text_longer_than_an_id_is_dropped_before_the_cache_so_it_never_holds_one() -> None:
    misses = tracing._looks_safe.cache_info().misses
    assert tracing.safe_value("a" * 129) is None
    assert tracing.safe_value("/" + "b" * 16_000) is None
    assert tracing._looks_safe.cache_info().misses == misses  # never looked up, never kept
    assert tracing.safe_value("c" * 128) == "c" * 128
