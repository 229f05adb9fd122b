"""A WebRTC call's ``oai-events`` data channel, served as the call's own Realtime connection.

The channel carries what a socket carries (SIDEBAND-NOTES: the same client and server events): on open,
``session.created``; then every client event is checked, answered and recorded on ``CallRecord.client_events``
with the channel's ``dc_...`` id, exactly as :class:`~.sidebands.RealtimeSideband` does for a sideband; and the
call's script plays on it (:meth:`~.scripted_calls.ScriptedCall.attach_own`: a sideband attached to the same call
hears the same conversation).
"""

from __future__ import annotations

from collections.abc import Callable

from .core import Core, SocketSession, Transport
from .sidebands import RealtimeSideband


def sessions(core: Core) -> Callable[[str], SocketSession]:
    """For a call id, what serves its data channel (run on the channel's own thread until it closes)."""

    def for_call(call_id: str) -> SocketSession:
        def run(transport: Transport) -> None:
            driver, scripted = core.driver_for(call_id, own=True)
            RealtimeSideband(transport, core.calls, call_id, driver, scripted=scripted).run()

        return run

    return for_call
