"""``SignalingEndpoint``: ``POST /session`` takes a browser's SDP offer and answers with the upstream's SDP answer.

The browser never holds a key: this server posts the offer with its own API key and the session its policy
allows, to ``POST /realtime/calls`` (``server.voice_api: realtime``) or ``POST /live/sessions`` (``live``).

The pipeline is ``/token``'s admission, the same pieces with the same settings (:mod:`~realtime_service.web.admission`:
Host 421 -> origin 403 -> method 405 -> size 413 -> failed-auth throttle 429 -> authentication 401), then this route's
own: media type ``application/sdp`` (415) -> the query's session choices through ``/token``'s policy (400,
see :mod:`~realtime_service.web.routes.session.terms`) -> the offer check (400 naming ``sdp``) -> the identity's calls
budget (``server.call_rate_limit``, counted apart from ``/token``'s keys; 429) -> the upstream call. Success is
``201`` ``application/sdp`` with the answer and the call's id (``rtc_...`` or ``live_...``) in ``X-Call-Id``,
which CORS exposes to the page. Upstream failures are mapped as ``/token`` maps them
(:mod:`~realtime_service.web.routes.upstream`).
Every answer is ``no-store``; every request one access line. Under ``server.max_call_seconds`` the call's
hang-up is scheduled (:mod:`.hangups`). A create whose answer is lost is never sent again (a second billable
call); the call it may have started is hung up at once when any part of the answer named it, else a WARNING
says it may be running (``docs/signaling.md``, "Lost answers").
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Callable
from typing import Any

from realtime_service.config import Settings
from realtime_service.errors import APIStatusError, RequestValidationError, ResponseValidationError
from realtime_service.ga.calls import call_id_from_location
from realtime_service.live.sessions import session_id_in_partial
from realtime_service.observability import metrics
from realtime_service.redaction import scrub
from realtime_service.retry import outcome_unknown
from realtime_service.wire.sdp import check_offer

from ...admission.answers import COMMON_HEADERS, Refused, error_answer
from ...admission.bodies import media_type
from ...admission.budget import Budget
from ...admission.hosts import HostAllowList
from ...admission.pipeline import Admitted
from ...admission.ratelimit import IdentityRateLimiter
from ...messages import CALL_ID_HEADER, WebRequest, WebResponse
from ...settings import ServerSettings
from ..browser import BrowserRoute
from ..policy import PolicyError, SessionPolicy, SessionTerms
from ..secrets import KnownSecrets
from ..upstream import UnusableAnswer, upstream_failure
from .hangups import HangupScheduler
from .terms import call_terms, live_session, realtime_session

logger = logging.getLogger("realtime_service.web")

_SDP = "application/sdp"
#: Wire names that are the browser's offer, in service validation and in upstream errors.
_OFFER_PARAMS = frozenset({"sdp", "transport.sdp"})


class SignalingEndpoint(BrowserRoute):
    """Starts one call per accepted ``POST``, under the server's policy. Thread-safe; one per process.

    ``hosts`` is ``/token``'s allow-list (``serve`` adds the address it is bound to, for both routes);
    ``limiter`` is the calls budget (``server.call_rate_limit``), apart from ``/token``'s keys budget;
    ``throttle`` is ``/token``'s, so failed authentications count together on both routes. ``hangups`` is a
    zero-argument callable giving the :class:`~.hangups.HangupScheduler` (``None`` without
    ``server.max_call_seconds``); ``attacher`` one giving the
    :class:`~realtime_service.sideband.attacher.CallAttacher` that attaches ``server.sideband``'s toolbox (on
    GPT-Live, or its client delegate) to each call or Live session started (only called when that setting is on).
    """

    action = "call"

    def __init__(
        self,
        service: Callable[[], Any],
        settings: ServerSettings,
        *,
        limiter: IdentityRateLimiter,
        authenticate: Callable[[WebRequest], Any],
        realtime_settings: Callable[[], Settings],
        hosts: HostAllowList,
        throttle: IdentityRateLimiter | None = None,
        hangups: Callable[[], HangupScheduler | None] | None = None,
        attacher: Callable[[], Any] | None = None,
    ) -> None:
        super().__init__(
            settings,
            hosts=hosts,
            authenticate=authenticate,
            throttle=throttle,
            expose=("Retry-After", CALL_ID_HEADER),
        )
        self._service = service
        self._policy = SessionPolicy(settings.session, settings.browser_fields, settings.max_ttl)
        self._budget = Budget(limiter, what="calls")
        self._hangups = hangups or (lambda: None)
        self._attacher = attacher
        self._secrets = KnownSecrets(settings.bearer_tokens, realtime_settings)

    @property
    def voice_api(self) -> str:
        return self.settings.voice_api

    # -- the route's own steps ------------------------------------------------------------------------------

    def _serve(self, request: WebRequest, admitted: Admitted) -> WebResponse:
        offer, terms = self._checked(request, admitted)
        self._budget.spend(admitted.identity, admitted.cors)
        return self._start_sync(offer, terms, admitted)

    async def _aserve(self, request: WebRequest, admitted: Admitted) -> WebResponse:
        offer, terms = self._checked(request, admitted)
        await self._budget.aspend(admitted.identity, admitted.cors)
        return await self._start_async(offer, terms, admitted)

    def _checked(self, request: WebRequest, admitted: Admitted) -> tuple[bytes, SessionTerms]:
        """Media type, session choices, offer: everything refused before the budget is spent."""
        cors, identity = admitted.cors, admitted.identity
        if media_type(request) != _SDP:
            raise Refused(
                error_answer(
                    415,
                    "Send the SDP offer as the request body with Content-Type: application/sdp.",
                    "invalid_request_error",
                    "unsupported_media_type",
                    cors,
                    identity=identity,
                )
            )
        try:
            terms = call_terms(self._policy, request.query)
        except PolicyError as exc:
            raise Refused(
                error_answer(
                    400, exc.message, "invalid_request_error", exc.code, cors, param=exc.field, identity=identity
                )
            ) from None
        try:
            offer = check_offer(request.body)
        except RequestValidationError as exc:
            raise Refused(
                self._bad_offer(" ".join(exc.messages.get("sdp", ["is not valid"])), cors, identity)
            ) from None
        return offer, terms

    def _start_sync(self, offer: bytes, terms: SessionTerms, admitted: Admitted) -> WebResponse:
        try:
            service = self._service()
            if self.voice_api == "live":
                live = service.create_live_session(offer, self._live_session(terms))
                return self._success(live.session_id, live.sdp, live.request_id, admitted)
            call = service.create_call(offer, self._realtime_session(terms))
            return self._success(call.call_id, call.sdp, call.request_id, admitted)
        except Exception as exc:
            lost = self._lost_call(exc)
            if lost is not None:
                self._hang_up_lost(lost)
            return self._failure(exc, terms, admitted)

    async def _start_async(self, offer: bytes, terms: SessionTerms, admitted: Admitted) -> WebResponse:
        try:
            service = self._service()
            if self.voice_api == "live":
                live = await service.acreate_live_session(offer, self._live_session(terms))
                return self._success(live.session_id, live.sdp, live.request_id, admitted)
            call = await service.acreate_call(offer, self._realtime_session(terms))
            return self._success(call.call_id, call.sdp, call.request_id, admitted)
        except Exception as exc:
            lost = self._lost_call(exc)
            if lost is not None:
                await asyncio.to_thread(self._hang_up_lost, lost)  # the service's blocking hang-up, off the loop
            return self._failure(exc, terms, admitted)

    def _success(self, call_id: str | None, sdp: str, request_id: str | None, admitted: Admitted) -> WebResponse:
        api = self._api
        if scrub(sdp, self._secrets.forms()) != sdp:  # every secret of the deployment (redaction.SECRETS) too
            logger.error("upstream SDP answer held a server secret: refused (request_id=%s)", request_id)
            raise UnusableAnswer(call_id, request_id)  # the call exists, but no browser will join it
        if call_id is not None:
            scheduler = self._hangups()
            if scheduler is not None:
                scheduler.schedule(api, call_id)  # before anything else can fail: the call exists upstream
            self._attach(call_id)
        elif self.settings.max_call_seconds is not None:
            logger.error("the upstream answer named no call id (request_id=%s): it cannot be hung up", request_id)
        headers = [
            ("Content-Type", _SDP),
            *COMMON_HEADERS[1:],
            *admitted.cors,
            *([(CALL_ID_HEADER, call_id)] if call_id is not None else []),
        ]
        metrics.call_started(api)
        return WebResponse(201, headers, sdp.encode("utf-8"), admitted.identity, request_id)

    def _realtime_session(self, terms: SessionTerms) -> dict[str, Any]:
        """The session sent upstream; under ``server.sideband`` its toolbox's tools are the call's, unless the
        configured session (or the browser, where allowed) named its own."""
        session = realtime_session(terms)
        sideband = self.settings.sideband
        if sideband is not None and "tools" not in session:
            session["tools"] = list(sideband.toolbox.definitions())
        return session

    def _live_session(self, terms: SessionTerms) -> dict[str, Any]:
        """The Live session sent upstream; under ``server.sideband`` its ``delegation`` is the server's (the
        toolbox's tools in a Responses delegation, or client delegation), set last: no query can change it."""
        session = live_session(terms, self.settings.live_model)
        sideband = self.settings.sideband
        if sideband is not None and sideband.delegation is not None:
            session["delegation"] = copy.deepcopy(dict(sideband.delegation))
        return session

    def _attach(self, call_id: str) -> None:
        """Under ``server.sideband``, schedule the attach and return at once: the browser's answer never waits
        for it, and a failure to schedule is logged once (the call stands; no key is logged)."""
        sideband = self.settings.sideband
        if sideband is None or self._attacher is None:
            return
        options: dict[str, Any] = {}
        if sideband.max_call_seconds is not None:
            options["max_call_seconds"] = sideband.max_call_seconds
        try:
            if self.voice_api == "live":
                # a WebRTC session (ended with session.close, not the SIP hang-up) of a known delegation type
                options.update(transport="webrtc", delegation_type=sideband.delegation_type)
                self._attacher().attach(
                    call_id, api="live", tools=sideband.toolbox, delegate=sideband.delegate_function, options=options
                )
                return
            self._attacher().attach(call_id, tools=sideband.toolbox, options=options)
        except Exception as exc:
            logger.error(
                "call %s: the sideband attach could not be scheduled (%s)",
                call_id,
                type(exc).__name__,
                extra={"call_id": call_id},
            )

    @property
    def _api(self) -> str:
        return "live" if self.voice_api == "live" else "realtime"

    def _lost_call(self, exc: Exception) -> str | None:
        """The id of a call the upstream may have started though the browser will not get its answer (lost, cut
        short, unusable), to hang up; ``None`` when there is none, or when it cannot be known (then a WARNING:
        the real API cannot be asked which calls exist). Never a second create: that would bill a second call."""
        if isinstance(exc, UnusableAnswer):
            call_id, why = exc.call_id, "its answer was unusable"
        elif isinstance(exc, ResponseValidationError) or outcome_unknown(exc):
            headers: dict[str, str] = getattr(exc, "headers", None) or {}
            # A Realtime call is named in the head (Location); a Live session at the start of the body.
            if self._api == "realtime":
                call_id = call_id_from_location(headers.get("location"))
            else:
                call_id = session_id_in_partial(getattr(exc, "partial_body", b""))
            why = f"its answer was lost ({type(exc).__name__})"
        else:
            return None
        if call_id is None:
            logger.warning(
                "a %s call may be running upstream that this server cannot hang up: %s before naming the call "
                "(request_id=%s); it ends when the upstream ends it (docs/signaling.md, 'Lost answers')",
                self._api,
                why,
                getattr(exc, "request_id", None),
            )
            return None
        logger.warning("%s %s was started but %s: hanging it up", self._api, call_id, why, extra={"call_id": call_id})
        return call_id

    def _hang_up_lost(self, call_id: str) -> None:
        """Hang up a call no browser can join: through the scheduler when there is one (it retries), else now."""
        scheduler = self._hangups()
        if scheduler is not None:
            scheduler.schedule(self._api, call_id, now=True)
            return
        try:
            service = self._service()
            if self._api == "live":
                service.hangup_live_session(call_id)
            else:
                service.hangup_call(call_id)
        except APIStatusError as exc:
            if exc.status_code != 404:  # 404: it has ended already
                logger.warning(
                    "hang-up of %s %s failed (%d): hang it up by hand",
                    self._api,
                    call_id,
                    exc.status_code,
                    extra={"call_id": call_id},
                )
            return
        except Exception as exc:
            logger.warning(
                "hang-up of %s %s failed (%s): hang it up by hand",
                self._api,
                call_id,
                type(exc).__name__,
                extra={"call_id": call_id},
            )
            return
        logger.info(
            "hung up %s %s: its answer never reached the browser", self._api, call_id, extra={"call_id": call_id}
        )

    def _failure(self, exc: Exception, terms: SessionTerms, admitted: Admitted) -> WebResponse:
        cors, identity = admitted.cors, admitted.identity
        if isinstance(exc, RequestValidationError) and _OFFER_PARAMS & set(exc.fields):
            name = next(field for field in exc.fields if field in _OFFER_PARAMS)
            return self._bad_offer(" ".join(exc.messages[name]), cors, identity)
        if isinstance(exc, APIStatusError) and exc.status_code in (400, 422) and exc.param in _OFFER_PARAMS:
            logger.info("upstream refused the browser's offer (request_id=%s, code=%s)", exc.request_id, exc.code)
            return self._bad_offer("was refused by the upstream API", cors, identity, exc.request_id)
        return upstream_failure(exc, terms.chosen, identity, cors, action="call")

    def _bad_offer(
        self, reason: str, cors: list[tuple[str, str]], identity: str, request_id: str | None = None
    ) -> WebResponse:
        return error_answer(
            400,
            f"sdp: the SDP offer {reason}",
            "invalid_request_error",
            "invalid_offer",
            cors,
            param="sdp",
            identity=identity,
            request_id=request_id,
        )
