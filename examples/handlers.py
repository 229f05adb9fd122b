"""A host handler that gets the service injected, the way a web view would.

Run against the emulator: ``realtime-service emulator --port 8765 --api-key sk-local-dev`` in one shell, then
``APP_CONFIG=config/local-emulator.yaml python -m examples.handlers`` in another.
"""

from __future__ import annotations

from typing import Any

from dependency_injector.wiring import Provide, inject

from realtime_service.service import RealtimeSessionService

SERVER_SESSION = {"model": "gpt-realtime-2.1", "instructions": "You are a friendly voice assistant."}


@inject
def mint_browser_key(
    voice: str = "marin",
    service: RealtimeSessionService = Provide["realtime.realtime_session_service"],
) -> dict[str, Any]:
    """What a ``/token`` view returns to the browser: the key and its expiry, the server's settings."""
    session = service.create_realtime_session({**SERVER_SESSION, "voice": voice})
    return {
        "client_secret": session.client_secret.value,
        "expires_at": session.client_secret.expires_at,
        "request_id": session.request_id,
    }


def main() -> None:
    """Mint one key through the composition root and print it redacted."""
    from containers import create_application
    from realtime_service.redaction import redact

    application = create_application()
    try:
        minted = mint_browser_key()
        print({**minted, "client_secret": redact(minted["client_secret"])})
    finally:
        application.shutdown_resources()


if __name__ == "__main__":
    # Run as a script this file is ``__main__``, not the ``examples.handlers`` that ``containers.py`` wires: call
    # the wired module's ``main``, or ``mint_browser_key`` would get the unresolved ``Provide`` marker.
    from examples.handlers import main as wired_main

    wired_main()
