"""marshmallow 4 schemas for the GA mint endpoints, and their codecs.

* ``POST /realtime/client_secrets`` (:class:`ClientSecretCodec`): HEAD's ``RealtimeCreateClientSecretRequest``
  with the ``*GA`` session schemas and ``RealtimeCreateClientSecretResponse`` (``spec/NOTES.md`` section 3).
* ``POST /realtime/translations/client_secrets`` (:class:`TranslationCodec`): NOTES.md "Not in the YAML".

Conventions as in :mod:`realtime_service.beta.schemas`: request schemas ``unknown = RAISE`` on every nested object,
strict JSON types, the spec's enums closed and its open strings open (``model``, ``voice``, transcription
``model``), limits the spec's own. Decisions where the spec is loose or only says it in prose:

* ``session.type`` is required (it picks the session schema); so is ``type`` of a turn detection, a tool
  choice object, an MCP tool and prompt variable objects. A function tool may leave ``type`` out, and an audio
  format without ``type`` is PCM, as the spec's schemas allow.
* ``output_modalities`` holds at most one item ("not possible to request both ``text`` and ``audio``").
* ``threshold`` is 0-1 as its description says; ``server_url`` and the file and image URLs must be absolute
  URIs (``format: uri``); ``tunnel_id`` must match ``^tunnel_[a-z0-9]{32}$`` (a trailing newline does not).
* ``noise_reduction`` and ``tracing`` may be ``null`` (their descriptions say so; the YAML's types could not
  carry the ``null`` default, see its header). ``transcription`` may not: leave it out to keep it off.
* Not checked (prose only, the API decides): one of ``server_url``/``connector_id``/``tunnel_id``; which
  transcription models take ``languages``, ``keywords``, ``delay`` or ``prompt``.

Responses are read with the request schemas' echo twins (:func:`~realtime_service.wire.fields.echo_schema`) and
leniently: only ``value`` and ``expires_at`` must be valid. See :class:`ClientSecretCodec`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from marshmallow import INCLUDE, Schema, fields, validate

from realtime_service.beta.schemas import (
    ExpirySchema,
    FunctionToolSchema,
    NoiseReductionSchema,
    TracingConfigSchema,
)
from realtime_service.errors import RequestValidationError
from realtime_service.ga.codecs import ClientSecretCodec, _GACodec, provide_schemas
from realtime_service.ga.models import (
    CONNECTORS,
    AudioInput,
    AudioOutput,
    AudioPCM,
    AudioPCMA,
    AudioPCMU,
    AudioTranscription,
    ClientSecretCreateRequest,
    CustomVoice,
    InputFileContent,
    InputImageContent,
    InputTextContent,
    MCPApprovalFilter,
    MCPTool,
    MCPToolFilter,
    Prompt,
    PromptCacheBreakpoint,
    RealtimeAudioConfig,
    RealtimeSessionConfig,
    RealtimeSessionResponse,
    Reasoning,
    RetentionRatioTruncation,
    SemanticVad,
    ServerVad,
    TokenLimits,
    ToolChoiceFunction,
    ToolChoiceMCP,
    TranscriptionAudioConfig,
    TranscriptionSessionConfig,
    TranscriptionSessionResponse,
    TranslationAudioConfig,
    TranslationAudioInput,
    TranslationAudioOutput,
    TranslationClientSecretCreateRequest,
    TranslationClientSecretCreateResponse,
    TranslationSessionConfig,
    TranslationSessionResponse,
    TranslationTranscription,
)
from realtime_service.wire.codec import RequestEncoder
from realtime_service.wire.fields import (
    IntegerOrInf,
    JsonBoolean,
    JsonInteger,
    JsonList,
    JsonMap,
    JsonNumber,
    JsonString,
    JsonUnion,
    LenientSchema,
    LiteralOrNested,
    ModelNested,
    ModelSchema,
    RequestSchema,
    TaggedNested,
    between,
    echo_schema,
    one_of,
)

_MAX_TOKENS = 4096
_LOGPROBS = "item.input_audio_transcription.logprobs"
#: An absolute URI (RFC 3986: a scheme, a colon, then no whitespace).
_URI = validate.Regexp(r"[A-Za-z][A-Za-z0-9+.\-]*:\S+\Z", error="Not a valid absolute URI.")
_TUNNEL_ID = validate.Regexp(r"tunnel_[a-z0-9]{32}\Z", error="Must match ^tunnel_[a-z0-9]{{32}}$.")


def _tag(value: str, *, required: bool = True) -> JsonString:
    """The ``type`` field of a tagged object: its one value."""
    return JsonString(required=required, validate=one_of(value))


def _include() -> JsonList:
    return JsonList(JsonString(validate=one_of(_LOGPROBS)))


# --- audio ---------------------------------------------------------------------------------------------------


class AudioPCMSchema(RequestSchema):
    __model__ = AudioPCM

    type = _tag("audio/pcm", required=False)
    rate = JsonInteger(validate=validate.OneOf([24000]))


class AudioPCMUSchema(RequestSchema):
    __model__ = AudioPCMU

    type = _tag("audio/pcmu")


class AudioPCMASchema(RequestSchema):
    __model__ = AudioPCMA

    type = _tag("audio/pcma")


def _audio_format() -> TaggedNested:
    return TaggedNested(
        {"audio/pcm": AudioPCMSchema, "audio/pcmu": AudioPCMUSchema, "audio/pcma": AudioPCMASchema},
        default="audio/pcm",
    )


class AudioTranscriptionSchema(RequestSchema):
    __model__ = AudioTranscription

    model = JsonString()
    language = JsonString()
    languages = JsonList(JsonString(), validate=validate.Length(min=1))
    keywords = JsonList(JsonString())
    prompt = JsonString()
    delay = JsonString(validate=one_of("minimal", "low", "medium", "high", "xhigh"))


class ServerVadSchema(RequestSchema):
    __model__ = ServerVad

    type = _tag("server_vad")
    threshold = JsonNumber(validate=between(0, 1))
    prefix_padding_ms = JsonInteger()
    silence_duration_ms = JsonInteger()
    create_response = JsonBoolean()
    interrupt_response = JsonBoolean()
    idle_timeout_ms = JsonInteger(validate=between(5000, 30000), allow_none=True)


class SemanticVadSchema(RequestSchema):
    __model__ = SemanticVad

    type = _tag("semantic_vad")
    eagerness = JsonString(validate=one_of("low", "medium", "high", "auto"))
    create_response = JsonBoolean()
    interrupt_response = JsonBoolean()


class AudioInputSchema(RequestSchema):
    __model__ = AudioInput

    format = _audio_format()
    transcription = ModelNested(AudioTranscriptionSchema)
    noise_reduction = ModelNested(NoiseReductionSchema, allow_none=True)
    turn_detection = TaggedNested({"server_vad": ServerVadSchema, "semantic_vad": SemanticVadSchema}, allow_none=True)


class CustomVoiceSchema(RequestSchema):
    __model__ = CustomVoice

    id = JsonString(required=True)


class AudioOutputSchema(RequestSchema):
    __model__ = AudioOutput

    format = _audio_format()
    voice = JsonUnion(string=JsonString(), object=ModelNested(CustomVoiceSchema))
    speed = JsonNumber(validate=between(0.25, 1.5))


class RealtimeAudioConfigSchema(RequestSchema):
    __model__ = RealtimeAudioConfig

    input = ModelNested(AudioInputSchema)
    output = ModelNested(AudioOutputSchema)


class TranscriptionAudioConfigSchema(RequestSchema):
    __model__ = TranscriptionAudioConfig

    input = ModelNested(AudioInputSchema)


# --- tools ---------------------------------------------------------------------------------------------------


class MCPToolFilterSchema(RequestSchema):
    __model__ = MCPToolFilter

    tool_names = JsonList(JsonString())
    read_only = JsonBoolean()


class MCPApprovalFilterSchema(RequestSchema):
    __model__ = MCPApprovalFilter

    always = ModelNested(MCPToolFilterSchema)
    never = ModelNested(MCPToolFilterSchema)


class MCPToolSchema(RequestSchema):
    __model__ = MCPTool

    type = _tag("mcp")
    server_label = JsonString(required=True)
    server_url = JsonString(validate=_URI)
    connector_id = JsonString(validate=one_of(*CONNECTORS))
    tunnel_id = JsonString(validate=_TUNNEL_ID)
    authorization = JsonString()
    server_description = JsonString()
    headers = JsonMap(JsonString(), allow_none=True)
    allowed_tools = JsonUnion(array=JsonList(JsonString()), object=ModelNested(MCPToolFilterSchema), allow_none=True)
    allowed_callers = JsonList(
        JsonString(validate=one_of("direct", "programmatic")), validate=validate.Length(min=1), allow_none=True
    )
    require_approval = JsonUnion(
        string=JsonString(validate=one_of("always", "never")),
        object=ModelNested(MCPApprovalFilterSchema),
        allow_none=True,
    )
    defer_loading = JsonBoolean()


class ToolChoiceFunctionSchema(RequestSchema):
    __model__ = ToolChoiceFunction

    type = _tag("function")
    name = JsonString(required=True)


class ToolChoiceMCPSchema(RequestSchema):
    __model__ = ToolChoiceMCP

    type = _tag("mcp")
    server_label = JsonString(required=True)
    name = JsonString(allow_none=True)


# --- the other session settings ------------------------------------------------------------------------------


class TokenLimitsSchema(RequestSchema):
    __model__ = TokenLimits

    post_instructions = JsonInteger(validate=validate.Range(min=0))


class RetentionRatioTruncationSchema(RequestSchema):
    __model__ = RetentionRatioTruncation

    type = _tag("retention_ratio")
    retention_ratio = JsonNumber(required=True, validate=between(0, 1))
    token_limits = ModelNested(TokenLimitsSchema)


class PromptCacheBreakpointSchema(RequestSchema):
    __model__ = PromptCacheBreakpoint

    mode = _tag("explicit")


class InputTextContentSchema(RequestSchema):
    __model__ = InputTextContent

    type = _tag("input_text")
    text = JsonString(required=True)
    prompt_cache_breakpoint = ModelNested(PromptCacheBreakpointSchema)


class InputImageContentSchema(RequestSchema):
    __model__ = InputImageContent

    type = _tag("input_image")
    detail = JsonString(required=True, validate=one_of("low", "high", "auto", "original"))
    image_url = JsonString(validate=_URI, allow_none=True)
    file_id = JsonString(allow_none=True)
    prompt_cache_breakpoint = ModelNested(PromptCacheBreakpointSchema)


class InputFileContentSchema(RequestSchema):
    __model__ = InputFileContent

    type = _tag("input_file")
    file_id = JsonString(allow_none=True)
    filename = JsonString()
    file_data = JsonString()
    file_url = JsonString(validate=_URI)
    detail = JsonString(validate=one_of("auto", "low", "high"))
    prompt_cache_breakpoint = ModelNested(PromptCacheBreakpointSchema)


class PromptSchema(RequestSchema):
    __model__ = Prompt

    id = JsonString(required=True)
    version = JsonString(allow_none=True)
    variables = JsonMap(
        JsonUnion(
            string=JsonString(),
            object=TaggedNested(
                {
                    "input_text": InputTextContentSchema,
                    "input_image": InputImageContentSchema,
                    "input_file": InputFileContentSchema,
                }
            ),
        ),
        allow_none=True,
    )


class ReasoningSchema(RequestSchema):
    __model__ = Reasoning

    effort = JsonString(validate=one_of("minimal", "low", "medium", "high", "xhigh"))


# --- sessions and the request --------------------------------------------------------------------------------


class RealtimeSessionConfigSchema(RequestSchema):
    """``RealtimeSessionCreateRequestGA``: every field of HEAD's schema."""

    __model__ = RealtimeSessionConfig

    type = _tag("realtime")
    output_modalities = JsonList(JsonString(validate=one_of("text", "audio")), validate=validate.Length(max=1))
    model = JsonString()
    instructions = JsonString()
    audio = ModelNested(RealtimeAudioConfigSchema)
    include = _include()
    tracing = LiteralOrNested(TracingConfigSchema, literals=("auto",), allow_none=True)
    tools = JsonList(TaggedNested({"function": FunctionToolSchema, "mcp": MCPToolSchema}, default="function"))
    tool_choice = JsonUnion(
        string=JsonString(validate=one_of("none", "auto", "required")),
        object=TaggedNested({"function": ToolChoiceFunctionSchema, "mcp": ToolChoiceMCPSchema}),
    )
    parallel_tool_calls = JsonBoolean()
    reasoning = ModelNested(ReasoningSchema)
    max_output_tokens = IntegerOrInf(minimum=1, maximum=_MAX_TOKENS)
    truncation = LiteralOrNested(RetentionRatioTruncationSchema, literals=("auto", "disabled"))
    prompt = ModelNested(PromptSchema, allow_none=True)


