"""The beta session codec: what validates round-trips, what does not raises our validation error and nothing else."""

from __future__ import annotations

import copy
import math
import pickle
import threading
from typing import Any

import pytest
from beta_samples import VALID_FIELDS, any_json, json_objects, valid_requests
from beta_samples import text as short_text
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from realtime_service.beta.models import (
    NOT_GIVEN,
    ClientSecret,
    ClientSecretConfig,
    ExpiresAfter,
    FunctionTool,
    InputAudioTranscription,
    NoiseReduction,
    NotGiven,
    RealtimeSessionCreateRequest,
    RealtimeSessionCreateResponse,
    TracingConfig,
    TurnDetection,
)
from realtime_service.beta.schemas import (
    FALLBACK,
    BetaSessionCodec,
    RealtimeSessionCreateRequestSchema,
    RealtimeSessionCreateResponseSchema,
    compile_loader,
    fast_dump,
)
from realtime_service.errors import RequestValidationError, ResponseValidationError

SECRET = "ek_68a1f0c2d9e84b7aa55e0c3b1f2d9e7a"
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

FULL_REQUEST: dict[str, Any] = {
    "model": "gpt-4o-realtime-preview",
    "modalities": ["text", "audio"],
    "instructions": "You are a friendly assistant.",
    "voice": "marin",
    "input_audio_format": "pcm16",
    "output_audio_format": "g711_ulaw",
    "input_audio_transcription": {"model": "gpt-4o-transcribe", "language": "en", "prompt": "expect tech words"},
    "turn_detection": {
        "type": "semantic_vad",
        "eagerness": "high",
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 500,
        "create_response": True,
        "interrupt_response": False,
    },
    "input_audio_noise_reduction": {"type": "far_field"},
    "tools": [
        {
            "type": "function",
            "name": "get_weather",
            "description": "Look up the weather.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        }
    ],
    "tool_choice": "auto",
    "temperature": 0.8,
    "max_response_output_tokens": 4096,
    "speed": 1.0,
    "tracing": {"workflow_name": "support", "group_id": "g1", "metadata": {"tier": "gold", "n": 1}},
    "client_secret": {"expires_after": {"anchor": "created_at", "seconds": 600}},
}

FULL_DATACLASS = RealtimeSessionCreateRequest(
    model="gpt-4o-realtime-preview",
    modalities=["text", "audio"],
    instructions="You are a friendly assistant.",
    voice="marin",
    input_audio_format="pcm16",
    output_audio_format="g711_ulaw",
    input_audio_transcription=InputAudioTranscription(
        model="gpt-4o-transcribe", language="en", prompt="expect tech words"
    ),
    turn_detection=TurnDetection(
        type="semantic_vad",
        eagerness="high",
        threshold=0.5,
        prefix_padding_ms=300,
        silence_duration_ms=500,
        create_response=True,
        interrupt_response=False,
    ),
    input_audio_noise_reduction=NoiseReduction(type="far_field"),
    tools=[
        FunctionTool(
            name="get_weather",
            description="Look up the weather.",
            parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        )
    ],
    tool_choice="auto",
    temperature=0.8,
    max_response_output_tokens=4096,
    speed=1.0,
    tracing=TracingConfig(workflow_name="support", group_id="g1", metadata={"tier": "gold", "n": 1}),
    client_secret=ClientSecretConfig(ExpiresAfter(seconds=600)),
)

SPEC_RESPONSE: dict[str, Any] = {
    "id": "sess_001",
    "object": "realtime.session",
    "model": "gpt-4o-realtime-preview",
    "modalities": ["audio", "text"],
    "instructions": "You are a friendly assistant.",
    "voice": "alloy",
    "input_audio_format": "pcm16",
    "output_audio_format": "pcm16",
    "input_audio_transcription": {"model": "whisper-1"},
    "turn_detection": None,
    "tools": [],
    "tool_choice": "none",
    "temperature": 0.7,
    "max_response_output_tokens": 200,
    "client_secret": {"value": SECRET, "expires_at": 1234567890},
}


@pytest.fixture(scope="module")
def codec() -> BetaSessionCodec:
    return BetaSessionCodec()


def with_field(path: str, value: Any, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """A deep copy of ``base`` (the full request) with the dotted ``path`` set to ``value``."""
    body = copy.deepcopy(FULL_REQUEST if base is None else base)
    *parents, last = path.split(".")
    node: Any = body
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return body


def rejected_fields(codec: BetaSessionCodec, request: Any) -> list[str]:
    with pytest.raises(RequestValidationError) as info:
        codec.encode(request)
    return info.value.fields


# --- round trips -----------------------------------------------------------------------------------------------


def test_a_request_with_every_field_round_trips_through_load_and_encode(codec: BetaSessionCodec) -> None:
    assert codec.encode(codec.load_request(FULL_REQUEST)) == FULL_REQUEST


def test_encoding_a_mapping_returns_the_same_body(codec: BetaSessionCodec) -> None:
    assert codec.encode(FULL_REQUEST) == FULL_REQUEST


def test_a_dataclass_request_encodes_to_the_same_body_as_its_mapping(codec: BetaSessionCodec) -> None:
    assert codec.encode(FULL_DATACLASS) == FULL_REQUEST


def test_loading_builds_the_nested_dataclasses(codec: BetaSessionCodec) -> None:
    request = codec.load_request(FULL_REQUEST)
    assert request.turn_detection == FULL_DATACLASS.turn_detection
    assert request.tracing == FULL_DATACLASS.tracing
    assert request.client_secret == FULL_DATACLASS.client_secret
    assert request.tools == tuple(FULL_DATACLASS.tools)  # type: ignore[arg-type]
    assert request.modalities == ("text", "audio")


def test_request_to_dict_is_the_encoded_body() -> None:
    assert FULL_DATACLASS.to_dict() == FULL_REQUEST


def test_an_empty_request_encodes_to_an_empty_body(codec: BetaSessionCodec) -> None:
    assert codec.encode(RealtimeSessionCreateRequest()) == {}
    assert codec.encode({}) == {}


def test_a_loaded_tool_without_type_encodes_without_type(codec: BetaSessionCodec) -> None:
    body = {"tools": [{"name": "f"}]}
    assert codec.encode(codec.load_request(body)) == body


def test_a_tool_built_by_hand_sends_its_function_type(codec: BetaSessionCodec) -> None:
    assert codec.encode(RealtimeSessionCreateRequest(tools=[FunctionTool(name="f")])) == {
        "tools": [{"type": "function", "name": "f"}]
    }


def test_the_encoded_body_shares_no_mutable_object_with_the_input(codec: BetaSessionCodec) -> None:
    body = codec.encode(FULL_REQUEST)
    body["tools"][0]["parameters"]["type"] = "changed"
    body["modalities"].append("audio")
    assert FULL_REQUEST["tools"][0]["parameters"]["type"] == "object"
    assert FULL_REQUEST["modalities"] == ["text", "audio"]


# --- enums, open strings, ranges -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("modalities", ["text", "video"], "modalities.1"),
        ("input_audio_format", "mp3", "input_audio_format"),
        ("output_audio_format", "pcm24", "output_audio_format"),
        ("turn_detection.type", "vad", "turn_detection.type"),
        ("turn_detection.eagerness", "max", "turn_detection.eagerness"),
        ("input_audio_noise_reduction.type", "mid_field", "input_audio_noise_reduction.type"),
        ("tools.0.type", "mcp", "tools.0.type"),
        ("tracing", "manual", "tracing"),
        ("client_secret.expires_after.anchor", "now", "client_secret.expires_after.anchor"),
    ],
)
def test_a_value_outside_a_closed_enum_is_rejected_naming_the_field(
    codec: BetaSessionCodec, path: str, value: Any, field: str
) -> None:
    assert rejected_fields(codec, with_field(path, value)) == [field]


