"""Each operation of the service, declared once: where it goes, how its request is encoded, how its answer is
read, what to say when the API is retired and whether a retry may repeat it.

:class:`~realtime_service.service.service.RealtimeSessionService` runs any :class:`Operation` through one
shared path (validation, retries, gateway, error mapping, logging), so adding an operation means adding its
declaration (and its codec), not another pair of methods. The call-control operations (accept, reject, refer
and hang up a call or a Live session) are declared in :mod:`.call_control`, on the same :class:`Operation`. Path
parameters (``/realtime/calls/{call_id}/hangup``) are checked against a strict pattern and percent-escaped;
bodies may be JSON, multipart or raw SDP; answers may be JSON, SDP text or empty, and a decoder sees the whole
response (headers such as ``Location`` included).
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar, cast

from ..beta.bridge import Bridge
from ..beta.models import (
    RealtimeSessionCreateRequest,
    RealtimeSessionCreateResponse,
    RealtimeTranscriptionSessionCreateResponse,
)
from ..errors import ResponseValidationError
from ..ga.calls import CallCreateResult, call_id_from_location
from ..ga.models import ClientSecretCreateResponse, TranslationClientSecretCreateResponse
from ..lifecycle import warn_if_retiring
from ..live.sessions import LiveSessionCreateResult, OutboundLiveCallResult
from ..retry import RetryRule
from ..transport.seam import HttpResponse

logger = logging.getLogger("realtime_service")

T = TypeVar("T")

BETA_RETIRED_HINT = (
    " The beta Realtime API is retired: set the config key api_shape: ga (the default) to mint through "
    "/realtime/client_secrets."
)
#: ``api_shape`` does not apply to ``create_transcription_session``, so its hint names the GA way instead.
TRANSCRIPTION_RETIRED_HINT = (
    " The beta Realtime API is retired: mint a transcription key with create_client_secret and a session of "
    'type "transcription" (POST /realtime/client_secrets).'
)


class Toolkit(Protocol):
    """What an operation's encoder and decoder may use of the service that runs it."""

    def codec(self, name: str) -> Any: ...

    @property
    def bridge(self) -> Bridge: ...


@dataclass(frozen=True, slots=True)
class Body:
    """An encoded request body and its media type. ``secrets`` are this request's own (a SIP trunk's password):
    scrubbed from any error the answer becomes, as the service's keys are. ``personal`` says the body holds
    phone numbers: the error's text is masked too, in case the server quotes one back."""

    content: bytes = field(repr=False)
    content_type: str = "application/json"
    secrets: tuple[str, ...] = field(default=(), repr=False)
    personal: bool = False


@dataclass(frozen=True, slots=True)
class Operation(Generic[T]):
    """One API operation.

    ``path_key`` names its path in the provider's path table (a template such as
    ``/realtime/calls/{call_id}/accept`` when ``path_params`` gives a pattern per placeholder). ``encode(kit,
    request)`` validates and returns the :class:`Body`; ``decode(kit, response)`` reads a 2xx answer.
    ``retry`` says whether a failed attempt may be repeated (:class:`~realtime_service.retry.RetryRule`);
    ``done_after_unknown`` lists the statuses that mean "already done" when they answer a retry of an attempt
    whose outcome was unknown (a hang-up whose first attempt timed out, then 404s). ``accept`` is the media type
    asked for.
    """

    path_key: str
    encode: Callable[[Toolkit, Any], Body]
    decode: Callable[[Toolkit, HttpResponse], T]
    method: str = "POST"
    path_params: Mapping[str, re.Pattern[str]] = field(default_factory=dict)
    retired_hint: str = BETA_RETIRED_HINT
    retry: RetryRule = RetryRule.IDEMPOTENT
    done_after_unknown: frozenset[int] = frozenset()
    accept: str = "application/json"