class TranscriptionSessionConfigSchema(RequestSchema):
    """``RealtimeTranscriptionSessionCreateRequestGA``."""

    __model__ = TranscriptionSessionConfig

    type = _tag("transcription")
    audio = ModelNested(TranscriptionAudioConfigSchema)
    include = _include()


class ClientSecretCreateRequestSchema(RequestSchema):
    """``RealtimeCreateClientSecretRequest``: ``session`` is picked by its ``type``."""

    __model__ = ClientSecretCreateRequest

    expires_after = ModelNested(ExpirySchema)
    session = TaggedNested({"realtime": RealtimeSessionConfigSchema, "transcription": TranscriptionSessionConfigSchema})


# --- translation ---------------------------------------------------------------------------------------------


class TranslationTranscriptionSchema(RequestSchema):
    __model__ = TranslationTranscription

    model = JsonString(required=True)


class TranslationAudioInputSchema(RequestSchema):
    __model__ = TranslationAudioInput

    transcription = ModelNested(TranslationTranscriptionSchema, allow_none=True)
    noise_reduction = ModelNested(NoiseReductionSchema, allow_none=True)


class TranslationAudioOutputSchema(RequestSchema):
    __model__ = TranslationAudioOutput

    language = JsonString()


class TranslationAudioConfigSchema(RequestSchema):
    __model__ = TranslationAudioConfig

    input = ModelNested(TranslationAudioInputSchema)
    output = ModelNested(TranslationAudioOutputSchema)