@pytest.mark.parametrize(("path", "value"), [("model", "gpt-realtime-2099-01-01"), ("voice", "my-custom-voice")])
def test_model_and_voice_accept_any_string(codec: BetaSessionCodec, path: str, value: str) -> None:
    assert codec.encode({path: value}) == {path: value}


@pytest.mark.parametrize("choice", ["auto", "none", "required", "get_weather"])
def test_tool_choice_accepts_the_keywords_and_a_function_name(codec: BetaSessionCodec, choice: str) -> None:
    assert codec.encode({"tool_choice": choice}) == {"tool_choice": choice}


def test_tracing_accepts_auto(codec: BetaSessionCodec) -> None:
    assert codec.encode({"tracing": "auto"}) == {"tracing": "auto"}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("temperature", 0.6),
        ("temperature", 1.2),
        ("speed", 0.25),
        ("speed", 1.5),
        ("turn_detection.threshold", 0),
        ("turn_detection.threshold", 1.0),
        ("max_response_output_tokens", 1),
        ("max_response_output_tokens", 4096),
        ("max_response_output_tokens", "inf"),
        ("client_secret.expires_after.seconds", 10),
        ("client_secret.expires_after.seconds", 7200),
    ],
)
def test_a_value_at_the_edge_of_its_range_is_accepted(codec: BetaSessionCodec, path: str, value: Any) -> None:
    body = with_field(path, value)
    assert codec.encode(body) == body


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("temperature", 0.59),
        ("temperature", 1.21),
        ("speed", 0.24),
        ("speed", 1.51),
        ("turn_detection.threshold", -0.01),
        ("turn_detection.threshold", 1.01),
        ("max_response_output_tokens", 0),
        ("max_response_output_tokens", 4097),
        ("client_secret.expires_after.seconds", 9),
        ("client_secret.expires_after.seconds", 7201),
    ],
)
def test_a_value_just_outside_its_range_is_rejected(codec: BetaSessionCodec, path: str, value: Any) -> None:
    assert rejected_fields(codec, with_field(path, value)) == [path]


