"""What the emulator's route families share, below both them and the server that installs them.

The request as received (:class:`RecordedRequest`), what a handler gets (:class:`Call`), an endpoint
(:class:`Route`) and :class:`Core`, the part of an emulator a route family may use. Each route family is one
module with an ``install(core)`` function (:data:`RouteFamily`; ``calls``, ``live_sessions``, ``sidebands``),
listed in :mod:`.families`. A family imports this module and never :mod:`.server`, not even
for type checking: the server imports the families, so that would be an import circle
(``tests/test_layout.py`` fails on one).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from .call_audio import CallAudio
from .call_registry import Api, CallRegistry
from .live_events import LiveEvents
from .replies import Reply


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """A request as received. ``headers`` has lower-case names; ``json`` is ``None`` unless the body parsed."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any
    body: bytes
    query: str = ""


@dataclass(frozen=True, slots=True)
class Call:
    """What an endpoint handler gets: the request, its JSON object body (do not mutate), and the time."""

    request: RecordedRequest
    body: dict[str, Any]
    now: float


Handler = Callable[[Call], Reply]


class SocketClosed(Exception):
    """The WebSocket connection is closed (by either side): nothing more can be sent or received on it."""


class Transport(Protocol):
    """One accepted WebSocket connection, as a socket route's session sees it (JSON text frames)."""

    @property
    def id(self) -> str:
        """This connection's id (``ws_...``), as recorded with each client event."""
        ...

    @property
    def closed(self) -> bool:
        """Closed by either side, or failed."""
        ...

    def send_text(self, text: str) -> None:
        """Send one text frame; :class:`SocketClosed` once the connection is closed."""
        ...

    def receive(self, timeout: float | None) -> str | bytes | None:
        """The next message (``str`` text, ``bytes`` binary), ``None`` after ``timeout`` seconds;
        :class:`SocketClosed` once the connection is closed."""
        ...

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake (idempotent); returns without waiting for the peer."""
        ...

    def abort(self) -> None:
        """End the connection abnormally: no close frame (the client sees 1006), as a dropped network would."""
        ...

    def wait_closed(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the connection to close (either side, or the emulator stopping);
        whether it is closed. A socket fault's delay waits here, so it never outlives its connection."""
        ...


SocketSession = Callable[[Transport], None]
"""Runs one accepted connection on its handler thread until it ends; the plumbing closes it afterwards."""
SocketHandler = Callable[[Call], "Reply | SocketSession"]
"""Decides a handshake: a :class:`Reply` refuses it (404, 401...), a :data:`SocketSession` accepts it."""


@dataclass(frozen=True, slots=True)
class SocketRoute:
    """One WebSocket endpoint (a ``GET`` with ``Upgrade: websocket``). ``auth``/``azure`` as in :class:`Route`;
    ``max_message_bytes``: a bigger frame or message closes the connection with 1009. ``azure_path``: in Azure
    mode the route is served at this classic path (outside ``/openai/v1``, ``api-version`` required), such as
    ``/openai/realtime`` where Azure's Realtime primary socket lives. ``subprotocols``: the ones the route speaks
    (the handshake selects one the client offers)."""

    handler: SocketHandler
    auth: bool = True
    azure: bool = False
    max_message_bytes: int = 1 << 20
    azure_path: str | None = None
    subprotocols: tuple[str, ...] = ()


class Channel(Protocol):
    """A call's socket connection as a conversation driver (the script runner) sees it.

    ``receive`` gives the client events the socket's protocol layer accepted (JSON objects with a ``type``;
    malformed ones were answered with the API's ``error`` and are not passed on), each already in the call's
    record; ``send`` sends one server event (an ``event_id`` is added when missing).
    """

    @property
    def connection_id(self) -> str: ...

    @property
    def call_id(self) -> str: ...

    @property
    def api(self) -> Api: ...

    @property
    def closed(self) -> bool:
        """The socket is closed; :meth:`receive` still returns the events received before, then raises."""
        ...

    def send(self, event: Mapping[str, Any]) -> None:
        """Send one server event; :class:`SocketClosed` once the socket is closed."""
        ...

    def receive(self, timeout: float | None = None) -> dict[str, Any] | None:
        """The next client event, ``None`` after ``timeout`` seconds; :class:`SocketClosed` once the socket is
        closed and every event received before was taken."""
        ...

    def drop(self) -> None:
        """Drop the socket abnormally (no close frame, the client sees 1006): a script's ``drop`` step."""
        ...

    def release(self) -> None:
        """The driver is done with this socket: from now on it answers as a quiet caller (``response.create``
        gets an empty response) and passes nothing on."""
        ...


