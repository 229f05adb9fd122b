"""What the Realtime-call and Live-session routes share: the offer check, the 404, decisions and their states.

Paths and bodies follow CALLS-LIVE-NOTES 1.3-1.4 and 3.2. Where the notes leave a fact open the emulator picks
one reading and the docs (docs/emulator-calls.md) say so: decisions and hang-ups answer ``200`` with an empty
body (200 vs 204 is UNCONFIRMED); an unknown id is a ``404`` with code ``call_id_not_found`` /
``session_id_not_found`` (wording UNCONFIRMED); a second decision is a ``400`` ``invalid_call_state``, and a
hang-up of a call that has already ended is a ``404`` (the call is gone), so a client's retried hang-up can
treat "not found" as done. Azure serves only what the notes list there: creating a call, rejecting one, and
creating a Live session.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ..errors import RequestValidationError
from ..wire.sdp import answer_for
from .call_registry import ENDED, Api, CallRecord, CallRegistry, CallState, UnknownCall
from .core import Call
from .replies import Reply
from .validation import Integer, Object, Spec, String, validate

NOT_FOUND_CODES: dict[str, str] = {"realtime": "call_id_not_found", "live": "session_id_not_found"}
_NOUN = {"realtime": "call", "live": "Live session"}
_TARGET_SCHEMES = ("tel:", "sip:", "sips:")


def not_found(api: Api, call_id: str) -> Reply:
    return Reply.error(404, f"No {_NOUN[api]} found with id '{call_id[:80]}'.", param=None, code=NOT_FOUND_CODES[api])


def offer_problem(offer: bytes, param: str = "sdp") -> Reply | None:
    """The 400 naming ``param`` (``sdp``; ``transport.sdp`` for Live) for an offer the API could not use.

    The emulator's own, looser check (written apart from the client's :func:`check_offer`, so tests
    cross-check them): present, UTF-8, ``v=0`` first, an audio section; then the answer builder must cope."""
    if not offer.strip():
        return Reply.error(
            400, f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter"
        )
    try:
        text = offer.decode("utf-8")
    except UnicodeDecodeError:
        return bad_sdp("it is not UTF-8 text", param)
    if not text.startswith("v=0"):
        return bad_sdp("it must start with 'v=0'", param)
    if "\nm=audio " not in text:
        return bad_sdp("it has no audio media section", param)
    return None


def bad_sdp(reason: str, param: str) -> Reply:
    return Reply.error(400, f"Invalid SDP offer: {reason}.", param=param, code="invalid_offer")


def answer_or_problem(offer: bytes, param: str = "sdp") -> str | Reply:
    """The SDP answer for ``offer``, or the 400 naming ``param``."""
    problem = offer_problem(offer, param)
    if problem is not None:
        return problem
    try:
        return answer_for(offer)
    except RequestValidationError as error:
        return bad_sdp(" ".join(error.messages.get("sdp", ["it cannot be answered"])).rstrip("."), param)


def validation_error(schema: Spec, body: Any) -> Reply | None:
    issue = validate(schema, body)
    if issue is None:
        return None
    return Reply.error(400, issue.message, param=issue.param, code=issue.code)


def status_code(required: bool) -> Spec:
    return Object({"status_code": Integer(300, 699)}, required=frozenset({"status_code"} if required else ()))


REFER = Object({"target_uri": String()}, required=frozenset({"target_uri"}))


def _target_problem(body: dict[str, Any]) -> Reply | None:
    target = body["target_uri"]
    if not target.strip():
        return Reply.error(400, "Invalid 'target_uri': empty string.", param="target_uri", code="invalid_value")
    if not target.lower().startswith(_TARGET_SCHEMES):
        return Reply.error(
            400,
            f"Invalid 'target_uri': expected a tel:, sip: or sips: URI, got '{target[:80]}'.",
            param="target_uri",
            code="invalid_value",
        )
    return None


# Which states each action may leave, and where it goes. A hang-up is refused only in ENDED states.
_TRANSITIONS: dict[str, tuple[frozenset[str], CallState]] = {
    "accept": (frozenset({"pending"}), "accepted"),
    "reject": (frozenset({"pending"}), "rejected"),
    "refer": (frozenset({"pending", "accepted"}), "referred"),
    "hangup": (frozenset({"pending", "active", "accepted", "dialing"}), "hung_up"),
}
assert not _TRANSITIONS["hangup"][0] & ENDED
_VERB = {"accept": "accepted", "reject": "rejected", "refer": "referred", "hangup": "hung up"}


def hang_up(registry: CallRegistry, call_id: str) -> CallRecord | None:
    """End the call as ``POST .../hangup`` does (its end listeners close its sockets): the record after, or
    ``None`` when it had ended already. :class:`~.call_registry.UnknownCall` when it is forgotten."""
    allowed, target = _TRANSITIONS["hangup"]
    return registry.decide(call_id, "hangup", None, allowed=allowed, to=target)[1]


def decision_handler(registry: CallRegistry, api: Api, action: str, schema: Spec | None) -> Callable[[Call], Reply]:
    """``POST /<family>/<id>/<action>``: find the call, check the body, then change its state exactly once."""
    allowed, target = _TRANSITIONS[action]

    def handle(call: Call) -> Reply:
        call_id = call.request.path.rstrip("/").split("/")[-2]
        record = registry.get(call_id)
        if record is None or record.api != api:
            return not_found(api, call_id)
        body: Any = call.body
        if action == "hangup":
            body = None  # no body is defined; anything sent is ignored
        else:
            if not call.request.body.strip():
                body = {}
            elif not isinstance(call.request.json, dict):
                return Reply.error(400, "We could not parse the JSON body of your request.", param=None)
            assert schema is not None
            problem = validation_error(schema, body)
            if problem is None and action == "refer":
                problem = _target_problem(body)
            if problem is not None:
                return problem
        if record.transport == "webrtc" and action != "hangup":
            return Reply.error(
                400,
                f"The {_NOUN[api]} '{call_id}' was created over WebRTC; only an incoming SIP call can be "
                f"{_VERB[action]}.",
                code="invalid_call_state",
            )
        try:
            before, after = registry.decide(call_id, action, body, allowed=allowed, to=target)
        except UnknownCall:  # forgotten (the registry's bounds) since it was looked up
            return not_found(api, call_id)
        if after is None:
            if action == "hangup":  # refused only once the call has ended: it is gone
                return not_found(api, call_id)
            return Reply.error(
                400,
                f"The {_NOUN[api]} '{call_id}' is {before.state.replace('_', ' ')}; it cannot be {_VERB[action]}.",
                code="invalid_call_state",
            )
        return Reply(200, b"", content_type="application/json")

    return handle


def remembering_minted(handler: Callable[[Call], Reply], registry: CallRegistry) -> Callable[[Call], Reply]:
    """Wrap ``POST /realtime/client_secrets`` so the ``ek_`` keys it mints can create calls (raw SDP)."""

    def handle(call: Call) -> Reply:
        reply = handler(call)
        if reply.status == 200:
            minted = json.loads(reply.body)
            registry.remember_minted(minted["value"], int(minted["expires_at"]), minted.get("session"))
        return reply

    return handle
