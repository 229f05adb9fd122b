"""The GA operations and the beta-to-GA bridge over real HTTP against the emulator on loopback.

``create_client_secret`` and ``create_translation_client_secret`` (and their async twins), the beta
``create_transcription_session``, ``create_realtime_session`` bridged to ``/realtime/client_secrets`` (the default
``api_shape: ga``) or sent unchanged (``api_shape: beta``), and the Azure dialect. The property tests check that
the client's schemas, the emulator and the published OpenAPI document agree: whatever our GA schema accepts, and
whatever the bridge makes of a valid beta request, the emulator accepts and the spec allows.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from beta_samples import VALID_FIELDS as BETA_FIELDS
from beta_samples import valid_requests as valid_beta_requests
from ga_samples import (
    FULL_DATACLASS,
    FULL_REQUEST,
    FULL_SESSION,
    FULL_TRANSCRIPTION_REQUEST,
    SPEC_CLOSED,
    UNKNOWN_NESTED,
    build_spec_validators,
    spec_errors,
    valid_requests,
    with_field,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from realtime_service import AuthenticationError, BadRequestError, ConfigurationError, RequestValidationError
from realtime_service.beta.bridge import Bridge
from realtime_service.beta.models import (
    NOT_GIVEN,
    FunctionTool,
    InputAudioTranscription,
    NoiseReduction,
    RealtimeSessionCreateRequest,
    RealtimeSessionCreateResponse,
    RealtimeTranscriptionSessionCreateResponse,
    TracingConfig,
    TurnDetection,
)
from realtime_service.beta.schemas import BetaSessionCodec
from realtime_service.containers import RealtimeContainer
from realtime_service.emulator import Emulator
from realtime_service.ga.models import (
    AudioPCM,
    AudioPCMA,
    ClientSecretCreateResponse,
    MCPTool,
    RealtimeSessionResponse,
    ServerVad,
    TranscriptionSessionResponse,
    TranslationClientSecretCreateResponse,
    TranslationSessionResponse,
)
from realtime_service.ga.schemas import ClientSecretCodec
from realtime_service.service import RealtimeSessionService

NOW = 1_700_000_000.7
CREATED = int(NOW)
AZURE_VERSION = "2025-04-01-preview"
PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

GA_CODEC = ClientSecretCodec()
BETA_CODEC = BetaSessionCodec()

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

BETA_TRANSCRIPTION_REQUEST: dict[str, Any] = {
    "modalities": ["text"],
    "input_audio_format": "g711_alaw",
    "input_audio_transcription": {"model": "gpt-4o-mini-transcribe", "language": "en", "prompt": "tech words"},
    "turn_detection": {"type": "server_vad", "threshold": 0.4, "prefix_padding_ms": 200, "silence_duration_ms": 400},
    "input_audio_noise_reduction": {"type": "far_field"},
    "include": ["item.input_audio_transcription.logprobs"],
    "client_secret": {"expires_at": {"anchor": "created_at", "seconds": 900}},
}

#: A beta request using every field that has a GA meaning (no ``temperature``; VAD fields of its own type).
BETA_REQUEST: dict[str, Any] = {
    "model": "gpt-realtime",
    "modalities": ["audio", "text"],
    "instructions": "You are a friendly assistant.",
    "voice": "marin",
    "input_audio_format": "pcm16",
    "output_audio_format": "g711_ulaw",
    "input_audio_transcription": {"model": "gpt-4o-transcribe", "language": "en", "prompt": "expect tech words"},
    "turn_detection": {
        "threshold": 0.6,
        "prefix_padding_ms": 250,
        "silence_duration_ms": 450,
        "create_response": True,
        "interrupt_response": False,
    },
    "input_audio_noise_reduction": {"type": "near_field"},
    "tools": [
        {
            "type": "function",
            "name": "get_weather",
            "description": "Look up the weather.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        }
    ],
    "tool_choice": "get_weather",
    "max_response_output_tokens": 1024,
    "speed": 1.2,
    "tracing": {"workflow_name": "support", "group_id": "g1", "metadata": {"tier": "gold"}},
    "client_secret": {"expires_after": {"anchor": "created_at", "seconds": 300}},
}

#: The GA body the bridge table makes of BETA_REQUEST.
BRIDGED_REQUEST: dict[str, Any] = {
    "expires_after": {"anchor": "created_at", "seconds": 300},
    "session": {
        "type": "realtime",
        "model": "gpt-realtime",
        "instructions": "You are a friendly assistant.",
        "tools": BETA_REQUEST["tools"],
        "tracing": {"workflow_name": "support", "group_id": "g1", "metadata": {"tier": "gold"}},
        "tool_choice": {"type": "function", "name": "get_weather"},
        "output_modalities": ["audio"],
        "max_output_tokens": 1024,
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": 24000},
                "transcription": {"model": "gpt-4o-transcribe", "language": "en", "prompt": "expect tech words"},
                "noise_reduction": {"type": "near_field"},
                "turn_detection": {
                    "type": "server_vad",
                    "threshold": 0.6,
                    "prefix_padding_ms": 250,
                    "silence_duration_ms": 450,
                    "create_response": True,
                    "interrupt_response": False,
                },
            },
            "output": {"voice": "marin", "speed": 1.2, "format": {"type": "audio/pcmu"}},
        },
    },
}


def compact(body: Any) -> bytes:
    """The bytes the service sends for ``body``: compact JSON, UTF-8, non-ASCII unescaped."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def ga_session(expires_after: dict[str, Any] | None = None, **session: Any) -> dict[str, Any]:
    """The GA body the bridge sends for a beta request without ``client_secret``."""
    return {
        "expires_after": expires_after or {"anchor": "created_at", "seconds": 60},
        "session": {"type": "realtime", **session},
    }


# --- fixtures ----------------------------------------------------------------------------------------------------


def _reset(emulator: Emulator) -> None:
    emulator.clear()
    emulator.beta_retired = False


