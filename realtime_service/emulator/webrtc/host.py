"""The emulator's WebRTC peers: one ``RTCPeerConnection`` per call, all on one :class:`~.loop.PeerLoop`.

A peer answers the offer of ``POST /v1/realtime/calls`` once its candidates are gathered (no trickle: the answer
carries them, as the API's does), on the addresses it was given (:mod:`.gathering`) and with no STUN or TURN
server (``aiortc`` would otherwise ask Google's STUN server). Its audio track is :class:`~.tracks.SpeakerTrack`,
speaking what the call's :class:`~..call_audio.CallAudio` (:meth:`PeerHost.audio`) queues; the browser's audio
track feeds the VAD (:mod:`.vad`, thresholds :attr:`PeerHost.vad`), whose turns go to the same ``CallAudio``.
The offerer's ``oai-events`` data channel is served by the emulator's session for the call (``session_for``),
on a thread of its own; other channels are left alone.

Lifetime: the call's end (a REST hang-up, a script's ``hangup``) closes the peer; the peer's
``connectionState`` turning ``failed`` or ``closed`` ends the call, and so do not reaching ``connected``
within :data:`CONNECT_TIMEOUT` and the emulator dropping the ``oai-events`` channel (a flood, a browser that
stopped reading: :mod:`.channel`), both named on ``CallRecord.peer_end_reason``. Every ``connectionState``
goes on ``CallRecord.peer_states``. At most the registry's ``max_calls`` peers are answering or open at once.
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
from aiortc.mediastreams import MediaStreamError

from ..call_audio import CallAudio
from ..call_registry import CallRegistry, NoRoomForCall, UnknownCall
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
    why: str | None = None  # why the emulator closed it (CallRecord.peer_end_reason)
    readers: list[asyncio.Task[None]] = field(default_factory=list)  # of the browser's tracks (_drain)


async def _read_until_ended(track: MediaStreamTrack) -> None:
    with contextlib.suppress(MediaStreamError):  # the track ended: its peer closed
        while True:
            await track.recv()


def _described(error: Exception) -> str:
    """What a client reads of why ``aiortc`` could not use its offer (a ValueError's text says it already)."""
    if isinstance(error, ValueError) and str(error):
        return str(error)
    return f"{type(error).__name__}: {error}" if str(error) else f"{type(error).__name__} in aiortc's SDP parser"


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
        self._held_lock = threading.Lock()
        self._held: set[str] = set()  # calls with a peer answering or open: at most the registry's max_calls

    @property
    def held(self) -> int:
        """Peers answering or open now (closed peers are not counted): tests check hostile calls leave none."""
        with self._held_lock:
            return len(self._held)

    # the handler threads' side

    def answer(self, call_id: str, offer: bytes) -> str:
        """:class:`NoRoomForCall` (no peer made) when ``max_calls`` peers are answering or open: offers that
        arrive at once cannot each pass the registry's room check and make a peer before any is recorded."""
        with self._held_lock:
            if len(self._held) >= self._calls.max_calls:
                raise NoRoomForCall(call_id)
            self._held.add(call_id)
        try:
            return self._loop.run(self._answer(call_id, offer), ANSWER_TIMEOUT + 1.0)
        except TimeoutError:
            self._release(call_id)
            raise PeerFailed(f"the emulator's WebRTC peer did not answer within {ANSWER_TIMEOUT:g} s") from None
        except BaseException:
            self._release(call_id)
            raise

    def _release(self, call_id: str) -> None:
        with self._held_lock:
            self._held.discard(call_id)

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
                try:
                    await pc.setRemoteDescription(RTCSessionDescription(sdp=offer.decode("utf-8"), type="offer"))
                    if any(transceiver.kind == "audio" for transceiver in pc.getTransceivers()):
                        pc.addTrack(SpeakerTrack(peer.audio))
                    answer = await pc.createAnswer()
                except Exception as error:  # aiortc's parser raises whatever a malformed offer trips (KeyError...)
                    raise OfferRefused(_described(error)) from None
                await pc.setLocalDescription(answer)
                peer.audio.has_speaker(
                    any(
                        transceiver.kind == "audio" and transceiver.currentDirection in ("sendrecv", "sendonly")
                        for transceiver in pc.getTransceivers()
                    )
                )
        except OfferRefused:
            await self._close_peer(peer)
            raise
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
        states, why = tuple(peer.states), peer.why
        try:
            self._calls.update(peer.call_id, lambda record: replace(record, peer_states=states, peer_end_reason=why))
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
            self._drop(peer, f"not connected within {CONNECT_TIMEOUT:g} s of the answer")

    def _drop(self, peer: _Peer, why: str) -> None:
        """The emulator ends the call because of its peer (recorded as ``peer_end_reason``) and closes it."""
        if self._peers.get(peer.call_id) is not peer or peer.why is not None:
            return
        peer.why = why  # recorded with the "closed" state the close brings, which ends the call (_state_changed)
        self._close(peer.call_id)

    def _channel_opened(self, peer: _Peer, channel: RTCDataChannel) -> None:
        if channel.label != EVENTS_LABEL or peer.channel is not None:
            return  # not the API's channel (or a second one): the API does not serve it either
        dropped = lambda why: self._drop(peer, f"oai-events: {why}")  # noqa: E731
        peer.channel = DataChannelTransport(channel, self._loop, dropped)  # from now on its messages wait in its inbox
        self._serve(peer)

    def _track(self, peer: _Peer, track: MediaStreamTrack) -> None:
        """The browser's audio track: heard by a VAD of its own until it ends (the peer closing ends it); any other
        track is read and dropped (:meth:`_drain`). One reader per track: frames are not copied to a second."""
        if track.kind != "audio" or peer.hearing is not None:
            self._drain(peer, track)
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

    def _drain(self, peer: _Peer, track: MediaStreamTrack) -> None:
        """Read the browser's track and drop its frames: ``aiortc`` queues every decoded frame of a track nobody
        reads, without bound (about 1.2 MB a second per call, bench/bench_webrtc_peers.py). The caller's audio
        track has the VAD as its reader instead (:meth:`_track`): one reader per track, frames are not copied."""
        peer.readers.append(asyncio.get_running_loop().create_task(_read_until_ended(track)))

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
        try:
            await peer.pc.close()
        except Exception:  # a peer whose offer was refused half-way: aiortc trips over transports never made
            _log.debug("closing the WebRTC peer of %s failed", peer.call_id, exc_info=True)
        finally:
            for reader in peer.readers:  # a track whose receiver never started does not end by itself
                reader.cancel()
            self._release(peer.call_id)

    async def _close_all(self) -> None:
        peers = list(self._peers.values())
        await asyncio.gather(*(self._close_peer(peer) for peer in peers), return_exceptions=True)