# --- strict types ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("temperature", True),
        ("temperature", "0.8"),
        ("speed", False),
        ("turn_detection.threshold", "0.5"),
        ("max_response_output_tokens", True),
        ("max_response_output_tokens", 5.5),
        ("max_response_output_tokens", 5.0),
        ("max_response_output_tokens", "5"),
        ("max_response_output_tokens", "INF"),
        ("turn_detection.prefix_padding_ms", 5.5),
        ("turn_detection.prefix_padding_ms", "300"),
        ("turn_detection.silence_duration_ms", True),
        ("client_secret.expires_after.seconds", 600.0),
        ("turn_detection.create_response", 1),
        ("turn_detection.interrupt_response", "true"),
        ("instructions", 5),
        ("instructions", b"bytes are not strings"),
        ("modalities", "text"),
        ("modalities", {"text"}),
        ("tools.0.parameters", "{}"),
        ("tracing.metadata", ["a"]),
    ],
)
def test_a_value_of_the_wrong_json_type_is_rejected(codec: BetaSessionCodec, path: str, value: Any) -> None:
    assert rejected_fields(codec, with_field(path, value)) == [path]


@pytest.mark.parametrize(("path", "value"), [("temperature", 1), ("speed", 1), ("turn_detection.threshold", 0)])
def test_an_int_is_a_valid_number_and_stays_an_int(codec: BetaSessionCodec, path: str, value: int) -> None:
    encoded = codec.encode(with_field(path, value))
    assert with_field(path, value) == encoded
    node: Any = encoded
    for part in path.split("."):
        node = node[part]
    assert type(node) is int


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_nan_and_infinities_are_rejected(codec: BetaSessionCodec, value: float) -> None:
    assert rejected_fields(codec, {"temperature": value}) == ["temperature"]


def test_json_objects_must_hold_only_json(codec: BetaSessionCodec) -> None:
    parameters = {"type": "object", "properties": {"when": {"default": math.nan}}}
    with pytest.raises(RequestValidationError) as info:
        codec.encode({"tools": [{"name": "f", "parameters": parameters}]})
    assert info.value.fields == ["tools.0.parameters"]
    assert "properties.when.default" in str(info.value)


def test_a_lone_surrogate_is_rejected_because_it_cannot_be_sent_as_utf8(codec: BetaSessionCodec) -> None:
    assert rejected_fields(codec, {"instructions": "bad \ud800 text"}) == ["instructions"]