@pytest.fixture(scope="module")
def shared_emulator() -> Iterator[Emulator]:
    """One OpenAI-mode emulator for the module, its clock pinned so expiries are exact."""
    with Emulator(clock=lambda: NOW) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def shared_azure() -> Iterator[Emulator]:
    with Emulator(clock=lambda: NOW, azure=True) as emulator:
        yield emulator


@pytest.fixture
def emu(shared_emulator: Emulator) -> Iterator[Emulator]:
    _reset(shared_emulator)
    yield shared_emulator
    _reset(shared_emulator)


@pytest.fixture
def azure(shared_azure: Emulator) -> Iterator[Emulator]:
    _reset(shared_azure)
    yield shared_azure
    _reset(shared_azure)


def _container(config: dict[str, Any], environ: dict[str, str] | None = None) -> RealtimeContainer:
    container = RealtimeContainer(environ=environ or {})
    container.config.from_dict(config)
    container.sleep.override(lambda seconds: None)  # never wait between attempts
    return container


@pytest.fixture
def make_service() -> Iterator[Callable[..., RealtimeSessionService]]:
    """Services from containers with this config (and environment); all shut down after the test."""
    built: list[RealtimeContainer] = []

    def make(config: dict[str, Any] | None = None, environ: dict[str, str] | None = None) -> RealtimeSessionService:
        container = _container(config or {}, environ)
        built.append(container)
        return container.realtime_session_service()

    yield make
    for container in built:
        container.shutdown_resources()


@pytest.fixture
def service_for(emu: Emulator, make_service: Callable[..., RealtimeSessionService]) -> Callable[..., Any]:
    """A service on the OpenAI-mode emulator with extra config (the default ``api_shape: ga`` unless given)."""

    def make(**config: Any) -> RealtimeSessionService:
        return make_service({"api_key": emu.api_key, "base_url": emu.base_url, **config})

    return make


@pytest.fixture
def service(service_for: Callable[..., RealtimeSessionService]) -> RealtimeSessionService:
    return service_for()


@pytest.fixture(scope="module")
def spec_validators() -> dict[str, Any]:
    return build_spec_validators()


# --- create_client_secret ----------------------------------------------------------------------------------------


def test_an_empty_request_mints_a_realtime_key_with_the_ga_defaults(
    service: RealtimeSessionService, emu: Emulator
) -> None:
    response = service.create_client_secret({})
    assert isinstance(response, ClientSecretCreateResponse)
    assert response.value.startswith("ek_")
    assert response.expires_at == CREATED + 600
    assert response.request_id is not None
    assert response.request_id.startswith("req_")
    assert response.invalid_fields == ()
    session = response.session
    assert isinstance(session, RealtimeSessionResponse)
    assert (session.type, session.object, session.expires_at) == ("realtime", "realtime.session", CREATED + 600)
    assert session.id.startswith("sess_")
    assert session.model == "gpt-realtime"
    assert session.output_modalities == ("audio",)
    (sent,) = emu.requests
    assert (sent.method, sent.path, sent.query) == ("POST", "/v1/realtime/client_secrets", "")
    assert sent.json == {}
    assert sent.body == b"{}"
    assert sent.headers["authorization"] == f"Bearer {emu.api_key}"
    assert sent.headers["content-type"] == "application/json"


def test_the_full_request_is_sent_exactly_as_the_codec_encodes_it_and_the_spec_allows_it(
    service: RealtimeSessionService, emu: Emulator, spec_validators: dict[str, Any]
) -> None:
    response = service.create_client_secret(FULL_REQUEST)
    (sent,) = emu.requests
    assert sent.path == "/v1/realtime/client_secrets"
    assert sent.json == GA_CODEC.encode(FULL_REQUEST) == FULL_REQUEST
    assert sent.body == compact(FULL_REQUEST)
    assert spec_errors(spec_validators["request"], sent.json) == []
    assert response.expires_at == CREATED + 600
    assert response.invalid_fields == ()


def _expected_echo(key: str) -> Any:
    """What the API echoes of FULL_SESSION[key]: the response types have no transcription ``keywords`` or
    ``delay``, and an MCP tool's ``authorization`` (a secret) never comes back."""
    value = copy.deepcopy(FULL_SESSION[key])
    if key == "audio":
        for dropped in ("keywords", "delay"):
            del value["input"]["transcription"][dropped]
    if key == "tools":
        for tool in value:
            tool.pop("authorization", None)
    return value


@pytest.mark.parametrize("key", [key for key in FULL_SESSION if key not in ("type", "parallel_tool_calls")])
def test_every_ga_session_field_round_trips_into_the_typed_response(
    service: RealtimeSessionService, emu: Emulator, key: str
) -> None:
    response = service.create_client_secret({"session": {"type": "realtime", key: FULL_SESSION[key]}})
    assert emu.requests[0].json == {"session": {"type": "realtime", key: FULL_SESSION[key]}}
    assert response.to_dict()["session"][key] == _expected_echo(key)
    assert isinstance(response.session, RealtimeSessionResponse)
    assert getattr(response.session, key) is not NOT_GIVEN
    assert response.invalid_fields == ()


def test_parallel_tool_calls_is_sent_but_not_echoed_as_the_spec_s_response_has_none(
    service: RealtimeSessionService, emu: Emulator
) -> None:
    response = service.create_client_secret({"session": {"type": "realtime", "parallel_tool_calls": True}})
    assert emu.requests[0].json["session"]["parallel_tool_calls"] is True
    assert isinstance(response.session, RealtimeSessionResponse)
    assert response.session.parallel_tool_calls is NOT_GIVEN


