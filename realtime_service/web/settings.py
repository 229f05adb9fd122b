"""The token server's configuration: the ``server:`` sub-tree, beside ``realtime:`` (which configures the service).

Same rules as :mod:`realtime_service.config`: package defaults < environment < explicit keys; an unknown key is a
``ConfigurationError`` naming it; ``None`` means "not set". Every value is checked once, here, so the endpoint
never meets a malformed setting at request time.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from realtime_service.config import _choice, _flag, _number
from realtime_service.errors import ConfigurationError
from realtime_service.redaction import SECRETS
from realtime_service.wire.controls import forbidden_character

from ..webhooks.decisions import delegation_with_tools
from ..webhooks.router import load_delegate, load_toolbox
from ..webhooks.settings import TOOLS_REFERENCE, PhoneSettings, load_phone_settings
from ..webhooks.verify import SECRET_VARIABLE
from .authority import canonical_origin, split_host

#: The session fields the policy knows, in the endpoint's own (shape-neutral) names.
SESSION_FIELDS = ("model", "voice", "instructions", "tools", "turn_detection", "ttl")
AUTH_SCHEMES = ("none", "bearer", "hook")
STRATEGIES = ("moving-window", "fixed-window", "sliding-window-counter")
FRAMEWORKS = ("flask", "fastapi")
#: ``server.log_format``: today's one text line per record, or one JSON object per line (:mod:`.servers.logs`).
LOG_FORMATS = ("text", "json")
#: ``server.log_level``: every logger at this level; unset, the package's loggers keep their own levels.
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
#: Where ``POST <session_path>`` sends the browser's offer: ``POST /realtime/calls`` or ``POST /live/sessions``.
VOICE_APIS = ("realtime", "live")
#: The GPT-Live model of ``/session`` under ``voice_api: live`` when ``server.session.model`` is not set.
LIVE_MODEL = "gpt-live-1.1"
MIN_TTL = 10  # the API's minimum for expires_after.seconds
MAX_TTL = 7200  # and its maximum
MIN_TOKEN_LENGTH = 16

#: Environment variable holding bearer tokens when ``server.bearer_tokens`` is not set: ``name=token,...``.
TOKENS_VARIABLE = "REALTIME_SERVICE_TOKENS"

DEFAULTS: dict[str, Any] = {
    "path": "/token",
    "session_path": "/session",
    "voice_api": "realtime",
    "max_call_seconds": None,
    "auth": "none",
    "bearer_tokens": None,
    "auth_hook": None,
    "allow_anonymous": False,
    "rate_limit": "10/minute;200/day",
    "call_rate_limit": None,
    "rate_limit_storage": "memory://",
    "rate_limit_strategy": "moving-window",
    "trust_forwarded": 0,
    "cors_origins": [],
    "cors_credentials": False,
    "browser_fields": ["voice"],
    "max_ttl": 600,
    "max_body_bytes": 16 * 1024,
    "allowed_hosts": None,
    "auth_failure_limit": "20/minute;200/hour",
    "ipv4_prefix": 32,
    "ipv6_prefix": 64,
    "max_header_bytes": 32 * 1024,
    "request_timeout": 10,
    "idle_timeout": 30,
    "connection_limit": 2048,
    "session": {
        "model": "gpt-realtime-2.1",
        "voice": "marin",
        "instructions": None,
        "tools": None,
        "turn_detection": None,
        "ttl": 60,
    },
    "framework": "flask",
    "threads": 16,
    "shutdown_timeout": 30,
    "demo": True,
    "log_format": "text",
    "log_level": None,
}

#: ``server.sideband``'s keys (off when the key is absent): the toolbox, and on GPT-Live the client delegate and the
#: session's delegation (its Responses model), and an optional call length cap.
SIDEBAND_KEYS = ("tools", "delegate", "delegation", "max_call_seconds")
#: The GPT-Live delegation types ``server.sideband`` can answer: ``responses`` with its tools, ``client`` with its
#: delegate (``decisions`` has nothing on this server to answer it).
SIDEBAND_DELEGATIONS = ("responses", "client")

_OFF = "<off>"
_ORIGIN = re.compile(r"^https?://[^/?#\s]+$")


@dataclass(frozen=True, slots=True)
class SessionDefaults:
    """The server's session configuration. ``None`` means "not sent": the API applies its own default."""

    model: str | None
    voice: str | None
    instructions: str | None
    tools: tuple[Mapping[str, Any], ...] | None
    turn_detection: Mapping[str, Any] | None
    #: ``turn_detection: null`` in config (turn detection off) is kept apart from "not configured".
    turn_detection_off: bool
    ttl: int


