"""Failed authentication, throttled per client network: guessing tokens costs a budget like minting does.

Before a route authenticates, :meth:`AuthThrottle.check` refuses (429) a client network whose failures have
filled ``server.auth_failure_limit`` (default ``20/minute;200/hour``), without even looking at the token it
sent; each failure spends one unit (:meth:`AuthThrottle.failed`). Successes spend nothing, so a real client
that typed its token wrong once is not locked out. Counted per :func:`~.clients.client_key` (IPv6 by /64).
"""

from __future__ import annotations

from .answers import Refused, error_answer
from .budget import Budget
from .ratelimit import IdentityRateLimiter, LimiterUnavailable


class AuthThrottle:
    def __init__(self, limiter: IdentityRateLimiter) -> None:
        self._limiter = limiter

    @property
    def enabled(self) -> bool:
        return bool(self._limiter.items)

    def check(self, client: str, headers: list[tuple[str, str]]) -> None:
        """Raise :class:`Refused` (429) when ``client`` has failed too often (a storage error is a 503)."""
        if not self.enabled:
            return
        try:
            retry_after = self._limiter.exhausted(client)
        except LimiterUnavailable as exc:
            raise Budget.down(exc, None, headers) from None
        if retry_after is not None:
            seconds = int(retry_after)
            raise Refused(
                error_answer(
                    429,
                    f"Too many failed authentication attempts: try again in {seconds} s.",
                    "rate_limit_error",
                    "auth_throttled",
                    [*headers, ("Retry-After", str(seconds))],
                    retry_after=seconds,
                )
            )

    def failed(self, client: str) -> None:
        if self.enabled:
            try:
                self._limiter.spend_all(client)
            except LimiterUnavailable as exc:
                raise Budget.down(exc, None, ()) from None
