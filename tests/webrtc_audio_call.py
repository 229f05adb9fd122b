"""Inside a private network namespace (tests/netns.py): the audio of an emulator WebRTC call, heard and spoken by
a second ``aiortc`` peer playing the browser. Prints one JSON report on stdout for
tests/test_emulator_webrtc_audio.py.

The browser measures every frame it receives (RMS in dBFS) and files it under the phase the data channel's
events say the call is in; it sends silence until the script's caller step is waiting, then a tone until the
emulator's VAD says ``speech_started``, a few frames more, then silence until ``speech_stopped``. Every wait is on
an event or a count of frames, with a deadline; CPU is read at the phase changes (reported, never asserted).
"""

from __future__ import annotations

import array
import asyncio
import fractions
import json
import math
import statistics
import sys
import time
from typing import Any

import requests
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame
from netns import BROWSER_ADDRESS, EMULATOR_ADDRESS, make_network
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from realtime_service.emulator import Emulator
from realtime_service.emulator.webrtc import gathering
from realtime_service.emulator.webrtc.vad import frame_dbfs

SCRIPT = [
    {"wait": 2},
    {"model_says": "Hello there, how can I help you today?"},
    {"caller": {"text": "Where is my order?", "wait_for_speech": True, "timeout": 30}},
    {"model_says": "It ships tomorrow."},
]
DEADLINE = 30.0
RATE = 48_000
FRAME = 960
TONE_FRAMES_AFTER_START = 15
"""Frames of tone the browser still sends after ``speech_started`` arrived (so the turn has some length)."""
QUIET_FRAMES_BEFORE_TONE = 50
"""Frames received after the first turn's ``output_audio_buffer.stopped`` before the browser speaks."""


