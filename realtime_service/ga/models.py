"""Frozen dataclasses for the GA ``POST /realtime/client_secrets`` and ``POST /realtime/translations/client_secrets``.

Conventions as in :mod:`realtime_service.beta.models`: field names are the JSON names, :data:`NOT_GIVEN` leaves a key
out, ``None`` sends ``null`` where the API allows it, and nothing is validated until a codec in
:mod:`realtime_service.ga.schemas` encodes the request. A field without a default is one the API requires.

The GA shape nests what beta kept flat (``session.audio.input.turn_detection``) and types its unions:

* ``session`` is a :class:`RealtimeSessionConfig` or a :class:`TranscriptionSessionConfig` (by ``type``);
* audio formats are :class:`AudioPCM`, :class:`AudioPCMU` or :class:`AudioPCMA` objects, not strings;
* ``turn_detection`` is :class:`ServerVad`, :class:`SemanticVad` or ``None`` (off);
* ``voice`` is a string or a :class:`CustomVoice`; ``tool_choice`` a mode string or :class:`ToolChoiceFunction`
  / :class:`ToolChoiceMCP`; ``truncation`` a mode string or :class:`RetentionRatioTruncation`;
* ``tools`` hold :class:`~realtime_service.beta.models.FunctionTool` and :class:`MCPTool` entries.

An MCP tool's ``authorization`` token and ``headers`` values are secrets: no ``repr``/``str`` here shows them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal, get_args

from realtime_service.beta.models import (
    NOT_GIVEN,
    ExpiresAfter,
    FunctionTool,
    MaxOutputTokens,
    Modality,
    NoiseReduction,
    NotGiven,
    ReceivedResponse,
    TracingConfig,
    json_copy,
)
from realtime_service.redaction import redact
from realtime_service.wire.registry import encode_registered

Eagerness = Literal["low", "medium", "high", "auto"]
TranscriptionDelay = Literal["minimal", "low", "medium", "high", "xhigh"]
ReasoningEffort = Literal["minimal", "low", "medium", "high", "xhigh"]
Include = Literal["item.input_audio_transcription.logprobs"]
ToolChoiceMode = Literal["none", "auto", "required"]
TruncationMode = Literal["auto", "disabled"]
ConnectorId = Literal[
    "connector_dropbox",
    "connector_gmail",
    "connector_googlecalendar",
    "connector_googledrive",
    "connector_microsoftteams",
    "connector_outlookcalendar",
    "connector_outlookemail",
    "connector_sharepoint",
]
AllowedCaller = Literal["direct", "programmatic"]
#: The service connectors an MCP tool may name, in the spec's order.
CONNECTORS: tuple[ConnectorId, ...] = get_args(ConnectorId)

# --- audio ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AudioPCM:
    """16-bit PCM at 24 kHz (the only rate), beta's ``pcm16``. The API also reads a format without ``type`` as
    PCM; one loaded that way keeps ``type`` ``NOT_GIVEN``."""

    type: Literal["audio/pcm"] | NotGiven = "audio/pcm"
    rate: Literal[24000] | NotGiven = NOT_GIVEN


@dataclass(frozen=True, slots=True, kw_only=True)
class AudioPCMU:
    """G.711 mu-law, beta's ``g711_ulaw``."""

    type: Literal["audio/pcmu"] = "audio/pcmu"


@dataclass(frozen=True, slots=True, kw_only=True)
class AudioPCMA:
    """G.711 A-law, beta's ``g711_alaw``."""

    type: Literal["audio/pcma"] = "audio/pcma"


RealtimeAudioFormat = AudioPCM | AudioPCMU | AudioPCMA