# --- unknown fields --------------------------------------------------------------------------------------------


def test_an_unknown_top_level_field_is_rejected_by_name(codec: BetaSessionCodec) -> None:
    with pytest.raises(RequestValidationError) as info:
        codec.load_request({"voise": "alloy"})
    assert info.value.messages == {"voise": ["Unknown field."]}


def test_a_key_named_extra_in_a_mapping_is_just_an_unknown_field(codec: BetaSessionCodec) -> None:
    assert rejected_fields(codec, {"extra": {"new_field": 1}}) == ["extra"]


@pytest.mark.parametrize(
    "path",
    [
        "turn_detection.idle_timeout_ms",
        "input_audio_transcription.delay",
        "input_audio_noise_reduction.strength",
        "tools.0.strict",
        "tracing.sample_rate",
        "client_secret.expires_at",
        "client_secret.expires_after.minutes",
    ],
)
def test_an_unknown_nested_field_is_rejected_with_its_dotted_path(codec: BetaSessionCodec, path: str) -> None:
    assert rejected_fields(codec, with_field(path, 1)) == [path]


def test_each_bad_field_is_reported_at_once(codec: BetaSessionCodec) -> None:
    body = {"voise": "x", "temperature": 9, "tools": [{"name": "ok"}, {"name": 5}]}
    assert rejected_fields(codec, body) == ["temperature", "tools.1.name", "voise"]


# --- not given versus null -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field", ["input_audio_transcription", "turn_detection", "input_audio_noise_reduction", "tracing"]
)
def test_none_on_a_nullable_field_is_sent_as_null(codec: BetaSessionCodec, field: str) -> None:
    nulls: dict[str, Any] = {field: None}
    assert codec.encode(RealtimeSessionCreateRequest(**nulls)) == {field: None}
    assert codec.encode({field: None}) == {field: None}


def test_fields_not_given_are_left_out_of_the_body(codec: BetaSessionCodec) -> None:
    assert codec.encode(RealtimeSessionCreateRequest(voice="alloy", turn_detection=TurnDetection())) == {
        "voice": "alloy",
        "turn_detection": {},
    }


def test_a_loaded_null_stays_none_and_an_absent_key_stays_not_given(codec: BetaSessionCodec) -> None:
    request = codec.load_request({"turn_detection": None})
    assert request.turn_detection is None
    assert request.input_audio_transcription is NOT_GIVEN


@pytest.mark.parametrize(
    "path",
    ["model", "voice", "modalities", "temperature", "tools", "client_secret", "turn_detection.threshold", "tools.0"],
)
def test_null_on_a_field_that_cannot_be_null_is_rejected(codec: BetaSessionCodec, path: str) -> None:
    assert rejected_fields(codec, with_field(path, None)) == [path]


# --- extra -----------------------------------------------------------------------------------------------------


def test_extra_fields_are_merged_into_the_body_unvalidated(codec: BetaSessionCodec) -> None:
    extra = {"truncation": {"type": "retention_ratio", "retention_ratio": 7}, "prompt": None, "new_flag": True}
    body = codec.encode(RealtimeSessionCreateRequest(voice="alloy", extra=extra))
    assert body == {"voice": "alloy", **extra}


def test_extra_values_are_copied_not_shared(codec: BetaSessionCodec) -> None:
    extra = {"truncation": {"type": "auto"}}
    codec.encode(RealtimeSessionCreateRequest(extra=extra))["truncation"]["type"] = "changed"
    assert extra == {"truncation": {"type": "auto"}}


@pytest.mark.parametrize("key", ["voice", "turn_detection", "client_secret"])
def test_an_extra_key_that_collides_with_a_known_field_is_rejected(codec: BetaSessionCodec, key: str) -> None:
    assert rejected_fields(codec, RealtimeSessionCreateRequest(extra={key: "x"})) == [f"extra.{key}"]


@pytest.mark.parametrize("value", [{1, 2}, math.nan, {"k": object()}, {3: "non-string key"}])
def test_an_extra_value_that_is_not_json_is_rejected(codec: BetaSessionCodec, value: Any) -> None:
    assert rejected_fields(codec, RealtimeSessionCreateRequest(extra={"new": value})) == ["extra.new"]