class TranslationSessionConfigSchema(RequestSchema):
    __model__ = TranslationSessionConfig

    model = JsonString(required=True)
    audio = ModelNested(TranslationAudioConfigSchema)


class TranslationClientSecretCreateRequestSchema(RequestSchema):
    """The translation request: ``session`` and its ``model`` are required."""

    __model__ = TranslationClientSecretCreateRequest

    expires_after = ModelNested(ExpirySchema)
    session = ModelNested(TranslationSessionConfigSchema, required=True)


# --- responses (what we receive: unknown = INCLUDE on each) --------------------------------------------------


def _session_echo(request_schema: type[ModelSchema], model: type[Any], **more: fields.Field[Any]) -> type[Schema]:
    """How the answer's session is read: the request session's echo twin, plus the keys only the answer has
    (``id``, ``object``, ``expires_at``), loading into the response dataclass ``model``."""
    namespace: dict[str, Any] = {"__model__": model, "__module__": __name__, **more}
    base = echo_schema(request_schema)
    return cast("type[Schema]", type(f"{model.__name__}Schema", (base,), namespace))


RealtimeSessionResponseSchema = _session_echo(
    RealtimeSessionConfigSchema,
    RealtimeSessionResponse,
    id=JsonString(required=True),
    object=JsonString(required=True),
    expires_at=JsonInteger(),
)
TranscriptionSessionResponseSchema = _session_echo(
    TranscriptionSessionConfigSchema,
    TranscriptionSessionResponse,
    id=JsonString(required=True),
    object=JsonString(required=True),
    expires_at=JsonInteger(),
)
TranslationSessionResponseSchema = _session_echo(
    TranslationSessionConfigSchema,
    TranslationSessionResponse,
    type=_tag("translation"),
    id=JsonString(required=True),
    expires_at=JsonInteger(),
)