@dataclass(frozen=True, slots=True, kw_only=True)
class AudioTranscription:
    """``audio.input.transcription``. ``model`` is an open string (``gpt-live-transcribe``, ``gpt-transcribe``, ...).

    ``languages`` (at least one) and ``keywords`` are for ``gpt-transcribe``/``gpt-live-transcribe``; ``delay``
    for ``gpt-realtime-whisper``, which does not take ``prompt``. The API, not this package, enforces those pairings.
    """

    model: str | NotGiven = NOT_GIVEN
    language: str | NotGiven = NOT_GIVEN
    languages: Sequence[str] | NotGiven = NOT_GIVEN
    keywords: Sequence[str] | NotGiven = NOT_GIVEN
    prompt: str | NotGiven = NOT_GIVEN
    delay: TranscriptionDelay | NotGiven = NOT_GIVEN


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerVad:
    """Server-side voice activity detection. ``idle_timeout_ms`` (5000-30000, or ``None``) is server VAD only."""

    type: Literal["server_vad"] = "server_vad"
    threshold: float | NotGiven = NOT_GIVEN
    prefix_padding_ms: int | NotGiven = NOT_GIVEN
    silence_duration_ms: int | NotGiven = NOT_GIVEN
    create_response: bool | NotGiven = NOT_GIVEN
    interrupt_response: bool | NotGiven = NOT_GIVEN
    idle_timeout_ms: int | NotGiven | None = NOT_GIVEN


@dataclass(frozen=True, slots=True, kw_only=True)
class SemanticVad:
    """Semantic turn detection: a model estimates whether the user has finished speaking."""

    type: Literal["semantic_vad"] = "semantic_vad"
    eagerness: Eagerness | NotGiven = NOT_GIVEN
    create_response: bool | NotGiven = NOT_GIVEN
    interrupt_response: bool | NotGiven = NOT_GIVEN


RealtimeTurnDetection = ServerVad | SemanticVad


@dataclass(frozen=True, slots=True, kw_only=True)
class AudioInput:
    """``audio.input`` of both session types. ``None`` turns noise reduction or turn detection off."""

    format: RealtimeAudioFormat | NotGiven = NOT_GIVEN
    transcription: AudioTranscription | NotGiven = NOT_GIVEN
    noise_reduction: NoiseReduction | NotGiven | None = NOT_GIVEN
    turn_detection: RealtimeTurnDetection | NotGiven | None = NOT_GIVEN


@dataclass(frozen=True, slots=True)
class CustomVoice:
    """A custom voice by id (``voice_1234``), where a built-in voice would be its name."""

    id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AudioOutput:
    """``audio.output``: ``voice`` is any string (``marin``, ``cedar``, ...) or a :class:`CustomVoice`."""

    format: RealtimeAudioFormat | NotGiven = NOT_GIVEN
    voice: str | CustomVoice | NotGiven = NOT_GIVEN
    speed: float | NotGiven = NOT_GIVEN


@dataclass(frozen=True, slots=True, kw_only=True)
class RealtimeAudioConfig:
    """``audio`` of a realtime session."""

    input: AudioInput | NotGiven = NOT_GIVEN
    output: AudioOutput | NotGiven = NOT_GIVEN


@dataclass(frozen=True, slots=True, kw_only=True)
class TranscriptionAudioConfig:
    """``audio`` of a transcription session: input only."""

    input: AudioInput | NotGiven = NOT_GIVEN


# --- tools ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class MCPToolFilter:
    """Which of an MCP server's tools a rule covers: by name, or the read-only ones."""

    tool_names: Sequence[str] | NotGiven = NOT_GIVEN
    read_only: bool | NotGiven = NOT_GIVEN


@dataclass(frozen=True, slots=True, kw_only=True)
class MCPApprovalFilter:
    """``require_approval`` per tool: those matching ``always`` need approval, those matching ``never`` do not."""

    always: MCPToolFilter | NotGiven = NOT_GIVEN
    never: MCPToolFilter | NotGiven = NOT_GIVEN


