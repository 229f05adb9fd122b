"""Prometheus metrics: every metric's name, help text and label names, and the one-line calls the code makes.

Off until :func:`enable` (``serve`` calls it when ``server.metrics`` is set): each call below is then a no-op that
imports nothing, so a deployment without the ``metrics`` extra pays nothing. Labels come from small closed sets
only (a route's name, an HTTP status, one of the service's own refusal codes, an operation's path key, an
outcome, a tool name the configured tools define): never an id, a number, an origin, an identity, a token or the
model's free text, so a scrape cannot leak one and the number of series stays bounded. The sideband's per-event
path counts nothing (a call's dropped events are added when it ends). ``--workers N``: each worker writes to
prometheus-client's multiprocess files (the ``PROMETHEUS_MULTIPROC_DIR`` its supervisor made), the supervisor's
listener sums them (:func:`serve_metrics`); the one gauge is ``livesum`` (a dead worker's share is dropped).
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
    sidebands_attached: Any
    sidebands_ended: Any
    sideband_attaches: Any
    sideband_call_seconds: Any
    sideband_reattaches: Any
    sideband_events_dropped: Any
    tool_calls: Any
    tool_call_seconds: Any
    delegations: Any


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
    (
        "sidebands_attached",
        "gauge",
        "realtime_service_sidebands_attached",
        "Sidebands attached now (a Realtime call's, a Live session's, an Agents SDK agent's), by api.",
        ("api",),
    ),
    (
        "sidebands_ended",
        "counter",
        "realtime_service_sidebands_ended",
        "Sidebands ended, by api and CallEnd reason (server_closed, hung_up, referred, closed, "
        "max_call_seconds, error; a Live session.closed reason; anything else: other).",
        ("api", "reason"),
    ),
    (
        "sideband_attaches",
        "counter",
        "realtime_service_sideband_attaches",
        "Attaches the call attacher tried, by outcome (attached, taken_over, not_owner, failed, gone: the call "
        "ended before it was taken over).",
        ("outcome",),
    ),
    (
        "sideband_call_seconds",
        "call_histogram",
        "realtime_service_sideband_call_seconds",
        "Time from a sideband's attach to its end, by api.",
        ("api",),
    ),
    (
        "sideband_reattaches",
        "counter",
        "realtime_service_sideband_reattaches",
        "Sockets re-opened after an abnormal close, by api.",
        ("api",),
    ),
    (
        "sideband_events_dropped",
        "counter",
        "realtime_service_sideband_events_dropped",
        "Events not given to an observer that was behind (counted when its sideband ends), by api.",
        ("api",),
    ),
    (
        "tool_calls",
        "counter",
        "realtime_service_tool_calls",
        "Function calls a sideband answered, by api, tool (a name the configured tools define, else other) and "
        "outcome (ok, error, timeout, too_large, too_many, no_tools, bad_call).",
        ("api", "tool", "outcome"),
    ),
    (
        "tool_call_seconds",
        "histogram",
        "realtime_service_tool_call_seconds",
        "Duration of the tool runs a sideband started, by api, tool and outcome.",
        ("api", "tool", "outcome"),
    ),
    (
        "delegations",
        "counter",
        "realtime_service_delegations",
        "Client delegations of Live sessions, by outcome (answered, refused).",
        ("outcome",),
    ),
)
#: Buckets of sideband call durations, in seconds (calls last seconds to an hour or more).
CALL_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0)
#: The reasons a sideband ends (:class:`~realtime_service.sideband.realtime.CallEnd`): the controllers' own and a
#: Live ``session.closed``'s documented ones.
END_REASONS = frozenset(
    {"server_closed", "hung_up", "referred", "closed", "max_call_seconds", "error", "session_closed"}
    | {"close_requested", "remote_hangup", "expired", "content", "connection_lost"}
)
#: The outcomes of a function call a sideband answered (the controller's own paths).
TOOL_OUTCOMES = frozenset({"ok", "error", "timeout", "too_large", "too_many", "no_tools", "bad_call"})
#: The outcomes of an attach by the call attacher (:mod:`realtime_service.sideband.attacher`).
ATTACH_OUTCOMES = frozenset({"attached", "taken_over", "not_owner", "failed", "gone"})
#: The outcomes of a Live client delegation.
DELEGATION_OUTCOMES = frozenset({"answered", "refused"})
#: The sideband kinds: a Realtime call's controller, a Live session's, an Agents SDK agent on a call (attacher).
APIS = frozenset({"realtime", "live", "agent"})
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

    def call_histogram(name: str, help_text: str, labels: tuple[str, ...], registry: Any) -> Any:
        return prometheus_client.Histogram(name, help_text, labels, registry=registry, buckets=CALL_BUCKETS)

    def gauge(name: str, help_text: str, labels: tuple[str, ...], registry: Any) -> Any:
        # livesum: --workers sums the live workers' values; worker_exited drops a dead one's
        return prometheus_client.Gauge(name, help_text, labels, registry=registry, multiprocess_mode="livesum")

    kinds: dict[str, Callable[..., Any]] = {
        "counter": prometheus_client.Counter,
        "histogram": histogram,
        "call_histogram": call_histogram,
        "gauge": gauge,
    }
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


def _api(api: str) -> str:
    return api if api in APIS else OTHER


def sideband_attached(api: str) -> None:
    """A sideband controller started (its first socket is open): the gauge goes up until :func:`sideband_ended`."""
    metrics = _metrics
    if metrics is not None:
        metrics.sidebands_attached.labels(_api(api)).inc()


def sideband_ended(api: str, reason: str, seconds: float, dropped_events: int) -> None:
    """A sideband controller ended (after :func:`sideband_attached`): by its ``CallEnd.reason`` (outside
    :data:`END_REASONS`: :data:`OTHER`), its duration and the events its slow observers missed."""
    metrics = _metrics
    if metrics is None:
        return
    label = _api(api)
    metrics.sidebands_attached.labels(label).dec()
    metrics.sidebands_ended.labels(label, reason if reason in END_REASONS else OTHER).inc()
    metrics.sideband_call_seconds.labels(label).observe(seconds)
    if dropped_events > 0:
        metrics.sideband_events_dropped.labels(label).inc(dropped_events)


def sideband_attach(outcome: str) -> None:
    """The call attacher attached a call's sideband, took one over, left it to its owner, failed, or found the
    call gone (:data:`ATTACH_OUTCOMES`)."""
    metrics = _metrics
    if metrics is not None:
        metrics.sideband_attaches.labels(outcome if outcome in ATTACH_OUTCOMES else OTHER).inc()


def sideband_reattached(api: str) -> None:
    metrics = _metrics
    if metrics is not None:
        metrics.sideband_reattaches.labels(_api(api)).inc()


def tool_label(name: object, known: frozenset[str]) -> str:
    """A function call's ``tool`` label: its name when the configured tools define it (a closed set), else
    :data:`OTHER` (the model's free text never becomes a series)."""
    return name if isinstance(name, str) and name in known else OTHER


def tool_call(api: str, tool: str, outcome: str, seconds: float | None = None) -> None:
    """A function call answered (``tool`` from :func:`tool_label`); ``seconds`` when a tool ran (its latency)."""
    metrics = _metrics
    if metrics is None:
        return
    labels = (_api(api), tool, outcome if outcome in TOOL_OUTCOMES else OTHER)
    metrics.tool_calls.labels(*labels).inc()
    if seconds is not None:
        metrics.tool_call_seconds.labels(*labels).observe(seconds)


def delegation(outcome: str) -> None:
    """A Live client delegation answered or refused (:data:`DELEGATION_OUTCOMES`)."""
    metrics = _metrics
    if metrics is not None:
        metrics.delegations.labels(outcome if outcome in DELEGATION_OUTCOMES else OTHER).inc()


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
    """A worker process is gone: drop its live gauges (``livesum``: the sidebands it had attached) from the
    multiprocess files (its counters stay summed)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid, multiprocess_dir)  # type: ignore[no-untyped-call]
