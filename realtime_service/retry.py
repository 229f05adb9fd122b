"""The retry policy: which failures are retried, how long to wait, and when to give up.

Modelled on the official SDK: 408, 409, 429, 5xx, connection errors and timeouts are retried, other 4xx are not,
and ``x-should-retry: true|false`` overrides both. A server-requested wait (``retry-after-ms`` or
``Retry-After``) is honoured when it is at most ``max_retry_after``; a longer one is not retried at all (the
SDK would fall back to its own backoff; we hand the wait to the caller in ``RateLimitError.retry_after``).
``total_timeout`` bounds the whole call on an injectable clock: no retry starts whose wait would end past it.
"""

from __future__ import annotations

import asyncio
import enum
import math
import random
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import TypeVar, cast

from tenacity import (
    AsyncRetrying,
    BaseRetrying,
    DoAttempt,
    DoSleep,
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
)
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from .config import RetrySettings
from .errors import APIConnectionError, APIStatusError

T = TypeVar("T")
RETRYABLE_STATUS = frozenset({408, 409, 429})
#: The statuses that say a request was not processed, so even a billable create may be sent again.
UNPROCESSED_STATUS = frozenset({429, 503})


class RetryRule(enum.Enum):
    """Whether a failed attempt of an operation may be repeated.

    ``IDEMPOTENT``: any retryable failure (connection errors, timeouts, 408/409/429, 5xx). ``UNSENT_ONLY``, for
    operations that start something billable (a call, a Live session): only when the request cannot have been
    processed (the connection was never made, 429, 503, or ``x-should-retry: true``), never after a read timeout
    or a 500/502/504 whose outcome is unknown, so a retry never buys a second session.

    ``UNREACHED_ONLY``, for operations with a real-world effect nothing can take back (an outbound phone call:
    a phone rings): only when the connection was never made, so the request certainly never reached anyone.
    Not after a 429 or a 503, nor on ``x-should-retry: true``: a proxy or gateway in front of the API may answer
    those after the API placed the call. The caller sees the error (``retry_after`` included) and decides.
    """

    IDEMPOTENT = "idempotent"
    UNSENT_ONLY = "unsent_only"
    UNREACHED_ONLY = "unreached_only"


def outcome_unknown(exc: BaseException) -> bool:
    """Whether the failed attempt behind ``exc`` may have been carried out by the server."""
    if isinstance(exc, APIConnectionError):
        return exc.request_sent
    if isinstance(exc, APIStatusError):
        return exc.status_code >= 500 and exc.status_code != 503
    return False