_SECRET_FIELDS = frozenset({"authorization", "headers"})


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class MCPTool:
    """A remote MCP server the model may call. One of ``server_url``, ``connector_id`` or ``tunnel_id`` should
    be given (the API checks that; the schema does not say so).

    ``authorization`` (an OAuth token) and the values of ``headers`` are secrets: ``repr``/``str`` show them
    redacted. Encoding sends them as given, of course.
    """

    type: Literal["mcp"] = "mcp"
    server_label: str
    server_url: str | NotGiven = NOT_GIVEN
    connector_id: ConnectorId | NotGiven = NOT_GIVEN
    tunnel_id: str | NotGiven = NOT_GIVEN
    authorization: str | NotGiven = NOT_GIVEN
    server_description: str | NotGiven = NOT_GIVEN
    headers: Mapping[str, str] | NotGiven | None = NOT_GIVEN
    allowed_tools: Sequence[str] | MCPToolFilter | NotGiven | None = NOT_GIVEN
    allowed_callers: Sequence[AllowedCaller] | NotGiven | None = NOT_GIVEN
    require_approval: Literal["always", "never"] | MCPApprovalFilter | NotGiven | None = NOT_GIVEN
    defer_loading: bool | NotGiven = NOT_GIVEN

    def __repr__(self) -> str:
        shown = []
        for each in fields(self):
            value = getattr(self, each.name)
            shown.append(f"{each.name}={_redacted(each.name, value) if each.name in _SECRET_FIELDS else value!r}")
        return f"MCPTool({', '.join(shown)})"


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolChoiceFunction:
    """Force a call of the function ``name``."""

    type: Literal["function"] = "function"
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolChoiceMCP:
    """Force a call of a tool on the MCP server ``server_label`` (``name``, or any of its tools)."""

    type: Literal["mcp"] = "mcp"
    server_label: str
    name: str | NotGiven | None = NOT_GIVEN


RealtimeTool = FunctionTool | MCPTool
ToolChoice = ToolChoiceMode | ToolChoiceFunction | ToolChoiceMCP


# --- the other session settings ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenLimits:
    """Custom token limits of a truncation strategy."""

    post_instructions: int | NotGiven = NOT_GIVEN


@dataclass(frozen=True, slots=True, kw_only=True)
class RetentionRatioTruncation:
    """Keep ``retention_ratio`` (0-1) of the post-instruction tokens when the context overflows."""

    type: Literal["retention_ratio"] = "retention_ratio"
    retention_ratio: float
    token_limits: TokenLimits | NotGiven = NOT_GIVEN


Truncation = TruncationMode | RetentionRatioTruncation


@dataclass(frozen=True, slots=True, kw_only=True)
class PromptCacheBreakpoint:
    """Marks the end of a reusable prompt prefix."""

    mode: Literal["explicit"] = "explicit"


@dataclass(frozen=True, slots=True, kw_only=True)
class InputTextContent:
    """A prompt variable's text value."""

    type: Literal["input_text"] = "input_text"
    text: str
    prompt_cache_breakpoint: PromptCacheBreakpoint | NotGiven = NOT_GIVEN


@dataclass(frozen=True, slots=True, kw_only=True)
class InputImageContent:
    """A prompt variable's image value, by URL (or data URL) or file id."""

    type: Literal["input_image"] = "input_image"
    detail: Literal["low", "high", "auto", "original"]
    image_url: str | NotGiven | None = NOT_GIVEN
    file_id: str | NotGiven | None = NOT_GIVEN
    prompt_cache_breakpoint: PromptCacheBreakpoint | NotGiven = NOT_GIVEN


@dataclass(frozen=True, slots=True, kw_only=True)
class InputFileContent:
    """A prompt variable's file value, by id, URL or inline data."""

    type: Literal["input_file"] = "input_file"
    file_id: str | NotGiven | None = NOT_GIVEN
    filename: str | NotGiven = NOT_GIVEN
    file_data: str | NotGiven = NOT_GIVEN
    file_url: str | NotGiven = NOT_GIVEN
    detail: Literal["auto", "low", "high"] | NotGiven = NOT_GIVEN
    prompt_cache_breakpoint: PromptCacheBreakpoint | NotGiven = NOT_GIVEN