Driver = Callable[[Channel], None]
"""Drives one attached connection (run on a thread of its own); see ``Emulator.on_sideband``."""


class OfferRefused(Exception):
    """The emulator's WebRTC peer cannot answer this offer (a 400 ``invalid_offer`` naming why)."""


class PeerFailed(Exception):
    """The emulator's WebRTC peer could not produce an answer in time (a 500: the emulator's fault)."""


class Peers(Protocol):
    """The emulator's real WebRTC peers (``Emulator(webrtc=True)`` with the ``webrtc`` extra installed)."""

    def answer(self, call_id: str, offer: bytes) -> str:
        """The SDP answer of a new peer for ``call_id`` (candidates gathered); :class:`OfferRefused`,
        :class:`PeerFailed`, or ``NoRoomForCall`` (``max_calls`` peers held, none made). The call's record must
        follow (:meth:`bind`) or the peer be dropped (:meth:`discard`)."""
        ...

    def bind(self, call_id: str) -> None:
        """The call's record exists: its peer's states go on it and the two end together."""
        ...

    def discard(self, call_id: str) -> None:
        """The call was not recorded after all: close its peer."""
        ...

    def audio(self, call_id: str) -> CallAudio | None:
        """The audio of ``call_id``'s peer (the model's speech, the caller's turns), ``None`` without one."""
        ...


@dataclass(frozen=True, slots=True)
class Route:
    """One endpoint. ``beta`` endpoints answer ``beta_api_shape_disabled`` when the emulator is beta-retired.

    ``json_body=False``: the handler takes any body (multipart, ``application/sdp``) and parses it itself
    (``Call.body`` is then the JSON object if there is one, else ``{}``). ``azure=False``: not served in
    Azure mode (the path does not exist there). A path may hold ``{name}`` segments (one segment each).
    """

    handler: Handler
    beta: bool = False
    auth: bool = True
    json_body: bool = True
    azure: bool = True


class Core(Protocol):
    """The emulator as a route family sees it (:class:`~realtime_service.emulator.Emulator` is one).

    Only what the families use, so a family cannot come to depend on the HTTP server's workings; a new family
    that needs more adds it here, and the type checker then holds the emulator to it.
    """

    @property
    def azure(self) -> bool:
        """Serving Azure OpenAI's dialect (its paths, its ``api-key`` auth) instead of OpenAI's."""
        ...

    @property
    def running(self) -> bool:
        """Started and not stopped: its routes answer."""
        ...

    @property
    def calls(self) -> CallRegistry:
        """The calls and Live sessions created or rung, and the ``ek_`` keys minted."""
        ...

    def add_route(
        self,
        method: str,
        path: str,
        handler: Handler,
        *,
        beta: bool = False,
        auth: bool = True,
        json_body: bool = True,
        azure: bool = True,
    ) -> None:
        """Serve ``method path`` (under ``/v1``) with ``handler``; see :class:`Route` for the flags."""
        ...

    def add_socket_route(self, path: str, route: SocketRoute) -> None:
        """Serve WebSocket upgrades of ``GET path`` (under ``/v1``) with ``route``."""
        ...

    def socket_route(self, path: str) -> SocketRoute | None:
        """The socket route registered for ``path`` (as given to :meth:`add_socket_route`), if any (to wrap it)."""
        ...

    @property
    def live_events(self) -> LiveEvents:
        """Each Live session's replay buffer and attached sidebands: what an outbound call rings on."""
        ...

    @property
    def on_sideband(self) -> Driver | None:
        """Drives every newly attached sideband when set (the script runner plugs in here)."""
        ...

    def driver_for(self, call_id: str, *, own: bool = False) -> tuple[Driver | None, bool]:
        """What drives a socket attaching to ``call_id``, and whether it is the call's script: the user's
        ``on_sideband`` driver wins; else the call's script (one runner per call, whichever socket family
        attaches: a sideband and a primary socket share it); else ``(None, False)``, a quiet caller. ``own``:
        the call's own connection (a WebRTC call's data channel), which hears the script beside any sideband."""
        ...

    @property
    def peers(self) -> Peers | None:
        """The real WebRTC peers answering offers, or ``None`` (the canned SDP answer)."""
        ...

    def route(self, method: str, path: str) -> Route | None:
        """The route serving ``method path``, if any (to wrap it)."""
        ...

    def authorize(self, request: RecordedRequest) -> Reply | None:
        """The 401 for a request without the emulator's API key (in its mode's header), or ``None``."""
        ...


RouteFamily = Callable[[Core], None]
"""A route family's ``install``: registers its routes (and any hook on another family's route) on a core."""
