"""The beta codec's edges that callers meet through error messages: a dataclass's ``extra`` fields, and input that
cannot even be read. (Found by mutation testing: ``tests/test_schemas.py`` covered the happy paths.)"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from realtime_service.beta.models import NOT_GIVEN, RealtimeSessionCreateRequest
from realtime_service.beta.schemas import BetaSessionCodec
from realtime_service.errors import RequestValidationError, ResponseValidationError


@pytest.fixture(scope="module")
def codec() -> BetaSessionCodec:
    return BetaSessionCodec()


def refusal(codec: BetaSessionCodec, request: Any) -> dict[str, list[str]]:
    with pytest.raises(RequestValidationError) as caught:
        codec.encode(request)
    return caught.value.messages


@pytest.mark.parametrize("key", [5, None, "\ud800"], ids=["int", "none", "lone-surrogate"])
def test_an_extra_key_that_is_not_a_valid_string_is_refused_as_extra(codec: BetaSessionCodec, key: Any) -> None:
    messages = refusal(codec, RealtimeSessionCreateRequest(voice="marin", extra={key: 1}))
    assert messages == {"extra": ["Keys must be strings (of valid Unicode)."]}


def test_extra_that_is_not_a_mapping_is_refused_as_extra(codec: BetaSessionCodec) -> None:
    request = RealtimeSessionCreateRequest(voice="marin", extra=[("a", 1)])  # type: ignore[arg-type]
    assert refusal(codec, request) == {"extra": ["Not a mapping."]}


def test_a_not_given_extra_value_skips_only_that_key(codec: BetaSessionCodec) -> None:
    request = RealtimeSessionCreateRequest(voice="marin", extra={"a": NOT_GIVEN, "b": 1, "c": NOT_GIVEN, "d": 2})
    assert codec.encode(request) == {"voice": "marin", "b": 1, "d": 2}


def test_an_extra_value_that_is_not_json_names_where(codec: BetaSessionCodec) -> None:
    messages = refusal(codec, RealtimeSessionCreateRequest(extra={"top": math.nan, "deep": {"x": [1, math.inf]}}))
    assert messages == {
        "extra.top": ["Not JSON at the top level: NaN and infinities are not JSON."],
        "extra.deep": ["Not JSON at x.1: NaN and infinities are not JSON."],
    }


class Unreadable(Mapping[str, Any]):
    """A mapping that fails as soon as it is read."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def __getitem__(self, key: str) -> Any:
        raise self.error

    def __iter__(self) -> Iterator[str]:
        raise self.error

    def __len__(self) -> int:
        return 1


@pytest.mark.parametrize(
    ("error", "reason"),
    [(KeyError("boom"), "unreadable input (KeyError)"), (RecursionError(), "nested too deeply")],
)
def test_a_request_that_cannot_be_read_is_refused_with_why(
    codec: BetaSessionCodec, error: BaseException, reason: str
) -> None:
    expected = {"_schema": [f"Could not validate: {reason}."]}
    with pytest.raises(RequestValidationError) as loading:
        codec.load_request(Unreadable(error))
    assert loading.value.messages == expected
    assert loading.value.__cause__ is error
    assert refusal(codec, Unreadable(error)) == expected


# --- the messages callers read -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([1], "response body is not a JSON object (got list)"),
        ({"id": "sess_1"}, "response has no valid client_secret (client_secret: Missing data for required field.)"),
        (
            {"client_secret": {"value": "", "expires_at": 1}},
            "response has no valid client_secret (client_secret.value: Shorter than minimum length 1.)",
        ),
        (
            {"client_secret": {"value": "ek_1", "expires_at": "1"}, "voice": 5},
            "response has no valid client_secret (client_secret.expires_at: Not a valid integer.)",
        ),
    ],
)
def test_a_response_without_a_usable_secret_says_why(codec: BetaSessionCodec, body: Any, message: str) -> None:
    with pytest.raises(ResponseValidationError) as caught:
        codec.decode(body, request_id="req_1")
    assert str(caught.value) == f"{message} (request_id=req_1)"
    assert caught.value.request_id == "req_1"


def test_a_response_that_cannot_be_read_says_so_with_the_request_id(codec: BetaSessionCodec) -> None:
    with pytest.raises(ResponseValidationError) as caught:
        codec.decode(Unreadable(KeyError("x")), request_id="req_2")
    assert str(caught.value) == "response body could not be read: unreadable input (KeyError) (request_id=req_2)"


def test_a_response_with_a_bad_echo_keeps_the_secret_and_lists_the_bad_fields(codec: BetaSessionCodec) -> None:
    body = {"client_secret": {"value": "ek_1", "expires_at": 1}, "voice": 5, "speed": "fast", "temperature": 0.8}
    response = codec.decode(body, request_id=None)
    assert response.client_secret.value == "ek_1"
    assert response.invalid_fields == ("speed", "voice")
    assert response.temperature == 0.8


@pytest.mark.parametrize(
    ("request_body", "messages"),
    [
        (
            {"tracing": {"metadata": {"a": [1, math.nan]}}},
            {"tracing.metadata": ["Not JSON at a.1: NaN and infinities are not JSON."]},
        ),
        (
            {"tracing": {"metadata": {"s": "\ud800"}}},
            {"tracing.metadata": ["Not JSON at s: a lone surrogate is not UTF-8."]},
        ),
        (
            {"tracing": {"metadata": {"o": object()}}},
            {"tracing.metadata": ["Not JSON at o: a object is not a JSON value."]},
        ),
        (
            {"tools": [{"parameters": {"k": {1: 2}}}]},
            {"tools.0.parameters": ["Not JSON at k: object keys must be strings (of valid Unicode)."]},
        ),
        (
            {"tracing": {"metadata": {"deep": {"er": [{"x": math.inf}]}}}},
            {"tracing.metadata": ["Not JSON at deep.er.0.x: NaN and infinities are not JSON."]},
        ),
        (
            {"max_response_output_tokens": 0},
            {"max_response_output_tokens": ['Must be "inf" or an integer between 1 and 4096.']},
        ),
        ({"tracing": "manual"}, {"tracing": ['Must be "auto" or an object.']}),
    ],
)
def test_a_refused_value_is_explained(codec: BetaSessionCodec, request_body: Any, messages: Any) -> None:
    assert refusal(codec, request_body) == messages
