"""``POST /v1/realtime/translations/client_secrets`` (GA, since 2026-05; not in the YAML, NOTES.md "Not in
the YAML"): the request table and the 200 answer.

``session`` and ``session.model`` are required; the expiry works as for ``/realtime/client_secrets`` (600 s by
default). The answer's session has no ``object`` (NOTES lists ``id, type, expires_at, model, audio``); its
``audio`` echoes the request with ``null`` for what was not sent.
"""

from __future__ import annotations

from typing import Any

from .replies import Reply, random_id
from .shapes import EXPIRY, NOISE_REDUCTION, answer, mint
from .validation import Nullable, Object, String

TRANSLATION_CLIENT_SECRET_CREATE_REQUEST = Object(
    {
        "expires_after": EXPIRY,
        "session": Object(
            {
                "model": String(),
                "audio": Object(
                    {
                        "input": Object(
                            {"transcription": Nullable(Object({"model": String()})), "noise_reduction": NOISE_REDUCTION}
                        ),
                        "output": Object({"language": String()}),
                    }
                ),
            },
            required=frozenset({"model"}),
        ),
    },
    required=frozenset({"session"}),
)


def translation_session(session: dict[str, Any], expires_at: int) -> dict[str, Any]:
    """The ``translation`` session of the answer, echoing a validated request session."""
    audio = session.get("audio", {})
    audio_in = audio.get("input", {})
    return {
        "id": random_id("sess_"),
        "type": "translation",
        "expires_at": expires_at,
        "model": session["model"],
        "audio": {
            "input": {
                "transcription": audio_in.get("transcription"),
                "noise_reduction": audio_in.get("noise_reduction"),
            },
            "output": {"language": audio.get("output", {}).get("language")},
        },
    }


def create_translation_client_secret(body: dict[str, Any], now: float) -> Reply:
    """Validate like the real API (first problem wins, 400) or answer 200 with a secret and its session."""
    return answer(
        TRANSLATION_CLIENT_SECRET_CREATE_REQUEST,
        body,
        lambda valid: mint(valid, now, lambda expires_at: translation_session(valid["session"], expires_at)),
    )
