"""``RealtimeSessionService``: the seed's ``createRealtimeSession``, validated, retried and typed.

Each call validates before anything is sent, then runs attempts through the injected gateway under the
injected retry policy. The gateway is resolved per call (the container passes its provider), so
``container.gateway.override(fake)`` reaches a service singleton built before the override.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from .bridge import Bridge
from .config import PATHS
from .errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    ConfigurationError,
    ResponseValidationError,
    status_error_class,
)
from .ga_models import (
    ClientSecretCreateRequest,
    ClientSecretCreateResponse,
    TranslationClientSecretCreateRequest,
    TranslationClientSecretCreateResponse,
)
from .lifecycle import shutdown_hint, warn_if_retiring
from .models import (
    RealtimeSessionCreateRequest,
    RealtimeSessionCreateResponse,
    RealtimeTranscriptionSessionCreateRequest,
    RealtimeTranscriptionSessionCreateResponse,
)
from .redaction import scrub, scrub_json
from .retry import RetryPolicy, retry_after_seconds
from .transport import Gateway, HttpRequest, HttpResponse

if TYPE_CHECKING:  # the schema modules are imported on first use: building them is most of a cold start
    from .ga_schemas import ClientSecretCodec, TranslationCodec
    from .schemas import BetaSessionCodec, TranscriptionSessionCodec

logger = logging.getLogger("realtime_service")

Timeout = float | tuple[float, float]
T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

BETA_RETIRED_HINT = (
    " The beta Realtime API is retired: set the config key api_shape: ga (the default) to mint through "
    "/realtime/client_secrets."
)
#: ``api_shape`` does not apply to ``create_transcription_session``, so its hint names the GA way instead.
TRANSCRIPTION_RETIRED_HINT = (
    " The beta Realtime API is retired: mint a transcription key with create_client_secret and a session of "
    'type "transcription" (POST /realtime/client_secrets).'
)


class Codec(Protocol[T_co]):
    """Validates one operation's request into a JSON body and parses its answer."""

    def encode(self, request: Any) -> dict[str, Any]: ...

    def decode(self, body: Any, *, request_id: str | None) -> T_co: ...


@dataclass(frozen=True, slots=True)
class _Prepared(Generic[T]):
    """One operation's call, ready to send: where, what, and how to read the answer."""

    path: str
    body: bytes
    decode: Callable[..., T]
    #: Appended to a ``beta_api_shape_disabled`` error: what to do instead.
    retired_hint: str = BETA_RETIRED_HINT