def test_the_full_echo_is_read_into_typed_values(service: RealtimeSessionService) -> None:
    session = service.create_client_secret(FULL_REQUEST).session
    assert isinstance(session, RealtimeSessionResponse)
    assert session.audio is not NOT_GIVEN
    assert session.audio.input is not NOT_GIVEN
    assert session.audio.output is not NOT_GIVEN
    assert session.audio.input.format == AudioPCM(rate=24000)
    assert isinstance(session.audio.input.turn_detection, ServerVad)
    assert session.audio.input.turn_detection.idle_timeout_ms == 6000
    assert session.audio.output.voice == "marin"
    assert session.audio.output.speed == 1.25
    assert session.tools is not NOT_GIVEN
    assert [tool.type for tool in session.tools] == ["function", "mcp", "mcp", "mcp"]
    docs = session.tools[1]
    assert isinstance(docs, MCPTool)
    assert docs.authorization is NOT_GIVEN
    assert session.reasoning is not NOT_GIVEN
    assert session.reasoning.effort == "medium"
    assert session.max_output_tokens == 4096


def test_the_dataclass_and_the_mapping_send_the_same_body(service: RealtimeSessionService, emu: Emulator) -> None:
    by_hand = service.create_client_secret(FULL_DATACLASS)
    as_json = service.create_client_secret(FULL_REQUEST)
    first, second = emu.requests
    assert first.body == second.body == compact(FULL_REQUEST)
    assert by_hand.session is not NOT_GIVEN
    assert as_json.session is not NOT_GIVEN
    assert type(by_hand.session) is type(as_json.session) is RealtimeSessionResponse


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("session.audio.input.turn_detection.threshold", 1.5),
        ("session.audio.output.speed", 2),
        ("session.tools.1.server_label", 5),
        ("expires_after.seconds", 5),
    ],
)
def test_a_validation_error_names_the_full_dotted_path_and_sends_nothing(
    service: RealtimeSessionService, emu: Emulator, path: str, value: Any
) -> None:
    with pytest.raises(RequestValidationError) as caught:
        service.create_client_secret(with_field(path, value))
    assert caught.value.fields == [path]
    assert path in str(caught.value)
    assert emu.requests == []


def test_a_ga_transcription_session_is_minted_through_client_secrets(
    service: RealtimeSessionService, emu: Emulator, spec_validators: dict[str, Any]
) -> None:
    response = service.create_client_secret(FULL_TRANSCRIPTION_REQUEST)
    (sent,) = emu.requests
    assert sent.path == "/v1/realtime/client_secrets"
    assert sent.json == FULL_TRANSCRIPTION_REQUEST
    assert spec_errors(spec_validators["request"], sent.json) == []
    assert response.expires_at == CREATED + 120
    session = response.session
    assert isinstance(session, TranscriptionSessionResponse)
    assert (session.type, session.object) == ("transcription", "realtime.transcription_session")
    assert session.include == ("item.input_audio_transcription.logprobs",)
    assert session.audio is not NOT_GIVEN
    assert session.audio.input is not NOT_GIVEN
    assert session.audio.input.format == AudioPCMA()
    assert response.to_dict()["session"]["audio"]["input"]["turn_detection"] == {
        "type": "semantic_vad",
        "eagerness": "high",
    }
    assert response.invalid_fields == ()


def test_a_translation_key_is_minted_with_its_session(service: RealtimeSessionService, emu: Emulator) -> None:
    response = service.create_translation_client_secret(TRANSLATION_REQUEST)
    (sent,) = emu.requests
    assert sent.path == "/v1/realtime/translations/client_secrets"
    assert sent.body == compact(TRANSLATION_REQUEST)
    assert isinstance(response, TranslationClientSecretCreateResponse)
    assert response.value.startswith("ek_")
    assert response.expires_at == CREATED + 300
    session = response.session
    assert isinstance(session, TranslationSessionResponse)
    assert (session.type, session.model) == ("translation", "gpt-realtime-translate")
    assert session.audio is not NOT_GIVEN
    assert session.audio.output is not NOT_GIVEN
    assert session.audio.output.language == "es"
    assert response.invalid_fields == ()


def test_a_translation_request_without_a_model_names_it_and_sends_nothing(
    service: RealtimeSessionService, emu: Emulator
) -> None:
    with pytest.raises(RequestValidationError) as caught:
        service.create_translation_client_secret({"session": {"audio": {"output": {"language": "es"}}}})
    assert caught.value.fields == ["session.model"]
    assert emu.requests == []


ASYNC_CASES = [
    ("create_client_secret", FULL_REQUEST, "/v1/realtime/client_secrets"),
    ("create_client_secret", FULL_TRANSCRIPTION_REQUEST, "/v1/realtime/client_secrets"),
    ("create_translation_client_secret", TRANSLATION_REQUEST, "/v1/realtime/translations/client_secrets"),
    ("create_transcription_session", BETA_TRANSCRIPTION_REQUEST, "/v1/realtime/transcription_sessions"),
    ("create_realtime_session", BETA_REQUEST, "/v1/realtime/client_secrets"),
]


@pytest.mark.parametrize(
    ("operation", "request_body", "path"), ASYNC_CASES, ids=[f"{case[0]}-{i}" for i, case in enumerate(ASYNC_CASES)]
)
def test_each_async_twin_sends_and_answers_like_its_sync_operation(
    service: RealtimeSessionService, emu: Emulator, operation: str, request_body: dict[str, Any], path: str
) -> None:
    synchronous = getattr(service, operation)(request_body)
    awaited = asyncio.run(getattr(service, "a" + operation)(request_body))
    first, second = emu.requests
    assert first.path == second.path == path
    assert first.body == second.body
    assert type(awaited) is type(synchronous)
    assert awaited.invalid_fields == synchronous.invalid_fields == ()
    assert awaited.request_id is not None
    assert awaited.request_id != synchronous.request_id


def test_an_async_validation_error_names_the_path_and_sends_nothing(
    service: RealtimeSessionService, emu: Emulator
) -> None:
    path = "session.audio.input.turn_detection.threshold"
    with pytest.raises(RequestValidationError) as caught:
        asyncio.run(service.acreate_client_secret(with_field(path, -0.1)))
    assert caught.value.fields == [path]
    assert emu.requests == []


