"""Per-caller budgets (``server.phone.rate_limit: "5/hour"``), in the same storage as the token endpoint's limits.

Built with the ``limits`` library like :mod:`realtime_service.web.admission.ratelimit` (same storage URL, same options:
errors wrapped, short Redis timeouts), in a namespace of its own so a calling number never shares a budget with
a token identity. Callers without a readable number share one budget, ``anonymous``: hiding the number does not
buy a fresh budget.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, cast

if TYPE_CHECKING:
    from limits.strategies import RateLimiter

from ..errors import ConfigurationError, RealtimeServiceError

NAMESPACE = "realtime-phone"
ANONYMOUS = "anonymous"
STRATEGIES = ("moving-window", "fixed-window", "sliding-window-counter")


class CallerLimiter(Protocol):
    """Spends one unit of ``number``'s budget: ``None`` when there was room, else seconds until there is."""

    def hit(self, number: str | None) -> float | None: ...


class CallerLimitUnavailable(RealtimeServiceError):
    """The limit storage did not answer: the call is not decided (the endpoint answers 503, OpenAI redelivers)."""


def parse_limit(limit: str, key: str = "server.phone.rate_limit") -> tuple[Any, ...]:
    """The windows of ``limit`` ("5/hour;20/day"), shortest first, or a ConfigurationError naming ``key``."""
    try:
        from limits import parse_many
    except ImportError:
        raise ConfigurationError(f"{key} needs the limits package: pip install 'realtime-service[webhooks]'") from None
    try:
        items = parse_many(limit)
    except ValueError as exc:
        raise ConfigurationError(f"{key} {limit!r} does not parse: {exc}") from None
    return tuple(sorted(items, key=lambda item: item.get_expiry()))


class CallerRateLimiter:
    """:class:`CallerLimiter` over ``limits``: every window must have room; hit shortest first, stop at the first
    refusal (so a refused call never spends the longer windows)."""

    def __init__(self, limit: str, storage_uri: str = "memory://", strategy: str = "moving-window") -> None:
        from limits.storage import Storage, storage_from_string
        from limits.strategies import (
            FixedWindowRateLimiter,
            MovingWindowRateLimiter,
            SlidingWindowCounterRateLimiter,
        )

        self.items = parse_limit(limit)
        options: dict[str, Any] = {"wrap_exceptions": True}
        if storage_uri.startswith(("redis", "valkey")):
            options.update(socket_timeout=2.0, socket_connect_timeout=2.0)
        try:
            self.storage = cast(Storage, storage_from_string(storage_uri, **options))
        except Exception as exc:  # limits' own ConfigurationError for unknown schemes or missing packages
            raise ConfigurationError(f"server.rate_limit_storage cannot be used for phone limits: {exc}") from None
        strategies: dict[str, Callable[[Any], RateLimiter]] = {
            "moving-window": MovingWindowRateLimiter,
            "fixed-window": FixedWindowRateLimiter,
            "sliding-window-counter": SlidingWindowCounterRateLimiter,
        }
        if strategy not in strategies:
            raise ConfigurationError(f"rate-limit strategy {strategy!r} is not one of {', '.join(STRATEGIES)}")
        self.strategy = strategies[strategy](self.storage)

    @property
    def description(self) -> str:
        return ";".join(str(item) for item in self.items)

    def hit(self, number: str | None) -> float | None:
        from limits.errors import StorageError

        identity = number or ANONYMOUS
        try:
            for item in self.items:
                if not self.strategy.hit(item, NAMESPACE, identity):
                    stats = self.strategy.get_window_stats(item, NAMESPACE, identity)
                    return float(max(1, math.ceil(stats.reset_time - time.time())))
        except StorageError as exc:
            raise CallerLimitUnavailable(f"phone rate-limit storage: {type(exc.storage_error).__name__}") from None
        return None

    def close(self) -> None:
        """Release the storage (Redis connections, the memory storage's timer)."""
        timer = getattr(self.storage, "timer", None)
        if timer is not None:
            timer.cancel()
        close = getattr(getattr(self.storage, "storage", None), "close", None)
        if callable(close):
            close()