def test_a_not_given_extra_value_is_left_out(codec: BetaSessionCodec) -> None:
    assert codec.encode(RealtimeSessionCreateRequest(extra={"new": NOT_GIVEN})) == {}


# --- dataclasses are validated too -----------------------------------------------------------------------------


def test_a_dataclass_with_an_out_of_range_threshold_is_rejected(codec: BetaSessionCodec) -> None:
    request = RealtimeSessionCreateRequest(turn_detection=TurnDetection(threshold=2.0))
    assert rejected_fields(codec, request) == ["turn_detection.threshold"]


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (RealtimeSessionCreateRequest(instructions=5), "instructions"),  # type: ignore[arg-type]
        (RealtimeSessionCreateRequest(temperature="0.8"), "temperature"),  # type: ignore[arg-type]
        (RealtimeSessionCreateRequest(modalities="text"), "modalities"),  # type: ignore[arg-type]
        (RealtimeSessionCreateRequest(turn_detection=NoiseReduction(type="near_field")), "turn_detection"),  # type: ignore[arg-type]
        (RealtimeSessionCreateRequest(turn_detection=5), "turn_detection"),  # type: ignore[arg-type]
        (RealtimeSessionCreateRequest(tools=[FunctionTool(name=5)]), "tools.0.name"),  # type: ignore[arg-type]
        (RealtimeSessionCreateRequest(tools=["f"]), "tools.0"),  # type: ignore[list-item]
        (RealtimeSessionCreateRequest(tracing="on"), "tracing"),  # type: ignore[arg-type]
        (
            RealtimeSessionCreateRequest(client_secret=ClientSecretConfig(ExpiresAfter(seconds=5))),
            "client_secret.expires_after.seconds",
        ),
        (RealtimeSessionCreateRequest(extra=[("k", 1)]), "extra"),  # type: ignore[arg-type]
    ],
)
def test_a_dataclass_holding_a_wrong_value_is_rejected_without_coercion(
    codec: BetaSessionCodec, request_: RealtimeSessionCreateRequest, field: str
) -> None:
    assert rejected_fields(codec, request_) == [field]


def test_a_mapping_where_a_nested_dataclass_belongs_is_validated_like_json(codec: BetaSessionCodec) -> None:
    request = RealtimeSessionCreateRequest(turn_detection={"type": "server_vad"})  # type: ignore[arg-type]
    assert codec.encode(request) == {"turn_detection": {"type": "server_vad"}}
    bad = RealtimeSessionCreateRequest(turn_detection={"type": "x"})  # type: ignore[arg-type]
    assert rejected_fields(codec, bad) == ["turn_detection.type"]


def test_to_dict_on_an_invalid_request_raises_the_validation_error() -> None:
    with pytest.raises(RequestValidationError):
        RealtimeSessionCreateRequest(speed=3.0).to_dict()


# --- only RequestValidationError escapes -----------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, [], ["model"], "model", 5, b"{}", object()])
def test_a_body_that_is_not_a_mapping_raises_a_validation_error(codec: BetaSessionCodec, value: Any) -> None:
    with pytest.raises(RequestValidationError) as info:
        codec.encode(value)
    assert info.value.fields == ["_schema"]
    with pytest.raises(RequestValidationError):
        codec.load_request(value)


def test_a_self_referencing_list_raises_a_validation_error(codec: BetaSessionCodec) -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(RequestValidationError):
        codec.encode(RealtimeSessionCreateRequest(extra={"loop": loop}))
    with pytest.raises(RequestValidationError):
        codec.encode({"tools": [{"name": "f", "parameters": {"loop": loop}}]})


def test_a_mapping_that_fails_when_read_raises_a_validation_error(codec: BetaSessionCodec) -> None:
    class Broken(dict[str, Any]):
        def items(self) -> Any:
            raise RuntimeError("boom")

    with pytest.raises(RequestValidationError):
        codec.encode(RealtimeSessionCreateRequest(extra=Broken(a=1)))


# --- responses -------------------------------------------------------------------------------------------------


