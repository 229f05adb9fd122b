"""What a request's own headers mean, one definition for both gateways (``requests`` and the event loop's).

An :class:`~realtime_service.transport.seam.HttpRequest`'s ``headers`` (the operation's media types and a
caller's ``extra_headers``) are merged over the gateway's fixed headers by :func:`merge_headers`:

- names compare without case; a request header replaces the fixed one of the same name where that one stands,
  spelled as the request spells it; any other is added after the fixed ones, in the request's order;
- two request headers whose names differ only in case are refused: which one was meant is a guess;
- :data:`GATEWAY_OWNED` headers are refused: the gateway frames the request and manages its connection (``Host``,
  ``Content-Length``, ``Transfer-Encoding``, the hop-by-hop headers: a second or different one lets another hop
  read another request), decodes only the encodings it asks for (``Accept-Encoding``) and sends the configured
  key (``Authorization``, ``api-key``): a key passed per call would be registered for redaction nowhere;
- a name is an HTTP token (RFC 9110 5.6.2); a value is Latin-1 text with no control character but a tab, in the
  sense of :mod:`realtime_service.wire.controls` (C0, DEL, C1 with NEL, U+2028/9): nothing can split the head,
  fold a line, or hide a line end from one reader that the next one sees.

Both gateways write the merged headers in this order after ``Host`` and before ``Content-Length``, so the same
request gives the same head on the wire from either. A refusal is a ``ValueError`` raised before anything is
sent; it names the header but never repeats the value (it may be a key).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ..wire.controls import forbidden_character

#: Lower-case names a request may not set: the gateway writes them itself, or must not have them changed.
GATEWAY_OWNED = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
        "accept-encoding",
        "authorization",
        "api-key",
        "proxy-authorization",
    }
)
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def header_problem(name: object, value: object) -> str | None:
    """Why ``name: value`` cannot be sent as one header line, or ``None``. The value is never quoted."""
    if not isinstance(name, str) or not isinstance(value, str):
        return "header names and values must be str"
    found = forbidden_character(name, ascii_only=True)
    if found is not None or _TOKEN.fullmatch(name) is None:
        return f"a header name must be an HTTP token (found {found or 'a separator or nothing'})"
    found = forbidden_character(value, allow="\t")
    if found is None and not value.isascii():
        found = next((f"U+{ord(char):04X}" for char in value if ord(char) > 0xFF), None)
    if found is not None:
        return f"the value of header {name!r} must be Latin-1 text without control characters (found {found})"
    return None


def request_header_problems(headers: Mapping[str, str], owned: frozenset[str] = GATEWAY_OWNED) -> list[str]:
    """Every reason ``headers`` cannot be a request's own headers, none when they can. ``owned``: the lower-case
    names they may not set."""
    problems: list[str] = []
    seen: set[str] = set()
    for name, value in headers.items():
        problem = header_problem(name, value)
        if problem is not None:
            problems.append(problem)
            continue
        key = name.lower()
        if key in owned:
            problems.append(f"{name!r} is the gateway's or the operation's to set, not a request's")
        elif key in seen:
            problems.append(f"header {name!r} is given twice (names are not case-sensitive)")
        seen.add(key)
    return problems


def check_fixed_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """``headers`` (a gateway's fixed ones, from the settings) if each can be sent, else the ``ValueError``."""
    for name, value in headers.items():
        problem = header_problem(name, value)
        if problem is not None:
            raise ValueError(problem)
    return dict(headers)


def merge_headers(fixed: Mapping[str, str], request: Mapping[str, str]) -> dict[str, str]:
    """The headers one attempt sends: ``request``'s over ``fixed`` (already checked), as the module says, or the
    ``ValueError`` naming what is wrong with ``request``."""
    problems = request_header_problems(request)
    if problems:
        raise ValueError("; ".join(problems))
    slots = {name.lower(): (name, value) for name, value in fixed.items()}
    for name, value in request.items():
        slots[name.lower()] = (name, value)  # a fixed one keeps its place, in the request's spelling
    return dict(slots.values())
