"""The emulator over real loopback sockets: auth, validation, the 200 shape, headers, faults, lifecycle."""

from __future__ import annotations

import gzip
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from waiting import wait_until

from realtime_service.emulator import Call, Emulator, Fault, Reply, TooManyFaults, http_date, main

SESSIONS = "/v1/realtime/sessions"
ROOT = Path(__file__).resolve().parents[1]


# fixtures and helpers


@pytest.fixture(scope="module")
def shared_emulator() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


@pytest.fixture
def emu(shared_emulator: Emulator) -> Iterator[Emulator]:
    shared_emulator.clear()
    shared_emulator.beta_retired = False
    yield shared_emulator
    shared_emulator.clear()
    shared_emulator.beta_retired = False


@pytest.fixture
def client() -> Iterator[requests.Session]:
    session = requests.Session()
    session.trust_env = False
    yield session
    session.close()


def post(
    client: requests.Session,
    emu: Emulator,
    body: Any = None,
    *,
    key: str | None = "emulator",
    path: str = "/realtime/sessions",
    **kwargs: Any,
) -> requests.Response:
    headers = dict(kwargs.pop("headers", {}))
    if key is not None:
        headers["Authorization"] = f"Bearer {emu.api_key if key == 'emulator' else key}"
    if body is not None and "data" not in kwargs:
        kwargs["json"] = body
    kwargs.setdefault("timeout", 10)
    kwargs.setdefault("allow_redirects", False)
    return client.post(emu.base_url + path, headers=headers, **kwargs)


def error_of(response: requests.Response) -> dict[str, Any]:
    payload = response.json()
    assert set(payload) == {"error"}
    assert set(payload["error"]) == {"message", "type", "param", "code"}
    error: dict[str, Any] = payload["error"]
    return error


def raw_request(emu: Emulator, body: bytes = b"{}", *, timeout: float = 5.0) -> socket.socket:
    """Send one authorised POST on a bare socket and return the socket, to observe the answer byte by byte."""
    sock = socket.create_connection(("127.0.0.1", emu.port), timeout=timeout)
    head = (
        f"POST {SESSIONS} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {emu.api_key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    sock.sendall(head.encode() + body)
    return sock


def read_until_eof(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def split_response(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, body


# auth


def test_missing_authorization_is_401_in_openai_error_format(emu: Emulator, client: requests.Session) -> None:
    response = post(client, emu, {}, key=None)
    assert response.status_code == 401
    error = error_of(response)
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "invalid_api_key"
    assert error["param"] is None


def test_wrong_key_is_401_and_the_message_shows_only_a_redacted_key(emu: Emulator, client: requests.Session) -> None:
    wrong = "sk-proj-0123456789abcdefWXYZ"
    response = post(client, emu, {}, key=wrong)
    assert response.status_code == 401
    error = error_of(response)
    assert error["code"] == "invalid_api_key"
    assert error["message"].startswith("Incorrect API key provided: sk-...WXYZ.")
    assert wrong not in response.text


def test_a_non_bearer_scheme_is_401(emu: Emulator, client: requests.Session) -> None:
    response = client.post(
        emu.base_url + "/realtime/sessions", json={}, headers={"Authorization": f"Basic {emu.api_key}"}
    )
    assert response.status_code == 401


def test_the_default_api_key_is_a_fresh_sk_emulator_key() -> None:
    first, second = Emulator(), Emulator()
    assert first.api_key.startswith("sk-emulator-")
    assert first.api_key != second.api_key


# body


def test_a_body_that_is_not_json_is_400_with_null_code(emu: Emulator, client: requests.Session) -> None:
    response = post(client, emu, data=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] is None
    assert "could not parse the JSON body" in error["message"]


def test_an_empty_body_is_400(emu: Emulator, client: requests.Session) -> None:
    assert post(client, emu, data=b"").status_code == 400


@pytest.mark.parametrize("body", [[], "text", 3, None])
def test_a_json_body_that_is_not_an_object_is_400_invalid_type(
    emu: Emulator, client: requests.Session, body: Any
) -> None:
    response = post(client, emu, data=json.dumps(body).encode())
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_type"


def test_nan_is_not_json_so_it_is_rejected(emu: Emulator, client: requests.Session) -> None:
    response = post(client, emu, data=b'{"temperature": NaN}')
    assert response.status_code == 400
    assert error_of(response)["code"] is None


def test_an_empty_object_is_a_valid_request(emu: Emulator, client: requests.Session) -> None:
    assert post(client, emu, {}).status_code == 200


def test_a_chunked_request_body_is_read(emu: Emulator, client: requests.Session) -> None:
    response = post(client, emu, data=iter([b'{"voice": ', b'"verse"}']))
    assert response.status_code == 200
    assert response.json()["voice"] == "verse"


# validation


def test_an_unknown_parameter_is_rejected_with_its_name(emu: Emulator, client: requests.Session) -> None:
    response = post(client, emu, {"voise": "alloy"})
    assert response.status_code == 400
    assert error_of(response) == {
        "message": "Unknown parameter: 'voise'.",
        "type": "invalid_request_error",
        "param": "voise",
        "code": "unknown_parameter",
    }


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"turn_detection": {"treshold": 0.5}}, "turn_detection.treshold"),
        ({"client_secret": {"expires_at": {"anchor": "created_at"}}}, "client_secret.expires_at"),
        (
            {"client_secret": {"expires_after": {"anchor": "created_at", "secs": 30}}},
            "client_secret.expires_after.secs",
        ),
        ({"tools": [{"type": "function", "name": "f", "strict": True}]}, "tools[0].strict"),
        ({"input_audio_transcription": {"model": "whisper-1", "lang": "en"}}, "input_audio_transcription.lang"),
    ],
)
def test_an_unknown_nested_parameter_is_rejected_with_its_dotted_path(
    emu: Emulator, client: requests.Session, body: dict[str, Any], param: str
) -> None:
    error = error_of(post(client, emu, body))
    assert (error["param"], error["code"]) == (param, "unknown_parameter")
    assert error["message"] == f"Unknown parameter: '{param}'."


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input_audio_format": "pcm8"}, "input_audio_format"),
        ({"output_audio_format": "mp3"}, "output_audio_format"),
        ({"modalities": ["text", "video"]}, "modalities[1]"),
        ({"turn_detection": {"type": "push_to_talk"}}, "turn_detection.type"),
        ({"turn_detection": {"type": "semantic_vad", "eagerness": "eager"}}, "turn_detection.eagerness"),
        ({"input_audio_noise_reduction": {"type": "mid_field"}}, "input_audio_noise_reduction.type"),
        ({"tools": [{"type": "mcp"}]}, "tools[0].type"),
        ({"tracing": "manual"}, "tracing"),
        ({"max_response_output_tokens": "infinite"}, "max_response_output_tokens"),
        ({"client_secret": {"expires_after": {"anchor": "now"}}}, "client_secret.expires_after.anchor"),
    ],
)
def test_a_value_outside_an_enum_is_invalid_value(
    emu: Emulator, client: requests.Session, body: dict[str, Any], param: str
) -> None:
    error = error_of(post(client, emu, body))
    assert (error["param"], error["code"]) == (param, "invalid_value")
    assert "Supported values are:" in error["message"]


