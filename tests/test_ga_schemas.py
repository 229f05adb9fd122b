"""The GA codecs (``/realtime/client_secrets`` and ``/realtime/translations/client_secrets``): what validates
round-trips, what does not raises our validation error and nothing else, and what we send is what the published
OpenAPI document allows."""

from __future__ import annotations

import copy
import math
import threading
from collections.abc import Iterator
from typing import Any

import marshmallow
import pytest
from ga_samples import (
    FULL_DATACLASS,
    FULL_REQUEST,
    FULL_SESSION,
    FULL_TRANSCRIPTION_REQUEST,
    HEADER_SECRET,
    LOGPROBS,
    MCP_TOKEN,
    SPEC_CLOSED,
    TUNNEL,
    UNKNOWN_NESTED,
    any_json,
    build_spec_validators,
    spec_errors,
    valid_requests,
    with_field,
)
from ga_samples import text as short_text
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from realtime_service.beta.models import NOT_GIVEN, ExpiresAfter, FunctionTool, NoiseReduction
from realtime_service.errors import RequestValidationError, ResponseValidationError
from realtime_service.ga._generated import plans
from realtime_service.ga.codecs import _GACodec
from realtime_service.ga.models import (
    CONNECTORS,
    AudioInput,
    AudioOutput,
    AudioPCM,
    AudioPCMA,
    AudioTranscription,
    ClientSecretCreateRequest,
    ClientSecretCreateResponse,
    CustomVoice,
    MCPTool,
    Prompt,
    ReadOnlyJson,
    RealtimeAudioConfig,
    RealtimeSessionConfig,
    RealtimeSessionResponse,
    RetentionRatioTruncation,
    SemanticVad,
    ServerVad,
    ToolChoiceFunction,
    ToolChoiceMCP,
    TranscriptionAudioConfig,
    TranscriptionSessionConfig,
    TranscriptionSessionResponse,
    TranslationAudioConfig,
    TranslationAudioInput,
    TranslationAudioOutput,
    TranslationClientSecretCreateRequest,
    TranslationSessionConfig,
    TranslationSessionResponse,
    TranslationTranscription,
)
from realtime_service.ga.schemas import (
    ClientSecretCodec,
    ClientSecretCreateRequestSchema,
    ClientSecretCreateResponseSchema,
    TranslationClientSecretCreateRequestSchema,
    TranslationClientSecretCreateResponseSchema,
    TranslationCodec,
)
from realtime_service.wire.fastpath import FALLBACK, compile_loader, fast_dump
from realtime_service.wire.fields import IntegerOrInf, JsonBoolean, JsonInteger, JsonNumber, JsonObject, JsonString
from realtime_service.wire.plans import compile_plan_dumper, compile_plan_loader, leaf_loader

SECRET = "ek_68af296e8e408191a1120ab6383263c2"
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: The spec's example answer (``RealtimeCreateClientSecretResponse``'s, which parses; the path's has a trailing comma).
SPEC_RESPONSE: dict[str, Any] = {
    "value": SECRET,
    "expires_at": 1756310470,
    "session": {
        "type": "realtime",
        "object": "realtime.session",
        "id": "sess_C9CiUVUzUzYIssh3ELY1d",
        "model": "gpt-realtime-2025-08-25",
        "output_modalities": ["audio"],
        "instructions": "You are a friendly assistant.",
        "tools": [],
        "tool_choice": "auto",
        "max_output_tokens": "inf",
        "tracing": None,
        "truncation": "auto",
        "prompt": None,
        "expires_at": 0,
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": 24000},
                "transcription": None,
                "noise_reduction": None,
                "turn_detection": {
                    "type": "server_vad",
                    "threshold": 0.5,
                    "prefix_padding_ms": 300,
                    "silence_duration_ms": 200,
                    "idle_timeout_ms": None,
                    "create_response": True,
                    "interrupt_response": True,
                },
            },
            "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "alloy", "speed": 1.0},
        },
        "include": None,
    },
}

TRANSCRIPTION_RESPONSE: dict[str, Any] = {
    "value": SECRET,
    "expires_at": 1742188264,
    "session": {
        "id": "sess_BBwZc7cFV3XizEyKGDCGL",
        "type": "transcription",
        "object": "realtime.transcription_session",
        "expires_at": 1742188264,
        "include": [LOGPROBS],
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": 24000},
                "transcription": {"model": "gpt-4o-transcribe", "language": None, "prompt": ""},
                "noise_reduction": None,
                "turn_detection": {
                    "type": "server_vad",
                    "threshold": 0.5,
                    "prefix_padding_ms": 300,
                    "silence_duration_ms": 200,
                },
            }
        },
    },
}


@pytest.fixture(scope="module")
def codec() -> ClientSecretCodec:
    return ClientSecretCodec()


@pytest.fixture(scope="module")
def translation() -> TranslationCodec:
    return TranslationCodec()


def without_field(path: str, base: dict[str, Any] | None = None) -> dict[str, Any]:
    body = copy.deepcopy(FULL_REQUEST if base is None else base)
    *parents, last = path.split(".")
    node: Any = body
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    del node[last]
    return body


def rejected_fields(codec: Any, request: Any) -> list[str]:
    with pytest.raises(RequestValidationError) as info:
        codec.encode(request)
    return info.value.fields


def session_with(**fields: Any) -> dict[str, Any]:
    return {"session": {"type": "realtime", **fields}}


# --- round trips -----------------------------------------------------------------------------------------------


def test_a_request_with_every_field_round_trips_through_load_and_encode(codec: ClientSecretCodec) -> None:
    assert codec.encode(codec.load_request(FULL_REQUEST)) == FULL_REQUEST


def test_encoding_a_mapping_returns_the_same_body(codec: ClientSecretCodec) -> None:
    assert codec.encode(FULL_REQUEST) == FULL_REQUEST


def test_a_dataclass_request_encodes_to_the_same_body_as_its_mapping(codec: ClientSecretCodec) -> None:
    assert codec.encode(FULL_DATACLASS) == FULL_REQUEST
    assert FULL_DATACLASS.to_dict() == FULL_REQUEST


def test_loading_builds_the_same_dataclasses_as_building_by_hand(codec: ClientSecretCodec) -> None:
    loaded = codec.load_request(FULL_REQUEST)
    assert codec.encode(loaded) == codec.encode(FULL_DATACLASS)
    assert isinstance(loaded.session, RealtimeSessionConfig)
    assert isinstance(loaded.session.tools, tuple)
    assert [type(tool) for tool in loaded.session.tools] == [FunctionTool, MCPTool, MCPTool, MCPTool]
    assert loaded.session.tool_choice == ToolChoiceMCP(server_label="docs", name="search")
    assert loaded.session.truncation == FULL_DATACLASS.session.truncation  # type: ignore[union-attr]


def test_a_transcription_session_round_trips(codec: ClientSecretCodec) -> None:
    loaded = codec.load_request(FULL_TRANSCRIPTION_REQUEST)
    assert isinstance(loaded.session, TranscriptionSessionConfig)
    assert loaded.expires_after == ExpiresAfter(anchor=NOT_GIVEN, seconds=120)
    assert codec.encode(loaded) == FULL_TRANSCRIPTION_REQUEST
    by_hand = ClientSecretCreateRequest(
        expires_after=ExpiresAfter(anchor=NOT_GIVEN, seconds=120),
        session=TranscriptionSessionConfig(
            audio=TranscriptionAudioConfig(
                input=AudioInput(
                    format=AudioPCMA(),
                    transcription=AudioTranscription(model="gpt-realtime-whisper", delay="minimal"),
                    noise_reduction=None,
                    turn_detection=SemanticVad(eagerness="high", create_response=False),
                )
            ),
            include=[LOGPROBS],
        ),
    )
    assert codec.encode(by_hand) == FULL_TRANSCRIPTION_REQUEST


@pytest.mark.parametrize("key", [key for key in FULL_SESSION if key != "type"])
def test_each_session_field_alone_round_trips(codec: ClientSecretCodec, key: str) -> None:
    body = session_with(**{key: copy.deepcopy(FULL_SESSION[key])})
    assert codec.encode(codec.load_request(body)) == body


def test_the_spec_example_request_encodes_unchanged(codec: ClientSecretCodec) -> None:
    body = {
        "expires_after": {"anchor": "created_at", "seconds": 600},
        "session": {"type": "realtime", "model": "gpt-realtime", "instructions": "You are a friendly assistant."},
    }
    assert codec.encode(body) == body