PromptVariable = str | InputTextContent | InputImageContent | InputFileContent


@dataclass(frozen=True, slots=True, kw_only=True)
class Prompt:
    """A stored prompt template by ``id``, optionally pinned to a ``version``, with its ``variables``."""

    id: str
    version: str | NotGiven | None = NOT_GIVEN
    variables: Mapping[str, PromptVariable] | NotGiven | None = NOT_GIVEN


@dataclass(frozen=True, slots=True, kw_only=True)
class Reasoning:
    """Reasoning effort, for reasoning models such as ``gpt-realtime-2``."""

    effort: ReasoningEffort | NotGiven = NOT_GIVEN


# --- requests ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RealtimeSessionConfig:
    """``session`` with ``type: "realtime"``: a speech-to-speech session.

    ``extra`` carries session fields this package does not know yet; they are merged into the ``session``
    object unvalidated, and a key that names a known field is rejected.
    """

    type: Literal["realtime"] = "realtime"
    output_modalities: Sequence[Modality] | NotGiven = NOT_GIVEN
    model: str | NotGiven = NOT_GIVEN
    instructions: str | NotGiven = NOT_GIVEN
    audio: RealtimeAudioConfig | NotGiven = NOT_GIVEN
    include: Sequence[Include] | NotGiven = NOT_GIVEN
    tracing: Literal["auto"] | TracingConfig | NotGiven | None = NOT_GIVEN
    tools: Sequence[RealtimeTool] | NotGiven = NOT_GIVEN
    tool_choice: ToolChoice | NotGiven = NOT_GIVEN
    parallel_tool_calls: bool | NotGiven = NOT_GIVEN
    reasoning: Reasoning | NotGiven = NOT_GIVEN
    max_output_tokens: MaxOutputTokens | NotGiven = NOT_GIVEN
    truncation: Truncation | NotGiven = NOT_GIVEN
    prompt: Prompt | NotGiven | None = NOT_GIVEN
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class TranscriptionSessionConfig:
    """``session`` with ``type: "transcription"``: transcription only.

    ``extra`` as in :class:`RealtimeSessionConfig`.
    """

    type: Literal["transcription"] = "transcription"
    audio: TranscriptionAudioConfig | NotGiven = NOT_GIVEN
    include: Sequence[Include] | NotGiven = NOT_GIVEN
    extra: Mapping[str, Any] = field(default_factory=dict)


SessionConfig = RealtimeSessionConfig | TranscriptionSessionConfig


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientSecretCreateRequest:
    """The body of ``POST /realtime/client_secrets``: how long the secret lives and the session it is for.

    ``extra`` carries top-level fields this package does not know yet (session fields go in the session's own
    ``extra``); see :class:`~realtime_service.beta.models.RealtimeSessionCreateRequest`.
    """

    expires_after: ExpiresAfter | NotGiven = NOT_GIVEN
    session: SessionConfig | NotGiven = NOT_GIVEN
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The validated JSON body, exactly what ``ClientSecretCodec.encode`` returns.

        Raises :class:`~realtime_service.errors.RequestValidationError` if the request is invalid.
        """
        return encode_registered(self)


@dataclass(frozen=True, slots=True)
class TranslationTranscription:
    """Source-language transcription of a translation session."""

    model: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TranslationAudioInput:
    """``audio.input`` of a translation session; ``None`` turns a feature off."""

    transcription: TranslationTranscription | NotGiven | None = NOT_GIVEN
    noise_reduction: NoiseReduction | NotGiven | None = NOT_GIVEN


@dataclass(frozen=True, slots=True, kw_only=True)
class TranslationAudioOutput:
    """``audio.output`` of a translation session: the target ``language``."""

    language: str | NotGiven = NOT_GIVEN


@dataclass(frozen=True, slots=True, kw_only=True)
class TranslationAudioConfig:
    """``audio`` of a translation session."""

    input: TranslationAudioInput | NotGiven = NOT_GIVEN
    output: TranslationAudioOutput | NotGiven = NOT_GIVEN


@dataclass(frozen=True, slots=True, kw_only=True)
class TranslationSessionConfig:
    """The translation ``session``: ``model`` is required (``gpt-realtime-translate``). ``extra`` as in
    :class:`RealtimeSessionConfig`."""

    model: str
    audio: TranslationAudioConfig | NotGiven = NOT_GIVEN
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class TranslationClientSecretCreateRequest:
    """The body of ``POST /realtime/translations/client_secrets`` (not in the published YAML; see NOTES.md)."""

    session: TranslationSessionConfig
    expires_after: ExpiresAfter | NotGiven = NOT_GIVEN
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The validated JSON body, exactly what ``TranslationCodec.encode`` returns."""
        return encode_registered(self)