def test_an_enum_error_lists_the_supported_values_like_the_api(emu: Emulator, client: requests.Session) -> None:
    error = error_of(post(client, emu, {"input_audio_format": "pcm8"}))
    assert error["message"] == "Invalid value: 'pcm8'. Supported values are: 'pcm16', 'g711_ulaw', and 'g711_alaw'."


@pytest.mark.parametrize(
    "body",
    [
        {"temperature": 0.6},
        {"temperature": 1.2},
        {"temperature": 1},
        {"speed": 0.25},
        {"speed": 1.5},
        {"turn_detection": {"threshold": 0}},
        {"turn_detection": {"threshold": 1.0}},
        {"max_response_output_tokens": 1},
        {"max_response_output_tokens": 4096},
        {"max_response_output_tokens": "inf"},
        {"client_secret": {"expires_after": {"anchor": "created_at", "seconds": 10}}},
        {"client_secret": {"expires_after": {"anchor": "created_at", "seconds": 7200}}},
    ],
)
def test_values_on_the_edges_of_a_range_are_accepted(
    emu: Emulator, client: requests.Session, body: dict[str, Any]
) -> None:
    assert post(client, emu, body).status_code == 200


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"temperature": 0.59}, "temperature"),
        ({"temperature": 1.21}, "temperature"),
        ({"speed": 0.24}, "speed"),
        ({"speed": 1.51}, "speed"),
        ({"turn_detection": {"threshold": -0.01}}, "turn_detection.threshold"),
        ({"turn_detection": {"threshold": 1.01}}, "turn_detection.threshold"),
        ({"max_response_output_tokens": 0}, "max_response_output_tokens"),
        ({"max_response_output_tokens": 4097}, "max_response_output_tokens"),
        (
            {"client_secret": {"expires_after": {"anchor": "created_at", "seconds": 9}}},
            "client_secret.expires_after.seconds",
        ),
        (
            {"client_secret": {"expires_after": {"anchor": "created_at", "seconds": 7201}}},
            "client_secret.expires_after.seconds",
        ),
    ],
)
def test_values_just_outside_a_range_are_invalid_value(
    emu: Emulator, client: requests.Session, body: dict[str, Any], param: str
) -> None:
    error = error_of(post(client, emu, body))
    assert (error["param"], error["code"]) == (param, "invalid_value")


