"""The retry policy's rules as a plain object: which errors retry, how long to wait, Retry-After parsing."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
from tenacity import Future, RetryCallState, Retrying

from realtime_service.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    RequestValidationError,
    status_error_class,
)
from realtime_service.retry import RetryPolicy, _StopAtDeadline, _WaitPerPolicy, retry_after_seconds


def status_error(
    status: int, headers: dict[str, str] | None = None, retry_after: float | None = None
) -> APIStatusError:
    return status_error_class(status)("x", status_code=status, headers=headers or {}, retry_after=retry_after)


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 599])
def test_transient_statuses_are_retryable(status: int) -> None:
    assert RetryPolicy().is_retryable(status_error(status))


@pytest.mark.parametrize("status", [301, 400, 401, 403, 404, 422])
def test_other_statuses_are_not_retryable(status: int) -> None:
    assert not RetryPolicy().is_retryable(status_error(status))


def test_x_should_retry_true_makes_a_400_retryable() -> None:
    assert RetryPolicy().is_retryable(status_error(400, {"x-should-retry": "true"}))


def test_x_should_retry_false_makes_a_503_final() -> None:
    assert not RetryPolicy().is_retryable(status_error(503, {"x-should-retry": "false"}))


@pytest.mark.parametrize("exc", [APIConnectionError(), APITimeoutError()])
def test_connection_failures_are_retryable(exc: Exception) -> None:
    assert RetryPolicy().is_retryable(exc)


def test_validation_errors_are_not_retryable() -> None:
    assert not RetryPolicy().is_retryable(RequestValidationError({"voice": ["bad"]}))


def test_a_server_wait_longer_than_max_retry_after_is_not_retried() -> None:
    policy = RetryPolicy(max_retry_after=60)
    assert policy.is_retryable(status_error(429, retry_after=60))
    assert not policy.is_retryable(status_error(429, retry_after=61))


def test_backoff_doubles_up_to_max_delay_with_downward_jitter() -> None:
    policy = RetryPolicy(initial_delay=0.5, max_delay=3.0, jitter=lambda: 0.0)
    assert [policy.backoff(n) for n in range(4)] == [0.5, 1.0, 2.0, 3.0]
    assert RetryPolicy(initial_delay=1.0, jitter=lambda: 1.0).backoff(0) == 0.75


def test_a_server_wait_within_bounds_replaces_the_backoff() -> None:
    policy = RetryPolicy(jitter=lambda: 0.0)
    assert policy.wait_after(status_error(503, retry_after=2.5), 0) == 2.5
    assert policy.wait_after(status_error(503, retry_after=0), 0) == 0.5
    assert policy.wait_after(status_error(503, retry_after=-3), 1) == 1.0


def test_retry_after_ms_wins_over_retry_after() -> None:
    assert retry_after_seconds({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5


def test_retry_after_in_seconds_is_parsed() -> None:
    assert retry_after_seconds({"retry-after": "3"}) == 3.0


def test_retry_after_as_an_http_date_is_relative_to_now() -> None:
    now = 1_800_000_000.0
    date = format_datetime(datetime.fromtimestamp(now + 7, tz=UTC), usegmt=True)
    assert retry_after_seconds({"retry-after": date}, now=lambda: now) == 7.0


def test_unparseable_retry_after_is_ignored() -> None:
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({"retry-after-ms": "x"}) is None
    assert retry_after_seconds({}) is None


def test_a_nan_wait_is_no_wait_and_a_later_header_still_counts() -> None:
    assert retry_after_seconds({"retry-after": "nan"}) is None
    assert retry_after_seconds({"retry-after-ms": "NaN", "retry-after": "2"}) == 2.0
    assert RetryPolicy().is_retryable(status_error(503, retry_after=retry_after_seconds({"retry-after": "nan"})))


def test_an_infinite_wait_is_an_over_long_wait() -> None:
    assert retry_after_seconds({"retry-after": "inf"}) == float("inf")
    assert not RetryPolicy().is_retryable(status_error(429, retry_after=float("inf")))


def test_from_settings_copies_every_setting() -> None:
    from realtime_service.config import RetrySettings

    settings = RetrySettings(max_retries=4, initial_delay=0.25, max_delay=3.0, max_retry_after=9.0, total_timeout=12.0)
    policy = RetryPolicy.from_settings(settings)
    copied = (policy.max_retries, policy.initial_delay, policy.max_delay, policy.max_retry_after, policy.total_timeout)
    assert copied == (4, 0.25, 3.0, 9.0, 12.0)


def test_a_server_wait_of_exactly_max_retry_after_is_honoured() -> None:
    policy = RetryPolicy(max_retry_after=30, jitter=lambda: 0.0)
    assert policy.wait_after(status_error(429, retry_after=30), 0) == 30


def _state(upcoming_sleep: float, outcome: BaseException | None = None) -> RetryCallState:
    state = RetryCallState(Retrying(), None, (), {})
    state.upcoming_sleep = upcoming_sleep
    if outcome is not None:
        future = Future(1)
        future.set_exception(outcome)
        state.outcome = future
    return state


def test_the_deadline_stops_a_wait_that_would_end_at_or_past_it_and_no_other() -> None:
    now = [100.0]
    stop = _StopAtDeadline(lambda: now[0], deadline=110.0)
    assert not stop(_state(9.5))
    assert stop(_state(10.0))
    assert stop(_state(10.5))
    now[0] = 109.5
    assert not stop(_state(0.0))


def test_the_wait_without_an_outcome_is_the_backoff() -> None:
    wait = _WaitPerPolicy(RetryPolicy(jitter=lambda: 0.0))
    assert wait(_state(0.0)) == 0.5
    assert wait(_state(0.0, outcome=status_error(503, retry_after=2))) == 2
