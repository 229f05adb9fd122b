"""marshmallow 4 schemas for GPT-Live's session config, and :class:`LiveSessionCodec`, which encodes the body of
``POST /live/sessions`` and reads its answer.

Rules as in :mod:`realtime_service.ga.schemas`: ``unknown = RAISE`` on every nested object, strict JSON types,
closed enums closed and open strings open, limits the SDK's own (``input`` at most 128 messages of one text part
each, ``vad_threshold`` 0..1, delays and timeouts not negative, at most one trigger per event type). The tag
``type`` of a delegation and of a trigger is required (it picks the variant); a dataclass always carries it. The
SDK's free objects (delegated ``tools``, decision ``questions``) are checked to be JSON only.

The same schema checks the ``session`` of a SIP accept (``POST /live/sessions/{id}/accept``,
:meth:`LiveSessionCodec.encode_accept`): one definition of a Live session for both routes, the accept adding
only what CALLS-LIVE-NOTES 3.2 says differs (``type: "live"`` required; no ``client``, ``idle_timeout_s`` or
``wake_policy``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import ValidationError, validate

from realtime_service.errors import RequestValidationError, ResponseValidationError
from realtime_service.live.models import (
    SESSION_ID,
    AudioConfig,
    AudioOutput,
    ClientConfig,
    ClientDelegation,
    CustomVoice,
    DataChannelConfig,
    DecisionsConfig,
    DecisionsDelegation,
    DecisionsTrigger,
    InputMessage,
    LiveSessionConfig,
    ResponsesConfig,
    ResponsesDelegation,
    ResponsesReasoning,
    ResponsesText,
    ServerEventFilter,
    SipDigestAuth,
    SipTransport,
    SipTrunk,
    SpeechWakePolicy,
    TextPart,
    TriggerDecisions,
)
from realtime_service.wire.codec import RequestEncoder
from realtime_service.wire.fields import (
    JsonBoolean,
    JsonInteger,
    JsonList,
    JsonNumber,
    JsonObject,
    JsonString,
    JsonUnion,
    ModelNested,
    RequestSchema,
    TaggedNested,
    between,
    one_of,
)
from realtime_service.wire.sip import (
    MAX_PASSWORD_BYTES,
    MAX_USERNAME_BYTES,
    credential_problem,
    e164_problem,
    provider_url_problem,
)

_NOT_NEGATIVE = validate.Range(min=0)
#: Fields of a WebRTC create that a SIP accept's session does not take (CALLS-LIVE-NOTES 3.2): there is no browser
#: data channel to restrict and no wake policy to set on a phone call. Refused as unknown, never dropped, because
#: ``/accept`` answers 200 to a payload it cannot use and the call fails later.
CREATE_ONLY_FIELDS = ("client", "idle_timeout_s", "wake_policy")
_NOT_CHECKED_BY_CREATE = frozenset({"type", *CREATE_ONLY_FIELDS})


def _tag(value: str) -> JsonString:
    return JsonString(required=True, validate=one_of(value))


class CustomVoiceSchema(RequestSchema):
    __model__ = CustomVoice

    id = JsonString(required=True)


class AudioOutputSchema(RequestSchema):
    __model__ = AudioOutput

    # a blank name is no voice: the API refuses it, and a SIP accept would answer 200 and fail the call later
    voice = JsonUnion(string=JsonString(validate=validate.Length(min=1)), object=ModelNested(CustomVoiceSchema))


class AudioConfigSchema(RequestSchema):
    __model__ = AudioConfig

    output = ModelNested(AudioOutputSchema)


class ServerEventFilterSchema(RequestSchema):
    __model__ = ServerEventFilter

    type = JsonString(required=True)
    response_event = JsonString()


class DataChannelConfigSchema(RequestSchema):
    __model__ = DataChannelConfig

    allowed_client_events = JsonUnion(string=JsonString(validate=one_of("all")), array=JsonList(JsonString()))
    allowed_server_events = JsonUnion(
        string=JsonString(validate=one_of("all")), array=JsonList(ModelNested(ServerEventFilterSchema))
    )


class ClientConfigSchema(RequestSchema):
    __model__ = ClientConfig

    data_channel = ModelNested(DataChannelConfigSchema, required=True)


class ResponsesReasoningSchema(RequestSchema):
    __model__ = ResponsesReasoning

    effort = JsonString(validate=one_of("none", "minimal", "low", "medium", "high", "xhigh"), allow_none=True)
    summary = JsonString(validate=one_of("concise", "detailed", "auto"), allow_none=True)


class ResponsesTextSchema(RequestSchema):
    __model__ = ResponsesText

    verbosity = JsonString(validate=one_of("low", "medium", "high"), allow_none=True)


class ResponsesConfigSchema(RequestSchema):
    __model__ = ResponsesConfig

    model = JsonString(required=True)
    instructions = JsonString(allow_none=True)
    max_output_tokens = JsonInteger(validate=validate.Range(min=1), allow_none=True)
    parallel_tool_calls = JsonBoolean(allow_none=True)
    reasoning = ModelNested(ResponsesReasoningSchema, allow_none=True)
    service_tier = JsonString(allow_none=True)
    text = ModelNested(ResponsesTextSchema, allow_none=True)
    tool_choice = JsonUnion(string=JsonString(), object=JsonObject())
    tools = JsonList(JsonObject())


class DecisionsConfigSchema(RequestSchema):
    __model__ = DecisionsConfig

    model = JsonString(required=True)
    questions = JsonList(JsonObject(), required=True)


class ClientDelegationSchema(RequestSchema):
    __model__ = ClientDelegation

    type = _tag("client")
    acknowledgement_delay_ms = JsonInteger(validate=_NOT_NEGATIVE)


class ResponsesDelegationSchema(RequestSchema):
    __model__ = ResponsesDelegation

    type = _tag("responses")
    responses = ModelNested(ResponsesConfigSchema, required=True)
    acknowledgement_delay_ms = JsonInteger(validate=_NOT_NEGATIVE)


class DecisionsDelegationSchema(RequestSchema):
    __model__ = DecisionsDelegation

    type = _tag("decisions")
    decisions = ModelNested(DecisionsConfigSchema, required=True)
    acknowledgement_delay_ms = JsonInteger(validate=_NOT_NEGATIVE)


class TextPartSchema(RequestSchema):
    __model__ = TextPart

    type = JsonString(validate=one_of("input_text", "text", "output_text"))
    text = JsonString(required=True)


class InputMessageSchema(RequestSchema):
    __model__ = InputMessage

    type = JsonString(validate=one_of("message"))
    role = JsonString(required=True, validate=one_of("developer", "user", "assistant"))
    content = JsonList(ModelNested(TextPartSchema), required=True, validate=validate.Length(min=1, max=1))
    id = JsonString(allow_none=True)
    status = JsonString(validate=one_of("incomplete", "completed"), allow_none=True)


class TriggerDecisionsSchema(RequestSchema):
    __model__ = TriggerDecisions

    questions = JsonList(JsonObject(), required=True)


class DecisionsTriggerSchema(RequestSchema):
    __model__ = DecisionsTrigger

    type = _tag("decisions")
    event_type = JsonString(
        required=True, validate=one_of("session.input_transcript.delta", "session.output_transcript.delta")
    )
    decisions = ModelNested(TriggerDecisionsSchema, required=True)


class SpeechWakePolicySchema(RequestSchema):
    __model__ = SpeechWakePolicy

    type = _tag("speech")
    vad_threshold = JsonNumber(validate=between(0, 1))


def _one_trigger_per_event_type(triggers: Any) -> None:
    """The API takes at most one trigger per event type (CALLS-LIVE-NOTES 3.1)."""
    seen: set[Any] = set()
    for trigger in triggers:
        event_type = trigger.get("event_type") if isinstance(trigger, Mapping) else getattr(trigger, "event_type", None)
        if event_type in seen:
            raise ValidationError(f"At most one trigger per event type ({event_type} is given twice).")
        seen.add(event_type)


class LiveSessionConfigSchema(RequestSchema):
    """``MediaSessionConfig``: every field of SDK 3.57's, two levels deep and more."""

    __model__ = LiveSessionConfig

    model = JsonString(required=True, validate=validate.Length(min=1))
    audio = ModelNested(AudioConfigSchema)
    client = ModelNested(ClientConfigSchema)
    delegation = TaggedNested(
        {
            "client": ClientDelegationSchema,
            "responses": ResponsesDelegationSchema,
            "decisions": DecisionsDelegationSchema,
        },
        allow_none=True,
    )
    idle_timeout_s = JsonInteger(validate=_NOT_NEGATIVE)
    input = JsonList(ModelNested(InputMessageSchema), validate=validate.Length(max=128))
    instructions = JsonString(allow_none=True)
    safety_identifier = JsonString(allow_none=True)
    store = JsonBoolean()
    triggers = JsonList(TaggedNested({"decisions": DecisionsTriggerSchema}), validate=_one_trigger_per_event_type)
    wake_policy = TaggedNested({"speech": SpeechWakePolicySchema})


