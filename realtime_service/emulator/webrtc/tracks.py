"""The emulator peer's audio: what it sends (20 ms frames of 48 kHz mono PCM16, paced in real time) and how it
hears the browser's track.

:class:`SpeakerTrack` sends silence, except while the call's script has the model speaking: then the frames
are the synthetic voice (:mod:`.voice`) for as many samples as :meth:`~..call_audio.CallAudio.take` grants, so
a turn's audio starts at the next frame after ``output_audio_buffer.started`` and ends exactly when the
queued milliseconds are sent. :func:`hear` decodes the browser's frames into the VAD (:mod:`.vad`).
"""

from __future__ import annotations

import asyncio
import fractions

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame

from ..call_audio import CallAudio
from .vad import EnergyVad, frame_dbfs
from .voice import voice

SAMPLE_RATE = 48_000
FRAME_MS = 20
SAMPLES_PER_FRAME = SAMPLE_RATE * FRAME_MS // 1000


class SpeakerTrack(MediaStreamTrack):
    """An audio track whose frames :meth:`samples` fills, one every 20 ms of the loop's clock."""

    kind = "audio"

    def __init__(self, audio: CallAudio | None = None) -> None:
        super().__init__()
        self._audio = audio
        self._start: float | None = None
        self._pts = 0

    def samples(self, count: int) -> bytes:
        """``count`` PCM16 mono samples for the next frame: the model's voice while it speaks, else silence."""
        if self._audio is None:
            return bytes(2 * count)
        voiced, offset = self._audio.take(count)
        if not voiced:
            return bytes(2 * count)
        return voice(offset, voiced) + bytes(2 * (count - voiced))

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        else:
            self._pts += SAMPLES_PER_FRAME
            await asyncio.sleep(max(0.0, self._start + self._pts / SAMPLE_RATE - loop.time()))
        frame = AudioFrame(format="s16", layout="mono", samples=SAMPLES_PER_FRAME)
        frame.planes[0].update(self.samples(SAMPLES_PER_FRAME))
        frame.pts = self._pts
        frame.sample_rate = SAMPLE_RATE
        frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
        return frame


async def hear(track: MediaStreamTrack, vad: EnergyVad) -> None:
    """Feed every decoded frame of the browser's audio ``track`` to ``vad`` until the track ends."""
    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        if not isinstance(frame, AudioFrame) or not frame.sample_rate:
            continue
        size = frame.samples * len(frame.layout.channels) * 2
        vad.feed(frame_dbfs(bytes(frame.planes[0])[:size]), 1000 * frame.samples / frame.sample_rate)
