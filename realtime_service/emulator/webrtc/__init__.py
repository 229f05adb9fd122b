"""The emulator as a real WebRTC peer (the ``webrtc`` extra: ``aiortc``).

With ``Emulator(webrtc=True)`` (``--webrtc``), ``POST /v1/realtime/calls`` answers through a real
``RTCPeerConnection``: ICE candidates, a DTLS fingerprint and the SCTP section in the answer, an audio track
(silence, and a synthetic voice while a script's model speaks: :mod:`.tracks`, :mod:`.voice`), a VAD on the
browser's track (:mod:`.vad`), and the offerer's ``oai-events`` data channel served as the call's own connection
(the same events and scripts as a socket). Only :mod:`.host` and what it imports need ``aiortc``; this package's
root imports nothing of it, so :func:`load` is how the emulator finds out whether the extra is installed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ..core import SocketSession

if TYPE_CHECKING:
    from ..call_registry import CallRegistry
    from .host import PeerHost

_log = logging.getLogger("realtime_service.emulator")
_warned = False


def load(
    calls: CallRegistry, session_for: Callable[[str], SocketSession], addresses: Sequence[str] | None
) -> PeerHost | None:
    """A :class:`~.host.PeerHost`, or ``None`` (logged once per process) when ``aiortc`` is not installed: the
    emulator then keeps its canned SDP answer."""
    global _warned
    try:
        from .host import PeerHost
    except ImportError as error:
        if not _warned:
            _warned = True
            _log.warning(
                "webrtc=True but aiortc is not importable (%s): the emulator answers WebRTC offers with its canned "
                "SDP and no peer stands behind it; pip install 'realtime-service[webrtc]'",
                error.name or error,
            )
        return None
    return PeerHost(calls, session_for, addresses)