def test_an_empty_request_encodes_to_an_empty_body(codec: ClientSecretCodec) -> None:
    assert codec.encode(ClientSecretCreateRequest()) == {}
    assert codec.encode({}) == {}


def test_dataclasses_built_by_hand_send_their_type_tags(codec: ClientSecretCodec) -> None:
    request = ClientSecretCreateRequest(
        session=RealtimeSessionConfig(
            audio=RealtimeAudioConfig(input=AudioInput(format=AudioPCM(), turn_detection=SemanticVad())),
            tools=[FunctionTool(name="f"), MCPTool(server_label="s")],
            tool_choice=ToolChoiceFunction(name="f"),
        )
    )
    assert codec.encode(request) == session_with(
        audio={"input": {"format": {"type": "audio/pcm"}, "turn_detection": {"type": "semantic_vad"}}},
        tools=[{"type": "function", "name": "f"}, {"type": "mcp", "server_label": "s"}],
        tool_choice={"type": "function", "name": "f"},
    )


@pytest.mark.parametrize("fmt", [{}, {"rate": 24000}, {"type": "audio/pcm"}])
def test_a_format_without_type_is_pcm_and_encodes_as_loaded(codec: ClientSecretCodec, fmt: dict[str, Any]) -> None:
    body = session_with(audio={"output": {"format": fmt}})
    loaded = codec.load_request(body)
    assert isinstance(loaded.session.audio.output.format, AudioPCM)  # type: ignore[union-attr]
    assert codec.encode(loaded) == body


def test_a_loaded_tool_without_type_is_a_function_tool_and_encodes_without_type(codec: ClientSecretCodec) -> None:
    body = session_with(tools=[{"name": "f"}])
    loaded = codec.load_request(body)
    assert loaded.session.tools == (FunctionTool(type=NOT_GIVEN, name="f"),)  # type: ignore[union-attr]
    assert codec.encode(loaded) == body


def test_the_encoded_body_shares_no_mutable_object_with_the_input(codec: ClientSecretCodec) -> None:
    body = codec.encode(FULL_REQUEST)
    body["session"]["tools"][0]["parameters"]["type"] = "changed"
    body["session"]["tools"][1]["headers"]["X-Api-Key"] = "changed"
    body["session"]["prompt"]["variables"]["city"] = "changed"
    assert FULL_REQUEST["session"]["tools"][0]["parameters"]["type"] == "object"
    assert FULL_REQUEST["session"]["tools"][1]["headers"]["X-Api-Key"] == HEADER_SECRET
    assert FULL_REQUEST["session"]["prompt"]["variables"]["city"] == "Paris"


# --- enums, open strings, ranges -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("session.output_modalities.0", "video"),
        ("session.audio.input.format.type", "audio/mp3"),
        ("session.audio.input.format.rate", 16000),
        ("session.audio.input.transcription.delay", "slow"),
        ("session.audio.input.noise_reduction.type", "mid_field"),
        ("session.audio.input.turn_detection.type", "vad"),
        ("session.include.0", "item.logprobs"),
        ("session.tools.0.type", "web_search"),
        ("session.tools.2.connector_id", "connector_slack"),
        ("session.tools.1.allowed_callers.0", "anyone"),
        ("session.tools.2.require_approval", "sometimes"),
        ("session.tool_choice.type", "file_search"),
        ("session.truncation.type", "sliding"),
        ("session.reasoning.effort", "max"),
        ("session.prompt.variables.logo.detail", "ultra"),
        ("session.prompt.variables.brief.detail", "original"),
        ("session.prompt.variables.greeting.prompt_cache_breakpoint.mode", "implicit"),
        ("expires_after.anchor", "now"),
    ],
)
def test_a_value_outside_a_closed_enum_is_rejected_naming_the_field(
    codec: ClientSecretCodec, path: str, value: Any
) -> None:
    assert rejected_fields(codec, with_field(path, value)) == [path]


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("session.tool_choice", "sometimes", "session.tool_choice"),
        ("session.truncation", "sometimes", "session.truncation"),
        ("session.tracing", "manual", "session.tracing"),
        ("session.output_modalities", ["text", "audio"], "session.output_modalities"),
    ],
)
def test_a_string_outside_a_union_s_modes_is_rejected(
    codec: ClientSecretCodec, path: str, value: Any, field: str
) -> None:
    assert rejected_fields(codec, with_field(path, value)) == [field]


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("session.model", "gpt-realtime-2099-01-01"),
        ("session.audio.output.voice", "my-custom-voice"),
        ("session.audio.input.transcription.model", "gpt-transcribe-2099"),
    ],
)
def test_model_voice_and_transcription_model_accept_any_string(codec: ClientSecretCodec, path: str, value: str) -> None:
    body = with_field(path, value)
    assert codec.encode(body) == body


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("session.audio.output.speed", 0.25),
        ("session.audio.output.speed", 1.5),
        ("session.audio.input.turn_detection.threshold", 0),
        ("session.audio.input.turn_detection.threshold", 1.0),
        ("session.audio.input.turn_detection.idle_timeout_ms", 5000),
        ("session.audio.input.turn_detection.idle_timeout_ms", 30000),
        ("session.audio.input.turn_detection.idle_timeout_ms", None),
        ("session.max_output_tokens", 1),
        ("session.max_output_tokens", "inf"),
        ("session.truncation.retention_ratio", 0),
        ("session.truncation.retention_ratio", 1),
        ("session.truncation.token_limits.post_instructions", 0),
        ("session.output_modalities", ["text"]),
        ("session.output_modalities", []),
        ("session.audio.input.transcription.languages", ["en"]),
        ("expires_after.seconds", 10),
        ("expires_after.seconds", 7200),
    ],
)
def test_a_value_at_the_edge_of_its_range_is_accepted(codec: ClientSecretCodec, path: str, value: Any) -> None:
    body = with_field(path, value)
    assert codec.encode(body) == body


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("session.audio.output.speed", 0.24),
        ("session.audio.output.speed", 1.51),
        ("session.audio.input.turn_detection.threshold", -0.01),
        ("session.audio.input.turn_detection.threshold", 1.01),
        ("session.audio.input.turn_detection.idle_timeout_ms", 4999),
        ("session.audio.input.turn_detection.idle_timeout_ms", 30001),
        ("session.max_output_tokens", 0),
        ("session.max_output_tokens", 4097),
        ("session.truncation.retention_ratio", -0.01),
        ("session.truncation.retention_ratio", 1.01),
        ("session.truncation.token_limits.post_instructions", -1),
        ("session.audio.input.transcription.languages", []),
        ("session.tools.1.allowed_callers", []),
        ("expires_after.seconds", 9),
        ("expires_after.seconds", 7201),
    ],
)
def test_a_value_just_outside_its_range_is_rejected(codec: ClientSecretCodec, path: str, value: Any) -> None:
    assert rejected_fields(codec, with_field(path, value)) == [path]


@pytest.mark.parametrize(
    "tunnel_id", ["tunnel_" + "A1" * 16, "tunnel_" + "a" * 31, "tunnel_" + "a" * 33, TUNNEL + "\n", "tun_" + "a" * 32]
)
def test_a_tunnel_id_must_match_the_spec_pattern_exactly(codec: ClientSecretCodec, tunnel_id: str) -> None:
    assert rejected_fields(codec, with_field("session.tools.3.tunnel_id", tunnel_id)) == ["session.tools.3.tunnel_id"]


@pytest.mark.parametrize("connector", CONNECTORS)
def test_every_connector_of_the_spec_is_accepted(codec: ClientSecretCodec, connector: str) -> None:
    body = with_field("session.tools.2.connector_id", connector)
    assert codec.encode(body) == body


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("session.tools.1.server_url", "mcp.example.com/sse"),
        ("session.tools.1.server_url", "https://exa mple.com"),
        ("session.prompt.variables.logo.image_url", "logo.png"),
        ("session.prompt.variables.brief.file_url", ""),
    ],
)
def test_urls_must_be_absolute_uris(codec: ClientSecretCodec, path: str, value: str) -> None:
    assert rejected_fields(codec, with_field(path, value)) == [path]


