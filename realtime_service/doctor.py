"""``realtime-service doctor``: check a deployment before it goes live, one line and one verdict per check.

A server that starts is not a server that works: a model shut down next month, an API key that is set but
revoked, a Redis URL nobody can reach or a webhook path without its secret all start fine and fail on the
first real request. Each check here is one function of the :class:`Deployment` (the config file and the
environment) returning :class:`Check` lines; :data:`CHECKS` lists them in order, so a new concern (a phone
route, say) is one more function and one more entry.

Verdicts: ``ok``, ``warn`` (works, but look at it) and ``fail`` (will not work). Exit codes: 0 nothing failed,
1 a check failed, 2 the command line or the config file could not be read (the CLI's table,
:mod:`realtime_service.cli_boundary`). No line ever shows a secret: details
are built from names, never values, and every line is scrubbed of every secret the deployment holds.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import ipaddress
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .cli_boundary import CLIError, HelpFormatter, OneLineParser, exit_codes_epilog, run
from .config import Settings, load_config_file, load_settings
from .errors import APIConnectionError, APIStatusError, ConfigurationError, RealtimeServiceError
from .lifecycle import shutdown_of, unknown_model_note
from .redaction import SECRET_VARIABLES, scrub

OK, WARN, FAIL = "ok", "warn", "fail"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

#: Where the webhook secret comes from when a webhook path is served: the environment, or the config key.
WEBHOOK_SECRET_VARIABLE = "OPENAI_WEBHOOK_SECRET"  # noqa: S105 - a variable name
#: ``server:`` keys that, when set, mean the deployment receives OpenAI webhooks (SIP calls and the like).
WEBHOOK_ROUTE_KEYS = ("webhook_path", "phone")


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the report."""

    name: str
    verdict: str
    detail: str


@dataclass
class Deployment:
    """What the checks look at: the ``realtime:`` and ``server:`` sub-trees as written, and the environment."""

    realtime: dict[str, Any]
    server: dict[str, Any]
    environ: Mapping[str, str]
    check_key: bool = False
    today: dt.date = field(default_factory=dt.date.today)

    def realtime_settings(self) -> Settings:
        return load_settings(self.realtime, self.environ)

    def server_settings(self) -> Any:
        from .web.settings import load_server_settings

        return load_server_settings(self.server, self.environ)

    def secrets(self) -> tuple[str, ...]:
        """Every secret value the deployment holds, so no line can show one."""
        found = [self.environ.get(name, "") for name in SECRET_VARIABLES]
        found += [str(self.realtime.get("api_key") or ""), str(self.server.get("webhook_secret") or "")]
        found += _webhook_secrets(self)
        found += self.environ.get(WEBHOOK_SECRET_VARIABLE, "").replace(",", " ").split()
        for part in self.environ.get("REALTIME_SERVICE_TOKENS", "").split(","):
            found.append(part.partition("=")[2] or part)
        tokens = self.server.get("bearer_tokens")
        found += [str(t) for t in (tokens.values() if isinstance(tokens, Mapping) else tokens or ())]
        password = urlsplit(str(self.server.get("rate_limit_storage") or "")).password
        found.append(password or "")
        return tuple(sorted({s for s in found if len(s) >= 4}, key=len, reverse=True))


# -- the checks ----------------------------------------------------------------------------------------------


def check_settings(deployment: Deployment) -> list[Check]:
    """Both settings trees load: a typo or a bad value would stop ``serve`` (and every mint) at once."""
    lines = []
    try:
        settings = deployment.realtime_settings()
        lines.append(Check("realtime config", OK, f"loads (provider {settings.provider}, {settings.base_url})"))
    except ConfigurationError as exc:
        lines.append(Check("realtime config", FAIL, str(exc)))
    try:
        server = deployment.server_settings()
        level = f"at {server.log_level}" if server.log_level else "at the package's levels"
        lines.append(Check("server config", OK, f"loads (logs: {server.log_format} {level})"))
    except ConfigurationError as exc:
        lines.append(Check("server config", FAIL, str(exc)))
    return lines