# --- the beta transcription endpoint ---------------------------------------------------------------------------


def test_a_beta_transcription_session_is_sent_as_written_and_its_key_lives_expires_at_seconds(
    service: RealtimeSessionService, emu: Emulator
) -> None:
    response = service.create_transcription_session(BETA_TRANSCRIPTION_REQUEST)
    (sent,) = emu.requests
    assert sent.path == "/v1/realtime/transcription_sessions"
    assert sent.body == compact(BETA_TRANSCRIPTION_REQUEST)
    assert isinstance(response, RealtimeTranscriptionSessionCreateResponse)
    assert response.client_secret.value.startswith("ek_")
    assert response.client_secret.expires_at == CREATED + 900
    assert response.object == "realtime.transcription_session"
    assert response.modalities == ("text",)
    assert response.input_audio_format == "g711_alaw"
    assert response.input_audio_transcription == InputAudioTranscription(
        model="gpt-4o-mini-transcribe", language="en", prompt="tech words"
    )
    assert response.invalid_fields == ()


def test_a_beta_transcription_session_without_client_secret_lives_one_minute(
    service: RealtimeSessionService,
) -> None:
    assert service.create_transcription_session({}).client_secret.expires_at == CREATED + 60


def test_a_beta_transcription_session_on_the_retired_api_says_to_mint_through_client_secrets(
    service: RealtimeSessionService, emu: Emulator
) -> None:
    emu.beta_retired = True
    with pytest.raises(BadRequestError) as caught:
        service.create_transcription_session(BETA_TRANSCRIPTION_REQUEST)
    error = caught.value
    assert (error.status_code, error.code) == (400, "beta_api_shape_disabled")
    assert "create_client_secret" in error.message
    assert '"transcription"' in error.message
    assert "api_shape" not in error.message  # api_shape does not apply to this operation
    assert len(emu.requests) == 1  # a 400 is not retried


# --- create_realtime_session bridged to /realtime/client_secrets (api_shape: ga) ----------------------------------


BRIDGE_TABLE: list[tuple[dict[str, Any], dict[str, Any]]] = [
    ({"model": "gpt-realtime"}, {"model": "gpt-realtime"}),
    ({"instructions": "Be brief."}, {"instructions": "Be brief."}),
    ({"tracing": "auto"}, {"tracing": "auto"}),
    ({"tracing": None}, {"tracing": None}),
    (
        {"tracing": {"workflow_name": "w", "metadata": {"k": 1}}},
        {"tracing": {"workflow_name": "w", "metadata": {"k": 1}}},
    ),
    (
        {"tools": [{"type": "function", "name": "f", "description": "d", "parameters": {"type": "object"}}]},
        {"tools": [{"type": "function", "name": "f", "description": "d", "parameters": {"type": "object"}}]},
    ),
    ({"tool_choice": "auto"}, {"tool_choice": "auto"}),
    ({"tool_choice": "none"}, {"tool_choice": "none"}),
    ({"tool_choice": "required"}, {"tool_choice": "required"}),
    ({"tool_choice": "lookup_weather"}, {"tool_choice": {"type": "function", "name": "lookup_weather"}}),
    ({"voice": "cedar"}, {"audio": {"output": {"voice": "cedar"}}}),
    ({"speed": 0.25}, {"audio": {"output": {"speed": 0.25}}}),
    ({"input_audio_format": "pcm16"}, {"audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000}}}}),
    ({"input_audio_format": "g711_ulaw"}, {"audio": {"input": {"format": {"type": "audio/pcmu"}}}}),
    ({"input_audio_format": "g711_alaw"}, {"audio": {"input": {"format": {"type": "audio/pcma"}}}}),
    ({"output_audio_format": "pcm16"}, {"audio": {"output": {"format": {"type": "audio/pcm", "rate": 24000}}}}),
    ({"output_audio_format": "g711_ulaw"}, {"audio": {"output": {"format": {"type": "audio/pcmu"}}}}),
    ({"output_audio_format": "g711_alaw"}, {"audio": {"output": {"format": {"type": "audio/pcma"}}}}),
    (
        {"input_audio_transcription": {"model": "whisper-1", "language": "de", "prompt": "p"}},
        {"audio": {"input": {"transcription": {"model": "whisper-1", "language": "de", "prompt": "p"}}}},
    ),
    ({"input_audio_transcription": None}, {}),  # GA transcription is off unless given, and cannot be null
    (
        {"input_audio_noise_reduction": {"type": "far_field"}},
        {"audio": {"input": {"noise_reduction": {"type": "far_field"}}}},
    ),
    ({"input_audio_noise_reduction": None}, {"audio": {"input": {"noise_reduction": None}}}),
    ({"turn_detection": None}, {"audio": {"input": {"turn_detection": None}}}),
    ({"turn_detection": {}}, {"audio": {"input": {"turn_detection": {"type": "server_vad"}}}}),
    (
        {"turn_detection": {"threshold": 0.7, "silence_duration_ms": 300}},
        {"audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": 0.7, "silence_duration_ms": 300}}}},
    ),
    (
        {"turn_detection": {"type": "semantic_vad", "eagerness": "high", "interrupt_response": True}},
        {
            "audio": {
                "input": {"turn_detection": {"type": "semantic_vad", "eagerness": "high", "interrupt_response": True}}
            }
        },
    ),
    ({"modalities": ["audio", "text"]}, {"output_modalities": ["audio"]}),
    ({"modalities": ["text", "audio"]}, {"output_modalities": ["audio"]}),
    ({"modalities": ["audio"]}, {"output_modalities": ["audio"]}),
    ({"modalities": ["text"]}, {"output_modalities": ["text"]}),
    ({"max_response_output_tokens": 4096}, {"max_output_tokens": 4096}),
    ({"max_response_output_tokens": "inf"}, {"max_output_tokens": "inf"}),
]