# --- strict types ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("session.audio.output.speed", True),
        ("session.audio.output.speed", "1.0"),
        ("session.audio.output.speed", math.nan),
        ("session.audio.input.turn_detection.idle_timeout_ms", 6000.0),
        ("session.audio.input.turn_detection.create_response", 1),
        ("session.max_output_tokens", 5.0),
        ("session.max_output_tokens", "INF"),
        ("session.parallel_tool_calls", "true"),
        ("session.tools.1.defer_loading", 0),
        ("session.audio.input.transcription.languages", "en"),
        ("session.audio.input.transcription.keywords", ("a", {"b"})),
        ("session.tools.1.headers", ["X-Api-Key"]),
        ("session.tools.1.allowed_tools", "search"),
        ("session.tools.0.parameters", "{}"),
        ("session.instructions", b"bytes are not strings"),
        ("session.instructions", "bad \ud800 text"),
        ("expires_after.seconds", 600.0),
    ],
)
def test_a_value_of_the_wrong_json_type_is_rejected(codec: ClientSecretCodec, path: str, value: Any) -> None:
    fields = rejected_fields(codec, with_field(path, value))
    assert fields == [path] or (len(fields) == 1 and fields[0].startswith(path + "."))


def test_a_header_value_must_be_a_string_and_is_named_by_its_key(codec: ClientSecretCodec) -> None:
    body = with_field("session.tools.1.headers", {"x_ok": "a", "x_count": 5})
    assert rejected_fields(codec, body) == ["session.tools.1.headers.x_count"]
    # A key not shaped like a field name is the caller's own string (it could be a secret): named by its length.
    body = with_field("session.tools.1.headers", {"X-Ok": "a", "X-Count": 5})
    assert rejected_fields(codec, body) == ["session.tools.1.headers.<name of 7 characters>"]


def test_header_names_must_be_strings(codec: ClientSecretCodec) -> None:
    assert rejected_fields(codec, with_field("session.tools.1.headers", {5: "a"})) == ["session.tools.1.headers"]


def test_an_int_is_a_valid_number_and_stays_an_int(codec: ClientSecretCodec) -> None:
    encoded = codec.encode(with_field("session.audio.output.speed", 1))
    assert type(encoded["session"]["audio"]["output"]["speed"]) is int


# --- unions ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("none", "none"),
        ("auto", "auto"),
        ("required", "required"),
        ({"type": "function", "name": "get_weather"}, ToolChoiceFunction(name="get_weather")),
        ({"type": "mcp", "server_label": "docs"}, ToolChoiceMCP(server_label="docs")),
        ({"type": "mcp", "server_label": "docs", "name": None}, ToolChoiceMCP(server_label="docs", name=None)),
        ({"type": "mcp", "server_label": "docs", "name": "search"}, ToolChoiceMCP(server_label="docs", name="search")),
    ],
)
def test_tool_choice_is_a_mode_or_a_function_or_an_mcp_tool(
    codec: ClientSecretCodec, choice: Any, expected: Any
) -> None:
    body = session_with(tool_choice=choice)
    loaded = codec.load_request(body)
    assert loaded.session.tool_choice == expected  # type: ignore[union-attr]
    assert codec.encode(loaded) == body


@pytest.mark.parametrize(
    ("choice", "field"),
    [
        ({"type": "function"}, "session.tool_choice.name"),
        ({"name": "f"}, "session.tool_choice.type"),
        ({"type": "mcp", "name": "f"}, "session.tool_choice.server_label"),
        ({"type": "function", "name": "f", "server_label": "s"}, "session.tool_choice.server_label"),
        (["auto"], "session.tool_choice"),
        (5, "session.tool_choice"),
    ],
)
def test_an_incomplete_or_mixed_tool_choice_is_rejected(codec: ClientSecretCodec, choice: Any, field: str) -> None:
    assert rejected_fields(codec, session_with(tool_choice=choice)) == [field]


@pytest.mark.parametrize(
    ("voice", "expected"),
    [("alloy", "alloy"), ("voice_1234", "voice_1234"), ({"id": "voice_1234"}, CustomVoice("voice_1234"))],
)
def test_voice_is_a_string_or_a_custom_voice(codec: ClientSecretCodec, voice: Any, expected: Any) -> None:
    body = session_with(audio={"output": {"voice": voice}})
    loaded = codec.load_request(body)
    assert loaded.session.audio.output.voice == expected  # type: ignore[union-attr]
    assert codec.encode(loaded) == body


@pytest.mark.parametrize(
    ("voice", "field"),
    [
        ({"id": 5}, "session.audio.output.voice.id"),
        ({}, "session.audio.output.voice.id"),
        ({"id": "v", "name": "x"}, "session.audio.output.voice.name"),
        (5, "session.audio.output.voice"),
        (None, "session.audio.output.voice"),
    ],
)
def test_a_bad_voice_is_rejected(codec: ClientSecretCodec, voice: Any, field: str) -> None:
    assert rejected_fields(codec, session_with(audio={"output": {"voice": voice}})) == [field]


@pytest.mark.parametrize("tracing", ["auto", None, {}, {"workflow_name": "w", "metadata": {"k": [1]}}])
def test_tracing_is_auto_an_object_or_null(codec: ClientSecretCodec, tracing: Any) -> None:
    body = session_with(tracing=tracing)
    assert codec.encode(codec.load_request(body)) == body


@pytest.mark.parametrize("truncation", ["auto", "disabled", {"type": "retention_ratio", "retention_ratio": 0.5}])
def test_truncation_is_a_mode_or_a_retention_ratio(codec: ClientSecretCodec, truncation: Any) -> None:
    body = session_with(truncation=truncation)
    assert codec.encode(codec.load_request(body)) == body


@pytest.mark.parametrize(
    ("truncation", "field"),
    [
        ({"type": "retention_ratio"}, "session.truncation.retention_ratio"),
        ({"retention_ratio": 0.5}, "session.truncation.type"),
        (None, "session.truncation"),
    ],
)
def test_an_incomplete_truncation_is_rejected(codec: ClientSecretCodec, truncation: Any, field: str) -> None:
    assert rejected_fields(codec, session_with(truncation=truncation)) == [field]


@pytest.mark.parametrize(
    ("detection", "expected"),
    [
        (None, None),
        ({"type": "server_vad"}, ServerVad()),
        ({"type": "server_vad", "idle_timeout_ms": None}, ServerVad(idle_timeout_ms=None)),
        ({"type": "semantic_vad", "eagerness": "low"}, SemanticVad(eagerness="low")),
    ],
)
def test_turn_detection_is_null_server_vad_or_semantic_vad(
    codec: ClientSecretCodec, detection: Any, expected: Any
) -> None:
    body = session_with(audio={"input": {"turn_detection": detection}})
    loaded = codec.load_request(body)
    assert loaded.session.audio.input.turn_detection == expected  # type: ignore[union-attr]
    assert codec.encode(loaded) == body


@pytest.mark.parametrize(
    ("detection", "field"),
    [
        ({}, "turn_detection.type"),
        ({"threshold": 0.5}, "turn_detection.type"),
        ({"type": "semantic_vad", "idle_timeout_ms": 6000}, "turn_detection.idle_timeout_ms"),
        ({"type": "semantic_vad", "threshold": 0.5}, "turn_detection.threshold"),
        ({"type": "server_vad", "eagerness": "low"}, "turn_detection.eagerness"),
        ("server_vad", "turn_detection"),
    ],
)
def test_each_turn_detection_type_has_only_its_own_fields(codec: ClientSecretCodec, detection: Any, field: str) -> None:
    body = session_with(audio={"input": {"turn_detection": detection}})
    assert rejected_fields(codec, body) == [f"session.audio.input.{field}"]


@pytest.mark.parametrize(
    "session", [{}, {"model": "gpt-realtime"}, {"type": "translation"}, {"type": 5}, {"type": None}]
)
def test_a_session_without_a_known_type_is_rejected_naming_session_type(
    codec: ClientSecretCodec, session: dict[str, Any]
) -> None:
    with pytest.raises(RequestValidationError) as info:
        codec.encode({"session": session})
    assert info.value.fields == ["session.type"]
    assert "realtime, transcription" in str(info.value) or "Missing" in str(info.value)


@pytest.mark.parametrize("session", [None, "realtime", ["realtime"]])
def test_a_session_that_is_not_an_object_is_rejected(codec: ClientSecretCodec, session: Any) -> None:
    assert rejected_fields(codec, {"session": session}) == ["session"]


def test_realtime_fields_are_unknown_in_a_transcription_session(codec: ClientSecretCodec) -> None:
    body = {"session": {"type": "transcription", "model": "gpt-realtime", "audio": {"output": {}}}}
    assert rejected_fields(codec, body) == ["session.audio.output", "session.model"]