class _SecretResponseSchema(LenientSchema):
    """The two keys a mint answer must get right. Loads to a dict (the codec builds the dataclass)."""

    class Meta:
        unknown = INCLUDE

    value = JsonString(required=True, validate=validate.Length(min=1))
    expires_at = JsonInteger(required=True)


class ClientSecretCreateResponseSchema(_SecretResponseSchema):
    """``RealtimeCreateClientSecretResponse``, read leniently; ``session`` is picked by its ``type``."""

    session = TaggedNested(
        {"realtime": RealtimeSessionResponseSchema, "transcription": TranscriptionSessionResponseSchema}
    )


class TranslationClientSecretCreateResponseSchema(_SecretResponseSchema):
    session = TaggedNested({"translation": TranslationSessionResponseSchema})


# --- codecs --------------------------------------------------------------------------------------------------


provide_schemas(lambda: (ClientSecretCreateRequestSchema, ClientSecretCreateResponseSchema))


class TranslationCodec(_GACodec[TranslationClientSecretCreateRequest, TranslationClientSecretCreateResponse]):
    """``POST /realtime/translations/client_secrets``, read and written like :class:`ClientSecretCodec`."""

    def __init__(self) -> None:
        super().__init__(
            TranslationClientSecretCreateRequestSchema(),
            TranslationClientSecretCreateResponseSchema(),
            TranslationClientSecretCreateResponse,
        )


