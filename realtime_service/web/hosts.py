"""The ``Host`` allow-list: the first defence against DNS rebinding.

A page on an attacker's domain that resolves to this server (DNS rebinding) sends ``Host: evil.example``. A
server that answers any ``Host`` lets that page read its answers as same-origin ones. Only the names in
``server.allowed_hosts`` are served; by default the loopback names, the address the server is bound to (added
by ``serve``) and the hosts of ``server.cors_origins``. Any other ``Host`` gets 421 in OpenAI's error shape. A
request with no ``Host`` header at all (HTTP/1.0, or a host app calling the endpoint directly) names no host to
misdirect and passes: browsers, whose pages are what DNS rebinding turns, always send one. Names compare
case-insensitively and without the port; an entry ``.example.com`` allows that domain and its subdomains. A
malformed ``Host`` (:func:`split_host`) is refused like a foreign one.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

from .answers import Refused, error_answer
from .messages import TokenRequest

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
_WILDCARD_ADDRESSES = ("0.0.0.0", "::", "")  # noqa: S104 - names, not a bind


_HOST = re.compile(
    r"(?:\[(?P<ipv6>[0-9a-f:.]+)\]|(?P<name>[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?))(?::(?P<port>[0-9]{1,5}))?"
)
"""A ``Host`` value (RFC 9110 ``uri-host [":" port]``), lower-cased: a bracketed IPv6 address, or dot-separated
labels of letters, digits, ``-`` and ``_`` (one trailing dot allowed), and an optional port of ASCII digits."""


def split_host(host: str) -> tuple[str, int | None] | None:
    """``[::1]:8000`` -> ``("::1", 8000)``, lower-case, a trailing dot kept; ``None`` for any malformed form.

    One parser for the ``Host`` header and the authority of an ``Origin``, strict because a lenient one lets a
    malformed value pass as an allowed name (``[::1]junk`` as ``::1``, ``::1:80`` unbracketed, digits that are
    not ASCII in the port): nothing but the grammar, ASCII only, nothing around it."""
    if not host.isascii():
        return None
    match = _HOST.fullmatch(host.lower())
    if match is None:
        return None
    port = None if match["port"] is None else int(match["port"])
    if port is not None and not 0 < port < 65536:
        return None
    ipv6 = match["ipv6"]
    if ipv6 is None:
        return match["name"], port
    try:
        ipaddress.IPv6Address(ipv6)
    except ValueError:
        return None
    return ipv6, port


def host_name(host: str) -> str | None:
    """The name in a ``Host`` value (``[::1]:8000`` -> ``::1``), lower-case, no trailing dot; ``None`` if it
    is not one (:func:`split_host`; spaces or tabs around it are ignored, as around any header value)."""
    split = split_host(host.strip(" \t"))
    return None if split is None else split[0].removesuffix(".")


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
