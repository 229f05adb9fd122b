"""The emulator peer's server VAD: the energy of the browser's audio turned into the caller's turns of speech.

Not the API's model-based VAD: a frame is speech when its RMS is over :attr:`VadSettings.threshold_dbfs`; the
caller starts speaking after :attr:`~VadSettings.start_ms` of speech frames in a row, and stops after
:attr:`~VadSettings.silence_ms` without one (``silence_duration_ms``). As the SDK's types describe them,
``audio_start_ms`` includes ``prefix_padding_ms`` (it is that much before the speech began, never before 0) and
``audio_end_ms`` the silence that ended the turn; both count the call's incoming audio from its first frame.

The session decides: its ``audio.input.turn_detection`` (read again every second of audio, so a
``session.update`` takes effect) gives ``silence_duration_ms`` and ``prefix_padding_ms``; ``null`` turns the
VAD off (no events, no turns, as the API sends none). Its ``threshold`` (0-1) is the API's model's, not an
energy, and is not used. Pure arithmetic on each decoded frame (:func:`frame_dbfs`).
"""

from __future__ import annotations

import array
import math
import operator
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

SILENT_DBFS = -120.0
"""What a frame of zeros measures."""


@dataclass(frozen=True, slots=True)
class VadSettings:
    """The VAD's thresholds (``PeerHost.vad``); the session's ``turn_detection`` sets the last two."""

    threshold_dbfs: float = -40.0
    """A frame at or over this RMS is speech."""
    start_ms: int = 100
    """Speech this long without a break starts a turn."""
    silence_ms: int = 500
    """Silence this long ends it (the API's ``silence_duration_ms`` default)."""
    prefix_padding_ms: int = 300
    """How far before the speech ``audio_start_ms`` points (the API's ``prefix_padding_ms`` default)."""


def from_session(session: Any, defaults: VadSettings) -> VadSettings | None:
    """The settings for a session (its ``audio.input.turn_detection``, else a top-level ``turn_detection``),
    ``None`` when turn detection is off (``null``)."""
    if not isinstance(session, dict):
        return defaults
    audio = session.get("audio")
    audio_in = audio.get("input") if isinstance(audio, dict) else None
    if isinstance(audio_in, dict) and "turn_detection" in audio_in:
        detection = audio_in["turn_detection"]
    elif "turn_detection" in session:
        detection = session["turn_detection"]
    else:
        return defaults
    if detection is None:
        return None
    if not isinstance(detection, dict):
        return defaults
    settings = defaults
    for field, name in (("silence_duration_ms", "silence_ms"), ("prefix_padding_ms", "prefix_padding_ms")):
        value = detection.get(field)
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 60_000:
            settings = replace(settings, **{name: value})
    return settings


def frame_dbfs(pcm: bytes) -> float:
    """The RMS of PCM16 samples (any channel layout, interleaved), in dB of full scale."""
    samples = array.array("h")
    samples.frombytes(pcm[: len(pcm) // 2 * 2])
    if sys.byteorder != "little":
        samples.byteswap()
    if not samples:
        return SILENT_DBFS
    power = sum(map(operator.mul, samples, samples)) / len(samples)
    if power <= 0:
        return SILENT_DBFS
    return max(SILENT_DBFS, 10 * math.log10(power / (32768.0 * 32768.0)))


class EnergyVad:
    """Feeds on frames in order (:meth:`feed`); calls ``started(audio_start_ms)`` and ``stopped(audio_end_ms)``.
    ``settings()`` is asked at the first frame and after each second of audio (``None``: off)."""

    REFRESH_MS = 1000

    def __init__(
        self,
        settings: Callable[[], VadSettings | None],
        started: Callable[[int], None],
        stopped: Callable[[int], None],
    ) -> None:
        self._settings_of = settings
        self._started, self._stopped = started, stopped
        self._settings: VadSettings | None = None
        self._refreshed = -self.REFRESH_MS
        self.now_ms = 0.0
        """The incoming audio heard so far (ms)."""
        self._onset: float | None = None  # speech frames in a row began here
        self._speaking = False
        self._last_speech = 0.0  # the end of the last speech frame

    def feed(self, dbfs: float, duration_ms: float) -> None:
        """One frame of ``duration_ms`` that measured ``dbfs``."""
        start, self.now_ms = self.now_ms, self.now_ms + duration_ms
        if self.now_ms - self._refreshed >= self.REFRESH_MS:
            self._refreshed = int(self.now_ms)
            self._settings = self._settings_of()
            if self._settings is None and self._speaking:  # turned off mid-turn: the turn ends here
                self._speaking, self._onset = False, None
                self._stopped(int(self.now_ms))
        settings = self._settings
        if settings is None:
            self._onset = None
            return
        if dbfs >= settings.threshold_dbfs:
            self._last_speech = self.now_ms
            if self._onset is None:
                self._onset = start
            if not self._speaking and self.now_ms - self._onset >= settings.start_ms:
                self._speaking = True
                self._started(max(0, int(self._onset) - settings.prefix_padding_ms))
            return
        if not self._speaking:
            self._onset = None
        elif self.now_ms - self._last_speech >= settings.silence_ms:
            self._speaking, self._onset = False, None
            self._stopped(int(self.now_ms))
