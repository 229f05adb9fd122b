"""Frozen dataclasses for GPT-Live's ``POST /live/sessions`` (CALLS-LIVE-NOTES 3.1, SDK 3.57's
``MediaSessionConfigParam``), and the typed result of creating a session.

Conventions as in :mod:`realtime_service.ga.models`: field names are the JSON names, :data:`NOT_GIVEN` leaves a
key out, ``None`` sends ``null`` where the API allows it, a field without a default is one the API requires, and
nothing is validated until :class:`~realtime_service.live.schemas.LiveSessionCodec` encodes it. ``extra`` on
:class:`LiveSessionConfig` carries session fields this package does not know yet.

Closed enums are closed (a message's ``role``, a trigger's ``event_type``, reasoning ``effort``); open strings
stay open (``model``, ``voice``, ``service_tier``, event names). The objects the SDK leaves free (a delegated
``tools`` entry, a decision question) are JSON objects, checked to be JSON only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from realtime_service.live.sessions import SESSION_ID, LiveSessionCreateResult, OutboundLiveCallResult
from realtime_service.wire.values import NOT_GIVEN, NotGiven

LiveModel = Literal["gpt-live-1", "gpt-live-1.1"]
BuiltInVoice = Literal[
    "alloy", "ash", "ballad", "beacon", "bossa", "cedar", "cinder", "coral", "delta", "echo", "gleam", "marin",
    "meridian", "quartz", "ripple", "sage", "shida", "shimmer", "stone", "tempo", "verse", "vesper", "willow",
]  # fmt: skip
#: The built-in voices of SDK 3.57; ``voice`` stays an open string, so a newer one is not refused.
BUILT_IN_VOICES: tuple[str, ...] = get_args(BuiltInVoice)
Role = Literal["developer", "user", "assistant"]
TextPartType = Literal["input_text", "text", "output_text"]
TriggerEvent = Literal["session.input_transcript.delta", "session.output_transcript.delta"]
ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh"]
ReasoningSummary = Literal["concise", "detailed", "auto"]
Verbosity = Literal["low", "medium", "high"]


@dataclass(frozen=True, slots=True)
class CustomVoice:
    """A custom voice by id, where a built-in voice would be its name."""

    id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AudioOutput:
    """``audio.output``: the voice (default ``marin``; it cannot change once the session speaks)."""

    voice: str | CustomVoice | NotGiven = NOT_GIVEN


@dataclass(frozen=True, slots=True, kw_only=True)
class AudioConfig:
    """``audio``: only the output voice; the format is negotiated by WebRTC."""

    output: AudioOutput | NotGiven = NOT_GIVEN


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerEventFilter:
    """One server event the browser's data channel may receive."""

    type: str
    response_event: str | NotGiven = NOT_GIVEN


@dataclass(frozen=True, slots=True, kw_only=True)
class DataChannelConfig:
    """What the (untrusted) browser may send and receive on its data channel; omitted means everything."""

    allowed_client_events: Literal["all"] | Sequence[str] | NotGiven = NOT_GIVEN
    allowed_server_events: Literal["all"] | Sequence[ServerEventFilter] | NotGiven = NOT_GIVEN


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientConfig:
    """``client``: restrictions on the browser side of the session."""

    data_channel: DataChannelConfig


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponsesReasoning:
    effort: ReasoningEffort | NotGiven | None = NOT_GIVEN
    summary: ReasoningSummary | NotGiven | None = NOT_GIVEN


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponsesText:
    verbosity: Verbosity | NotGiven | None = NOT_GIVEN


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponsesConfig:
    """The Responses model a ``responses`` delegation hands turns to. ``tools`` entries and an object
    ``tool_choice`` are the Responses API's own shapes, passed on as JSON."""

    model: str
    instructions: str | NotGiven | None = NOT_GIVEN
    max_output_tokens: int | NotGiven | None = NOT_GIVEN
    parallel_tool_calls: bool | NotGiven | None = NOT_GIVEN
    reasoning: ResponsesReasoning | NotGiven | None = NOT_GIVEN
    service_tier: str | NotGiven | None = NOT_GIVEN
    text: ResponsesText | NotGiven | None = NOT_GIVEN
    tool_choice: str | Mapping[str, Any] | NotGiven = NOT_GIVEN
    tools: Sequence[Mapping[str, Any]] | NotGiven = NOT_GIVEN


@dataclass(frozen=True, slots=True, kw_only=True)
class DecisionsConfig:
    """The model and questions of a ``decisions`` delegation (questions are JSON objects)."""

    model: str
    questions: Sequence[Mapping[str, Any]]


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientDelegation:
    """Your application answers the turns (over the data channel or a sideband)."""

    type: Literal["client"] = "client"
    acknowledgement_delay_ms: int | NotGiven = NOT_GIVEN


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponsesDelegation:
    """A Responses model answers the turns."""

    responses: ResponsesConfig
    type: Literal["responses"] = "responses"
    acknowledgement_delay_ms: int | NotGiven = NOT_GIVEN


