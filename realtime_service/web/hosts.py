"""The ``Host`` allow-list: the first defence against DNS rebinding.

A page on an attacker's domain that resolves to this server (DNS rebinding) sends ``Host: evil.example``. A
server that answers any ``Host`` lets that page read its answers as same-origin ones. Only the names in
``server.allowed_hosts`` are served; by default the loopback names, the address the server is bound to (added
by ``serve``) and the hosts of ``server.cors_origins``. Any other ``Host`` gets 421 in OpenAI's error shape. A
request with no ``Host`` header at all (HTTP/1.0, or a host app calling the endpoint directly) names no host to
misdirect and passes: browsers, whose pages are what DNS rebinding turns, always send one. Names compare
case-insensitively and without the port; an entry ``.example.com`` allows that domain and its subdomains.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

from .answers import Refused, error_answer
from .messages import TokenRequest

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
_WILDCARD_ADDRESSES = ("0.0.0.0", "::", "")  # noqa: S104 - names, not a bind


def host_name(host: str) -> str | None:
    """The name in a ``Host`` value (``[::1]:8000`` -> ``::1``), lower-case; ``None`` if it is not one."""
    host = host.strip().lower()
    if not host or any(ch in host for ch in "/?#@ \t\\"):
        return None
    if host.startswith("["):
        end = host.find("]")
        if end < 0 or (host[end + 1 :] and not _is_port(host[end + 1 :])):
            return None
        name = host[1:end]
        try:
            ipaddress.IPv6Address(name)
        except ValueError:
            return None
        return name
    name, sep, port = host.rpartition(":")
    if not sep:
        name = host
    elif not _is_port(":" + port):
        return None
    name = name.rstrip(".")
    return name or None


def _is_port(text: str) -> bool:
    return text.startswith(":") and text[1:].isdigit() and 0 < int(text[1:]) < 65536


class HostAllowList:
    """Which ``Host`` names this server answers. :meth:`allow` adds one (``serve`` adds its bound address)."""

    def __init__(self, configured: Iterable[str] | None, cors_origins: Iterable[str] = ()) -> None:
        names: set[str] = set()
        if configured is None:
            names.update(LOOPBACK_NAMES)
            names.update(filter(None, (urlsplit(origin).hostname for origin in cors_origins)))
        else:
            names.update(name.lower().rstrip(".") for name in configured)
        self._names = names
        self._suffixes = tuple(name for name in names if name.startswith("."))
        self.explicit = configured is not None

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self._names)

    def allow(self, host: str) -> None:
        """Also answer ``host`` (a wildcard address such as ``0.0.0.0`` names no host and is ignored)."""
        if self.explicit or host in _WILDCARD_ADDRESSES:
            return
        name = host_name(host if ":" not in host or host.startswith("[") else f"[{host}]")
        if name:
            self._names.add(name)

    def allowed(self, host: str | None) -> bool:
        if host is None:
            return True
        name = host_name(host)
        if name is None:
            return False
        return name in self._names or any(name.endswith(suffix) or name == suffix[1:] for suffix in self._suffixes)

    def check(self, request: TokenRequest) -> None:
        """Raise :class:`Refused` (421) unless the request's ``Host`` is allowed."""
        if not self.allowed(request.header("host")):
            raise Refused(
                error_answer(
                    421,
                    "This server does not answer for that host name.",
                    "invalid_request_error",
                    "host_not_allowed",
                    param="Host",
                )
            )
