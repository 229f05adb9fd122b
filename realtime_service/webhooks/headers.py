"""Repeated headers: one rule for every adapter, every route and the webhook verifier.

HTTP lets a header arrive several times, and a server may pass the repeats on as one value joined by commas
(RFC 9110, section 5.3): WSGI servers must (waitress joins with ``", "``), ASGI servers pass every line. So the
adapters join the repeats of every header with ``", "`` in the order received, on every framework: a request
means the same to waitress, uvicorn and the ASGI fast routes, and no repeat is silently dropped (two ``Host``,
``Origin`` or ``Authorization`` lines are one value that no allow-list, origin or token matches, so they are
refused alike). :func:`elements` splits a header back into its list elements. The verifier then reads the same
text whatever served the request: several ``webhook-signature`` lines are all their signatures; two different
``webhook-id`` or ``webhook-timestamp`` values are refused; identical repeats count as one.
"""

from __future__ import annotations

from collections.abc import Iterable

#: The Standard Webhooks headers, lower-case.
WEBHOOK_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
#: HTTP's optional white space around a value or a list element (RFC 9110, section 5.6.3): nothing else.
OWS = " \t"


def request_headers(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Header ``pairs`` as received, as the lower-case mapping an adapter hands the endpoint: a repeated header's
    values joined by ``", "`` in order, as a WSGI server joins them."""
    found: dict[str, str] = {}
    for key, value in pairs:
        name = key.lower()
        if name in found:
            found[name] = f"{found[name]}, {value}"
        else:
            found[name] = value
    return found


def elements(value: str) -> list[str]:
    """The non-empty comma-separated elements of a header value, each stripped of HTTP white space only."""
    return [part.strip(OWS) for part in value.split(",") if part.strip(OWS)]