def test_a_range_error_states_the_bound_and_the_value(emu: Emulator, client: requests.Session) -> None:
    error = error_of(post(client, emu, {"temperature": 1.5}))
    assert error["message"] == (
        "Invalid 'temperature': decimal above maximum value. Expected a value <= 1.2, but got 1.5 instead."
    )


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"temperature": True}, "temperature"),
        ({"speed": False}, "speed"),
        ({"max_response_output_tokens": True}, "max_response_output_tokens"),
        (
            {"client_secret": {"expires_after": {"anchor": "created_at", "seconds": True}}},
            "client_secret.expires_after.seconds",
        ),
        ({"turn_detection": {"threshold": True}}, "turn_detection.threshold"),
    ],
)
def test_a_boolean_is_not_accepted_as_a_number(
    emu: Emulator, client: requests.Session, body: dict[str, Any], param: str
) -> None:
    error = error_of(post(client, emu, body))
    assert (error["param"], error["code"]) == (param, "invalid_type")
    assert "but got a boolean instead" in error["message"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"temperature": "0.8"}, "temperature"),
        ({"turn_detection": {"prefix_padding_ms": 300.0}}, "turn_detection.prefix_padding_ms"),
        ({"turn_detection": {"silence_duration_ms": "500"}}, "turn_detection.silence_duration_ms"),
        ({"turn_detection": {"create_response": 1}}, "turn_detection.create_response"),
        ({"turn_detection": {"interrupt_response": "true"}}, "turn_detection.interrupt_response"),
        ({"turn_detection": "server_vad"}, "turn_detection"),
        ({"max_response_output_tokens": 100.5}, "max_response_output_tokens"),
        ({"modalities": "text"}, "modalities"),
        ({"instructions": None}, "instructions"),
        ({"instructions": 42}, "instructions"),
        ({"voice": {"id": "voice_123"}}, "voice"),
        ({"model": None}, "model"),
        ({"tools": {"type": "function"}}, "tools"),
        ({"tools": [{"type": "function", "parameters": "{}"}]}, "tools[0].parameters"),
        ({"tool_choice": {"type": "function", "name": "f"}}, "tool_choice"),
        ({"tracing": {"workflow_name": 1}}, "tracing.workflow_name"),
        ({"tracing": True}, "tracing"),
        ({"client_secret": None}, "client_secret"),
        ({"input_audio_transcription": {"model": 1}}, "input_audio_transcription.model"),
    ],
)
def test_a_value_of_the_wrong_type_is_invalid_type(
    emu: Emulator, client: requests.Session, body: dict[str, Any], param: str
) -> None:
    error = error_of(post(client, emu, body))
    assert (error["param"], error["code"]) == (param, "invalid_type")


def test_a_type_error_names_what_was_expected_and_what_came(emu: Emulator, client: requests.Session) -> None:
    error = error_of(post(client, emu, {"turn_detection": {"prefix_padding_ms": "300"}}))
    assert error["message"] == (
        "Invalid type for 'turn_detection.prefix_padding_ms': expected an integer, but got a string instead."
    )


@pytest.mark.parametrize(
    "field", ["turn_detection", "input_audio_transcription", "input_audio_noise_reduction", "tracing"]
)
def test_null_switches_a_feature_off_where_the_api_allows_it(
    emu: Emulator, client: requests.Session, field: str
) -> None:
    response = post(client, emu, {field: None})
    assert response.status_code == 200
    assert response.json()[field] is None


def test_expires_after_without_an_anchor_is_missing_required_parameter(emu: Emulator, client: requests.Session) -> None:
    error = error_of(post(client, emu, {"client_secret": {"expires_after": {"seconds": 60}}}))
    assert (error["param"], error["code"]) == ("client_secret.expires_after.anchor", "missing_required_parameter")


def test_model_and_voice_accept_any_string(emu: Emulator, client: requests.Session) -> None:
    response = post(client, emu, {"model": "gpt-realtime-next", "voice": "my-custom-voice"})
    assert response.status_code == 200
    assert (response.json()["model"], response.json()["voice"]) == ("gpt-realtime-next", "my-custom-voice")


def test_an_invalid_request_still_gets_recorded_but_mints_nothing(emu: Emulator, client: requests.Session) -> None:
    response = post(client, emu, {"temperature": 9})
    assert response.status_code == 400
    assert "client_secret" not in response.text
    assert len(emu.requests) == 1


# the 200 answer


