"""Fuzzing whole calls, where ``tests/test_schemas.py`` fuzzes the beta codec alone.

Through a :class:`FakeGateway` (JSON parsing, the bridge, decoding and error mapping run as in production, minus
the sockets) and once more over real sockets with ``Fault.raw``:

- any bytes as a 2xx body end in a session or :class:`ResponseValidationError`, in both API shapes and for every
  operation the service has;
- any bytes as the body of any other status end in that status's :class:`APIStatusError` subclass;
- any ``Retry-After``/``retry-after-ms`` value ends in a session or the error, after finite, bounded waits;
- any JSON as a request is sent (as written, on the beta shape) or refused with :class:`RequestValidationError`
  naming fields of that request, with nothing sent.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from realtime_service import APIStatusError, RateLimitError, RequestValidationError, ResponseValidationError
from realtime_service.containers import RealtimeContainer
from realtime_service.emulator import Emulator, Fault
from realtime_service.errors import status_error_class
from realtime_service.redaction import shown_name
from realtime_service.service import RealtimeSessionService
from realtime_service.testing import FakeGateway, session_body

KEY = "sk-fuzz-0123456789abcdef0123456789abcdef"
#: Examples per property; ``FUZZ_EXAMPLES=5000 python -m pytest tests/test_fuzz.py`` for a deeper run.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- strategies ------------------------------------------------------------------------------------------------

text = st.text(max_size=16)
scalars = st.none() | st.booleans() | st.integers() | st.floats() | text
any_json = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4), max_leaves=16
)
secrets_like = any_json | st.fixed_dictionaries(
    {"value": any_json | st.just("ek_" + "a" * 24), "expires_at": any_json | st.integers()}
)
BETA_KEYS = [
    "id",
    "object",
    "model",
    "modalities",
    "voice",
    "instructions",
    "turn_detection",
    "tools",
    "tool_choice",
    "input_audio_format",
    "max_response_output_tokens",
    "tracing",
]
GA_SESSION_KEYS = [
    "type",
    "id",
    "object",
    "model",
    "output_modalities",
    "audio",
    "tool_choice",
    "max_output_tokens",
    "tools",
    "tracing",
    "instructions",
    "expires_at",
]
audio_like = st.fixed_dictionaries(
    {},
    optional={
        "input": any_json
        | st.fixed_dictionaries(
            {}, optional={"format": any_json, "transcription": any_json, "turn_detection": any_json}
        ),
        "output": any_json
        | st.fixed_dictionaries({}, optional={"format": any_json, "voice": any_json, "speed": any_json}),
    },
)
beta_answers = st.fixed_dictionaries({"client_secret": secrets_like}, optional=dict.fromkeys(BETA_KEYS, any_json))
ga_answers = st.fixed_dictionaries(
    {"value": any_json | st.just("ek_" + "b" * 24), "expires_at": any_json | st.integers()},
    optional={"session": any_json | st.dictionaries(st.sampled_from(GA_SESSION_KEYS), any_json | audio_like)},
)


def encoded(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    return strategy.map(lambda value: json.dumps(value).encode())


bodies = (
    st.binary(max_size=200)
    | st.text(max_size=60).map(str.encode)
    | encoded(any_json)
    | encoded(beta_answers)
    | encoded(ga_answers)
)
error_bodies = bodies | encoded(
    st.fixed_dictionaries(
        {
            "error": any_json
            | st.fixed_dictionaries({}, optional=dict.fromkeys(["message", "type", "code", "param"], any_json))
        }
    )
)
non_2xx = st.sampled_from([300, 301, 302, 304, 307, 308, 400, 401, 403, 404, 408, 409, 422, 429, 500, 502, 503]) | (
    st.integers(300, 599)
)
BETA_FIELDS = [
    "model",
    "modalities",
    "instructions",
    "voice",
    "input_audio_format",
    "output_audio_format",
    "input_audio_transcription",
    "turn_detection",
    "input_audio_noise_reduction",
    "tools",
    "tool_choice",
    "temperature",
    "max_response_output_tokens",
    "speed",
    "tracing",
    "client_secret",
]
requests_json = st.dictionaries(st.sampled_from(BETA_FIELDS) | text, any_json, max_size=6) | st.fixed_dictionaries(
    {},
    optional={
        "voice": text | any_json,
        "modalities": st.lists(st.sampled_from(["text", "audio", "video"]), max_size=3),
        "turn_detection": st.none()
        | st.dictionaries(
            st.sampled_from(["type", "eagerness", "threshold", "silence_duration_ms", "bogus"]),
            st.sampled_from(["server_vad", "semantic_vad", "high"]) | any_json,
        ),
        "temperature": st.floats(0, 2) | any_json,
        "client_secret": st.fixed_dictionaries(
            {
                "expires_after": st.fixed_dictionaries(
                    {"anchor": st.just("created_at")}, optional={"seconds": st.integers(0, 8000)}
                )
            }
        )
        | any_json,
    },
)

# --- the operations under test -------------------------------------------------------------------------------------

#: (operation, api_shape, a request it accepts): every operation of the service, listed plainly so that one which
#: disappears fails here (getattr) instead of silently dropping out of the fuzzing.
OPERATIONS: list[tuple[str, str, dict[str, Any]]] = [
    ("create_realtime_session", "beta", {}),
    ("create_realtime_session", "ga", {}),
    ("create_client_secret", "ga", {}),
    ("create_translation_client_secret", "ga", {"session": {"model": "gpt-realtime-translate"}}),
    ("create_transcription_session", "beta", {}),
]
OPERATION_IDS = [f"{name}[{shape}]" for name, shape, _ in OPERATIONS]


@pytest.fixture(scope="module")
def containers() -> Iterator[dict[str, RealtimeContainer]]:
    """One container per shape, no retries (each example is one attempt), waits not slept."""
    built = {}
    for shape in ("beta", "ga"):
        container = RealtimeContainer(environ={})
        container.config.from_dict({"api_key": KEY, "api_shape": shape, "retry": {"max_retries": 0}})
        container.sleep.override(lambda seconds: None)
        built[shape] = container
    yield built
    for container in built.values():
        container.shutdown_resources()


E = TypeVar("E", bound=BaseException)


def raised(run: Callable[[], object], kind: type[E]) -> E | None:
    """The ``kind`` error ``run()`` raised, or ``None`` if it returned; any other exception fails the test."""
    try:
        run()
    except kind as exc:
        return exc
    return None


def call(container: RealtimeContainer, operation: str, request: Any, fake: FakeGateway) -> Any:
    with container.gateway.override(fake):
        return getattr(container.realtime_session_service(), operation)(request)


@pytest.mark.parametrize(("operation", "shape", "request_body"), OPERATIONS, ids=OPERATION_IDS)
@FUZZ
@given(body=bodies, status=st.sampled_from([200, 200, 200, 201, 202, 203, 204, 206, 299]))
@example(body=b"", status=200)
@example(body=b"null", status=200)
@example(body=b'{"value": "ek_x", "session": {"audio": {"input": {"format": {"type": ["pcm"]}}}}}', status=200)
def test_any_bytes_as_a_2xx_body_give_a_session_or_a_response_validation_error(
    containers: dict[str, RealtimeContainer], operation: str, shape: str, request_body: Any, body: bytes, status: int
) -> None:
    fake = FakeGateway()
    fake.queue_response(body, status=status, headers={"x-request-id": "req_fuzz"})
    error = raised(lambda: call(containers[shape], operation, request_body, fake), ResponseValidationError)
    if error is not None:
        assert error.request_id == "req_fuzz"
        assert str(error)
        assert repr(error)
    assert len(fake.calls) == 1


@pytest.mark.parametrize(("operation", "shape", "request_body"), OPERATIONS, ids=OPERATION_IDS)
@FUZZ
@given(body=error_bodies, status=non_2xx)
@example(body=b'{"error": {"message": null, "code": 5}}', status=400)
@example(body=b'{"error": "quota"}', status=429)
def test_any_bytes_as_an_error_body_give_that_statuses_error(
    containers: dict[str, RealtimeContainer], operation: str, shape: str, request_body: Any, body: bytes, status: int
) -> None:
    fake = FakeGateway()
    fake.queue_response(body, status=status)
    with pytest.raises(APIStatusError) as caught:
        call(containers[shape], operation, request_body, fake)
    error = caught.value
    assert type(error) is status_error_class(status)
    assert error.status_code == status
    assert isinstance(error.message, str)
    assert all(value is None or isinstance(value, str) for value in (error.type, error.code, error.param))
    str(error), repr(error)


@FUZZ
@given(
    header=st.sampled_from(["retry-after", "retry-after-ms"]),
    value=st.text(max_size=30)
    | st.floats().map(repr)
    | st.integers(-(10**6), 10**6).map(str)
    | st.sampled_from(["nan", "inf", "-inf", "1e400", "Wed, 21 Oct 2015 07:28:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT"])
    | st.sampled_from(["0", "-1", "1_0", " 2 ", "0x10"]),
    status=st.sampled_from([429, 503]),
)
def test_any_retry_after_value_ends_the_call_after_finite_bounded_waits(header: str, value: str, status: int) -> None:
    waits: list[float] = []
    container = RealtimeContainer(environ={})
    container.config.from_dict({"api_key": KEY, "api_shape": "beta", "retry": {"max_retries": 1}})
    container.sleep.override(waits.append)
    fake = FakeGateway()
    fake.queue_response({"error": {"message": "slow down"}}, status=status, headers={header: value})
    fake.queue_response(session_body())
    with container.gateway.override(fake):
        error = raised(lambda: container.realtime_session_service().create_realtime_session({}), APIStatusError)
    container.shutdown_resources()
    if error is not None:
        assert isinstance(error, RateLimitError) == (status == 429)
        assert waits == []
    else:
        (wait,) = waits
        assert math.isfinite(wait)
        assert 0 < wait <= 60


@pytest.mark.parametrize("shape", ["beta", "ga"])
@FUZZ
@given(request=requests_json | any_json)
def test_any_json_request_is_sent_or_refused_naming_its_fields(
    containers: dict[str, RealtimeContainer], shape: str, request: Any
) -> None:
    fake = FakeGateway()
    fake.queue_response(session_body() if shape == "beta" else ga_answer())
    error = raised(lambda: call(containers[shape], "create_realtime_session", request, fake), RequestValidationError)
    if error is not None:
        assert fake.calls == []
        assert error.messages
        if isinstance(request, dict):
            for path in error.fields:
                # a key is named as the errors name it (one not shaped like a field name, by its length only)
                named = {shown_name(key) for key in request}
                assert any(path == key or path.startswith(f"{key}.") for key in named), (path, request)
        else:
            assert error.fields == ["_schema"]
        return
    assert len(fake.calls) == 1
    if shape == "beta":
        assert fake.calls[0].json == request


def ga_answer() -> dict[str, Any]:
    return {"value": "ek_" + "c" * 24, "expires_at": 2_000_000_000, "session": {"type": "realtime", "id": "sess_1"}}


# --- over real sockets ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_emulator() -> Iterator[Emulator]:
    with Emulator(KEY) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def socket_service(shared_emulator: Emulator) -> Iterator[RealtimeSessionService]:
    container = RealtimeContainer(environ={})
    container.config.from_dict(
        {"api_key": KEY, "base_url": shared_emulator.base_url, "api_shape": "beta", "retry": {"max_retries": 0}}
    )
    yield container.realtime_session_service()
    container.shutdown_resources()


@settings(max_examples=max(EXAMPLES // 3, 10), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies, gzipped=st.booleans())
def test_any_bytes_over_a_real_socket_give_a_session_or_a_response_validation_error(
    shared_emulator: Emulator, socket_service: RealtimeSessionService, body: bytes, gzipped: bool
) -> None:
    shared_emulator.clear()
    shared_emulator.enqueue(Fault.gzip(200, body=body) if gzipped else Fault.raw(body))
    error = raised(lambda: socket_service.create_realtime_session({}), ResponseValidationError)
    if error is not None:
        assert error.request_id is not None
    assert len(shared_emulator.requests) == 1


# --- found by fuzzing: bodies nested too deeply for json.loads ------------------------------------------------------

DEEP = b"[" * 100_000 + b"]" * 100_000  # 200 KB: well under max_response_bytes


@pytest.mark.parametrize("shape", ["beta", "ga"])
def test_a_2xx_body_nested_too_deeply_to_parse_is_a_response_validation_error(
    containers: dict[str, RealtimeContainer], shape: str
) -> None:
    fake = FakeGateway()
    fake.queue_response(DEEP)
    with pytest.raises(ResponseValidationError):
        call(containers[shape], "create_realtime_session", {}, fake)


def test_an_error_body_nested_too_deeply_to_parse_is_still_that_statuses_error(
    containers: dict[str, RealtimeContainer],
) -> None:
    fake = FakeGateway()
    fake.queue_response(DEEP, status=503)
    with pytest.raises(APIStatusError):
        call(containers["beta"], "create_realtime_session", {}, fake)


def test_an_unknown_empty_key_is_named_as_itself(containers: dict[str, RealtimeContainer]) -> None:
    with pytest.raises(RequestValidationError) as caught:
        call(containers["beta"], "create_realtime_session", {"": None}, FakeGateway())
    assert caught.value.fields == [""]
