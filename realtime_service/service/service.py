"""``RealtimeSessionService``: every operation, validated, retried and typed, on one shared path.

Each call validates before anything is sent, then runs attempts through the injected gateway under the
injected retry policy. The gateway is resolved per call (the container passes its provider), so
``container.gateway.override(fake)`` reaches a service singleton built before the override. What differs
between operations is declared once in :mod:`realtime_service.service.operations`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import quote, urlsplit

from ..beta.bridge import Bridge
from ..beta.models import (
    RealtimeSessionCreateRequest,
    RealtimeSessionCreateResponse,
    RealtimeTranscriptionSessionCreateRequest,
    RealtimeTranscriptionSessionCreateResponse,
)
from ..config import PATHS, Settings
from ..errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    ConfigurationError,
    RequestValidationError,
    status_error_class,
)
from ..ga.calls import CallCreateResult
from ..ga.models import (
    ClientSecretCreateRequest,
    ClientSecretCreateResponse,
    RealtimeSessionConfig,
    TranslationClientSecretCreateRequest,
    TranslationClientSecretCreateResponse,
)
from ..lifecycle import shutdown_hint
from ..live.sessions import LiveSessionCreateResult, OutboundLiveCallResult
from ..observability import metrics, tracing
from ..redaction import scrub, scrub_json
from ..retry import RetryPolicy, outcome_unknown, retry_after_seconds
from ..transport.headers import GATEWAY_OWNED, request_header_problems
from ..transport.seam import Gateway, HttpRequest, HttpResponse
from . import call_control
from . import operations as ops
from .call_control import CallControlResult
from .codecs import (
    shared_beta_codec,
    shared_call_session_codec,
    shared_client_secret_codec,
    shared_live_codec,
    shared_transcription_codec,
    shared_translation_codec,
)
from .operations import Body, Dial, Offer, Operation

if TYPE_CHECKING:  # the schema modules are imported on first use: building them is most of a cold start
    from ..beta.schemas import BetaSessionCodec, TranscriptionSessionCodec
    from ..ga.codecs import ClientSecretCodec
    from ..ga.schemas import CallSessionCodec, TranslationCodec
    from ..live.models import LiveSessionConfig, SipTrunk
    from ..live.schemas import LiveSessionCodec
    from ..sideband.connection import SidebandTarget
    from ..sideband.handle import CallHandle, LiveCallHandle
    from ..sideband.live import Delegate
    from ..sideband.realtime import Observer, ToolRunner

logger = logging.getLogger("realtime_service")

Timeout = float | tuple[float, float]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Prepared(Generic[T]):
    """One operation's call, ready to send: the declaration, the resolved path and the encoded body."""

    operation: Operation[T]
    path: str
    body: Body