def test_the_spec_example_decodes_into_typed_settings(codec: BetaSessionCodec) -> None:
    response = codec.decode(SPEC_RESPONSE, request_id="req_1")
    assert response.client_secret == ClientSecret(SECRET, 1234567890)
    assert response.id == "sess_001"
    assert response.object == "realtime.session"
    assert response.modalities == ("audio", "text")
    assert response.input_audio_transcription == InputAudioTranscription(model="whisper-1")
    assert response.tools == ()
    assert response.max_response_output_tokens == 200
    assert response.request_id == "req_1"
    assert response.invalid_fields == ()


def test_an_echoed_null_reads_as_none_and_an_absent_setting_as_not_given(codec: BetaSessionCodec) -> None:
    response = codec.decode(SPEC_RESPONSE, request_id=None)
    assert response.turn_detection is None
    assert response.speed is NOT_GIVEN
    assert response.tracing is NOT_GIVEN


def test_unknown_response_fields_are_kept_at_every_level_by_to_dict(codec: BetaSessionCodec) -> None:
    body = copy.deepcopy(SPEC_RESPONSE)
    body["expires_at"] = 1234567999
    body["client_secret"]["kind"] = "ephemeral"
    body["turn_detection"] = {"type": "server_vad", "idle_timeout_ms": 6000, "x": {"y": [1, {"z": None}]}}
    body["tools"] = [{"type": "function", "name": "f", "strict": True}]
    body["tracing"] = {"workflow_name": "w", "sampling": {"rate": 0.5}}
    body["input_audio_transcription"]["delay"] = "low"
    body["audio"] = {"input": {"format": {"type": "audio/pcm", "rate": 24000}}}
    response = codec.decode(body, request_id="req_1")
    assert response.to_dict() == body
    assert response.turn_detection == TurnDetection(type="server_vad")


def test_to_dict_returns_a_fresh_copy_each_time(codec: BetaSessionCodec) -> None:
    response = codec.decode(SPEC_RESPONSE, request_id=None)
    first = response.to_dict()
    first["client_secret"]["value"] = "changed"
    first["modalities"].append("video")
    assert response.to_dict() == SPEC_RESPONSE


def test_changing_the_decoded_body_afterwards_does_not_change_the_response(codec: BetaSessionCodec) -> None:
    body = copy.deepcopy(SPEC_RESPONSE)
    response = codec.decode(body, request_id=None)
    body["input_audio_transcription"]["model"] = "changed"
    assert response.to_dict() == SPEC_RESPONSE


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        "ek_abc",
        42,
        {},
        {"client_secret": None},
        {"client_secret": SECRET},
        {"client_secret": {"value": SECRET}},
        {"client_secret": {"expires_at": 1}},
        {"client_secret": {"value": 5, "expires_at": 1}},
        {"client_secret": {"value": "", "expires_at": 1}},
        {"client_secret": {"value": SECRET, "expires_at": "1"}},
        {"client_secret": {"value": SECRET, "expires_at": True}},
        {"client_secret": {"value": SECRET, "expires_at": 1.5}},
        {"client_secret": {"value": SECRET, "expires_at": None}},
    ],
)
def test_a_body_without_a_valid_client_secret_raises_response_validation_error_with_the_request_id(
    codec: BetaSessionCodec, body: Any
) -> None:
    with pytest.raises(ResponseValidationError) as info:
        codec.decode(body, request_id="req_42")
    assert info.value.request_id == "req_42"
    assert "req_42" in str(info.value)
    assert SECRET not in str(info.value)
    assert SECRET not in repr(info.value)


def test_echoed_settings_of_the_wrong_type_do_not_fail_the_mint(codec: BetaSessionCodec) -> None:
    body = {
        **SPEC_RESPONSE,
        "temperature": "hot",
        "turn_detection": {"type": "server_vad", "threshold": "high"},
        "tools": [{"type": "mcp", "server_label": "x"}],
        "voice": {"id": "voice_123"},
    }
    response = codec.decode(body, request_id="req_1")
    assert response.client_secret.value == SECRET
    assert response.temperature is NOT_GIVEN
    assert response.turn_detection is NOT_GIVEN
    assert response.tools is NOT_GIVEN
    assert response.voice is NOT_GIVEN
    assert response.instructions == "You are a friendly assistant."
    assert response.invalid_fields == ("temperature", "tools.0.type", "turn_detection.threshold", "voice")
    assert response.to_dict() == body