@pytest.mark.parametrize(("beta", "ga"), BRIDGE_TABLE, ids=[json.dumps(beta) for beta, _ in BRIDGE_TABLE])
def test_each_beta_field_reaches_the_ga_endpoint_in_its_ga_place(
    service: RealtimeSessionService, emu: Emulator, beta: dict[str, Any], ga: dict[str, Any]
) -> None:
    response = service.create_realtime_session(beta)
    (sent,) = emu.requests
    assert sent.path == "/v1/realtime/client_secrets"
    assert sent.json == ga_session(**ga)
    assert response.client_secret.value.startswith("ek_")
    assert response.invalid_fields == ()


@pytest.mark.parametrize(
    ("beta", "attribute", "expected"),
    [
        ({"voice": "cedar"}, "voice", "cedar"),
        ({"speed": 0.25}, "speed", 0.25),
        ({"input_audio_format": "g711_ulaw"}, "input_audio_format", "g711_ulaw"),
        ({"output_audio_format": "g711_alaw"}, "output_audio_format", "g711_alaw"),
        ({}, "input_audio_format", "pcm16"),
        ({}, "output_audio_format", "pcm16"),
        ({"modalities": ["text", "audio"]}, "modalities", ("audio", "text")),
        ({"modalities": ["audio"]}, "modalities", ("audio", "text")),
        ({}, "modalities", ("audio", "text")),
        ({"modalities": ["text"]}, "modalities", ("text",)),
        ({"tool_choice": "lookup_weather"}, "tool_choice", "lookup_weather"),
        ({"tool_choice": "required"}, "tool_choice", "required"),
        ({"max_response_output_tokens": 77}, "max_response_output_tokens", 77),
        ({}, "max_response_output_tokens", "inf"),
        (
            {"input_audio_transcription": {"model": "whisper-1"}},
            "input_audio_transcription",
            InputAudioTranscription(model="whisper-1"),
        ),
        ({}, "input_audio_transcription", None),
        (
            {"input_audio_noise_reduction": {"type": "far_field"}},
            "input_audio_noise_reduction",
            NoiseReduction(type="far_field"),
        ),
        ({"turn_detection": None}, "turn_detection", None),
        ({"tracing": {"group_id": "g"}}, "tracing", TracingConfig(group_id="g")),
        ({"instructions": "Be brief."}, "instructions", "Be brief."),
        ({"model": "gpt-realtime-mini"}, "model", "gpt-realtime-mini"),
    ],
)
def test_the_ga_answer_reads_back_in_beta_names(
    service: RealtimeSessionService, beta: dict[str, Any], attribute: str, expected: Any
) -> None:
    response = service.create_realtime_session(beta)
    assert isinstance(response, RealtimeSessionCreateResponse)
    assert getattr(response, attribute) == expected
    assert response.invalid_fields == ()


def test_every_bridged_field_at_once_sends_the_table_s_body_and_reads_back(
    service: RealtimeSessionService, emu: Emulator, spec_validators: dict[str, Any]
) -> None:
    response = service.create_realtime_session(BETA_REQUEST)
    (sent,) = emu.requests
    assert sent.json == BRIDGED_REQUEST
    assert spec_errors(spec_validators["request"], sent.json) == []
    assert sent.body == compact(Bridge().to_ga(BETA_CODEC.encode(BETA_REQUEST)))
    assert response.client_secret.value.startswith("ek_")
    assert response.client_secret.expires_at == CREATED + 300
    assert response.id is not NOT_GIVEN
    assert response.id.startswith("sess_")
    assert response.object == "realtime.session"
    assert (response.voice, response.speed) == ("marin", 1.2)
    assert (response.input_audio_format, response.output_audio_format) == ("pcm16", "g711_ulaw")
    assert response.modalities == ("audio", "text")
    assert response.tool_choice == "get_weather"
    assert response.tools == (
        FunctionTool(
            name="get_weather",
            description="Look up the weather.",
            parameters=BETA_REQUEST["tools"][0]["parameters"],
        ),
    )
    assert isinstance(response.turn_detection, TurnDetection)
    assert (response.turn_detection.type, response.turn_detection.threshold) == ("server_vad", 0.6)
    assert response.max_response_output_tokens == 1024
    assert response.temperature is NOT_GIVEN  # GA has none to echo
    assert response.invalid_fields == ()


def test_the_dataclass_and_the_mapping_bridge_to_the_same_body(service: RealtimeSessionService, emu: Emulator) -> None:
    service.create_realtime_session({"voice": "marin", "turn_detection": {"threshold": 0.3}})
    service.create_realtime_session(
        RealtimeSessionCreateRequest(voice="marin", turn_detection=TurnDetection(threshold=0.3))
    )
    first, second = emu.requests
    assert first.body == second.body


@pytest.mark.parametrize(
    ("client_secret", "expires_after", "lifetime"),
    [
        (None, {"anchor": "created_at", "seconds": 60}, 60),
        ({"expires_after": {"anchor": "created_at", "seconds": 7200}}, {"anchor": "created_at", "seconds": 7200}, 7200),
        ({"expires_after": {"anchor": "created_at"}}, {"anchor": "created_at"}, 600),
    ],
)
def test_the_key_lifetime_moves_to_expires_after_and_keeps_the_beta_defaults(
    service: RealtimeSessionService,
    emu: Emulator,
    client_secret: dict[str, Any] | None,
    expires_after: dict[str, Any],
    lifetime: int,
) -> None:
    request = {"voice": "marin"} if client_secret is None else {"voice": "marin", "client_secret": client_secret}
    response = service.create_realtime_session(request)
    (sent,) = emu.requests
    assert sent.json["expires_after"] == expires_after
    assert "client_secret" not in sent.json["session"]
    assert response.client_secret.expires_at == CREATED + lifetime


