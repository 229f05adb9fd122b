"""marshmallow 4 schemas for the beta wire formats, and the codecs built on them.

Two operations: ``POST /realtime/sessions`` (:class:`BetaSessionCodec`) and ``POST /realtime/transcription_sessions``
(:class:`TranscriptionSessionCodec`). The schemas are the single source of truth for what may be sent (request
schemas, ``unknown = RAISE``) and how what comes back is read (response schemas, ``unknown = INCLUDE``). Sources:
the 2025-04-29 spec plus the mid-2025 additions listed in ``spec/NOTES.md`` sections 1 and 2 (never HEAD's
swapped schema names). The GA formats live in :mod:`realtime_service.ga.schemas`.

Rules worth knowing:

* Numbers are JSON numbers only, booleans JSON booleans only; see :mod:`realtime_service.wire.fields`.
* The fields dump values untouched (no coercion), so validating the dumped dict validates exactly what the
  caller put in the dataclass.
* Limits are the spec's; none are invented. ``model``, ``voice`` and ``tool_choice`` are open strings (the
  transcription sessions' transcription ``model`` is the one closed list).
* Responses are read leniently; see :meth:`BetaSessionCodec.decode`.

The building blocks (fields, the fast path, the codec machinery) live in :mod:`realtime_service.wire.fields`,
:mod:`realtime_service.wire.fastpath` and :mod:`realtime_service.wire.codec`; their names are re-exported here.
"""

from __future__ import annotations

from marshmallow import INCLUDE, validate

from realtime_service.beta.models import (
    ClientSecret,
    ClientSecretConfig,
    ExpiresAfter,
    FunctionTool,
    InputAudioTranscription,
    NoiseReduction,
    RealtimeSessionCreateRequest,
    RealtimeSessionCreateResponse,
    RealtimeTranscriptionSessionCreateRequest,
    RealtimeTranscriptionSessionCreateResponse,
    TracingConfig,
    TranscriptionClientSecretConfig,
    TurnDetection,
)
from realtime_service.wire.codec import OperationCodec, flatten_messages, shared_codec
from realtime_service.wire.fastpath import FALLBACK, check_fast_path_assumptions, compile_loader, fast_dump
from realtime_service.wire.fields import (
    IntegerOrInf,
    JsonBoolean,
    JsonInteger,
    JsonList,
    JsonNumber,
    JsonObject,
    JsonString,
    LenientSchema,
    LiteralOrNested,
    ModelNested,
    ModelSchema,
    RequestSchema,
    between,
    echo_schema,
    json_problem,
    one_of,
)

_MAX_TOKENS = 4096
_AUDIO_FORMATS = ("pcm16", "g711_ulaw", "g711_alaw")

# --- request schemas (what we send: RequestSchema, so unknown = RAISE on each) ------------------------------


class TurnDetectionSchema(RequestSchema):
    __model__ = TurnDetection

    type = JsonString(validate=one_of("server_vad", "semantic_vad"))
    eagerness = JsonString(validate=one_of("low", "medium", "high", "auto"))
    threshold = JsonNumber(validate=between(0, 1))
    prefix_padding_ms = JsonInteger()
    silence_duration_ms = JsonInteger()
    create_response = JsonBoolean()
    interrupt_response = JsonBoolean()


class InputAudioTranscriptionSchema(RequestSchema):
    __model__ = InputAudioTranscription

    model = JsonString()
    language = JsonString()
    prompt = JsonString()


class NoiseReductionSchema(RequestSchema):
    __model__ = NoiseReduction

    type = JsonString(validate=one_of("near_field", "far_field"))


class FunctionToolSchema(RequestSchema):
    __model__ = FunctionTool

    type = JsonString(validate=one_of("function"))
    name = JsonString()
    description = JsonString()
    parameters = JsonObject()


class TracingConfigSchema(RequestSchema):
    __model__ = TracingConfig

    workflow_name = JsonString()
    group_id = JsonString()
    metadata = JsonObject()


class ExpiresAfterSchema(RequestSchema):
    __model__ = ExpiresAfter

    anchor = JsonString(required=True, validate=one_of("created_at"))
    seconds = JsonInteger(validate=between(10, 7200))


class ExpirySchema(ExpiresAfterSchema):
    """The same TTL object where ``anchor`` may be left out (GA ``expires_after``, transcription ``expires_at``)."""

    anchor = JsonString(validate=one_of("created_at"))


class ClientSecretConfigSchema(RequestSchema):
    __model__ = ClientSecretConfig

    expires_after = ModelNested(ExpiresAfterSchema, required=True)


