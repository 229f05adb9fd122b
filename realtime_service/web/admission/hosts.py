"""The ``Host`` allow-list: the first defence against DNS rebinding.

A page on an attacker's domain that resolves to this server (DNS rebinding) sends ``Host: evil.example``. A
server that answers any ``Host`` lets that page read its answers as same-origin ones. Only the names in
``server.allowed_hosts`` are served; by default the loopback names, the address the server is bound to (added
by ``serve``) and the hosts of ``server.cors_origins``. Any other ``Host`` gets 421 in OpenAI's error shape. A
request with no ``Host`` header at all (HTTP/1.0, or a host app calling the endpoint directly) names no host to
misdirect and passes: browsers, whose pages are what DNS rebinding turns, always send one. Names compare
case-insensitively and without the port; an entry ``.example.com`` allows that domain and its subdomains. A
malformed ``Host`` (:func:`~realtime_service.web.authority.split_host`) is refused like a foreign one.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..authority import host_name
from ..messages import WebRequest
from .answers import Refused, error_answer

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
_WILDCARD_ADDRESSES = ("0.0.0.0", "::", "")  # noqa: S104 - names, not a bind


def _authority(origin: str) -> str:
    """``https://app.example:8443/`` -> ``app.example:8443`` (an origin's ``host[:port]``, for :func:`host_name`)."""
    return origin.partition("://")[2].removesuffix("/")


class HostAllowList:
    """Which ``Host`` names this server answers. :meth:`allow` adds one (``serve`` adds its bound address)."""

    def __init__(self, configured: Iterable[str] | None, cors_origins: Iterable[str] = ()) -> None:
        names: set[str] = set()
        if configured is None:
            names.update(LOOPBACK_NAMES)
            names.update(filter(None, (host_name(_authority(origin)) for origin in cors_origins)))
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

    def check(self, request: WebRequest) -> None:
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
