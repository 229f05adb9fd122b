"""The emulator's WebRTC peers: one ``RTCPeerConnection`` per call, all on one :class:`~.loop.PeerLoop`.

A peer answers the offer of ``POST /v1/realtime/calls`` once its candidates are gathered (no trickle: the answer
carries them, as the API's does), on the addresses it was given (:mod:`.gathering`) and with no STUN or TURN
server (``aiortc`` would otherwise ask Google's STUN server). Its audio track is :class:`~.tracks.SpeakerTrack`,
speaking what the call's :class:`~..call_audio.CallAudio` (:meth:`PeerHost.audio`) queues; the browser's audio
track feeds the VAD (:mod:`.vad`, thresholds :attr:`PeerHost.vad`), whose turns go to the same ``CallAudio``.
The offerer's ``oai-events`` data channel is served by the emulator's session for the call (``session_for``),
on a thread of its own; other channels are left alone.

Lifetime: the call's end (a REST hang-up, a script's ``hangup``) closes the peer; the peer's
``connectionState`` turning ``failed`` or ``closed`` ends the call, and so does not reaching ``connected``
within :data:`CONNECT_TIMEOUT`. Every ``connectionState`` goes on ``CallRecord.peer_states``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from aiortc import MediaStreamTrack, RTCConfiguration, RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.exceptions import InternalError, InvalidAccessError, InvalidStateError

from ..call_audio import CallAudio
from ..call_registry import CallRegistry, UnknownCall
from ..call_routes import hang_up
from ..core import OfferRefused, PeerFailed, SocketSession
from . import gathering
from .channel import DataChannelTransport
from .loop import PeerLoop
from .tracks import SpeakerTrack, hear
from .vad import EnergyVad, VadSettings, from_session
from .voice import warm

EVENTS_LABEL = "oai-events"
ANSWER_TIMEOUT = 10.0
"""Seconds an answer may take, gathering included (on a few interfaces it takes milliseconds)."""
CONNECT_TIMEOUT = 30.0
"""Seconds a peer has to reach ``connected`` after its answer; then it is closed and its call ends."""
CLOSE_TIMEOUT = 5.0
"""Seconds :meth:`PeerHost.stop` waits for its peers to close."""
_ENDING = frozenset({"failed", "closed"})
_log = logging.getLogger("realtime_service.emulator")


@dataclass(eq=False)
class _Peer:
    call_id: str
    pc: RTCPeerConnection
    states: list[str] = field(default_factory=lambda: ["new"])
    bound: bool = False
    channel: DataChannelTransport | None = None
    serving: bool = False  # its session runs (once the record exists)
    timer: asyncio.TimerHandle | None = None
    audio: CallAudio = field(default_factory=CallAudio)
    hearing: asyncio.Task[None] | None = None  # the VAD on the browser's audio track


class PeerHost:
    """Implements :class:`~..core.Peers`. ``addresses``: where peers gather (``None``: every interface)."""

    def __init__(
        self, calls: CallRegistry, session_for: Callable[[str], SocketSession], addresses: Sequence[str] | None
    ) -> None:
        self._calls = calls
        self._session_for = session_for
        self.addresses = gathering.checked(addresses)
        gathering.install()
        self._loop = PeerLoop()
        self._peers: dict[str, _Peer] = {}  # touched on the loop thread only
        self._tasks: set[asyncio.Task[None]] = set()
        self._audio: dict[str, CallAudio] = {}  # any thread, under the lock
        self._audio_lock = threading.Lock()
        self.vad = VadSettings()
        """The VAD's thresholds for peers answered from now on (the session's ``turn_detection`` sets some)."""
        warm()

    # the handler threads' side

    def answer(self, call_id: str, offer: bytes) -> str:
        try:
            return self._loop.run(self._answer(call_id, offer), ANSWER_TIMEOUT + 1.0)
        except TimeoutError:
            raise PeerFailed(f"the emulator's WebRTC peer did not answer within {ANSWER_TIMEOUT:g} s") from None

    def audio(self, call_id: str) -> CallAudio | None:
        """The audio of ``call_id``'s peer, ``None`` when it has none (never answered, or closed)."""
        with self._audio_lock:
            return self._audio.get(call_id)

    def bind(self, call_id: str) -> None:
        self._loop.call_soon(self._bind, call_id)
        try:
            self._calls.on_end(call_id, lambda record: self._loop.call_soon(self._close, call_id))
        except UnknownCall:  # forgotten at once (the registry's bounds): no call left for the peer
            self.discard(call_id)

    def discard(self, call_id: str) -> None:
        self._loop.call_soon(self._close, call_id)

    def stop(self) -> None:
        """Close every peer (bounded) and stop the loop (the emulator is stopping); nothing to do if no peer ever
        answered (no loop was started)."""
        if not self._loop.started:
            return
        try:
            self._loop.run(self._close_all(), CLOSE_TIMEOUT)
        except TimeoutError:
            _log.warning("the WebRTC peers did not all close within %g s; stopping their loop", CLOSE_TIMEOUT)
        self._loop.stop()

    # the loop's side

    async def _answer(self, call_id: str, offer: bytes) -> str:
        gathering.ALLOWED.set(self.addresses)  # this task's context: its gathering tasks inherit it
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        peer = _Peer(call_id, pc)
        self._peers[call_id] = peer
        pc.on("connectionstatechange", lambda: self._state_changed(peer))
        pc.on("datachannel", lambda channel: self._channel_opened(peer, channel))
        pc.on("track", lambda track: self._track(peer, track))
        with self._audio_lock:
            self._audio[call_id] = peer.audio
        try:
            async with asyncio.timeout(ANSWER_TIMEOUT):
                await pc.setRemoteDescription(RTCSessionDescription(sdp=offer.decode("utf-8"), type="offer"))
                if any(transceiver.kind == "audio" for transceiver in pc.getTransceivers()):
                    pc.addTrack(SpeakerTrack(peer.audio))
                await pc.setLocalDescription(await pc.createAnswer())
                peer.audio.has_speaker(
                    any(
                        transceiver.kind == "audio" and transceiver.currentDirection in ("sendrecv", "sendonly")
                        for transceiver in pc.getTransceivers()
                    )
                )
        except (ValueError, InternalError, InvalidAccessError, InvalidStateError) as error:
            await self._close_peer(peer)
            raise OfferRefused(str(error) or type(error).__name__) from None
        except BaseException:
            await self._close_peer(peer)
            raise
        peer.timer = asyncio.get_running_loop().call_later(CONNECT_TIMEOUT, self._connect_deadline, peer)
        return str(pc.localDescription.sdp)

    def _bind(self, call_id: str) -> None:
        peer = self._peers.get(call_id)
        if peer is None:
            return
        peer.bound = True
        self._record_states(peer)
        self._serve(peer)
        if peer.pc.connectionState in _ENDING:
            self._end_call(peer)

    def _record_states(self, peer: _Peer) -> None:
        states = tuple(peer.states)
        try:
            self._calls.update(peer.call_id, lambda record: replace(record, peer_states=states))
        except UnknownCall:  # forgotten (the registry's bounds): nothing to keep the peer for
            self._close(peer.call_id)

    def _state_changed(self, peer: _Peer) -> None:
        state = peer.pc.connectionState
        peer.states.append(state)
        if state == "connected" and peer.timer is not None:
            peer.timer.cancel()
        if peer.bound:
            self._record_states(peer)
            if state in _ENDING:
                self._end_call(peer)

    def _end_call(self, peer: _Peer) -> None:
        with contextlib.suppress(UnknownCall):  # forgotten: it has ended already
            hang_up(self._calls, peer.call_id)
        self._close(peer.call_id)

    def _connect_deadline(self, peer: _Peer) -> None:
        if peer.pc.connectionState != "connected":
            self._close(peer.call_id)

    def _channel_opened(self, peer: _Peer, channel: RTCDataChannel) -> None:
        if channel.label != EVENTS_LABEL or peer.channel is not None:
            return  # not the API's channel (or a second one): the API does not serve it either
        peer.channel = DataChannelTransport(channel, self._loop)  # from now on its messages wait in its inbox
        self._serve(peer)

    def _track(self, peer: _Peer, track: MediaStreamTrack) -> None:
        """The browser's audio track: heard by a VAD of its own until it ends (the peer closing ends it)."""
        if track.kind != "audio" or peer.hearing is not None:
            return
        settings = self.vad

        def current() -> VadSettings | None:
            record = self._calls.get(peer.call_id)
            return from_session(record.session if record is not None else None, settings)

        vad = EnergyVad(current, peer.audio.speech_started, peer.audio.speech_stopped)
        peer.hearing = asyncio.get_running_loop().create_task(hear(track, vad))

    def _serve(self, peer: _Peer) -> None:
        """Start the session on the peer's channel once both the channel and the call's record exist."""
        if peer.channel is None or not peer.bound or peer.serving:
            return
        peer.serving = True
        session = self._session_for(peer.call_id)
        threading.Thread(target=session, args=(peer.channel,), name="emulator-datachannel", daemon=True).start()

    def _close(self, call_id: str) -> None:
        peer = self._peers.get(call_id)
        if peer is None:
            return
        task = asyncio.get_running_loop().create_task(self._close_peer(peer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _close_peer(self, peer: _Peer) -> None:
        if self._peers.get(peer.call_id) is peer:
            del self._peers[peer.call_id]
        with self._audio_lock:
            if self._audio.get(peer.call_id) is peer.audio:
                del self._audio[peer.call_id]
        peer.audio.close()
        if peer.hearing is not None:
            peer.hearing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await peer.hearing
        if peer.timer is not None:
            peer.timer.cancel()
        await peer.pc.close()

    async def _close_all(self) -> None:
        peers = list(self._peers.values())
        await asyncio.gather(*(self._close_peer(peer) for peer in peers), return_exceptions=True)