def check_models(deployment: Deployment) -> list[Check]:
    """The model the server mints with has no shutdown announced (or past), by the lifecycle table."""
    try:
        settings = deployment.server_settings()
    except ConfigurationError:
        return [Check("models", FAIL, "not checked: the server config does not load")]
    lines = []
    model = settings.session.model
    if model is None:
        lines.append(Check("models", WARN, "server.session.model is not set: the API picks its default model"))
    else:
        lines.append(model_check("server.session.model", model, deployment.today))
    if "model" in settings.browser_fields:
        lines.append(
            Check(
                "models",
                WARN,
                "server.browser_fields includes model: browsers name models this cannot check "
                "(the service logs a WARNING for a retiring one)",
            )
        )
    return lines


def model_check(where: str, model: str, today: dt.date) -> Check:
    """One configured model against the lifecycle table (and the names the package knows: a typo warns)."""
    row = shutdown_of(model)
    note = unknown_model_note(model)
    if note is not None:
        return Check("models", WARN, f"{where}: {note}")
    if row is None:
        return Check("models", OK, f"{where}: {model} (no shutdown announced)")
    days = (row.date - today).days
    if days <= 0:
        return Check("models", FAIL, f"{where}: {model} was shut down on {row.date}; use {row.replacement}")
    return Check("models", WARN, f"{where}: {model} shuts down on {row.date} (in {days} days); use {row.replacement}")


def check_api_key(deployment: Deployment) -> list[Check]:
    """The key is set, and with ``--check-key`` the API accepts it (one 10-second key minted, never used)."""
    try:
        settings = deployment.realtime_settings()
    except ConfigurationError:
        return [Check("api key", FAIL, "not checked: the realtime config does not load")]
    if not settings.api_key:
        try:
            settings.require_api_key()
        except ConfigurationError as exc:
            return [Check("api key", FAIL, str(exc))]
    source = "config key api_key" if deployment.realtime.get("api_key") else "the environment"
    if not deployment.check_key:
        return [Check("api key", OK, f"set (from {source}); not sent to the API (--check-key does)")]
    return [probe_key(deployment, source)]


def probe_key(deployment: Deployment, source: str) -> Check:
    """Mint the cheapest thing there is: a key that lives 10 seconds and starts no session (nothing billed)."""
    from .containers import RealtimeContainer

    try:
        model = deployment.server_settings().session.model
    except ConfigurationError:
        model = None
    session: dict[str, Any] = {"type": "realtime", **({"model": model} if model else {})}
    container = RealtimeContainer(environ=deployment.environ)
    container.config.from_dict({**deployment.realtime, "retry": {"max_retries": 0}})
    try:
        response = container.realtime_session_service().create_client_secret(
            {"session": session, "expires_after": {"anchor": "created_at", "seconds": 10}}
        )
    except APIStatusError as exc:
        where = f"{exc.status_code} {exc.code or exc.type or ''}".strip()
        if exc.status_code in (401, 403):
            return Check(
                "api key", FAIL, f"set (from {source}) but the API refused it: {where} (request_id={exc.request_id})"
            )
        return Check("api key", WARN, f"accepted, but the test mint failed: {where}: {exc.message}")
    except APIConnectionError as exc:
        try:
            settings = deployment.realtime_settings()
            url = f" at {settings.base_url}{settings.paths['client_secrets']}"
        except ConfigurationError:
            url = ""
        return Check("api key", FAIL, f"not checked: no answer from the API{url} ({type(exc).__name__}: {exc})")
    except RealtimeServiceError as exc:
        return Check("api key", FAIL, f"not checked: {type(exc).__name__}: {exc}")
    finally:
        container.shutdown_resources()
    return Check(
        "api key",
        OK,
        f"set (from {source}) and accepted: a 10-second key was minted (request_id={response.request_id})",
    )


