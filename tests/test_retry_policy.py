"""The retry policy's rules as a plain object: which errors retry, how long to wait, Retry-After parsing."""

from __future__ import annotations

import asyncio
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
from realtime_service.retry import RetryPolicy, RetryRule, _StopAtDeadline, _WaitPerPolicy, retry_after_seconds


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


# -- run / arun: tenacity's controller, consulted only after a failure ---------------------------------------


class Script:
    """An attempt function that fails with ``failures`` in turn, then returns ``"done"``; records its numbers."""

    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.numbers: list[int] = []

    def __call__(self, number: int) -> str:
        self.numbers.append(number)
        if self.failures:
            raise self.failures.pop(0)
        return "done"

    async def acall(self, number: int) -> str:
        return self(number)


def policy_with(sleeps: list[float], **settings: float) -> RetryPolicy:
    async def asleep(seconds: float) -> None:
        sleeps.append(seconds)

    return RetryPolicy(sleep=sleeps.append, asleep=asleep, jitter=lambda: 0.0, **settings)  # type: ignore[arg-type]


def run_both(policy: RetryPolicy, rule: RetryRule, *failures: Exception) -> list[tuple[object, list[int]]]:
    """``policy.run`` and ``policy.arun`` over the same script: (result or the exception raised, attempt numbers)."""
    outcomes: list[tuple[object, list[int]]] = []
    for asynchronous in (False, True):
        script = Script(*failures)
        try:
            if asynchronous:
                result: object = asyncio.run(policy.arun(policy.deadline(), rule, script.acall))
            else:
                result = policy.run(policy.deadline(), rule, script)
        except Exception as exc:  # the outcome under test
            result = exc
        outcomes.append((result, script.numbers))
    return outcomes


def test_a_first_attempt_that_succeeds_is_the_only_one_and_nothing_waits() -> None:
    sleeps: list[float] = []
    assert run_both(policy_with(sleeps), RetryRule.IDEMPOTENT) == [("done", [1]), ("done", [1])]
    assert sleeps == []


def test_after_a_retryable_first_failure_the_controller_numbers_waits_and_retries() -> None:
    sleeps: list[float] = []
    outcomes = run_both(policy_with(sleeps, initial_delay=0.5), RetryRule.IDEMPOTENT, APIConnectionError("x"))
    assert outcomes == [("done", [1, 2]), ("done", [1, 2])]
    assert sleeps == [0.5, 0.5]  # one backoff wait in each run, the policy's first


def test_a_final_first_failure_is_raised_as_it_was_with_no_retry() -> None:
    sleeps: list[float] = []
    refusal = status_error(400)
    for outcome, numbers in run_both(policy_with(sleeps), RetryRule.IDEMPOTENT, refusal):
        assert outcome is refusal
        assert numbers == [1]
    assert sleeps == []


def test_retries_stop_after_max_retries_with_the_last_failure() -> None:
    sleeps: list[float] = []
    failures = [APIConnectionError(f"attempt {n}") for n in range(1, 5)]
    for outcome, numbers in run_both(policy_with(sleeps, max_retries=2), RetryRule.IDEMPOTENT, *failures):
        assert isinstance(outcome, APIConnectionError)
        assert str(outcome) == "attempt 3"
        assert numbers == [1, 2, 3]


def test_the_unsent_only_rule_retries_an_unsent_failure_and_not_a_sent_one() -> None:
    sleeps: list[float] = []
    unsent = APIConnectionError("refused", request_sent=False)
    assert run_both(policy_with(sleeps), RetryRule.UNSENT_ONLY, unsent) == [("done", [1, 2]), ("done", [1, 2])]
    sent = APIConnectionError("reset", request_sent=True)
    for outcome, numbers in run_both(policy_with(sleeps), RetryRule.UNSENT_ONLY, sent):
        assert outcome is sent
        assert numbers == [1]