def test_echoed_values_outside_request_ranges_and_enums_of_plain_strings_are_accepted(
    codec: BetaSessionCodec,
) -> None:
    body = {**SPEC_RESPONSE, "temperature": 2.0, "input_audio_format": "audio/pcm", "max_response_output_tokens": 10**6}
    response = codec.decode(body, request_id=None)
    assert (response.temperature, response.input_audio_format) == (2.0, "audio/pcm")
    assert response.max_response_output_tokens == 10**6
    assert response.invalid_fields == ()


def test_null_sub_fields_in_an_echo_read_as_not_given(codec: BetaSessionCodec) -> None:
    body = {**SPEC_RESPONSE, "input_audio_transcription": {"model": "gpt-4o-transcribe", "language": None}}
    response = codec.decode(body, request_id=None)
    assert response.input_audio_transcription == InputAudioTranscription(model="gpt-4o-transcribe")
    assert response.to_dict() == body


def test_a_response_built_by_hand_serialises_its_typed_attributes() -> None:
    response = RealtimeSessionCreateResponse(
        client_secret=ClientSecret(SECRET, 5), voice="alloy", turn_detection=None, request_id="req_1"
    )
    assert response.to_dict() == {
        "client_secret": {"value": SECRET, "expires_at": 5},
        "voice": "alloy",
        "turn_detection": None,
    }


# --- secrets stay out of reprs ---------------------------------------------------------------------------------


def test_the_client_secret_repr_and_str_show_only_the_redacted_value() -> None:
    secret = ClientSecret(SECRET, 1234567890)
    for text in (repr(secret), str(secret)):
        assert SECRET not in text
        assert "ek_...9e7a" in text
        assert "1234567890" in text


def test_the_response_repr_and_str_never_contain_the_secret(codec: BetaSessionCodec) -> None:
    response = codec.decode(SPEC_RESPONSE, request_id="req_1")
    for text in (repr(response), str(response), f"{response}", repr([response])):
        assert SECRET not in text
    assert "sess_001" in repr(response)


# --- NOT_GIVEN -------------------------------------------------------------------------------------------------


def test_not_given_is_a_falsy_singleton_that_prints_its_name() -> None:
    assert NotGiven() is NOT_GIVEN
    assert not NOT_GIVEN
    assert repr(NOT_GIVEN) == "NOT_GIVEN"


def test_not_given_survives_copy_deepcopy_and_pickle_as_itself() -> None:
    assert copy.copy(NOT_GIVEN) is NOT_GIVEN
    assert copy.deepcopy(NOT_GIVEN) is NOT_GIVEN
    assert pickle.loads(pickle.dumps(NOT_GIVEN)) is NOT_GIVEN  # noqa: S301 - our own data


# --- sharing ---------------------------------------------------------------------------------------------------


def test_one_codec_can_be_shared_by_many_threads(codec: BetaSessionCodec) -> None:
    failures: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(200):
                assert codec.encode(FULL_DATACLASS) == FULL_REQUEST
                assert codec.decode(SPEC_RESPONSE, request_id=None).to_dict() == SPEC_RESPONSE
        except BaseException as exc:  # reported below, from the main thread
            failures.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


# --- properties ------------------------------------------------------------------------------------------------


NESTED_KEYS = {
    "turn_detection": ["type", "eagerness", "threshold", "prefix_padding_ms", "create_response", "bogus"],
    "input_audio_transcription": ["model", "language", "prompt", "bogus"],
    "tracing": ["workflow_name", "group_id", "metadata", "bogus"],
    "client_secret": ["expires_after", "bogus"],
}


