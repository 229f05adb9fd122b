"""Repeated webhook headers: one rule for every adapter and for the verifier.

HTTP lets a header arrive several times, and a server may pass the repeats on as one value joined by commas
(RFC 9110, section 5.3): WSGI servers must (waitress joins with ``", "``), ASGI servers pass every line. So the
adapters join the repeats of the three Standard Webhooks headers with ``", "`` in the order received, on every
framework, and :func:`elements` splits a header back into its list elements. The verifier then reads the same
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
    """Header ``pairs`` as received, as the lower-case mapping an adapter hands the endpoint: a repeated webhook
    header's values joined by ``", "`` in order; any other repeated header keeps its last value."""
    found: dict[str, str] = {}
    for key, value in pairs:
        name = key.lower()
        if name in WEBHOOK_HEADERS and name in found:
            found[name] = f"{found[name]}, {value}"
        else:
            found[name] = value
    return found


def elements(value: str) -> list[str]:
    """The non-empty comma-separated elements of a header value, each stripped of HTTP white space only."""
    return [part.strip(OWS) for part in value.split(",") if part.strip(OWS)]
