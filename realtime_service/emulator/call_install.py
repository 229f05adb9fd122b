"""Installs the call and Live-session route families on an emulator (kept apart from the helpers those families
share, so the families can import the helpers without an import circle)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import calls, live_sessions
from .call_routes import remembering_minted

if TYPE_CHECKING:
    from .server import Emulator


def install_call_routes(emulator: Emulator) -> None:
    """Register the call and Live-session routes (and the minting hook) on ``emulator``."""
    registry = emulator.calls
    minting = emulator.route("POST", "/realtime/client_secrets")
    if minting is not None:
        emulator.add_route(
            "POST", "/realtime/client_secrets", remembering_minted(minting.handler, registry), beta=minting.beta
        )
    calls.install(emulator)
    live_sessions.install(emulator)