def test_bridge_default_ttl_sets_the_lifetime_of_a_request_without_client_secret(
    service_for: Callable[..., RealtimeSessionService], emu: Emulator
) -> None:
    response = service_for(bridge={"default_ttl": 180}).create_realtime_session({})
    assert emu.requests[0].json == ga_session({"anchor": "created_at", "seconds": 180})
    assert response.client_secret.expires_at == CREATED + 180


def test_extra_goes_into_the_ga_session(service: RealtimeSessionService, emu: Emulator) -> None:
    request = RealtimeSessionCreateRequest(
        voice="marin", extra={"reasoning": {"effort": "low"}, "truncation": "disabled"}
    )
    response = service.create_realtime_session(request)
    assert emu.requests[0].json == ga_session(
        audio={"output": {"voice": "marin"}}, reasoning={"effort": "low"}, truncation="disabled"
    )
    assert response.to_dict()["client_secret"]["value"] == response.client_secret.value


@pytest.mark.parametrize(
    ("extra", "field"),
    [({"type": "transcription"}, "extra.type"), ({"audio": {"output": {"speed": 1.1}}}, "extra.audio")],
)
def test_an_extra_key_cannot_replace_what_the_typed_fields_set_and_nothing_is_sent(
    service: RealtimeSessionService, emu: Emulator, extra: dict[str, Any], field: str
) -> None:
    with pytest.raises(RequestValidationError) as caught:
        service.create_realtime_session(RealtimeSessionCreateRequest(voice="marin", extra=extra))
    assert caught.value.fields == [field]
    assert emu.requests == []


@pytest.mark.parametrize(
    ("beta", "field"),
    [
        ({"temperature": 0.8}, "temperature"),
        ({"turn_detection": {"eagerness": "low"}}, "turn_detection.eagerness"),
        ({"turn_detection": {"type": "server_vad", "eagerness": "high"}}, "turn_detection.eagerness"),
        ({"turn_detection": {"type": "semantic_vad", "threshold": 0.5}}, "turn_detection.threshold"),
        ({"turn_detection": {"type": "semantic_vad", "prefix_padding_ms": 100}}, "turn_detection.prefix_padding_ms"),
        (
            {"turn_detection": {"type": "semantic_vad", "silence_duration_ms": 100}},
            "turn_detection.silence_duration_ms",
        ),
    ],
)
def test_a_field_with_no_ga_meaning_is_refused_by_its_beta_name_under_strict_and_nothing_is_sent(
    service: RealtimeSessionService, emu: Emulator, beta: dict[str, Any], field: str
) -> None:
    with pytest.raises(RequestValidationError) as caught:
        service.create_realtime_session({"voice": "marin", **beta})
    assert caught.value.fields == [field]
    assert "bridge.strict" in str(caught.value)
    assert emu.requests == []