@dataclass(frozen=True, slots=True)
class SidebandSettings:
    """``server.sideband``: the server attaches to each call ``/session`` starts, so the browser never needs a key
    to have its tools run. The toolbox and the delegate are imported once, at settings load."""

    #: The ``module:attribute`` reference as configured (``None``: no toolbox, GPT-Live client delegation only).
    tools: str | None
    #: The :class:`~realtime_service.sideband.tools.Toolbox` it names.
    toolbox: Any = field(repr=False, compare=False)
    #: The sideband hangs the call up after this long (``None``: it does not).
    max_call_seconds: float | None = None
    #: GPT-Live only: the ``module:attribute`` of the client ``delegate`` (``None``: none).
    delegate: str | None = None
    #: The callable it names.
    delegate_function: Any = field(default=None, repr=False, compare=False)
    #: GPT-Live only: the session's ``delegation`` as ``/session`` sends it (``responses`` with the toolbox's tools,
    #: or ``client``); the browser's query cannot change it. ``None`` on Realtime.
    delegation: Mapping[str, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def delegation_type(self) -> str | None:
        return None if self.delegation is None else str(self.delegation["type"])


@dataclass(frozen=True, slots=True)
class MetricsSettings:
    """``server.metrics``: where ``serve``'s Prometheus listener binds, apart from the public port (whose routes
    never serve metrics). Off when the key is absent."""

    address: str
    port: int


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """The resolved ``server:`` configuration. ``repr`` never shows a bearer token."""

    path: str
    #: ``POST`` here takes a browser's SDP offer (``None``: the signaling route is off). See
    #: :mod:`~realtime_service.web.routes.session.endpoint`.
    session_path: str | None
    voice_api: str
    #: Hang up a call or Live session the server started once it has lasted this long (``None``: never).
    max_call_seconds: float | None
    #: The model of a GPT-Live session: ``server.session.model`` if it was set, else :data:`LIVE_MODEL`.
    live_model: str
    auth: str
    bearer_tokens: Mapping[str, str] = field(repr=False)
    auth_hook: str | None
    allow_anonymous: bool
    #: The budget of keys (``/token``) per identity; ``None``: off.
    rate_limit: str | None
    #: The budget of calls (``/session``) per identity, counted apart from keys; unset in config: the windows
    #: of ``rate_limit``. ``None``: off.
    call_rate_limit: str | None
    rate_limit_storage: str = field(repr=False)  # a redis URL may carry a password
    rate_limit_strategy: str
    trust_forwarded: int
    cors_origins: frozenset[str]
    cors_credentials: bool
    browser_fields: frozenset[str]
    max_ttl: int
    max_body_bytes: int
    #: ``None``: the loopback names, the bound address and the hosts of ``cors_origins`` (see
    #: :mod:`~realtime_service.web.admission.hosts`).
    allowed_hosts: tuple[str, ...] | None
    auth_failure_limit: str | None
    ipv4_prefix: int
    ipv6_prefix: int
    max_header_bytes: int
    request_timeout: float
    idle_timeout: float
    connection_limit: int
    session: SessionDefaults
    framework: str
    threads: int
    shutdown_timeout: float
    demo: bool
    log_format: str
    #: ``None``: the package's loggers at their own levels (access lines and calls at INFO, the rest WARNING).
    log_level: str | None
    #: ``server.phone``: the webhook endpoint and its call router (:mod:`realtime_service.webhooks.settings`).
    phone: PhoneSettings = field(default_factory=lambda: load_phone_settings(None, {}))

    #: ``server.sideband``: attach to each call ``/session`` starts with this toolbox (GPT-Live: or client
    #: delegate) (``None``: off).
    sideband: SidebandSettings | None = None

    #: ``server.metrics``: Prometheus metrics on their own listener (``None``: off).
    metrics: MetricsSettings | None = None

    @property
    def storage_is_memory(self) -> bool:
        return self.rate_limit_storage.startswith("memory://")


def load_server_settings(explicit: Mapping[str, Any] | None, environ: Mapping[str, str]) -> ServerSettings:
    """Merge package defaults < ``environ`` (bearer tokens only) < ``explicit`` and check every value."""
    merged = copy.deepcopy(DEFAULTS)
    tokens = environ.get(TOKENS_VARIABLE)
    if tokens:
        merged["bearer_tokens"] = tokens
    overrides = dict(explicit or {})
    phone = overrides.pop("phone", None)  # its own loader: defaults < OPENAI_WEBHOOK_SECRET < explicit keys
    sideband_raw = overrides.pop("sideband", None)
    metrics = _metrics(overrides.pop("metrics", None))
    if phone is not None and not isinstance(phone, Mapping):
        raise ConfigurationError("config key 'server.phone' must be a mapping")
    _merge(merged, overrides, path="server.")
    register_secrets(merged, phone, environ)
    chosen_session = overrides.get("session")
    model_set = isinstance(chosen_session, Mapping) and chosen_session.get("model") is not None
    built = _build(merged, live_model_set=model_set)
    sideband = _sideband(sideband_raw, built.voice_api)
    return dataclasses.replace(built, phone=load_phone_settings(phone, environ), sideband=sideband, metrics=metrics)


def _metrics(raw: Any) -> MetricsSettings | None:
    """``server.metrics``: absent or ``null`` is off; else ``{address: 127.0.0.1, port: N}`` (the address
    defaults to loopback; the port is required and fixed, 1..65535, so a scraper knows where to look)."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ConfigurationError("config key 'server.metrics' must be a mapping with 'port' (or absent: off)")
    unknown = sorted(str(key) for key in raw if key not in ("address", "port"))
    if unknown:
        raise ConfigurationError(f"unknown config key 'server.metrics.{unknown[0]}'")
    address = raw.get("address", "127.0.0.1")
    if not isinstance(address, str) or not address or any(ch.isspace() or ch in "/[]" for ch in address):
        raise ConfigurationError("config key 'server.metrics.address' must be an IP address or host name to bind")
    port = raw.get("port")
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ConfigurationError(f"config key 'server.metrics.port' must be a port number 1..65535, not {port!r}")
    return MetricsSettings(address, port)


def _sideband(raw: Any, voice_api: str) -> SidebandSettings | None:
    """``server.sideband``: absent or ``null`` is off; else a mapping with ``tools`` (``module:attribute``, a
    Toolbox, imported now so a bad reference fails at start-up, naming the setting) and ``max_call_seconds``; on
    GPT-Live also ``delegate`` (client delegation) and ``delegation`` (:func:`_live_sideband_delegation`)."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ConfigurationError("config key 'server.sideband' must be a mapping with 'tools' (or absent: off)")
    unknown = sorted(str(key) for key in raw if key not in SIDEBAND_KEYS)
    if unknown:
        raise ConfigurationError(f"unknown config key 'server.sideband.{unknown[0]}'")
    tools, delegate = raw.get("tools"), raw.get("delegate")
    live = voice_api == "live"
    if not live:
        for key in ("delegate", "delegation"):
            if raw.get(key) is not None:
                raise ConfigurationError(
                    f"config key 'server.sideband.{key}' is for GPT-Live sessions (server.voice_api: live); a "
                    "Realtime call's tools go in 'server.sideband.tools'"
                )
    elif tools is None and delegate is None:
        raise ConfigurationError(
            "config key 'server.sideband' under server.voice_api: live needs 'tools' (a Toolbox, answered through "
            "Responses delegation) or 'delegate' (module:attribute, a function answering client delegation)"
        )
    toolbox = None
    if tools is not None or not live:
        if not isinstance(tools, str) or not TOOLS_REFERENCE.fullmatch(tools.strip()):
            raise ConfigurationError("config key 'server.sideband.tools' must be 'module:attribute' (a Toolbox)")
        tools = tools.strip()
        toolbox = load_toolbox(tools, setting="server.sideband.tools")
    function = None
    if delegate is not None:
        if not isinstance(delegate, str) or not TOOLS_REFERENCE.fullmatch(delegate.strip()):
            raise ConfigurationError(
                "config key 'server.sideband.delegate' must be 'module:attribute' (a function taking a "
                "DelegationContext)"
            )
        delegate = delegate.strip()
        function = load_delegate(delegate, setting="server.sideband.delegate")
    limit = raw.get("max_call_seconds")
    seconds = None if limit is None else _positive(limit, "server.sideband.max_call_seconds")
    delegation = _live_sideband_delegation(raw.get("delegation"), toolbox, function) if live else None
    return SidebandSettings(
        tools=tools,
        toolbox=toolbox,
        max_call_seconds=seconds,
        delegate=delegate,
        delegate_function=function,
        delegation=delegation,
    )


def _live_sideband_delegation(raw: Any, toolbox: Any, delegate: Any) -> dict[str, Any]:
    """The GPT-Live session's ``delegation`` under ``server.sideband`` (the shape of ``server.phone.session``'s
    ``delegation``, SIDEBAND-NOTES 3.6): a session has one delegation mode, so a toolbox takes ``responses`` (its
    ``responses.model`` named; the toolbox's tools added as the phone path adds them) and a delegate ``client``
    (the default when only ``delegate`` is set); both at once, or a mode nothing here answers, is refused."""
    if toolbox is not None and delegate is not None:
        raise ConfigurationError(
            "config keys 'server.sideband.tools' and 'server.sideband.delegate' are both set: a GPT-Live session "
            "has one delegation mode (tools answer 'responses' delegation, a delegate 'client' delegation); set one"
        )
    wanted = "responses" if toolbox is not None else "client"
    if raw is None:
        raw = {"type": wanted}
    if not isinstance(raw, Mapping):
        raise ConfigurationError(
            "config key 'server.sideband.delegation' must be a mapping such as "
            "{type: responses, responses: {model: ...}} (the Live session's delegation)"
        )
    kind = raw.get("type", wanted)
    if kind not in SIDEBAND_DELEGATIONS:
        raise ConfigurationError(
            "config key 'server.sideband.delegation.type' must be 'responses' (with 'tools') or 'client' (with "
            "'delegate')"
        )
    if kind != wanted:
        given = "tools" if toolbox is not None else "delegate"
        raise ConfigurationError(
            f"config key 'server.sideband.delegation.type' is {kind!r}, but 'server.sideband.{given}' answers "
            f"{wanted!r} delegation only: nothing would answer the session's delegations"
        )
    delegation = {"type": kind, **{key: value for key, value in copy.deepcopy(dict(raw)).items() if key != "type"}}
    if kind == "client":
        if "responses" in delegation:
            raise ConfigurationError("config key 'server.sideband.delegation.responses' is for 'responses' delegation")
        return delegation
    responses = delegation.get("responses")
    if responses is None:
        responses = delegation["responses"] = {}
    if not isinstance(responses, Mapping):
        raise ConfigurationError("config key 'server.sideband.delegation.responses' must be a mapping")
    model = responses.get("model")
    if not isinstance(model, str) or not model.strip():
        raise ConfigurationError(
            "config key 'server.sideband.delegation.responses.model' must name the Responses model that calls the "
            "toolbox's tools (server.voice_api: live), e.g. {type: responses, responses: {model: gpt-5.2}}"
        )
    return delegation_with_tools(delegation, toolbox)


def register_secrets(merged: Mapping[str, Any], phone: Mapping[str, Any] | None, environ: Mapping[str, str]) -> None:
    """Feed :data:`~realtime_service.redaction.SECRETS` every secret of the ``server:`` tree before it is checked
    (a refusal must not print one): the bearer tokens, the rate-limit storage's password, and each webhook
    secret, current and rotated, from ``server.phone.webhook_secret`` or ``OPENAI_WEBHOOK_SECRET``."""
    for raw in (merged.get("bearer_tokens"), environ.get(TOKENS_VARIABLE)):
        values: Any = raw.values() if isinstance(raw, Mapping) else raw
        if isinstance(values, str):
            values = [part.partition("=")[2] or part for part in values.split(",")]
        for token in values if isinstance(values, Iterable) else ():
            SECRETS.add(token.strip() if isinstance(token, str) else None)
    storage = merged.get("rate_limit_storage")
    SECRETS.add_url_password(storage if isinstance(storage, str) else None)
    webhook = phone.get("webhook_secret") if isinstance(phone, Mapping) else None
    if webhook is None:
        webhook = environ.get(SECRET_VARIABLE, "").replace(",", " ").split()
    for secret in [webhook] if isinstance(webhook, str) else webhook if isinstance(webhook, list | tuple) else ():
        SECRETS.add_webhook_secret(secret if isinstance(secret, str) else None)


def _merge(into: dict[str, Any], overrides: Mapping[str, Any], path: str) -> None:
    for key, value in overrides.items():
        dotted = f"{path}{key}"
        if key not in into:
            raise ConfigurationError(f"unknown config key {dotted!r}")
        if value is None:
            if key == "turn_detection":
                into[key] = _OFF  # an explicit null: turn detection off, not "the API's default"
            continue
        if isinstance(into[key], dict) and key != "bearer_tokens":
            if not isinstance(value, Mapping):
                raise ConfigurationError(f"config key {dotted!r} must be a mapping")
            _merge(into[key], value, path=f"{dotted}.")
        else:
            into[key] = value


def _tokens(raw: Any) -> dict[str, str]:
    """``bearer_tokens``: a mapping name -> token, a list of tokens (named ``token-1``...), or the environment's
    ``name=token,token2`` string. The name is the caller's identity in logs and rate limits; the token is not."""
    if raw is None:
        return {}
    if isinstance(raw, str):
        raw = [item.strip() for item in raw.split(",") if item.strip()]
        named: dict[str, str] = {}
        for index, item in enumerate(raw, 1):
            name, sep, token = item.partition("=")
            if sep:
                named[name.strip()] = token.strip()
            else:
                named[f"token-{index}"] = item
        raw = named
    if isinstance(raw, list | tuple):
        raw = {f"token-{index}": token for index, token in enumerate(raw, 1)}
    if not isinstance(raw, Mapping):
        raise ConfigurationError("config key 'server.bearer_tokens' must map names to tokens, or list tokens")
    tokens: dict[str, str] = {}
    for name, token in raw.items():
        if not isinstance(name, str) or not name or not isinstance(token, str):
            raise ConfigurationError("config key 'server.bearer_tokens' must map names to token strings")
        if len(token) < MIN_TOKEN_LENGTH:
            raise ConfigurationError(
                f"bearer token {name!r} is shorter than {MIN_TOKEN_LENGTH} characters: use a random token "
                "(python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        tokens[name] = token
    return tokens


def _origins(raw: Any) -> frozenset[str]:
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list | tuple):
        raise ConfigurationError("config key 'server.cors_origins' must be a list of origins")
    origins = set()
    for origin in raw:
        if (
            not isinstance(origin, str)
            or origin.strip() in {"*", "null"}
            or not _ORIGIN.match(origin.strip())
            or forbidden_character(origin.strip(), ascii_only=True) is not None  # as a browser sends it: ASCII
            or canonical_origin(origin.strip()) is None  # else CorsPolicy would drop it without a word
        ):
            raise ConfigurationError(
                f"config key 'server.cors_origins' holds {origin!r}: each entry must be an origin such as "
                "'https://app.example.com' (scheme://host[:port], no path); wildcards and 'null' are refused"
            )
        parts = urlsplit(origin.strip())
        origins.add(f"{parts.scheme}://{parts.netloc}".lower())
    return frozenset(origins)


def _allowed_host(entry: Any) -> str | None:
    """An ``allowed_hosts`` entry as :class:`~.admission.hosts.HostAllowList` compares it, or ``None`` if it is not
    a host name or address: read by the same parser as a request's ``Host`` (:func:`.authority.split_host`), so
    ``a..b`` or ``example.com:443`` is refused here rather than never matching; an IPv6 address in its one form."""
    if not isinstance(entry, str):
        return None
    text = entry.strip()  # not lower-cased here: split_host refuses what is not ASCII before it lowers
    domain = text.startswith(".")  # ".example.com": that domain and its subdomains
    name = text.removeprefix(".")
    bare = name.strip("[]")
    split = split_host(f"[{bare}]" if ":" in bare and not domain else name)
    if split is None or split[1] is not None or not split[0].removesuffix("."):
        return None
    return ("." if domain else "") + split[0].removesuffix(".")


def _hosts(raw: Any) -> tuple[str, ...] | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list | tuple):
        raise ConfigurationError("config key 'server.allowed_hosts' must be a list of host names")
    hosts = []
    for host in raw:
        name = _allowed_host(host)
        if name is None:
            raise ConfigurationError(
                f"config key 'server.allowed_hosts' holds {host!r}: each entry must be a host name or address "
                "such as 'app.example.com' or '.example.com' (that domain and its subdomains), without port; "
                "'*' is refused"
            )
        hosts.append(name)
    return tuple(hosts)


