"""The emulator's GA and later endpoints over real loopback sockets: client secrets (realtime and transcription
sessions), translation client secrets, beta transcription sessions, and the Azure OpenAI mode."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from realtime_service.emulator import Emulator

NOW = 1_700_000_000.7
CREATED = int(NOW)
CLIENT_SECRETS = "/realtime/client_secrets"
TRANSLATIONS = "/realtime/translations/client_secrets"
TRANSCRIPTION_SESSIONS = "/realtime/transcription_sessions"
TUNNEL_ID = "tunnel_" + "0123456789abcdef" * 2
ROOT = Path(__file__).resolve().parents[1]


# fixtures and helpers


def _reset(emulator: Emulator) -> None:
    emulator.clear()
    emulator.beta_retired = False


def _fresh(emulator: Emulator) -> Iterator[Emulator]:
    """A shared emulator with no recorded requests, no pending faults and the beta shape on, before and after."""
    _reset(emulator)
    yield emulator
    _reset(emulator)


@pytest.fixture(scope="module")
def shared_emulator() -> Iterator[Emulator]:
    with Emulator(clock=lambda: NOW) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def shared_azure() -> Iterator[Emulator]:
    with Emulator(clock=lambda: NOW, azure=True) as emulator:
        yield emulator


@pytest.fixture
def emu(shared_emulator: Emulator) -> Iterator[Emulator]:
    yield from _fresh(shared_emulator)


@pytest.fixture
def azure(shared_azure: Emulator) -> Iterator[Emulator]:
    yield from _fresh(shared_azure)


@pytest.fixture
def client() -> Iterator[requests.Session]:
    session = requests.Session()
    session.trust_env = False
    yield session
    session.close()


def post(client: requests.Session, emu: Emulator, path: str, body: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {emu.api_key}"}
    return client.post(emu.base_url + path, json=body, headers=headers, timeout=10, allow_redirects=False)


def mint(client: requests.Session, emu: Emulator, body: Any) -> dict[str, Any]:
    response = post(client, emu, CLIENT_SECRETS, body)
    assert response.status_code == 200, response.text
    payload: dict[str, Any] = response.json()
    return payload


def realtime(client: requests.Session, emu: Emulator, **session: Any) -> dict[str, Any]:
    """The session answered for a realtime ``session`` with these fields."""
    answered: dict[str, Any] = mint(client, emu, {"session": {"type": "realtime", **session}})["session"]
    return answered


def error_of(response: requests.Response) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    payload = response.json()
    assert set(payload) == {"error"}
    assert set(payload["error"]) == {"message", "type", "param", "code"}
    assert payload["error"]["type"] == "invalid_request_error"
    error: dict[str, Any] = payload["error"]
    return error


def azure_post(
    client: requests.Session, emu: Emulator, path: str, body: Any = None, *, headers: dict[str, str] | None = None
) -> requests.Response:
    sent = {"api-key": emu.api_key} if headers is None else headers
    return client.post(emu.azure_endpoint + path, json={} if body is None else body, headers=sent, timeout=10)


# /realtime/client_secrets: the answer


def test_an_empty_request_mints_a_realtime_session_with_the_ga_defaults(
    emu: Emulator, client: requests.Session
) -> None:
    answer = mint(client, emu, {})
    assert answer["value"].startswith("ek_")
    assert len(answer["value"]) >= len("ek_") + 32
    assert answer["expires_at"] == CREATED + 600
    session = answer["session"]
    assert (session["type"], session["object"]) == ("realtime", "realtime.session")
    assert session["id"].startswith("sess_")
    assert len(session["id"]) > len("sess_") + 16
    assert session["expires_at"] == answer["expires_at"]
    assert session["model"] == "gpt-realtime"
    assert session["output_modalities"] == ["audio"]
    assert session["instructions"]
    pcm = {"type": "audio/pcm", "rate": 24000}
    assert session["audio"] == {
        "input": {
            "format": pcm,
            "transcription": None,
            "noise_reduction": None,
            "turn_detection": {
                "type": "server_vad",
                "threshold": 0.5,
                "prefix_padding_ms": 300,
                "silence_duration_ms": 500,
                "idle_timeout_ms": None,
                "create_response": True,
                "interrupt_response": True,
            },
        },
        "output": {"format": pcm, "voice": "alloy", "speed": 1.0},
    }
    assert session["include"] is None
    assert session["tracing"] is None
    assert session["tools"] == []
    assert session["tool_choice"] == "auto"
    assert session["max_output_tokens"] == "inf"
    assert session["truncation"] == "auto"
    assert session["prompt"] is None
    assert "reasoning" not in session
    assert "parallel_tool_calls" not in session
    assert "client_secret" not in session


def test_a_session_of_type_realtime_alone_gets_the_same_defaults(emu: Emulator, client: requests.Session) -> None:
    session = realtime(client, emu)
    assert (session["model"], session["output_modalities"]) == ("gpt-realtime", ["audio"])


def test_each_secret_and_session_id_is_fresh(emu: Emulator, client: requests.Session) -> None:
    first, second = mint(client, emu, {}), mint(client, emu, {})
    assert first["value"] != second["value"]
    assert first["session"]["id"] != second["session"]["id"]


@pytest.mark.parametrize(
    ("expires_after", "ttl"),
    [
        (None, 600),
        ({}, 600),
        ({"anchor": "created_at"}, 600),
        ({"seconds": 10}, 10),
        ({"anchor": "created_at", "seconds": 7200}, 7200),
        ({"anchor": "created_at", "seconds": 1234}, 1234),
    ],
)
def test_the_secret_lives_expires_after_seconds_600_by_default(
    emu: Emulator, client: requests.Session, expires_after: dict[str, Any] | None, ttl: int
) -> None:
    body = {} if expires_after is None else {"expires_after": expires_after}
    answer = mint(client, emu, body)
    assert answer["expires_at"] == CREATED + ttl
    assert answer["session"]["expires_at"] == CREATED + ttl


def test_the_requested_realtime_settings_are_echoed(emu: Emulator, client: requests.Session) -> None:
    function_tool = {"type": "function", "name": "lookup", "description": "d", "parameters": {"type": "object"}}
    settings: dict[str, Any] = {
        "model": "gpt-realtime-2",
        "output_modalities": ["text"],
        "instructions": "Be brief.",
        "include": ["item.input_audio_transcription.logprobs"],
        "tracing": {"workflow_name": "w", "group_id": "g", "metadata": {"k": "v"}},
        "tools": [function_tool],
        "tool_choice": {"type": "function", "name": "lookup"},
        "max_output_tokens": 200,
        "truncation": {"type": "retention_ratio", "retention_ratio": 0.8, "token_limits": {"post_instructions": 5}},
        "prompt": {"id": "pmpt_1", "version": None, "variables": {"city": "Paris"}},
        "reasoning": {"effort": "high"},
    }
    audio = {
        "input": {
            "format": {"type": "audio/pcmu"},
            "transcription": {"model": "gpt-4o-transcribe", "language": "en", "prompt": "p"},
            "noise_reduction": {"type": "far_field"},
            "turn_detection": None,
        },
        "output": {"format": {"type": "audio/pcma"}, "voice": "marin", "speed": 1.25},
    }
    session = realtime(client, emu, **settings, audio=audio, parallel_tool_calls=True)
    for field, value in settings.items():
        assert session[field] == value, field
    assert session["audio"] == audio
    assert "parallel_tool_calls" not in session


def test_a_turn_detection_gets_its_types_defaults(emu: Emulator, client: requests.Session) -> None:
    audio = {"input": {"turn_detection": {"type": "semantic_vad", "eagerness": "high"}}}
    detection = realtime(client, emu, audio=audio)["audio"]["input"]["turn_detection"]
    assert detection == {
        "type": "semantic_vad",
        "eagerness": "high",
        "create_response": True,
        "interrupt_response": True,
    }


def test_a_pcm_format_without_a_rate_or_type_is_echoed_as_24khz_pcm(emu: Emulator, client: requests.Session) -> None:
    session = realtime(client, emu, audio={"input": {"format": {"type": "audio/pcm"}}, "output": {"format": {}}})
    assert session["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
    assert session["audio"]["output"]["format"] == {"type": "audio/pcm", "rate": 24000}


def test_a_custom_voice_object_is_echoed_as_its_id(emu: Emulator, client: requests.Session) -> None:
    session = realtime(client, emu, audio={"output": {"voice": {"id": "voice_1234"}}})
    assert session["audio"]["output"]["voice"] == "voice_1234"


def test_transcription_keywords_and_delay_are_not_echoed(emu: Emulator, client: requests.Session) -> None:
    transcription = {"model": "gpt-transcribe", "languages": ["en", "fr"], "keywords": ["Kubernetes"], "delay": "low"}
    session = realtime(client, emu, audio={"input": {"transcription": transcription}})
    assert session["audio"]["input"]["transcription"] == {"model": "gpt-transcribe", "languages": ["en", "fr"]}


def test_reasoning_without_an_effort_is_echoed_with_the_default_low(emu: Emulator, client: requests.Session) -> None:
    assert realtime(client, emu, reasoning={})["reasoning"] == {"effort": "low"}


def test_an_mcp_tools_authorization_is_never_echoed(emu: Emulator, client: requests.Session) -> None:
    token = "oauth-token-that-must-stay-secret-0123"
    tool = {
        "type": "mcp",
        "server_label": "crm",
        "server_url": "https://mcp.example.com/sse",
        "authorization": token,
        "headers": {"X-Tenant": "t1"},
        "require_approval": "never",
    }
    response = post(client, emu, CLIENT_SECRETS, {"session": {"type": "realtime", "tools": [tool]}})
    assert response.status_code == 200
    assert token not in response.text
    echoed = response.json()["session"]["tools"][0]
    assert echoed == {key: value for key, value in tool.items() if key != "authorization"}


def test_a_function_tool_without_a_type_is_a_function_tool(emu: Emulator, client: requests.Session) -> None:
    tools = realtime(client, emu, tools=[{"name": "lookup"}])["tools"]
    assert tools == [{"type": "function", "name": "lookup"}]


def test_a_transcription_session_has_its_own_object_and_only_input_audio(
    emu: Emulator, client: requests.Session
) -> None:
    body = {
        "expires_after": {"seconds": 120},
        "session": {
            "type": "transcription",
            "include": ["item.input_audio_transcription.logprobs"],
            "audio": {
                "input": {
                    "format": {"type": "audio/pcmu"},
                    "transcription": {"model": "gpt-4o-transcribe", "prompt": "tech", "delay": "low"},
                    "noise_reduction": {"type": "near_field"},
                    "turn_detection": {"type": "server_vad", "threshold": 0.7, "idle_timeout_ms": 6000},
                }
            },
        },
    }
    answer = mint(client, emu, body)
    session = answer["session"]
    assert answer["expires_at"] == session["expires_at"] == CREATED + 120
    assert (session["type"], session["object"]) == ("transcription", "realtime.transcription_session")
    assert session["id"].startswith("sess_")
    assert set(session) == {"type", "object", "id", "expires_at", "include", "audio"}
    assert session["include"] == ["item.input_audio_transcription.logprobs"]
    assert session["audio"] == {
        "input": {
            "format": {"type": "audio/pcmu"},
            "transcription": {"model": "gpt-4o-transcribe", "prompt": "tech"},
            "noise_reduction": {"type": "near_field"},
            "turn_detection": {
                "type": "server_vad",
                "threshold": 0.7,
                "prefix_padding_ms": 300,
                "silence_duration_ms": 500,
            },
        }
    }


def test_a_default_transcription_session_answers_server_vad_and_pcm(emu: Emulator, client: requests.Session) -> None:
    session = mint(client, emu, {"session": {"type": "transcription"}})["session"]
    assert session["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
    assert session["audio"]["input"]["turn_detection"]["type"] == "server_vad"
    assert session["include"] is None


# /realtime/client_secrets: validation


@pytest.mark.parametrize(
    "session",
    [
        {"expires_after": {"anchor": "created_at", "seconds": 10}},
        {"expires_after": {"seconds": 7200}},
        {"session": {"type": "realtime", "model": "my-own-fine-tune"}},
        {"session": {"type": "realtime", "audio": {"output": {"speed": 0.25}}}},
        {"session": {"type": "realtime", "audio": {"output": {"speed": 1.5}}}},
        {
            "session": {
                "type": "realtime",
                "audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": 0}}},
            }
        },
        {
            "session": {
                "type": "realtime",
                "audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": 1}}},
            }
        },
        {
            "session": {
                "type": "realtime",
                "audio": {"input": {"turn_detection": {"type": "server_vad", "idle_timeout_ms": 5000}}},
            }
        },
        {
            "session": {
                "type": "realtime",
                "audio": {"input": {"turn_detection": {"type": "server_vad", "idle_timeout_ms": 30000}}},
            }
        },
        {
            "session": {
                "type": "realtime",
                "audio": {"input": {"turn_detection": {"type": "server_vad", "idle_timeout_ms": None}}},
            }
        },
        {"session": {"type": "realtime", "audio": {"input": {"transcription": None, "noise_reduction": None}}}},
        {"session": {"type": "realtime", "max_output_tokens": 1}},
        {"session": {"type": "realtime", "max_output_tokens": 4096}},
        {"session": {"type": "realtime", "truncation": {"type": "retention_ratio", "retention_ratio": 0}}},
        {"session": {"type": "realtime", "truncation": {"type": "retention_ratio", "retention_ratio": 1}}},
        {"session": {"type": "realtime", "truncation": "disabled"}},
        {"session": {"type": "realtime", "tracing": None, "prompt": None}},
        {"session": {"type": "realtime", "tracing": "auto"}},
        {"session": {"type": "realtime", "tool_choice": {"type": "mcp", "server_label": "crm", "name": None}}},
        {"session": {"type": "realtime", "tools": [{"type": "mcp", "server_label": "t", "tunnel_id": TUNNEL_ID}]}},
        {
            "session": {
                "type": "realtime",
                "tools": [{"type": "mcp", "server_label": "c", "connector_id": "connector_gmail"}],
            }
        },
        {
            "session": {
                "type": "realtime",
                "tools": [{"type": "mcp", "server_label": "c", "allowed_callers": ["direct"]}],
            }
        },
        {
            "session": {
                "type": "realtime",
                "tools": [{"type": "mcp", "server_label": "c", "allowed_tools": {"read_only": True}}],
            }
        },
        {"session": {"type": "realtime", "tools": [{"type": "mcp", "server_label": "c", "headers": None}]}},
        {
            "session": {
                "type": "realtime",
                "prompt": {"id": "p", "variables": {"a": {"type": "input_text", "text": "t"}}},
            }
        },
        {
            "session": {
                "type": "realtime",
                "prompt": {"id": "p", "variables": {"a": {"type": "input_image", "detail": "auto"}}},
            }
        },
        {"session": {"type": "realtime", "audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000}}}}},
    ],
)
def test_values_on_the_edges_and_every_union_branch_are_accepted(
    emu: Emulator, client: requests.Session, session: dict[str, Any]
) -> None:
    response = post(client, emu, CLIENT_SECRETS, session)
    assert response.status_code == 200, response.text


def _rt(**fields: Any) -> dict[str, Any]:
    return {"session": {"type": "realtime", **fields}}


def _audio_in(**fields: Any) -> dict[str, Any]:
    return _rt(audio={"input": fields})


def _vad(**fields: Any) -> dict[str, Any]:
    return _audio_in(turn_detection=fields)


def _mcp(**fields: Any) -> dict[str, Any]:
    return _rt(tools=[{"type": "mcp", "server_label": "crm", **fields}])


TD = "session.audio.input.turn_detection"
TOOL = "session.tools[0]"


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        # the session union
        ({"session": {"type": "conversation"}}, "session.type", "invalid_value"),
        ({"session": {}}, "session.type", "missing_required_parameter"),
        ({"session": {"model": "gpt-realtime"}}, "session.type", "missing_required_parameter"),
        ({"session": {"type": 1}}, "session.type", "invalid_type"),
        ({"session": None}, "session", "invalid_type"),
        ({"session": "realtime"}, "session", "invalid_type"),
        # unknown parameters, top-level and nested, beta names included
        ({"expires_at": {"seconds": 60}}, "expires_at", "unknown_parameter"),
        ({"expires_after": {"secs": 60}}, "expires_after.secs", "unknown_parameter"),
        (_rt(temperature=0.8), "session.temperature", "unknown_parameter"),
        (_rt(modalities=["text"]), "session.modalities", "unknown_parameter"),
        (_rt(voice="alloy"), "session.voice", "unknown_parameter"),
        (_rt(audio={"input": {"sample_rate": 1}}), "session.audio.input.sample_rate", "unknown_parameter"),
        ({"session": {"type": "transcription", "model": "x"}}, "session.model", "unknown_parameter"),
        ({"session": {"type": "transcription", "audio": {"output": {}}}}, "session.audio.output", "unknown_parameter"),
        # expiry
        ({"expires_after": {"seconds": 9}}, "expires_after.seconds", "invalid_value"),
        ({"expires_after": {"seconds": 7201}}, "expires_after.seconds", "invalid_value"),
        ({"expires_after": {"seconds": True}}, "expires_after.seconds", "invalid_type"),
        ({"expires_after": {"seconds": 60.0}}, "expires_after.seconds", "invalid_type"),
        ({"expires_after": {"anchor": "now"}}, "expires_after.anchor", "invalid_value"),
        # modalities, model, instructions
        (_rt(output_modalities=["video"]), "session.output_modalities[0]", "invalid_value"),
        (_rt(output_modalities=["text", "audio"]), "session.output_modalities", "array_above_max_length"),
        (_rt(model=None), "session.model", "invalid_type"),
        (_rt(instructions=["a"]), "session.instructions", "invalid_type"),
        # audio formats
        (_audio_in(format={"type": "audio/wav"}), "session.audio.input.format.type", "invalid_value"),
        (_audio_in(format={"type": "audio/pcm", "rate": 16000}), "session.audio.input.format.rate", "invalid_value"),
        (_audio_in(format={"type": "audio/pcm", "rate": True}), "session.audio.input.format.rate", "invalid_type"),
        (
            _audio_in(format={"type": "audio/pcmu", "rate": 8000}),
            "session.audio.input.format.rate",
            "unknown_parameter",
        ),
        (_audio_in(format="pcm16"), "session.audio.input.format", "invalid_type"),
        # transcription and noise reduction
        (_audio_in(transcription={"model": 1}), "session.audio.input.transcription.model", "invalid_type"),
        (_audio_in(transcription={"languages": []}), "session.audio.input.transcription.languages", "empty_array"),
        (_audio_in(transcription={"keywords": "k"}), "session.audio.input.transcription.keywords", "invalid_type"),
        (_audio_in(transcription={"delay": "slow"}), "session.audio.input.transcription.delay", "invalid_value"),
        (_audio_in(transcription={"lang": "en"}), "session.audio.input.transcription.lang", "unknown_parameter"),
        (_audio_in(noise_reduction={"type": "mid_field"}), "session.audio.input.noise_reduction.type", "invalid_value"),
        # turn detection: a union on type
        (_vad(threshold=0.5), f"{TD}.type", "missing_required_parameter"),
        (_vad(type="push_to_talk"), f"{TD}.type", "invalid_value"),
        (_vad(type="server_vad", eagerness="low"), f"{TD}.eagerness", "unknown_parameter"),
        (_vad(type="semantic_vad", idle_timeout_ms=6000), f"{TD}.idle_timeout_ms", "unknown_parameter"),
        (_vad(type="semantic_vad", eagerness="eager"), f"{TD}.eagerness", "invalid_value"),
        (_vad(type="server_vad", idle_timeout_ms=4999), f"{TD}.idle_timeout_ms", "invalid_value"),
        (_vad(type="server_vad", idle_timeout_ms=30001), f"{TD}.idle_timeout_ms", "invalid_value"),
        (_vad(type="server_vad", threshold=1.01), f"{TD}.threshold", "invalid_value"),
        (_vad(type="server_vad", threshold=True), f"{TD}.threshold", "invalid_type"),
        (_vad(type="server_vad", create_response=1), f"{TD}.create_response", "invalid_type"),
        (_vad(type="server_vad", prefix_padding_ms=300.0), f"{TD}.prefix_padding_ms", "invalid_type"),
        (_audio_in(turn_detection="server_vad"), TD, "invalid_type"),
        # output audio
        (_rt(audio={"output": {"voice": 3}}), "session.audio.output.voice", "invalid_type"),
        (_rt(audio={"output": {"voice": {}}}), "session.audio.output.voice.id", "missing_required_parameter"),
        (_rt(audio={"output": {"voice": {"name": "x"}}}), "session.audio.output.voice.name", "unknown_parameter"),
        (_rt(audio={"output": {"speed": 0.24}}), "session.audio.output.speed", "invalid_value"),
        (_rt(audio={"output": {"speed": 1.51}}), "session.audio.output.speed", "invalid_value"),
        (_rt(audio={"output": {"speed": False}}), "session.audio.output.speed", "invalid_type"),
        # include and tracing
        (_rt(include=["item.logprobs"]), "session.include[0]", "invalid_value"),
        (_rt(tracing="manual"), "session.tracing", "invalid_value"),
        (_rt(tracing=True), "session.tracing", "invalid_type"),
        (_rt(tracing={"workflow": "w"}), "session.tracing.workflow", "unknown_parameter"),
        # tools: a union on type, function by default
        (_rt(tools=[{"type": "web_search"}]), f"{TOOL}.type", "invalid_value"),
        (_rt(tools=[{"type": "mcp"}]), f"{TOOL}.server_label", "missing_required_parameter"),
        (_rt(tools=[{"name": "f", "strict": True}]), f"{TOOL}.strict", "unknown_parameter"),
        (_rt(tools=[{"type": "function", "server_label": "x"}]), f"{TOOL}.server_label", "unknown_parameter"),
        (_rt(tools=[{"type": "function", "parameters": "{}"}]), f"{TOOL}.parameters", "invalid_type"),
        (_mcp(connector_id="connector_slack"), f"{TOOL}.connector_id", "invalid_value"),
        (_mcp(tunnel_id="tunnel_ABC"), f"{TOOL}.tunnel_id", "invalid_value"),
        (_mcp(server_url="not a url"), f"{TOOL}.server_url", "invalid_value"),
        (_mcp(authorization=123), f"{TOOL}.authorization", "invalid_type"),
        (_mcp(headers={"X-Tenant": 1}), f"{TOOL}.headers.X-Tenant", "invalid_type"),
        (_mcp(allowed_callers=[]), f"{TOOL}.allowed_callers", "empty_array"),
        (_mcp(allowed_callers=["human"]), f"{TOOL}.allowed_callers[0]", "invalid_value"),
        (_mcp(allowed_tools=3), f"{TOOL}.allowed_tools", "invalid_type"),
        (_mcp(allowed_tools={"names": ["a"]}), f"{TOOL}.allowed_tools.names", "unknown_parameter"),
        (_mcp(require_approval="sometimes"), f"{TOOL}.require_approval", "invalid_value"),
        (
            _mcp(require_approval={"always": {"tool_names": "a"}}),
            f"{TOOL}.require_approval.always.tool_names",
            "invalid_type",
        ),
        (_mcp(defer_loading="yes"), f"{TOOL}.defer_loading", "invalid_type"),
        # tool choice, parallel calls, reasoning
        (_rt(tool_choice="any"), "session.tool_choice", "invalid_value"),
        (_rt(tool_choice=1), "session.tool_choice", "invalid_type"),
        (_rt(tool_choice={"type": "function"}), "session.tool_choice.name", "missing_required_parameter"),
        (_rt(tool_choice={"type": "mcp"}), "session.tool_choice.server_label", "missing_required_parameter"),
        (_rt(tool_choice={"type": "file_search"}), "session.tool_choice.type", "invalid_value"),
        (_rt(tool_choice={"name": "f"}), "session.tool_choice.type", "missing_required_parameter"),
        (_rt(parallel_tool_calls=1), "session.parallel_tool_calls", "invalid_type"),
        (_rt(parallel_tool_calls="true"), "session.parallel_tool_calls", "invalid_type"),
        (_rt(reasoning={"effort": "max"}), "session.reasoning.effort", "invalid_value"),
        # max output tokens and truncation
        (_rt(max_output_tokens=0), "session.max_output_tokens", "invalid_value"),
        (_rt(max_output_tokens=4097), "session.max_output_tokens", "invalid_value"),
        (_rt(max_output_tokens=True), "session.max_output_tokens", "invalid_type"),
        (_rt(max_output_tokens="infinite"), "session.max_output_tokens", "invalid_value"),
        (_rt(truncation="none"), "session.truncation", "invalid_value"),
        (
            _rt(truncation={"type": "retention_ratio"}),
            "session.truncation.retention_ratio",
            "missing_required_parameter",
        ),
        (_rt(truncation={"type": "last_n", "retention_ratio": 0.5}), "session.truncation.type", "invalid_value"),
        (
            _rt(truncation={"type": "retention_ratio", "retention_ratio": 1.01}),
            "session.truncation.retention_ratio",
            "invalid_value",
        ),
        (
            _rt(
                truncation={
                    "type": "retention_ratio",
                    "retention_ratio": 0.5,
                    "token_limits": {"post_instructions": -1},
                }
            ),
            "session.truncation.token_limits.post_instructions",
            "invalid_value",
        ),
        # prompt
        (_rt(prompt={}), "session.prompt.id", "missing_required_parameter"),
        (_rt(prompt={"id": "p", "version": 2}), "session.prompt.version", "invalid_type"),
        (_rt(prompt={"id": "p", "variables": {"city": 1}}), "session.prompt.variables.city", "invalid_type"),
        (
            _rt(prompt={"id": "p", "variables": {"img": {"type": "input_image"}}}),
            "session.prompt.variables.img.detail",
            "missing_required_parameter",
        ),
        (
            _rt(prompt={"id": "p", "variables": {"doc": {"type": "input_file", "file_url": "nope"}}}),
            "session.prompt.variables.doc.file_url",
            "invalid_value",
        ),
    ],
)
def test_an_invalid_client_secret_request_is_a_400_naming_the_param(
    emu: Emulator, client: requests.Session, body: dict[str, Any], param: str, code: str
) -> None:
    error = error_of(post(client, emu, CLIENT_SECRETS, body))
    assert (error["param"], error["code"]) == (param, code), error["message"]


def test_an_unknown_session_type_lists_the_supported_ones(emu: Emulator, client: requests.Session) -> None:
    error = error_of(post(client, emu, CLIENT_SECRETS, {"session": {"type": "translation"}}))
    assert error["message"] == "Invalid value: 'translation'. Supported values are: 'realtime' and 'transcription'."


def test_a_missing_session_type_is_named_in_the_message(emu: Emulator, client: requests.Session) -> None:
    error = error_of(post(client, emu, CLIENT_SECRETS, {"session": {}}))
    assert error["message"] == "Missing required parameter: 'session.type'."


def test_a_bad_pcm_rate_names_the_only_supported_rate(emu: Emulator, client: requests.Session) -> None:
    error = error_of(post(client, emu, CLIENT_SECRETS, _audio_in(format={"type": "audio/pcm", "rate": 16000})))
    assert error["message"] == "Invalid value: 16000. Supported values are: 24000."


def test_a_tunnel_id_error_quotes_the_pattern(emu: Emulator, client: requests.Session) -> None:
    error = error_of(post(client, emu, CLIENT_SECRETS, _mcp(tunnel_id="tunnel_ABC")))
    assert "^tunnel_[a-z0-9]{32}$" in error["message"]


def test_an_invalid_client_secret_request_mints_nothing(emu: Emulator, client: requests.Session) -> None:
    response = post(client, emu, CLIENT_SECRETS, _rt(temperature=0.8))
    assert response.status_code == 400
    assert "ek_" not in response.text
    assert len(emu.requests) == 1


# /realtime/translations/client_secrets


def test_a_translation_secret_has_a_translation_session(emu: Emulator, client: requests.Session) -> None:
    audio = {
        "input": {"transcription": {"model": "gpt-realtime-whisper"}, "noise_reduction": {"type": "near_field"}},
        "output": {"language": "fr"},
    }
    body = {
        "expires_after": {"anchor": "created_at", "seconds": 300},
        "session": {"model": "gpt-realtime-translate", "audio": audio},
    }
    response = post(client, emu, TRANSLATIONS, body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert set(answer) == {"value", "expires_at", "session"}
    assert answer["value"].startswith("ek_")
    assert answer["expires_at"] == CREATED + 300
    session = answer["session"]
    assert set(session) == {"id", "type", "expires_at", "model", "audio"}
    assert session["id"].startswith("sess_")
    assert (session["type"], session["model"], session["expires_at"]) == (
        "translation",
        "gpt-realtime-translate",
        CREATED + 300,
    )
    assert session["audio"] == audio


def test_a_translation_secret_lives_600_seconds_by_default(emu: Emulator, client: requests.Session) -> None:
    answer = post(client, emu, TRANSLATIONS, {"session": {"model": "gpt-realtime-translate"}}).json()
    assert answer["expires_at"] == answer["session"]["expires_at"] == CREATED + 600
    assert answer["session"]["audio"] == {
        "input": {"transcription": None, "noise_reduction": None},
        "output": {"language": None},
    }


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({}, "session", "missing_required_parameter"),
        ({"session": {}}, "session.model", "missing_required_parameter"),
        ({"session": {"model": 1}}, "session.model", "invalid_type"),
        ({"session": {"model": "m", "type": "translation"}}, "session.type", "unknown_parameter"),
        (
            {"session": {"model": "m", "audio": {"output": {"lang": "fr"}}}},
            "session.audio.output.lang",
            "unknown_parameter",
        ),
        (
            {"session": {"model": "m", "audio": {"output": {"language": None}}}},
            "session.audio.output.language",
            "invalid_type",
        ),
        (
            {"session": {"model": "m", "audio": {"input": {"transcription": {"model": True}}}}},
            "session.audio.input.transcription.model",
            "invalid_type",
        ),
        (
            {"session": {"model": "m", "audio": {"input": {"noise_reduction": {"type": "x"}}}}},
            "session.audio.input.noise_reduction.type",
            "invalid_value",
        ),
        ({"session": {"model": "m"}, "expires_after": {"seconds": 7201}}, "expires_after.seconds", "invalid_value"),
    ],
)
def test_an_invalid_translation_request_is_a_400_naming_the_param(
    emu: Emulator, client: requests.Session, body: dict[str, Any], param: str, code: str
) -> None:
    error = error_of(post(client, emu, TRANSLATIONS, body))
    assert (error["param"], error["code"]) == (param, code), error["message"]


def test_translation_transcription_and_noise_reduction_may_be_null(emu: Emulator, client: requests.Session) -> None:
    body = {"session": {"model": "m", "audio": {"input": {"transcription": None, "noise_reduction": None}}}}
    assert post(client, emu, TRANSLATIONS, body).status_code == 200


# /realtime/transcription_sessions (beta)


def test_a_transcription_session_has_the_beta_shape_and_defaults(emu: Emulator, client: requests.Session) -> None:
    response = post(client, emu, TRANSCRIPTION_SESSIONS, {})
    assert response.status_code == 200
    session = response.json()
    assert set(session) == {
        "id",
        "object",
        "client_secret",
        "modalities",
        "input_audio_format",
        "input_audio_transcription",
        "turn_detection",
    }
    assert session["id"].startswith("sess_")
    assert session["object"] == "realtime.transcription_session"
    assert session["client_secret"]["value"].startswith("ek_")
    assert session["modalities"] == ["text", "audio"]
    assert session["input_audio_format"] == "pcm16"
    assert session["input_audio_transcription"] == {"model": "gpt-4o-transcribe", "language": None, "prompt": ""}
    assert session["turn_detection"] == {
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 500,
    }


@pytest.mark.parametrize(
    ("body", "ttl"),
    [
        ({}, 60),
        ({"client_secret": {}}, 60),
        ({"client_secret": {"expires_at": {}}}, 600),
        ({"client_secret": {"expires_at": {"anchor": "created_at"}}}, 600),
        ({"client_secret": {"expires_at": {"seconds": 10}}}, 10),
        ({"client_secret": {"expires_at": {"anchor": "created_at", "seconds": 7200}}}, 7200),
    ],
)
def test_a_transcription_session_key_follows_the_beta_ttl_rule(
    emu: Emulator, client: requests.Session, body: dict[str, Any], ttl: int
) -> None:
    assert post(client, emu, TRANSCRIPTION_SESSIONS, body).json()["client_secret"]["expires_at"] == CREATED + ttl


def test_the_requested_transcription_settings_are_echoed(emu: Emulator, client: requests.Session) -> None:
    body = {
        "modalities": ["text"],
        "input_audio_format": "g711_ulaw",
        "input_audio_transcription": {"model": "whisper-1", "language": "de", "prompt": "p"},
        "turn_detection": {"type": "semantic_vad", "eagerness": "low", "create_response": False},
        "input_audio_noise_reduction": {"type": "far_field"},
        "include": ["item.input_audio_transcription.logprobs"],
    }
    session = post(client, emu, TRANSCRIPTION_SESSIONS, body).json()
    assert session["modalities"] == ["text"]
    assert session["input_audio_format"] == "g711_ulaw"
    assert session["input_audio_transcription"] == {"model": "whisper-1", "language": "de", "prompt": "p"}
    assert session["turn_detection"] == {"type": "semantic_vad", "eagerness": "low"}


def test_a_null_turn_detection_is_echoed_as_null(emu: Emulator, client: requests.Session) -> None:
    assert post(client, emu, TRANSCRIPTION_SESSIONS, {"turn_detection": None}).json()["turn_detection"] is None


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"voice": "alloy"}, "voice", "unknown_parameter"),
        ({"client_secret": {"expires_after": {"seconds": 60}}}, "client_secret.expires_after", "unknown_parameter"),
        ({"client_secret": {"expires_at": {"seconds": 9}}}, "client_secret.expires_at.seconds", "invalid_value"),
        ({"client_secret": {"expires_at": {"seconds": 7201}}}, "client_secret.expires_at.seconds", "invalid_value"),
        ({"client_secret": {"expires_at": {"seconds": False}}}, "client_secret.expires_at.seconds", "invalid_type"),
        ({"client_secret": {"expires_at": {"anchor": "now"}}}, "client_secret.expires_at.anchor", "invalid_value"),
        (
            {"input_audio_transcription": {"model": "gpt-realtime-whisper"}},
            "input_audio_transcription.model",
            "invalid_value",
        ),
        (
            {"input_audio_transcription": {"model": "whisper-1", "delay": "low"}},
            "input_audio_transcription.delay",
            "unknown_parameter",
        ),
        ({"input_audio_transcription": None}, "input_audio_transcription", "invalid_type"),
        ({"input_audio_format": {"type": "audio/pcm"}}, "input_audio_format", "invalid_type"),
        ({"input_audio_format": "pcm8"}, "input_audio_format", "invalid_value"),
        ({"modalities": ["video"]}, "modalities[0]", "invalid_value"),
        ({"turn_detection": {"type": "push_to_talk"}}, "turn_detection.type", "invalid_value"),
        ({"turn_detection": {"threshold": 2}}, "turn_detection.threshold", "invalid_value"),
        ({"turn_detection": {"interrupt_response": 0}}, "turn_detection.interrupt_response", "invalid_type"),
        ({"input_audio_noise_reduction": {"type": "mid_field"}}, "input_audio_noise_reduction.type", "invalid_value"),
        ({"include": "item.input_audio_transcription.logprobs"}, "include", "invalid_type"),
    ],
)
def test_an_invalid_transcription_session_request_is_a_400_naming_the_param(
    emu: Emulator, client: requests.Session, body: dict[str, Any], param: str, code: str
) -> None:
    error = error_of(post(client, emu, TRANSCRIPTION_SESSIONS, body))
    assert (error["param"], error["code"]) == (param, code), error["message"]


# beta retired


def test_a_beta_retired_emulator_rejects_transcription_sessions(emu: Emulator, client: requests.Session) -> None:
    emu.beta_retired = True
    error = error_of(post(client, emu, TRANSCRIPTION_SESSIONS, {}))
    assert (error["code"], error["param"]) == ("beta_api_shape_disabled", None)


@pytest.mark.parametrize(("path", "body"), [(CLIENT_SECRETS, {}), (TRANSLATIONS, {"session": {"model": "m"}})])
def test_a_beta_retired_emulator_still_serves_the_ga_endpoints(
    emu: Emulator, client: requests.Session, path: str, body: dict[str, Any]
) -> None:
    emu.beta_retired = True
    assert post(client, emu, path, body).status_code == 200


def test_the_new_endpoints_are_in_the_route_table(emu: Emulator) -> None:
    for path in (CLIENT_SECRETS, TRANSLATIONS, TRANSCRIPTION_SESSIONS):
        assert ("POST", path) in emu.routes


# Azure mode


def test_azure_endpoint_is_the_origin_and_base_url_keeps_v1(azure: Emulator) -> None:
    assert azure.azure_endpoint == f"http://127.0.0.1:{azure.port}"
    assert azure.base_url == azure.azure_endpoint + "/v1"


@pytest.mark.parametrize("query", ["", "?api-version=preview"])
def test_azure_v1_client_secrets_take_the_api_key_header_and_an_optional_api_version(
    azure: Emulator, client: requests.Session, query: str
) -> None:
    response = azure_post(
        client, azure, f"/openai/v1/realtime/client_secrets{query}", {"session": {"type": "realtime"}}
    )
    assert response.status_code == 200, response.text
    assert response.json()["value"].startswith("ek_")
    assert response.headers["apim-request-id"]


def test_azure_v1_serves_every_openai_route(azure: Emulator, client: requests.Session) -> None:
    response = azure_post(client, azure, "/openai/v1/realtime/translations/client_secrets", {"session": {"model": "m"}})
    assert response.json()["session"]["type"] == "translation"


def test_azure_classic_sessions_need_an_api_version_and_answer_the_beta_shape(
    azure: Emulator, client: requests.Session
) -> None:
    response = azure_post(
        client, azure, "/openai/realtimeapi/sessions?api-version=2025-04-01-preview", {"voice": "verse"}
    )
    assert response.status_code == 200, response.text
    session = response.json()
    assert session["voice"] == "verse"
    assert session["client_secret"]["value"].startswith("ek_")
    (recorded,) = azure.requests
    assert (recorded.path, recorded.query) == ("/openai/realtimeapi/sessions", "api-version=2025-04-01-preview")
    assert recorded.headers["api-key"] == azure.api_key


def test_azure_classic_transcription_sessions_answer_the_beta_shape(azure: Emulator, client: requests.Session) -> None:
    path = "/openai/realtimeapi/transcription_sessions?api-version=2025-04-01-preview"
    response = azure_post(client, azure, path, {"input_audio_format": "g711_alaw"})
    assert response.status_code == 200, response.text
    assert response.json()["object"] == "realtime.transcription_session"


@pytest.mark.parametrize("query", ["", "?api-version=", "?version=2025-04-01-preview"])
def test_an_azure_classic_path_without_api_version_is_404_resource_not_found(
    azure: Emulator, client: requests.Session, query: str
) -> None:
    response = azure_post(client, azure, f"/openai/realtimeapi/sessions{query}")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "404", "message": "Resource not found"}}


@pytest.mark.parametrize(
    "path", ["/v1/realtime/client_secrets", "/openai/v1/realtime/nope", "/openai/realtimeapi/nope?api-version=x"]
)
def test_openai_and_unknown_paths_are_404_in_azure_mode(azure: Emulator, client: requests.Session, path: str) -> None:
    response = azure_post(client, azure, path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "404"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"api-key": "wrong-key-000000"},
        {"Authorization": "Bearer {key}"},
    ],
)
def test_azure_mode_accepts_only_the_api_key_header(
    azure: Emulator, client: requests.Session, headers: dict[str, str]
) -> None:
    sent = {name: value.format(key=azure.api_key) for name, value in headers.items()}
    response = azure_post(client, azure, "/openai/v1/realtime/client_secrets", headers=sent)
    assert response.status_code == 401
    error = response.json()["error"]
    assert set(error) == {"code", "message"}
    assert error["code"] == "401"
    assert azure.api_key not in response.text


def test_azure_validation_errors_keep_the_openai_shape(azure: Emulator, client: requests.Session) -> None:
    response = azure_post(client, azure, "/openai/v1/realtime/client_secrets", {"session": {"type": "bogus"}})
    error = error_of(response)
    assert (error["param"], error["code"]) == ("session.type", "invalid_value")


def test_beta_retired_applies_to_azure_classic_sessions(azure: Emulator, client: requests.Session) -> None:
    azure.beta_retired = True
    response = azure_post(client, azure, "/openai/realtimeapi/sessions?api-version=2025-04-01-preview")
    assert error_of(response)["code"] == "beta_api_shape_disabled"


def test_openai_mode_ignores_an_api_key_header(emu: Emulator, client: requests.Session) -> None:
    response = client.post(emu.base_url + CLIENT_SECRETS, json={}, headers={"api-key": emu.api_key}, timeout=10)
    assert response.status_code == 401
    assert "apim-request-id" not in response.headers


def test_the_module_serves_azure_with_azure_flag() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "realtime_service.emulator", "--azure", "--api-key", "azure-cli-test-key-0000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        process.stdout.readline()
        export = process.stdout.readline().split()
        assert export[0] == "export"
        variables = dict(item.split("=", 1) for item in export[1:])
        assert variables["AZURE_OPENAI_API_KEY"] == "azure-cli-test-key-0000"
        with requests.Session() as session:
            session.trust_env = False
            response = session.post(
                variables["AZURE_OPENAI_ENDPOINT"] + "/openai/v1/realtime/client_secrets",
                json={},
                headers={"api-key": "azure-cli-test-key-0000"},
                timeout=10,
            )
        assert response.status_code == 200
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()