@pytest.mark.parametrize("allowed", [["search"], [], {"tool_names": ["a"]}, {"read_only": False}, {}, None])
def test_allowed_tools_is_a_list_a_filter_or_null(codec: ClientSecretCodec, allowed: Any) -> None:
    body = session_with(tools=[{"type": "mcp", "server_label": "s", "allowed_tools": allowed}])
    assert codec.encode(codec.load_request(body)) == body


@pytest.mark.parametrize("approval", ["always", "never", {"always": {"read_only": True}}, {"never": {}}, {}, None])
def test_require_approval_is_a_setting_a_filter_or_null(codec: ClientSecretCodec, approval: Any) -> None:
    body = session_with(tools=[{"type": "mcp", "server_label": "s", "require_approval": approval}])
    assert codec.encode(codec.load_request(body)) == body


def test_an_mcp_tool_needs_a_server_label(codec: ClientSecretCodec) -> None:
    assert rejected_fields(codec, session_with(tools=[{"type": "mcp"}])) == ["session.tools.0.server_label"]


@pytest.mark.parametrize(
    ("prompt", "field"),
    [
        ({"version": "1"}, "session.prompt.id"),
        ({"id": "p", "variables": {"v": 5}}, "session.prompt.variables.v"),
        ({"id": "p", "variables": {"v": {"text": "x"}}}, "session.prompt.variables.v.type"),
        ({"id": "p", "variables": {"v": {"type": "input_text"}}}, "session.prompt.variables.v.text"),
        ({"id": "p", "variables": {"v": {"type": "input_image"}}}, "session.prompt.variables.v.detail"),
        ({"id": "p", "variables": {"v": {"type": "input_audio"}}}, "session.prompt.variables.v.type"),
    ],
)
def test_a_bad_prompt_is_rejected(codec: ClientSecretCodec, prompt: Any, field: str) -> None:
    assert rejected_fields(codec, session_with(prompt=prompt)) == [field]


# --- unknown fields --------------------------------------------------------------------------------------------


def test_an_unknown_top_level_field_is_rejected_by_name(codec: ClientSecretCodec) -> None:
    with pytest.raises(RequestValidationError) as info:
        codec.load_request({"sesion": {"type": "realtime"}})
    assert info.value.messages == {"sesion": ["Unknown field."]}


@pytest.mark.parametrize("path", UNKNOWN_NESTED)
def test_an_unknown_nested_field_is_rejected_with_its_dotted_path(codec: ClientSecretCodec, path: str) -> None:
    assert rejected_fields(codec, with_field(path, 1)) == [path]


def test_each_bad_field_is_reported_at_once(codec: ClientSecretCodec) -> None:
    body = with_field("session.audio.output.speed", 9)
    body["session"]["tools"][1]["server_label"] = 5
    body["expires_after"]["bogus"] = True
    assert rejected_fields(codec, body) == [
        "expires_after.bogus",
        "session.audio.output.speed",
        "session.tools.1.server_label",
    ]


def _schemas_below(schema: Any) -> Iterator[Any]:
    """``schema`` and every schema nested in it, through lists, maps and unions."""
    yield schema
    pending = list(schema.fields.values())
    while pending:
        field = pending.pop()
        if isinstance(field, marshmallow.fields.Nested):
            yield from _schemas_below(field.schema)
        elif isinstance(field, marshmallow.fields.List):
            pending.append(field.inner)
        elif hasattr(field, "children"):
            pending.extend(field.children().values())


@pytest.mark.parametrize(
    ("schema", "unknown"),
    [
        (ClientSecretCreateRequestSchema(), marshmallow.RAISE),
        (TranslationClientSecretCreateRequestSchema(), marshmallow.RAISE),
        (ClientSecretCreateResponseSchema(), marshmallow.INCLUDE),
        (TranslationClientSecretCreateResponseSchema(), marshmallow.INCLUDE),
    ],
)
def test_every_nested_schema_says_what_to_do_with_unknown_keys(schema: Any, unknown: str) -> None:
    below = list(_schemas_below(schema))
    assert len(below) > 3
    assert {type(each).__name__: each.unknown for each in below} == {type(each).__name__: unknown for each in below}


# --- not given versus null -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "session.audio.input.noise_reduction",
        "session.audio.input.turn_detection",
        "session.audio.input.turn_detection.idle_timeout_ms",
        "session.tracing",
        "session.prompt",
        "session.prompt.version",
        "session.prompt.variables",
        "session.prompt.variables.logo.image_url",
        "session.prompt.variables.brief.file_id",
        "session.tool_choice.name",
        "session.tools.1.headers",
        "session.tools.1.allowed_tools",
        "session.tools.1.allowed_callers",
        "session.tools.1.require_approval",
    ],
)
def test_null_is_sent_where_the_spec_allows_it(codec: ClientSecretCodec, path: str) -> None:
    body = with_field(path, None)
    assert codec.encode(codec.load_request(body)) == body


@pytest.mark.parametrize(
    "path",
    [
        "expires_after",
        "session",
        "session.model",
        "session.audio",
        "session.audio.input",
        "session.audio.input.format",
        "session.audio.input.transcription",
        "session.audio.output.speed",
        "session.tools",
        "session.tools.0",
        "session.tool_choice",
        "session.truncation",
        "session.reasoning",
        "session.max_output_tokens",
    ],
)
def test_null_on_a_field_that_cannot_be_null_is_rejected(codec: ClientSecretCodec, path: str) -> None:
    assert rejected_fields(codec, with_field(path, None)) == [path]


def test_fields_not_given_are_left_out_and_none_is_sent_as_null(codec: ClientSecretCodec) -> None:
    request = ClientSecretCreateRequest(
        session=RealtimeSessionConfig(
            audio=RealtimeAudioConfig(input=AudioInput(turn_detection=None, noise_reduction=None)), prompt=None
        )
    )
    assert codec.encode(request) == session_with(
        audio={"input": {"noise_reduction": None, "turn_detection": None}}, prompt=None
    )


# --- extra -----------------------------------------------------------------------------------------------------


def test_session_extra_goes_into_the_session_and_top_level_extra_into_the_body(codec: ClientSecretCodec) -> None:
    request = ClientSecretCreateRequest(
        session=RealtimeSessionConfig(model="m", extra={"temperature_hint": 0.5, "new": {"a": [1]}}),
        extra={"metadata": {"k": "v"}},
    )
    assert codec.encode(request) == {
        "session": {"type": "realtime", "model": "m", "temperature_hint": 0.5, "new": {"a": [1]}},
        "metadata": {"k": "v"},
    }


def test_transcription_session_extra_goes_into_its_session(codec: ClientSecretCodec) -> None:
    request = ClientSecretCreateRequest(session=TranscriptionSessionConfig(extra={"new": True}))
    assert codec.encode(request) == {"session": {"type": "transcription", "new": True}}


@pytest.mark.parametrize(("key", "path"), [("type", "session.extra.type"), ("tools", "session.extra.tools")])
def test_a_session_extra_key_that_names_a_session_field_is_rejected(
    codec: ClientSecretCodec, key: str, path: str
) -> None:
    request = ClientSecretCreateRequest(session=RealtimeSessionConfig(extra={key: "x"}))
    assert rejected_fields(codec, request) == [path]


@pytest.mark.parametrize("key", ["session", "expires_after"])
def test_a_top_level_extra_key_that_names_a_field_is_rejected(codec: ClientSecretCodec, key: str) -> None:
    assert rejected_fields(codec, ClientSecretCreateRequest(extra={key: {}})) == [f"extra.{key}"]


@pytest.mark.parametrize("value", [{1, 2}, math.inf, {"k": object()}])
def test_a_session_extra_value_that_is_not_json_is_rejected(codec: ClientSecretCodec, value: Any) -> None:
    request = ClientSecretCreateRequest(session=RealtimeSessionConfig(extra={"new": value}))
    assert rejected_fields(codec, request) == ["session.extra.new"]


def test_a_not_given_extra_value_is_left_out(codec: ClientSecretCodec) -> None:
    request = ClientSecretCreateRequest(session=TranscriptionSessionConfig(extra={"new": NOT_GIVEN}))
    assert codec.encode(request) == {"session": {"type": "transcription"}}


def test_session_extra_is_reported_with_errors_in_the_session(codec: ClientSecretCodec) -> None:
    request = ClientSecretCreateRequest(
        session=RealtimeSessionConfig(max_output_tokens=0, extra={"model": "x"}),
        extra=[("k", 1)],  # type: ignore[arg-type]
    )
    assert rejected_fields(codec, request) == ["extra", "session.extra.model", "session.max_output_tokens"]