class RealtimeSessionService:
    """Mints ephemeral Realtime keys. Thread-safe and stateless between calls: share one per process.

    Operations (each with an awaitable ``a``-twin): :meth:`create_client_secret` (GA, the live API),
    :meth:`create_translation_client_secret`, :meth:`create_realtime_session` (the seed's, bridged to GA by
    default) and :meth:`create_transcription_session` (beta). They share one retry policy, one gateway and one
    error mapping.

    ``gateway`` is a :class:`~realtime_service.transport.Gateway` or a zero-argument callable returning one
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
    ) -> None:
        self._resolve_gateway: Callable[[], Gateway] = gateway if callable(gateway) else (lambda: gateway)
        self._beta_codec = _resolver(codec, shared_beta_codec)
        self._client_secret_codec = _resolver(client_secret_codec, shared_client_secret_codec)
        self._translation_codec = _resolver(translation_codec, shared_translation_codec)
        self._transcription_codec = _resolver(transcription_codec, shared_transcription_codec)
        self._policy = policy
        self._api_shape = api_shape
        self._bridge = bridge or Bridge()
        self._paths = dict(paths or PATHS["openai"])
        self._unusable = dict(unusable or {})
        self._timeout = timeout
        self._secrets = tuple(s for s in secrets if s)

    def create_realtime_session(
        self,
        request: RealtimeSessionCreateRequest | Mapping[str, Any],
        *,
        timeout: Timeout | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> RealtimeSessionCreateResponse:
        """The seed's ``createRealtimeSession``: validate ``request``, mint with retries, return the session.

        Under ``api_shape: ga`` the beta request is bridged to ``POST /realtime/client_secrets`` and the answer
        read back in beta names (see :mod:`realtime_service.bridge`); under ``beta`` it goes to
        ``POST /realtime/sessions`` unchanged. Raises
        :class:`~realtime_service.errors.RequestValidationError` (nothing sent),
        :class:`~realtime_service.errors.APIStatusError` subclasses, ``APIConnectionError``/``APITimeoutError``,
        or ``ResponseValidationError``.
        """
        return self._call(self._prepare_realtime_session(request), timeout, extra_headers)

    async def acreate_realtime_session(
        self,
        request: RealtimeSessionCreateRequest | Mapping[str, Any],
        *,
        timeout: Timeout | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> RealtimeSessionCreateResponse:
        """The awaitable twin of :meth:`create_realtime_session`, with the same policy and errors.

        Each attempt runs in a worker thread, and waits between attempts use the policy's ``asleep``, so the
        event loop is never blocked. Cancelling the task stops it at once and starts no further attempt; an
        attempt already in flight finishes in its thread and its answer is discarded (a key minted by it is
        simply never handed out and expires on its own).
        """
        return await self._acall(self._prepare_realtime_session(request), timeout, extra_headers)

    def create_client_secret(
        self,
        request: ClientSecretCreateRequest | Mapping[str, Any],
        *,
        timeout: Timeout | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> ClientSecretCreateResponse:
        """``POST /realtime/client_secrets``: mint a key for a GA ``realtime`` or ``transcription`` session.

        ``request`` is a :class:`~realtime_service.ga_models.ClientSecretCreateRequest` or a mapping with the
        API's JSON names (``{"session": {"type": "realtime", ...}, "expires_after": {...}}``). The answer's
        ``value`` is the key; ``session`` is parsed by its ``type``. Raises what
        :meth:`create_realtime_session` raises.
        """
        return self._call(self._prepare("client_secrets", self._client_secret_codec(), request), timeout, extra_headers)

    async def acreate_client_secret(
        self,
        request: ClientSecretCreateRequest | Mapping[str, Any],
        *,
        timeout: Timeout | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> ClientSecretCreateResponse:
        """The awaitable twin of :meth:`create_client_secret` (see :meth:`acreate_realtime_session`)."""
        prepared = self._prepare("client_secrets", self._client_secret_codec(), request)
        return await self._acall(prepared, timeout, extra_headers)

    def create_translation_client_secret(
        self,
        request: TranslationClientSecretCreateRequest | Mapping[str, Any],
        *,
        timeout: Timeout | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> TranslationClientSecretCreateResponse:
        """``POST /realtime/translations/client_secrets``: mint a key for a speech translation session."""
        prepared = self._prepare("translation_client_secrets", self._translation_codec(), request)
        return self._call(prepared, timeout, extra_headers)

    async def acreate_translation_client_secret(
        self,
        request: TranslationClientSecretCreateRequest | Mapping[str, Any],
        *,
        timeout: Timeout | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> TranslationClientSecretCreateResponse:
        """The awaitable twin of :meth:`create_translation_client_secret`."""
        prepared = self._prepare("translation_client_secrets", self._translation_codec(), request)
        return await self._acall(prepared, timeout, extra_headers)

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
        prepared = self._prepare_transcription_session(request)
        return self._call(prepared, timeout, extra_headers)

    async def acreate_transcription_session(
        self,
        request: RealtimeTranscriptionSessionCreateRequest | Mapping[str, Any],
        *,
        timeout: Timeout | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> RealtimeTranscriptionSessionCreateResponse:
        """The awaitable twin of :meth:`create_transcription_session`."""
        prepared = self._prepare_transcription_session(request)
        return await self._acall(prepared, timeout, extra_headers)

    # -- the machinery shared by every operation ---------------------------------------------------------

    def _prepare_realtime_session(
        self, request: RealtimeSessionCreateRequest | Mapping[str, Any]
    ) -> _Prepared[RealtimeSessionCreateResponse]:
        codec = self._beta_codec()
        body = codec.encode(request)
        if self._api_shape == "beta":
            return _Prepared(self._path("sessions"), _encode_body(body), codec.decode)
        extra = request.extra if isinstance(request, RealtimeSessionCreateRequest) else {}
        beta = {key: value for key, value in body.items() if key not in extra} if extra else body
        ga = self._bridge.to_ga(beta, extra)
        decode, from_ga = codec.decode, self._bridge.from_ga

        def decode_bridged(parsed: Any, *, request_id: str | None) -> RealtimeSessionCreateResponse:
            return decode(from_ga(parsed), request_id=request_id)

        return _Prepared(self._path("client_secrets"), _encode_body(ga), decode_bridged)

    def _prepare_transcription_session(
        self, request: RealtimeTranscriptionSessionCreateRequest | Mapping[str, Any]
    ) -> _Prepared[RealtimeTranscriptionSessionCreateResponse]:
        codec = self._transcription_codec()
        body = _encode_body(codec.encode(request))
        path = self._path("transcription_sessions")
        return _Prepared(path, body, codec.decode, TRANSCRIPTION_RETIRED_HINT)

    def _prepare(self, path_key: str, codec: Codec[T], request: Any) -> _Prepared[T]:
        return _Prepared(self._path(path_key), _encode_body(codec.encode(request)), codec.decode)

    def _path(self, operation: str) -> str:
        """The operation's path, or the :class:`ConfigurationError` that says why these settings cannot call it."""
        if operation in self._unusable:
            raise ConfigurationError(self._unusable[operation])
        return self._paths[operation]

    def _call(self, prepared: _Prepared[T], timeout: Timeout | None, extra_headers: Mapping[str, str] | None) -> T:
        deadline = self._policy.deadline()
        for attempt in self._policy.retrying(deadline):
            with attempt:
                parsed, request_id = self._attempt(
                    prepared, deadline, timeout, extra_headers, attempt.retry_state.attempt_number
                )
        return prepared.decode(parsed, request_id=request_id)

    async def _acall(
        self, prepared: _Prepared[T], timeout: Timeout | None, extra_headers: Mapping[str, str] | None
    ) -> T:
        deadline = self._policy.deadline()
        async for attempt in self._policy.async_retrying(deadline):
            with attempt:
                parsed, request_id = await asyncio.to_thread(
                    self._attempt, prepared, deadline, timeout, extra_headers, attempt.retry_state.attempt_number
                )
        return prepared.decode(parsed, request_id=request_id)

    def _attempt(
        self,
        prepared: _Prepared[Any],
        deadline: float,
        timeout: Timeout | None,
        extra_headers: Mapping[str, str] | None,
        attempt_number: int,
    ) -> tuple[Any, str | None]:
        """One attempt: send, log one line, return the parsed 2xx JSON and request id or raise the mapped error."""
        path = prepared.path
        remaining = deadline - self._policy.clock()
        request = HttpRequest(
            "POST", path, prepared.body, extra_headers or {}, self._attempt_timeout(timeout, remaining), remaining
        )
        started = time.perf_counter()
        try:
            response = self._resolve_gateway().send(request)
        except APIConnectionError as exc:
            _log_attempt(path, type(exc).__name__, started, attempt_number, None)
            raise
        _log_attempt(path, response.status_code, started, attempt_number, response.request_id)
        if 200 <= response.status_code < 300:
            return self._parse_json(response), response.request_id
        raise self._status_error(response, prepared.retired_hint)

    def _attempt_timeout(self, timeout: Timeout | None, remaining: float) -> tuple[float, float]:
        """The per-attempt ``(connect, read)`` timeout, never longer than the ``remaining`` time of the call."""
        if timeout is None:
            connect, read = self._timeout
        elif isinstance(timeout, tuple):
            connect, read = timeout
        else:
            connect = read = float(timeout)
        if remaining <= 0:
            raise APITimeoutError("Request timed out: total_timeout reached before the attempt started")
        return min(connect, remaining), min(read, remaining)

    def _parse_json(self, response: HttpResponse) -> Any:
        try:
            return json.loads(response.content)
        except (ValueError, RecursionError):  # RecursionError: nested too deeply for json
            raise ResponseValidationError(
                f"expected a JSON body, got {len(response.content)} bytes that do not parse",
                request_id=response.request_id,
                status_code=response.status_code,
            ) from None

    def _status_error(self, response: HttpResponse, retired_hint: str) -> APIStatusError:
        """Map a non-2xx answer to the SDK's exception class, keeping the server's fields but no secret."""
        status = response.status_code
        raw = response.content.decode("utf-8", "replace")
        text = scrub(raw, self._secrets)
        try:
            # Scrub after parsing too: a server may echo the key JSON-escaped (\u0073k-...).
            body: Any = scrub_json(json.loads(raw), self._secrets)
        except (ValueError, RecursionError):
            body = text or None
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