def encode_json(body: Mapping[str, Any]) -> Body:
    """A JSON body, compact and UTF-8, as the API expects it."""
    warn_if_retiring(body)  # every JSON request passes here: one WARNING per retiring model per process
    return Body(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def parse_json(response: HttpResponse) -> Any:
    """The parsed JSON of a 2xx answer, or the :class:`ResponseValidationError` that says it is not JSON."""
    try:
        return json.loads(response.content)
    except (ValueError, RecursionError):  # RecursionError: nested too deeply for json
        raise ResponseValidationError(
            f"expected a JSON body, got {len(response.content)} bytes that do not parse",
            request_id=response.request_id,
            status_code=response.status_code,
        ) from None


def json_operation(
    path_key: str,
    codec: str,
    result: type[T],
    *,
    retired_hint: str = BETA_RETIRED_HINT,
    retry: RetryRule = RetryRule.IDEMPOTENT,
) -> Operation[T]:
    """An operation whose request and answer are JSON, both handled by the service's codec named ``codec``;
    ``result`` is the type its codec decodes to."""

    def encode(kit: Toolkit, request: Any) -> Body:
        return encode_json(kit.codec(codec).encode(request))

    def decode(kit: Toolkit, response: HttpResponse) -> T:
        return cast(T, kit.codec(codec).decode(parse_json(response), request_id=response.request_id))

    return Operation(path_key, encode, decode, retired_hint=retired_hint, retry=retry)


def _encode_bridged(kit: Toolkit, request: Any) -> Body:
    body = kit.codec("beta").encode(request)
    extra = request.extra if isinstance(request, RealtimeSessionCreateRequest) else {}
    beta = {key: value for key, value in body.items() if key not in extra} if extra else body
    return encode_json(kit.bridge.to_ga(beta, extra))


def _decode_bridged(kit: Toolkit, response: HttpResponse) -> RealtimeSessionCreateResponse:
    parsed = parse_json(response)
    decoded = kit.codec("beta").decode(kit.bridge.from_ga(parsed), request_id=response.request_id)
    return cast(RealtimeSessionCreateResponse, decoded)


#: The seed's operation under ``api_shape: beta``: ``POST /realtime/sessions`` as is.
BETA_SESSIONS = json_operation("sessions", "beta", RealtimeSessionCreateResponse)
#: The seed's operation under ``api_shape: ga``: bridged to ``POST /realtime/client_secrets``.
BRIDGED_SESSIONS = Operation("client_secrets", _encode_bridged, _decode_bridged)
CLIENT_SECRETS = json_operation("client_secrets", "client_secret", ClientSecretCreateResponse)
TRANSLATION_CLIENT_SECRETS = json_operation(
    "translation_client_secrets", "translation", TranslationClientSecretCreateResponse
)
TRANSCRIPTION_SESSIONS = json_operation(
    "transcription_sessions",
    "transcription",
    RealtimeTranscriptionSessionCreateResponse,
    retired_hint=TRANSCRIPTION_RETIRED_HINT,
)


# --- WebRTC signaling and hang-ups (Realtime calls, GPT-Live) --------------------------------------------------


@dataclass(frozen=True, slots=True)
class Offer:
    """The request of a signaling create: the browser's SDP offer and the session to start (``None``: the
    API's defaults)."""

    sdp: str | bytes
    session: Any = None


def multipart_body(parts: list[tuple[str, str, bytes]]) -> Body:
    """A ``multipart/form-data`` body of ``(name, content type, content)`` parts, no filenames (as the SDK
    builds it), each content byte for byte; the boundary is random and occurs in no part."""
    while True:
        boundary = "realtime-service-" + secrets.token_hex(16)
        marker = b"--" + boundary.encode("ascii")
        if not any(marker in content for _, _, content in parts):
            break
    chunks: list[bytes] = []
    for name, content_type, content in parts:
        head = f'Content-Disposition: form-data; name="{name}"\r\nContent-Type: {content_type}\r\n\r\n'
        chunks += [marker, b"\r\n", head.encode("ascii"), content, b"\r\n"]
    chunks += [marker, b"--\r\n"]
    return Body(b"".join(chunks), f"multipart/form-data; boundary={boundary}")


def sdp_answer(response: HttpResponse) -> str:
    """The SDP answer of a 2xx, exactly as received, or the :class:`ResponseValidationError` saying it is none."""
    try:
        text = response.content.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    if not text.startswith("v=0"):
        raise ResponseValidationError(
            f"expected an SDP answer (application/sdp starting with v=0), got {len(response.content)} bytes "
            f"of {response.headers.get('content-type', 'no content type')}",
            request_id=response.request_id,
            status_code=response.status_code,
            headers=response.headers,
        )
    return text


def _encode_call(kit: Toolkit, request: Offer) -> Body:
    """Always multipart, with a ``session`` part even when none is given (``{"type": "realtime"}``): raw
    ``application/sdp`` is for ephemeral keys (CALLS-LIVE-NOTES 1.7, gotcha 1) and the service holds the API key."""
    from ..wire.sdp import check_offer  # on first use: its patterns are a cold start's cost

    offer = check_offer(request.sdp)
    session = {"type": "realtime"} if request.session is None else kit.codec("call_session").encode(request.session)
    warn_if_retiring(session)  # the session part is JSON too, built apart from encode_json
    session_json = json.dumps(session, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return multipart_body([("sdp", "application/sdp", offer), ("session", "application/json", session_json)])


def _decode_call(_kit: Toolkit, response: HttpResponse) -> CallCreateResult:
    sdp = sdp_answer(response)
    call_id = call_id_from_location(response.headers.get("location"))
    if call_id is None:
        logger.warning(
            "POST /realtime/calls answered %s without a call id in Location (request_id=%s)",
            response.status_code,
            response.request_id,
            extra={"status": response.status_code, "request_id": response.request_id},
        )
    return CallCreateResult(sdp, call_id, response.request_id)


def _encode_live(kit: Toolkit, request: Offer) -> Body:
    from ..wire.sdp import check_offer

    offer = check_offer(request.sdp).decode("utf-8")
    return encode_json(kit.codec("live").encode(offer, request.session))


def _decode_live(kit: Toolkit, response: HttpResponse) -> LiveSessionCreateResult:
    session_id, sdp = kit.codec("live").decode(parse_json(response), request_id=response.request_id)
    return LiveSessionCreateResult(session_id, sdp, response.request_id)


@dataclass(frozen=True, slots=True)
class Dial:
    """An outbound GPT-Live call before encoding: the ``session`` and the SIP ``transport``."""

    session: Any
    transport: Any = field(repr=False)


def _encode_outbound(kit: Toolkit, request: Dial) -> Body:
    from ..errors import RequestValidationError
    from ..live.schemas import MAX_OUTBOUND_BODY_BYTES

    body = encode_json(kit.codec("live").encode_outbound(request.session, request.transport))
    if len(body.content) > MAX_OUTBOUND_BODY_BYTES:
        raise RequestValidationError(
            {"session": [f"The request would be {len(body.content)} bytes; an outbound call takes at most 1 MiB."]}
        )
    auth = json.loads(body.content)["transport"]["trunk"]["auth"]
    return Body(body.content, secrets=(auth["password"],), personal=True)


def _decode_outbound(kit: Toolkit, response: HttpResponse) -> OutboundLiveCallResult:
    session_id = kit.codec("live").decode_outbound(parse_json(response), request_id=response.request_id)
    return OutboundLiveCallResult(session_id, response.request_id)


#: ``POST /realtime/calls``: billable and not idempotent, so retried only when it cannot have been processed.
CALLS = Operation(
    "calls", _encode_call, _decode_call, retired_hint="", retry=RetryRule.UNSENT_ONLY, accept="application/sdp"
)
#: ``POST /live/sessions``: bills 15 s at creation, retried like :data:`CALLS`.
LIVE_SESSIONS = Operation("live_sessions", _encode_live, _decode_live, retired_hint="", retry=RetryRule.UNSENT_ONLY)
#: ``POST /live/sessions`` with a SIP transport: a phone rings, which no hang-up takes back, and the API does not
#: deduplicate requests. Retried only when the connection was never made (``RetryRule.UNREACHED_ONLY``).
OUTBOUND_LIVE_CALLS = Operation(
    "live_outbound_calls", _encode_outbound, _decode_outbound, retired_hint="", retry=RetryRule.UNREACHED_ONLY
)