def test_a_session_has_realistic_ids_and_the_beta_defaults(emu: Emulator, client: requests.Session) -> None:
    session = post(client, emu, {}).json()
    assert session["id"].startswith("sess_")
    assert len(session["id"]) > len("sess_") + 16
    assert session["object"] == "realtime.session"
    assert session["model"] == "gpt-4o-realtime-preview"
    assert session["modalities"] == ["text", "audio"]
    assert session["voice"] == "alloy"
    assert session["instructions"]
    assert (session["input_audio_format"], session["output_audio_format"]) == ("pcm16", "pcm16")
    assert session["turn_detection"]["type"] == "server_vad"
    assert session["turn_detection"]["threshold"] == 0.5
    assert session["turn_detection"]["prefix_padding_ms"] == 300
    assert session["turn_detection"]["silence_duration_ms"] == 500
    assert session["tool_choice"] == "auto"
    assert session["temperature"] == 0.8
    assert session["max_response_output_tokens"] == "inf"
    assert session["speed"] == 1.0
    assert session["tools"] == []
    assert session["input_audio_transcription"] is None
    assert session["tracing"] is None


def test_the_requested_settings_are_echoed(emu: Emulator, client: requests.Session) -> None:
    tool = {"type": "function", "name": "lookup", "description": "d", "parameters": {"type": "object"}}
    body = {
        "model": "gpt-4o-mini-realtime-preview",
        "modalities": ["text"],
        "instructions": "Be brief.",
        "voice": "verse",
        "input_audio_format": "g711_ulaw",
        "output_audio_format": "g711_alaw",
        "input_audio_transcription": {"model": "whisper-1", "language": "en"},
        "turn_detection": {"type": "semantic_vad", "eagerness": "high"},
        "input_audio_noise_reduction": {"type": "far_field"},
        "tools": [tool],
        "tool_choice": "required",
        "temperature": 0.7,
        "max_response_output_tokens": 200,
        "speed": 1.25,
        "tracing": "auto",
    }
    session = post(client, emu, body).json()
    for field, value in body.items():
        if field != "turn_detection":
            assert session[field] == value, field
    assert session["turn_detection"]["type"] == "semantic_vad"
    assert session["turn_detection"]["eagerness"] == "high"


def test_the_ephemeral_key_is_a_fresh_ek_value_each_time(emu: Emulator, client: requests.Session) -> None:
    first = post(client, emu, {}).json()["client_secret"]["value"]
    second = post(client, emu, {}).json()["client_secret"]["value"]
    assert first.startswith("ek_")
    assert len(first) >= len("ek_") + 32
    assert first != second


@pytest.mark.parametrize(
    ("body", "ttl"),
    [
        ({}, 60),
        ({"client_secret": {}}, 60),
        ({"client_secret": {"expires_after": {"anchor": "created_at"}}}, 600),
        ({"client_secret": {"expires_after": {"anchor": "created_at", "seconds": 1234}}}, 1234),
    ],
)
def test_the_key_expires_after_the_requested_ttl(
    emu: Emulator, client: requests.Session, body: dict[str, Any], ttl: int
) -> None:
    before = time.time()
    expires_at = post(client, emu, body).json()["client_secret"]["expires_at"]
    after = time.time()
    assert isinstance(expires_at, int)
    assert before + ttl - 1 <= expires_at <= after + ttl + 1


def test_an_injected_clock_pins_expires_at(client: requests.Session) -> None:
    with Emulator(clock=lambda: 1_700_000_000.5) as emulator:
        response = post(client, emulator, {})
    assert response.json()["client_secret"]["expires_at"] == 1_700_000_060


# headers and routing


@pytest.mark.parametrize(
    ("key", "path", "method", "status"),
    [
        ("emulator", "/realtime/sessions", "POST", 200),
        ("emulator", "/realtime/nope", "POST", 404),
        ("emulator", "/realtime/sessions", "GET", 405),
        ("sk-wrong-0000000000000", "/realtime/sessions", "POST", 401),
    ],
)
def test_every_answer_carries_the_openai_headers(
    emu: Emulator, client: requests.Session, key: str, path: str, method: str, status: int
) -> None:
    response = client.request(
        method,
        emu.base_url + path,
        json={},
        headers={"Authorization": f"Bearer {emu.api_key if key == 'emulator' else key}"},
    )
    assert response.status_code == status
    assert response.headers["x-request-id"].startswith("req_")
    assert int(response.headers["openai-processing-ms"]) >= 0
    assert response.headers["openai-version"] == "2020-10-01"
    assert response.headers["content-type"] == "application/json"
    response.json()


def test_a_scripted_error_also_carries_the_openai_headers(emu: Emulator, client: requests.Session) -> None:
    emu.enqueue(Fault.status(500))
    response = post(client, emu, {})
    assert response.headers["x-request-id"].startswith("req_")
    assert response.headers["openai-version"] == "2020-10-01"


def test_each_answer_has_its_own_request_id(emu: Emulator, client: requests.Session) -> None:
    ids = {post(client, emu, {}).headers["x-request-id"] for _ in range(5)}
    assert len(ids) == 5


