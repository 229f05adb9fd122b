"""The package's spans captured in memory for one test: the OpenTelemetry SDK's in-memory exporter, handed to
:func:`realtime_service.observability.tracing.use_provider` (the global provider is left alone)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from realtime_service.observability import tracing


@contextmanager
def captured_spans() -> Iterator[InMemorySpanExporter]:
    """Every span the package ends inside the block, in the exporter it yields; the provider is shut down after."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use_provider(provider)
    try:
        yield exporter
    finally:
        tracing.use_provider(None)
        provider.shutdown()
