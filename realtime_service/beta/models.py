"""Frozen dataclasses for the beta ``POST /realtime/sessions`` and ``POST /realtime/transcription_sessions``
requests and responses, and what every response dataclass shares.

Field names are the JSON names, so a dataclass reads like the wire format. Constructing a dataclass does not
validate anything: the codecs in :mod:`realtime_service.beta.schemas` validate on ``encode``.

Two "empty" values are kept apart on purpose:

* :data:`NOT_GIVEN` means "leave the key out of the body" (the server applies its default);
* ``None`` on a nullable field means "send JSON ``null``" (for example ``turn_detection=None`` turns turn
  detection off, which is not the same as the server's default of ``server_vad``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Literal

from realtime_service.redaction import redact
from realtime_service.wire.registry import encode_registered
from realtime_service.wire.values import NOT_GIVEN as NOT_GIVEN
from realtime_service.wire.values import NotGiven as NotGiven
from realtime_service.wire.values import json_copy as json_copy

Modality = Literal["text", "audio"]
AudioFormat = Literal["pcm16", "g711_ulaw", "g711_alaw"]
TurnDetectionType = Literal["server_vad", "semantic_vad"]
Eagerness = Literal["low", "medium", "high", "auto"]
NoiseReductionType = Literal["near_field", "far_field"]
MaxOutputTokens = int | Literal["inf"]


# --- request -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnDetection:
    """``turn_detection``: server or semantic voice-activity detection. ``eagerness`` is for semantic VAD only."""

    type: TurnDetectionType | NotGiven = NOT_GIVEN
    eagerness: Eagerness | NotGiven = NOT_GIVEN
    threshold: float | NotGiven = NOT_GIVEN
    prefix_padding_ms: int | NotGiven = NOT_GIVEN
    silence_duration_ms: int | NotGiven = NOT_GIVEN
    create_response: bool | NotGiven = NOT_GIVEN
    interrupt_response: bool | NotGiven = NOT_GIVEN


@dataclass(frozen=True, slots=True, kw_only=True)
class InputAudioTranscription:
    """``input_audio_transcription``: ``model`` is an open string (``gpt-live-transcribe``, ``gpt-transcribe``, ...)."""

    model: str | NotGiven = NOT_GIVEN
    language: str | NotGiven = NOT_GIVEN
    prompt: str | NotGiven = NOT_GIVEN


@dataclass(frozen=True, slots=True, kw_only=True)
class NoiseReduction:
    """``input_audio_noise_reduction``."""

    type: NoiseReductionType | NotGiven = NOT_GIVEN


@dataclass(frozen=True, slots=True, kw_only=True)
class FunctionTool:
    """One entry of ``tools``. ``parameters`` is a JSON Schema object, sent as given.

    ``type`` defaults to ``"function"`` (its only value) when you build one; a tool loaded from JSON without
    ``type`` keeps ``NOT_GIVEN`` so that it encodes back to exactly what was loaded.
    """

    type: Literal["function"] | NotGiven = "function"
    name: str | NotGiven = NOT_GIVEN
    description: str | NotGiven = NOT_GIVEN
    parameters: Mapping[str, Any] | NotGiven = NOT_GIVEN


@dataclass(frozen=True, slots=True, kw_only=True)
class TracingConfig:
    """The object form of ``tracing`` (the other forms are the string ``"auto"`` and ``None``)."""

    workflow_name: str | NotGiven = NOT_GIVEN
    group_id: str | NotGiven = NOT_GIVEN
    metadata: Mapping[str, Any] | NotGiven = NOT_GIVEN


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpiresAfter:
    """TTL of the minted secret: ``seconds`` (10-7200, server default 600) after ``anchor``.

    ``anchor`` has one value, which a dataclass built by hand sends. Where the API lets it be left out (GA,
    transcription sessions), one loaded without it keeps ``NOT_GIVEN``.
    """

    anchor: Literal["created_at"] | NotGiven = "created_at"
    seconds: int | NotGiven = NOT_GIVEN


@dataclass(frozen=True, slots=True)
class ClientSecretConfig:
    """The request's ``client_secret`` object: how long the minted secret lives."""

    expires_after: ExpiresAfter


