"""``PhoneEndpoint``: ``POST /webhooks/openai`` (``server.phone.path``), framework-neutral like the token endpoint.

OpenAI calls it, server to server, for every incoming SIP call. The pipeline: Host allow-list (421) -> method (405) ->
body size (413), from the shared :mod:`~realtime_service.web.admission` pieces (no CORS, no bearer auth, no browser
budget: the signature is the authentication) -> the Standard Webhooks signature, checked on the raw bytes before any
of them is parsed (400 ``invalid_webhook`` whose ``param`` is the reason code, ``bad_signature``, ``stale``..., also
the access line's note ``refused:<reason>``; no secret configured: 500 ``webhook_secret_missing``) -> the
:class:`~realtime_service.webhooks.desk.CallDesk`: dedupe by ``webhook-id`` and by call in the
``server.rate_limit_storage``, the call router (a container provider a host app overrides), the decision carried out
through the service (``accept_call``...), each upstream attempt bounded by ``server.phone.upstream_timeout``. The
desk's answer is sent as is: 200 (decided, duplicate, ignored, failed for good), 409 (another worker is deciding it)
or 503 (retryable: OpenAI redelivers). One access line per request, its note the outcome.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from realtime_service.errors import WebhookVerificationError
from realtime_service.observability import metrics

from ...webhooks.actions import aservice_act, service_act
from ...webhooks.decisions import Accept, RouterLike
from ...webhooks.desk import IN_PROGRESS, RETRY, CallDesk, Outcome
from ...webhooks.events import LiveTransportIncoming, RealtimeCallIncoming, parse_event
from ...webhooks.ledger import DecisionLedger
from ...webhooks.router import ConfigRouter
from ...webhooks.verify import WebhookVerifier
from ..admission.accesslog import log_access
from ..admission.answers import COMMON_HEADERS, Refused, client_gone, dumps, error_answer
from ..admission.hosts import HostAllowList
from ..admission.pipeline import Admission, ClientKeys
from ..admission.spans import answered, decided, decision_span, served
from ..messages import WebRequest, WebResponse
from ..settings import ServerSettings

logger = logging.getLogger("realtime_service.web")

#: Seconds OpenAI is asked to wait before redelivering a 409/503 (a hint; its own backoff decides).
REDELIVER_AFTER = 1


@dataclass(frozen=True, slots=True)
class Ended:
    """A request answered before the desk: the answer, and the note for its access line (``refused:<reason>``
    for a refused signature, so a wrong secret shows as ``refused:bad_signature`` in the server's log)."""

    response: WebResponse
    note: str | None = None


def open_ledger(settings: ServerSettings) -> Iterator[DecisionLedger]:
    """The container's resource: the decision ledger in ``server.rate_limit_storage`` (memory, or Redis shared by
    every worker and host), closed by ``shutdown_resources()``."""
    phone = settings.phone
    ledger = DecisionLedger.from_url(
        settings.rate_limit_storage, claim_ttl=phone.claim_ttl, decided_ttl=phone.decided_ttl
    )
    try:
        yield ledger
    finally:
        ledger.close()


def open_config_router(settings: ServerSettings) -> Iterator[ConfigRouter]:
    """The default call router (``server.phone.session``, ``server.phone.rate_limit`` per calling number), its
    budgets in ``server.rate_limit_storage`` like the token endpoint's."""
    router = ConfigRouter.from_settings(settings.phone, settings.rate_limit_storage, settings.rate_limit_strategy)
    try:
        yield router
    finally:
        close = getattr(router.limiter, "close", None)
        if callable(close):
            close()


class PhoneEndpoint:
    """Handles OpenAI's webhook deliveries. Thread-safe; one per process.

    ``service`` and ``router`` are zero-argument callables (the container's providers), resolved per request, so
    ``container.token_server.call_router.override(...)`` reaches an endpoint built before the override.
    """

    def __init__(
        self,
        service: Callable[[], Any],
        settings: ServerSettings,
        *,
        router: Callable[[], RouterLike],
        ledger: DecisionLedger,
        attacher: Callable[[], Any] | None = None,
    ) -> None:
        self.settings = settings
        self.phone = settings.phone
        self._service = service
        self._router = router
        self.ledger = ledger
        self._attacher = attacher
        self.verifier: WebhookVerifier | None = self.phone.verifier() if self.phone.webhook_secrets else None
        #: The Host allow-list (``serve`` adds the address it is bound to); list OpenAI's view of your host name
        #: (the webhook URL's host) in ``server.allowed_hosts``.
        self.hosts = HostAllowList(settings.allowed_hosts, settings.cors_origins)
        self.admission = Admission(
            methods=("POST",),
            max_body_bytes=settings.max_body_bytes,
            clients=ClientKeys(settings.trust_forwarded, settings.ipv4_prefix, settings.ipv6_prefix),
            hosts=self.hosts,
        )
        timeout = self.phone.upstream_timeout
        self._timeout = (min(timeout, 2.0), timeout)

    def __repr__(self) -> str:
        return f"PhoneEndpoint(path={self.phone.path!r}, verifier={self.verifier!r})"

    # -- the two paths ------------------------------------------------------------------------------------------

    def handle(self, request: WebRequest) -> WebResponse:
        """Serve one delivery from sync code (a WSGI worker)."""
        started = time.perf_counter()
        note: str | None = None
        with served(request) as span:
            try:
                checked = self._checked(request)
                if isinstance(checked, Ended):
                    response, note = checked.response, checked.note
                else:
                    desk = CallDesk(self.ledger, self._router(), service_act(self._service(), timeout=self._timeout))
                    with decision_span() as deciding:
                        outcome = desk.handle(*checked)
                        decided(deciding, outcome.result, outcome.decision)
                    response, note = self._decided(checked[1], outcome)
            except Refused as refusal:
                response = refusal.response
            except Exception as exc:  # a bug or a router's own error: a JSON 500 (OpenAI redelivers), one line
                response, note = self._internal(exc), "error"
                metrics.webhook_delivery("error")
            answered(span, response)
        log_access(request, response, started, note)
        return response

    async def ahandle(self, request: WebRequest) -> WebResponse:
        """Serve one delivery on an event loop: the router may be async, decisions await the service's
        ``a``-twins (their attempts run in worker threads)."""
        started = time.perf_counter()
        note: str | None = None
        with served(request) as span:
            try:
                checked = self._checked(request)
                if isinstance(checked, Ended):
                    response, note = checked.response, checked.note
                else:
                    desk = CallDesk(self.ledger, self._router(), aservice_act(self._service(), timeout=self._timeout))
                    with decision_span() as deciding:
                        outcome = await desk.ahandle(*checked)
                        decided(deciding, outcome.result, outcome.decision)
                    response, note = self._decided(checked[1], outcome)
            except Refused as refusal:
                response = refusal.response
            except Exception as exc:
                response, note = self._internal(exc), "error"
                metrics.webhook_delivery("error")
            answered(span, response)
        log_access(request, response, started, note)
        return response

    # -- the steps ----------------------------------------------------------------------------------------------

    def _decided(self, event: Any, outcome: Outcome) -> tuple[WebResponse, str]:
        """What both twins do once the desk decided: count it, attach an accepted call's sideband, answer."""
        metrics.webhook_delivery(outcome.result, outcome.decision)
        self._attach(event, outcome)
        return self._answer(outcome), outcome.result

    def _attach(self, event: Any, outcome: Outcome) -> None:
        """After an accept this worker decided and carried out (never for a duplicate or a redelivery, which the
        ledger answers without a decision): schedule the sideband attach with the decision's tools and
        observers. It runs in the background (the answer is not delayed); a failure to schedule it is logged,
        the call stays accepted."""
        decision = outcome.decision
        if not (isinstance(decision, Accept) and decision.attaches and outcome.result == "accepted"):
            return
        if isinstance(event, RealtimeCallIncoming):
            call_id, api = event.call_id, "realtime"
        elif isinstance(event, LiveTransportIncoming):
            call_id, api = event.session_id, "live"
        else:
            return
        if self._attacher is None:
            logger.error("call accepted with tools, but this endpoint has no call attacher: not attached")
            return
        agent: dict[str, Any] = {}
        if decision.agent is not None:  # only then: an attacher need not know agents otherwise
            agent = {"agent": decision.agent, "agent_run_config": decision.agent_run_config}
        try:
            self._attacher().attach(
                call_id,
                tools=decision.tools,
                observers=decision.observers,
                delegate=decision.delegate,
                api=api,
                **agent,
            )
        except Exception as exc:
            logger.error("call accepted, but its sideband attach could not be scheduled (%s)", type(exc).__name__)

    def _checked(self, request: WebRequest) -> Any:
        """Admission, then the signature on the raw body, then the typed event: ``(delivery, event)`` or the
        answer that ends the request here (:class:`Ended`)."""
        if request.disconnected:
            return Ended(client_gone(), "client disconnected")
        self.admission.precheck(request)
        if self.verifier is None:
            logger.error(
                "%s %s: no webhook secret is configured (server.phone.webhook_secret or OPENAI_WEBHOOK_SECRET): "
                "every delivery is refused",
                request.method,
                self.phone.path,
            )
            answer = error_answer(
                500,
                "The webhook endpoint has no signing secret configured.",
                "server_error",
                "webhook_secret_missing",
            )
            return Ended(answer, "webhook_secret_missing")
        try:
            delivery = self.verifier.verify(request.body, request.headers)
            event = parse_event(request.body)  # only now: the bytes are OpenAI's
        except WebhookVerificationError as exc:  # the reason code only: never the secret, signature or body
            metrics.webhook_refused(exc.reason)
            answer = error_answer(
                400, f"Webhook refused: {exc.reason}.", "invalid_request_error", "invalid_webhook", param=exc.reason
            )
            return Ended(answer, f"refused:{exc.reason}")
        return delivery, event

    @staticmethod
    def _answer(outcome: Outcome) -> WebResponse:
        if outcome.status == IN_PROGRESS:
            return error_answer(
                409,
                "This delivery or call is being decided by another worker.",
                "invalid_request_error",
                "in_progress",
                [("Retry-After", str(REDELIVER_AFTER))],
            )
        if outcome.status == RETRY:
            return error_answer(
                503,
                "The decision could not be carried out now; deliver again.",
                "server_error",
                "retry",
                [("Retry-After", str(REDELIVER_AFTER))],
            )
        return WebResponse(outcome.status, [*COMMON_HEADERS], dumps({"result": outcome.result}))

    @staticmethod
    def _internal(exc: Exception) -> WebResponse:
        logger.error("webhook delivery failed: %s", type(exc).__name__, exc_info=exc)
        return error_answer(500, "The server failed to handle this delivery.", "server_error", "internal_error")