class MicrophoneTrack(MediaStreamTrack):
    """The browser's microphone: silence, or a 440 Hz tone at about -15 dBFS while :attr:`speaking`."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.speaking = False
        self.sent = 0
        """Frames sent so far."""
        self.tone_frames = 0
        """Frames of tone sent so far."""
        self._start: float | None = None
        self._tone = array.array("h", (int(6000 * math.sin(2 * math.pi * 440 * n / RATE)) for n in range(RATE)))

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        else:
            await asyncio.sleep(max(0.0, self._start + self.sent * FRAME / RATE - loop.time()))  # real-time pacing
        frame = AudioFrame(format="s16", layout="mono", samples=FRAME)
        if self.speaking:
            at = (self.tone_frames * FRAME) % RATE
            chunk = self._tone[at : at + FRAME]
            frame.planes[0].update(chunk.tobytes())
            self.tone_frames += 1
        else:
            frame.planes[0].update(bytes(2 * FRAME))
        frame.pts = self.sent * FRAME
        frame.sample_rate = RATE
        frame.time_base = fractions.Fraction(1, RATE)
        self.sent += 1
        return frame


class AudioBrowser:
    """An offerer with :class:`MicrophoneTrack` and ``oai-events``; meters what it hears, phase by phase."""

    def __init__(self, *, direction: str = "sendrecv") -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.microphone = MicrophoneTrack()
        self.pc.addTransceiver(self.microphone, direction=direction)
        self.channel = self.pc.createDataChannel("oai-events")
        self.events: list[dict[str, Any]] = []
        self.changed = asyncio.Event()
        self.phase = "before"
        self.turns = 0
        self.heard: dict[str, list[float]] = {}
        self.cpu: dict[str, tuple[float, int]] = {}  # phase -> (cpu seconds at its start, frames at its start)
        self.received = 0
        self.channel.on("message", self._message)
        self.pc.on("track", self._track)
        self.pc.on("connectionstatechange", self.changed.set)
        self._listening: asyncio.Task[None] | None = None

    def _enter(self, phase: str) -> None:
        self.phase = phase
        self.cpu[phase] = (time.process_time(), self.received)

    def _message(self, message: str | bytes) -> None:
        event = json.loads(message)
        self.events.append(event)
        if event.get("type") == "output_audio_buffer.started":
            self.turns += 1
            self._enter(f"turn{self.turns}")
        elif event.get("type") == "output_audio_buffer.stopped":
            self._enter(f"after{self.turns}")
        self.changed.set()

    def _track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self._listening = asyncio.get_running_loop().create_task(self._listen(track))

    async def _listen(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            size = frame.samples * len(frame.layout.channels) * 2
            self.heard.setdefault(self.phase, []).append(frame_dbfs(bytes(frame.planes[0])[:size]))
            self.received += 1
            if self.received == 10 and self.phase == "before":
                self._enter("silence")
            self.changed.set()

    async def offer(self) -> str:
        gathering.ALLOWED.set((BROWSER_ADDRESS,))
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def until(self, what: Any, description: str) -> None:
        deadline = time.monotonic() + DEADLINE
        while not what():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                kinds = [e.get("type") for e in self.events]
                raise SystemExit(f"timed out waiting for {description}; phase {self.phase}, events {kinds}")
            self.changed.clear()
            try:
                async with asyncio.timeout(min(remaining, 0.2)):
                    await self.changed.wait()
            except TimeoutError:
                pass

    def index(self, kind: str, start: int = 0) -> int:
        """The position of the first ``kind`` event from ``start`` on (-1: none)."""
        return next((i for i, e in enumerate(self.events) if i >= start and e.get("type") == kind), -1)

    def has(self, kind: str, count: int = 1) -> bool:
        return sum(e.get("type") == kind for e in self.events) >= count

    async def close(self) -> None:
        await self.pc.close()
        if self._listening is not None:
            self._listening.cancel()


def _sideband_speech(sideband: ClientConnection) -> list[dict[str, Any]]:
    """What a server tool's sideband hears up to the caller's ``speech_stopped`` (or its close, or the deadline)."""
    heard: list[dict[str, Any]] = []
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        try:
            event = json.loads(sideband.recv(timeout=max(0.0, deadline - time.monotonic())))
        except (TimeoutError, ConnectionClosed):
            break
        heard.append(event)
        if event.get("type") == "input_audio_buffer.speech_stopped":
            break
    return heard


def _cpu_percent(browser: AudioBrowser, phase: str, until: str) -> float:
    """CPU of this process (both peers) per second of audio received, between two phase changes."""
    (cpu0, frames0), (cpu1, frames1) = browser.cpu[phase], browser.cpu[until]
    seconds = (frames1 - frames0) * FRAME / RATE
    return round(100 * (cpu1 - cpu0) / seconds, 1) if seconds > 0 else -1.0


LONG_TURN = " ".join(["word"] * 150)
"""45 s of speech: a call that waited for it (plus the 10 s margin) would outlast the helper's deadline."""


async def no_audio_call() -> dict[str, Any]:
    """A browser that only sends audio (``sendonly``: the emulator's answer receives only): the model's turns do
    not wait for audio the peer does not send."""
    with Emulator(webrtc=True, webrtc_addresses=[EMULATOR_ADDRESS]) as emulator:
        browser = AudioBrowser(direction="sendonly")
        offer = await browser.offer()
        headers = {"Authorization": f"Bearer {emulator.api_key}", "Content-Type": "application/sdp"}
        response = await asyncio.to_thread(
            requests.post, f"{emulator.base_url}/realtime/calls", headers=headers, data=offer.encode(), timeout=30
        )
        assert response.status_code == 201, response.text
        call_id = response.headers["location"].rsplit("/", 1)[-1]
        emulator.script_call(call_id, [{"model_says": LONG_TURN}, {"model_says": "Done"}])
        await browser.pc.setRemoteDescription(RTCSessionDescription(sdp=response.text, type="answer"))
        await browser.until(lambda: browser.has("output_audio_buffer.stopped", 2), "both turns to end")
        await browser.close()
    return {"answer_receives_only": "a=recvonly" in response.text, "events": [e.get("type") for e in browser.events]}


