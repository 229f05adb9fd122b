"""Prometheus metrics: every metric's name, help text and label names, and the one-line calls the code makes.

Off until :func:`enable` (``serve`` calls it when ``server.metrics`` is set): each call below is then a no-op that
imports nothing, so a deployment without the ``metrics`` extra pays nothing. Labels come from small closed sets
only (a route's name, an HTTP status, one of the service's own refusal codes, an operation's path key, an
outcome): never an id, a number, an origin, an identity or a token, so a scrape cannot leak one and the number of
series stays bounded. ``--workers N``: each worker writes to prometheus-client's multiprocess files (the
``PROMETHEUS_MULTIPROC_DIR`` its supervisor made), the supervisor's listener sums them (:func:`serve_metrics`).
"""

from __future__ import annotations

import importlib.util
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

#: The extra that brings ``prometheus_client``.
EXTRA = "realtime-service[metrics]"
#: The label value of whatever does not fit a closed set (a path no route serves, a malformed code).
OTHER = "other"
#: Latency buckets of upstream calls, in seconds (mints take ~0.1-1 s; retries and timeouts reach tens of seconds).
LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
#: A refusal code is one of the service's own (``rate_limited``, ``origin_not_allowed``...); anything else is
#: :data:`OTHER`.
_CODE = re.compile(r"[a-z_]{1,40}")


@dataclass(frozen=True, slots=True)
class _Metrics:
    requests: Any
    refusals: Any
    upstream_calls: Any
    upstream_seconds: Any
    upstream_retries: Any
    keys_minted: Any
    calls_started: Any
    webhook_deliveries: Any
    webhook_decisions: Any
    webhook_verification_failures: Any
    hangups: Any


#: The definitions, one place: (attribute, kind, name, help, label names).
DEFINITIONS: tuple[tuple[str, str, str, str, tuple[str, ...]], ...] = (
    (
        "requests",
        "counter",
        "realtime_service_requests",
        "Requests answered, by route and HTTP status.",
        ("route", "status"),
    ),
    (
        "refusals",
        "counter",
        "realtime_service_refusals",
        "Requests refused (status 400 and above), by route and the answer's error code.",
        ("route", "reason"),
    ),
    (
        "upstream_calls",
        "counter",
        "realtime_service_upstream_calls",
        "Calls to the upstream API (retries included), by operation and outcome.",
        ("operation", "outcome"),
    ),
    (
        "upstream_seconds",
        "histogram",
        "realtime_service_upstream_call_seconds",
        "Duration of upstream calls, retries and their waits included, by operation and outcome.",
        ("operation", "outcome"),
    ),
    (
        "upstream_retries",
        "counter",
        "realtime_service_upstream_retries",
        "Attempts repeated after a retryable failure, by operation.",
        ("operation",),
    ),
    ("keys_minted", "counter", "realtime_service_keys_minted", "Ephemeral keys handed out by the token route.", ()),
    (
        "calls_started",
        "counter",
        "realtime_service_calls_started",
        "Calls (realtime) and Live sessions (live) the signaling route started.",
        ("api",),
    ),
    (
        "webhook_deliveries",
        "counter",
        "realtime_service_webhook_deliveries",
        "Phone webhook deliveries, by outcome (accepted, rejected, referred, ignored, duplicate, already_decided, "
        "in_progress, retry, failed, refused, error).",
        ("outcome",),
    ),
    (
        "webhook_decisions",
        "counter",
        "realtime_service_webhook_decisions",
        "Decisions the call router made on incoming calls, by kind (accept, reject, refer, ignore).",
        ("kind",),
    ),
    (
        "webhook_verification_failures",
        "counter",
        "realtime_service_webhook_verification_failures",
        "Phone webhook deliveries refused by the signature check, by reason.",
        ("reason",),
    ),
    (
        "hangups",
        "counter",
        "realtime_service_hangups",
        "Hang-ups of calls the server started (server.max_call_seconds, lost answers), by outcome (scheduled, done, "
        "already_ended, retrying, failed).",
        ("outcome",),
    ),
)
#: The outcomes of a scheduled hang-up (:mod:`realtime_service.web.routes.session.hangups`).
HANGUP_OUTCOMES = frozenset({"scheduled", "done", "already_ended", "retrying", "failed"})
#: The outcomes of a webhook delivery (:class:`~realtime_service.webhooks.desk.Outcome`'s result before any
#: ``:detail``), and the two the route adds: ``refused`` (the signature check) and ``error``.
WEBHOOK_OUTCOMES = frozenset(
    {"accepted", "rejected", "referred", "ignored", "duplicate", "already_decided", "in_progress", "retry", "failed"}
    | {"refused", "error"}
)

_metrics: _Metrics | None = None
_registry: Any = None
_routes: dict[str, str] = {}
_lock = threading.Lock()


def available() -> bool:
    """The ``metrics`` extra is installed (looked up, not imported)."""
    try:
        return importlib.util.find_spec("prometheus_client") is not None
    except (ImportError, ValueError):
        return False


