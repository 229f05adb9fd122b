"""The beta ``POST /realtime/transcription_sessions`` codec (NOTES.md section 2)."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from realtime_service.beta.models import (
    NOT_GIVEN,
    ClientSecret,
    ExpiresAfter,
    InputAudioTranscription,
    NoiseReduction,
    RealtimeTranscriptionSessionCreateRequest,
    TranscriptionClientSecretConfig,
    TurnDetection,
)
from realtime_service.beta.schemas import TranscriptionSessionCodec
from realtime_service.errors import RequestValidationError, ResponseValidationError

SECRET = "ek_68a1f0c2d9e84b7aa55e0c3b1f2d9e7a"
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

FULL_REQUEST: dict[str, Any] = {
    "modalities": ["text", "audio"],
    "input_audio_format": "g711_alaw",
    "input_audio_transcription": {"model": "gpt-4o-mini-transcribe", "language": "en", "prompt": "tech words"},
    "turn_detection": {
        "type": "semantic_vad",
        "eagerness": "low",
        "threshold": 0.4,
        "prefix_padding_ms": 200,
        "silence_duration_ms": 400,
        "create_response": False,
        "interrupt_response": False,
    },
    "input_audio_noise_reduction": {"type": "far_field"},
    "include": ["item.input_audio_transcription.logprobs"],
    "client_secret": {"expires_at": {"anchor": "created_at", "seconds": 600}},
}

FULL_DATACLASS = RealtimeTranscriptionSessionCreateRequest(
    modalities=["text", "audio"],
    input_audio_format="g711_alaw",
    input_audio_transcription=InputAudioTranscription(
        model="gpt-4o-mini-transcribe", language="en", prompt="tech words"
    ),
    turn_detection=TurnDetection(
        type="semantic_vad",
        eagerness="low",
        threshold=0.4,
        prefix_padding_ms=200,
        silence_duration_ms=400,
        create_response=False,
        interrupt_response=False,
    ),
    input_audio_noise_reduction=NoiseReduction(type="far_field"),
    include=["item.input_audio_transcription.logprobs"],
    client_secret=TranscriptionClientSecretConfig(ExpiresAfter(seconds=600)),
)

#: The spec's example answer, with a secret where the example has ``"client_secret": null``.
RESPONSE: dict[str, Any] = {
    "id": "sess_BBwZc7cFV3XizEyKGDCGL",
    "object": "realtime.transcription_session",
    "expires_at": 1742188264,
    "modalities": ["audio", "text"],
    "turn_detection": {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 200},
    "input_audio_format": "pcm16",
    "input_audio_transcription": {"model": "gpt-4o-transcribe", "language": None, "prompt": ""},
    "client_secret": {"value": SECRET, "expires_at": 1742188264},
}


@pytest.fixture(scope="module")
def codec() -> TranscriptionSessionCodec:
    return TranscriptionSessionCodec()


def with_field(path: str, value: Any) -> dict[str, Any]:
    body = copy.deepcopy(FULL_REQUEST)
    *parents, last = path.split(".")
    node: Any = body
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return body


def rejected_fields(codec: TranscriptionSessionCodec, request: Any) -> list[str]:
    with pytest.raises(RequestValidationError) as info:
        codec.encode(request)
    return info.value.fields


# --- requests --------------------------------------------------------------------------------------------------


def test_a_request_with_every_field_round_trips(codec: TranscriptionSessionCodec) -> None:
    assert codec.encode(FULL_REQUEST) == FULL_REQUEST
    assert codec.encode(codec.load_request(FULL_REQUEST)) == FULL_REQUEST


def test_a_dataclass_request_encodes_to_the_same_body(codec: TranscriptionSessionCodec) -> None:
    assert codec.encode(FULL_DATACLASS) == FULL_REQUEST
    assert FULL_DATACLASS.to_dict() == FULL_REQUEST


def test_the_spec_example_request_is_empty(codec: TranscriptionSessionCodec) -> None:
    assert codec.encode({}) == {}
    assert codec.encode(RealtimeTranscriptionSessionCreateRequest()) == {}


def test_the_client_secret_key_is_expires_at_here_not_expires_after(codec: TranscriptionSessionCodec) -> None:
    body = {"client_secret": {"expires_after": {"anchor": "created_at", "seconds": 600}}}
    assert rejected_fields(codec, body) == ["client_secret.expires_after", "client_secret.expires_at"]


def test_the_anchor_may_be_left_out(codec: TranscriptionSessionCodec) -> None:
    body = {"client_secret": {"expires_at": {"seconds": 60}}}
    loaded = codec.load_request(body)
    assert loaded.client_secret == TranscriptionClientSecretConfig(ExpiresAfter(anchor=NOT_GIVEN, seconds=60))
    assert codec.encode(loaded) == body


@pytest.mark.parametrize("model", ["gpt-4o-transcribe", "gpt-4o-mini-transcribe", "whisper-1"])
def test_each_transcription_model_of_the_list_is_accepted(codec: TranscriptionSessionCodec, model: str) -> None:
    body = {"input_audio_transcription": {"model": model}}
    assert codec.encode(body) == body


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("input_audio_transcription.model", "gpt-transcribe"),
        ("input_audio_format", "audio/pcm"),
        ("modalities.0", "video"),
        ("turn_detection.type", "vad"),
        ("turn_detection.eagerness", "max"),
        ("input_audio_noise_reduction.type", "mid_field"),
        ("client_secret.expires_at.anchor", "now"),
    ],
)
def test_a_value_outside_a_closed_enum_is_rejected_naming_the_field(
    codec: TranscriptionSessionCodec, path: str, value: Any
) -> None:
    assert rejected_fields(codec, with_field(path, value)) == [path]


def test_include_is_an_open_list_of_strings(codec: TranscriptionSessionCodec) -> None:
    body = {"include": ["item.input_audio_transcription.logprobs", "item.something_new"]}
    assert codec.encode(body) == body
    assert rejected_fields(codec, {"include": [5]}) == ["include.0"]


@pytest.mark.parametrize(
    ("path", "value", "ok"),
    [
        ("turn_detection.threshold", 0, True),
        ("turn_detection.threshold", 1, True),
        ("turn_detection.threshold", -0.01, False),
        ("turn_detection.threshold", 1.01, False),
        ("client_secret.expires_at.seconds", 10, True),
        ("client_secret.expires_at.seconds", 7200, True),
        ("client_secret.expires_at.seconds", 9, False),
        ("client_secret.expires_at.seconds", 7201, False),
        ("client_secret.expires_at.seconds", 600.0, False),
        ("turn_detection.prefix_padding_ms", "300", False),
        ("turn_detection.create_response", 0, False),
        ("turn_detection.threshold", math.nan, False),
    ],
)
def test_ranges_and_types_are_the_spec_s(codec: TranscriptionSessionCodec, path: str, value: Any, ok: bool) -> None:
    body = with_field(path, value)
    if ok:
        assert codec.encode(body) == body
    else:
        assert rejected_fields(codec, body) == [path]


@pytest.mark.parametrize("field", ["turn_detection", "input_audio_noise_reduction"])
def test_turn_detection_and_noise_reduction_can_be_turned_off_with_null(
    codec: TranscriptionSessionCodec, field: str
) -> None:
    body: dict[str, Any] = {field: None}
    assert codec.encode(body) == body
    assert codec.encode(RealtimeTranscriptionSessionCreateRequest(**body)) == body


@pytest.mark.parametrize("field", ["input_audio_transcription", "modalities", "client_secret", "include"])
def test_null_on_a_field_that_cannot_be_null_is_rejected(codec: TranscriptionSessionCodec, field: str) -> None:
    assert rejected_fields(codec, {field: None}) == [field]


@pytest.mark.parametrize(
    "path",
    [
        "bogus",
        "input_audio_transcription.delay",
        "turn_detection.idle_timeout_ms",
        "input_audio_noise_reduction.strength",
        "client_secret.bogus",
        "client_secret.expires_at.minutes",
    ],
)
def test_an_unknown_field_is_rejected_with_its_dotted_path(codec: TranscriptionSessionCodec, path: str) -> None:
    assert rejected_fields(codec, with_field(path, 1)) == [path]


def test_extra_fields_are_merged_unvalidated_but_may_not_shadow_a_field(codec: TranscriptionSessionCodec) -> None:
    request = RealtimeTranscriptionSessionCreateRequest(input_audio_format="pcm16", extra={"new": [1]})
    assert codec.encode(request) == {"input_audio_format": "pcm16", "new": [1]}
    clash = RealtimeTranscriptionSessionCreateRequest(extra={"include": []})
    assert rejected_fields(codec, clash) == ["extra.include"]


@pytest.mark.parametrize("value", [None, [], "x", object()])
def test_a_body_that_is_not_a_mapping_raises_a_validation_error(codec: TranscriptionSessionCodec, value: Any) -> None:
    assert rejected_fields(codec, value) == ["_schema"]


# --- responses -------------------------------------------------------------------------------------------------


def test_an_answer_decodes_into_typed_settings(codec: TranscriptionSessionCodec) -> None:
    response = codec.decode(RESPONSE, request_id="req_1")
    assert response.client_secret == ClientSecret(SECRET, 1742188264)
    assert (response.id, response.object, response.expires_at) == (
        "sess_BBwZc7cFV3XizEyKGDCGL",
        "realtime.transcription_session",
        1742188264,
    )
    assert response.modalities == ("audio", "text")
    assert response.input_audio_format == "pcm16"
    assert response.input_audio_transcription == InputAudioTranscription(model="gpt-4o-transcribe", prompt="")
    assert response.turn_detection == TurnDetection(
        type="server_vad", threshold=0.5, prefix_padding_ms=300, silence_duration_ms=200
    )
    assert response.invalid_fields == ()
    assert response.to_dict() == RESPONSE


def test_the_spec_example_with_a_null_client_secret_raises(codec: TranscriptionSessionCodec) -> None:
    with pytest.raises(ResponseValidationError) as info:
        codec.decode({**RESPONSE, "client_secret": None}, request_id="req_9")
    assert info.value.request_id == "req_9"
    assert "client_secret" in str(info.value)


@pytest.mark.parametrize(
    "secret",
    [{"value": SECRET}, {"expires_at": 1}, {"value": "", "expires_at": 1}, {"value": SECRET, "expires_at": "1"}],
)
def test_an_incomplete_client_secret_raises_without_quoting_it(codec: TranscriptionSessionCodec, secret: Any) -> None:
    with pytest.raises(ResponseValidationError) as info:
        codec.decode({**RESPONSE, "client_secret": secret}, request_id="req_9")
    assert SECRET not in str(info.value)


def test_an_echoed_model_outside_the_request_list_is_read(codec: TranscriptionSessionCodec) -> None:
    body = {**RESPONSE, "input_audio_transcription": {"model": "gpt-transcribe"}}
    response = codec.decode(body, request_id=None)
    assert response.input_audio_transcription == InputAudioTranscription(model="gpt-transcribe")


def test_unknown_and_misfit_fields_are_kept_in_to_dict(codec: TranscriptionSessionCodec) -> None:
    body = copy.deepcopy(RESPONSE)
    body["include"] = ["x"]
    body["turn_detection"]["threshold"] = "high"
    body["client_secret"]["kind"] = "ephemeral"
    response = codec.decode(body, request_id=None)
    assert response.invalid_fields == ("turn_detection.threshold",)
    assert response.turn_detection is NOT_GIVEN
    assert response.to_dict() == body


def test_the_response_repr_never_contains_the_secret(codec: TranscriptionSessionCodec) -> None:
    response = codec.decode(RESPONSE, request_id="req_1")
    assert SECRET not in repr(response)
    assert SECRET not in str(response)


# --- properties ------------------------------------------------------------------------------------------------

text = st.text(max_size=12)
any_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)


def optional_keys(**strategies: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional=strategies)


valid_requests = optional_keys(
    modalities=st.lists(st.sampled_from(["text", "audio"]), max_size=2),
    input_audio_format=st.sampled_from(["pcm16", "g711_ulaw", "g711_alaw"]),
    input_audio_transcription=optional_keys(
        model=st.sampled_from(["gpt-4o-transcribe", "gpt-4o-mini-transcribe", "whisper-1"]), language=text, prompt=text
    ),
    turn_detection=st.none()
    | optional_keys(
        type=st.sampled_from(["server_vad", "semantic_vad"]),
        eagerness=st.sampled_from(["low", "medium", "high", "auto"]),
        threshold=st.floats(0, 1),
        prefix_padding_ms=st.integers(),
        silence_duration_ms=st.integers(),
        create_response=st.booleans(),
        interrupt_response=st.booleans(),
    ),
    input_audio_noise_reduction=st.none() | optional_keys(type=st.sampled_from(["near_field", "far_field"])),
    include=st.lists(text, max_size=2),
    client_secret=st.fixed_dictionaries(
        {"expires_at": optional_keys(anchor=st.just("created_at"), seconds=st.integers(10, 7200))}
    ),
)
any_requests = st.dictionaries(st.sampled_from(list(FULL_REQUEST)) | text, any_json, max_size=4)
any_responses = any_json | st.fixed_dictionaries(
    {"client_secret": any_json | st.fixed_dictionaries({"value": text, "expires_at": st.integers()})},
    optional={key: any_json for key in RESPONSE if key != "client_secret"},
)


@PROPERTY
@given(body=valid_requests)
def test_every_valid_request_round_trips(codec: TranscriptionSessionCodec, body: dict[str, Any]) -> None:
    assert codec.encode(body) == body
    assert codec.encode(codec.load_request(body)) == body


@PROPERTY
@given(body=any_requests)
def test_any_mapping_either_encodes_or_raises_request_validation_error(
    codec: TranscriptionSessionCodec, body: dict[str, Any]
) -> None:
    try:
        encoded = codec.encode(body)
    except RequestValidationError as exc:
        error = exc
    else:
        assert encoded == body
        return
    assert error.messages


@PROPERTY
@given(body=any_responses)
def test_any_json_value_either_decodes_or_raises_response_validation_error(
    codec: TranscriptionSessionCodec, body: Any
) -> None:
    try:
        response = codec.decode(body, request_id="req_p")
    except ResponseValidationError as exc:
        error = exc
    else:
        assert response.to_dict() == body
        assert response.client_secret.value == body["client_secret"]["value"]
        return
    assert error.request_id == "req_p"
