"""The model's synthetic voice: a voice-like signal, not speech, so a browser hears (and meters) a turn.

Syllables at about 4.5 per second, each a 120-220 Hz fundamental gliding down a little, with three harmonics,
shaped by a raised-cosine envelope and followed by a short gap: it sounds like murmured talk and an audio
meter moves as it does for speech. Pure arithmetic (no numpy): one loop of :data:`LOOP_SAMPLES` is computed once
per process (about 0.1 s of CPU, :func:`warm`) and every frame is a slice of it, so a turn costs no more than
silence to make; the Opus encoder's work is what differs.
"""

from __future__ import annotations

import array
import functools
import math
import sys

SAMPLE_RATE = 48_000
SYLLABLE_SAMPLES = SAMPLE_RATE * 2 // 9
"""One syllable: 4.5 per second."""
PITCHES = (150.0, 185.0, 165.0, 210.0, 140.0, 195.0, 175.0, 120.0, 160.0, 200.0, 135.0)
"""Each syllable's starting fundamental (Hz), in turn; it glides down 8 % over the syllable."""
LOOP_SAMPLES = SYLLABLE_SAMPLES * len(PITCHES)
"""The voice repeats after this many samples (about 2.4 s)."""
HARMONICS = (1.0, 0.5, 0.3, 0.15)
"""The amplitudes of the fundamental and its harmonics."""
PEAK = 0.35
"""The harmonics' summed amplitude, as a fraction of full scale (the loudest sample is about -12 dBFS, a turn's
RMS about -22 dBFS)."""
VOICED = 0.75
"""The share of each syllable that sounds; the rest is a gap."""


@functools.cache
def _loop() -> bytes:
    """One loop of the voice as PCM16 mono, little-endian."""
    scale = PEAK * 32767 / sum(HARMONICS)
    samples = array.array("h", bytes(2 * LOOP_SAMPLES))
    voiced = int(SYLLABLE_SAMPLES * VOICED)
    phase = 0.0
    for index, pitch in enumerate(PITCHES):
        base = index * SYLLABLE_SAMPLES
        for n in range(voiced):
            progress = n / voiced
            phase += 2 * math.pi * pitch * (1 - 0.08 * progress) / SAMPLE_RATE
            envelope = math.sin(math.pi * progress) ** 2
            value = sum(amplitude * math.sin((h + 1) * phase) for h, amplitude in enumerate(HARMONICS))
            samples[base + n] = int(scale * envelope * value)
    if sys.byteorder != "little":
        samples.byteswap()
    return samples.tobytes()


def warm() -> None:
    """Compute the loop now (a peer host does, so no frame waits for it on the peer's loop)."""
    _loop()


def voice(offset: int, count: int) -> bytes:
    """``count`` samples of the voice from sample ``offset`` on (it loops), PCM16 mono little-endian."""
    loop = _loop()
    start = 2 * (offset % LOOP_SAMPLES)
    out = bytearray()
    while len(out) < 2 * count:
        chunk = loop[start : start + 2 * count - len(out)]
        out += chunk
        start = 0
    return bytes(out)