def check_webhook_secret(deployment: Deployment) -> list[Check]:
    """Where the config serves a webhook path, its signing secret is set (else every delivery is refused)."""
    routes = [key for key in WEBHOOK_ROUTE_KEYS if _enabled(deployment.server.get(key))]
    if not routes:
        return [Check("webhook secret", OK, "no webhook path served (server.webhook_path/phone not set)")]
    served = ", ".join(f"server.{key}" for key in routes)
    secrets = _webhook_secrets(deployment)
    if not secrets:
        return [
            Check(
                "webhook secret",
                FAIL,
                f"{served} is served but neither {WEBHOOK_SECRET_VARIABLE} nor "
                "server.phone.webhook_secret (or server.webhook_secret) is set: every delivery would be refused",
            )
        ]
    if not all(secret.startswith("whsec_") for secret in secrets):
        return [Check("webhook secret", WARN, f"set for {served}, but not in OpenAI's whsec_... form")]
    return [Check("webhook secret", OK, f"set for {served} ({len(secrets)} secret(s))")]


def _webhook_secrets(deployment: Deployment) -> list[str]:
    """``server.phone.webhook_secret`` (one or a list), else ``server.webhook_secret``, else the environment's
    (comma- or space-separated, as :mod:`realtime_service.webhooks.settings` reads it)."""
    phone = deployment.server.get("phone")
    raw: Any = phone.get("webhook_secret") if isinstance(phone, Mapping) else None
    raw = raw or deployment.server.get("webhook_secret") or deployment.environ.get(WEBHOOK_SECRET_VARIABLE, "")
    if isinstance(raw, str):
        raw = raw.replace(",", " ").split()
    return [str(secret) for secret in raw or ()]


def check_phone_settings(deployment: Deployment) -> list[Check]:
    """``server.phone``, when present, loads as the phone-call settings (its secrets decode, its keys exist)."""
    phone = deployment.server.get("phone")
    if not _enabled(phone):
        return []
    from .webhooks.settings import load_phone_settings

    try:
        settings = load_phone_settings(phone if isinstance(phone, Mapping) else {}, deployment.environ)
    except ConfigurationError as exc:
        return [Check("phone config", FAIL, str(exc))]
    return [Check("phone config", OK, f"loads (webhooks at {settings.path})")]


def _enabled(value: Any) -> bool:
    if isinstance(value, Mapping):
        return value.get("enabled", True) is not False
    return bool(value)


def check_rate_limit_storage(deployment: Deployment) -> list[Check]:
    """The rate-limit storage answers: with Redis down the endpoint refuses every mint (fails closed)."""
    try:
        settings = deployment.server_settings()
    except ConfigurationError:
        return [Check("rate-limit storage", FAIL, "not checked: the server config does not load")]
    if settings.rate_limit is None:
        return [Check("rate-limit storage", WARN, "server.rate_limit is off: anyone who can mint, mints unlimited")]
    where = _safe_url(settings.rate_limit_storage)
    try:
        from .web.admission.ratelimit import IdentityRateLimiter
    except ImportError as exc:
        return [
            Check(
                "rate-limit storage",
                FAIL,
                f"not checked: {exc.name} is not installed (pip install 'realtime-service[server]')",
            )
        ]
    try:
        limiter = IdentityRateLimiter(settings.rate_limit, settings.rate_limit_storage, settings.rate_limit_strategy)
    except ConfigurationError as exc:
        return [Check("rate-limit storage", FAIL, str(exc))]
    try:
        answers = limiter.check()
    finally:
        limiter.close()
    if not answers:
        return [Check("rate-limit storage", FAIL, f"{where} does not answer: every mint would be refused")]
    if limiter.in_memory:
        return [Check("rate-limit storage", OK, f"{where} (one budget per process: use redis:// for --workers > 1)")]
    return [Check("rate-limit storage", OK, f"{where} answers")]


