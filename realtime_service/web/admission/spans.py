"""The SERVER span of each served request and the span of a webhook delivery's decision
(:mod:`~realtime_service.observability.tracing`; no-ops without the ``tracing`` extra).

A route's span starts where its request enters (before admission), in the current context: a host's Flask/FastAPI
instrumentation span is its parent, the service's CLIENT spans its children. Its attributes are the route (the
request's path, which a route serves exactly, checked like every value), the method (a known one or ``_OTHER``), the
answer's status and, for a refusal, the service's own error code as ``error.type``. A webhook decision's span holds
the decision's kind and the delivery's outcome, both from closed sets (never a number, a caller's name or SDP).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ...observability import tracing
from ...observability.metrics import OTHER, WEBHOOK_OUTCOMES
from ..messages import WebRequest, WebResponse

#: The name of a webhook delivery's decision span.
DECISION_SPAN = "realtime_service.webhook.decision"
#: Decision kinds (the router's decision class, lower-cased).
DECISION_KINDS = frozenset({"accept", "reject", "refer", "ignore"})
_CODE = re.compile(r"[a-z_]{1,40}")


@contextmanager
def served(request: WebRequest) -> Iterator[tracing.Span]:
    """The SERVER span of one request, named ``METHOD /route``."""
    method = tracing.http_method(request.method)
    route = request.path if tracing.safe_value(request.path) is not None else OTHER
    with tracing.span(f"{method} {route}", "server", {"http.request.method": method, "http.route": route}) as span:
        yield span


def answered(span: tracing.Span, response: WebResponse) -> None:
    """The answer's status, and its error code as ``error.type`` (an ERROR status from 500 on, per the
    conventions for servers; a refusal is the client's error)."""
    span.set("http.response.status_code", response.status)
    if response.status >= 400:
        code = (
            response.error_code
            if response.error_code and _CODE.fullmatch(response.error_code)
            else str(response.status)
        )
        if response.status >= 500:
            span.fail(code)
        else:
            span.set("error.type", code)


def decision_span() -> Any:
    """The span around a delivery's handling by the desk (the decision's upstream call is its child)."""
    return tracing.span(DECISION_SPAN)


def decided(span: tracing.Span, result: str, decision: object | None) -> None:
    """The delivery's outcome (``rejected:603`` as ``rejected``) and the decision's kind, from closed sets."""
    outcome = result.partition(":")[0]
    span.set("realtime_service.webhook.outcome", outcome if outcome in WEBHOOK_OUTCOMES else OTHER)
    if decision is not None:
        kind = type(decision).__name__.lower()
        span.set("realtime_service.webhook.decision", kind if kind in DECISION_KINDS else OTHER)
