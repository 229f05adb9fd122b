"""An OpenAI-compatible HTTP server on loopback with scripted faults, for tests, benchmarks and offline use.

Standard library only (ringing signs with the verifier's own HMAC, :mod:`realtime_service.webhooks.verify`), but
for its WebSocket routes (:mod:`.sidebands`, :mod:`.primary_sockets`: ``websockets``, the ``sideband`` extra,
imported only when a socket is asked for), and its request validation is written independently of the client's
schemas so that tests can cross-check the two. Its SDP answers come from
:func:`realtime_service.wire.sdp.answer_for`, or, with ``Emulator(webrtc=True)`` and the ``webrtc`` extra
(``aiortc``, imported only then), from a real peer (:mod:`.webrtc`); its offer check is its own.
"""

from .call_registry import CallRecord, CallRegistry, ClientEvent, Decision
from .cli import main
from .core import Call, Channel, RecordedRequest, Route, SocketClosed
from .faults import Fault, TooManyFaults, http_date
from .replies import Reply
from .server import Emulator
from .socket_faults import SocketFault, SocketFaultRecord, TooManySocketFaults

__all__ = [
    "Call",
    "CallRecord",
    "CallRegistry",
    "Channel",
    "ClientEvent",
    "Decision",
    "Emulator",
    "Fault",
    "RecordedRequest",
    "Reply",
    "Route",
    "SocketClosed",
    "SocketFault",
    "SocketFaultRecord",
    "TooManyFaults",
    "TooManySocketFaults",
    "http_date",
    "main",
]
