"""A WebRTC call's ``oai-events`` data channel, served as the call's own connection (Realtime or GPT-Live).

The channel carries what a socket carries (SIDEBAND-NOTES: the same client and server events). Realtime: on
open, ``session.created``; then every client event is checked, answered and recorded on
``CallRecord.client_events`` with the channel's ``dc_...`` id, exactly as :class:`~.sidebands.RealtimeSideband`
does for a sideband. GPT-Live (CALLS-LIVE-NOTES 3.1: "apply the answer, then wait for ``session.started`` on the
data channel"): on open, ``session.started``, then what a Live sideband answers, but for ``session.start`` (the
session started with the ``POST``), ``session.input_audio.append`` (audio goes on the track) and
``transport.dtmf.send`` (SIP only), which are errors. Either way the call's script plays on it
(:meth:`~.scripted_calls.ScriptedCall.attach_own`: a sideband attached to the same call hears the same
conversation).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .core import Core, SocketSession, Transport
from .sideband_session import Problem, server_event_id
from .sidebands import LiveSideband, RealtimeSideband

_LIVE_REFUSED = {
    "session.start": ("The session has already started.", "session_already_started"),
    "session.input_audio.append": (
        "'session.input_audio.append' is for WebSocket sessions: a WebRTC session's audio is its audio track.",
        "invalid_value",
    ),
    "transport.dtmf.send": ("'transport.dtmf.send' is for SIP sessions' sideband connections.", "invalid_value"),
}


class LiveDataChannel(LiveSideband):
    """A GPT-Live WebRTC session's data channel: ``session.started`` first, then a Live sideband's answers."""

    def attached(self) -> None:
        """``session.started`` straight to this channel: it is the connection's own, not one of the session's
        events a sideband's replay re-sends."""
        started = {"type": "session.started", "event_id": server_event_id(), "session": self._resource()}
        self.transport.send_text(json.dumps(started))
        super().attached()

    def handle(self, kind: str, event: dict[str, Any], client_event_id: str | None) -> bool:
        refused = _LIVE_REFUSED.get(kind)
        if refused is not None:
            raise Problem(refused[0], code=refused[1], param="type")
        return super().handle(kind, event, client_event_id)


def sessions(core: Core) -> Callable[[str], SocketSession]:
    """For a call id, what serves its data channel (run on the channel's own thread until it closes)."""

    def for_call(call_id: str) -> SocketSession:
        def run(transport: Transport) -> None:
            record = core.calls.get(call_id)
            driver, scripted = core.driver_for(call_id, own=True)
            if record is not None and record.api == "live":
                LiveDataChannel(
                    transport, core.calls, call_id, driver, scripted=scripted, replays=core.live_events
                ).run()
            else:
                audio = core.peers.audio(call_id) if core.peers is not None else None
                RealtimeSideband(transport, core.calls, call_id, driver, scripted=scripted, audio=audio).run()

        return run

    return for_call
