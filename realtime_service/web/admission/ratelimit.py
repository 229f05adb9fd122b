"""Per-identity rate limits over several windows, with the ``limits`` library.

``server.rate_limit: "10/minute;200/day"``: every window must have room for a mint. Windows are hit from the
shortest to the longest, stopping at the first refusal, so a request refused by the minute window never spends
the daily budget (the one that caps spending). Each hit is atomic in the storage (a lock in memory, a Lua
script in Redis), so concurrent requests can never exceed a budget; at worst a request refused by a longer
window has used one unit of a shorter one. Storage errors fail closed: no budget check, no key.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, cast

from limits import RateLimitItem, parse_many
from limits.errors import StorageError
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import (
    FixedWindowRateLimiter,
    MovingWindowRateLimiter,
    RateLimiter,
    SlidingWindowCounterRateLimiter,
)

from realtime_service.errors import ConfigurationError

from ..settings import ServerSettings

NAMESPACE = "realtime-token"
logger = logging.getLogger("realtime_service.web")
_STRATEGIES: dict[str, Callable[[Any], RateLimiter]] = {
    "moving-window": MovingWindowRateLimiter,
    "fixed-window": FixedWindowRateLimiter,
    "sliding-window-counter": SlidingWindowCounterRateLimiter,
}


#: Seconds between two sweeps of expired entries in the memory storage (see :class:`SweptMemoryStorage`).
SWEEP_INTERVAL = 1.0


class SweptMemoryStorage(MemoryStorage):
    """limits' memory storage, its expired entries dropped every ``interval`` seconds by one long-lived thread.

    limits' own storage starts a new 10 ms ``threading.Timer`` on the first hit after each sweep, and ``start()``
    waits for the thread to run: with sequential mints at a few hundred a second, a third of the requests paid
    for a thread start (under FastAPI on the event loop itself). The sweep only bounds memory: counts never
    depend on it (a read drops an expired counter, the moving window compares timestamps).
    """

    def __init__(self, uri: str | None = None, *, interval: float = SWEEP_INTERVAL, **options: Any) -> None:
        super().__init__(uri, **options)
        self._stop = threading.Event()
        self._sweeper = threading.Thread(target=self._sweep, args=(interval,), name="rate-limit-sweeper", daemon=True)
        self._sweeper.start()

    def _MemoryStorage__schedule_expiry(self) -> None:
        """Replaces limits' per-hit timer start: :meth:`_sweep` runs all along instead."""

    def _sweep(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self._MemoryStorage__expire_events()  # type: ignore[attr-defined]
            except Exception:  # a failed sweep must not end the sweeping (memory would only grow)
                logger.exception("rate-limit memory sweep failed")

    def close(self) -> None:
        self.timer.cancel()
        self._stop.set()
        if self._sweeper is not threading.current_thread():
            self._sweeper.join(1.0)


def _memory_storage(storage_uri: str, options: dict[str, Any]) -> Storage | None:
    """A :class:`SweptMemoryStorage` for a ``memory://`` URI, when limits still has the hooks it replaces."""
    hooks = ("_MemoryStorage__schedule_expiry", "_MemoryStorage__expire_events")
    if storage_uri.split(":", 1)[0] != "memory" or not all(hasattr(MemoryStorage, hook) for hook in hooks):
        return None
    return SweptMemoryStorage(storage_uri, **options)


class LimiterUnavailable(Exception):
    """The rate-limit storage did not answer (Redis down): the endpoint refuses rather than mint unchecked."""


class IdentityRateLimiter:
    """``hit(identity)`` spends one unit of every window and returns ``None``, or the seconds until a refused
    window has room again. ``limit=None`` disables limiting (``server.rate_limit: off``)."""

    def __init__(
        self,
        limit: str | None,
        storage_uri: str = "memory://",
        strategy: str = "moving-window",
        *,
        namespace: str = NAMESPACE,
        setting: str = "server.rate_limit",
    ) -> None:
        self.namespace = namespace
        try:
            self.items: tuple[RateLimitItem, ...] = (
                tuple(sorted(parse_many(limit), key=lambda item: item.get_expiry())) if limit else ()
            )
        except ValueError as exc:
            raise ConfigurationError(f"{setting} {limit!r} does not parse: {exc}") from None
        options: dict[str, Any] = {"wrap_exceptions": True}
        if storage_uri.startswith(("redis", "valkey")):
            options.update(socket_timeout=2.0, socket_connect_timeout=2.0)
        try:
            self.storage = _memory_storage(storage_uri, options) or cast(
                Storage, storage_from_string(storage_uri, **options)
            )
        except Exception as exc:  # limits raises its own ConfigurationError for unknown schemes/missing packages
            raise ConfigurationError(f"server.rate_limit_storage cannot be used: {exc}") from None
        self.strategy = _STRATEGIES[strategy](self.storage)
        self.in_memory = isinstance(self.storage, MemoryStorage)

    @property
    def description(self) -> str:
        return ";".join(str(item) for item in self.items) or "off"

    def hit(self, identity: str) -> float | None:
        try:
            for item in self.items:
                if not self.strategy.hit(item, self.namespace, identity):
                    return self._wait(item, identity)
        except StorageError as exc:
            raise LimiterUnavailable(type(exc.storage_error).__name__) from None
        return None

    def exhausted(self, identity: str) -> float | None:
        """Like :meth:`hit` but spends nothing: the seconds until every window has room, or ``None``."""
        try:
            for item in self.items:
                if not self.strategy.test(item, self.namespace, identity):
                    return self._wait(item, identity)
        except StorageError as exc:
            raise LimiterUnavailable(type(exc.storage_error).__name__) from None
        return None

    def spend_all(self, identity: str) -> None:
        """Spend one unit of every window, whether or not one is already full (counting failures)."""
        try:
            for item in self.items:
                self.strategy.hit(item, self.namespace, identity)
        except StorageError as exc:
            raise LimiterUnavailable(type(exc.storage_error).__name__) from None

    def _wait(self, item: RateLimitItem, identity: str) -> float:
        stats = self.strategy.get_window_stats(item, self.namespace, identity)
        return float(max(1, math.ceil(stats.reset_time - time.time())))

    def check(self) -> bool:
        """Whether the storage answers (``/readyz``)."""
        try:
            return bool(self.storage.check())
        except Exception:
            return False

    def reset(self) -> None:
        """Forget every count (tests)."""
        self.storage.reset()

    def close(self) -> None:
        """Release the storage: Redis connections, or the memory storage's expiry timer."""
        if isinstance(self.storage, SweptMemoryStorage):
            self.storage.close()
            return
        if isinstance(self.storage, MemoryStorage):
            self.storage.timer.cancel()
            return
        client = getattr(self.storage, "storage", None)
        close = getattr(client, "close", None)
        if callable(close):
            close()


def open_rate_limiter(settings: ServerSettings) -> Iterator[IdentityRateLimiter]:
    """The container's resource: built from ``server.rate_limit*``, closed by ``shutdown_resources()``."""
    limiter = IdentityRateLimiter(settings.rate_limit, settings.rate_limit_storage, settings.rate_limit_strategy)
    try:
        yield limiter
    finally:
        limiter.close()


def open_call_rate_limiter(settings: ServerSettings) -> Iterator[IdentityRateLimiter]:
    """The calls budget per identity (``server.call_rate_limit``, ``/session``): in the same storage as the keys
    budget but its own namespace, so minting keys does not use up a developer's calls, nor calls their keys."""
    limiter = IdentityRateLimiter(
        settings.call_rate_limit,
        settings.rate_limit_storage,
        settings.rate_limit_strategy,
        namespace=NAMESPACE + "-calls",
        setting="server.call_rate_limit",
    )
    try:
        yield limiter
    finally:
        limiter.close()


def open_auth_throttle(settings: ServerSettings) -> Iterator[IdentityRateLimiter]:
    """The failed-authentication budget per client network (``server.auth_failure_limit``), in the same
    storage as the mint budget (so workers and hosts share it through Redis too), its own namespace."""
    limiter = IdentityRateLimiter(
        settings.auth_failure_limit,
        settings.rate_limit_storage,
        "moving-window",
        namespace=NAMESPACE + "-auth-failures",
        setting="server.auth_failure_limit",
    )
    try:
        yield limiter
    finally:
        limiter.close()
