"""One verified delivery through deduplication, the router and the upstream call: the endpoint's whole job
after the signature check, framework-free. The HTTP layer only maps :attr:`Outcome.status` to its answer.

Order: claim the delivery (``webhook-id``), claim the pending call (both announcements of one call share a key,
see :func:`~.ledger.call_key`), route, act, record. The router runs once per call, so a per-caller budget is spent
once; an ``Ignore`` gives the call key back so the call's other announcement can still decide it.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..errors import APIConnectionError, InternalServerError, RateLimitError
from .callers import CallerLimitUnavailable
from .decisions import Accept, Decision, Ignore, Refer, Reject, RouterLike, adecide, decide
from .events import IncomingCall, LiveTransportIncoming, RealtimeCallIncoming, WebhookEvent
from .ledger import Claim, DecisionLedger, LedgerUnavailable, call_key, webhook_key
from .masking import logger
from .verify import WebhookDelivery

#: The upstream call for a decision (``accept_call``, ``reject_live_session``...): returns nothing, raises the
#: service's errors.
Act = Callable[[IncomingCall, Decision], None]
AsyncAct = Callable[[IncomingCall, Decision], Awaitable[None] | None]

OK = 200
#: Another worker is deciding this delivery or call right now: not 2xx, so OpenAI redelivers later.
IN_PROGRESS = 409
#: A retryable failure (upstream 5xx/429/connection, storage down): not 2xx, so OpenAI redelivers.
RETRY = 503


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to a delivery: the HTTP status to answer and a short result for the access log
    (``accepted``, ``rejected:603``, ``referred``, ``ignored``, ``duplicate``, ``already_decided:accepted``,
    ``in_progress``, ``retry``, ``failed:BadRequestError``)."""

    status: int
    result: str
    decision: Decision | None = None


def default_retryable(error: BaseException) -> bool:
    """Upstream failures worth OpenAI's redelivery: 5xx, 429 and connection errors (a timeout included: the call
    may be accepted at most once upstream, so a repeated accept cannot start a second session)."""
    return isinstance(error, InternalServerError | RateLimitError | APIConnectionError)


def outcome_of(decision: Decision) -> str:
    if isinstance(decision, Accept):
        return "accepted"
    if isinstance(decision, Reject):
        return f"rejected:{decision.status_code}"
    if isinstance(decision, Refer):
        return "referred"
    return "ignored"


