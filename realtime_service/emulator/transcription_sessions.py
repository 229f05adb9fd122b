"""``POST /v1/realtime/transcription_sessions`` (beta): the request table and the 200 answer.

The table follows NOTES.md section 2 (APR25 plus the mid-2025 ``client_secret``), not HEAD's GA-flavoured
rewrite. Surprises kept on purpose:

- the expiry inside ``client_secret`` is named ``expires_at`` here (``expires_after`` in ``/sessions``), and
  its ``anchor`` may be omitted (openai-python does not require it here);
- ``input_audio_transcription.model`` is an enum, unlike ``/sessions`` where any string goes.

Key TTL, the same rule as ``/realtime/sessions``: 60 s when ``client_secret.expires_at`` is not sent (the
beta docs' "one minute"), 600 s when it is sent without ``seconds`` (the field's documented default), else
``seconds``. The answer echoes only what the SDK's ``TranscriptionSession`` lists; its transcription defaults
to the spec example's ``{"model": "gpt-4o-transcribe", "language": null, "prompt": ""}``.
"""

from __future__ import annotations

from typing import Any

from .replies import Reply, random_id
from .shapes import (
    AUDIO_FORMAT,
    EXPIRY,
    MODALITIES,
    NOISE_REDUCTION,
    TRANSCRIPTION_TEXT_FIELDS,
    TURN_DETECTION,
    answer,
    beta_secret,
    transcription_turn_detection,
)
from .validation import Array, Enum, Object, String

TRANSCRIPTION_MODELS = ("gpt-4o-transcribe", "gpt-4o-mini-transcribe", "whisper-1")

TRANSCRIPTION_SESSION_CREATE_REQUEST = Object(
    {
        "modalities": MODALITIES,
        "input_audio_format": AUDIO_FORMAT,
        "input_audio_transcription": Object({"model": Enum(TRANSCRIPTION_MODELS), **TRANSCRIPTION_TEXT_FIELDS}),
        "turn_detection": TURN_DETECTION,
        "input_audio_noise_reduction": NOISE_REDUCTION,
        "include": Array(String()),
        "client_secret": Object({"expires_at": EXPIRY}),
    }
)

_DEFAULT_TRANSCRIPTION: dict[str, Any] = {"model": "gpt-4o-transcribe", "language": None, "prompt": ""}


def transcription_session_object(body: dict[str, Any], now: float) -> dict[str, Any]:
    """The 200 body: a ``realtime.transcription_session`` with a fresh ``ek_`` key."""
    return {
        "id": random_id("sess_"),
        "object": "realtime.transcription_session",
        "client_secret": beta_secret(body.get("client_secret"), "expires_at", now),
        "modalities": list(body.get("modalities", ["text", "audio"])),
        "input_audio_format": body.get("input_audio_format", "pcm16"),
        "input_audio_transcription": {**_DEFAULT_TRANSCRIPTION, **body.get("input_audio_transcription", {})},
        "turn_detection": transcription_turn_detection(body.get("turn_detection", {})),
    }


def create_transcription_session(body: dict[str, Any], now: float) -> Reply:
    """Validate like the real API (first problem wins, 400) or answer 200 with a transcription session."""
    return answer(TRANSCRIPTION_SESSION_CREATE_REQUEST, body, lambda valid: transcription_session_object(valid, now))
