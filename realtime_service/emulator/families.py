"""The route families an emulator installs on itself, in order: one module each, all over :mod:`.core`.

A new family (a module with ``install(core)``) is one more entry in :data:`ROUTE_FAMILIES`. Kept apart from the
helpers the families share (:mod:`.call_routes`), so the families can import those without an import circle.
"""

from __future__ import annotations

from . import calls, live_sessions, primary_sockets, sidebands
from .call_routes import remembering_minted
from .core import Core, RouteFamily


def remember_minted_keys(core: Core) -> None:
    """Wrap ``POST /realtime/client_secrets`` so the ``ek_`` keys it mints are remembered: a family that takes
    them (creating a call with raw SDP) finds their session in ``core.calls``."""
    minting = core.route("POST", "/realtime/client_secrets")
    if minting is not None:
        core.add_route(
            "POST",
            "/realtime/client_secrets",
            remembering_minted(minting.handler, core.calls),
            beta=minting.beta,
            auth=minting.auth,
            json_body=minting.json_body,
            azure=minting.azure,
        )


ROUTE_FAMILIES: tuple[RouteFamily, ...] = (
    remember_minted_keys,
    calls.install,
    live_sessions.install,
    sidebands.install,
    primary_sockets.install,
)
"""Installed in this order on every emulator, after the minting routes of ``DEFAULT_ROUTES``."""


def install_route_families(core: Core) -> None:
    """Register every family of :data:`ROUTE_FAMILIES` on ``core``."""
    for install in ROUTE_FAMILIES:
        install(core)
