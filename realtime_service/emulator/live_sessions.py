"""``POST /v1/live/sessions`` (GPT-Live over WebRTC, or an outbound SIP call) and
``/v1/live/sessions/{session_id}/accept|reject|refer|hangup``.

The request is JSON ``{"session": MediaSessionConfig, "transport": {"type": "webrtc", "sdp": offer}}`` and the
answer ``{"session": {"id": "live_..."}, "transport": {"type": "webrtc", "sdp": answer}}`` (CALLS-LIVE-NOTES
3.1); with ``transport.type: "sip"`` the emulator places an outbound call instead (:mod:`.outbound`). Its
status code is UNCONFIRMED: the emulator answers ``200``, clients should take any 2xx. No
``Location`` header is sent (whether the real API sends one is UNCONFIRMED too). The tables follow the SDK's
``MediaSessionConfigParam`` and ``session_accept_params.Session`` two levels deep; deeper objects (delegated
tools, decision questions) are checked for their type only. Reject needs ``status_code`` (300-699), unlike
Realtime's optional one.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from .call_registry import CallRecord
from .call_routes import REFER, decision_handler, status_code, validation_error
from .core import Call, Core
from .outbound import SIP_TRANSPORT, Dialer, too_large, transport_problem
from .peer_answers import peer_answer, record_with_peer
from .replies import Reply
from .validation import (
    AnyOf,
    Array,
    Boolean,
    Enum,
    FreeObject,
    Integer,
    Nullable,
    Number,
    Object,
    Spec,
    String,
    Tagged,
    variant,
)

_VOICE = AnyOf((String(), Object({"id": String()}, required=frozenset({"id"}))), expected="a string or an object")
_AUDIO = Object({"output": Object({"voice": _VOICE})})
_ACK: dict[str, Spec] = {"acknowledgement_delay_ms": Integer(0)}
_RESPONSES = Object(
    {
        "model": String(),
        "instructions": Nullable(String()),
        "max_output_tokens": Nullable(Integer(1)),
        "parallel_tool_calls": Nullable(Boolean()),
        "reasoning": Nullable(
            Object(
                {
                    "effort": Nullable(Enum(("none", "minimal", "low", "medium", "high", "xhigh"))),
                    "summary": Nullable(Enum(("concise", "detailed", "auto"))),
                }
            )
        ),
        "service_tier": Nullable(String()),
        "text": Nullable(Object({"verbosity": Nullable(Enum(("low", "medium", "high")))})),
        "tool_choice": AnyOf((String(), FreeObject()), expected="a string or an object"),
        "tools": Array(FreeObject()),
    },
    required=frozenset({"model"}),
)
_DECISIONS = Object({"model": String(), "questions": Array(FreeObject())}, required=frozenset({"model", "questions"}))
DELEGATION = Nullable(
    Tagged(
        "type",
        {
            "client": variant("client", _ACK),
            "responses": variant("responses", {"responses": _RESPONSES, **_ACK}, required=("type", "responses")),
            "decisions": variant("decisions", {"decisions": _DECISIONS, **_ACK}, required=("type", "decisions")),
        },
    )
)
_TEXT_PART = Object(
    {"type": Enum(("input_text", "text", "output_text")), "text": String()}, required=frozenset({"text"})
)
INPUT = Array(
    Object(
        {
            "type": Enum(("message",)),
            "role": Enum(("developer", "user", "assistant")),
            "content": Array(_TEXT_PART, min_items=1, max_items=1),
            "id": Nullable(String()),
            "status": Nullable(Enum(("incomplete", "completed"))),
        },
        required=frozenset({"role", "content"}),
    ),
    max_items=128,
)
TRIGGERS = Array(
    variant(
        "decisions",
        {
            "event_type": Enum(("session.input_transcript.delta", "session.output_transcript.delta")),
            "decisions": Object({"questions": Array(FreeObject())}, required=frozenset({"questions"})),
        },
        required=("type", "event_type", "decisions"),
    )
)
_SERVER_EVENT = Object({"type": String(), "response_event": String()}, required=frozenset({"type"}))
CLIENT = Object(
    {
        "data_channel": Object(
            {
                "allowed_client_events": AnyOf((Enum(("all",)), Array(String())), expected="'all' or an array"),
                "allowed_server_events": AnyOf((Enum(("all",)), Array(_SERVER_EVENT)), expected="'all' or an array"),
            }
        )
    },
    required=frozenset({"data_channel"}),
)
_COMMON: dict[str, Spec] = {
    "model": String(),
    "audio": _AUDIO,
    "delegation": DELEGATION,
    "input": INPUT,
    "instructions": Nullable(String()),
    "safety_identifier": Nullable(String()),
    "store": Boolean(),
    "triggers": TRIGGERS,
}
MEDIA_SESSION = Object(
    {
        **_COMMON,
        "client": CLIENT,
        "idle_timeout_s": Integer(0),
        "wake_policy": variant("speech", {"vad_threshold": Number(0, 1)}),
    },
    required=frozenset({"model"}),
)
"""``MediaSessionConfig``: the session of ``POST /live/sessions``."""
ACCEPT_SESSION = variant("live", _COMMON, required=("type", "model"))
"""The ``session`` of ``/live/sessions/{id}/accept`` (``type: "live"`` and ``model`` required)."""

CREATE_REQUEST = Object(
    {
        "session": MEDIA_SESSION,
        "transport": Tagged(
            "type", {"webrtc": variant("webrtc", {"sdp": String()}, required=("type", "sdp")), "sip": SIP_TRANSPORT}
        ),
    },
    required=frozenset({"session", "transport"}),
)
ACCEPT_REQUEST = Object({"session": ACCEPT_SESSION}, required=frozenset({"session"}))


def _session_id() -> str:
    return "live_" + secrets.token_hex(16)


def _creator(emulator: Core, dialer: Dialer) -> Callable[[Call], Reply]:
    def handle(call: Call) -> Reply:
        transport = call.body.get("transport")
        outbound = isinstance(transport, dict) and transport.get("type") == "sip"
        problem = (too_large(call.request.body) if outbound else None) or validation_error(CREATE_REQUEST, call.body)
        if problem is None and outbound:
            problem = transport_problem(call.body["transport"])
        if problem is not None:
            return problem
        if outbound:
            return _dial(emulator, dialer, call)
        offer = call.body["transport"]["sdp"].encode("utf-8", "surrogatepass")
        session_id = _session_id()
        sdp_answer = peer_answer(emulator, session_id, offer, "transport.sdp")
        if isinstance(sdp_answer, Reply):
            return sdp_answer
        record = CallRecord(
            id=session_id,
            api="live",
            transport="webrtc",
            state="active",
            created_at=call.now,
            offer=offer,
            answer=sdp_answer,
            session=call.body["session"],
            encoding="json",
            auth="api_key",
        )
        refused = record_with_peer(emulator, record)
        if refused is not None:
            return refused
        return Reply.json(200, {"session": {"id": record.id}, "transport": {"type": "webrtc", "sdp": sdp_answer}})

    return handle


def _dial(emulator: Core, dialer: Dialer, call: Call) -> Reply:
    """An outbound SIP call: record the session (without the trunk or the number) and start ringing."""
    record = emulator.calls.add(
        CallRecord(
            id=_session_id(),
            api="live",
            transport="sip",
            state="dialing",
            created_at=call.now,
            session=call.body["session"],
            encoding="json",
            auth="api_key",
            outbound=True,
        )
    )
    dialer.dial(record)
    return Reply.json(200, {"session": {"id": record.id}, "transport": {"type": "sip"}})


def install(emulator: Core) -> None:
    """The GPT-Live session family: create a session (WebRTC, or an outbound SIP call), decide and end one."""
    registry = emulator.calls
    dialer = Dialer(registry, emulator.live_events, lambda: emulator.running)
    emulator.add_route("POST", "/live/sessions", _creator(emulator, dialer))
    base = "/live/sessions/{session_id}"
    for action, schema in (("accept", ACCEPT_REQUEST), ("reject", status_code(True)), ("refer", REFER)):
        emulator.add_route("POST", f"{base}/{action}", decision_handler(registry, "live", action, schema), azure=False)
    emulator.add_route(
        "POST", f"{base}/hangup", decision_handler(registry, "live", "hangup", None), json_body=False, azure=False
    )