# --- dataclasses are validated too -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("session", "field"),
    [
        (RealtimeSessionConfig(tools=[MCPTool(server_label=5)]), "session.tools.0.server_label"),  # type: ignore[arg-type]
        (RealtimeSessionConfig(tools=[MCPTool(server_label="s", tunnel_id="t")]), "session.tools.0.tunnel_id"),
        (RealtimeSessionConfig(tools=["f"]), "session.tools.0"),  # type: ignore[list-item]
        (RealtimeSessionConfig(tool_choice=ToolChoiceFunction(name=5)), "session.tool_choice.name"),  # type: ignore[arg-type]
        (RealtimeSessionConfig(tool_choice="any"), "session.tool_choice"),  # type: ignore[arg-type]
        (
            RealtimeSessionConfig(truncation=RetentionRatioTruncation(retention_ratio=2)),
            "session.truncation.retention_ratio",
        ),
        (
            RealtimeSessionConfig(audio=RealtimeAudioConfig(output=AudioOutput(voice=CustomVoice(5)))),  # type: ignore[arg-type]
            "session.audio.output.voice.id",
        ),
        (
            RealtimeSessionConfig(audio=RealtimeAudioConfig(input=AudioInput(turn_detection=ServerVad(threshold=2)))),
            "session.audio.input.turn_detection.threshold",
        ),
        (
            RealtimeSessionConfig(audio=RealtimeAudioConfig(input=AudioInput(turn_detection=AudioPCM()))),  # type: ignore[arg-type]
            "session.audio.input.turn_detection",
        ),
        (RealtimeSessionConfig(audio=RealtimeAudioConfig(input=5)), "session.audio.input"),  # type: ignore[arg-type]
        (RealtimeSessionConfig(output_modalities="audio"), "session.output_modalities"),  # type: ignore[arg-type]
        (RealtimeSessionConfig(prompt=Prompt(id="p", variables={"v": 5})), "session.prompt.variables.v"),  # type: ignore[dict-item]
        (5, "session"),
    ],
)
def test_a_dataclass_holding_a_wrong_value_is_rejected_without_coercion(
    codec: ClientSecretCodec, session: Any, field: str
) -> None:
    assert rejected_fields(codec, ClientSecretCreateRequest(session=session)) == [field]


def test_a_mapping_where_a_nested_dataclass_belongs_is_validated_like_json(codec: ClientSecretCodec) -> None:
    request = ClientSecretCreateRequest(session={"type": "transcription"})  # type: ignore[arg-type]
    assert codec.encode(request) == {"session": {"type": "transcription"}}
    bad = ClientSecretCreateRequest(session={"type": "translation"})  # type: ignore[arg-type]
    assert rejected_fields(codec, bad) == ["session.type"]


def test_to_dict_on_an_invalid_request_raises_the_validation_error() -> None:
    with pytest.raises(RequestValidationError):
        ClientSecretCreateRequest(expires_after=ExpiresAfter(seconds=5)).to_dict()


# --- only RequestValidationError escapes -----------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, [], "session", 5, b"{}", object()])
def test_a_body_that_is_not_a_mapping_raises_a_validation_error(codec: ClientSecretCodec, value: Any) -> None:
    assert rejected_fields(codec, value) == ["_schema"]
    with pytest.raises(RequestValidationError):
        codec.load_request(value)


def test_a_self_referencing_value_raises_a_validation_error(codec: ClientSecretCodec) -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(RequestValidationError):
        codec.encode(ClientSecretCreateRequest(session=RealtimeSessionConfig(extra={"loop": loop})))
    with pytest.raises(RequestValidationError):
        codec.encode(session_with(tools=[{"name": "f", "parameters": {"loop": loop}}]))


# --- secrets stay out of reprs ---------------------------------------------------------------------------------


def _assert_hidden(*texts: str) -> None:
    for text in texts:
        assert MCP_TOKEN not in text
        assert HEADER_SECRET not in text
        assert SECRET not in text


def test_mcp_authorization_and_header_values_never_show_in_a_repr(codec: ClientSecretCodec) -> None:
    loaded = codec.load_request(FULL_REQUEST)
    tool = loaded.session.tools[1]  # type: ignore[union-attr, index]
    for obj in (tool, loaded, loaded.session, FULL_DATACLASS, FULL_DATACLASS.session):
        _assert_hidden(repr(obj), str(obj), f"{obj}", repr([obj]))
    assert "mcp_...0f8b3a"[-4:] in repr(tool)
    assert "X-Api-Key" in repr(tool)
    assert "server_label='docs'" in repr(tool)


def test_a_validation_error_never_quotes_the_token(codec: ClientSecretCodec) -> None:
    body = with_field("session.tools.1.server_label", 5)
    with pytest.raises(RequestValidationError) as info:
        codec.encode(body)
    _assert_hidden(str(info.value), repr(info.value))


# --- responses -------------------------------------------------------------------------------------------------


def test_the_spec_example_decodes_into_a_typed_realtime_session(codec: ClientSecretCodec) -> None:
    response = codec.decode(SPEC_RESPONSE, request_id="req_1")
    assert (response.value, response.expires_at, response.request_id) == (SECRET, 1756310470, "req_1")
    session = response.session
    assert isinstance(session, RealtimeSessionResponse)
    assert (session.id, session.object, session.expires_at) == ("sess_C9CiUVUzUzYIssh3ELY1d", "realtime.session", 0)
    assert session.output_modalities == ("audio",)
    assert session.tools == ()
    assert (session.tool_choice, session.truncation, session.max_output_tokens) == ("auto", "auto", "inf")
    assert session.tracing is None
    assert session.prompt is None
    assert session.include is NOT_GIVEN  # null where null is not allowed reads as not given
    audio = session.audio
    assert isinstance(audio, RealtimeAudioConfig)
    assert audio.input == AudioInput(
        format=AudioPCM(rate=24000),
        noise_reduction=None,
        turn_detection=ServerVad(
            threshold=0.5,
            prefix_padding_ms=300,
            silence_duration_ms=200,
            idle_timeout_ms=None,
            create_response=True,
            interrupt_response=True,
        ),
    )
    assert audio.output == AudioOutput(format=AudioPCM(rate=24000), voice="alloy", speed=1.0)
    assert response.invalid_fields == ()
    assert response.to_dict() == SPEC_RESPONSE


def test_a_transcription_session_decodes_into_its_own_type(codec: ClientSecretCodec) -> None:
    response = codec.decode(TRANSCRIPTION_RESPONSE, request_id=None)
    session = response.session
    assert isinstance(session, TranscriptionSessionResponse)
    assert session.object == "realtime.transcription_session"
    assert session.include == (LOGPROBS,)
    assert session.audio == TranscriptionAudioConfig(
        input=AudioInput(
            format=AudioPCM(rate=24000),
            transcription=AudioTranscription(model="gpt-4o-transcribe", prompt=""),
            noise_reduction=None,
            turn_detection=ServerVad(threshold=0.5, prefix_padding_ms=300, silence_duration_ms=200),
        )
    )
    assert response.invalid_fields == ()


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        SECRET,
        {},
        {"value": SECRET},
        {"expires_at": 1, "session": SPEC_RESPONSE["session"]},
        {"value": None, "expires_at": 1},
        {"value": "", "expires_at": 1},
        {"value": 5, "expires_at": 1},
        {"value": SECRET, "expires_at": "1"},
        {"value": SECRET, "expires_at": 1.0},
        {"value": SECRET, "expires_at": True},
        {"value": SECRET, "expires_at": None},
        {"client_secret": {"value": SECRET, "expires_at": 1}},
    ],
)
def test_a_body_without_a_valid_value_and_expiry_raises_with_the_request_id(
    codec: ClientSecretCodec, body: Any
) -> None:
    with pytest.raises(ResponseValidationError) as info:
        codec.decode(body, request_id="req_42")
    assert info.value.request_id == "req_42"
    assert "req_42" in str(info.value)
    assert SECRET not in str(info.value)
    assert SECRET not in repr(info.value)


def test_unknown_response_fields_are_kept_at_every_level_by_to_dict(codec: ClientSecretCodec) -> None:
    body = copy.deepcopy(SPEC_RESPONSE)
    body["kind"] = "ephemeral"
    body["session"]["new_setting"] = {"x": [1, {"y": None}]}
    body["session"]["audio"]["input"]["turn_detection"]["new_knob"] = 3
    body["session"]["audio"]["output"]["format"]["channels"] = 1
    body["session"]["tools"] = [{"type": "function", "name": "f", "strict": True}]
    body["session"]["tool_choice"] = {"type": "function", "name": "f", "why": "because"}
    response = codec.decode(body, request_id="req_1")
    assert response.to_dict() == body
    assert response.invalid_fields == ()
    session = response.session
    assert isinstance(session, RealtimeSessionResponse)
    assert session.tools == (FunctionTool(name="f"),)
    assert session.tool_choice == ToolChoiceFunction(name="f")
    assert session.audio.input.turn_detection.threshold == 0.5  # type: ignore[union-attr]