def test_an_unknown_path_is_a_404_json_error(emu: Emulator, client: requests.Session) -> None:
    response = post(client, emu, {}, path="/realtime/sesions")
    assert response.status_code == 404
    assert error_of(response)["message"] == "Invalid URL (POST /v1/realtime/sesions)"


def test_a_wrong_method_is_a_405_that_lists_the_allowed_one(emu: Emulator, client: requests.Session) -> None:
    response = client.get(emu.base_url + "/realtime/sessions", headers={"Authorization": f"Bearer {emu.api_key}"})
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert error_of(response)["type"] == "invalid_request_error"


@pytest.mark.parametrize("method", ["TRACE", "QUERY", "CONNECT", "BREW"])
def test_any_other_method_is_a_json_405_not_an_html_501(emu: Emulator, client: requests.Session, method: str) -> None:
    response = client.request(
        method, emu.base_url + "/realtime/sessions", headers={"Authorization": f"Bearer {emu.api_key}"}, timeout=5
    )
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert error_of(response)["type"] == "invalid_request_error"


def test_an_added_route_gets_routing_auth_and_json_parsing_for_free(client: requests.Session) -> None:
    def echo(call: Call) -> Reply:
        return Reply.json(200, {"seen": call.body})

    with Emulator() as emulator:
        emulator.add_route("POST", "/realtime/client_secrets", echo)
        assert post(client, emulator, {"a": 1}, path="/realtime/client_secrets").json() == {"seen": {"a": 1}}
        assert post(client, emulator, {}, key=None, path="/realtime/client_secrets").status_code == 401
        assert ("POST", "/realtime/client_secrets") in emulator.routes


# beta retired


def test_a_beta_retired_emulator_rejects_the_beta_shape(client: requests.Session) -> None:
    with Emulator(beta_retired=True) as emulator:
        response = post(client, emulator, {})
    assert response.status_code == 400
    error = error_of(response)
    assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", "beta_api_shape_disabled", None)


def test_a_beta_retired_emulator_still_checks_the_key_first(emu: Emulator, client: requests.Session) -> None:
    emu.beta_retired = True
    assert post(client, emu, {}, key=None).status_code == 401


# recorded requests


def test_requests_are_recorded_with_lower_case_headers_and_parsed_json(emu: Emulator, client: requests.Session) -> None:
    post(client, emu, {"voice": "ash"}, headers={"OpenAI-Beta": "assistants=v2"})
    (recorded,) = emu.requests
    assert (recorded.method, recorded.path) == ("POST", SESSIONS)
    assert recorded.headers["openai-beta"] == "assistants=v2"
    assert recorded.headers["authorization"] == f"Bearer {emu.api_key}"
    assert recorded.json == {"voice": "ash"}
    assert json.loads(recorded.body) == {"voice": "ash"}


def test_clear_forgets_requests_and_pending_faults(emu: Emulator, client: requests.Session) -> None:
    post(client, emu, {})
    emu.enqueue(Fault.status(500))
    emu.clear()
    assert emu.requests == []
    assert emu.pending_faults == 0
    assert post(client, emu, {}).status_code == 200


def test_the_fault_queue_is_bounded_and_a_refused_batch_queues_nothing(
    emu: Emulator, client: requests.Session
) -> None:
    """``times=10**9`` would build a list of a billion faults: refused whole before anything is allocated."""
    emu.enqueue(Fault.status(503))
    with pytest.raises(TooManyFaults, match="at most 100,000 faults may be pending"):
        emu.enqueue(Fault.status(500), Fault.status(502), times=10**9)
    with pytest.raises(TypeError, match="expected a Fault, got str"):
        emu.enqueue("500")  # type: ignore[arg-type]
    emu.enqueue(times=10**12)  # an empty batch, however often: nothing queued, at once
    assert emu.pending_faults == 1
    assert post(client, emu, {}).status_code == 503
    emu.enqueue(Fault.status(500), Fault.status(502), times=2)
    assert [post(client, emu, {}).status_code for _ in range(5)] == [500, 502, 500, 502, 200]


# faults: statuses and headers


def test_a_status_fault_answers_that_status_with_an_openai_error_and_its_headers(
    emu: Emulator, client: requests.Session
) -> None:
    emu.enqueue(Fault.status(503, headers={"Retry-After": "2", "x-should-retry": "true"}))
    response = post(client, emu, {})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"
    assert response.headers["x-should-retry"] == "true"
    assert error_of(response)["type"] == "server_error"


def test_a_429_fault_defaults_to_rate_limit_exceeded_and_can_carry_retry_after_ms(
    emu: Emulator, client: requests.Session
) -> None:
    emu.enqueue(Fault.status(429, headers={"retry-after-ms": "250"}))
    response = post(client, emu, {})
    assert (response.status_code, error_of(response)["code"]) == (429, "rate_limit_exceeded")
    assert response.headers["retry-after-ms"] == "250"