@dataclass(frozen=True, slots=True, kw_only=True)
class RealtimeSessionCreateRequest:
    """The body of ``POST /realtime/sessions`` (beta wire format). Every field is optional.

    ``extra`` carries fields this package does not know yet (the API adds some every month). They are merged
    into the body without schema validation; a key that names a known field is rejected, so the typed field
    always wins.
    """

    model: str | NotGiven = NOT_GIVEN
    modalities: Sequence[Modality] | NotGiven = NOT_GIVEN
    instructions: str | NotGiven = NOT_GIVEN
    voice: str | NotGiven = NOT_GIVEN
    input_audio_format: AudioFormat | NotGiven = NOT_GIVEN
    output_audio_format: AudioFormat | NotGiven = NOT_GIVEN
    input_audio_transcription: InputAudioTranscription | NotGiven | None = NOT_GIVEN
    turn_detection: TurnDetection | NotGiven | None = NOT_GIVEN
    input_audio_noise_reduction: NoiseReduction | NotGiven | None = NOT_GIVEN
    tools: Sequence[FunctionTool] | NotGiven = NOT_GIVEN
    tool_choice: str | NotGiven = NOT_GIVEN
    temperature: float | NotGiven = NOT_GIVEN
    max_response_output_tokens: MaxOutputTokens | NotGiven = NOT_GIVEN
    speed: float | NotGiven = NOT_GIVEN
    tracing: Literal["auto"] | TracingConfig | NotGiven | None = NOT_GIVEN
    client_secret: ClientSecretConfig | NotGiven = NOT_GIVEN
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The validated JSON body, exactly what ``BetaSessionCodec.encode`` returns.

        Raises :class:`~realtime_service.errors.RequestValidationError` if the request is invalid.
        """
        return encode_registered(self)


@dataclass(frozen=True, slots=True)
class TranscriptionClientSecretConfig:
    """The transcription request's ``client_secret``. Note ``expires_at`` here, ``expires_after`` in sessions."""

    expires_at: ExpiresAfter


@dataclass(frozen=True, slots=True, kw_only=True)
class RealtimeTranscriptionSessionCreateRequest:
    """The body of ``POST /realtime/transcription_sessions`` (beta wire format). Every field is optional.

    ``input_audio_transcription.model`` is one of ``gpt-4o-transcribe``, ``gpt-4o-mini-transcribe`` and
    ``whisper-1`` here. ``extra`` works as in :class:`RealtimeSessionCreateRequest`.
    """

    modalities: Sequence[Modality] | NotGiven = NOT_GIVEN
    input_audio_format: AudioFormat | NotGiven = NOT_GIVEN
    input_audio_transcription: InputAudioTranscription | NotGiven = NOT_GIVEN
    turn_detection: TurnDetection | NotGiven | None = NOT_GIVEN
    input_audio_noise_reduction: NoiseReduction | NotGiven | None = NOT_GIVEN
    include: Sequence[str] | NotGiven = NOT_GIVEN
    client_secret: TranscriptionClientSecretConfig | NotGiven = NOT_GIVEN
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The validated JSON body, exactly what ``TranscriptionSessionCodec.encode`` returns."""
        return encode_registered(self)


# --- response ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, repr=False)
class ClientSecret:
    """The minted ephemeral key. ``repr``/``str`` show only its redacted form, so logging one is safe."""

    value: str
    expires_at: int

    def __repr__(self) -> str:
        return f"ClientSecret(value={redact(self.value)!r}, expires_at={self.expires_at!r})"

    __str__ = __repr__


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceivedResponse:
    """What every response dataclass carries besides its typed attributes.

    ``request_id`` is the ``x-request-id`` of the answer; ``invalid_fields`` lists the dotted paths of echoed
    values that did not fit their types (left ``NOT_GIVEN`` in the typed view). :meth:`to_dict` always returns
    the whole body as received, unknown keys included, so nothing the API adds is ever lost.
    """

    request_id: str | None = None
    invalid_fields: tuple[str, ...] = ()
    # The body as received (a private deep copy). ``None`` for responses built by hand, e.g. in fakes.
    _raw: Mapping[str, Any] | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The whole JSON object received, unknown keys included at every level, as a fresh deep copy.

        For a response built by hand (no raw body), the JSON form of the typed attributes.
        """
        if self._raw is not None:
            copied: dict[str, Any] = json_copy(self._raw)
            return copied
        body: dict[str, Any] = _to_json(self)
        for name in ("request_id", "invalid_fields", "_raw"):
            body.pop(name, None)
        return body


