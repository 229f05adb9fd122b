"""One WebRTC call's audio as the script and the call's connections see it (no ``aiortc`` here).

The emulator's peer (:mod:`.webrtc`) owns the outgoing track and hears the browser's; this is what it shares
with the rest of the emulator, thread-safe:

- the model's speech: a script's ``model_says`` queues milliseconds of voice (:meth:`CallAudio.speak`), the
  track takes them frame by frame (:meth:`CallAudio.take`) and the script waits until they are sent
  (:meth:`CallAudio.wait_spoken`), so ``output_audio_buffer.stopped`` follows the audio, not the transcript;
- the caller's speech: the peer's VAD reports it (:meth:`CallAudio.speech_started` / :meth:`speech_stopped`);
  each report goes, in order and off the peer's loop, to every listening connection (a Realtime call's data
  channel and sidebands) as ``input_audio_buffer.speech_started`` / ``speech_stopped``, and each finished turn is
  kept for a script's ``caller`` step that waits for speech (:meth:`CallAudio.next_turn`).
"""

from __future__ import annotations

import collections
import concurrent.futures
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .replies import random_id

SAMPLE_RATE = 48_000
"""The track's rate: the model's speech is counted in its samples."""
MAX_QUEUED_MS = 3_600_000
"""The model's speech queued at most (an hour): a script cannot make a call hold more."""
MAX_TURNS = 100
"""The caller's finished turns kept for the script at most (the newest)."""

Listener = Callable[[dict[str, Any]], bool]
"""Sends one server event on a connection; ``False`` once that connection is closed (it is then dropped)."""

_log = logging.getLogger("realtime_service.emulator")


@dataclass(frozen=True, slots=True)
class SpeechTurn:
    """One stretch of the caller's speech, as ``input_audio_buffer.speech_started/stopped`` reported it."""

    item_id: str
    audio_start_ms: int
    audio_end_ms: int


class CallAudio:
    """The audio of one call's peer (see the module); :meth:`close` when the peer closes wakes every wait."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._queued = 0  # samples of the model's speech still to send
        self._sent = 0  # samples of speech sent since the peer started: where the voice goes on
        self._closed = False
        self._speaker = False
        self._listeners: list[Listener] = []
        self._turns: collections.deque[SpeechTurn] = collections.deque(maxlen=MAX_TURNS)
        self._speech: tuple[str, int] | None = None  # the caller's speech under way: (item id, start ms)
        self._publisher: concurrent.futures.ThreadPoolExecutor | None = None

    # the model's speech: the script speaks and waits, the track takes

    def speak(self, ms: int) -> None:
        """Queue ``ms`` milliseconds of the model's voice after what is queued (at most :data:`MAX_QUEUED_MS`);
        nothing without a track (:meth:`has_speaker`) or once the peer closed."""
        with self._changed:
            if self._closed or not self._speaker:
                return
            limit = MAX_QUEUED_MS * SAMPLE_RATE // 1000
            self._queued = min(limit, self._queued + max(0, ms) * SAMPLE_RATE // 1000)
            self._changed.notify_all()

    def has_speaker(self, sends: bool) -> None:
        """Whether the peer sends an audio track (the offer has audio the answer sends on): without one the model's
        speech is not queued, so a script does not wait for audio nobody sends."""
        with self._changed:
            self._speaker = sends

    def take(self, count: int) -> tuple[int, int]:
        """For the track's next frame of ``count`` samples: how many are voice (the rest silence) and where in
        the voice they start. Never waits (the peer's loop calls it)."""
        with self._changed:
            voiced = min(count, self._queued)
            offset = self._sent
            self._queued -= voiced
            self._sent += voiced
            if voiced and not self._queued:
                self._changed.notify_all()
            return voiced, offset

    @property
    def speaking(self) -> bool:
        """Speech is queued and not all sent yet."""
        with self._changed:
            return self._queued > 0

    def wait_spoken(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the queued speech to be sent; whether it was (or the peer closed)."""
        with self._changed:
            return self._changed.wait_for(lambda: self._queued == 0 or self._closed, timeout)

    def clear(self) -> None:
        """Drop the speech not sent yet (the track goes silent at its next frame)."""
        with self._changed:
            self._queued = 0
            self._changed.notify_all()

    # the caller's speech: the VAD reports, the connections hear, the script waits

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Send the caller's speech events to ``listener`` from now on (never once the peer closed); returns what
        stops that."""
        with self._changed:
            if not self._closed:
                self._listeners.append(listener)

        def remove() -> None:
            with self._changed:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return remove

    def speech_started(self, audio_start_ms: int) -> None:
        """The VAD heard the caller start (at ``audio_start_ms`` of the call's incoming audio); no-op while a
        turn is under way."""
        with self._changed:
            if self._speech is not None or self._closed:
                return
            item_id = random_id("item_")
            self._speech = (item_id, audio_start_ms)
        event = {"type": "input_audio_buffer.speech_started", "audio_start_ms": audio_start_ms, "item_id": item_id}
        self._publish(event, None)

    def speech_stopped(self, audio_end_ms: int) -> None:
        """The VAD heard the caller stop: the turn goes to the listeners, then to :meth:`next_turn` (so a script
        hears of it only after the connections did); no-op without a turn under way."""
        with self._changed:
            if self._speech is None or self._closed:
                return
            (item_id, start), self._speech = self._speech, None
        event = {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": audio_end_ms, "item_id": item_id}
        self._publish(event, SpeechTurn(item_id, start, audio_end_ms))

    def next_turn(self, timeout: float) -> SpeechTurn | None:
        """The oldest finished turn not taken yet (waiting up to ``timeout`` seconds); ``None`` after that or
        once the peer closed."""
        with self._changed:
            if not self._changed.wait_for(lambda: self._turns or self._closed, timeout) or not self._turns:
                return None
            return self._turns.popleft()

    def _publish(self, event: dict[str, Any], turn: SpeechTurn | None) -> None:
        """Hand the event to one worker thread per call: in order, and never on the peer's loop (a sideband's
        send may block)."""
        with self._changed:
            if self._closed:
                return
            if self._publisher is None:
                self._publisher = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="emulator-speech")
            publisher = self._publisher
        try:
            publisher.submit(self._deliver, {"event_id": random_id("event_"), **event}, turn)
        except RuntimeError:  # shut down by close() meanwhile: the call is over
            return

    def _deliver(self, event: dict[str, Any], turn: SpeechTurn | None) -> None:
        with self._changed:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                open_ = listener(event)
            except Exception:  # a bug of ours in one connection: the others still hear, the call goes on
                _log.exception("sending %s to a connection failed", event["type"])
                open_ = True
            if not open_:
                with self._changed:
                    if listener in self._listeners:
                        self._listeners.remove(listener)
        if turn is not None:
            with self._changed:
                self._turns.append(turn)
                self._changed.notify_all()

    def close(self) -> None:
        """The peer closed: nothing more is spoken or heard; every wait returns."""
        with self._changed:
            self._closed = True
            self._queued = 0
            self._listeners.clear()
            publisher, self._publisher = self._publisher, None
            self._changed.notify_all()
        if publisher is not None:
            publisher.shutdown(wait=False)