def test_a_status_fault_can_override_type_and_code(emu: Emulator, client: requests.Session) -> None:
    emu.enqueue(Fault.status(429, type="insufficient_quota", code="insufficient_quota", message="quota"))
    error = error_of(post(client, emu, {}))
    assert (error["type"], error["code"], error["message"]) == ("insufficient_quota", "insufficient_quota", "quota")


def test_http_date_makes_a_retry_after_date_that_far_ahead(emu: Emulator, client: requests.Session) -> None:
    emu.enqueue(Fault.status(503, headers={"retry-after": http_date(30)}))
    when = parsedate_to_datetime(post(client, emu, {}).headers["retry-after"]).timestamp()
    assert abs(when - (time.time() + 30)) <= 2


def test_faults_are_consumed_in_order_then_normal_answers_resume(emu: Emulator, client: requests.Session) -> None:
    emu.enqueue(Fault.status(500), Fault.status(429))
    statuses = [post(client, emu, {}).status_code for _ in range(3)]
    assert statuses == [500, 429, 200]


def test_times_repeats_a_fault(emu: Emulator, client: requests.Session) -> None:
    emu.enqueue(Fault.status(502), times=3)
    statuses = [post(client, emu, {}).status_code for _ in range(4)]
    assert statuses == [502, 502, 502, 200]


def test_a_fault_applies_before_auth_and_validation(emu: Emulator, client: requests.Session) -> None:
    emu.enqueue(Fault.status(503))
    assert post(client, emu, {"voise": 1}, key=None).status_code == 503


def test_a_fault_applies_to_any_path(emu: Emulator, client: requests.Session) -> None:
    emu.enqueue(Fault.status(500))
    assert post(client, emu, {}, path="/models").status_code == 500


# faults: timing


def test_a_delay_fault_answers_normally_after_the_delay(emu: Emulator, client: requests.Session) -> None:
    emu.enqueue(Fault.delay(0.3))
    started = time.monotonic()
    response = post(client, emu, {})
    assert time.monotonic() - started >= 0.3
    assert response.status_code == 200


def test_a_delay_fault_can_then_answer_a_status(emu: Emulator, client: requests.Session) -> None:
    emu.enqueue(Fault.delay(0.2, then=Fault.status(503)))
    started = time.monotonic()
    assert post(client, emu, {}).status_code == 503
    assert time.monotonic() - started >= 0.2


def test_a_delay_longer_than_the_read_timeout_times_the_client_out(emu: Emulator, client: requests.Session) -> None:
    emu.enqueue(Fault.delay(1.0))
    with pytest.raises(requests.exceptions.ReadTimeout):
        post(client, emu, {}, timeout=(2, 0.2))


def test_a_trickle_fault_sends_the_body_a_byte_at_a_time(emu: Emulator) -> None:
    emu.enqueue(Fault.trickle(0.01, status=500))
    sock = raw_request(emu)
    with sock:
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(1)
        status, headers, _ = split_response(head)
        length = int(headers["content-length"])
        started = time.monotonic()
        reads = []
        received = 0
        while received < length:
            chunk = sock.recv(65536)
            assert chunk
            reads.append(chunk)
            received += len(chunk)
        elapsed = time.monotonic() - started
    assert status == 500
    assert elapsed >= (length - 1) * 0.01 * 0.8
    assert len(reads) > length // 2  # many small reads, not one
    assert json.loads(b"".join(reads))["error"]["type"] == "server_error"


# faults: connections


def test_a_drop_fault_closes_the_connection_without_a_byte(emu: Emulator) -> None:
    emu.enqueue(Fault.drop())
    with raw_request(emu) as sock:
        assert sock.recv(65536) == b""


def test_a_drop_fault_surfaces_as_a_connection_error_in_requests(emu: Emulator, client: requests.Session) -> None:
    emu.enqueue(Fault.drop())
    with pytest.raises(requests.exceptions.ConnectionError):
        post(client, emu, {})


def test_a_reset_fault_resets_the_connection(emu: Emulator) -> None:
    emu.enqueue(Fault.reset())
    with raw_request(emu) as sock, pytest.raises(ConnectionResetError):
        sock.recv(65536)


def test_a_truncated_fault_promises_more_bytes_than_it_sends_then_closes(emu: Emulator) -> None:
    emu.enqueue(Fault.truncated(10))
    with raw_request(emu) as sock:
        status, headers, body = split_response(read_until_eof(sock))
    assert status == 200
    assert len(body) == 10
    assert int(headers["content-length"]) > 10


def test_a_truncated_fault_defaults_to_half_the_real_answer(emu: Emulator) -> None:
    emu.enqueue(Fault.truncated())
    with raw_request(emu) as sock:
        _, headers, body = split_response(read_until_eof(sock))
    assert len(body) == int(headers["content-length"]) // 2
    assert body.startswith(b'{"id": "sess_')


