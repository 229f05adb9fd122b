"""The exception tree's messages and attributes: what callers print, log and branch on."""

from __future__ import annotations

import pytest

from realtime_service.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RealtimeServiceError,
    RequestValidationError,
    ResponseValidationError,
    UnprocessableEntityError,
    status_error_class,
)


def test_a_request_validation_error_lists_each_field_sorted_with_its_messages() -> None:
    error = RequestValidationError({"voice": ["Not a valid string."], "speed": ["Too low.", "Really."]})
    assert str(error) == "invalid request: speed: Too low. Really.; voice: Not a valid string."
    assert error.fields == ["speed", "voice"]
    assert isinstance(error, ValueError)


def test_a_response_validation_error_keeps_the_status_and_names_the_request_only_when_known() -> None:
    error = ResponseValidationError("not a session", request_id="req_1", status_code=201)
    assert (error.request_id, error.status_code) == ("req_1", 201)
    assert str(error) == "not a session (request_id=req_1)"
    assert str(ResponseValidationError("not a session")) == "not a session"


def test_connection_and_timeout_errors_have_the_sdks_default_messages() -> None:
    connection, timeout = APIConnectionError(), APITimeoutError()
    assert (str(connection), connection.message) == ("Connection error.", "Connection error.")
    assert (str(timeout), timeout.message) == ("Request timed out.", "Request timed out.")
    assert APIConnectionError("refused").message == "refused"
    assert isinstance(timeout, APIConnectionError)


def test_a_status_error_reads_like_the_sdks_and_names_the_request_only_when_known() -> None:
    with_id = APIStatusError("slow down", status_code=429, request_id="req_9")
    assert str(with_id) == "Error code: 429 - slow down (request_id=req_9)"
    assert str(APIStatusError("slow down", status_code=429)) == "Error code: 429 - slow down"


def test_a_status_error_without_headers_has_its_own_empty_mapping() -> None:
    first, second = APIStatusError("a", status_code=500), APIStatusError("b", status_code=500)
    assert first.headers == {}
    assert first.headers is not second.headers
    headers = {"retry-after": "1"}
    assert APIStatusError("c", status_code=503, headers=headers).headers is headers


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (422, UnprocessableEntityError),
        (429, RateLimitError),
        (500, InternalServerError),
        (503, InternalServerError),
        (599, InternalServerError),
        (408, APIStatusError),
        (499, APIStatusError),
        (307, APIStatusError),
    ],
)
def test_each_status_maps_to_the_sdks_class(status: int, expected: type[APIStatusError]) -> None:
    assert status_error_class(status) is expected


def test_every_error_is_a_realtime_service_error() -> None:
    for error in (
        RequestValidationError({}),
        ResponseValidationError("x"),
        APITimeoutError(),
        RateLimitError("x", status_code=429),
    ):
        assert isinstance(error, RealtimeServiceError)


@pytest.mark.parametrize("error_class", [APIConnectionError, APITimeoutError])
def test_an_outcome_nobody_knows_counts_as_sent(error_class: type[APIConnectionError]) -> None:
    """Unless the raiser knows the request never left, it may have been processed: a billable operation must not
    be repeated on it (``RetryRule.UNSENT_ONLY``). Only an explicit ``request_sent=False`` says otherwise."""
    assert error_class().request_sent is True
    assert error_class("cut off").request_sent is True
    assert error_class(request_sent=False).request_sent is False
    assert error_class(request_sent=True).request_sent is True
