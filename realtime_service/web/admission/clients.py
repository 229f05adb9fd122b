"""Who is on the other end: the client address, and the key its budgets are counted under.

Without proxies the address is the peer's. With ``server.trust_forwarded: N`` proxies in front, it is the one
the outermost trusted proxy saw (``X-Forwarded-For`` counted from the right, so a client cannot forge it).
Budgets count a network, not an address: an IPv6 client usually holds a whole /64 (``server.ipv6_prefix``),
so counting per address would give it 2^64 budgets; IPv4 counts per address (``server.ipv4_prefix: 32``).
"""

from __future__ import annotations

import ipaddress

from ..messages import WebRequest


def client_address(request: WebRequest, trusted_hops: int) -> str:
    """The caller's address (see the module docstring); ``unknown`` when the server could not tell."""
    if trusted_hops > 0:
        forwarded = request.header("x-forwarded-for")
        if forwarded:
            hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
            if hops:
                return hops[-trusted_hops] if len(hops) >= trusted_hops else hops[0]
    return request.client or "unknown"


def client_key(address: str, ipv4_prefix: int = 32, ipv6_prefix: int = 64) -> str:
    """The network ``address`` is counted under: ``203.0.113.7`` or ``2001:db8:1:2::/64``.

    An IPv4-mapped IPv6 address counts as its IPv4 address. Something that is not an address (a forged
    ``X-Forwarded-For`` entry) is its own key, cut to 64 characters.
    """
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]").split("%", 1)[0])
    except ValueError:
        return address[:64]
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = ipv4_prefix if ip.version == 4 else ipv6_prefix
    if prefix >= ip.max_prefixlen:
        return str(ip)
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))
