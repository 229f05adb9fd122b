"""Each operation of the service, declared once: where it goes, how its request is encoded, how its answer is
read, what to say when the API is retired and whether a retry may repeat it.

:class:`~realtime_service.service.service.RealtimeSessionService` runs any :class:`Operation` through one
shared path (validation, retries, gateway, error mapping, logging), so adding an operation means adding its
declaration (and its codec), not another pair of methods. Path parameters (``/realtime/calls/{call_id}/hangup``)
are checked against a strict pattern and percent-escaped; bodies may be JSON, multipart or raw SDP; answers may
be JSON, SDP text or empty, and a decoder sees the whole response (headers such as ``Location`` included).
"""

from __future__ import annotations

import json
import re
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
from ..ga.models import ClientSecretCreateResponse, TranslationClientSecretCreateResponse
from ..lifecycle import warn_if_retiring
from ..retry import RetryRule
from ..transport.seam import HttpResponse

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
    """An encoded request body and its media type."""

    content: bytes
    content_type: str = "application/json"


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
