"""OpenTelemetry traces through ``opentelemetry-api`` only: the SDK and its exporters are the host's choice.

Without the ``tracing`` extra nothing is imported and every call below is a no-op. With the API but no SDK
configured, the API's own no-op tracer answers and no value is even checked (a span around nothing costs a few
microseconds). Spans
start in the current context, so a host whose Flask/FastAPI instrumentation already made a server span gets ours as
its children.

Attribute values come from closed sets or validated ids only (a method, a path template, a status, a refusal code,
the API's ``x-request-id``): never a key, a token, a minted secret, a phone number, SDP, a body, a query string, an
origin or an identity. :func:`safe_value` is the backstop: a string that does not look like such a value (or that
the masking function would change, or that holds a registered secret) is dropped. Exceptions are never recorded as
events (their messages may quote what a request sent): a failure sets ``error.type`` and an ERROR status without
a description.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache
from types import TracebackType
from typing import Any

from ..redaction import SECRETS

#: The extra that brings ``opentelemetry-api``.
EXTRA = "realtime-service[tracing]"
#: The instrumentation scope's name.
TRACER_NAME = "realtime_service"
#: What an attribute value may hold: a path template, a status, a code, an id (``req_...``, ``rtc_...``).
_SAFE_TEXT = re.compile(r"[A-Za-z0-9_./{}:\-]{1,128}")
_MAX_TEXT = 128  # the pattern's bound, checked before the cache so that no longer text is ever kept in it
#: What keys, minted client secrets and webhook secrets start with: never a value, registered or not.
_SECRET_PREFIXES = ("sk-", "ek_", "whsec_")
#: HTTP methods named as they are (semantic conventions); any other is ``_OTHER``.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"})

Value = str | int | float | bool

_tracer: Any = None  # None: not looked up yet; False: the API is not installed
_kinds: dict[str, Any] = {}
_api: dict[str, Any] = {}


def use_provider(provider: Any | None) -> None:
    """Take spans' tracer from ``provider`` (a test's, or a host's that does not set the global one); ``None``
    goes back to the global provider (``trace.set_tracer_provider``)."""
    global _tracer
    _tracer = None if provider is None else provider.get_tracer(TRACER_NAME)
    if provider is not None:
        _load_kinds()


def _load_kinds() -> None:
    from opentelemetry import context, trace
    from opentelemetry.trace import SpanKind

    _kinds.update(client=SpanKind.CLIENT, server=SpanKind.SERVER, internal=SpanKind.INTERNAL)
    # looked up once, not per span (hot path: two spans per mint)
    _api.update(attach=context.attach, detach=context.detach, in_context=trace.set_span_in_context)


def _get_tracer() -> Any:
    """The tracer, or ``None`` without the API (looked up once; a proxy that follows a provider set later)."""
    global _tracer
    if _tracer is None:
        try:
            from opentelemetry import trace
        except ImportError:
            _tracer = False
            return None
        _load_kinds()
        _tracer = trace.get_tracer(TRACER_NAME)
    return _tracer or None


def safe_value(value: object) -> Value | None:
    """``value`` if it may be an attribute, else ``None``: numbers and booleans as they are, text only when it
    looks like a template, a code or an id (no space, no ``?``, no ``@``, no line break), does not start like a key
    or a secret, no masking would change it and it holds no secret the process registered (:mod:`..redaction`)."""
    if isinstance(value, bool | int | float):
        return value
    if not isinstance(value, str) or len(value) > _MAX_TEXT or not _looks_safe(value):
        return None
    # keyed by how many secret forms are registered: secrets are only ever added, so a value checked before one
    # was registered is checked again against it
    return value if _holds_no_secret(value, len(SECRETS)) else None


@lru_cache(maxsize=1024)
def _holds_no_secret(value: str, forms: int) -> bool:
    """Whether ``value`` holds none of the registered secrets, checked when ``forms`` (the registry's size, which
    only grows) differs from the last check's: the same texts come back on every request."""
    return SECRETS.scrub(value) == value


@lru_cache(maxsize=1024)
def _looks_safe(value: str) -> bool:
    """The checks of :func:`safe_value` that depend on the text alone (its shape, a key's prefix, a number the
    masking would change): cached, as the same templates, routes and addresses come back on every request
    (bounded: 1,024 texts of at most 128 characters; values seen once, such as request ids, only churn it)."""
    from ..webhooks.masking import mask_text

    return (
        _SAFE_TEXT.fullmatch(value) is not None and not value.startswith(_SECRET_PREFIXES) and mask_text(value) == value
    )


