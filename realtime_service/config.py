"""Settings: package defaults < environment < explicit configuration, merged in one place.

dependency-injector's ``Configuration(default=...)`` is lost when a host nests our container with
``config=config.realtime``, and ``from_env`` overwrites explicit values and writes ``None`` for unset variables.
So the container hands the raw explicit mapping to :func:`load_settings`, which does the whole merge.
"""

from __future__ import annotations

import copy
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .errors import ConfigurationError
from .redaction import redact

DEFAULTS: dict[str, Any] = {
    "api_key": None,
    "base_url": "https://api.openai.com/v1",
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

#: Config key -> environment variable that fills it when the key is not set explicitly.
ENVIRONMENT: dict[str, str] = {
    "api_key": "OPENAI_API_KEY",
    "base_url": "OPENAI_BASE_URL",
    "organization": "OPENAI_ORG_ID",
    "project": "OPENAI_PROJECT_ID",
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
class Settings:
    """The resolved configuration. ``repr`` shows the key redacted."""

    api_key: str | None = field(repr=False)
    base_url: str
    organization: str | None
    project: str | None
    allow_insecure_http: bool
    verify: bool | str | None
    proxies: Mapping[str, str] | None
    max_response_bytes: int
    timeout: Timeouts
    retry: RetrySettings
    pool_maxsize: int

    def __repr__(self) -> str:
        return (
            f"Settings(api_key={redact(self.api_key)!r}, base_url={self.base_url!r}, "
            f"organization={self.organization!r}, project={self.project!r}, timeout={self.timeout!r}, "
            f"retry={self.retry!r}, pool_maxsize={self.pool_maxsize!r})"
        )

    def require_api_key(self) -> str:
        """The API key, or a ConfigurationError that says where to set it."""
        if not self.api_key:
            raise ConfigurationError(
                "api_key is not set: set the config key 'api_key' or the environment variable OPENAI_API_KEY"
            )
        return self.api_key


def load_settings(explicit: Mapping[str, Any] | None, environ: Mapping[str, str]) -> Settings:
    """Merge package defaults < ``environ`` < ``explicit`` and check every value.

    ``None`` in ``explicit`` means "not set" (YAML's empty values), so the environment can still fill it.
    """
    merged = copy.deepcopy(DEFAULTS)
    for key, variable in ENVIRONMENT.items():
        value = environ.get(variable)
        if value:
            merged[key] = value
    _merge(merged, dict(explicit or {}), path="")
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


def _build(raw: dict[str, Any]) -> Settings:
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
    return Settings(
        api_key=raw["api_key"] or None,
        base_url=base_url,
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