async def main() -> dict[str, Any]:
    no_audio = await no_audio_call()
    with Emulator(webrtc=True, webrtc_addresses=[EMULATOR_ADDRESS], script=SCRIPT) as emulator:
        browser = AudioBrowser()
        offer = await browser.offer()
        session = {"type": "realtime", "model": "gpt-realtime-2.1"}
        response = await asyncio.to_thread(
            requests.post,
            f"{emulator.base_url}/realtime/calls",
            headers={"Authorization": f"Bearer {emulator.api_key}"},
            files={"sdp": (None, offer), "session": (None, json.dumps(session))},
            timeout=30,
        )
        assert response.status_code == 201, response.text
        call_id = response.headers["location"].rsplit("/", 1)[-1]
        await browser.pc.setRemoteDescription(RTCSessionDescription(sdp=response.text, type="answer"))
        await browser.until(lambda: browser.pc.connectionState == "connected" and bool(browser.events), "open")
        sideband = await asyncio.to_thread(
            connect,
            f"ws://127.0.0.1:{emulator.port}/v1/realtime?call_id={call_id}",
            additional_headers={"Authorization": f"Bearer {emulator.api_key}"},
            open_timeout=DEADLINE,
        )
        listening = asyncio.create_task(asyncio.to_thread(_sideband_speech, sideband))

        # the first turn, heard; then silence until the caller's step waits, then quiet frames
        await browser.until(lambda: browser.has("output_audio_buffer.stopped"), "the first turn's audio to end")
        record = await asyncio.to_thread(
            emulator.calls.wait_until,
            call_id,
            lambda r: r.script_state is not None and r.script_state.step_name == "caller",
            DEADLINE,
        )
        waiting = record.script_state
        quiet_from = browser.received
        await browser.until(lambda: browser.received >= quiet_from + QUIET_FRAMES_BEFORE_TONE, "quiet frames")
        events_before_tone = [e.get("type") for e in browser.events]

        # the caller speaks: a tone until the VAD hears it (and a little more), then silence until it stops
        browser._enter("speaking")
        browser.microphone.speaking = True
        await browser.until(lambda: browser.has("input_audio_buffer.speech_started"), "speech_started")
        stop_at = browser.microphone.tone_frames + TONE_FRAMES_AFTER_START
        await browser.until(lambda: browser.microphone.tone_frames >= stop_at, "the tone's last frames")
        browser.microphone.speaking = False
        await browser.until(lambda: browser.has("input_audio_buffer.speech_stopped"), "speech_stopped")
        await browser.until(lambda: browser.has("output_audio_buffer.stopped", 2), "the second turn's audio to end")
        ended = await asyncio.to_thread(
            emulator.calls.wait_until,
            call_id,
            lambda r: r.script_state is not None and r.script_state.status in ("done", "failed"),
            DEADLINE,
        )
        heard = await listening
        sideband.close()
        await browser.close()

    def dbfs(phase: str) -> list[float]:
        return browser.heard.get(phase, [])

    turn1, after1, silence = dbfs("turn1"), dbfs("after1"), dbfs("silence")
    return {
        "events": [e.get("type") for e in browser.events],
        "speech": [e for e in browser.events if e.get("type", "").startswith("input_audio_buffer.")],
        "response_ids": [
            [e.get("type"), e.get("response_id") or (e.get("response") or {}).get("id")]
            for e in browser.events
            if e.get("type") in ("response.created", "response.done")
            or str(e.get("type")).startswith("output_audio_buffer.")
        ],
        "waiting_state": [waiting.status, waiting.step, waiting.step_name] if waiting else None,
        "events_before_tone": events_before_tone,
        "script_state": [ended.script_state.status, ended.script_state.reason] if ended.script_state else None,
        "sideband": [
            [e.get("type"), e.get("item_id")] for e in heard if str(e.get("type")).startswith("input_audio_buffer.")
        ],
        "frames": {phase: len(values) for phase, values in browser.heard.items()},
        "turn_median_dbfs": statistics.median(turn1) if turn1 else None,
        "turn_max_dbfs": max(turn1) if turn1 else None,
        "silence_max_dbfs": max(silence) if silence else None,
        "between_median_dbfs": statistics.median(after1) if after1 else None,
        "cpu_percent_silence": _cpu_percent(browser, "silence", "turn1"),
        "cpu_percent_voice": _cpu_percent(browser, "turn1", "after1"),
        "no_audio": no_audio,
    }


if __name__ == "__main__":
    make_network()
    report = asyncio.run(main())
    sys.stdout.write(json.dumps(report) + "\n")
