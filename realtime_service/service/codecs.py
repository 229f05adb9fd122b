"""The process-wide codecs, each imported and built by the first call that needs it (the container's defaults).

Importing this module registers each factory on its family's request classes, so ``request.to_dict()`` finds
its codec without the model importing it (see :mod:`realtime_service.wire.registry`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..beta.models import RealtimeSessionCreateRequest, RealtimeTranscriptionSessionCreateRequest
from ..ga.models import ClientSecretCreateRequest, TranslationClientSecretCreateRequest
from ..wire.registry import register_encoder

if TYPE_CHECKING:
    from ..beta.schemas import BetaSessionCodec, TranscriptionSessionCodec
    from ..ga.codecs import ClientSecretCodec
    from ..ga.schemas import (
        CallSessionCodec,
        ClientSecretCreateRequestSchema,
        ClientSecretCreateResponseSchema,
        TranslationCodec,
    )
    from ..live.schemas import LiveSessionCodec


def shared_beta_codec() -> BetaSessionCodec:
    from ..beta.schemas import BetaSessionCodec
    from ..wire.codec import shared_codec

    return shared_codec(BetaSessionCodec)


def shared_transcription_codec() -> TranscriptionSessionCodec:
    from ..beta.schemas import TranscriptionSessionCodec
    from ..wire.codec import shared_codec

    return shared_codec(TranscriptionSessionCodec)


def shared_client_secret_codec() -> ClientSecretCodec:
    """Built from its plans: a first mint imports neither marshmallow nor the GA schemas unless one must speak."""
    from ..ga.codecs import ClientSecretCodec
    from ..wire.codec import shared_codec

    return shared_codec(ClientSecretCodec, lambda: ClientSecretCodec(_client_secret_schemas))


def _client_secret_schemas() -> tuple[type[ClientSecretCreateRequestSchema], type[ClientSecretCreateResponseSchema]]:
    from ..ga.schemas import ClientSecretCreateRequestSchema, ClientSecretCreateResponseSchema

    return ClientSecretCreateRequestSchema, ClientSecretCreateResponseSchema


def shared_translation_codec() -> TranslationCodec:
    from ..ga.schemas import TranslationCodec
    from ..wire.codec import shared_codec

    return shared_codec(TranslationCodec)


def shared_call_session_codec() -> CallSessionCodec:
    from ..ga.schemas import CallSessionCodec
    from ..wire.codec import shared_codec

    return shared_codec(CallSessionCodec)


def shared_live_codec() -> LiveSessionCodec:
    from ..live.schemas import LiveSessionCodec
    from ..wire.codec import shared_codec

    return shared_codec(LiveSessionCodec)


register_encoder(RealtimeSessionCreateRequest, shared_beta_codec)
register_encoder(RealtimeTranscriptionSessionCreateRequest, shared_transcription_codec)
register_encoder(ClientSecretCreateRequest, shared_client_secret_codec)
register_encoder(TranslationClientSecretCreateRequest, shared_translation_codec)