class CallDesk:
    """Dedupe, route, act, record. ``act`` performs the decision upstream; ``retryable`` says which of its errors
    deserve a redelivery (the claims are released), every other error is recorded as ``failed`` and answered 200
    (a redelivery would fail the same way)."""

    def __init__(
        self,
        ledger: DecisionLedger,
        router: RouterLike,
        act: AsyncAct,
        *,
        retryable: Callable[[BaseException], bool] = default_retryable,
    ) -> None:
        self.ledger = ledger
        self.router = router
        self.act = act
        self.retryable = retryable

    # -- the steps, shared by the sync and async paths ---------------------------------------------------------

    def _claim(self, delivery: WebhookDelivery, event: WebhookEvent) -> tuple[Claim, Claim | None] | Outcome:
        try:
            claim = self.ledger.claim(webhook_key(delivery.webhook_id))
        except LedgerUnavailable:
            return Outcome(RETRY, "retry")
        if claim.status == "decided":
            return Outcome(OK, f"already_decided:{claim.outcome}")
        if claim.status == "in_progress":
            return Outcome(IN_PROGRESS, "in_progress")
        key = call_key(event)
        if key is None:
            return claim, None
        try:
            call = self.ledger.claim(key)
        except LedgerUnavailable:
            self._release(claim)
            return Outcome(RETRY, "retry")
        if call.status == "decided":
            self._record(claim, "duplicate")
            return Outcome(OK, "duplicate")
        if call.status == "in_progress":
            self._release(claim)
            return Outcome(IN_PROGRESS, "in_progress")
        return claim, call

    def _release(self, *claims: Claim | None) -> None:
        for claim in claims:
            if claim is not None:
                try:
                    self.ledger.release(claim)
                except LedgerUnavailable:
                    logger.warning("could not release a webhook claim: it lapses after its TTL")

    def _record(self, claim: Claim, outcome: str, *, ttl: float | None = None) -> None:
        try:
            if not self.ledger.record(claim, outcome, ttl=ttl):
                logger.warning("a webhook claim lapsed while deciding (raise server.phone.claim_ttl)")
        except LedgerUnavailable:
            logger.warning("could not record a webhook decision: a redelivery may decide again")

    def _finish(self, claim: Claim, call: Claim | None, decision: Decision) -> Outcome:
        result = outcome_of(decision)
        if call is not None:
            self._record(call, result, ttl=self.ledger.call_ttl)
        self._record(claim, result)
        return Outcome(OK, result, decision)

    def _failed(self, claim: Claim, call: Claim | None, decision: Decision, error: Exception) -> Outcome:
        if self.retryable(error):
            self._release(call, claim)
            logger.warning(
                "upstream %s failed (%s): answering 503 for a redelivery", outcome_of(decision), type(error).__name__
            )
            return Outcome(RETRY, "retry", decision)
        result = f"failed:{type(error).__name__}"
        logger.error("upstream %s failed for good (%s): %s", outcome_of(decision), type(error).__name__, error)
        if call is not None:
            self._record(call, result, ttl=self.ledger.call_ttl)
        self._record(claim, result)
        return Outcome(OK, result, decision)

    def _ignored(self, claim: Claim, call: Claim | None, decision: Decision) -> Outcome:
        self._release(call)  # the call's other announcement may still decide it
        self._record(claim, "ignored")
        return Outcome(OK, "ignored", decision)

    # -- the two paths -------------------------------------------------------------------------------------------

    def handle(self, delivery: WebhookDelivery, event: WebhookEvent) -> Outcome:
        """Handle one verified delivery from sync code (a WSGI worker)."""
        claimed = self._claim(delivery, event)
        if isinstance(claimed, Outcome):
            return claimed
        claim, call = claimed
        try:
            decision = decide(self.router, event)
        except CallerLimitUnavailable:
            self._release(call, claim)
            return Outcome(RETRY, "retry")
        except BaseException:
            self._release(call, claim)
            raise
        if isinstance(decision, Ignore) or not isinstance(event, RealtimeCallIncoming | LiveTransportIncoming):
            return self._ignored(claim, call, decision)
        try:
            result = self.act(event, decision)
        except Exception as error:
            return self._failed(claim, call, decision, error)
        except BaseException:
            self._release(call, claim)
            raise
        if inspect.isawaitable(result):  # a programming error, not an upstream failure: nothing was sent
            if inspect.iscoroutine(result):
                result.close()
            self._release(call, claim)
            raise TypeError("CallDesk.handle() was given an async act: use await CallDesk.ahandle()")
        return self._finish(claim, call, decision)

    async def ahandle(self, delivery: WebhookDelivery, event: WebhookEvent) -> Outcome:
        """Handle one verified delivery on an event loop; the router and ``act`` may be sync or async. (The
        ledger's storage calls are short and bounded by their timeouts; they run on the loop.)"""
        claimed = self._claim(delivery, event)
        if isinstance(claimed, Outcome):
            return claimed
        claim, call = claimed
        try:
            decision = await adecide(self.router, event)
        except CallerLimitUnavailable:
            self._release(call, claim)
            return Outcome(RETRY, "retry")
        except BaseException:
            self._release(call, claim)
            raise
        if isinstance(decision, Ignore) or not isinstance(event, RealtimeCallIncoming | LiveTransportIncoming):
            return self._ignored(claim, call, decision)
        try:
            result = self.act(event, decision)
            if inspect.isawaitable(result):
                await result
        except Exception as error:
            return self._failed(claim, call, decision, error)
        except BaseException:
            self._release(call, claim)
            raise
        return self._finish(claim, call, decision)


__all__ = ["IN_PROGRESS", "OK", "RETRY", "Act", "AsyncAct", "CallDesk", "Outcome", "default_retryable"]