def test_echoed_values_that_do_not_fit_are_left_out_as_narrowly_as_possible(codec: ClientSecretCodec) -> None:
    body = copy.deepcopy(SPEC_RESPONSE)
    session = body["session"]
    session["audio"]["input"]["turn_detection"]["threshold"] = "high"
    session["audio"]["output"]["voice"] = 5
    session["tools"] = [{"type": "web_search"}, {"type": "function", "name": "f"}, {"type": "mcp"}]
    session["max_output_tokens"] = "lots"
    response = codec.decode(body, request_id="req_1")
    assert response.value == SECRET
    assert response.invalid_fields == (
        "session.audio.input.turn_detection.threshold",
        "session.audio.output.voice",
        "session.max_output_tokens",
        "session.tools.0.type",
        "session.tools.2.server_label",
    )
    typed = response.session
    assert isinstance(typed, RealtimeSessionResponse)
    assert typed.audio.input.turn_detection == ServerVad(  # type: ignore[union-attr]
        prefix_padding_ms=300,
        silence_duration_ms=200,
        idle_timeout_ms=None,
        create_response=True,
        interrupt_response=True,
    )
    assert typed.audio.output.voice is NOT_GIVEN  # type: ignore[union-attr]
    assert typed.tools == (FunctionTool(name="f"),)
    assert typed.max_output_tokens is NOT_GIVEN
    assert typed.instructions == "You are a friendly assistant."
    assert response.to_dict() == body


def test_echoed_values_outside_request_ranges_are_read(codec: ClientSecretCodec) -> None:
    body = copy.deepcopy(SPEC_RESPONSE)
    body["session"]["audio"]["output"]["speed"] = 3.0
    body["session"]["max_output_tokens"] = 100_000
    body["session"]["output_modalities"] = ["text", "audio"]
    response = codec.decode(body, request_id=None)
    assert response.invalid_fields == ()
    assert response.session.audio.output.speed == 3.0  # type: ignore[union-attr]
    assert response.session.max_output_tokens == 100_000  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"type": "translation"}, "session.type"),
        ({"type": None}, "session.type"),
        ({"id": None}, "session.id"),
        ({"object": 5}, "session.object"),
    ],
)
def test_a_session_that_cannot_be_typed_is_kept_as_a_read_only_mapping(
    codec: ClientSecretCodec, change: dict[str, Any], problem: str
) -> None:
    body = copy.deepcopy(SPEC_RESPONSE)
    body["session"].update(change)
    response = codec.decode(body, request_id="req_1")
    session = response.session
    assert isinstance(session, ReadOnlyJson)
    assert problem in response.invalid_fields
    assert session.to_dict() == body["session"]
    assert session["audio"]["output"]["voice"] == "alloy"
    assert session["tools"] == ()
    with pytest.raises(TypeError):
        session["id"] = "changed"  # type: ignore[index]
    with pytest.raises(TypeError):
        session["audio"]["output"]["voice"] = "changed"
    assert response.to_dict() == body


@pytest.mark.parametrize("session", ["sess_1", 5, ["x"]])
def test_a_session_that_is_not_an_object_is_left_out(codec: ClientSecretCodec, session: Any) -> None:
    response = codec.decode({"value": SECRET, "expires_at": 1, "session": session}, request_id=None)
    assert response.session is NOT_GIVEN
    assert response.invalid_fields == ("session",)
    assert response.to_dict()["session"] == session


@pytest.mark.parametrize(
    "body", [{"value": SECRET, "expires_at": 1}, {"value": SECRET, "expires_at": 1, "session": None}]
)
def test_an_answer_without_a_session_still_hands_out_the_secret(codec: ClientSecretCodec, body: Any) -> None:
    response = codec.decode(body, request_id=None)
    assert (response.value, response.session, response.invalid_fields) == (SECRET, NOT_GIVEN, ())


def test_an_unknown_session_with_an_mcp_tool_hides_its_secrets_in_repr(codec: ClientSecretCodec) -> None:
    body = copy.deepcopy(SPEC_RESPONSE)
    body["session"]["type"] = "voice_agent"
    body["session"]["tools"] = [copy.deepcopy(FULL_SESSION["tools"][1])]
    response = codec.decode(body, request_id=None)
    assert isinstance(response.session, ReadOnlyJson)
    _assert_hidden(repr(response), str(response), repr(response.session))
    assert response.session["tools"][0]["authorization"] == MCP_TOKEN


def test_an_echoed_mcp_tool_hides_its_secrets_in_repr(codec: ClientSecretCodec) -> None:
    body = copy.deepcopy(SPEC_RESPONSE)
    body["session"]["tools"] = [copy.deepcopy(FULL_SESSION["tools"][1])]
    response = codec.decode(body, request_id=None)
    assert isinstance(response.session.tools[0], MCPTool)  # type: ignore[union-attr, index]
    _assert_hidden(repr(response), str(response))


def test_the_response_repr_never_contains_the_secret(codec: ClientSecretCodec) -> None:
    response = codec.decode(SPEC_RESPONSE, request_id="req_1")
    for text in (repr(response), str(response), f"{response}", repr([response])):
        assert SECRET not in text
    assert "ek_...63c2" in repr(response)
    assert "sess_C9CiUVUzUzYIssh3ELY1d" in repr(response)


def test_to_dict_returns_a_fresh_copy_each_time(codec: ClientSecretCodec) -> None:
    response = codec.decode(SPEC_RESPONSE, request_id=None)
    first = response.to_dict()
    first["session"]["audio"]["output"]["voice"] = "changed"
    assert response.to_dict() == SPEC_RESPONSE


def test_a_response_built_by_hand_serialises_its_typed_attributes() -> None:
    response = ClientSecretCreateResponse(
        value=SECRET,
        expires_at=5,
        session=RealtimeSessionResponse(type="realtime", id="sess_1", object="realtime.session", tracing=None),
    )
    assert response.to_dict() == {
        "value": SECRET,
        "expires_at": 5,
        "session": {"type": "realtime", "id": "sess_1", "object": "realtime.session", "tracing": None},
    }


def test_one_codec_can_be_shared_by_many_threads(codec: ClientSecretCodec) -> None:
    failures: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(100):
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


# --- translation -----------------------------------------------------------------------------------------------

TRANSLATION_REQUEST: dict[str, Any] = {
    "expires_after": {"anchor": "created_at", "seconds": 300},
    "session": {
        "model": "gpt-realtime-translate",
        "audio": {
            "input": {"transcription": {"model": "gpt-realtime-whisper"}, "noise_reduction": {"type": "far_field"}},
            "output": {"language": "es"},
        },
    },
}
TRANSLATION_RESPONSE: dict[str, Any] = {
    "value": SECRET,
    "expires_at": 1778000000,
    "session": {
        "id": "sess_T1",
        "type": "translation",
        "expires_at": 1778000000,
        "model": "gpt-realtime-translate",
        "audio": {"input": {"transcription": None, "noise_reduction": None}, "output": {"language": "es"}},
    },
}


def test_a_translation_request_round_trips(translation: TranslationCodec) -> None:
    loaded = translation.load_request(TRANSLATION_REQUEST)
    assert loaded.session.audio.input.transcription == TranslationTranscription("gpt-realtime-whisper")  # type: ignore[union-attr]
    assert translation.encode(loaded) == TRANSLATION_REQUEST
    by_hand = TranslationClientSecretCreateRequest(
        expires_after=ExpiresAfter(seconds=300),
        session=TranslationSessionConfig(
            model="gpt-realtime-translate",
            audio=TranslationAudioConfig(
                input=TranslationAudioInput(
                    transcription=TranslationTranscription("gpt-realtime-whisper"),
                    noise_reduction=NoiseReduction(type="far_field"),
                ),
                output=TranslationAudioOutput(language="es"),
            ),
        ),
    )
    assert translation.encode(by_hand) == TRANSLATION_REQUEST
    assert by_hand.to_dict() == TRANSLATION_REQUEST


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "session"),
        ({"session": {}}, "session.model"),
        ({"session": {"model": "m", "type": "translation"}}, "session.type"),
        (
            {"session": {"model": "m", "audio": {"input": {"transcription": {}}}}},
            "session.audio.input.transcription.model",
        ),
        ({"session": {"model": "m", "audio": {"output": {"voice": "alloy"}}}}, "session.audio.output.voice"),
        (
            {"session": {"model": "m", "audio": {"input": {"noise_reduction": {"type": "x"}}}}},
            "session.audio.input.noise_reduction.type",
        ),
        ({"session": {"model": "m"}, "expires_after": {"seconds": 7201}}, "expires_after.seconds"),
        ({"session": None}, "session"),
    ],
)
def test_a_bad_translation_request_is_rejected(translation: TranslationCodec, body: Any, field: str) -> None:
    assert rejected_fields(translation, body) == [field]


