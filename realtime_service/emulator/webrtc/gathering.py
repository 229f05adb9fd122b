"""Which addresses a peer gathers ICE candidates on (``Emulator(webrtc_addresses=[...])``).

``aioice`` (``aiortc``'s ICE) has no per-connection address option: every connection gathers on what
``aioice.ice.get_host_addresses`` returns, every interface but ``127.0.0.1``. :func:`install` replaces that
function once with one that answers the addresses set for the running peer (a context variable, so it holds
for the peer's own gathering tasks and no other's), and what ``aioice`` would have answered when none are set.
"""

from __future__ import annotations

import contextvars
import ipaddress
from collections.abc import Callable, Sequence

import aioice.ice

ALLOWED: contextvars.ContextVar[tuple[str, ...] | None] = contextvars.ContextVar(
    "realtime_service_webrtc_addresses", default=None
)
"""The addresses the peer being set up in this context may gather on; ``None``: every interface."""
_original: Callable[[bool, bool], list[str]] = aioice.ice.get_host_addresses


def checked(addresses: Sequence[str] | None) -> tuple[str, ...] | None:
    """``addresses`` as IP address strings; ``ValueError`` naming the first that is not one, or for none."""
    if addresses is None:
        return None
    if isinstance(addresses, str):
        raise ValueError("webrtc_addresses must be a list of IP addresses, not one string")
    found: list[str] = []
    for address in addresses:
        try:
            found.append(str(ipaddress.ip_address(address)))
        except ValueError:
            raise ValueError(f"webrtc_addresses: {str(address)[:80]!r} is not an IP address") from None
    if not found:
        raise ValueError("webrtc_addresses must name at least one address (or be None for every interface)")
    return tuple(found)


def _host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    allowed = ALLOWED.get()
    if allowed is None:
        return _original(use_ipv4, use_ipv6)
    return [address for address in allowed if (use_ipv6 if ":" in address else use_ipv4)]


def install() -> None:
    """Route ``aioice``'s address lookup through :data:`ALLOWED` (idempotent)."""
    aioice.ice.get_host_addresses = _host_addresses