@dataclass(frozen=True, slots=True, kw_only=True)
class DecisionsDelegation:
    """A model answers a fixed set of questions."""

    decisions: DecisionsConfig
    type: Literal["decisions"] = "decisions"
    acknowledgement_delay_ms: int | NotGiven = NOT_GIVEN


Delegation = ClientDelegation | ResponsesDelegation | DecisionsDelegation


@dataclass(frozen=True, slots=True, kw_only=True)
class TextPart:
    """The one text part of an input message: ``input_text`` (developer/user) or ``text``/``output_text``
    (assistant)."""

    text: str
    type: TextPartType | NotGiven = NOT_GIVEN


@dataclass(frozen=True, slots=True, kw_only=True)
class InputMessage:
    """A message the session starts with (at most 128)."""

    role: Role
    content: Sequence[TextPart]
    type: Literal["message"] | NotGiven = NOT_GIVEN
    id: str | NotGiven | None = NOT_GIVEN
    status: Literal["incomplete", "completed"] | NotGiven | None = NOT_GIVEN


@dataclass(frozen=True, slots=True, kw_only=True)
class TriggerDecisions:
    questions: Sequence[Mapping[str, Any]]


@dataclass(frozen=True, slots=True, kw_only=True)
class DecisionsTrigger:
    """Ask decision questions on each transcript delta of one kind (at most one trigger per event type)."""

    event_type: TriggerEvent
    decisions: TriggerDecisions
    type: Literal["decisions"] = "decisions"


@dataclass(frozen=True, slots=True, kw_only=True)
class SpeechWakePolicy:
    """Wake a paused session on speech (``vad_threshold`` 0..1, the API's default 0.5)."""

    type: Literal["speech"] = "speech"
    vad_threshold: float | NotGiven = NOT_GIVEN


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveSessionConfig:
    """``session`` of ``POST /live/sessions`` (``MediaSessionConfig``): ``model`` is required.

    ``extra`` carries session fields this package does not know yet; they are merged into the ``session``
    object unvalidated, and a key that names a known field is refused.
    """

    model: LiveModel | str
    audio: AudioConfig | NotGiven = NOT_GIVEN
    client: ClientConfig | NotGiven = NOT_GIVEN
    delegation: Delegation | NotGiven | None = NOT_GIVEN
    idle_timeout_s: int | NotGiven = NOT_GIVEN
    input: Sequence[InputMessage] | NotGiven = NOT_GIVEN
    instructions: str | NotGiven | None = NOT_GIVEN
    safety_identifier: str | NotGiven | None = NOT_GIVEN
    store: bool | NotGiven = NOT_GIVEN
    triggers: Sequence[DecisionsTrigger] | NotGiven = NOT_GIVEN
    wake_policy: SpeechWakePolicy | NotGiven = NOT_GIVEN
    extra: Mapping[str, Any] = field(default_factory=dict)


# -- outbound calls over SIP (``transport.type: "sip"``; voice-sip guide, "Place an outbound call") ----------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SipDigestAuth:
    """How GPT-Live authenticates to your SIP trunk: digest ``username`` and ``password`` (never in a repr)."""

    username: str
    password: str = field(repr=False)
    type: Literal["digest"] = "digest"


@dataclass(frozen=True, slots=True, kw_only=True)
class SipTrunk:
    """Your SIP trunk: ``provider_url`` (``sips:host[:port][;transport=tcp]``), its ``auth``, and the
    ``caller_number`` (E.164) the callee sees. The repr masks the number and hides the password."""

    provider_url: str
    auth: SipDigestAuth
    caller_number: str

    def __repr__(self) -> str:
        from realtime_service.webhooks.masking import mask_number  # on use: the webhooks package is not needed here

        return (
            f"SipTrunk(provider_url={self.provider_url!r}, auth={self.auth!r}, "
            f"caller_number={mask_number(str(self.caller_number))!r})"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class SipTransport:
    """The ``transport`` of an outbound call: the ``destination`` number (E.164 only: the guide refuses SIP URI
    destinations) dialled through ``trunk``. ``extra`` carries transport fields this package does not know yet
    (merged in unvalidated, left out of the repr). The repr masks the number."""

    destination: str
    trunk: SipTrunk
    type: Literal["sip"] = "sip"
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        from realtime_service.webhooks.masking import mask_number

        return f"SipTransport(destination={mask_number(str(self.destination))!r}, trunk={self.trunk!r})"


__all__ = [
    "BUILT_IN_VOICES",
    "SESSION_ID",
    "AudioConfig",
    "AudioOutput",
    "BuiltInVoice",
    "ClientConfig",
    "ClientDelegation",
    "CustomVoice",
    "DataChannelConfig",
    "DecisionsConfig",
    "DecisionsDelegation",
    "DecisionsTrigger",
    "Delegation",
    "InputMessage",
    "LiveModel",
    "LiveSessionConfig",
    "LiveSessionCreateResult",
    "OutboundLiveCallResult",
    "ResponsesConfig",
    "ResponsesDelegation",
    "ResponsesReasoning",
    "ResponsesText",
    "Role",
    "ServerEventFilter",
    "SipDigestAuth",
    "SipTransport",
    "SipTrunk",
    "SpeechWakePolicy",
    "TextPart",
    "TriggerDecisions",
    "TriggerEvent",
]