# --- responses -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RealtimeSessionResponse:
    """The realtime session a client secret is for, as the API echoes it (typed view; see
    :class:`ClientSecretCreateResponse`). The spec's echo has no ``parallel_tool_calls``; it is read if it comes."""

    type: Literal["realtime"]
    id: str
    object: str
    expires_at: int | NotGiven = NOT_GIVEN
    output_modalities: tuple[Modality, ...] | NotGiven = NOT_GIVEN
    model: str | NotGiven = NOT_GIVEN
    instructions: str | NotGiven = NOT_GIVEN
    audio: RealtimeAudioConfig | NotGiven = NOT_GIVEN
    include: tuple[Include, ...] | NotGiven = NOT_GIVEN
    tracing: Literal["auto"] | TracingConfig | NotGiven | None = NOT_GIVEN
    tools: tuple[RealtimeTool, ...] | NotGiven = NOT_GIVEN
    tool_choice: ToolChoice | NotGiven = NOT_GIVEN
    parallel_tool_calls: bool | NotGiven = NOT_GIVEN
    reasoning: Reasoning | NotGiven = NOT_GIVEN
    max_output_tokens: MaxOutputTokens | NotGiven = NOT_GIVEN
    truncation: Truncation | NotGiven = NOT_GIVEN
    prompt: Prompt | NotGiven | None = NOT_GIVEN


@dataclass(frozen=True, slots=True, kw_only=True)
class TranscriptionSessionResponse:
    """The transcription session a client secret is for, as the API echoes it."""

    type: Literal["transcription"]
    id: str
    object: str
    expires_at: int | NotGiven = NOT_GIVEN
    include: tuple[Include, ...] | NotGiven = NOT_GIVEN
    audio: TranscriptionAudioConfig | NotGiven = NOT_GIVEN


@dataclass(frozen=True, slots=True, kw_only=True)
class TranslationSessionResponse:
    """The translation session a client secret is for, as the API echoes it."""

    type: Literal["translation"]
    id: str
    expires_at: int | NotGiven = NOT_GIVEN
    model: str | NotGiven = NOT_GIVEN
    audio: TranslationAudioConfig | NotGiven = NOT_GIVEN


