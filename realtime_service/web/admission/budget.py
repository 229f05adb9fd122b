"""The per-identity budget step (``server.rate_limit``): spend one unit or answer 429 with ``Retry-After``.

Storage errors fail closed (503): no budget check, no key. Redis is asked from a worker thread on the async
path, so the event loop never waits on the network.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from .answers import Refused, error_answer
from .ratelimit import IdentityRateLimiter, LimiterUnavailable

logger = logging.getLogger("realtime_service.web")

#: Seconds a client is told to wait when the rate-limit storage is down.
STORAGE_RETRY_AFTER = 5


class Budget:
    def __init__(self, limiter: IdentityRateLimiter, what: str = "keys") -> None:
        self.limiter = limiter
        self._what = what

    def spend(self, identity: str, headers: Iterable[tuple[str, str]] = ()) -> None:
        try:
            retry_after = self.limiter.hit(identity)
        except LimiterUnavailable as exc:
            raise self.down(exc, identity, headers) from None
        self._refuse(retry_after, identity, headers)

    async def aspend(self, identity: str, headers: Iterable[tuple[str, str]] = ()) -> None:
        try:
            if self.limiter.in_memory:
                retry_after = self.limiter.hit(identity)
            else:
                retry_after = await asyncio.to_thread(self.limiter.hit, identity)
        except LimiterUnavailable as exc:
            raise self.down(exc, identity, headers) from None
        self._refuse(retry_after, identity, headers)

    def _refuse(self, retry_after: float | None, identity: str, headers: Iterable[tuple[str, str]]) -> None:
        if retry_after is None:
            return
        seconds = int(retry_after)
        raise Refused(
            error_answer(
                429,
                f"Too many {self._what} requested: try again in {seconds} s.",
                "rate_limit_error",
                "rate_limited",
                [*headers, ("Retry-After", str(seconds))],
                identity=identity,
                retry_after=seconds,
            )
        )

    @staticmethod
    def down(exc: LimiterUnavailable, identity: str | None, headers: Iterable[tuple[str, str]]) -> Refused:
        logger.error("rate-limit storage unavailable (%s): refusing to go on unchecked", exc)
        return Refused(
            error_answer(
                503,
                "Try again shortly.",
                "server_error",
                "rate_limiter_unavailable",
                [*headers, ("Retry-After", str(STORAGE_RETRY_AFTER))],
                identity=identity,
                retry_after=STORAGE_RETRY_AFTER,
            )
        )