@pytest.mark.parametrize("path", ["session.audio.input.transcription", "session.audio.input.noise_reduction"])
def test_translation_features_can_be_turned_off_with_null(translation: TranslationCodec, path: str) -> None:
    body = with_field(path, None, TRANSLATION_REQUEST)
    assert translation.encode(translation.load_request(body)) == body


def test_translation_session_extra_goes_into_the_session(translation: TranslationCodec) -> None:
    request = TranslationClientSecretCreateRequest(session=TranslationSessionConfig(model="m", extra={"new": 1}))
    assert translation.encode(request) == {"session": {"model": "m", "new": 1}}
    clash = TranslationClientSecretCreateRequest(session=TranslationSessionConfig(model="m", extra={"audio": {}}))
    assert rejected_fields(translation, clash) == ["session.extra.audio"]


def test_a_translation_answer_decodes_into_a_typed_session(translation: TranslationCodec) -> None:
    response = translation.decode(TRANSLATION_RESPONSE, request_id="req_t")
    assert response.value == SECRET
    assert response.session == TranslationSessionResponse(
        type="translation",
        id="sess_T1",
        expires_at=1778000000,
        model="gpt-realtime-translate",
        audio=TranslationAudioConfig(
            input=TranslationAudioInput(transcription=None, noise_reduction=None),
            output=TranslationAudioOutput(language="es"),
        ),
    )
    assert response.to_dict() == TRANSLATION_RESPONSE
    assert SECRET not in repr(response)


def test_a_translation_answer_with_another_session_type_keeps_it_read_only(translation: TranslationCodec) -> None:
    body = with_field("session.type", "realtime", TRANSLATION_RESPONSE)
    response = translation.decode(body, request_id=None)
    assert isinstance(response.session, ReadOnlyJson)
    assert response.invalid_fields == ("session.type",)


def test_a_translation_answer_without_a_value_raises(translation: TranslationCodec) -> None:
    with pytest.raises(ResponseValidationError) as info:
        translation.decode(without_field("value", TRANSLATION_RESPONSE), request_id="req_t")
    assert info.value.request_id == "req_t"


# --- strategies ------------------------------------------------------------------------------------------------