class ReadOnlyJson(Mapping[str, Any]):
    """A JSON object that cannot be changed: how a session the typed view cannot read is kept (an unknown
    ``type``, a missing ``id``, ...). Nested objects are ``ReadOnlyJson`` too and arrays are tuples.
    ``repr`` hides MCP ``authorization`` and ``headers`` values; :meth:`to_dict` returns a mutable deep copy."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data: dict[str, Any] = {key: _frozen(value) for key, value in data.items()}

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"ReadOnlyJson({redacted_json(self)!r})"

    def to_dict(self) -> dict[str, Any]:
        copied: dict[str, Any] = json_copy(self)
        return copied


def _frozen(value: Any) -> Any:
    if isinstance(value, Mapping):
        return ReadOnlyJson(value)
    if isinstance(value, list | tuple):
        return tuple(_frozen(item) for item in value)
    return value


def redacted_json(value: Any) -> Any:
    """A plain copy of JSON data for display, with MCP ``authorization`` and ``headers`` values redacted."""
    if isinstance(value, Mapping):
        return {key: _redacted(key, item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redacted_json(item) for item in value]
    return value


def _redacted(key: str, value: Any) -> Any:
    if key == "authorization" and isinstance(value, str):
        return redact(value)
    if key == "headers" and isinstance(value, Mapping):
        return {name: redact(item) if isinstance(item, str) else "***" for name, item in value.items()}
    return redacted_json(value)


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class SecretResponse(ReceivedResponse):
    """What both GA mint answers carry: the secret ``value`` (``ek_...``) and its ``expires_at`` (Unix seconds).

    ``repr``/``str`` show the value redacted, so logging a response is safe.
    """

    value: str
    expires_at: int

    def __repr__(self) -> str:
        shown = [f"value={redact(self.value)!r}", f"expires_at={self.expires_at!r}"]
        shown += [f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if f.repr and f.name not in _SECRET]
        return f"{type(self).__name__}({', '.join(shown)})"


_SECRET = frozenset({"value", "expires_at"})


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class ClientSecretCreateResponse(SecretResponse):
    """A successful ``POST /realtime/client_secrets`` answer.

    ``session`` is a :class:`RealtimeSessionResponse` or :class:`TranscriptionSessionResponse` by its ``type``.
    A session of another type, or one without its required ``id``/``object``, is kept as a
    :class:`ReadOnlyJson` (and its problem listed in ``invalid_fields``); ``NOT_GIVEN`` if the answer had none.
    Inside a typed session, a value that does not fit its type is left ``NOT_GIVEN`` and its dotted path
    (``session.audio.output.speed``) listed in ``invalid_fields``. :meth:`to_dict` returns the whole body.
    """

    session: RealtimeSessionResponse | TranscriptionSessionResponse | ReadOnlyJson | NotGiven = NOT_GIVEN


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class TranslationClientSecretCreateResponse(SecretResponse):
    """A successful ``POST /realtime/translations/client_secrets`` answer, read like
    :class:`ClientSecretCreateResponse`."""

    session: TranslationSessionResponse | ReadOnlyJson | NotGiven = NOT_GIVEN


__all__ = [
    "CONNECTORS",
    "AllowedCaller",
    "AudioInput",
    "AudioOutput",
    "AudioPCM",
    "AudioPCMA",
    "AudioPCMU",
    "AudioTranscription",
    "ClientSecretCreateRequest",
    "ClientSecretCreateResponse",
    "ConnectorId",
    "CustomVoice",
    "Eagerness",
    "Include",
    "InputFileContent",
    "InputImageContent",
    "InputTextContent",
    "MCPApprovalFilter",
    "MCPTool",
    "MCPToolFilter",
    "Prompt",
    "PromptCacheBreakpoint",
    "PromptVariable",
    "ReadOnlyJson",
    "RealtimeAudioConfig",
    "RealtimeAudioFormat",
    "RealtimeSessionConfig",
    "RealtimeSessionResponse",
    "RealtimeTool",
    "RealtimeTurnDetection",
    "Reasoning",
    "ReasoningEffort",
    "RetentionRatioTruncation",
    "SecretResponse",
    "SemanticVad",
    "ServerVad",
    "SessionConfig",
    "TokenLimits",
    "ToolChoice",
    "ToolChoiceFunction",
    "ToolChoiceMCP",
    "ToolChoiceMode",
    "TranscriptionAudioConfig",
    "TranscriptionDelay",
    "TranscriptionSessionConfig",
    "TranscriptionSessionResponse",
    "TranslationAudioConfig",
    "TranslationAudioInput",
    "TranslationAudioOutput",
    "TranslationClientSecretCreateRequest",
    "TranslationClientSecretCreateResponse",
    "TranslationSessionConfig",
    "TranslationSessionResponse",
    "TranslationTranscription",
    "Truncation",
    "TruncationMode",
    "redacted_json",
]