def _checked(problem: Any) -> Any:
    """A marshmallow validator from a ``problem(value) -> reason | None`` function (reasons never quote values)."""

    def check(value: str) -> None:
        why = problem(value)
        if why is not None:
            raise ValidationError(why[:1].upper() + why[1:] + ".")

    return check


class SipDigestAuthSchema(RequestSchema):
    __model__ = SipDigestAuth

    type = _tag("digest")
    username = JsonString(
        required=True, validate=_checked(lambda v: credential_problem(v, MAX_USERNAME_BYTES, blank_ok=False))
    )
    password = JsonString(
        required=True, validate=_checked(lambda v: credential_problem(v, MAX_PASSWORD_BYTES, blank_ok=True))
    )


class SipTrunkSchema(RequestSchema):
    __model__ = SipTrunk

    provider_url = JsonString(required=True, validate=_checked(provider_url_problem))
    auth = ModelNested(SipDigestAuthSchema, required=True)
    caller_number = JsonString(required=True, validate=_checked(e164_problem))


class SipTransportSchema(RequestSchema):
    """The ``transport`` of an outbound call (``type: "sip"``): checked as the voice-sip guide states it."""

    __model__ = SipTransport

    type = _tag("sip")
    destination = JsonString(required=True, validate=_checked(e164_problem))
    trunk = ModelNested(SipTrunkSchema, required=True)


