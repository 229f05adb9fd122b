"""``POST /v1/realtime/sessions`` (beta): the request table and the realistic 200 answer.

The table follows NOTES.md section 1 (APR25 spec plus the mid-2025 additions), not HEAD's swapped names.
Key TTL: 60 s without ``client_secret.expires_after``, 600 s when it omits ``seconds`` (see shapes.py).
"""

from __future__ import annotations

from typing import Any

from .replies import Reply, random_id
from .shapes import (
    AUDIO_FORMAT,
    DEFAULT_INSTRUCTIONS,
    EXPIRES_AFTER_ANCHORED,
    FUNCTION_TOOL,
    MAX_OUTPUT_TOKENS,
    MODALITIES,
    NOISE_REDUCTION,
    TRACING,
    TRANSCRIPTION_TEXT_FIELDS,
    TURN_DETECTION,
    answer,
    beta_secret,
    fill_turn_detection,
)
from .validation import Array, Nullable, Number, Object, String

DEFAULT_MODEL = "gpt-4o-realtime-preview"

SESSION_CREATE_REQUEST = Object(
    {
        "model": String(),
        "modalities": MODALITIES,
        "instructions": String(),
        "voice": String(),
        "input_audio_format": AUDIO_FORMAT,
        "output_audio_format": AUDIO_FORMAT,
        "input_audio_transcription": Nullable(Object({"model": String(), **TRANSCRIPTION_TEXT_FIELDS})),
        "turn_detection": TURN_DETECTION,
        "input_audio_noise_reduction": NOISE_REDUCTION,
        "tools": Array(FUNCTION_TOOL),
        "tool_choice": String(),
        "temperature": Number(0.6, 1.2),
        "max_response_output_tokens": MAX_OUTPUT_TOKENS,
        "speed": Number(0.25, 1.5),
        "tracing": TRACING,
        "client_secret": Object({"expires_after": EXPIRES_AFTER_ANCHORED}),
    }
)


def session_object(body: dict[str, Any], now: float) -> dict[str, Any]:
    """The 200 body: the requested settings echoed over the beta defaults, plus a fresh ``ek_`` key."""
    return {
        "id": random_id("sess_"),
        "object": "realtime.session",
        "model": body.get("model", DEFAULT_MODEL),
        "modalities": list(body.get("modalities", ["text", "audio"])),
        "instructions": body.get("instructions", DEFAULT_INSTRUCTIONS),
        "voice": body.get("voice", "alloy"),
        "input_audio_format": body.get("input_audio_format", "pcm16"),
        "output_audio_format": body.get("output_audio_format", "pcm16"),
        "input_audio_transcription": body.get("input_audio_transcription"),
        "turn_detection": fill_turn_detection(body.get("turn_detection", {})),
        "input_audio_noise_reduction": body.get("input_audio_noise_reduction"),
        "tools": body.get("tools", []),
        "tool_choice": body.get("tool_choice", "auto"),
        "temperature": body.get("temperature", 0.8),
        "max_response_output_tokens": body.get("max_response_output_tokens", "inf"),
        "speed": body.get("speed", 1.0),
        "tracing": body.get("tracing"),
        "client_secret": beta_secret(body.get("client_secret"), "expires_after", now),
    }


def create_session(body: dict[str, Any], now: float) -> Reply:
    """Validate like the real API (first problem wins, 400) or answer 200 with a session."""
    return answer(SESSION_CREATE_REQUEST, body, lambda valid: session_object(valid, now))