def enable() -> None:
    """Create the metrics in a registry of their own and make the calls below count. Under
    ``PROMETHEUS_MULTIPROC_DIR`` their values go to that folder's files. Raises ``ImportError`` without the extra
    (``serve`` checks it first and names :data:`EXTRA`)."""
    global _metrics, _registry
    import prometheus_client

    def histogram(name: str, help_text: str, labels: tuple[str, ...], registry: Any) -> Any:
        return prometheus_client.Histogram(name, help_text, labels, registry=registry, buckets=LATENCY_BUCKETS)

    kinds: dict[str, Callable[..., Any]] = {"counter": prometheus_client.Counter, "histogram": histogram}
    with _lock:
        registry = prometheus_client.CollectorRegistry()
        built = {
            attribute: kinds[kind](name, help_text, labels, registry=registry)
            for attribute, kind, name, help_text, labels in DEFINITIONS
        }
        _metrics, _registry = _Metrics(**built), registry


def disable() -> None:
    """Stop counting (the calls below become no-ops again): for tests that enabled metrics in-process."""
    global _metrics, _registry
    with _lock:
        _metrics = _registry = None
        _routes.clear()


def enabled() -> bool:
    return _metrics is not None


def name_routes(routes: Mapping[str | None, str]) -> None:
    """The route label of each served path (``{"/token": "token", ...}``; a ``None`` path is skipped); any other
    path counts as :data:`OTHER`, so a scanner's paths never become series."""
    with _lock:
        _routes.update({path: name for path, name in routes.items() if path is not None})


def request_answered(path: str | None, status: int, code: str | None = None) -> None:
    """One request answered: counted by route and status, and as a refusal by route and ``code`` from 400 on."""
    metrics = _metrics
    if metrics is None:
        return
    route = _routes.get(path or "", OTHER)
    metrics.requests.labels(route, str(status)).inc()
    if status >= 400:
        reason = code if code is not None and _CODE.fullmatch(code) else OTHER
        metrics.refusals.labels(route, reason).inc()


def upstream_call(operation: str, outcome: str, seconds: float, attempts: int) -> None:
    """One upstream operation done (``outcome``: ``ok`` or the failure's kind), after ``attempts`` attempts."""
    metrics = _metrics
    if metrics is None:
        return
    metrics.upstream_calls.labels(operation, outcome).inc()
    metrics.upstream_seconds.labels(operation, outcome).observe(seconds)
    if attempts > 1:
        metrics.upstream_retries.labels(operation).inc(attempts - 1)


def upstream_outcome(exc: BaseException | None) -> str:
    """The ``outcome`` label of an upstream call that ended with ``exc``: ``ok``, ``status_4xx``/``status_5xx``,
    ``timeout``, ``unreachable`` or ``error`` (by the exception's class name only, nothing it carries)."""
    if exc is None:
        return "ok"
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return "status_5xx" if status >= 500 else "status_4xx"
    names = {cls.__name__ for cls in type(exc).__mro__}
    if "APITimeoutError" in names:
        return "timeout"
    if "APIConnectionError" in names:
        return "unreachable"
    return "error"


def key_minted() -> None:
    metrics = _metrics
    if metrics is not None:
        metrics.keys_minted.inc()


def call_started(api: str) -> None:
    """A call (``api="realtime"``) or Live session (``"live"``) started by the signaling route."""
    metrics = _metrics
    if metrics is not None:
        metrics.calls_started.labels("live" if api == "live" else "realtime").inc()


def webhook_delivery(result: str, decision: object | None = None) -> None:
    """One phone webhook delivery answered: ``result`` is the desk's (``rejected:603`` counts as ``rejected``,
    ``failed:BadRequestError`` as ``failed``); ``decision`` the router's, when it made one (counted by its kind:
    the class name, ``Accept`` -> ``accept``)."""
    metrics = _metrics
    if metrics is None:
        return
    outcome = result.partition(":")[0]
    metrics.webhook_deliveries.labels(outcome if outcome in WEBHOOK_OUTCOMES else OTHER).inc()
    if decision is not None:
        kind = type(decision).__name__.lower()
        metrics.webhook_decisions.labels(kind if kind in ("accept", "reject", "refer", "ignore") else OTHER).inc()


def webhook_refused(reason: str) -> None:
    """A delivery the signature check refused, by its reason code (``bad_signature``, ``too_old``...)."""
    metrics = _metrics
    if metrics is None:
        return
    metrics.webhook_deliveries.labels("refused").inc()
    metrics.webhook_verification_failures.labels(reason if _CODE.fullmatch(reason) else OTHER).inc()


def hangup(outcome: str) -> None:
    """A hang-up scheduled, done, found already ended, to be retried, or given up (:data:`HANGUP_OUTCOMES`)."""
    metrics = _metrics
    if metrics is not None:
        metrics.hangups.labels(outcome if outcome in HANGUP_OUTCOMES else OTHER).inc()


def serve_metrics(address: str, port: int, multiprocess_dir: str | None = None) -> Callable[[], None]:
    """prometheus-client's own HTTP server on ``address:port`` in a daemon thread (any path answers the
    exposition); ``multiprocess_dir``: it serves the sum of the workers' files there, not this process's
    registry (:func:`enable` first otherwise). Returns what stops it."""
    import prometheus_client

    if multiprocess_dir is not None:
        from prometheus_client import multiprocess

        registry = prometheus_client.CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=multiprocess_dir)  # type: ignore[no-untyped-call]
    elif _registry is not None:
        registry = _registry
    else:
        raise RuntimeError("metrics are not enabled in this process")
    server, thread = prometheus_client.start_http_server(port, addr=address, registry=registry)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(5)

    return stop


def worker_exited(pid: int, multiprocess_dir: str) -> None:
    """A worker process is gone: drop its live gauges from the multiprocess files (its counters stay summed)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid, multiprocess_dir)  # type: ignore[no-untyped-call]