class RealtimeSessionService:
    """Runs the API's operations. Thread-safe and stateless between calls: share one per process.

    Operations (each with an awaitable ``a``-twin): :meth:`create_client_secret` (GA, the live API),
    :meth:`create_translation_client_secret`, :meth:`create_realtime_session` (the seed's, bridged to GA by
    default), :meth:`create_transcription_session` (beta), and WebRTC signaling: :meth:`create_call`,
    :meth:`create_live_session`, :meth:`hangup_call` and :meth:`hangup_live_session`; and
    :meth:`aattach_call`, which attaches to a call's sideband and runs its tools (the ``sideband`` extra). They
    share one retry policy, one gateway and one error mapping; what differs (the retry rule included) is each
    one's declaration.

    ``gateway`` is a :class:`~realtime_service.transport.seam.Gateway` or a zero-argument callable returning one
    (a dependency-injector provider). ``api_shape`` picks where :meth:`create_realtime_session` goes: ``"ga"``
    bridges it to ``/realtime/client_secrets``, ``"beta"`` sends it to the retired ``/realtime/sessions``.
    ``paths`` maps operations to paths (providers differ). ``timeout`` is the default ``(connect, read)`` per
    attempt. ``secrets`` are scrubbed from any server text that ends up in an exception. ``unusable`` maps
    operations these settings cannot call to the reason, raised as a ``ConfigurationError`` before anything is
    sent. Each codec is an instance or a zero-argument factory (a container provider), built on the first call
    that needs it; ``None`` means the process-wide shared instance.
    """

    def __init__(
        self,
        gateway: Gateway | Callable[[], Gateway],
        codec: BetaSessionCodec | Callable[[], BetaSessionCodec] | None,
        policy: RetryPolicy,
        *,
        api_shape: str = "ga",
        bridge: Bridge | None = None,
        paths: Mapping[str, str] | None = None,
        timeout: tuple[float, float] = (5.0, 20.0),
        secrets: tuple[str, ...] = (),
        unusable: Mapping[str, str] | None = None,
        client_secret_codec: ClientSecretCodec | Callable[[], ClientSecretCodec] | None = None,
        translation_codec: TranslationCodec | Callable[[], TranslationCodec] | None = None,
        transcription_codec: TranscriptionSessionCodec | Callable[[], TranscriptionSessionCodec] | None = None,
        call_session_codec: CallSessionCodec | Callable[[], CallSessionCodec] | None = None,
        live_codec: LiveSessionCodec | Callable[[], LiveSessionCodec] | None = None,
        settings: Settings | Callable[[], Settings] | None = None,
    ) -> None:
        self._resolve_gateway: Callable[[], Gateway] = gateway if callable(gateway) else (lambda: gateway)
        self._codecs: dict[str, Callable[[], Any]] = {
            "beta": _resolver(codec, shared_beta_codec),
            "client_secret": _resolver(client_secret_codec, shared_client_secret_codec),
            "translation": _resolver(translation_codec, shared_translation_codec),
            "transcription": _resolver(transcription_codec, shared_transcription_codec),
            "call_session": _resolver(call_session_codec, shared_call_session_codec),
            "live": _resolver(live_codec, shared_live_codec),
        }
        self._built: dict[str, Any] = {}
        self._policy = policy
        self._api_shape = api_shape
        self._bridge = bridge or Bridge()
        self._paths = dict(paths or PATHS["openai"])
        self._unusable = dict(unusable or {})
        self._timeout = timeout
        self._secrets = tuple(s for s in secrets if s)
        self._settings: Callable[[], Settings] | None = (
            settings if callable(settings) else (lambda: settings) if settings is not None else None
        )

    # -- the operations -------------------------------------------------------------------------------------

    def create_realtime_session(
        self,
        request: RealtimeSessionCreateRequest | Mapping[str, Any],
        *,
        timeout: Timeout | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> RealtimeSessionCreateResponse:
        """The seed's ``createRealtimeSession``: validate ``request``, mint with retries, return the session.

        Under ``api_shape: ga`` the beta request is bridged to ``POST /realtime/client_secrets`` and the answer
        read back in beta names (see :mod:`realtime_service.beta.bridge`); under ``beta`` it goes to
        ``POST /realtime/sessions`` unchanged. Raises
        :class:`~realtime_service.errors.RequestValidationError` (nothing sent),
        :class:`~realtime_service.errors.APIStatusError` subclasses, ``APIConnectionError``/``APITimeoutError``,
        or ``ResponseValidationError``.
        """
        return self.run(self._sessions_operation(), request, timeout=timeout, extra_headers=extra_headers)

    async def acreate_realtime_session(
        self,
        request: RealtimeSessionCreateRequest | Mapping[str, Any],
        *,
        timeout: Timeout | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> RealtimeSessionCreateResponse:
        """The awaitable twin of :meth:`create_realtime_session`, with the same policy and errors.

        Each attempt runs on the event loop when the gateway is an
        :class:`~realtime_service.transport.seam.AsyncGateway` (``serve`` on FastAPI), else in a worker thread;
        waits between attempts use the policy's ``asleep``, so the event loop is never blocked. Cancelling the
        task stops it at once and starts no further attempt; an attempt already in flight in a thread finishes
        there and its answer is discarded (a key minted by it is simply never handed out and expires on its
        own); one on the loop is cancelled with the task.
        """
        return await self.arun(self._sessions_operation(), request, timeout=timeout, extra_headers=extra_headers)

    def create_client_secret(
        self,
        request: ClientSecretCreateRequest | Mapping[str, Any],
        *,
        timeout: Timeout | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> ClientSecretCreateResponse:
        """``POST /realtime/client_secrets``: mint a key for a GA ``realtime`` or ``transcription`` session.

        ``request`` is a :class:`~realtime_service.ga.models.ClientSecretCreateRequest` or a mapping with the
        API's JSON names (``{"session": {"type": "realtime", ...}, "expires_after": {...}}``). The answer's
        ``value`` is the key; ``session`` is parsed by its ``type``. Raises what
        :meth:`create_realtime_session` raises.
        """
        return self.run(ops.CLIENT_SECRETS, request, timeout=timeout, extra_headers=extra_headers)

    async def acreate_client_secret(
        self,
        request: ClientSecretCreateRequest | Mapping[str, Any],
        *,
        timeout: Timeout | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> ClientSecretCreateResponse:
        """The awaitable twin of :meth:`create_client_secret` (see :meth:`acreate_realtime_session`)."""
        return await self.arun(ops.CLIENT_SECRETS, request, timeout=timeout, extra_headers=extra_headers)

    def create_translation_client_secret(
        self,
        request: TranslationClientSecretCreateRequest | Mapping[str, Any],
        *,
        timeout: Timeout | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> TranslationClientSecretCreateResponse:
        """``POST /realtime/translations/client_secrets``: mint a key for a speech translation session."""
        return self.run(ops.TRANSLATION_CLIENT_SECRETS, request, timeout=timeout, extra_headers=extra_headers)

    async def acreate_translation_client_secret(
        self,
        request: TranslationClientSecretCreateRequest | Mapping[str, Any],
        *,
        timeout: Timeout | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> TranslationClientSecretCreateResponse:
        """The awaitable twin of :meth:`create_translation_client_secret`."""
        return await self.arun(ops.TRANSLATION_CLIENT_SECRETS, request, timeout=timeout, extra_headers=extra_headers)

    def create_transcription_session(
        self,
        request: RealtimeTranscriptionSessionCreateRequest | Mapping[str, Any],
        *,
        timeout: Timeout | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> RealtimeTranscriptionSessionCreateResponse:
        """Beta ``POST /realtime/transcription_sessions``, sent as is whatever ``api_shape`` says.

        Its key's lifetime is ``client_secret.expires_at`` (not ``expires_after``). The retired API answers
        ``beta_api_shape_disabled``; the GA way is :meth:`create_client_secret` with a ``transcription`` session.
        """
        return self.run(ops.TRANSCRIPTION_SESSIONS, request, timeout=timeout, extra_headers=extra_headers)

    async def acreate_transcription_session(
        self,
        request: RealtimeTranscriptionSessionCreateRequest | Mapping[str, Any],
        *,
        timeout: Timeout | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> RealtimeTranscriptionSessionCreateResponse:
        """The awaitable twin of :meth:`create_transcription_session`."""
        return await self.arun(ops.TRANSCRIPTION_SESSIONS, request, timeout=timeout, extra_headers=extra_headers)

    # -- SIP call control (issue 13; declared in call_control.py) ----------------------------------------------

    def accept_call(
        self,
        call_id: str,
        session: Mapping[str, Any],
        *,
        timeout: Timeout | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> CallControlResult:
        """``POST /realtime/calls/{call_id}/accept``: answer an incoming SIP call with a GA session config
        (``type: "realtime"``), validated in full first (an unknown or malformed field raises
        :class:`~realtime_service.errors.RequestValidationError`, nothing sent). Retried only while unsent."""
        return self._control(call_control.ACCEPT_CALL, call_id, session, timeout=timeout, extra_headers=extra_headers)

    async def aaccept_call(
        self,
        call_id: str,
        session: Mapping[str, Any],
        *,
        timeout: Timeout | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> CallControlResult:
        """The awaitable twin of :meth:`accept_call`."""
        return await self._acontrol(
            call_control.ACCEPT_CALL, call_id, session, timeout=timeout, extra_headers=extra_headers
        )

    def reject_call(
        self,
        call_id: str,
        status_code: int | None = None,
        *,
        timeout: Timeout | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> CallControlResult:
        """``POST /realtime/calls/{call_id}/reject``: refuse the call with a SIP status (300-699); omitted, the API
        applies its default 603 Decline. Retried only while unsent."""
        return self._control(
            call_control.REJECT_CALL, call_id, status_code, timeout=timeout, extra_headers=extra_headers
        )

    async def areject_call(
        self,
        call_id: str,
        status_code: int | None = None,
        *,
        timeout: Timeout | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> CallControlResult:
        """The awaitable twin of :meth:`reject_call`."""
        return await self._acontrol(
            call_control.REJECT_CALL, call_id, status_code, timeout=timeout, extra_headers=extra_headers
        )

    def refer_call(
        self,
        call_id: str,
        target_uri: str,
        *,
        timeout: Timeout | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> CallControlResult:
        """``POST /realtime/calls/{call_id}/refer``: transfer the call to a ``tel:``/``sip:``/``sips:`` URI (checked
        before sending). Retried only while unsent."""
        return self._control(call_control.REFER_CALL, call_id, target_uri, timeout=timeout, extra_headers=extra_headers)

    async def arefer_call(
        self,
        call_id: str,
        target_uri: str,
        *,
        timeout: Timeout | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> CallControlResult:
        """The awaitable twin of :meth:`refer_call`."""
        return await self._acontrol(
            call_control.REFER_CALL, call_id, target_uri, timeout=timeout, extra_headers=extra_headers
        )

    def accept_live_session(
        self,
        session_id: str,
        session: LiveSessionConfig | Mapping[str, Any],
        *,
        timeout: Timeout | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> CallControlResult:
        """``POST /live/sessions/{session_id}/accept``: answer an incoming SIP call on GPT-Live with a session,
        validated in full first by the schema :meth:`create_live_session` uses (a mapping says ``type: "live"``;
        a :class:`~realtime_service.live.models.LiveSessionConfig` gets it). Retried only while unsent."""
        return self._control(
            call_control.ACCEPT_LIVE_SESSION, session_id, session, timeout=timeout, extra_headers=extra_headers
        )

    async def aaccept_live_session(
        self,
        session_id: str,
        session: LiveSessionConfig | Mapping[str, Any],
        *,
        timeout: Timeout | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> CallControlResult:
        """The awaitable twin of :meth:`accept_live_session`."""
        return await self._acontrol(
            call_control.ACCEPT_LIVE_SESSION, session_id, session, timeout=timeout, extra_headers=extra_headers
        )

    def reject_live_session(
        self,
        session_id: str,
        status_code: int,
        *,
        timeout: Timeout | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> CallControlResult:
        """``POST /live/sessions/{session_id}/reject``: refuse with a SIP status, required (300-699). Retried only
        while unsent."""
        return self._control(
            call_control.REJECT_LIVE_SESSION, session_id, status_code, timeout=timeout, extra_headers=extra_headers
        )

    async def areject_live_session(
        self,
        session_id: str,
        status_code: int,
        *,
        timeout: Timeout | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> CallControlResult:
        """The awaitable twin of :meth:`reject_live_session`."""
        return await self._acontrol(
            call_control.REJECT_LIVE_SESSION, session_id, status_code, timeout=timeout, extra_headers=extra_headers
        )

    def refer_live_session(
        self,
        session_id: str,
        target_uri: str,
        *,
        timeout: Timeout | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> CallControlResult:
        """``POST /live/sessions/{session_id}/refer``: transfer to a ``tel:``/``sip:``/``sips:`` URI. Retried only
        while unsent."""
        return self._control(
            call_control.REFER_LIVE_SESSION, session_id, target_uri, timeout=timeout, extra_headers=extra_headers
        )

    async def arefer_live_session(
        self,
        session_id: str,
        target_uri: str,
        *,
        timeout: Timeout | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> CallControlResult:
        """The awaitable twin of :meth:`refer_live_session`."""
        return await self._acontrol(
            call_control.REFER_LIVE_SESSION, session_id, target_uri, timeout=timeout, extra_headers=extra_headers
        )

    # -- WebRTC signaling: Realtime calls and GPT-Live sessions ---------------------------------------------

    def create_call(
        self,
        sdp: str | bytes,
        session: RealtimeSessionConfig | Mapping[str, Any] | None = None,
        *,
        timeout: Timeout | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> CallCreateResult:
        """``POST /realtime/calls``: hand the browser's SDP offer to the Realtime API, get the answer and call id.

        Always multipart: a part ``sdp`` (the offer byte for byte, CRLFs kept) and a part ``session`` (a GA
        realtime session, :class:`~realtime_service.ga.models.RealtimeSessionConfig` or its JSON, validated as
        :meth:`create_client_secret` validates one; ``None`` sends ``{"type": "realtime"}``). The offer is
        checked first (:func:`~realtime_service.wire.sdp.check_offer`). Billable: retried only when the request
        cannot have been processed (refused connection, 429, 503, ``x-should-retry: true``). Raises what
        :meth:`create_realtime_session` raises.
        """
        return self.run(ops.CALLS, Offer(sdp, session), timeout=timeout, extra_headers=extra_headers)

    async def acreate_call(
        self,
        sdp: str | bytes,
        session: RealtimeSessionConfig | Mapping[str, Any] | None = None,
        *,
        timeout: Timeout | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> CallCreateResult:
        """The awaitable twin of :meth:`create_call` (see :meth:`acreate_realtime_session`)."""
        return await self.arun(ops.CALLS, Offer(sdp, session), timeout=timeout, extra_headers=extra_headers)

    def create_live_session(
        self,
        sdp: str | bytes,
        session: LiveSessionConfig | Mapping[str, Any],
        *,
        timeout: Timeout | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> LiveSessionCreateResult:
        """``POST /live/sessions``: start a GPT-Live WebRTC session for the browser's offer.

        Sends ``{"session": ..., "transport": {"type": "webrtc", "sdp": offer}}``; ``session`` is a
        :class:`~realtime_service.live.models.LiveSessionConfig` or its JSON (``model`` required). Each creation
        bills 15 s, so it is retried like :meth:`create_call`. The answer must hold ``session.id`` and
        ``transport.sdp`` (else ``ResponseValidationError``).
        """
        return self.run(ops.LIVE_SESSIONS, Offer(sdp, session), timeout=timeout, extra_headers=extra_headers)

    async def acreate_live_session(
        self,
        sdp: str | bytes,
        session: LiveSessionConfig | Mapping[str, Any],
        *,
        timeout: Timeout | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> LiveSessionCreateResult:
        """The awaitable twin of :meth:`create_live_session`."""
        return await self.arun(ops.LIVE_SESSIONS, Offer(sdp, session), timeout=timeout, extra_headers=extra_headers)

    def create_outbound_live_call(
        self,
        session: LiveSessionConfig | Mapping[str, Any],
        *,
        destination: str,
        trunk: SipTrunk | Mapping[str, Any],
        timeout: Timeout | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> OutboundLiveCallResult:
        """``POST /live/sessions`` with a SIP transport: GPT-Live phones ``destination`` through your ``trunk``.

        ``destination`` and ``trunk.caller_number`` are E.164 (``+`` and 8 to 15 digits; a SIP URI destination is
        refused: the voice-sip guide supports numbers only), ``trunk.provider_url`` is
        ``sips:host[:port][;transport=tcp]`` (a public host), the digest credentials are bounded and hold no CR,
        LF or NUL, the body is at most 1 MiB: each problem is a
        :class:`~realtime_service.errors.RequestValidationError` naming the field, nothing sent, no value quoted.
        ``session`` is validated as :meth:`create_live_session`'s. Attach the session's sideband at once
        (``/live/sessions/{id}/attach``): it tells ``transport.ringing``, then ``transport.answered`` or
        ``transport.failed``.

        A phone rings for every request that reaches the API (it does not deduplicate), so this is retried
        **only** when the connection was never made; never after a timeout, a dropped connection, a 429 or any
        5xx. Such an error leaves it unknown whether the call was placed: a cut answer may still name the session
        (:func:`~realtime_service.live.sessions.session_id_in_partial` of the error's ``partial_body``). The trunk
        password and the numbers appear in no log, repr or error (server text is scrubbed and masked).
        """
        return self.run(
            ops.OUTBOUND_LIVE_CALLS, _dial(session, destination, trunk), timeout=timeout, extra_headers=extra_headers
        )

    async def acreate_outbound_live_call(
        self,
        session: LiveSessionConfig | Mapping[str, Any],
        *,
        destination: str,
        trunk: SipTrunk | Mapping[str, Any],
        timeout: Timeout | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> OutboundLiveCallResult:
        """The awaitable twin of :meth:`create_outbound_live_call`, with the same single-attempt rule."""
        return await self.arun(
            ops.OUTBOUND_LIVE_CALLS, _dial(session, destination, trunk), timeout=timeout, extra_headers=extra_headers
        )

    def hangup_call(
        self, call_id: str, *, timeout: Timeout | None = None, extra_headers: Mapping[str, str] | None = None
    ) -> CallControlResult:
        """``POST /realtime/calls/{call_id}/hangup``. ``call_id`` must match ``rtc_[A-Za-z0-9_-]{1,128}``
        (else ``RequestValidationError``, nothing sent). Unlike the other call-control operations it is retried
        after any retryable failure (hanging up twice is harmless; see :mod:`.call_control`); a "not found"
        answering a retry after an attempt of unknown outcome means the first one hung up, and counts as done
        (``status_code`` 404 in the result)."""
        return self._control(call_control.CALL_HANGUP, call_id, None, timeout=timeout, extra_headers=extra_headers)

    async def ahangup_call(
        self, call_id: str, *, timeout: Timeout | None = None, extra_headers: Mapping[str, str] | None = None
    ) -> CallControlResult:
        """The awaitable twin of :meth:`hangup_call`."""
        return await self._acontrol(
            call_control.CALL_HANGUP, call_id, None, timeout=timeout, extra_headers=extra_headers
        )

    def hangup_live_session(
        self, session_id: str, *, timeout: Timeout | None = None, extra_headers: Mapping[str, str] | None = None
    ) -> CallControlResult:
        """``POST /live/sessions/{session_id}/hangup``, checked (``live_[A-Za-z0-9_-]{1,128}``) and retried like
        :meth:`hangup_call`."""
        return self._control(
            call_control.LIVE_SESSION_HANGUP, session_id, None, timeout=timeout, extra_headers=extra_headers
        )

    async def ahangup_live_session(
        self, session_id: str, *, timeout: Timeout | None = None, extra_headers: Mapping[str, str] | None = None
    ) -> CallControlResult:
        """The awaitable twin of :meth:`hangup_live_session`."""
        return await self._acontrol(
            call_control.LIVE_SESSION_HANGUP, session_id, None, timeout=timeout, extra_headers=extra_headers
        )

    # -- the sideband (issue 24) ----------------------------------------------------------------------------

    async def aattach_call(
        self,
        call_id: str,
        *,
        tools: ToolRunner | None = None,
        observers: Iterable[Observer] = (),
        max_call_seconds: float | None = None,
        max_reattaches: int = 3,
        reattach_delay: float = 0.5,
        tool_timeout: float = 120.0,
        observer_queue: int = 1_000,
        socket_options: Mapping[str, Any] | None = None,
    ) -> CallHandle:
        """Attach to a Realtime call's sideband (``/realtime?call_id=``) with this service's key, headers and
        base URL, run its function calls with ``tools`` and feed ``observers``; return its
        :class:`~realtime_service.sideband.handle.CallHandle` once the socket is open.

        Needs the ``sideband`` extra and settings (a service built by ``RealtimeContainer`` has them): otherwise a
        ``ConfigurationError``, as on Azure (no Realtime sideband documented there). A refused attach raises the
        API's status error (``NotFoundError`` for ``call_id_not_found``) or ``APIConnectionError``. See
        docs/tools-and-delegation.md."""
        from ..sideband.connection import realtime_target
        from ..sideband.handle import CallHandle
        from ..sideband.realtime import RealtimeController

        connect = _sideband_connect(realtime_target(self._sideband_settings(), call_id), socket_options)
        socket = await _open_sideband(connect, self._secrets)
        codec = self.codec("call_session")
        controller = RealtimeController(
            call_id,
            connect,
            tools=tools,
            observers=observers,
            max_call_seconds=max_call_seconds,
            max_reattaches=max_reattaches,
            reattach_delay=reattach_delay,
            tool_timeout=tool_timeout,
            observer_queue=observer_queue,
            on_deadline=lambda: self.ahangup_call(call_id),
        )
        controller.start(socket)
        return CallHandle(self, call_id, controller, codec.encode)

    async def aattach_live_session(
        self,
        session_id: str,
        *,
        tools: ToolRunner | None = None,
        delegate: Delegate | None = None,
        observers: Iterable[Observer] = (),
        max_call_seconds: float | None = None,
        delegation_deadline: float = 30.0,
        refusal: str | None = None,
        transport: str | None = None,
        delegation_type: str | None = None,
        max_reattaches: int = 3,
        reattach_delay: float = 0.5,
        tool_timeout: float = 120.0,
        observer_queue: int = 1_000,
        graceful_close: bool = False,
        socket_options: Mapping[str, Any] | None = None,
    ) -> LiveCallHandle:
        """Attach to a GPT-Live session's sideband (``/live/sessions/{id}/attach``; Azure
        ``/openai/v1/live/sessions/{id}/attach``) with this service's key, headers and base URL; nothing is sent
        to start it. Responses delegation is answered from ``tools``, client delegation by ``delegate`` (sync or
        async, given a :class:`~realtime_service.sideband.live.DelegationContext`); a delegation nobody answers
        within ``delegation_deadline`` seconds is refused politely (``refusal``), never left silent.
        ``transport`` (``sip``/``webrtc``, if known) picks how ``hangup`` ends it; ``delegation_type`` (if known)
        lets ``update_session`` refuse a type change before sending. Returns a
        :class:`~realtime_service.sideband.handle.LiveCallHandle` once the socket is open. Errors as
        :meth:`aattach_call`. See docs/tools-and-delegation.md."""
        from ..sideband.connection import live_target
        from ..sideband.handle import LiveCallHandle
        from ..sideband.live import REFUSAL, LiveController

        target = live_target(self._sideband_settings(), session_id, graceful_close=graceful_close)
        connect = _sideband_connect(target, socket_options)
        handle: LiveCallHandle | None = None

        async def at_deadline() -> None:
            if handle is not None:
                await handle._end_call("max_call_seconds")

        controller = LiveController(
            session_id,
            connect,
            tools=tools,
            delegate=delegate,
            observers=observers,
            max_call_seconds=max_call_seconds,
            max_reattaches=max_reattaches,
            reattach_delay=reattach_delay,
            tool_timeout=tool_timeout,
            observer_queue=observer_queue,
            delegation_deadline=delegation_deadline,
            refusal=REFUSAL if refusal is None else refusal,
            delegation_type=delegation_type,
            on_deadline=at_deadline,
        )
        handle = LiveCallHandle(self, session_id, controller, self.codec("live").encode_session, transport=transport)
        socket = await _open_sideband(connect, self._secrets)
        controller.start(socket)
        return handle

    def _sideband_settings(self) -> Settings:
        if self._settings is None:
            raise ConfigurationError(
                "this service has no settings to open a sideband with: build it with RealtimeContainer "
                "(or pass settings= to RealtimeSessionService)"
            )
        return self._settings()

    # -- any declared operation --------------------------------------------------------------------------

    def run(
        self,
        operation: Operation[T],
        request: Any = None,
        *,
        path_params: Mapping[str, str] | None = None,
        timeout: Timeout | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> T:
        """Run one declared :class:`~realtime_service.service.operations.Operation` on the shared path: what
        every public operation does. ``path_params`` fill the path's placeholders (checked and escaped).

        ``extra_headers`` are added to each attempt as :mod:`realtime_service.transport.headers` defines (the
        same on both gateways); they may not set the gateway's headers nor ``Content-Type``/``Accept`` (the
        operation's encoder chose the body's, its decoder reads the answer by the other): a
        ``RequestValidationError`` naming ``extra_headers``, nothing sent."""
        _check_extra_headers(extra_headers)
        return self._call(self._prepare(operation, request, path_params), timeout, extra_headers)

    async def arun(
        self,
        operation: Operation[T],
        request: Any = None,
        *,
        path_params: Mapping[str, str] | None = None,
        timeout: Timeout | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> T:
        """The awaitable twin of :meth:`run`."""
        _check_extra_headers(extra_headers)
        return await self._acall(self._prepare(operation, request, path_params), timeout, extra_headers)

    def _control(
        self, operation: Operation[CallControlResult], ident: str, argument: Any, **options: Any
    ) -> CallControlResult:
        """A call-control operation: :meth:`run` with ``ident`` as its one path parameter."""
        return self.run(operation, argument, path_params=_id_param(operation, ident), **options)

    async def _acontrol(
        self, operation: Operation[CallControlResult], ident: str, argument: Any, **options: Any
    ) -> CallControlResult:
        """The awaitable twin of :meth:`_control`, through :meth:`arun`."""
        return await self.arun(operation, argument, path_params=_id_param(operation, ident), **options)

    # -- what an operation's encoder and decoder may use (operations.Toolkit) -------------------------------

    def codec(self, name: str) -> Any:
        """The codec named ``name`` (``beta``, ``client_secret``, ...), built on first use and kept (codecs hold
        no per-call state; resolving one costs an import and a lock per call)."""
        built = self._built.get(name)
        if built is None:
            built = self._built[name] = self._codecs[name]()
        return built

    @property
    def bridge(self) -> Bridge:
        return self._bridge

    # -- the machinery shared by every operation ------------------------------------------------------------

    def _sessions_operation(self) -> Operation[RealtimeSessionCreateResponse]:
        return ops.BETA_SESSIONS if self._api_shape == "beta" else ops.BRIDGED_SESSIONS

    def _prepare(
        self, operation: Operation[T], request: Any, path_params: Mapping[str, str] | None = None
    ) -> _Prepared[T]:
        """Validate and encode ``request`` and resolve the path: everything that can fail before sending."""
        path = self._path(operation, path_params or {})
        return _Prepared(operation, path, operation.encode(self, request))

    def _path(self, operation: Operation[Any], params: Mapping[str, str]) -> str:
        """The operation's path with its parameters checked and escaped, or the :class:`ConfigurationError` that
        says why these settings cannot call it."""
        key = operation.path_key
        if key in self._unusable:
            raise ConfigurationError(self._unusable[key])
        if key not in self._paths:
            raise ConfigurationError(f"the provider has no path for the operation {key!r}")
        template = self._paths[key]
        if not operation.path_params:
            return template
        problems: dict[str, list[str]] = {}
        values: dict[str, str] = {}
        for name, pattern in operation.path_params.items():
            value = params.get(name)
            if not isinstance(value, str) or pattern.fullmatch(value) is None:
                problems[name] = [f"must match {pattern.pattern}"]
            else:
                values[name] = quote(value, safe="")
        if problems:
            raise RequestValidationError(problems)
        return template.format_map(values)

    def _call(self, prepared: _Prepared[T], timeout: Timeout | None, extra_headers: Mapping[str, str] | None) -> T:
        deadline = self._policy.deadline()
        unknown = False
        attempts = 0

        failed = ""  # the last attempt's failure kind (never the exception: its traceback holds the response)

        def attempt(number: int) -> HttpResponse:
            nonlocal unknown, attempts, failed
            attempts = number
            _retry_event(number, failed)
            try:
                return self._attempt(prepared, deadline, timeout, extra_headers, number, unknown)
            except (APIConnectionError, APIStatusError) as exc:
                unknown = unknown or outcome_unknown(exc)
                failed = metrics.upstream_outcome(exc)
                raise

        started = time.perf_counter()
        with self._span(prepared) as span:
            try:
                response = self._policy.run(deadline, prepared.operation.retry, attempt)
                result = prepared.operation.decode(self, response)
            except Exception as exc:
                _count(prepared.operation, exc, started, attempts)
                _span_failed(span, exc)
                raise
            _count(prepared.operation, None, started, attempts)
            _span_answered(span, response)
        return result

    async def _acall(
        self, prepared: _Prepared[T], timeout: Timeout | None, extra_headers: Mapping[str, str] | None
    ) -> T:
        deadline = self._policy.deadline()
        unknown = False
        attempts = 0

        failed = ""  # the last attempt's failure kind (never the exception: its traceback holds the response)

        async def attempt(number: int) -> HttpResponse:
            nonlocal unknown, attempts, failed
            attempts = number
            _retry_event(number, failed)
            try:
                gateway = self._resolve_gateway()
                asend = getattr(gateway, "asend", None)  # an AsyncGateway (cheaper than isinstance)
                if asend is not None:
                    return await self._aattempt(asend, prepared, deadline, timeout, extra_headers, number, unknown)
                # a gateway without ``asend`` (a sync fake, a host's): its attempt runs in a thread
                return await asyncio.to_thread(
                    self._attempt, prepared, deadline, timeout, extra_headers, number, unknown, gateway
                )
            except (APIConnectionError, APIStatusError) as exc:
                unknown = unknown or outcome_unknown(exc)
                failed = metrics.upstream_outcome(exc)
                raise

        started = time.perf_counter()
        with self._span(prepared) as span:
            try:
                response = await self._policy.arun(deadline, prepared.operation.retry, attempt)
                result = prepared.operation.decode(self, response)
            except Exception as exc:
                _count(prepared.operation, exc, started, attempts)
                _span_failed(span, exc)
                raise
            _count(prepared.operation, None, started, attempts)
            _span_answered(span, response)
        return result

    @contextmanager
    def _span(self, prepared: _Prepared[Any]) -> Iterator[tracing.Span]:
        """The CLIENT span of one operation, named by its method and path template (never the filled path)."""
        method, template = prepared.operation.method, self._paths[prepared.operation.path_key]
        with tracing.span(
            f"{method} {template}", "client", {"http.request.method": method, "url.template": template}
        ) as span:
            if span.recording:
                for key, value in _server_of(self._resolve_gateway).items():
                    span.set(key, value)
            yield span

    def _attempt(
        self,
        prepared: _Prepared[Any],
        deadline: float,
        timeout: Timeout | None,
        extra_headers: Mapping[str, str] | None,
        attempt_number: int,
        after_unknown: bool = False,
        gateway: Gateway | None = None,
    ) -> HttpResponse:
        """One attempt: send, log one line, return a 2xx answer (or one that means "already done" after an
        attempt of unknown outcome) or raise the mapped error."""
        request = self._request(prepared, deadline, timeout, extra_headers)
        started = time.perf_counter()
        try:
            response = (gateway or self._resolve_gateway()).send(request)
        except APIConnectionError as exc:
            _log_attempt(request.method, request.path, type(exc).__name__, started, attempt_number, None)
            raise
        return self._answer(prepared, response, started, attempt_number, after_unknown)

    async def _aattempt(
        self,
        asend: Callable[[HttpRequest], Awaitable[HttpResponse]],
        prepared: _Prepared[Any],
        deadline: float,
        timeout: Timeout | None,
        extra_headers: Mapping[str, str] | None,
        attempt_number: int,
        after_unknown: bool,
    ) -> HttpResponse:
        """:meth:`_attempt` on the event loop, through an ``AsyncGateway``'s ``asend``."""
        request = self._request(prepared, deadline, timeout, extra_headers)
        started = time.perf_counter()
        try:
            response = await asend(request)
        except APIConnectionError as exc:
            _log_attempt(request.method, request.path, type(exc).__name__, started, attempt_number, None)
            raise
        return self._answer(prepared, response, started, attempt_number, after_unknown)

    def _request(
        self,
        prepared: _Prepared[Any],
        deadline: float,
        timeout: Timeout | None,
        extra_headers: Mapping[str, str] | None,
    ) -> HttpRequest:
        """What one attempt sends, its timeouts cut to the time left of the call (which may already be none)."""
        remaining = deadline - self._policy.clock()
        return HttpRequest(
            prepared.operation.method,
            prepared.path,
            prepared.body.content,
            self._headers(prepared, extra_headers),
            self._attempt_timeout(timeout, remaining),
            remaining,
        )

    def _answer(
        self,
        prepared: _Prepared[Any],
        response: HttpResponse,
        started: float,
        attempt_number: int,
        after_unknown: bool,
    ) -> HttpResponse:
        """Log the attempt's line, then return the answer if it is a success (or, after an attempt of unknown
        outcome, one of the operation's "already done" statuses), else raise its mapped error."""
        operation = prepared.operation
        status = response.status_code
        _log_attempt(operation.method, prepared.path, status, started, attempt_number, response.request_id)
        if 200 <= status < 300 or (after_unknown and status in operation.done_after_unknown):
            return response
        raise self._status_error(response, operation.retired_hint, prepared.body)

    @staticmethod
    def _headers(prepared: _Prepared[Any], extra_headers: Mapping[str, str] | None) -> Mapping[str, str]:
        """The per-request headers: the body's media type and the answer's when they are not JSON, then the
        caller's ``extra_headers``."""
        content_type, accept = prepared.body.content_type, prepared.operation.accept
        if content_type == "application/json" and accept == "application/json":
            return extra_headers or {}
        return {"Content-Type": content_type, "Accept": accept, **(extra_headers or {})}

    def _attempt_timeout(self, timeout: Timeout | None, remaining: float) -> tuple[float, float]:
        """The per-attempt ``(connect, read)`` timeout, never longer than the ``remaining`` time of the call."""
        if timeout is None:
            connect, read = self._timeout
        elif isinstance(timeout, tuple):
            connect, read = timeout
        else:
            connect = read = float(timeout)
        if remaining <= 0:
            raise APITimeoutError(
                "Request timed out: total_timeout reached before the attempt started", request_sent=False
            )
        return min(connect, remaining), min(read, remaining)

    def _status_error(self, response: HttpResponse, retired_hint: str, sent: Body | None = None) -> APIStatusError:
        """Map a non-2xx answer to the SDK's exception class, keeping the server's fields but no secret (the
        request's own ones included) and, when the request held phone numbers, no number either."""
        status = response.status_code
        raw = response.content.decode("utf-8", "replace")
        secrets = self._secrets + (sent.secrets if sent is not None else ())
        text = scrub(raw, secrets)
        try:
            # Scrub after parsing too: a server may echo the key JSON-escaped (\u0073k-...).
            body: Any = scrub_json(json.loads(raw), secrets)
        except (ValueError, RecursionError):
            body = text or None
        if sent is not None and sent.personal:
            text, body = _masked(text), _masked(body)
        error = body.get("error") if isinstance(body, dict) else None
        error = error if isinstance(error, dict) else {}
        message = error.get("message") if isinstance(error.get("message"), str) else None
        code = _optional_str(error.get("code"))
        if 300 <= status < 400:
            message = f"unexpected redirect ({status}); redirects are never followed so the key stays on this host"
        elif not message:
            message = text[:200] if isinstance(body, str) else f"HTTP {status}"
        if code == "beta_api_shape_disabled":
            message += retired_hint
        message += shutdown_hint(message)
        return status_error_class(status)(
            message,
            status_code=status,
            request_id=response.request_id,
            body=body,
            type=_optional_str(error.get("type")),
            code=code,
            param=_optional_str(error.get("param")),
            retry_after=retry_after_seconds(response.headers),
            headers=response.headers,
        )


#: Lower-case names ``extra_headers`` may not set: the gateway's, and the media types the operation decides.
EXTRA_HEADERS_OWNED = GATEWAY_OWNED | {"content-type", "content-encoding", "accept"}


def _sideband_connect(target: SidebandTarget, socket_options: Mapping[str, Any] | None) -> Callable[[], Awaitable[Any]]:
    """Opens ``target`` (the first attach and each re-attach); the extra and ``socket_options`` are checked here,
    before connecting, as every other configuration problem."""
    try:
        import websockets  # noqa: F401  # the sideband extra: checked here, used by the sideband package
    except ModuleNotFoundError as missing:
        raise ConfigurationError(
            f"attaching a sideband needs the sideband extra ({missing.name} is missing): "
            "pip install 'realtime-service[sideband]'"
        ) from None
    from ..sideband.connection import TUNABLE, open_socket

    options = dict(socket_options or {})
    unknown = sorted(set(options) - TUNABLE)
    if unknown:
        raise ConfigurationError(f"socket_options may only set {sorted(TUNABLE)}, not {unknown}")

    async def connect() -> Any:
        return await open_socket(target, **options)

    return connect


async def _open_sideband(connect: Callable[[], Awaitable[Any]], secrets: tuple[str, ...]) -> Any:
    """The first socket, or the error a refused handshake maps to (the API's status error, its body scrubbed)."""
    from websockets.exceptions import InvalidHandshake, InvalidStatus

    try:
        return await connect()
    except InvalidStatus as refused:
        response = refused.response
        body: Any = None
        try:
            body = json.loads(response.body or b"")
        except ValueError:
            body = None
        error = body.get("error") if isinstance(body, dict) else None
        error = error if isinstance(error, dict) else {}
        message = error.get("message") if isinstance(error.get("message"), str) else "the sideband was refused"
        raise status_error_class(response.status_code)(
            scrub(str(message), secrets),
            status_code=response.status_code,
            body=scrub_json(body, secrets),
            type=_optional_str(error.get("type")),
            code=_optional_str(error.get("code")),
            param=_optional_str(error.get("param")),
        ) from None
    except (InvalidHandshake, OSError, TimeoutError) as failed:
        raise APIConnectionError(f"the sideband could not be opened: {type(failed).__name__}") from None


def _check_extra_headers(extra_headers: Mapping[str, str] | None) -> None:
    """Refuse, before anything is sent, ``extra_headers`` a gateway would refuse or the operation owns."""
    if extra_headers:
        problems = request_header_problems(extra_headers, EXTRA_HEADERS_OWNED)
        if problems:
            raise RequestValidationError({"extra_headers": problems})


def _dial(session: Any, destination: Any, trunk: Any) -> Dial:
    """The request of an outbound call: a typed trunk becomes a typed transport, a mapping a mapping."""
    from ..live.models import SipTransport, SipTrunk

    if isinstance(trunk, SipTrunk) and isinstance(destination, str):
        return Dial(session, SipTransport(destination=destination, trunk=trunk))
    return Dial(session, {"type": "sip", "destination": destination, "trunk": trunk})


def _id_param(operation: Operation[Any], ident: str) -> dict[str, str]:
    """``{name: ident}`` for an operation with one path parameter (a call's or a Live session's id)."""
    (name,) = operation.path_params
    return {name: ident}


def _resolver(given: T | Callable[[], T] | None, default: Callable[[], T]) -> Callable[[], T]:
    """A zero-argument callable for a codec given as an instance, a factory (a container provider) or ``None``."""
    if given is None:
        return default
    if callable(given):
        return given
    return lambda: given


def _masked(value: Any) -> Any:
    """``value`` (text or parsed JSON) with every phone-number-like run masked, keys and values."""
    from ..webhooks.masking import mask_text  # the package's one masking function, loaded when a number is sent

    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, list):
        return [_masked(item) for item in value]
    if isinstance(value, dict):
        return {_masked(key): _masked(item) for key, item in value.items()}
    return value


def _optional_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _log_attempt(
    method: str, path: str, outcome: int | str, started: float, attempt: int, request_id: str | None
) -> None:
    if logger.isEnabledFor(logging.INFO):
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        logger.info(
            "%s %s -> %s in %.1f ms (attempt %d, request_id=%s)",
            method,
            path,
            outcome,
            elapsed_ms,
            attempt,
            request_id,
            extra={
                "method": method,
                "path": path,
                "status": outcome,
                "elapsed_ms": elapsed_ms,
                "attempt": attempt,
                "request_id": request_id,
            },
        )


def _count(operation: Operation[Any], exc: BaseException | None, started: float, attempts: int) -> None:
    """The upstream-call metrics of one operation (a no-op when metrics are off): its path key is the label."""
    if metrics.enabled():
        outcome = metrics.upstream_outcome(exc)
        metrics.upstream_call(operation.path_key, outcome, time.perf_counter() - started, attempts)


def _retry_event(number: int, failed: str) -> None:
    """Attempt ``number`` > 1 is a retry: an event on the operation's span, with the failure kind before it."""
    if number > 1:
        tracing.add_event("retry", {"attempt": number, "reason": failed})


def _span_answered(span: tracing.Span, response: HttpResponse) -> None:
    span.set("http.response.status_code", response.status_code)
    span.set("openai.request_id", response.request_id)


def _span_failed(span: tracing.Span, exc: BaseException) -> None:
    """The failure's status (when the API answered), request id and class name; never its message."""
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        span.set("http.response.status_code", status)
    span.set("openai.request_id", getattr(exc, "request_id", None))
    span.fail(type(exc).__name__)


def _server_of(resolve: Callable[[], Gateway]) -> dict[str, object]:
    """``server.address``/``server.port`` of the gateway's ``base_url`` (ours keep it in their settings; a
    host's gateway without one: nothing)."""
    try:
        base_url = getattr(getattr(resolve(), "_settings", None), "base_url", None)
    except ValueError:
        return {}
    return dict(_server_attributes(base_url)) if isinstance(base_url, str) else {}


@lru_cache(maxsize=64)
def _server_attributes(base_url: str) -> tuple[tuple[str, object], ...]:
    """:func:`_server_of`'s parse of ``base_url``, cached: one URL per gateway, parsed on each traced call else."""
    try:
        parts = urlsplit(base_url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return ()
    return (("server.address", parts.hostname), ("server.port", port))