def test_a_truncated_answer_is_an_error_in_requests(emu: Emulator, client: requests.Session) -> None:
    emu.enqueue(Fault.truncated())
    with pytest.raises(requests.exceptions.RequestException):
        post(client, emu, {}).json()


def test_a_truncated_fault_with_reset_sends_part_of_the_answer_then_an_rst(emu: Emulator) -> None:
    emu.enqueue(Fault.truncated(10, reset=True))
    chunks: list[bytes] = []  # read until the RST (an EOF instead fails), keeping what came before it
    with raw_request(emu) as sock, pytest.raises(ConnectionResetError):
        chunks.extend(iter(lambda: sock.recv(65536), b""))
    received = b"".join(chunks)
    status, headers, body = split_response(received)
    assert status == 200
    assert len(body) == 10
    assert int(headers["content-length"]) > 10


def test_a_reset_mid_answer_is_a_connection_error_in_requests(emu: Emulator, client: requests.Session) -> None:
    emu.enqueue(Fault.truncated(10, reset=True))
    with pytest.raises(requests.exceptions.RequestException) as caught:
        post(client, emu, {}).json()
    assert "reset" in repr(caught.value).lower()


def test_a_fault_rule_picks_each_requests_fault_after_the_queue(emu: Emulator, client: requests.Session) -> None:
    seen: list[str | None] = []

    def rule(request: Any) -> Fault | None:
        seen.append(request.headers.get("x-call"))
        return Fault.status(503) if request.headers.get("x-call") == "bad" else None

    emu.fault_rule = rule
    try:
        emu.enqueue(Fault.status(409))
        statuses = [post(client, emu, {}, headers={"X-Call": call}).status_code for call in ("bad", "bad", "good")]
    finally:
        emu.fault_rule = None
    assert statuses == [409, 503, 200]
    assert seen == ["bad", "good"]


def test_a_body_nested_too_deeply_to_parse_is_a_400_not_a_dropped_connection(
    emu: Emulator, client: requests.Session
) -> None:
    response = post(client, emu, data=b"[" * 100_000 + b"]" * 100_000)
    assert response.status_code == 400
    assert "could not parse the JSON body" in error_of(response)["message"]


def test_the_connection_is_usable_again_after_a_dropped_one(emu: Emulator, client: requests.Session) -> None:
    emu.enqueue(Fault.drop())
    with pytest.raises(requests.exceptions.ConnectionError):
        post(client, emu, {})
    assert post(client, emu, {}).status_code == 200


# faults: bodies


def test_a_raw_fault_answers_exactly_that_body(emu: Emulator, client: requests.Session) -> None:
    emu.enqueue(Fault.raw("<html>bad gateway</html>", status=200, content_type="text/html"))
    response = post(client, emu, {})
    assert (response.status_code, response.text) == (200, "<html>bad gateway</html>")
    assert response.headers["content-type"] == "text/html"


def test_an_empty_fault_answers_200_with_no_body(emu: Emulator, client: requests.Session) -> None:
    emu.enqueue(Fault.empty())
    response = post(client, emu, {})
    assert (response.status_code, response.content, response.headers["content-length"]) == (200, b"", "0")


def test_a_json_fault_answers_a_wrong_shape(emu: Emulator, client: requests.Session) -> None:
    emu.enqueue(Fault.json({"id": "sess_1", "object": "realtime.session"}))
    assert post(client, emu, {}).json() == {"id": "sess_1", "object": "realtime.session"}


def test_a_huge_fault_streams_exactly_n_bytes_of_valid_json(emu: Emulator) -> None:
    size = 5 * 1024 * 1024 + 7
    emu.enqueue(Fault.huge(size))
    with raw_request(emu, timeout=30) as sock:
        status, headers, body = split_response(read_until_eof_or_length(sock))
    assert status == 200
    assert int(headers["content-length"]) == size == len(body)
    assert json.loads(body)["object"] == "realtime.session"