class RealtimeSessionCreateRequestSchema(RequestSchema):
    """The request body. Nullable, per the spec: the transcription, turn detection, noise reduction, tracing."""

    __model__ = RealtimeSessionCreateRequest

    model = JsonString()
    modalities = JsonList(JsonString(validate=one_of("text", "audio")))
    instructions = JsonString()
    voice = JsonString()
    input_audio_format = JsonString(validate=one_of(*_AUDIO_FORMATS))
    output_audio_format = JsonString(validate=one_of(*_AUDIO_FORMATS))
    input_audio_transcription = ModelNested(InputAudioTranscriptionSchema, allow_none=True)
    turn_detection = ModelNested(TurnDetectionSchema, allow_none=True)
    input_audio_noise_reduction = ModelNested(NoiseReductionSchema, allow_none=True)
    tools = JsonList(ModelNested(FunctionToolSchema))
    # Open string: "auto", "none", "required" or a function's name. Not checked against ``tools``: the beta
    # docs only say "or specify a function" and never pinned the format down, so the API has the last word.
    tool_choice = JsonString()
    temperature = JsonNumber(validate=between(0.6, 1.2))
    max_response_output_tokens = IntegerOrInf(minimum=1, maximum=_MAX_TOKENS)
    speed = JsonNumber(validate=between(0.25, 1.5))
    tracing = LiteralOrNested(TracingConfigSchema, literals=("auto",), allow_none=True)
    client_secret = ModelNested(ClientSecretConfigSchema)


class TranscriptionModelSchema(InputAudioTranscriptionSchema):
    """Transcription sessions' ``input_audio_transcription``: the same object with a closed list of models."""

    model = JsonString(validate=one_of("gpt-4o-transcribe", "gpt-4o-mini-transcribe", "whisper-1"))


class TranscriptionClientSecretConfigSchema(RequestSchema):
    __model__ = TranscriptionClientSecretConfig

    expires_at = ModelNested(ExpirySchema, required=True)


class RealtimeTranscriptionSessionCreateRequestSchema(RequestSchema):
    """The transcription request body. Nullable: turn detection and noise reduction (both "can be set to null
    to turn off"). ``include`` is an open list of strings in this version of the API."""

    __model__ = RealtimeTranscriptionSessionCreateRequest

    modalities = JsonList(JsonString(validate=one_of("text", "audio")))
    input_audio_format = JsonString(validate=one_of(*_AUDIO_FORMATS))
    input_audio_transcription = ModelNested(TranscriptionModelSchema)
    turn_detection = ModelNested(TurnDetectionSchema, allow_none=True)
    input_audio_noise_reduction = ModelNested(NoiseReductionSchema, allow_none=True)
    include = JsonList(JsonString())
    client_secret = ModelNested(TranscriptionClientSecretConfigSchema)


# --- response schemas (what we receive: unknown = INCLUDE on each) -------------------------------------------

#: Echoed turn detection: same types, no range on ``threshold`` (limits bind what we send, not the echo).
TurnDetectionResponseSchema = echo_schema(TurnDetectionSchema)
InputAudioTranscriptionResponseSchema = echo_schema(InputAudioTranscriptionSchema)
NoiseReductionResponseSchema = echo_schema(NoiseReductionSchema)
FunctionToolResponseSchema = echo_schema(FunctionToolSchema)
TracingConfigResponseSchema = echo_schema(TracingConfigSchema)


class ClientSecretSchema(LenientSchema, ModelSchema):
    """The minted secret: the only part of the answer that must be valid."""

    __model__ = ClientSecret

    class Meta:
        unknown = INCLUDE

    value = JsonString(required=True, validate=validate.Length(min=1))
    expires_at = JsonInteger(required=True)


class RealtimeSessionCreateResponseSchema(LenientSchema):
    """The 200 body. Loads to a dict (the codec adds ``request_id`` and the raw body to build the dataclass).

    Enums the spec types as plain strings in the response (formats, ``tool_choice``, modalities) are open
    strings here; nested objects keep the request's enums, since they load into the same Literal-typed
    dataclasses. Ranges are not checked on the echo.
    """

    class Meta:
        unknown = INCLUDE

    client_secret = ModelNested(ClientSecretSchema, required=True)
    id = JsonString()
    object = JsonString()
    model = JsonString()
    modalities = JsonList(JsonString())
    instructions = JsonString()
    voice = JsonString()
    input_audio_format = JsonString()
    output_audio_format = JsonString()
    input_audio_transcription = ModelNested(InputAudioTranscriptionResponseSchema, allow_none=True)
    turn_detection = ModelNested(TurnDetectionResponseSchema, allow_none=True)
    input_audio_noise_reduction = ModelNested(NoiseReductionResponseSchema, allow_none=True)
    tools = JsonList(ModelNested(FunctionToolResponseSchema))
    tool_choice = JsonString()
    temperature = JsonNumber()
    max_response_output_tokens = IntegerOrInf()
    speed = JsonNumber()
    tracing = LiteralOrNested(TracingConfigResponseSchema, literals=("auto",), allow_none=True)


