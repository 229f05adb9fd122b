"""Who is asking: ``server.auth: none | bearer | hook``.

An identity is a short string used in the access log and as the rate-limit key; it never holds a secret.

- ``none``: the caller is its client address (``anon:127.0.0.1``). For local development: ``serve`` refuses a
  non-loopback address with it unless ``server.allow_anonymous: true``.
- ``bearer``: ``Authorization: Bearer <token>`` compared in constant time against every configured token; the
  identity is the token's configured name (``bearer:mobile-app``).
- ``hook``: the container's ``authenticate`` provider is called with the :class:`WebRequest` and returns an
  identity or ``None`` (it may be ``async``). Host apps override it with their session or JWT check.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import logging
import threading
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from realtime_service.errors import ConfigurationError

from ..messages import WebRequest
from ..settings import ServerSettings

logger = logging.getLogger("realtime_service.web")

Identity = str
#: ``authenticate(request) -> identity | None``, or an awaitable of it.
AuthHook = Callable[[WebRequest], "Identity | Awaitable[Identity | None] | None"]

_hooks: dict[str, Callable[..., Any]] = {}
_hooks_lock = threading.Lock()
_warned = threading.Event()


def import_hook(dotted: str) -> Callable[..., Any]:
    """``package.module:function`` -> the function (imported once)."""
    with _hooks_lock:
        if dotted not in _hooks:
            module_name, _, attribute = dotted.partition(":")
            try:
                hook = getattr(importlib.import_module(module_name), attribute)
            except (ImportError, AttributeError) as exc:
                raise ConfigurationError(f"server.auth_hook {dotted!r} cannot be imported: {exc}") from None
            if not callable(hook):
                raise ConfigurationError(f"server.auth_hook {dotted!r} is not callable")
            _hooks[dotted] = hook
        return _hooks[dotted]


def configured_hook(request: WebRequest, settings: ServerSettings) -> Identity | Awaitable[Identity | None] | None:
    """The default ``authenticate`` provider: ``server.auth_hook`` if set, else deny everyone (and say so once).

    Host apps replace it: ``container.authenticate.override(providers.Callable(check_session, db=db))``.
    """
    if settings.auth_hook:
        result: Identity | Awaitable[Identity | None] | None = import_hook(settings.auth_hook)(request)
        return result
    if not _warned.is_set():
        _warned.set()
        logger.warning(
            "server.auth is hook but no authenticate hook is configured: every request is refused "
            "(override the container's authenticate provider, or set server.auth_hook)"
        )
    return None


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


class BearerTokens:
    """Constant-time lookup of a presented bearer token among the configured ones.

    Every configured token is compared (fixed-length SHA-256 digests, ``hmac.compare_digest``), with no early
    exit, so the time taken says nothing about which token, or how much of one, matched.
    """

    def __init__(self, tokens: Mapping[str, str]) -> None:
        self._digests = [(name, _digest(token)) for name, token in tokens.items()]

    def identify(self, authorization: str | None) -> Identity | None:
        scheme, _, presented = (authorization or "").strip().partition(" ")
        presented = presented.strip()
        if scheme.lower() != "bearer" or not presented:
            return None
        digest = _digest(presented)
        found: str | None = None
        for name, expected in self._digests:
            if hmac.compare_digest(digest, expected):
                found = name
        return f"bearer:{found}" if found is not None else None


class Authenticator:
    """One route's authentication under ``server.auth``: :meth:`start` gives an identity, ``None`` (refused),
    or, from a hook, an awaitable of one; :meth:`finish` checks what a hook returned."""

    def __init__(self, scheme: str, tokens: Mapping[str, str], hook: Callable[[WebRequest], Any]) -> None:
        self.scheme = scheme
        self._bearer = BearerTokens(tokens)
        self._hook = hook

    def start(self, request: WebRequest, client: str) -> Any:
        if self.scheme == "none":
            return "anon:" + client
        if self.scheme == "bearer":
            return self._bearer.identify(request.header("authorization"))
        return self._hook(request)

    def finish(self, result: Any) -> Identity | None:
        if self.scheme != "hook":
            return result if isinstance(result, str) else None
        if result is None or result is False:
            return None
        if not isinstance(result, str) or not result:
            raise TypeError(f"authenticate hook returned {type(result).__name__}")
        return "hook:" + result

    @property
    def challenge(self) -> list[tuple[str, str]]:
        """The ``WWW-Authenticate`` header of a 401."""
        return [("WWW-Authenticate", 'Bearer realm="realtime-service"')] if self.scheme == "bearer" else []