def _limit(raw: Any, key: str) -> str | None:
    if raw is False or raw is None:  # YAML reads a bare `off` as false
        return None
    if not isinstance(raw, str):
        raise ConfigurationError(f"config key {key!r} must be a string such as '10/minute;200/day', or off")
    return None if raw.strip().lower() == "off" else raw


def _ttl(value: Any, key: str) -> int:
    ttl = int(_number(value, key, minimum=MIN_TTL, integer=True))
    if ttl > MAX_TTL:
        raise ConfigurationError(f"config key {key!r} must be at most {MAX_TTL} seconds, not {value!r}")
    return ttl


def _session(raw: Mapping[str, Any], max_ttl: int) -> SessionDefaults:
    def text(name: str) -> str | None:
        value = raw[name]
        if value is not None and not isinstance(value, str):
            raise ConfigurationError(f"config key 'server.session.{name}' must be a string")
        return value

    tools = raw["tools"]
    if tools is not None and not (isinstance(tools, list) and all(isinstance(t, Mapping) for t in tools)):
        raise ConfigurationError("config key 'server.session.tools' must be a list of tool objects")
    turn_detection = raw["turn_detection"]
    turn_detection_off = turn_detection == _OFF
    if turn_detection_off:
        turn_detection = None
    if turn_detection is not None and not isinstance(turn_detection, Mapping):
        raise ConfigurationError("config key 'server.session.turn_detection' must be a mapping or null")
    ttl = _ttl(raw["ttl"], "server.session.ttl")
    if ttl > max_ttl:
        raise ConfigurationError(f"server.session.ttl ({ttl}) is above server.max_ttl ({max_ttl})")
    return SessionDefaults(
        model=text("model"),
        voice=text("voice"),
        instructions=text("instructions"),
        tools=tuple(dict(t) for t in tools) if tools is not None else None,
        turn_detection=dict(turn_detection) if turn_detection is not None else None,
        turn_detection_off=turn_detection_off,
        ttl=ttl,
    )