def read_until_eof_or_length(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    _, headers, body = split_response(data)
    chunks = [data]
    remaining = int(headers["content-length"]) - len(body)
    while remaining > 0:
        chunk = sock.recv(min(remaining, 1 << 20))
        assert chunk
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("size", [0, 1, 2, 10])
def test_a_tiny_huge_fault_still_has_exactly_that_many_bytes(emu: Emulator, size: int) -> None:
    emu.enqueue(Fault.huge(size))
    with raw_request(emu) as sock:
        _, headers, body = split_response(read_until_eof_or_length(sock))
    assert int(headers["content-length"]) == len(body) == size


def test_a_redirect_fault_answers_3xx_with_a_location(emu: Emulator, client: requests.Session) -> None:
    emu.enqueue(Fault.redirect("http://127.0.0.1:9/elsewhere", status=308))
    response = post(client, emu, {})
    assert response.status_code == 308
    assert response.headers["location"] == "http://127.0.0.1:9/elsewhere"


def test_a_gzip_fault_encodes_an_error_body(emu: Emulator) -> None:
    emu.enqueue(Fault.gzip(500))
    with raw_request(emu) as sock:
        status, headers, body = split_response(read_until_eof_or_length(sock))
    assert (status, headers["content-encoding"]) == (500, "gzip")
    assert int(headers["content-length"]) == len(body)
    assert json.loads(gzip.decompress(body))["error"]["type"] == "server_error"


def test_a_gzip_fault_without_status_encodes_the_real_session(emu: Emulator, client: requests.Session) -> None:
    emu.enqueue(Fault.gzip())
    response = post(client, emu, {})
    assert response.headers["content-encoding"] == "gzip"
    assert response.json()["object"] == "realtime.session"


def test_a_gzip_fault_can_carry_any_body(emu: Emulator, client: requests.Session) -> None:
    emu.enqueue(Fault.gzip(418, body=b"teapot"))
    response = post(client, emu, {})
    assert (response.status_code, response.text) == (418, "teapot")


# keep-alive and concurrency


def test_one_connection_serves_many_requests(emu: Emulator) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=5)
    headers = {"Authorization": f"Bearer {emu.api_key}", "Content-Type": "application/json"}
    statuses = []
    sockets = set()
    for body in [b"{}", b'{"voise": 1}', b"{}", b"[]", b"{}"]:
        conn.request("POST", SESSIONS, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        statuses.append(response.status)
        assert response.getheader("connection") != "close"
        sockets.add(id(conn.sock))
    conn.close()
    assert statuses == [200, 400, 200, 400, 200]
    assert len(sockets) == 1


def test_eight_concurrent_clients_are_all_served(emu: Emulator) -> None:
    def one_client(_: int) -> list[int]:
        with requests.Session() as session:
            session.trust_env = False
            return [post(session, emu, {}).status_code for _ in range(25)]

    with ThreadPoolExecutor(8) as pool:
        results = [status for statuses in pool.map(one_client, range(8)) for status in statuses]
    assert results == [200] * 200


# lifecycle


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs /proc")
def test_stop_releases_the_port_the_threads_and_the_sockets() -> None:
    threads_before, fds_before = set(threading.enumerate()), _open_fds()
    emulator = Emulator().start()
    port = emulator.port
    clients = []
    for _ in range(3):  # idle keep-alive connections must not keep stop() waiting
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("POST", SESSIONS, body=b"{}", headers={"Authorization": f"Bearer {emulator.api_key}"})
        conn.getresponse().read()
        clients.append(conn)
    assert len(set(threading.enumerate()) - threads_before) == 4  # the server loop and one per connection
    emulator.stop()
    assert set(threading.enumerate()) - threads_before == set()  # while the clients still hold their connections
    for conn in clients:
        conn.close()
    wait_until(lambda: _open_fds() <= fds_before, what="the emulator's sockets to close")  # others may wind down
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))


def test_stop_does_not_wait_for_a_pending_delay() -> None:
    threads_before = set(threading.enumerate())
    emulator = Emulator().start()
    emulator.enqueue(Fault.delay(3600))
    sock = raw_request(emulator)
    wait_until(lambda: emulator.received == 1, what="the request to reach the delay")
    emulator.stop()
    assert set(threading.enumerate()) - threads_before == set()  # the delayed handler ended too, it did not wait
    with sock:
        assert sock.recv(100) == b""


def test_explicit_start_and_stop_expose_the_base_url(client: requests.Session) -> None:
    emulator = Emulator(api_key="sk-explicit-key-123456")
    with pytest.raises(RuntimeError):
        _ = emulator.base_url
    emulator.start()
    try:
        assert emulator.base_url == f"http://127.0.0.1:{emulator.port}/v1"
        assert emulator.running
        assert post(client, emulator, {}).status_code == 200
    finally:
        emulator.stop()
    assert not emulator.running


# the command line


def test_the_module_prints_the_environment_and_stops_on_ctrl_c() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "realtime_service.emulator", "--port", "0", "--api-key", "sk-cli-test-key-0000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        export = process.stdout.readline()
        assert "http://127.0.0.1:" in first
        assert export.startswith("export OPENAI_BASE_URL=http://127.0.0.1:")
        assert "OPENAI_API_KEY=sk-cli-test-key-0000" in export
        base_url = export.split()[1].split("=", 1)[1]
        with requests.Session() as session:
            session.trust_env = False
            response = session.post(
                base_url + "/realtime/sessions", json={}, headers={"Authorization": "Bearer sk-cli-test-key-0000"}
            )
        assert response.status_code == 200
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()


def test_main_rejects_a_bad_port_argument() -> None:
    assert main(["--port", "not-a-number"]) == 2  # one line through the CLI's boundary, not argparse's exit
