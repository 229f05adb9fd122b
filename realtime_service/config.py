"""Settings: package defaults < environment < explicit configuration, merged in one place.

dependency-injector's ``Configuration(default=...)`` is lost when a host nests our container with
``config=config.realtime``, and ``from_env`` overwrites explicit values and writes ``None`` for unset variables.
So the container hands the raw explicit mapping to :func:`load_settings`, which does the whole merge.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from .errors import ConfigurationError
from .redaction import SECRETS, redact

DEFAULTS: dict[str, Any] = {
    "provider": "openai",
    "api_shape": "ga",
    "api_key": None,
    "base_url": "https://api.openai.com/v1",
    "api_version": None,
    "auth": {"scheme": None},
    "bridge": {"strict": True, "default_ttl": 60},
    "organization": None,
    "project": None,
    "allow_insecure_http": False,
    "verify": None,
    "proxies": None,
    "max_response_bytes": 1024 * 1024,
    "timeout": {"connect": 5.0, "read": 20.0},
    "retry": {
        "max_retries": 2,
        "initial_delay": 0.5,
        "max_delay": 8.0,
        "max_retry_after": 60.0,
        "total_timeout": 30.0,
    },
    "pool": {"maxsize": 10},
}

#: Config key -> environment variable that fills it when the key is not set explicitly, per provider.
ENVIRONMENT: dict[str, dict[str, str]] = {
    "openai": {
        "api_key": "OPENAI_API_KEY",
        "base_url": "OPENAI_BASE_URL",
        "organization": "OPENAI_ORG_ID",
        "project": "OPENAI_PROJECT_ID",
    },
    "azure": {
        "api_key": "AZURE_OPENAI_API_KEY",
        "base_url": "AZURE_OPENAI_ENDPOINT",
        "api_version": "OPENAI_API_VERSION",
    },
}

PROVIDERS = ("openai", "azure")
API_SHAPES = ("ga", "beta")
AUTH_SCHEMES = ("bearer", "api-key")

#: Operation -> path below ``base_url``, per provider. Azure's classic surface has its own beta paths; its
#: ``/openai/v1`` surface uses OpenAI's. For Azure, ``base_url`` is the resource endpoint
#: (``https://NAME.openai.azure.com``).
PATHS: dict[str, dict[str, str]] = {
    "openai": {
        "sessions": "/realtime/sessions",
        "transcription_sessions": "/realtime/transcription_sessions",
        "client_secrets": "/realtime/client_secrets",
        "translation_client_secrets": "/realtime/translations/client_secrets",
        # SIP call control (issue 13)
        "realtime_call_accept": "/realtime/calls/{call_id}/accept",
        "realtime_call_reject": "/realtime/calls/{call_id}/reject",
        "realtime_call_refer": "/realtime/calls/{call_id}/refer",
        "live_session_accept": "/live/sessions/{session_id}/accept",
        "live_session_reject": "/live/sessions/{session_id}/reject",
        "live_session_refer": "/live/sessions/{session_id}/refer",
        "calls": "/realtime/calls",
        "call_hangup": "/realtime/calls/{call_id}/hangup",
        "live_sessions": "/live/sessions",
        "live_session_hangup": "/live/sessions/{session_id}/hangup",
        # an outbound GPT-Live SIP call: the same path, its own key (Azure documents no GPT-Live SIP)
        "live_outbound_calls": "/live/sessions",
    },
    "azure": {
        "sessions": "/openai/realtimeapi/sessions",
        "transcription_sessions": "/openai/realtimeapi/transcription_sessions",
        "client_secrets": "/openai/v1/realtime/client_secrets",
        "translation_client_secrets": "/openai/v1/realtime/translations/client_secrets",
        # Only reject is documented for Azure (CALLS-LIVE-NOTES 5); the other call controls have no path, so
        # the service refuses them with a ConfigurationError before sending.
        "realtime_call_reject": "/openai/v1/realtime/calls/{call_id}/reject",
        "calls": "/openai/v1/realtime/calls",
        "live_sessions": "/openai/v1/live/sessions",
    },
}

#: Operations a provider is not known to serve, and why: refused with a ``ConfigurationError`` before sending.
#: Azure documents creating calls and Live sessions under ``/openai/v1`` but no hang-up (CALLS-LIVE-NOTES 5).
UNSUPPORTED: dict[str, dict[str, str]] = {
    "openai": {},
    "azure": {
        "call_hangup": "Azure OpenAI documents no POST /openai/v1/realtime/calls/{call_id}/hangup: end the call "
        "from its sideband WebSocket or let the browser close the peer connection",
        "live_outbound_calls": "Azure OpenAI documents no GPT-Live SIP, so no outbound calls: place them with the "
        "OpenAI provider",
        "live_session_hangup": "Azure OpenAI documents no POST /openai/v1/live/sessions/{session_id}/hangup: end "
        "the session from its sideband WebSocket or let the browser close the peer connection",
    },
}


#: Operations whose path answers only with ``?api-version=`` (Azure's classic surface 404s without it).
NEEDS_API_VERSION: dict[str, frozenset[str]] = {
    "openai": frozenset(),
    "azure": frozenset({"sessions", "transcription_sessions"}),
}


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect: float
    read: float


@dataclass(frozen=True, slots=True)
class RetrySettings:
    max_retries: int
    initial_delay: float
    max_delay: float
    max_retry_after: float
    total_timeout: float


@dataclass(frozen=True, slots=True)
class BridgeSettings:
    """How ``create_realtime_session`` maps beta requests onto the GA endpoint."""

    strict: bool
    default_ttl: int


@dataclass(frozen=True, slots=True)
class Settings:
    """The resolved configuration. ``repr`` shows the key redacted."""

    provider: str
    api_shape: str
    api_key: str | None = field(repr=False)
    base_url: str
    api_version: str | None
    auth_scheme: str
    bridge: BridgeSettings
    organization: str | None
    project: str | None
    allow_insecure_http: bool
    verify: bool | str | None
    proxies: Mapping[str, str] | None
    max_response_bytes: int
    timeout: Timeouts
    retry: RetrySettings
    pool_maxsize: int

    @property
    def paths(self) -> dict[str, str]:
        """Operation -> path for this provider."""
        return PATHS[self.provider]

    @property
    def unusable_operations(self) -> dict[str, str]:
        """Operation -> why these settings cannot call it, so the service refuses before sending anything."""
        if self.api_version:
            return {}
        return {
            operation: f"{PATHS[self.provider][operation]} needs an api_version: set the config key 'api_version' "
            "or the environment variable OPENAI_API_VERSION (e.g. 2025-04-01-preview)"
            for operation in sorted(NEEDS_API_VERSION[self.provider])
        }

    @property
    def refused_operations(self) -> dict[str, str]:
        """Every operation the service must refuse before sending, and why: those this provider is not known to
        serve (:data:`UNSUPPORTED`) and those these settings cannot call (:attr:`unusable_operations`)."""
        return {**UNSUPPORTED[self.provider], **self.unusable_operations}

    def __repr__(self) -> str:
        return (
            f"Settings(provider={self.provider!r}, api_shape={self.api_shape!r}, "
            f"api_key={redact(self.api_key)!r}, base_url={self.base_url!r}, "
            f"organization={self.organization!r}, project={self.project!r}, timeout={self.timeout!r}, "
            f"retry={self.retry!r}, pool_maxsize={self.pool_maxsize!r})"
        )

    def require_api_key(self) -> str:
        """The API key, or a ConfigurationError that says where to set it."""
        if not self.api_key:
            variable = ENVIRONMENT[self.provider]["api_key"]
            raise ConfigurationError(
                f"api_key is not set: set the config key 'api_key' or the environment variable {variable}"
            )
        return self.api_key


def load_settings(explicit: Mapping[str, Any] | None, environ: Mapping[str, str]) -> Settings:
    """Merge package defaults < ``environ`` < ``explicit`` and check every value.

    ``None`` in ``explicit`` means "not set" (YAML's empty values), so the environment can still fill it.
    """
    explicit = dict(explicit or {})
    provider = explicit.get("provider") or DEFAULTS["provider"]
    if provider not in PROVIDERS:
        raise ConfigurationError(f"config key 'provider' must be one of {', '.join(PROVIDERS)}, not {provider!r}")
    merged = copy.deepcopy(DEFAULTS)
    for key, variable in ENVIRONMENT[provider].items():
        value = environ.get(variable)
        if value:
            merged[key] = value
    _merge(merged, explicit, path="")
    # Registered before anything is checked: every log line, exception and CLI output of this process redacts it.
    SECRETS.add(merged["api_key"] if isinstance(merged["api_key"], str) else None)
    return _build(merged)


def _merge(into: dict[str, Any], overrides: Mapping[str, Any], path: str) -> None:
    for key, value in overrides.items():
        dotted = f"{path}{key}"
        if key not in into:
            raise ConfigurationError(f"unknown config key {dotted!r}")
        if value is None:
            continue
        if isinstance(into[key], dict):
            if not isinstance(value, Mapping):
                raise ConfigurationError(f"config key {dotted!r} must be a mapping")
            _merge(into[key], value, path=f"{dotted}.")
        else:
            into[key] = value


def _number(value: Any, key: str, *, minimum: float = 0.0, integer: bool = False) -> Any:
    """Accept numbers and numeric strings (environment, YAML), refuse anything below ``minimum``."""
    if isinstance(value, bool):
        raise ConfigurationError(f"config key {key!r} must be a number, not {value!r}")
    try:
        number = int(value) if integer else float(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"config key {key!r} must be a number, not {value!r}") from None
    if number < minimum:
        raise ConfigurationError(f"config key {key!r} must be at least {minimum}, not {value!r}")
    return number


def _flag(value: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"1", "true", "yes", "on", "0", "false", "no", "off"}:
        return value.lower() in {"1", "true", "yes", "on"}
    raise ConfigurationError(f"config key {key!r} must be true or false, not {value!r}")


def _choice(value: Any, key: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ConfigurationError(f"config key {key!r} must be one of {', '.join(choices)}, not {value!r}")
    return str(value)


def _build(raw: dict[str, Any]) -> Settings:
    provider = _choice(raw["provider"], "provider", PROVIDERS)
    default_scheme = "api-key" if provider == "azure" else "bearer"
    base_url = str(raw["base_url"]).rstrip("/")
    allow_insecure_http = _flag(raw["allow_insecure_http"], "allow_insecure_http")
    check_base_url(base_url, allow_insecure_http=allow_insecure_http)
    verify = raw["verify"]
    if verify is not None and not isinstance(verify, bool | str):
        raise ConfigurationError("config key 'verify' must be true, false or a CA bundle path")
    proxies = raw["proxies"]
    if proxies is not None and not (isinstance(proxies, Mapping) and all(isinstance(v, str) for v in proxies.values())):
        raise ConfigurationError("config key 'proxies' must map schemes to proxy URLs")
    timeout, retry = raw["timeout"], raw["retry"]
    api_version = raw["api_version"]
    if api_version is not None and not isinstance(api_version, str):
        raise ConfigurationError("config key 'api_version' must be a string such as '2025-04-01-preview'")
    return Settings(
        provider=provider,
        api_shape=_choice(raw["api_shape"], "api_shape", API_SHAPES),
        api_key=raw["api_key"] or None,
        base_url=base_url,
        api_version=api_version or None,
        auth_scheme=_choice(raw["auth"]["scheme"] or default_scheme, "auth.scheme", AUTH_SCHEMES),
        bridge=BridgeSettings(
            strict=_flag(raw["bridge"]["strict"], "bridge.strict"),
            default_ttl=_number(raw["bridge"]["default_ttl"], "bridge.default_ttl", minimum=10, integer=True),
        ),
        organization=raw["organization"] or None,
        project=raw["project"] or None,
        allow_insecure_http=allow_insecure_http,
        verify=verify,
        proxies=dict(proxies) if proxies is not None else None,
        max_response_bytes=_number(raw["max_response_bytes"], "max_response_bytes", minimum=1, integer=True),
        timeout=Timeouts(
            connect=_number(timeout["connect"], "timeout.connect", minimum=0.001),
            read=_number(timeout["read"], "timeout.read", minimum=0.001),
        ),
        retry=RetrySettings(
            max_retries=_number(retry["max_retries"], "retry.max_retries", integer=True),
            initial_delay=_number(retry["initial_delay"], "retry.initial_delay"),
            max_delay=_number(retry["max_delay"], "retry.max_delay"),
            max_retry_after=_number(retry["max_retry_after"], "retry.max_retry_after"),
            total_timeout=_number(retry["total_timeout"], "retry.total_timeout", minimum=0.001),
        ),
        pool_maxsize=_number(raw["pool"]["maxsize"], "pool.maxsize", minimum=1, integer=True),
    )


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and addresses in 127.0.0.0/8 or ``::1``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(base_url: str, *, allow_insecure_http: bool) -> None:
    """Refuse URLs that would send the key in clear text to another machine."""
    parts = urlsplit(base_url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigurationError(f"base_url must be an http(s) URL with a host, not {base_url!r}")
    if parts.username or parts.password:
        raise ConfigurationError("base_url must not carry credentials")
    if parts.scheme == "http" and not allow_insecure_http and not is_loopback(parts.hostname):
        raise ConfigurationError(
            f"refusing plain http:// base_url to non-loopback host {parts.hostname!r}: "
            "use https or set allow_insecure_http: true"
        )


#: The top-level sections of a config file: ``realtime:`` (these settings) and ``server:`` (``serve``'s).
SECTIONS = ("realtime", "server")


def load_config_file(path: str | Path) -> dict[str, dict[str, Any]]:
    """``{"realtime": {...}, "server": {...}}`` from a YAML config file, for every command's ``--config``.

    One reader for every command, so every shipped file works with every command: a file with ``realtime:``
    and/or ``server:`` sections (config/*.yaml, ``serve``'s layout) or a file of bare ``realtime`` keys
    (``api_key: ...``). Anything unreadable is a one-line :class:`ConfigurationError` naming the file (and the
    line, for YAML syntax, see :func:`load_mapping`); the keys themselves are checked where they are used
    (:func:`load_settings`).
    """
    loaded = load_mapping(path, syntax="YAML")
    if not set(loaded) & set(SECTIONS):
        return {"realtime": dict(loaded), "server": {}}
    unknown = sorted(str(key) for key in set(loaded) - set(SECTIONS))
    if unknown:
        raise ConfigurationError(
            f"{path}: unknown top-level key(s) {', '.join(map(repr, unknown))} (expected realtime:, server:)"
        )
    sections: dict[str, dict[str, Any]] = {}
    for name in SECTIONS:
        value = loaded.get(name)
        if value is not None and not isinstance(value, dict):
            raise ConfigurationError(f"{path}: {name}: must be a mapping of config keys")
        sections[name] = dict(value or {})
    return sections


def load_mapping(source: str | Path, *, syntax: str, option: str | None = None) -> dict[str, Any]:
    """The mapping a command reads from ``source``: a ``--config`` file (``syntax="YAML"``; empty: ``{}``) or a
    ``--request``/``--session`` file (``"JSON"``; ``-`` reads stdin). The one reader of the files commands are
    given, so each mistake is the same one-line :class:`ConfigurationError` (exit 2 at the CLI boundary), naming
    ``option`` when given, the file, and for a syntax error the line and column."""
    label, unreadable = (f"{option} ", f"{option}: cannot read") if option else ("", "cannot read")
    try:
        text = sys.stdin.read() if str(source) == "-" and option else Path(source).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigurationError(f"{unreadable} {source}: not UTF-8 text") from None
    except OSError as exc:
        raise ConfigurationError(f"{unreadable} {source}: {exc.strerror or type(exc).__name__}") from None
    if syntax == "JSON":
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as exc:
            problem = f"{exc.msg} at line {exc.lineno}, column {exc.colno}"
            raise ConfigurationError(f"{label}{source} is not valid JSON: {problem}") from None
        what = "a JSON object"
    else:
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigurationError(f"{label}{source} is not valid YAML: {_yaml_problem(exc)}") from None
        loaded = {} if loaded is None else loaded
        what = "a mapping of config keys"
    if not isinstance(loaded, dict):
        raise ConfigurationError(f"{option or source} must hold {what}, not a {type(loaded).__name__}")
    return loaded


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's multi-line message as one line: the problem and where."""
    problem = getattr(exc, "problem", None) or type(exc).__name__
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return " ".join(f"{problem}{where}".split())