def _safe_url(url: str) -> str:
    """``redis://host:port/db`` without user or password."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def check_allowed_hosts(deployment: Deployment) -> list[Check]:
    """``server.allowed_hosts`` (optional) is a list of host names that can match a browser's Host header."""
    if "allowed_hosts" not in deployment.server or deployment.server["allowed_hosts"] is None:
        return [Check("allowed hosts", WARN, "server.allowed_hosts is not set: the Host header is not pinned")]
    hosts = deployment.server["allowed_hosts"]
    if isinstance(hosts, str):
        hosts = [hosts]
    if not isinstance(hosts, list | tuple) or not all(isinstance(h, str) for h in hosts):
        return [Check("allowed hosts", FAIL, "server.allowed_hosts must be a list of host names")]
    if not hosts:
        return [Check("allowed hosts", FAIL, "server.allowed_hosts is empty: every request would be refused")]
    bad = [h for h in hosts if not _host_pattern(h)]
    if bad:
        return [
            Check(
                "allowed hosts",
                FAIL,
                f"not host names: {', '.join(map(repr, bad))} (no scheme, path, spaces or bare wildcard)",
            )
        ]
    if "*" in hosts:
        return [Check("allowed hosts", WARN, "server.allowed_hosts contains '*': any Host is accepted")]
    return [Check("allowed hosts", OK, ", ".join(hosts))]


def _host_pattern(host: str) -> bool:
    if host == "*":
        return True
    name = host[2:] if host.startswith("*.") else host.lstrip(".")
    if not name or any(c in name for c in "/?#@ \t") or "://" in host:
        return False
    hostname, _, port = name.rpartition(":") if name.count(":") == 1 else (name, "", "")
    return bool(hostname) and (not port or port.isdigit())


def check_metrics(deployment: Deployment) -> list[Check]:
    """Whether ``serve`` answers Prometheus scrapes and where (``server.metrics``), and that the extra it needs is
    installed (``serve`` refuses to start without it); an address open beyond a private network warns (the
    listener has no authentication)."""
    from .observability import metrics

    try:
        settings = deployment.server_settings().metrics
    except ConfigurationError:
        return [Check("metrics", FAIL, "not checked: the server config does not load")]
    if settings is None:
        return [Check("metrics", OK, "off (server.metrics not set)")]
    host = f"[{settings.address}]" if ":" in settings.address else settings.address
    where = f"http://{host}:{settings.port}/metrics"
    if not metrics.available():
        return [
            Check(
                "metrics",
                FAIL,
                f"server.metrics is {where} but prometheus-client is not installed: serve would refuse to start "
                f"(pip install '{metrics.EXTRA}')",
            )
        ]
    shown = f"on at {where} (prometheus-client {_version('prometheus-client')}), apart from the public port"
    try:
        address = ipaddress.ip_address(settings.address)
    except ValueError:  # a host name: where it resolves is the host's business
        return [Check("metrics", OK, shown)]
    if address.is_unspecified or not (address.is_loopback or address.is_private):
        return [
            Check(
                "metrics",
                WARN,
                f"{shown}; {settings.address} is not a loopback or private address and the listener has no "
                "authentication: keep it from the internet",
            )
        ]
    return [Check("metrics", OK, shown)]