def http_method(method: str | None) -> str:
    """A request's method as an attribute: one of :data:`KNOWN_METHODS`, else ``_OTHER``."""
    return method if method in KNOWN_METHODS else "_OTHER"


class Span:
    """The span the call sites hold: set attributes, add events, mark a failure, each value checked first (a span
    that is not recorded holds ``None``: every call is then a no-op)."""

    __slots__ = ("_span",)

    def __init__(self, span: Any) -> None:
        self._span = span

    @property
    def recording(self) -> bool:
        """Whether anything is kept (no SDK: never); lets a call site skip work done only for attributes."""
        return self._span is not None

    def set(self, key: str, value: object) -> None:
        if self._span is None:  # not recorded: the value is not even checked
            return
        checked = safe_value(value)
        if checked is not None:
            self._span.set_attribute(key, checked)

    def event(self, name: str, attributes: Mapping[str, object] | None = None) -> None:
        if self._span is not None:
            self._span.add_event(name, _checked(attributes))

    def fail(self, error_type: str) -> None:
        """``error.type`` (a class name or an error code) and an ERROR status, with no description."""
        if self._span is None:
            return
        from opentelemetry.trace import Status, StatusCode

        self.set("error.type", error_type)
        self._span.set_status(Status(StatusCode.ERROR))


_OFF = Span(None)


def span(name: str, kind: str = "internal", attributes: Mapping[str, object] | None = None) -> _Scope:
    """A span named ``name`` (``client``, ``server`` or ``internal``) as the current one for the block; an
    exception leaving the block marks it failed by its class name only."""
    return _Scope(name, kind, attributes)


class _Scope:
    """The context manager :func:`span` returns. A class rather than a ``@contextmanager`` generator, and the span
    made current with ``context.attach`` rather than the SDK's ``start_as_current_span`` (two more generators):
    the same span, parent and context, for less CPU per span (bench/bench_observability.py)."""

    __slots__ = ("_attributes", "_held", "_kind", "_name", "_span", "_token")

    def __init__(self, name: str, kind: str, attributes: Mapping[str, object] | None) -> None:
        self._name, self._kind, self._attributes = name, kind, attributes
        self._token: object = None
        self._span: Any = None
        self._held = _OFF

    def __enter__(self) -> Span:
        tracer = _get_tracer()
        if tracer is None:
            return _OFF
        current = tracer.start_span(
            self._name, kind=_kinds[self._kind], record_exception=False, set_status_on_exception=False
        )
        self._span, self._token = current, _api["attach"](_api["in_context"](current))
        if current.is_recording():  # not kept: nothing is checked nor set
            self._held = Span(current)
            if self._attributes:
                current.set_attributes(_checked(self._attributes))
        return self._held

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._span is None:
            return
        try:
            if exc_type is not None:
                self._held.fail(exc_type.__name__)
        finally:
            _api["detach"](self._token)
            self._span.end()


def add_event(name: str, attributes: Mapping[str, object] | None = None) -> None:
    """An event on the current span (a no-op without one)."""
    if _get_tracer() is None:
        return
    from opentelemetry import trace

    current = trace.get_current_span()
    if current.is_recording():
        Span(current).event(name, attributes)


def _checked(attributes: Mapping[str, object] | None) -> dict[str, Value]:
    if not attributes:
        return {}
    checked = {key: safe_value(value) for key, value in attributes.items()}
    return {key: value for key, value in checked.items() if value is not None}


def current_link() -> Any | None:
    """The current span's context when a real span is current (for :func:`root_span`'s link), else ``None``."""
    if _get_tracer() is None:
        return None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    return context if context.is_valid else None


@contextmanager
def root_span(name: str, attributes: Mapping[str, object] | None = None, link: Any | None = None) -> Iterator[Span]:
    """An INTERNAL span that starts a trace of its own whatever is current, linked to ``link`` (a
    :func:`current_link`): for work that outlives what started it (a sideband's tool calls run up to an hour after
    the request that attached it ended: as that request's children they would dangle from a finished span).
    An ``Exception`` leaving the block marks it failed by its class name; a cancellation does not (the work was
    stopped, not broken: what the block set says how far it got)."""
    tracer = _get_tracer()
    if tracer is None:
        yield _OFF
        return
    from opentelemetry import context, trace

    with tracer.start_as_current_span(
        name,
        context=context.Context(),
        kind=_kinds["internal"],
        links=[trace.Link(link)] if link is not None else None,
        record_exception=False,
        set_status_on_exception=False,
    ) as current:
        held = Span(current if current.is_recording() else None)
        if attributes and held._span is not None:
            held._span.set_attributes(_checked(attributes))
        try:
            yield held
        except Exception as exc:
            held.fail(type(exc).__name__)
            raise