def _prefix(value: Any, key: str, bits: int) -> int:
    prefix = int(_number(value, key, minimum=1, integer=True))
    if prefix > bits:
        raise ConfigurationError(f"config key {key!r} must be at most {bits}, not {value!r}")
    return prefix


def _positive(value: Any, key: str) -> float:
    number = float(_number(value, key))
    if number <= 0:
        raise ConfigurationError(f"config key {key!r} must be a positive number of seconds, not {value!r}")
    return number


def _plain_path(path: str) -> bool:
    """A route path as it arrives, unescaped: printable ASCII without a query, fragment, escape or backslash."""
    return forbidden_character(path, ascii_only=True) is None and not any(ch in path for ch in "?#%\\")


def _session_path(raw: Any, token_path: str) -> str | None:
    if raw is False or (isinstance(raw, str) and raw.strip().lower() == "off"):
        return None
    if not isinstance(raw, str) or not raw.startswith("/") or not _plain_path(raw):
        raise ConfigurationError("config key 'server.session_path' must be a path starting with '/', or off")
    path = raw.rstrip("/") or "/"
    if path == token_path:
        raise ConfigurationError(f"server.session_path and server.path are both {path!r}: give each its own")
    return path


def _max_call_seconds(raw: Any) -> float | None:
    if raw is None or raw is False or (isinstance(raw, str) and raw.strip().lower() == "off"):
        return None
    seconds = float(_number(raw, "server.max_call_seconds"))
    if seconds <= 0:
        raise ConfigurationError(f"config key 'server.max_call_seconds' must be a positive number, not {raw!r}")
    return seconds