def retry_after_seconds(headers: Mapping[str, str], now: Callable[[], float] = time.time) -> float | None:
    """The server's requested wait: ``retry-after-ms``, else ``Retry-After`` in seconds or as an HTTP date.

    ``nan`` is no wait at all (it would make a retryable error final); ``inf`` stays an over-long wait."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            seconds = float(millis) / 1000.0
        except ValueError:
            pass
        else:
            if not math.isnan(seconds):
                return seconds
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return None if math.isnan(seconds) else seconds
    try:
        return parsedate_to_datetime(value).timestamp() - now()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


@dataclass(frozen=True)
class RetryPolicy:
    """A plain, injectable policy object. ``sleep``, ``asleep``, ``clock`` and ``jitter`` are seams for tests."""

    max_retries: int = 2
    initial_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0
    total_timeout: float = 30.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    asleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, repr=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    jitter: Callable[[], float] = field(default=random.random, repr=False)

    @classmethod
    def from_settings(cls, settings: RetrySettings, **seams: object) -> RetryPolicy:
        return cls(
            max_retries=settings.max_retries,
            initial_delay=settings.initial_delay,
            max_delay=settings.max_delay,
            max_retry_after=settings.max_retry_after,
            total_timeout=settings.total_timeout,
            **seams,  # type: ignore[arg-type]
        )

    def is_retryable(self, exc: BaseException) -> bool:
        """Whether ``exc`` may be retried, ignoring attempt counts and the deadline."""
        if isinstance(exc, APIConnectionError):
            return True
        if not isinstance(exc, APIStatusError):
            return False
        should_retry = exc.headers.get("x-should-retry")
        if should_retry == "true":
            return True
        if should_retry == "false":
            return False
        if exc.status_code not in RETRYABLE_STATUS and exc.status_code < 500:
            return False
        return exc.retry_after is None or exc.retry_after <= self.max_retry_after

    def is_retryable_unsent(self, exc: BaseException) -> bool:
        """Whether ``exc`` may be retried under :attr:`RetryRule.UNSENT_ONLY`: the request cannot have been
        processed."""
        if isinstance(exc, APIConnectionError):
            return not exc.request_sent
        if not isinstance(exc, APIStatusError):
            return False
        should_retry = exc.headers.get("x-should-retry")
        if should_retry == "true":
            return True
        if should_retry == "false" or exc.status_code not in UNPROCESSED_STATUS:
            return False
        return exc.retry_after is None or exc.retry_after <= self.max_retry_after

    @staticmethod
    def is_retryable_unreached(exc: BaseException) -> bool:
        """Whether ``exc`` may be retried under :attr:`RetryRule.UNREACHED_ONLY`: no connection was made."""
        return isinstance(exc, APIConnectionError) and not exc.request_sent

    def backoff(self, retries_so_far: int) -> float:
        """Exponential backoff with up to 25% jitter downwards."""
        delay = min(self.initial_delay * 2.0**retries_so_far, self.max_delay)
        return delay * (1.0 - 0.25 * self.jitter())

    def wait_after(self, exc: BaseException | None, retries_so_far: int) -> float:
        """How long to wait before the next attempt after ``exc``."""
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None and 0 < retry_after <= self.max_retry_after:
            return float(retry_after)
        return self.backoff(retries_so_far)

    def deadline(self) -> float:
        """The clock reading at which a call starting now must be over."""
        return self.clock() + self.total_timeout

    def retrying(self, deadline: float, rule: RetryRule = RetryRule.IDEMPOTENT) -> Retrying:
        """A tenacity controller for one call that must end by ``deadline``, retrying as ``rule`` allows."""
        return Retrying(sleep=self.sleep, **self._controller_args(deadline, rule))  # type: ignore[arg-type]

    def async_retrying(self, deadline: float, rule: RetryRule = RetryRule.IDEMPOTENT) -> AsyncRetrying:
        """The asyncio twin of :meth:`retrying`: same rules, waits with ``asleep``."""
        return AsyncRetrying(sleep=self.asleep, **self._controller_args(deadline, rule))  # type: ignore[arg-type]

    def run(self, deadline: float, rule: RetryRule, attempt: Callable[[int], T]) -> T:
        """``attempt(1)``; if it fails, tenacity's controller (:meth:`retrying`) from that outcome on, calling
        ``attempt(n)`` for each attempt it allows. A call whose first attempt succeeds never builds the
        controller: about 20 µs per call, a tenth of a served mint's CPU (docs/performance-profile.md)."""
        try:
            return attempt(1)
        except Exception:
            retrying = self.retrying(deadline, rule)
            state = _after_first_failure(retrying)
        while True:  # tenacity's Retrying.__call__ loop
            do = retrying.iter(retry_state=state)
            if isinstance(do, DoAttempt):
                try:
                    result = attempt(state.attempt_number)
                except BaseException:
                    state.set_exception(_exc_info())
                else:
                    state.set_result(result)
            elif isinstance(do, DoSleep):
                state.prepare_for_next_attempt()
                self.sleep(do)
            else:
                return cast(T, do)

    async def arun(self, deadline: float, rule: RetryRule, attempt: Callable[[int], Awaitable[T]]) -> T:
        """The asyncio twin of :meth:`run`: the controller is :meth:`async_retrying`, waits are ``asleep``."""
        try:
            return await attempt(1)
        except Exception:
            retrying = self.async_retrying(deadline, rule)
            state = _after_first_failure(retrying)
        while True:  # tenacity's AsyncRetrying.__call__ loop
            do = await retrying.iter(retry_state=state)
            if isinstance(do, DoAttempt):
                try:
                    result = await attempt(state.attempt_number)
                except BaseException:
                    state.set_exception(_exc_info())
                else:
                    state.set_result(result)
            elif isinstance(do, DoSleep):
                state.prepare_for_next_attempt()
                await self.asleep(do)
            else:
                return cast(T, do)

    def _controller_args(self, deadline: float, rule: RetryRule) -> dict[str, object]:
        predicates = {
            RetryRule.IDEMPOTENT: self.is_retryable,
            RetryRule.UNSENT_ONLY: self.is_retryable_unsent,
            RetryRule.UNREACHED_ONLY: self.is_retryable_unreached,
        }
        predicate = predicates[rule]
        return {
            "retry": retry_if_exception(predicate),
            "wait": _WaitPerPolicy(self),
            "stop": stop_after_attempt(self.max_retries + 1) | _StopAtDeadline(self.clock, deadline),
            "reraise": True,
        }


class _WaitPerPolicy(wait_base):
    def __init__(self, policy: RetryPolicy) -> None:
        self._policy = policy

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        return self._policy.wait_after(exc, retry_state.attempt_number - 1)


class _StopAtDeadline(stop_base):
    """Stop when the coming wait would end at or past the deadline (tenacity computes the wait first)."""

    def __init__(self, clock: Callable[[], float], deadline: float) -> None:
        self._clock = clock
        self._deadline = deadline

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self._clock() + (retry_state.upcoming_sleep or 0.0) >= self._deadline


def _after_first_failure(retrying: BaseRetrying) -> RetryCallState:
    """A started controller's state holding the exception being handled as attempt 1's outcome, as tenacity's
    own loop records it. Only the state keeps it (until the next attempt): a traceback held anywhere else would
    keep its frames' buffers alive while the retries run."""
    retrying.begin()
    state = RetryCallState(retry_object=retrying, fn=None, args=(), kwargs={})
    state.set_exception(_exc_info())
    return state


def _exc_info() -> tuple[type[BaseException], BaseException, TracebackType | None]:
    """The exception being handled, typed as tenacity records it."""
    value = sys.exc_info()[1]
    assert value is not None
    return type(value), value, value.__traceback__
