"""The service: :class:`RealtimeSessionService` runs every operation declared in :mod:`.operations` on one
shared path of validation, retries, gateway, error mapping and logging."""

from .codecs import (
    shared_beta_codec,
    shared_call_session_codec,
    shared_client_secret_codec,
    shared_live_codec,
    shared_transcription_codec,
    shared_translation_codec,
)
from .service import RealtimeSessionService, Timeout

__all__ = [
    "RealtimeSessionService",
    "Timeout",
    "shared_beta_codec",
    "shared_call_session_codec",
    "shared_client_secret_codec",
    "shared_live_codec",
    "shared_transcription_codec",
    "shared_translation_codec",
]