def near_valid(field: str) -> st.SearchStrategy[Any]:
    """A valid value, anything JSON-like, or an object mixing this field's known keys with random values."""
    options = [VALID_FIELDS[field], any_json]
    if field in NESTED_KEYS:
        options.append(st.dictionaries(st.sampled_from(NESTED_KEYS[field]), any_json | json_objects, max_size=4))
    if field == "tools":
        options.append(st.lists(st.dictionaries(st.sampled_from(["type", "name", "parameters", "x"]), any_json)))
    return st.one_of(options)


near_valid_requests = st.fixed_dictionaries(
    {}, optional={name: near_valid(name) for name in VALID_FIELDS}
) | st.dictionaries(st.sampled_from([*VALID_FIELDS, "extra", "voise"]) | short_text, any_json, max_size=6)

valid_secrets = st.fixed_dictionaries(
    {"value": short_text.filter(bool), "expires_at": st.integers()}, optional={"kind": any_json}
)
responses = st.fixed_dictionaries(
    {"client_secret": valid_secrets},
    optional={name: near_valid(name) for name in VALID_FIELDS if name != "client_secret"}
    | {"id": short_text, "object": short_text, "new_field": any_json},
)
any_bodies = any_json | responses | st.dictionaries(st.just("client_secret") | short_text, any_json, max_size=3)


@PROPERTY
@given(body=valid_requests)
def test_every_valid_request_encodes_to_itself_and_round_trips(codec: BetaSessionCodec, body: dict[str, Any]) -> None:
    assert codec.encode(body) == body
    request = codec.load_request(body)
    assert codec.encode(request) == body
    assert request.to_dict() == body


@PROPERTY
@given(body=near_valid_requests)
def test_any_json_like_mapping_either_encodes_or_raises_request_validation_error(
    codec: BetaSessionCodec, body: dict[str, Any]
) -> None:
    try:
        encoded = codec.encode(body)
    except RequestValidationError as exc:
        error = exc
    else:
        assert encoded == body
        return
    assert error.messages
    assert all(isinstance(path, str) and msgs for path, msgs in error.messages.items())


@PROPERTY
@given(body=near_valid_requests, extra=st.dictionaries(short_text, any_json, max_size=3))
def test_any_dataclass_built_from_loaded_parts_either_encodes_or_raises_request_validation_error(
    codec: BetaSessionCodec, body: dict[str, Any], extra: dict[str, Any]
) -> None:
    try:
        request = codec.load_request(body)
    except RequestValidationError:
        return
    try:
        encoded = codec.encode(RealtimeSessionCreateRequest(**{**_fields_of(request), "extra": extra}))
    except RequestValidationError as exc:
        error = exc
    else:
        assert encoded == {**body, **extra}
        return
    assert all(path.startswith("extra") for path in error.fields)


def _fields_of(request: RealtimeSessionCreateRequest) -> dict[str, Any]:
    return {name: getattr(request, name) for name in VALID_FIELDS}


@PROPERTY
@given(body=any_bodies)
def test_any_json_value_either_decodes_or_raises_response_validation_error(codec: BetaSessionCodec, body: Any) -> None:
    try:
        response = codec.decode(body, request_id="req_p")
    except ResponseValidationError as exc:
        error = exc
    else:
        assert response.to_dict() == body
        assert response.client_secret.value == body["client_secret"]["value"]
        return
    assert error.request_id == "req_p"


@PROPERTY
@given(body=near_valid_requests)
def test_whatever_the_fast_request_path_accepts_marshmallow_accepts_alike(body: dict[str, Any]) -> None:
    schema = RealtimeSessionCreateRequestSchema()
    fast = compile_loader(schema)(body)
    if fast is not FALLBACK:
        assert schema.load(body) == fast
        assert fast_dump(schema, fast) == schema.dump(fast)


@PROPERTY
@given(body=valid_requests)
def test_the_fast_request_path_accepts_every_valid_request(body: dict[str, Any]) -> None:
    assert compile_loader(RealtimeSessionCreateRequestSchema())(body) is not FALLBACK


@PROPERTY
@given(body=any_bodies)
def test_whatever_the_fast_response_path_accepts_marshmallow_accepts_alike(body: Any) -> None:
    schema = RealtimeSessionCreateResponseSchema()
    fast = compile_loader(schema)(body)
    if fast is not FALLBACK:
        assert schema.load(body) == fast
