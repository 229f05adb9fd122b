"""Call control: accept, reject, transfer or hang up a call, for Realtime calls and Live sessions.

Declared once each, like every operation (:mod:`.operations`); ``RealtimeSessionService.accept_call`` and its
siblings are thin names for ``RealtimeSessionService.run(OPERATION, ...)``: one path (prepare, the policy under
the operation's own retry rule, error mapping), and every one answers a :class:`CallControlResult` with the request
id of the attempt that succeeded (a failure's ``APIStatusError`` carries its own). Everything that can be wrong is
found before sending (CALLS-LIVE-NOTES 1.3-1.4, 3.2):

- the id must match ``rtc_...`` / ``live_...`` exactly and is percent-escaped into the path;
- an accept's session is validated in full: Realtime by the GA session schema (:mod:`realtime_service.ga.schemas`,
  the same one that checks a client secret's session, ``type: "realtime"`` required), Live by the Live session
  schema of :mod:`realtime_service.live.schemas` (the one a WebRTC create uses; the accept adds ``type: "live"``
  and refuses the create-only fields). An unknown field is refused, never dropped, because ``/accept`` answers
  200 to a payload it cannot use and the call fails later;
- a reject's status is a SIP status 300-699 (Realtime: omitted means the API's 603; Live: required);
- a refer's ``target_uri`` is a ``tel:``/``sip:``/``sips:`` URI that cannot break out of ``Refer-To``.

Retry rule: accept, reject and refer are ``UNSENT_ONLY``. An accept starts a billable session and configures it;
a refer moves the call; a reject ends it. Once one may have landed (a read timeout, a 500), sending it again
either fails with "invalid call state" (turning an unknown success into a false failure) or, for a refer of an accepted
call, could transfer twice. So they are repeated only when they cannot have been processed (no connection,
429, 503, ``x-should-retry: true``); an unknown outcome reaches the caller (the webhook endpoint answers 503
and OpenAI's redelivery decides again; the upstream's own state check makes that at most once).

The hang-ups are deliberately different: ``IDEMPOTENT``, retried after any retryable failure (a 500, a read
timeout, a dropped answer), because ending a call twice ends nothing new and buys nothing; a call left up keeps
billing. What a repeat can get wrong (a 404 because the first attempt did hang up) is declared in
``done_after_unknown``: after an attempt of unknown outcome a 404 counts as done, and its result says 404.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import RequestValidationError
from ..ga.calls import CALL_ID
from ..live.models import LiveSessionConfig
from ..live.sessions import SESSION_ID
from ..retry import RetryRule
from ..transport.seam import HttpResponse
from ..wire.sip import DEFAULT_REJECT_STATUS, MAX_STATUS, MIN_STATUS, check_target_uri
from .operations import Body, Operation, Toolkit, encode_json

__all__ = [
    "ACCEPT_CALL",
    "ACCEPT_LIVE_SESSION",
    "CALL_HANGUP",
    "CALL_ID",
    "LIVE_SESSION_HANGUP",
    "REFER_CALL",
    "REFER_LIVE_SESSION",
    "REJECT_CALL",
    "REJECT_LIVE_SESSION",
    "SESSION_ID",
    "CallControlResult",
]


@dataclass(frozen=True, slots=True)
class CallControlResult:
    """A call-control operation's answer: the API returns no body, only its status and request id."""

    status_code: int
    request_id: str | None


def _result(_kit: Toolkit, response: HttpResponse) -> CallControlResult:
    return CallControlResult(response.status_code, response.request_id)


def _as_mapping(session: Any) -> Mapping[str, Any]:
    if isinstance(session, Mapping):
        return session
    to_dict = getattr(session, "to_dict", None)
    if callable(to_dict):
        converted = to_dict()
        if isinstance(converted, Mapping):
            return converted
    raise RequestValidationError({"session": ["must be a mapping (the session configuration)"]})


# -- accept -------------------------------------------------------------------------------------------------


def _encode_realtime_accept(kit: Toolkit, session: Any) -> Body:
    """The GA session, checked field by field by the client-secret codec (its ``session`` is the same
    ``RealtimeSessionCreateRequest``); only ``type: "realtime"`` is accepted here."""
    body = _as_mapping(session)
    if body.get("type") != "realtime":
        raise RequestValidationError({"session.type": ['must be "realtime" (a Live session uses accept_live_session)']})
    encoded = kit.codec("client_secret").encode({"session": body})
    return encode_json(encoded["session"])


def _encode_live_accept(kit: Toolkit, session: Any) -> Body:
    """The Live codec's accept body (:meth:`~realtime_service.live.schemas.LiveSessionCodec.encode_accept`); the
    codec, and marshmallow with it, is built by the first call that needs it."""
    config = session if isinstance(session, LiveSessionConfig) else _as_mapping(session)
    return encode_json(kit.codec("live").encode_accept(config))


# -- reject and refer ------------------------------------------------------------------------------------------


def _status(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_STATUS <= value <= MAX_STATUS:
        raise RequestValidationError({"status_code": [f"must be a SIP status between {MIN_STATUS} and {MAX_STATUS}"]})
    return value


def _encode_realtime_reject(_kit: Toolkit, status_code: Any) -> Body:
    """Omitted: ``{}`` and the API applies its default (603 Decline)."""
    return encode_json({} if status_code is None else {"status_code": _status(status_code)})


def _encode_live_reject(_kit: Toolkit, status_code: Any) -> Body:
    if status_code is None:
        raise RequestValidationError({"status_code": ["is required for a Live session (300-699)"]})
    return encode_json({"status_code": _status(status_code)})


def _encode_refer(_kit: Toolkit, target_uri: Any) -> Body:
    return encode_json({"target_uri": check_target_uri(target_uri)})


def _no_body(_kit: Toolkit, _request: Any) -> Body:
    return Body(b"")


def _declare(
    path_key: str,
    encode: Any,
    id_name: str,
    retry: RetryRule = RetryRule.UNSENT_ONLY,
    done_after_unknown: frozenset[int] = frozenset(),
    accept: str = "application/json",
) -> Operation[CallControlResult]:
    return Operation(
        path_key,
        encode,
        _result,
        path_params={id_name: CALL_ID if id_name == "call_id" else SESSION_ID},
        retired_hint="",
        retry=retry,
        done_after_unknown=done_after_unknown,
        accept=accept,
    )


ACCEPT_CALL = _declare("realtime_call_accept", _encode_realtime_accept, "call_id")
REJECT_CALL = _declare("realtime_call_reject", _encode_realtime_reject, "call_id")
REFER_CALL = _declare("realtime_call_refer", _encode_refer, "call_id")
ACCEPT_LIVE_SESSION = _declare("live_session_accept", _encode_live_accept, "session_id")
REJECT_LIVE_SESSION = _declare("live_session_reject", _encode_live_reject, "session_id")
REFER_LIVE_SESSION = _declare("live_session_refer", _encode_refer, "session_id")
#: ``POST /realtime/calls/{call_id}/hangup`` (no body; the SDK asks ``*/*``): idempotent, see the module's docstring.
CALL_HANGUP = _declare("call_hangup", _no_body, "call_id", RetryRule.IDEMPOTENT, frozenset({404}), "*/*")
#: ``POST /live/sessions/{session_id}/hangup``, declared like :data:`CALL_HANGUP`.
LIVE_SESSION_HANGUP = _declare(
    "live_session_hangup", _no_body, "session_id", RetryRule.IDEMPOTENT, frozenset({404}), "*/*"
)

#: The Realtime API's reject default, for documentation and tests.
API_DEFAULT_REJECT_STATUS = DEFAULT_REJECT_STATUS