def _containers(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Every dict and list inside ``node`` with its path of keys and indices."""
    if isinstance(node, dict | list):
        yield path, node
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            yield from _containers(value, (*path, key))


@st.composite
def mutated(draw: st.DrawFn, valid: st.SearchStrategy[dict[str, Any]]) -> dict[str, Any]:
    """A valid body with one value somewhere replaced by anything JSON-like, or one key added somewhere."""
    body = copy.deepcopy(draw(valid))  # strategies share the values they sample
    _, node = draw(st.sampled_from(list(_containers(body))))
    if isinstance(node, dict) and node and draw(st.booleans()):
        node[draw(st.sampled_from(sorted(node)))] = draw(any_json)
    elif isinstance(node, list) and node:
        node[draw(st.integers(0, len(node) - 1))] = draw(any_json)
    else:
        key = draw(st.sampled_from(["type", "id", "name", "model", "rate", "voice", "extra"]) | short_text)
        if isinstance(node, dict):
            node[key] = draw(any_json)
    return body


def echo_of(request: dict[str, Any], *, expires_at: int = 1756310470) -> dict[str, Any]:
    """A 200 body echoing a valid request's session, shaped as the spec's response types it: a custom voice
    echoes as its id (``VoiceIdsShared`` is a string), and a transcription session's noise reduction that is
    off is left out (its response type cannot be ``null``)."""
    session = copy.deepcopy(request.get("session", {"type": "realtime"}))
    session["id"] = "sess_1"
    session["object"] = "realtime.session" if session["type"] == "realtime" else "realtime.transcription_session"
    audio = session.get("audio", {})
    output = audio.get("output", {})
    if isinstance(output.get("voice"), dict):
        output["voice"] = output["voice"]["id"]
    audio_input = audio.get("input", {})
    if session["type"] == "transcription" and audio_input.get("noise_reduction", {}) is None:
        del audio_input["noise_reduction"]
    return {"value": SECRET, "expires_at": expires_at, "session": session}


valid_responses = valid_requests.map(echo_of)
any_requests = mutated(valid_requests) | st.dictionaries(
    st.sampled_from(["session", "expires_after", "extra"]) | short_text, any_json, max_size=3
)
any_responses = (
    mutated(valid_responses)
    | any_json
    | st.fixed_dictionaries({"value": short_text, "expires_at": st.integers()}, optional={"session": any_json})
)


# --- properties ------------------------------------------------------------------------------------------------


@PROPERTY
@given(body=valid_requests)
def test_every_valid_request_encodes_to_itself_and_round_trips(codec: ClientSecretCodec, body: dict[str, Any]) -> None:
    assert codec.encode(body) == body
    request = codec.load_request(body)
    assert codec.encode(request) == body
    assert request.to_dict() == body


@PROPERTY
@given(body=any_requests)
def test_any_json_like_mapping_either_encodes_or_raises_request_validation_error(
    codec: ClientSecretCodec, body: dict[str, Any]
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
@given(body=valid_requests, extra=st.dictionaries(short_text, any_json, max_size=2))
def test_a_loaded_session_with_any_extra_either_encodes_or_names_the_extra(
    codec: ClientSecretCodec, body: dict[str, Any], extra: dict[str, Any]
) -> None:
    request = codec.load_request(body)
    if request.session is NOT_GIVEN:
        return
    session = type(request.session)(**{**_fields_of(request.session), "extra": extra})
    try:
        encoded = codec.encode(ClientSecretCreateRequest(expires_after=request.expires_after, session=session))
    except RequestValidationError as exc:
        error = exc
    else:
        assert encoded == {**body, "session": {**body["session"], **extra}}
        return
    assert all(path.startswith("session.extra") for path in error.fields)


def _fields_of(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__dataclass_fields__ if name != "extra"}


@PROPERTY
@given(body=valid_responses)
def test_an_echo_of_any_valid_request_decodes_without_invalid_fields(
    codec: ClientSecretCodec, body: dict[str, Any]
) -> None:
    response = codec.decode(body, request_id="req_p")
    assert response.invalid_fields == ()
    expected = RealtimeSessionResponse if body["session"]["type"] == "realtime" else TranscriptionSessionResponse
    assert isinstance(response.session, expected)
    assert response.to_dict() == body


@PROPERTY
@given(body=any_responses)
def test_any_json_value_either_decodes_or_raises_response_validation_error(codec: ClientSecretCodec, body: Any) -> None:
    try:
        response = codec.decode(body, request_id="req_p")
    except ResponseValidationError as exc:
        error = exc
    else:
        assert response.to_dict() == body
        assert (response.value, response.expires_at) == (body["value"], body["expires_at"])
        session = response.session
        if isinstance(session, RealtimeSessionResponse | TranscriptionSessionResponse):
            assert session.type == body["session"]["type"]
        elif isinstance(session, ReadOnlyJson):
            assert session.to_dict() == body["session"]
        return
    assert error.request_id == "req_p"


REQUEST_SCHEMA = ClientSecretCreateRequestSchema()
RESPONSE_SCHEMA = ClientSecretCreateResponseSchema()
FAST_REQUEST = compile_loader(REQUEST_SCHEMA)
CHECK_REQUEST = compile_loader(REQUEST_SCHEMA, build=False)
FAST_RESPONSE = compile_loader(RESPONSE_SCHEMA)


@PROPERTY
@given(body=any_requests | valid_requests)
def test_whatever_the_fast_request_path_accepts_marshmallow_accepts_alike(body: dict[str, Any]) -> None:
    fast = FAST_REQUEST(body)
    assert (CHECK_REQUEST(body) is FALLBACK) == (fast is FALLBACK)
    if fast is not FALLBACK:
        assert REQUEST_SCHEMA.load(body) == fast
        assert fast_dump(REQUEST_SCHEMA, fast) == REQUEST_SCHEMA.dump(fast)


@PROPERTY
@given(body=valid_requests)
def test_the_fast_request_path_accepts_every_valid_request(body: dict[str, Any]) -> None:
    assert FAST_REQUEST(body) is not FALLBACK


@PROPERTY
@given(body=any_responses | valid_responses)
def test_whatever_the_fast_response_path_accepts_marshmallow_accepts_alike(body: Any) -> None:
    fast = FAST_RESPONSE(body)
    if fast is not FALLBACK:
        assert RESPONSE_SCHEMA.load(body) == fast


PLAN_REQUEST = compile_plan_loader(plans.CLIENT_SECRET_REQUEST)
PLAN_CHECK_REQUEST = compile_plan_loader(plans.CLIENT_SECRET_REQUEST, build=False)
PLAN_DUMP_REQUEST = compile_plan_dumper(plans.CLIENT_SECRET_REQUEST)
PLAN_RESPONSE = compile_plan_loader(plans.CLIENT_SECRET_RESPONSE)
#: The codec as it was before the plans: everything compiled from the schema instances.
EAGER_CODEC = _GACodec(
    ClientSecretCreateRequestSchema(), ClientSecretCreateResponseSchema(), ClientSecretCreateResponse
)


@PROPERTY
@given(body=any_requests | valid_requests)
def test_whatever_the_planned_request_path_accepts_marshmallow_accepts_alike(body: dict[str, Any]) -> None:
    planned = PLAN_REQUEST(body)
    assert (PLAN_CHECK_REQUEST(body) is FALLBACK) == (planned is FALLBACK)
    if planned is not FALLBACK:
        assert REQUEST_SCHEMA.load(body) == planned
        assert PLAN_DUMP_REQUEST(planned) == REQUEST_SCHEMA.dump(planned)


@PROPERTY
@given(body=valid_requests)
def test_the_planned_request_path_accepts_every_valid_request(body: dict[str, Any]) -> None:
    assert PLAN_REQUEST(body) is not FALLBACK


@PROPERTY
@given(body=any_responses | valid_responses)
def test_whatever_the_planned_response_path_accepts_marshmallow_accepts_alike(body: Any) -> None:
    planned = PLAN_RESPONSE(body)
    if planned is not FALLBACK:
        assert RESPONSE_SCHEMA.load(body) == planned


@PROPERTY
@given(body=valid_responses)
def test_the_planned_response_path_reads_every_valid_answer(body: Any) -> None:
    assert PLAN_RESPONSE(body) is not FALLBACK


def _outcome(call: Any) -> Any:
    try:
        return ("ok", call())
    except (RequestValidationError, ResponseValidationError) as exc:
        return (type(exc).__name__, str(exc), getattr(exc, "messages", None))


@PROPERTY
@given(body=any_requests | valid_requests)
def test_the_planned_codec_encodes_and_refuses_exactly_as_the_schema_codec(body: dict[str, Any]) -> None:
    planned = ClientSecretCodec()
    assert _outcome(lambda: planned.encode(body)) == _outcome(lambda: EAGER_CODEC.encode(body))
    assert _outcome(lambda: planned.load_request(body)) == _outcome(lambda: EAGER_CODEC.load_request(body))


@PROPERTY
@given(body=valid_requests)
def test_the_planned_codec_encodes_a_dataclass_request_as_the_schema_codec(body: dict[str, Any]) -> None:
    request = EAGER_CODEC.load_request(body)
    assert ClientSecretCodec().encode(request) == EAGER_CODEC.encode(request)


@PROPERTY
@given(body=any_responses | valid_responses)
def test_the_planned_codec_decodes_exactly_as_the_schema_codec(body: Any) -> None:
    planned = ClientSecretCodec()
    assert _outcome(lambda: planned.decode(body, request_id="req_p")) == _outcome(
        lambda: EAGER_CODEC.decode(body, request_id="req_p")
    )


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=6,
)


@PROPERTY
@given(value=JSON_VALUES | st.sampled_from(["inf", "\ud800", 5.0, True, float("nan"), float("inf")]))
@pytest.mark.parametrize(
    ("kind", "field"),
    [
        ("string", JsonString()),
        ("integer", JsonInteger()),
        ("boolean", JsonBoolean()),
        ("number", JsonNumber()),
        ("object", JsonObject()),
        (("integer_or_inf", 1, 4096), IntegerOrInf(minimum=1, maximum=4096)),
    ],
)
def test_each_planned_leaf_accepts_only_what_its_field_accepts_and_returns_the_same(
    kind: Any, field: Any, value: Any
) -> None:
    planned = leaf_loader(kind)(value)
    if planned is not FALLBACK:
        assert field.deserialize(value) == planned
        assert type(field.deserialize(value)) is type(planned)


def test_a_dataclass_of_a_session_subclass_is_dumped_by_the_schema() -> None:
    class MySession(RealtimeSessionConfig):
        pass

    request = ClientSecretCreateRequest(session=MySession(model="gpt-realtime"))
    assert ClientSecretCodec().encode(request) == EAGER_CODEC.encode(request)


# --- the published spec ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spec_validators() -> dict[str, Any]:
    return build_spec_validators()


def test_the_full_requests_are_valid_for_the_spec(codec: ClientSecretCodec, spec_validators: dict[str, Any]) -> None:
    for body in (FULL_REQUEST, FULL_TRANSCRIPTION_REQUEST, codec.encode(FULL_DATACLASS)):
        assert spec_errors(spec_validators["request"], body) == []


def test_the_spec_example_answer_breaks_its_own_schema_where_it_sends_null(
    codec: ClientSecretCodec, spec_validators: dict[str, Any]
) -> None:
    """``include: null`` and ``transcription: null`` are not allowed by the types; we read them as not given."""
    (error,) = spec_validators["response"].iter_errors(SPEC_RESPONSE)
    realtime_branch = [c for c in error.context if c.relative_schema_path[0] == 0]
    assert sorted("/".join(map(str, c.absolute_path)) for c in realtime_branch) == [
        "session/audio/input/transcription",
        "session/include",
    ]
    fixed = copy.deepcopy(SPEC_RESPONSE)
    del fixed["session"]["include"], fixed["session"]["audio"]["input"]["transcription"]
    assert spec_errors(spec_validators["response"], fixed) == []
    assert codec.decode(SPEC_RESPONSE, request_id=None).invalid_fields == ()


@PROPERTY
@given(body=valid_requests)
def test_every_request_we_encode_is_valid_for_the_spec(
    codec: ClientSecretCodec, spec_validators: dict[str, Any], body: dict[str, Any]
) -> None:
    assert spec_errors(spec_validators["request"], codec.encode(codec.load_request(body))) == []


@PROPERTY
@given(body=valid_responses)
def test_every_answer_the_spec_allows_for_our_requests_decodes_fully(
    codec: ClientSecretCodec, spec_validators: dict[str, Any], body: dict[str, Any]
) -> None:
    assert spec_errors(spec_validators["response"], body) == []
    assert codec.decode(body, request_id=None).invalid_fields == ()


@pytest.mark.parametrize("path", [path for path in UNKNOWN_NESTED if path not in SPEC_CLOSED])
def test_we_reject_unknown_fields_that_the_spec_would_allow(
    codec: ClientSecretCodec, spec_validators: dict[str, Any], path: str
) -> None:
    body = with_field(path, 1)
    assert spec_errors(spec_validators["request"], body) == []
    assert rejected_fields(codec, body) == [path]


@pytest.mark.parametrize(
    ("path", "value"),
    [
        *((path, 1) for path in sorted(SPEC_CLOSED)),
        ("session.audio.output.voice", {"id": "v", "name": "x"}),
        ("session.audio.input.noise_reduction.type", "mid_field"),
        ("session.reasoning.effort", "max"),
        ("session.tools.2.connector_id", "connector_slack"),
        ("session.tools.3.tunnel_id", "tunnel_x"),
        ("session.audio.input.transcription.languages", []),
        ("expires_after.seconds", 7201),
    ],
)
def test_what_the_spec_rejects_we_reject_too(
    codec: ClientSecretCodec, spec_validators: dict[str, Any], path: str, value: Any
) -> None:
    body = with_field(path, value)
    assert spec_errors(spec_validators["request"], body) != []
    assert rejected_fields(codec, body) != []