class RealtimeTranscriptionSessionCreateResponseSchema(LenientSchema):
    """The transcription 200 body. ``client_secret`` is required: the spec's example ``"client_secret": null``
    is refused. The echoed transcription ``model`` is an open string (the list grows)."""

    class Meta:
        unknown = INCLUDE

    client_secret = ModelNested(ClientSecretSchema, required=True)
    id = JsonString()
    object = JsonString()
    expires_at = JsonInteger()
    modalities = JsonList(JsonString())
    input_audio_format = JsonString()
    input_audio_transcription = ModelNested(InputAudioTranscriptionResponseSchema, allow_none=True)
    turn_detection = ModelNested(TurnDetectionResponseSchema, allow_none=True)


# --- codecs --------------------------------------------------------------------------------------------------


class BetaSessionCodec(OperationCodec[RealtimeSessionCreateRequest, RealtimeSessionCreateResponse]):
    """``POST /realtime/sessions``: :class:`RealtimeSessionCreateRequest` in, :class:`RealtimeSessionCreateResponse`
    out. Build one and share it (thread-safe).

    Only :class:`~realtime_service.errors.RequestValidationError` leaves ``load_request``/``encode`` and only
    :class:`~realtime_service.errors.ResponseValidationError` leaves ``decode``, whatever the input (see
    :mod:`realtime_service.wire.codec`).

    ``decode`` is strict on the one thing the caller needs, ``client_secret{value: non-empty string, expires_at:
    int}``: anything else there raises ``ResponseValidationError`` carrying ``request_id``. It is lenient on the
    echoed settings: a top-level setting whose value does not fit its type is left ``NOT_GIVEN``, its dotted path
    recorded in ``invalid_fields``, and the raw value stays in ``to_dict()``. A successful mint never fails
    because the echo changed shape. Error messages never quote values, so never the secret.
    """

    def __init__(self) -> None:
        super().__init__(
            RealtimeSessionCreateRequestSchema(),
            RealtimeSessionCreateResponseSchema(),
            RealtimeSessionCreateResponse,
            required=("client_secret",),
            deep=False,
        )


class TranscriptionSessionCodec(
    OperationCodec[RealtimeTranscriptionSessionCreateRequest, RealtimeTranscriptionSessionCreateResponse]
):
    """``POST /realtime/transcription_sessions``, read and written like :class:`BetaSessionCodec`.

    ``"client_secret": null`` (the spec's own example answer) raises
    :class:`~realtime_service.errors.ResponseValidationError`: we cannot hand out a key we did not get.
    """

    def __init__(self) -> None:
        super().__init__(
            RealtimeTranscriptionSessionCreateRequestSchema(),
            RealtimeTranscriptionSessionCreateResponseSchema(),
            RealtimeTranscriptionSessionCreateResponse,
            required=("client_secret",),
            deep=False,
        )


def default_codec() -> BetaSessionCodec:
    """The process-wide codec, for callers without a container (``RealtimeSessionCreateRequest.to_dict``)."""
    return shared_codec(BetaSessionCodec)


#: The former private name of :func:`~realtime_service.wire.fastpath.check_fast_path_assumptions`.
_check_fast_path_assumptions = check_fast_path_assumptions

__all__ = [
    "FALLBACK",
    "BetaSessionCodec",
    "ClientSecretConfigSchema",
    "ClientSecretSchema",
    "ExpiresAfterSchema",
    "ExpirySchema",
    "FunctionToolSchema",
    "InputAudioTranscriptionSchema",
    "IntegerOrInf",
    "JsonBoolean",
    "JsonInteger",
    "JsonList",
    "JsonNumber",
    "JsonObject",
    "JsonString",
    "LenientSchema",
    "LiteralOrNested",
    "ModelNested",
    "ModelSchema",
    "NoiseReductionSchema",
    "RealtimeSessionCreateRequestSchema",
    "RealtimeSessionCreateResponseSchema",
    "RealtimeTranscriptionSessionCreateRequestSchema",
    "RealtimeTranscriptionSessionCreateResponseSchema",
    "TracingConfigSchema",
    "TranscriptionClientSecretConfigSchema",
    "TranscriptionModelSchema",
    "TranscriptionSessionCodec",
    "TurnDetectionSchema",
    "compile_loader",
    "default_codec",
    "fast_dump",
    "flatten_messages",
    "json_problem",
]