def _with_tags(transport: Any) -> Any:
    """A mapping ``transport`` with its one-variant tags filled in where left out (``type: "sip"``, the auth's
    ``type: "digest"``); a tag given is kept, and checked."""
    if not isinstance(transport, Mapping):
        return transport
    tagged = {"type": "sip", **transport}
    trunk = tagged.get("trunk")
    if isinstance(trunk, Mapping) and isinstance(trunk.get("auth"), Mapping):
        tagged["trunk"] = {**trunk, "auth": {"type": "digest", **trunk["auth"]}}
    return tagged


#: The guide's limit on the body of an outbound call.
MAX_OUTBOUND_BODY_BYTES = 1 << 20


class LiveSessionCodec:
    """``POST /live/sessions``: the validated JSON body for an offer and a session, and the answer read into
    ``(session_id, sdp)``. Build one and share it (thread-safe).

    Only :class:`~realtime_service.errors.RequestValidationError` leaves :meth:`encode` (fields named by dotted
    path from the body's top: ``session.audio.output.voice``) and only
    :class:`~realtime_service.errors.ResponseValidationError` leaves :meth:`decode`.
    """

    def __init__(self) -> None:
        self._session = RequestEncoder(LiveSessionConfigSchema())
        self._sip = RequestEncoder(SipTransportSchema())

    def encode_session(self, session: LiveSessionConfig | Mapping[str, Any]) -> dict[str, Any]:
        """The validated ``session`` object (``extra`` merged in)."""
        try:
            return self._session.encode(session)
        except RequestValidationError as exc:
            raise RequestValidationError(
                {("session" if name == "_schema" else f"session.{name}"): msgs for name, msgs in exc.messages.items()}
            ) from None

    def encode_accept(self, session: LiveSessionConfig | Mapping[str, Any]) -> dict[str, Any]:
        """The body of a SIP accept, ``{"session": {"type": "live", ...}}``: ``session`` validated by the same
        schema as a create's, plus the accept's own rules. A mapping must say ``type: "live"`` (the API requires
        it, and it tells a Live accept from a Realtime one); a :class:`LiveSessionConfig` has no ``type`` and gets
        it. :data:`CREATE_ONLY_FIELDS` are refused as unknown."""
        problems: dict[str, list[str]] = {}
        if isinstance(session, Mapping):
            if session.get("type") != "live":
                problems["session.type"] = ['Must be "live" (a Realtime call uses accept_call).']
            problems.update({f"session.{name}": ["Unknown field."] for name in CREATE_ONLY_FIELDS if name in session})
            session = {name: value for name, value in session.items() if name not in _NOT_CHECKED_BY_CREATE}
        try:
            encoded = self.encode_session(session)
        except RequestValidationError as exc:
            problems.update(exc.messages)
            encoded = {}
        # a dataclass may hold one (its extra may also say type: anything but "live" is a contradiction)
        problems.update({f"session.{name}": ["Unknown field."] for name in CREATE_ONLY_FIELDS if name in encoded})
        if encoded.get("type", "live") != "live":
            problems["session.extra.type"] = ['Must be "live" if given.']
        if problems:
            raise RequestValidationError(problems)
        return {"session": {"type": "live", **encoded}}

    def encode(self, sdp: str, session: LiveSessionConfig | Mapping[str, Any]) -> dict[str, Any]:
        """``{"session": ..., "transport": {"type": "webrtc", "sdp": sdp}}``; ``sdp`` is the checked offer."""
        return {"session": self.encode_session(session), "transport": {"type": "webrtc", "sdp": sdp}}

    def encode_outbound(
        self, session: LiveSessionConfig | Mapping[str, Any], transport: SipTransport | Mapping[str, Any]
    ) -> dict[str, Any]:
        """``{"session": ..., "transport": {"type": "sip", ...}}`` for an outbound call: the session as a WebRTC
        create's, the transport by :class:`SipTransportSchema`. Every problem of both is raised at once, fields
        named from the body's top (``transport.trunk.caller_number``); no message quotes a value."""
        problems: dict[str, list[str]] = {}
        body: dict[str, Any] = {}
        try:
            body["session"] = self.encode_session(session)
        except RequestValidationError as exc:
            problems.update(exc.messages)
        try:
            body["transport"] = self._sip.encode(_with_tags(transport))
        except RequestValidationError as exc:
            problems.update(
                {("transport" if name == "_schema" else f"transport.{name}"): m for name, m in exc.messages.items()}
            )
        if problems:
            raise RequestValidationError(problems)
        return body

    def decode_outbound(self, body: Any, *, request_id: str | None) -> str:
        """The session id of an outbound call's answer (``{"session": {"id": "live_..."}, ...}``); without one
        the call could not be attached or hung up, so it is a :class:`ResponseValidationError` (the call may be
        ringing: the error says so)."""
        session = body.get("session") if isinstance(body, Mapping) else None
        session_id = session.get("id") if isinstance(session, Mapping) else None
        if isinstance(session_id, str) and SESSION_ID.fullmatch(session_id):
            return session_id
        raise ResponseValidationError(
            f"response has no valid session.id (must match {SESSION_ID.pattern}); the call may have been placed "
            "and cannot be followed or hung up from here",
            request_id=request_id,
        )

    def decode(self, body: Any, *, request_id: str | None) -> tuple[str, str]:
        """``(session id, SDP answer)`` from ``{"session": {"id": "live_..."}, "transport": {"sdp": ...}}``.

        Both must be there: without the id the session could not be hung up, without the SDP the browser cannot
        connect, so either missing raises (with the request id) rather than handing back half a session.
        """
        session = body.get("session") if isinstance(body, Mapping) else None
        transport = body.get("transport") if isinstance(body, Mapping) else None
        session_id = session.get("id") if isinstance(session, Mapping) else None
        sdp = transport.get("sdp") if isinstance(transport, Mapping) else None
        valid_id = session_id if isinstance(session_id, str) and SESSION_ID.fullmatch(session_id) else None
        valid_sdp = sdp if isinstance(sdp, str) and sdp.startswith("v=0") else None
        if valid_id is None or valid_sdp is None:
            problems = [f"session.id (must match {SESSION_ID.pattern})"] if valid_id is None else []
            problems += ["transport.sdp (an SDP answer starting with v=0)"] if valid_sdp is None else []
            raise ResponseValidationError(f"response has no valid {' or '.join(problems)}", request_id=request_id)
        return valid_id, valid_sdp


__all__ = [
    "CREATE_ONLY_FIELDS",
    "MAX_OUTBOUND_BODY_BYTES",
    "AudioConfigSchema",
    "AudioOutputSchema",
    "ClientConfigSchema",
    "ClientDelegationSchema",
    "CustomVoiceSchema",
    "DataChannelConfigSchema",
    "DecisionsConfigSchema",
    "DecisionsDelegationSchema",
    "DecisionsTriggerSchema",
    "InputMessageSchema",
    "LiveSessionCodec",
    "LiveSessionConfigSchema",
    "ResponsesConfigSchema",
    "ResponsesDelegationSchema",
    "ResponsesReasoningSchema",
    "ResponsesTextSchema",
    "ServerEventFilterSchema",
    "SipDigestAuthSchema",
    "SipTransportSchema",
    "SipTrunkSchema",
    "SpeechWakePolicySchema",
    "TextPartSchema",
    "TriggerDecisionsSchema",
]
