"""The GPT-Live session config (``POST /live/sessions``): strict types, closed enums closed and open strings open,
unknown fields refused by dotted path, ``extra`` for what is not known yet; whatever validates round-trips and
whatever does not raises ``RequestValidationError`` and nothing else."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realtime_service import LiveSessionConfig, RequestValidationError, ResponseValidationError
from realtime_service.live.models import (
    BUILT_IN_VOICES,
    AudioConfig,
    AudioOutput,
    ClientConfig,
    DataChannelConfig,
    DecisionsConfig,
    DecisionsDelegation,
    DecisionsTrigger,
    InputMessage,
    ServerEventFilter,
    SpeechWakePolicy,
    TextPart,
    TriggerDecisions,
)
from realtime_service.live.schemas import LiveSessionCodec

CODEC = LiveSessionCodec()

FULL: dict[str, Any] = {
    "model": "gpt-live-1.1",
    "audio": {"output": {"voice": "beacon"}},
    "client": {
        "data_channel": {
            "allowed_client_events": ["response.create"],
            "allowed_server_events": [{"type": "session.output_transcript.delta", "response_event": "x"}],
        }
    },
    "delegation": {
        "type": "responses",
        "responses": {
            "model": "gpt-5",
            "instructions": None,
            "max_output_tokens": 500,
            "parallel_tool_calls": True,
            "reasoning": {"effort": "low", "summary": "auto"},
            "service_tier": "priority",
            "text": {"verbosity": "low"},
            "tool_choice": "auto",
            "tools": [{"type": "function", "name": "lookup", "parameters": {"type": "object"}}],
        },
        "acknowledgement_delay_ms": 400,
    },
    "idle_timeout_s": 60,
    "input": [{"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "Hi"}]}],
    "instructions": "Be brief.",
    "safety_identifier": "user-123",
    "store": True,
    "triggers": [
        {"type": "decisions", "event_type": "session.input_transcript.delta", "decisions": {"questions": [{"q": 1}]}}
    ],
    "wake_policy": {"type": "speech", "vad_threshold": 0.5},
}


def test_every_field_of_the_sdk_config_validates_and_encodes_unchanged() -> None:
    assert CODEC.encode_session(FULL) == FULL


def test_the_dataclasses_encode_to_the_same_json() -> None:
    config = LiveSessionConfig(
        model="gpt-live-1",
        audio=AudioConfig(output=AudioOutput(voice="marin")),
        client=ClientConfig(
            data_channel=DataChannelConfig(
                allowed_client_events="all", allowed_server_events=[ServerEventFilter(type="session.started")]
            )
        ),
        delegation=DecisionsDelegation(decisions=DecisionsConfig(model="gpt-5-mini", questions=[{"id": "q1"}])),
        input=[InputMessage(role="user", content=[TextPart(text="hello", type="input_text")])],
        triggers=[
            DecisionsTrigger(
                event_type="session.output_transcript.delta", decisions=TriggerDecisions(questions=[{"id": "q2"}])
            )
        ],
        wake_policy=SpeechWakePolicy(vad_threshold=0.25),
        instructions=None,
        extra={"future_field": {"on": True}},
    )
    assert CODEC.encode_session(config) == {
        "model": "gpt-live-1",
        "audio": {"output": {"voice": "marin"}},
        "client": {
            "data_channel": {"allowed_client_events": "all", "allowed_server_events": [{"type": "session.started"}]}
        },
        "delegation": {"type": "decisions", "decisions": {"model": "gpt-5-mini", "questions": [{"id": "q1"}]}},
        "input": [{"role": "user", "content": [{"type": "input_text", "text": "hello"}]}],
        "triggers": [
            {
                "type": "decisions",
                "event_type": "session.output_transcript.delta",
                "decisions": {"questions": [{"id": "q2"}]},
            }
        ],
        "wake_policy": {"type": "speech", "vad_threshold": 0.25},
        "instructions": None,
        "future_field": {"on": True},
    }


def test_the_create_body_wraps_session_and_transport() -> None:
    assert CODEC.encode("v=0\r\n", {"model": "gpt-live-1"}) == {
        "session": {"model": "gpt-live-1"},
        "transport": {"type": "webrtc", "sdp": "v=0\r\n"},
    }


@pytest.mark.parametrize(
    ("session", "field"),
    [
        ({}, "session.model"),
        ({"model": ""}, "session.model"),
        ({"model": 1}, "session.model"),
        ({"model": "m", "bogus": 1}, "session.bogus"),
        ({"model": "m", "extra": {}}, "session.extra"),
        ({"model": "m", "audio": {"output": {"voice": 7}}}, "session.audio.output.voice"),
        ({"model": "m", "audio": {"output": {"voice": ""}}}, "session.audio.output.voice"),
        ({"model": "m", "audio": {"output": {"format": "pcm"}}}, "session.audio.output.format"),
        ({"model": "m", "store": "yes"}, "session.store"),
        ({"model": "m", "idle_timeout_s": True}, "session.idle_timeout_s"),
        ({"model": "m", "idle_timeout_s": -1}, "session.idle_timeout_s"),
        ({"model": "m", "wake_policy": {"type": "speech", "vad_threshold": 1.5}}, "session.wake_policy.vad_threshold"),
        ({"model": "m", "wake_policy": {"vad_threshold": 0.5}}, "session.wake_policy.type"),
        ({"model": "m", "input": [{"role": "system", "content": [{"text": "x"}]}]}, "session.input.0.role"),
        ({"model": "m", "input": [{"role": "user", "content": []}]}, "session.input.0.content"),
        ({"model": "m", "input": [{"role": "user", "content": [{"text": "x"}] * 2}]}, "session.input.0.content"),
        ({"model": "m", "input": [{"role": "user", "content": [{"text": "x"}]}] * 129}, "session.input"),
        ({"model": "m", "client": {}}, "session.client.data_channel"),
        (
            {"model": "m", "client": {"data_channel": {"allowed_client_events": "some"}}},
            "session.client.data_channel.allowed_client_events",
        ),
        ({"model": "m", "delegation": {"type": "humans"}}, "session.delegation.type"),
        ({"model": "m", "delegation": {"type": "responses"}}, "session.delegation.responses"),
        (
            {"model": "m", "delegation": {"type": "responses", "responses": {"model": "x", "temperature": 1}}},
            "session.delegation.responses.temperature",
        ),
        (
            {
                "model": "m",
                "delegation": {"type": "responses", "responses": {"model": "x", "reasoning": {"effort": "max"}}},
            },
            "session.delegation.responses.reasoning.effort",
        ),
        (
            {
                "model": "m",
                "triggers": [{"type": "decisions", "event_type": "session.started", "decisions": {"questions": []}}],
            },
            "session.triggers.0.event_type",
        ),
    ],
)
def test_what_the_api_would_refuse_is_named_by_dotted_path(session: dict[str, Any], field: str) -> None:
    with pytest.raises(RequestValidationError) as caught:
        CODEC.encode_session(session)
    assert field in caught.value.fields


def test_open_strings_stay_open_and_null_is_sent_where_allowed() -> None:
    session = {"model": "gpt-live-9", "audio": {"output": {"voice": "a-voice-from-next-year"}}, "delegation": None}
    assert CODEC.encode_session(session) == session
    assert "marin" in BUILT_IN_VOICES


def test_an_extra_key_that_names_a_known_field_is_refused() -> None:
    with pytest.raises(RequestValidationError) as caught:
        CODEC.encode_session(LiveSessionConfig(model="gpt-live-1", extra={"store": True}))
    assert caught.value.fields == ["session.extra.store"]


def test_a_session_that_is_not_an_object_is_named() -> None:
    with pytest.raises(RequestValidationError) as caught:
        CODEC.encode_session(None)  # type: ignore[arg-type]
    assert caught.value.fields == ["session"]


TRIGGER = {"type": "decisions", "event_type": "session.input_transcript.delta", "decisions": {"questions": []}}


def test_two_triggers_for_one_event_type_are_refused_for_a_create_and_an_accept() -> None:
    with pytest.raises(RequestValidationError) as caught:
        CODEC.encode_session({"model": "m", "triggers": [TRIGGER, TRIGGER]})
    assert caught.value.fields == ["session.triggers"]
    with pytest.raises(RequestValidationError) as caught:
        CODEC.encode_accept({"type": "live", "model": "m", "triggers": [TRIGGER, TRIGGER]})
    assert caught.value.fields == ["session.triggers"]
    other = {**TRIGGER, "event_type": "session.output_transcript.delta"}
    assert CODEC.encode_session({"model": "m", "triggers": [TRIGGER, other]})["triggers"] == [TRIGGER, other]


# --- the SIP accept's session: the same schema, plus the accept's own rules -----------------------------------

ACCEPTABLE = {key: value for key, value in FULL.items() if key not in ("client", "idle_timeout_s", "wake_policy")}


def test_an_accept_takes_every_field_a_create_takes_but_the_create_only_ones() -> None:
    assert CODEC.encode_accept({"type": "live", **ACCEPTABLE}) == {"session": {"type": "live", **ACCEPTABLE}}


def test_an_accept_of_a_dataclass_gets_its_type() -> None:
    config = LiveSessionConfig(model="gpt-live-1", store=True, audio=AudioConfig(output=AudioOutput(voice="marin")))
    assert CODEC.encode_accept(config) == {
        "session": {"type": "live", "model": "gpt-live-1", "store": True, "audio": {"output": {"voice": "marin"}}}
    }


@pytest.mark.parametrize(
    ("session", "fields"),
    [
        ({"model": "m"}, ["session.type"]),
        ({"type": "realtime", "model": "m"}, ["session.type"]),
        ({"type": "live"}, ["session.model"]),
        ({"type": "live", "model": "m", "client": FULL["client"]}, ["session.client"]),
        ({"type": "live", "model": "m", "client": {}}, ["session.client"]),  # refused as unknown, not as invalid
        ({"type": "live", "model": "m", "idle_timeout_s": 5}, ["session.idle_timeout_s"]),
        ({"type": "live", "model": "m", "wake_policy": FULL["wake_policy"]}, ["session.wake_policy"]),
        # checked as a create checks it, to the innermost field: the accept has no looser copy of the schema
        ({"type": "live", "model": "m", "delegation": {"type": "responses", "responses": {}}},
         ["session.delegation.responses.model"]),
        ({"model": "m", "store": 1}, ["session.store", "session.type"]),
    ],
)  # fmt: skip
def test_an_accept_refuses_what_the_accept_does_not_take(session: dict[str, Any], fields: list[str]) -> None:
    with pytest.raises(RequestValidationError) as caught:
        CODEC.encode_accept(session)
    assert caught.value.fields == fields


@pytest.mark.parametrize(
    ("config", "field"),
    [
        (LiveSessionConfig(model="m", idle_timeout_s=5), "session.idle_timeout_s"),
        (LiveSessionConfig(model="m", wake_policy=SpeechWakePolicy()), "session.wake_policy"),
        (LiveSessionConfig(model="m", extra={"type": "realtime"}), "session.extra.type"),
    ],
)
def test_an_accept_of_a_dataclass_refuses_the_same(config: LiveSessionConfig, field: str) -> None:
    with pytest.raises(RequestValidationError) as caught:
        CODEC.encode_accept(config)
    assert caught.value.fields == [field]


def test_the_answer_must_hold_the_id_and_the_sdp() -> None:
    body = {"session": {"id": "live_123"}, "transport": {"type": "webrtc", "sdp": "v=0\r\n"}}
    assert CODEC.decode(body, request_id="req_1") == ("live_123", "v=0\r\n")
    with pytest.raises(ResponseValidationError) as caught:
        CODEC.decode({"session": {"id": "sess_1"}}, request_id="req_2")
    assert caught.value.request_id == "req_2"
    assert "session.id" in str(caught.value)
    assert "transport.sdp" in str(caught.value)


# --- properties ----------------------------------------------------------------------------------------------

_text = st.text(max_size=20)
_message = st.fixed_dictionaries(
    {"role": st.sampled_from(["developer", "user", "assistant"]), "content": st.just([{"text": "x"}])}
)
VALID = st.fixed_dictionaries(
    {"model": st.text(min_size=1, max_size=20)},
    optional={
        "audio": st.fixed_dictionaries(
            {"output": st.fixed_dictionaries({"voice": st.sampled_from(BUILT_IN_VOICES) | _text.filter(bool)})}
        ),
        "instructions": st.none() | _text,
        "safety_identifier": st.none() | _text,
        "store": st.booleans(),
        "idle_timeout_s": st.integers(min_value=0, max_value=10**6),
        "input": st.lists(_message, max_size=5),
        "wake_policy": st.fixed_dictionaries(
            {"type": st.just("speech")}, optional={"vad_threshold": st.floats(min_value=0, max_value=1)}
        ),
        "delegation": st.none()
        | st.fixed_dictionaries(
            {"type": st.just("client")}, optional={"acknowledgement_delay_ms": st.integers(0, 5000)}
        ),
    },
)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=10,
)
_keys = st.sampled_from(["model", "audio", "store", "input", "delegation", "client", "triggers", "wake_policy", "x"])


@settings(max_examples=200, deadline=None)
@given(VALID)
def test_whatever_validates_round_trips(session: dict[str, Any]) -> None:
    encoded = CODEC.encode_session(session)
    assert encoded == session
    assert CODEC.encode_session(encoded) == encoded


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_keys, _json, max_size=5))
def test_arbitrary_input_is_encoded_or_refused_with_our_error_only(session: dict[str, Any]) -> None:
    try:
        CODEC.encode_session(session)
    except RequestValidationError as exc:
        refused = exc.fields
    else:
        return
    assert refused
    assert all(field.startswith("session") for field in refused)
