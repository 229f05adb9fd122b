"""Wait for a condition instead of sleeping and hoping it holds by then.

A sleep that waits for something is either too short on a busy machine (a flaky failure) or too long everywhere
(a slow suite). ``wait_until`` polls the condition itself and fails, naming it, only when a generous deadline
passes: the deadline bounds a hang, it is not a measurement, so no test asserts anything about how long it took.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

#: Long enough for a loaded CI machine; only a broken behaviour ever waits this long.
DEFAULT_TIMEOUT = 30.0
_POLL = 0.005


def wait_until(predicate: Callable[[], T], timeout: float = DEFAULT_TIMEOUT, *, what: str | None = None) -> T:
    """Poll ``predicate`` until it returns something truthy, and return that; ``AssertionError`` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"still waiting after {timeout} s for {what or _name(predicate)} (last: {result!r})")
        time.sleep(_POLL)


async def await_until(predicate: Callable[[], T], timeout: float = DEFAULT_TIMEOUT, *, what: str | None = None) -> T:
    """:func:`wait_until` for a coroutine: yields to the event loop between polls instead of blocking it."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"still waiting after {timeout} s for {what or _name(predicate)} (last: {result!r})")
        await asyncio.sleep(_POLL)


def _name(predicate: Callable[..., object]) -> str:
    code = getattr(predicate, "__code__", None)
    if code is not None and predicate.__name__ == "<lambda>":
        return f"the condition at {code.co_filename.rsplit('/', 1)[-1]}:{code.co_firstlineno}"
    return getattr(predicate, "__qualname__", repr(predicate))
