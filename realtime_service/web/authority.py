"""How a ``Host`` header and an ``Origin`` are read: one strict parser for both.

The settings check configured names with it, the admission steps (:mod:`.admission.hosts`,
:mod:`.admission.cors`) check requests with it, so a value the settings accepted is read the same way when a
request carries it.
"""

from __future__ import annotations

import ipaddress
import re

_DEFAULT_PORTS = {"http": 80, "https": 443}

_HOST = re.compile(
    r"(?:\[(?P<ipv6>[0-9a-f:.]+)\]|(?P<name>[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?))(?::(?P<port>[0-9]{1,5}))?"
)
"""A ``Host`` value (RFC 9110 ``uri-host [":" port]``), lower-cased: a bracketed IPv6 address, or dot-separated
labels of letters, digits, ``-`` and ``_`` (one trailing dot allowed), and an optional port of ASCII digits."""


def split_host(host: str) -> tuple[str, int | None] | None:
    """``[::1]:8000`` -> ``("::1", 8000)``, lower-case (an IPv6 address in its one compressed form), a trailing dot
    kept; ``None`` for any malformed form.

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
        address = ipaddress.IPv6Address(ipv6)
    except ValueError:
        return None
    return address.compressed, port  # one spelling per address: [0:0::1] is ::1


def host_name(host: str) -> str | None:
    """The name in a ``Host`` value (``[::1]:8000`` -> ``::1``), lower-case, no trailing dot; ``None`` if it
    is not one (:func:`split_host`; spaces or tabs around it are ignored, as around any header value)."""
    split = split_host(host.strip(" \t"))
    return None if split is None else split[0].removesuffix(".")


def canonical_origin(origin: str) -> str | None:
    """``HTTPS://App.Example.com:443`` -> ``https://app.example.com``; ``None`` if it is not an origin.

    An origin is ``scheme://host[:port]`` (one trailing ``/`` tolerated), its host and port parsed as strictly as
    a ``Host`` header (:func:`split_host`): a lenient parser read ``http://[::1]junk`` as ``http://[::1]``."""
    scheme, sep, authority = origin.strip(" \t").partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in _DEFAULT_PORTS:
        return None
    split = split_host(authority.removesuffix("/"))
    if split is None:
        return None
    name, port = split
    host = f"[{name}]" if ":" in name else name
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}:{port}"
    return f"{scheme}://{host}"