def _resolver(given: T | Callable[[], T] | None, default: Callable[[], T]) -> Callable[[], T]:
    """A zero-argument callable for a codec given as an instance, a factory (a container provider) or ``None``."""
    if given is None:
        return default
    if callable(given):
        return given
    return lambda: given


# The process-wide codecs, each imported and built by the first call that needs it (the container's defaults).


def shared_beta_codec() -> BetaSessionCodec:
    from .codec import shared_codec
    from .schemas import BetaSessionCodec

    return shared_codec(BetaSessionCodec)


def shared_transcription_codec() -> TranscriptionSessionCodec:
    from .codec import shared_codec
    from .schemas import TranscriptionSessionCodec

    return shared_codec(TranscriptionSessionCodec)


def shared_client_secret_codec() -> ClientSecretCodec:
    from .codec import shared_codec
    from .ga_schemas import ClientSecretCodec

    return shared_codec(ClientSecretCodec)


def shared_translation_codec() -> TranslationCodec:
    from .codec import shared_codec
    from .ga_schemas import TranslationCodec

    return shared_codec(TranslationCodec)


def _encode_body(body: Mapping[str, Any]) -> bytes:
    warn_if_retiring(body)  # every operation's request passes here: one WARNING per retiring model per process
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _optional_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _log_attempt(path: str, outcome: int | str, started: float, attempt: int, request_id: str | None) -> None:
    if logger.isEnabledFor(logging.INFO):
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        logger.info(
            "POST %s -> %s in %.1f ms (attempt %d, request_id=%s)",
            path,
            outcome,
            elapsed_ms,
            attempt,
            request_id,
            extra={
                "method": "POST",
                "path": path,
                "status": outcome,
                "elapsed_ms": elapsed_ms,
                "attempt": attempt,
                "request_id": request_id,
            },
        )