def check_tracing(deployment: Deployment) -> list[Check]:
    """Whether ``serve`` will make OpenTelemetry spans: the API must be importable (the ``tracing`` extra), and
    spans go somewhere only under a real tracer provider, which ``serve`` never sets itself: the host's choice
    (``opentelemetry-instrument``, ``OTEL_PYTHON_TRACER_PROVIDER``). Run ``doctor`` the way ``serve`` runs and
    this process has the provider ``serve`` would have."""
    from .observability import tracing

    try:
        from opentelemetry import trace
    except ImportError:
        return [Check("tracing", OK, f"off: opentelemetry-api is not installed (pip install '{tracing.EXTRA}')")]
    api = f"opentelemetry-api {_version('opentelemetry-api') or '(version unknown)'}"
    provider = trace.get_tracer_provider()  # the one serve's spans would go to, started the same way
    if not isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
        kind = f"{type(provider).__module__}.{type(provider).__name__}"
        return [Check("tracing", OK, f"on: {api}, spans go to {kind} (serve started the same way does the same)")]
    sdk = _version("opentelemetry-sdk")
    return [
        Check(
            "tracing",
            OK,
            f"available ({api}, {f'opentelemetry-sdk {sdk}' if sdk else 'no opentelemetry-sdk'}) but no tracer "
            "provider is configured: serve's spans go nowhere unless it runs under one (opentelemetry-instrument, "
            "OTEL_PYTHON_TRACER_PROVIDER)",
        )
    ]


def _version(distribution: str) -> str | None:
    """The installed version of ``distribution``, or ``None`` when it is not installed (nothing is imported)."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


#: The checks, in the order they print.
CHECKS: tuple[Callable[[Deployment], list[Check]], ...] = (
    check_settings,
    check_models,
    check_api_key,
    check_webhook_secret,
    check_phone_settings,
    check_rate_limit_storage,
    check_allowed_hosts,
    check_metrics,
    check_tracing,
)


def run_checks(deployment: Deployment) -> list[Check]:
    """Every check's lines; a check that raises is reported as failed, never skipped."""
    lines: list[Check] = []
    for check in CHECKS:
        try:
            lines.extend(check(deployment))
        except Exception as exc:  # a doctor must report, not crash
            lines.append(
                Check(
                    check.__name__.removeprefix("check_").replace("_", " "),
                    FAIL,
                    f"the check itself failed: {type(exc).__name__}: {exc}",
                )
            )
    return lines


def load_deployment_config(path: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``realtime:`` and ``server:`` sub-trees of ``path`` (serve's layout), or a file of realtime keys
    (the minting commands' layout): the reader every command's ``--config`` shares."""
    if path is None:
        return {}, {}
    sections = load_config_file(path)
    return sections["realtime"], sections["server"]


def plural(count: int, noun: str) -> str:
    """``1 warning``, ``2 warnings``, ``0 warnings``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="realtime-service doctor",
        description="Check a deployment before it goes live, one line and one verdict (ok, warn, fail) per "
        "check. Exit 0: nothing failed (warnings allowed); 1: a check failed; 2: usage or unreadable config.",
        epilog=exit_codes_epilog(),
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--config", metavar="FILE", help="YAML: serve's realtime:/server: file, or realtime keys")
    parser.add_argument(
        "--check-key", action="store_true", help="send the API key to the API in one cheap call (a 10-second key)"
    )
    return parser


def doctor_main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """``realtime-service doctor`` inside the CLI's error boundary; returns the exit code."""
    return run(lambda: _doctor(argv, environ), "realtime-service doctor")


def _doctor(argv: Sequence[str] | None, environ: Mapping[str, str] | None) -> int:
    args = build_parser().parse_args(argv)
    try:
        realtime, server = load_deployment_config(args.config)
    except ConfigurationError as exc:
        raise CLIError(str(exc)) from None
    deployment = Deployment(realtime, server, os.environ if environ is None else environ, check_key=args.check_key)
    lines = run_checks(deployment)
    secrets = deployment.secrets()
    width = max(len(line.name) for line in lines)
    for line in lines:
        print(scrub(f"{line.verdict:<4}  {line.name:<{width}}  {line.detail}", secrets))
    failed = sum(line.verdict == FAIL for line in lines)
    warned = sum(line.verdict == WARN for line in lines)
    print(f"{plural(len(lines), 'check')}: {failed} failed, {plural(warned, 'warning')}")
    return EXIT_FAILED if failed else EXIT_OK