def test_a_field_with_no_ga_meaning_is_dropped_with_one_warning_when_not_strict(
    service_for: Callable[..., RealtimeSessionService], emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    lenient = service_for(bridge={"strict": False})
    with caplog.at_level(logging.WARNING, logger="realtime_service"):
        response = lenient.create_realtime_session(
            {"voice": "marin", "temperature": 0.9, "turn_detection": {"type": "semantic_vad", "threshold": 0.5}}
        )
    assert emu.requests[0].json == ga_session(
        audio={"input": {"turn_detection": {"type": "semantic_vad"}}, "output": {"voice": "marin"}}
    )
    warnings = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "temperature" in warnings[0].getMessage()
    assert "turn_detection.threshold" in warnings[0].getMessage()
    assert response.client_secret.value.startswith("ek_")


@pytest.mark.parametrize(
    ("beta", "field"),
    [
        ({"turn_detection": {"threshold": 2.0}}, "turn_detection.threshold"),
        ({"speed": 1.6}, "speed"),
        ({"input_audio_format": "pcm24"}, "input_audio_format"),
        (
            {"client_secret": {"expires_after": {"anchor": "created_at", "seconds": 9}}},
            "client_secret.expires_after.seconds",
        ),
        ({"voise": "marin"}, "voise"),
    ],
)
def test_an_invalid_beta_request_names_the_beta_path_and_sends_nothing(
    service: RealtimeSessionService, emu: Emulator, beta: dict[str, Any], field: str
) -> None:
    with pytest.raises(RequestValidationError) as caught:
        service.create_realtime_session(beta)
    assert caught.value.fields == [field]
    assert emu.requests == []


def test_a_bridged_call_mints_on_an_api_that_retired_the_beta_shape(
    service: RealtimeSessionService, emu: Emulator
) -> None:
    emu.beta_retired = True
    response = service.create_realtime_session(BETA_REQUEST)
    assert response.client_secret.value.startswith("ek_")
    assert [request.path for request in emu.requests] == ["/v1/realtime/client_secrets"]


# --- api_shape: beta sends the seed's request unchanged ----------------------------------------------------------


def test_api_shape_beta_sends_the_beta_body_to_sessions_byte_for_byte(
    service_for: Callable[..., RealtimeSessionService], emu: Emulator
) -> None:
    beta = {**BETA_REQUEST, "temperature": 0.7, "turn_detection": {"type": "semantic_vad", "eagerness": "low"}}
    response = service_for(api_shape="beta").create_realtime_session(beta)
    (sent,) = emu.requests
    assert sent.path == "/v1/realtime/sessions"
    assert sent.body == compact(BETA_CODEC.encode(beta))
    assert sent.json == beta
    assert response.temperature == 0.7
    assert response.client_secret.expires_at == CREATED + 300


def test_api_shape_beta_on_the_retired_api_keeps_the_code_and_says_to_use_api_shape_ga(
    service_for: Callable[..., RealtimeSessionService], emu: Emulator
) -> None:
    emu.beta_retired = True
    with pytest.raises(BadRequestError) as caught:
        service_for(api_shape="beta").create_realtime_session({"voice": "marin"})
    error = caught.value
    assert (error.status_code, error.code, error.type) == (400, "beta_api_shape_disabled", "invalid_request_error")
    assert "api_shape: ga" in error.message
    assert error.message.startswith("The Realtime API beta shape has been disabled")
    assert len(emu.requests) == 1


# --- Azure OpenAI ------------------------------------------------------------------------------------------------


def _azure_environ(emulator: Emulator, *, version: str | None = AZURE_VERSION) -> dict[str, str]:
    environ = {"AZURE_OPENAI_API_KEY": emulator.api_key, "AZURE_OPENAI_ENDPOINT": emulator.azure_endpoint}
    if version is not None:
        environ["OPENAI_API_VERSION"] = version
    return environ


@pytest.fixture
def azure_service(
    azure: Emulator, make_service: Callable[..., RealtimeSessionService]
) -> Callable[..., RealtimeSessionService]:
    def make(*, version: str | None = AZURE_VERSION, **config: Any) -> RealtimeSessionService:
        return make_service({"provider": "azure", **config}, _azure_environ(azure, version=version))

    return make


def test_azure_mints_ga_keys_with_the_api_key_header_and_api_version(
    azure_service: Callable[..., RealtimeSessionService], azure: Emulator
) -> None:
    response = azure_service().create_client_secret(FULL_REQUEST)
    (sent,) = azure.requests
    assert (sent.path, sent.query) == ("/openai/v1/realtime/client_secrets", f"api-version={AZURE_VERSION}")
    assert sent.headers["api-key"] == azure.api_key
    assert "authorization" not in sent.headers
    assert sent.body == compact(FULL_REQUEST)
    assert response.value.startswith("ek_")
    assert response.invalid_fields == ()


def test_azure_without_an_api_version_sends_no_query_on_the_v1_surface(
    azure_service: Callable[..., RealtimeSessionService], azure: Emulator
) -> None:
    response = azure_service(version=None).create_client_secret({})
    (sent,) = azure.requests
    assert (sent.path, sent.query) == ("/openai/v1/realtime/client_secrets", "")
    assert response.value.startswith("ek_")


@pytest.mark.parametrize(
    ("operation", "request_body", "path"),
    [
        ("create_translation_client_secret", TRANSLATION_REQUEST, "/openai/v1/realtime/translations/client_secrets"),
        ("create_realtime_session", BETA_REQUEST, "/openai/v1/realtime/client_secrets"),
        ("create_transcription_session", BETA_TRANSCRIPTION_REQUEST, "/openai/realtimeapi/transcription_sessions"),
    ],
)
def test_azure_serves_every_operation_on_its_own_path(
    azure_service: Callable[..., RealtimeSessionService],
    azure: Emulator,
    operation: str,
    request_body: dict[str, Any],
    path: str,
) -> None:
    response = getattr(azure_service(), operation)(request_body)
    (sent,) = azure.requests
    assert (sent.path, sent.query) == (path, f"api-version={AZURE_VERSION}")
    assert sent.headers["api-key"] == azure.api_key
    assert response.invalid_fields == ()


def test_azure_with_api_shape_beta_sends_the_beta_body_to_the_classic_sessions_path(
    azure_service: Callable[..., RealtimeSessionService], azure: Emulator
) -> None:
    response = azure_service(api_shape="beta").create_realtime_session({"voice": "verse", "temperature": 0.9})
    (sent,) = azure.requests
    assert (sent.path, sent.query) == ("/openai/realtimeapi/sessions", f"api-version={AZURE_VERSION}")
    assert sent.json == {"voice": "verse", "temperature": 0.9}
    assert sent.headers["api-key"] == azure.api_key
    assert "authorization" not in sent.headers
    assert (response.voice, response.temperature) == ("verse", 0.9)


@pytest.mark.parametrize(
    ("operation", "config", "path"),
    [
        ("create_realtime_session", {"api_shape": "beta"}, "/openai/realtimeapi/sessions"),
        ("create_transcription_session", {}, "/openai/realtimeapi/transcription_sessions"),
    ],
)
def test_azure_classic_paths_without_an_api_version_are_refused_before_sending(
    azure_service: Callable[..., RealtimeSessionService],
    azure: Emulator,
    operation: str,
    config: dict[str, Any],
    path: str,
) -> None:
    service = azure_service(version=None, **config)
    with pytest.raises(ConfigurationError) as caught:
        getattr(service, operation)({})
    assert str(caught.value) == (
        f"{path} needs an api_version: set the config key 'api_version' or the environment variable "
        "OPENAI_API_VERSION (e.g. 2025-04-01-preview)"
    )
    assert azure.requests == []
    assert service.create_client_secret({}).value.startswith("ek_")  # the v1 surface needs none


def test_explicit_config_wins_over_the_azure_environment(
    azure_service: Callable[..., RealtimeSessionService], azure: Emulator
) -> None:
    azure_service(api_version="2025-08-28").create_client_secret({})
    assert azure.requests[0].query == "api-version=2025-08-28"


def test_auth_scheme_api_key_works_for_provider_openai_too(
    make_service: Callable[..., RealtimeSessionService], azure: Emulator
) -> None:
    """An OpenAI-style client pointed at Azure's v1 surface, authenticating with the api-key header."""
    service = make_service(
        {"api_key": azure.api_key, "base_url": azure.azure_endpoint + "/openai/v1", "auth": {"scheme": "api-key"}}
    )
    response = service.create_client_secret({})
    (sent,) = azure.requests
    assert sent.path == "/openai/v1/realtime/client_secrets"
    assert sent.headers["api-key"] == azure.api_key
    assert "authorization" not in sent.headers
    assert response.value.startswith("ek_")


def test_auth_scheme_bearer_for_azure_sends_authorization_instead_of_api_key(
    azure_service: Callable[..., RealtimeSessionService], azure: Emulator
) -> None:
    """Azure takes a bearer token only from Entra ID, which the emulator does not issue: a 401, not retried."""
    with pytest.raises(AuthenticationError):
        azure_service(auth={"scheme": "bearer"}).create_client_secret({})
    (sent,) = azure.requests
    assert sent.headers["authorization"] == f"Bearer {azure.api_key}"
    assert "api-key" not in sent.headers


# --- the client's schemas, the emulator and the published spec agree ----------------------------------------------


@pytest.fixture(scope="module")
def property_services(shared_emulator: Emulator) -> Iterator[dict[str, RealtimeSessionService]]:
    """Services on the shared emulator for hypothesis (function-scoped fixtures are not reset between examples):
    the default config, and the bridge with ``strict: false``. No retries: every example is one request."""
    base = {"api_key": shared_emulator.api_key, "base_url": shared_emulator.base_url, "retry": {"max_retries": 0}}
    containers = {"strict": _container(base), "lenient": _container({**base, "bridge": {"strict": False}})}
    yield {name: container.realtime_session_service() for name, container in containers.items()}
    for container in containers.values():
        container.shutdown_resources()


def _only_request(emulator: Emulator) -> Any:
    (sent,) = emulator.requests
    assert sent.path == "/v1/realtime/client_secrets"
    return sent.json


@PROPERTY
@given(body=valid_requests)
def test_every_request_our_ga_schema_accepts_is_accepted_by_the_emulator_and_the_spec(
    shared_emulator: Emulator,
    property_services: dict[str, RealtimeSessionService],
    spec_validators: dict[str, Any],
    body: dict[str, Any],
) -> None:
    _reset(shared_emulator)
    response = property_services["strict"].create_client_secret(body)
    sent = _only_request(shared_emulator)
    assert sent == GA_CODEC.encode(body)
    assert spec_errors(spec_validators["request"], sent) == []
    assert response.value.startswith("ek_")
    assert response.invalid_fields == ()


#: Beta fields each VAD type has no GA use for (the bridge refuses them under ``bridge.strict``).
_LOSSY_VAD_FIELDS = {
    "server_vad": ("eagerness",),
    "semantic_vad": ("threshold", "prefix_padding_ms", "silence_duration_ms"),
}


def _without_lossy_fields(beta: dict[str, Any]) -> dict[str, Any]:
    beta = copy.deepcopy(beta)
    beta.pop("temperature", None)
    detection = beta.get("turn_detection")
    if isinstance(detection, dict):
        for name in _LOSSY_VAD_FIELDS[detection.get("type", "server_vad")]:
            detection.pop(name, None)
    return beta


@PROPERTY
@given(beta=valid_beta_requests.map(_without_lossy_fields))
def test_every_valid_beta_request_with_a_ga_meaning_bridges_to_a_request_the_emulator_and_spec_accept(
    shared_emulator: Emulator,
    property_services: dict[str, RealtimeSessionService],
    spec_validators: dict[str, Any],
    beta: dict[str, Any],
) -> None:
    _reset(shared_emulator)
    response = property_services["strict"].create_realtime_session(beta)
    sent = _only_request(shared_emulator)
    assert sent == Bridge().to_ga(BETA_CODEC.encode(beta))
    assert spec_errors(spec_validators["request"], sent) == []
    assert response.client_secret.value.startswith("ek_")
    assert response.invalid_fields == ()


@PROPERTY
@given(beta=valid_beta_requests)
def test_every_valid_beta_request_bridges_leniently_to_a_request_the_emulator_and_spec_accept(
    shared_emulator: Emulator,
    property_services: dict[str, RealtimeSessionService],
    spec_validators: dict[str, Any],
    beta: dict[str, Any],
) -> None:
    _reset(shared_emulator)
    response = property_services["lenient"].create_realtime_session(beta)
    sent = _only_request(shared_emulator)
    assert "temperature" not in sent["session"]
    assert spec_errors(spec_validators["request"], sent) == []
    assert response.client_secret.value.startswith("ek_")


@PROPERTY
@given(beta=st.fixed_dictionaries({}, optional={"modalities": BETA_FIELDS["modalities"]}))
def test_any_beta_modalities_bridge_to_at_most_one_ga_output_modality(
    shared_emulator: Emulator, property_services: dict[str, RealtimeSessionService], beta: dict[str, Any]
) -> None:
    _reset(shared_emulator)
    response = property_services["strict"].create_realtime_session(beta)
    sent = _only_request(shared_emulator)["session"]
    if "modalities" in beta:
        assert set(sent["output_modalities"]) == (
            {"audio"} if "audio" in beta["modalities"] else set(beta["modalities"])
        )
        assert len(sent["output_modalities"]) <= 1
    assert response.modalities in (("audio", "text"), ("text",), ())


def _emulator_param(path: str) -> str:
    """Our dotted path in the API's notation: ``session.tools.1.bogus`` -> ``session.tools[1].bogus``."""
    return re.sub(r"\.(\d+)", r"[\1]", path)


@pytest.mark.parametrize("path", [path for path in UNKNOWN_NESTED if path not in SPEC_CLOSED])
def test_an_unknown_field_the_spec_would_allow_is_refused_by_us_and_by_the_emulator(
    service: RealtimeSessionService, emu: Emulator, spec_validators: dict[str, Any], path: str
) -> None:
    body = with_field(path, 1)
    assert spec_errors(spec_validators["request"], body) == []  # most GA schemas leave additionalProperties open
    with pytest.raises(RequestValidationError) as caught:
        service.create_client_secret(body)
    assert caught.value.fields == [path]
    assert emu.requests == []
    with requests.Session() as raw:
        raw.trust_env = False
        answer = raw.post(
            emu.base_url + "/realtime/client_secrets",
            json=body,
            headers={"Authorization": f"Bearer {emu.api_key}"},
            timeout=10,
        )
    assert answer.status_code == 400
    assert (answer.json()["error"]["code"], answer.json()["error"]["param"]) == (
        "unknown_parameter",
        _emulator_param(path),
    )
