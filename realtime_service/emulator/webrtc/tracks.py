"""The emulator peer's outgoing audio: 20 ms frames of 48 kHz mono PCM16, paced in real time.

Silence for now; :meth:`SpeakerTrack.samples` is the one place a later slice fills (a tone while the script's
``model_says`` plays), so pacing and timestamps stay here.
"""

from __future__ import annotations

import asyncio
import fractions

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame

SAMPLE_RATE = 48_000
FRAME_MS = 20
SAMPLES_PER_FRAME = SAMPLE_RATE * FRAME_MS // 1000


class SpeakerTrack(MediaStreamTrack):
    """An audio track whose frames :meth:`samples` fills (silence), one every 20 ms of the loop's clock."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._start: float | None = None
        self._pts = 0

    def samples(self, count: int) -> bytes:
        """``count`` PCM16 mono samples for the next frame (a subclass speaks here)."""
        return bytes(2 * count)

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
