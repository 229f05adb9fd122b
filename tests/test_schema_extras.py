"""The beta codec's edges that callers meet through error messages: a dataclass's ``extra`` fields, and input that
cannot even be read. (Found by mutation testing: ``tests/test_schemas.py`` covered the happy paths.)"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from realtime_service.errors import RequestValidationError
from realtime_service.models import NOT_GIVEN, RealtimeSessionCreateRequest
from realtime_service.schemas import BetaSessionCodec


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