@dataclass(frozen=True, slots=True, kw_only=True)
class RealtimeSessionCreateResponse(ReceivedResponse):
    """A successful ``POST /realtime/sessions`` answer: the secret plus the echoed session settings.

    The typed attributes are a convenience view. An attribute is ``NOT_GIVEN`` when the key was absent, ``None``
    when the server sent ``null`` for a nullable setting, and also ``NOT_GIVEN`` when the server sent a value
    that does not fit the attribute's type (its dotted path is then listed in ``invalid_fields``). Nested
    objects reuse the request dataclasses. :meth:`to_dict` always returns the whole body as received,
    unknown keys included, so nothing the API adds is ever lost.
    """

    client_secret: ClientSecret
    id: str | NotGiven = NOT_GIVEN
    object: str | NotGiven = NOT_GIVEN
    model: str | NotGiven = NOT_GIVEN
    modalities: tuple[str, ...] | NotGiven = NOT_GIVEN
    instructions: str | NotGiven = NOT_GIVEN
    voice: str | NotGiven = NOT_GIVEN
    input_audio_format: str | NotGiven = NOT_GIVEN
    output_audio_format: str | NotGiven = NOT_GIVEN
    input_audio_transcription: InputAudioTranscription | NotGiven | None = NOT_GIVEN
    turn_detection: TurnDetection | NotGiven | None = NOT_GIVEN
    input_audio_noise_reduction: NoiseReduction | NotGiven | None = NOT_GIVEN
    tools: tuple[FunctionTool, ...] | NotGiven = NOT_GIVEN
    tool_choice: str | NotGiven = NOT_GIVEN
    temperature: float | NotGiven = NOT_GIVEN
    max_response_output_tokens: MaxOutputTokens | NotGiven = NOT_GIVEN
    speed: float | NotGiven = NOT_GIVEN
    tracing: Literal["auto"] | TracingConfig | NotGiven | None = NOT_GIVEN


@dataclass(frozen=True, slots=True, kw_only=True)
class RealtimeTranscriptionSessionCreateResponse(ReceivedResponse):
    """A successful ``POST /realtime/transcription_sessions`` answer: the secret plus the echoed settings.

    Read like :class:`RealtimeSessionCreateResponse`. The spec's own example answers ``"client_secret": null``;
    such a body raises :class:`~realtime_service.errors.ResponseValidationError` (there is no key to hand out).
    """

    client_secret: ClientSecret
    id: str | NotGiven = NOT_GIVEN
    object: str | NotGiven = NOT_GIVEN
    expires_at: int | NotGiven = NOT_GIVEN
    modalities: tuple[str, ...] | NotGiven = NOT_GIVEN
    input_audio_format: str | NotGiven = NOT_GIVEN
    input_audio_transcription: InputAudioTranscription | NotGiven | None = NOT_GIVEN
    turn_detection: TurnDetection | NotGiven | None = NOT_GIVEN


def _to_json(value: Any) -> Any:
    """JSON form of dataclasses built by hand: ``NOT_GIVEN`` fields are left out, sequences become lists."""
    if isinstance(value, ClientSecret):
        return {"value": value.value, "expires_at": value.expires_at}
    if is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _to_json(getattr(value, f.name)) for f in fields(value) if getattr(value, f.name) is not NOT_GIVEN
        }
    if isinstance(value, Mapping):
        return {key: _to_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_to_json(item) for item in value]
    return value


__all__ = [
    "NOT_GIVEN",
    "AudioFormat",
    "ClientSecret",
    "ClientSecretConfig",
    "Eagerness",
    "ExpiresAfter",
    "FunctionTool",
    "InputAudioTranscription",
    "MaxOutputTokens",
    "Modality",
    "NoiseReduction",
    "NoiseReductionType",
    "NotGiven",
    "RealtimeSessionCreateRequest",
    "RealtimeSessionCreateResponse",
    "RealtimeTranscriptionSessionCreateRequest",
    "RealtimeTranscriptionSessionCreateResponse",
    "ReceivedResponse",
    "TracingConfig",
    "TranscriptionClientSecretConfig",
    "TurnDetection",
    "TurnDetectionType",
    "json_copy",
]