class CallSessionCodec:
    """The ``session`` of ``POST /realtime/calls``: a GA realtime session (``type: "realtime"`` required), validated
    as :class:`ClientSecretCodec` validates one, its ``extra`` merged in. Errors name fields from the body's top
    (``session.audio.output.speed``); only :class:`~realtime_service.errors.RequestValidationError` leaves
    :meth:`encode`. Build one and share it (thread-safe)."""

    def __init__(self) -> None:
        self._encoder = RequestEncoder(RealtimeSessionConfigSchema())

    def encode(self, session: RealtimeSessionConfig | Mapping[str, Any]) -> dict[str, Any]:
        try:
            return self._encoder.encode(session)
        except RequestValidationError as exc:
            raise RequestValidationError(
                {("session" if name == "_schema" else f"session.{name}"): msgs for name, msgs in exc.messages.items()}
            ) from None


__all__ = [
    "AudioInputSchema",
    "AudioOutputSchema",
    "AudioPCMASchema",
    "AudioPCMSchema",
    "AudioPCMUSchema",
    "AudioTranscriptionSchema",
    "CallSessionCodec",
    "ClientSecretCodec",
    "ClientSecretCreateRequestSchema",
    "ClientSecretCreateResponseSchema",
    "CustomVoiceSchema",
    "InputFileContentSchema",
    "InputImageContentSchema",
    "InputTextContentSchema",
    "MCPApprovalFilterSchema",
    "MCPToolFilterSchema",
    "MCPToolSchema",
    "PromptCacheBreakpointSchema",
    "PromptSchema",
    "RealtimeAudioConfigSchema",
    "RealtimeSessionConfigSchema",
    "RealtimeSessionResponseSchema",
    "ReasoningSchema",
    "RetentionRatioTruncationSchema",
    "SemanticVadSchema",
    "ServerVadSchema",
    "TokenLimitsSchema",
    "ToolChoiceFunctionSchema",
    "ToolChoiceMCPSchema",
    "TranscriptionAudioConfigSchema",
    "TranscriptionSessionConfigSchema",
    "TranscriptionSessionResponseSchema",
    "TranslationAudioConfigSchema",
    "TranslationAudioInputSchema",
    "TranslationAudioOutputSchema",
    "TranslationClientSecretCreateRequestSchema",
    "TranslationClientSecretCreateResponseSchema",
    "TranslationCodec",
    "TranslationSessionConfigSchema",
    "TranslationSessionResponseSchema",
    "TranslationTranscriptionSchema",
]
