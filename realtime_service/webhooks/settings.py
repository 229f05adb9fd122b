"""The phone configuration: the ``server.phone`` sub-tree, checked once when it is loaded.

Defaults < environment (``OPENAI_WEBHOOK_SECRET``) < explicit keys; an unknown key is a ConfigurationError naming
it; ``None`` means "not set". The rate-limit *storage* is not here: phone limits and deduplication use the token
endpoint's ``server.rate_limit_storage`` (passed in by whoever builds them).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ..config import _number
from ..errors import ConfigurationError, WebhookVerificationError
from .callers import parse_limit
from .verify import SECRET_VARIABLE, WebhookVerifier

SESSION_TYPES = ("realtime", "live")
#: ``server.phone.tools`` and ``server.sideband.tools``: a dotted module path, a colon, a dotted attribute path.
TOOLS_REFERENCE = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")
#: OpenAI redelivers for up to 72 hours (third-party figure, UNCONFIRMED): remember decisions a little longer.
DEFAULT_DECIDED_TTL = 4 * 24 * 3600
#: How long a claim blocks a concurrent delivery of the same event; must exceed the time a decision may take.
DEFAULT_CLAIM_TTL = 60
#: Seconds each upstream attempt of a decision may take, so the endpoint answers in bounded time (OpenAI's own
#: delivery time-out is "a few seconds" per third parties, UNCONFIRMED).
DEFAULT_UPSTREAM_TIMEOUT = 5

DEFAULTS: dict[str, Any] = {
    "path": "/webhooks/openai",
    "webhook_secret": None,
    "tolerance": 300,
    "session": None,
    "rate_limit": None,
    "claim_ttl": DEFAULT_CLAIM_TTL,
    "decided_ttl": DEFAULT_DECIDED_TTL,
    "upstream_timeout": DEFAULT_UPSTREAM_TIMEOUT,
    "tools": None,
}


@dataclass(frozen=True, slots=True)
class PhoneSettings:
    """The resolved ``server.phone`` configuration. ``repr`` never shows a webhook secret."""

    path: str
    webhook_secrets: tuple[str, ...] = field(repr=False)
    tolerance: int
    #: The session to accept every call with (``type`` filled in: ``realtime`` unless given), or ``None``: reject.
    session: Mapping[str, Any] | None = field(hash=False)
    rate_limit: str | None
    claim_ttl: int
    decided_ttl: int
    #: Seconds each upstream attempt of a decision may take (connect and read).
    upstream_timeout: float = DEFAULT_UPSTREAM_TIMEOUT
    #: ``module:attribute`` naming the Toolbox the default router accepts calls with (imported at start-up).
    tools: str | None = None

    @property
    def session_type(self) -> str | None:
        return str(self.session["type"]) if self.session is not None else None

    def verifier(self) -> WebhookVerifier:
        """The verifier for these secrets (built once per endpoint)."""
        try:
            return WebhookVerifier(self.webhook_secrets, tolerance=self.tolerance, environ={})
        except WebhookVerificationError as exc:
            raise ConfigurationError(str(exc).replace("webhook refused (bad_secret): ", "")) from None


def _secrets(raw: Any, environ: Mapping[str, str]) -> tuple[str, ...]:
    if raw is None:
        raw = [part for part in environ.get(SECRET_VARIABLE, "").replace(",", " ").split() if part]
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list | tuple) or not all(isinstance(item, str) and item for item in raw):
        raise ConfigurationError(
            "config key 'server.phone.webhook_secret' must be a webhook secret (whsec_...) or a list of them"
        )
    return tuple(raw)


def _session(raw: Any) -> Mapping[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ConfigurationError("config key 'server.phone.session' must be a mapping (the session to accept with)")
    session = copy.deepcopy(dict(raw))
    session.setdefault("type", "realtime")
    if session["type"] not in SESSION_TYPES:
        raise ConfigurationError(
            f"config key 'server.phone.session.type' must be one of {', '.join(SESSION_TYPES)}, not {session['type']!r}"
        )
    return MappingProxyType(session)


def load_phone_settings(explicit: Mapping[str, Any] | None, environ: Mapping[str, str]) -> PhoneSettings:
    """Merge defaults < ``environ`` < ``explicit`` (the ``server.phone`` mapping) and check every value; the
    secrets are decoded here, so a malformed one fails at start-up, not on the first call."""
    merged = dict(DEFAULTS)
    for key, value in dict(explicit or {}).items():
        if key not in DEFAULTS:
            raise ConfigurationError(f"unknown config key 'server.phone.{key}'")
        if value is not None:
            merged[key] = value
    path = merged["path"]
    if not isinstance(path, str) or not path.startswith("/"):
        raise ConfigurationError("config key 'server.phone.path' must be a path starting with '/'")
    rate_limit = merged["rate_limit"]
    if rate_limit is False or (isinstance(rate_limit, str) and rate_limit.strip().lower() == "off"):
        rate_limit = None
    if rate_limit is not None:
        if not isinstance(rate_limit, str):
            raise ConfigurationError("config key 'server.phone.rate_limit' must be a string such as '5/hour'")
        parse_limit(rate_limit)
    tools = merged["tools"]
    if tools is not None and (not isinstance(tools, str) or not TOOLS_REFERENCE.fullmatch(tools.strip())):
        raise ConfigurationError("config key 'server.phone.tools' must be 'module:attribute' (a Toolbox)")
    settings = PhoneSettings(
        path=path.rstrip("/") or "/",
        webhook_secrets=_secrets(merged["webhook_secret"], environ),
        tolerance=int(_number(merged["tolerance"], "server.phone.tolerance", integer=True)),
        session=_session(merged["session"]),
        rate_limit=rate_limit,
        claim_ttl=int(_number(merged["claim_ttl"], "server.phone.claim_ttl", minimum=1, integer=True)),
        decided_ttl=int(_number(merged["decided_ttl"], "server.phone.decided_ttl", minimum=1, integer=True)),
        upstream_timeout=float(_number(merged["upstream_timeout"], "server.phone.upstream_timeout", minimum=0.1)),
        tools=tools.strip() if tools is not None else None,
    )
    if settings.webhook_secrets:
        settings.verifier()
    return settings