def _live_terms(session: SessionDefaults, browser_fields: frozenset[str]) -> None:
    """What GPT-Live has no place for (CALLS-LIVE-NOTES 3.1): refused here, not at the first call."""
    for name, value in (("tools", session.tools), ("turn_detection", session.turn_detection)):
        if value is not None or (name == "turn_detection" and session.turn_detection_off):
            raise ConfigurationError(
                f"server.session.{name} has no GPT-Live equivalent (server.voice_api: live): remove it"
            )
    for name in ("tools", "turn_detection"):
        if name in browser_fields:
            raise ConfigurationError(
                f"server.browser_fields names {name!r}, which GPT-Live has no place for (server.voice_api: live)"
            )


def _build(raw: dict[str, Any], *, live_model_set: bool = False) -> ServerSettings:
    path = raw["path"]
    if not isinstance(path, str) or not path.startswith("/") or not _plain_path(path):
        raise ConfigurationError("config key 'server.path' must be a path starting with '/'")
    voice_api = _choice(raw["voice_api"], "server.voice_api", VOICE_APIS)
    auth = _choice(raw["auth"], "server.auth", AUTH_SCHEMES)
    tokens = _tokens(raw["bearer_tokens"])
    if auth == "bearer" and not tokens:
        raise ConfigurationError(
            f"server.auth is bearer but no token is configured: set server.bearer_tokens or {TOKENS_VARIABLE}"
        )
    hook = raw["auth_hook"]
    if hook is not None and (not isinstance(hook, str) or ":" not in hook):
        raise ConfigurationError("config key 'server.auth_hook' must be 'package.module:function'")
    rate_limit = raw["rate_limit"]
    if rate_limit is False:  # YAML reads a bare `off` as false
        rate_limit = None
    if rate_limit is not None and not isinstance(rate_limit, str):
        raise ConfigurationError("config key 'server.rate_limit' must be a string such as '10/minute;200/day'")
    if isinstance(rate_limit, str) and rate_limit.strip().lower() == "off":
        rate_limit = None
    # Unset: the same windows as keys, but its own count (a developer's mints do not use up their calls).
    call_rate_limit = (
        rate_limit if raw["call_rate_limit"] is None else _limit(raw["call_rate_limit"], "server.call_rate_limit")
    )
    storage = raw["rate_limit_storage"]
    if not isinstance(storage, str) or "://" not in storage:
        raise ConfigurationError("config key 'server.rate_limit_storage' must be a URL: memory:// or redis://...")
    browser_fields = raw["browser_fields"]
    if not isinstance(browser_fields, list | tuple) or not all(isinstance(f, str) for f in browser_fields):
        raise ConfigurationError("config key 'server.browser_fields' must be a list of field names")
    unknown = sorted(set(browser_fields) - set(SESSION_FIELDS))
    if unknown:
        raise ConfigurationError(
            f"server.browser_fields names unknown field(s) {', '.join(unknown)}: "
            f"choose from {', '.join(SESSION_FIELDS)}"
        )
    max_ttl = _ttl(raw["max_ttl"], "server.max_ttl")
    session = _session(raw["session"], max_ttl)
    if voice_api == "live":
        _live_terms(session, frozenset(browser_fields))
    return ServerSettings(
        path=path.rstrip("/") or "/",
        session_path=_session_path(raw["session_path"], path.rstrip("/") or "/"),
        voice_api=voice_api,
        max_call_seconds=_max_call_seconds(raw["max_call_seconds"]),
        live_model=(session.model or LIVE_MODEL) if live_model_set else LIVE_MODEL,
        auth=auth,
        bearer_tokens=tokens,
        auth_hook=hook,
        allow_anonymous=_flag(raw["allow_anonymous"], "server.allow_anonymous"),
        rate_limit=rate_limit,
        call_rate_limit=call_rate_limit,
        rate_limit_storage=storage,
        rate_limit_strategy=_choice(raw["rate_limit_strategy"], "server.rate_limit_strategy", STRATEGIES),
        trust_forwarded=int(_number(raw["trust_forwarded"], "server.trust_forwarded", integer=True)),
        cors_origins=_origins(raw["cors_origins"]),
        cors_credentials=_flag(raw["cors_credentials"], "server.cors_credentials"),
        browser_fields=frozenset(browser_fields),
        max_ttl=max_ttl,
        max_body_bytes=int(_number(raw["max_body_bytes"], "server.max_body_bytes", minimum=2, integer=True)),
        allowed_hosts=_hosts(raw["allowed_hosts"]),
        auth_failure_limit=_limit(raw["auth_failure_limit"], "server.auth_failure_limit"),
        ipv4_prefix=_prefix(raw["ipv4_prefix"], "server.ipv4_prefix", 32),
        ipv6_prefix=_prefix(raw["ipv6_prefix"], "server.ipv6_prefix", 128),
        max_header_bytes=int(_number(raw["max_header_bytes"], "server.max_header_bytes", minimum=1024, integer=True)),
        request_timeout=_positive(raw["request_timeout"], "server.request_timeout"),
        idle_timeout=_positive(raw["idle_timeout"], "server.idle_timeout"),
        connection_limit=int(_number(raw["connection_limit"], "server.connection_limit", minimum=1, integer=True)),
        session=session,
        framework=_choice(raw["framework"], "server.framework", FRAMEWORKS),
        threads=int(_number(raw["threads"], "server.threads", minimum=1, integer=True)),
        shutdown_timeout=float(_number(raw["shutdown_timeout"], "server.shutdown_timeout")),
        demo=_flag(raw["demo"], "server.demo"),
        log_format=_choice(raw["log_format"], "server.log_format", LOG_FORMATS),
        log_level=_log_level(raw["log_level"]),
    )


def _log_level(raw: Any) -> str | None:
    """``server.log_level``, upper-cased (``debug`` is ``DEBUG``); ``None``: not set."""
    if raw is None:
        return None
    return _choice(raw.upper() if isinstance(raw, str) else raw, "server.log_level", LOG_LEVELS)
