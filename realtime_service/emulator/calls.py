"""``POST /v1/realtime/calls`` and ``/v1/realtime/calls/{call_id}/accept|reject|refer|hangup`` (GA Realtime).

Creating a call takes the SDP offer in one of two encodings (CALLS-LIVE-NOTES 1.1): ``multipart/form-data``
with a part ``sdp`` (the offer) and an optional part ``session`` (the GA realtime session, validated as
``POST /realtime/client_secrets`` validates one, its ``type: "realtime"`` required), or a raw
``application/sdp`` body. Raw SDP is what an ``ek_`` key this emulator minted sends (the key's session
applies); the official SDK also sends it with a standard key when ``session`` is omitted, and whether the
real API allows that is UNCONFIRMED, so it is accepted unless ``emulator.calls.refuse_raw_sdp_with_api_key``
is set. The answer is ``201`` ``application/sdp`` with ``Location: /v1/realtime/calls/rtc_...``.

With real WebRTC peers (``Emulator(webrtc=True)``, :mod:`.webrtc`) the answer is a peer's (:mod:`.peer_answers`).
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from ..redaction import redact
from .call_registry import CallRecord
from .call_routes import REFER, decision_handler, status_code, validation_error
from .client_secrets import REALTIME_SESSION
from .core import Call, Core
from .multipart import MultipartError, boundary_of, parse
from .peer_answers import peer_answer, record_with_peer
from .replies import Reply
from .validation import Object, Tagged

SESSION = Tagged("type", {"realtime": REALTIME_SESSION})
"""A GA realtime session, ``type`` required (``CallAcceptParams``, ``RealtimeSessionCreateRequest``)."""
_CREATE_SESSION = Object({"session": SESSION})
_PARTS = ("sdp", "session")


def _call_id() -> str:
    return "rtc_" + secrets.token_hex(16)


class _Creator:
    """The ``POST /realtime/calls`` handler of one emulator (it needs the emulator's keys and registry)."""

    def __init__(self, emulator: Core) -> None:
        self._emulator = emulator

    def _authorize(self, call: Call) -> tuple[str, Any] | Reply:
        """``("api_key", None)``, ``("ephemeral", its session)``, or the 401."""
        emulator = self._emulator
        scheme, _, key = call.request.headers.get("authorization", "").strip().partition(" ")
        key = key.strip()
        if not emulator.azure and scheme.lower() == "bearer" and key.startswith("ek_"):
            minted = emulator.calls.minted(key)
            if minted is None:
                return Reply.error(401, f"Incorrect API key provided: {redact(key)}.", code="invalid_api_key")
            expires_at, session = minted
            if call.now >= expires_at:
                return Reply.error(401, "The ephemeral key has expired.", code="invalid_api_key")
            return "ephemeral", session
        refusal = emulator.authorize(call.request)
        return refusal if refusal is not None else ("api_key", None)

    def __call__(self, call: Call) -> Reply:
        auth = self._authorize(call)
        if isinstance(auth, Reply):
            return auth
        kind, session = auth
        content_type = call.request.headers.get("content-type", "")
        media_type = content_type.split(";")[0].strip().lower()
        if media_type == "multipart/form-data":
            decoded = self._multipart(call.request.body, content_type)
            if isinstance(decoded, Reply):
                return decoded
            offer, sent_session = decoded
            if sent_session is not None or kind == "api_key":
                session = sent_session
            encoding = "multipart"
        elif media_type == "application/sdp":
            if kind == "api_key" and self._emulator.calls.refuse_raw_sdp_with_api_key:
                return Reply.error(
                    400,
                    "A raw application/sdp body is reserved for ephemeral keys; send multipart/form-data "
                    "with the parts 'sdp' and 'session'.",
                    param="sdp",
                )
            offer, encoding = call.request.body, "raw"
        else:
            return Reply.error(
                400,
                f"Unsupported Content-Type '{media_type[:80]}': send multipart/form-data (parts 'sdp' and "
                "'session') or application/sdp.",
            )
        call_id = _call_id()
        answer = peer_answer(self._emulator, call_id, offer)
        if isinstance(answer, Reply):
            return answer
        record = CallRecord(
            id=call_id,
            api="realtime",
            transport="webrtc",
            state="active",
            created_at=call.now,
            offer=offer,
            answer=answer,
            session=session,
            encoding=encoding,
            auth=kind,
        )
        refused = record_with_peer(self._emulator, record)
        if refused is not None:
            return refused
        prefix = "/openai/v1" if self._emulator.azure else "/v1"
        return Reply(
            201,
            answer.encode(),
            headers=(("location", f"{prefix}/realtime/calls/{record.id}"),),
            content_type="application/sdp",
        )

    @staticmethod
    def _multipart(body: bytes, content_type: str) -> tuple[bytes, Any] | Reply:
        boundary = boundary_of(content_type)
        if boundary is None:
            return Reply.error(400, "The multipart/form-data Content-Type has no boundary.")
        try:
            parts = parse(body, boundary)
        except MultipartError as error:
            return Reply.error(400, f"Could not parse the multipart/form-data body: {error}.")
        found: dict[str, bytes] = {}
        for part in parts:
            if part.name not in _PARTS:
                return Reply.error(
                    400, f"Unknown parameter: '{part.name[:80]}'.", param=part.name[:80], code="unknown_parameter"
                )
            if part.name in found:
                return Reply.error(400, f"Duplicate parameter: '{part.name}'.", param=part.name)
            found[part.name] = part.data
        if "sdp" not in found:
            return Reply.error(
                400, "Missing required parameter: 'sdp'.", param="sdp", code="missing_required_parameter"
            )
        if "session" not in found:
            return found["sdp"], None
        try:
            session = json.loads(found["session"])
        except (ValueError, RecursionError):
            return Reply.error(400, "The 'session' part is not valid JSON.", param="session")
        if session is not None:
            problem = validation_error(_CREATE_SESSION, {"session": session})
            if problem is not None:
                return problem
        return found["sdp"], session


def install(emulator: Core) -> None:
    """The Realtime call family: create a call (WebRTC), decide and end one."""
    registry = emulator.calls
    emulator.add_route("POST", "/realtime/calls", _Creator(emulator), auth=False, json_body=False)
    base = "/realtime/calls/{call_id}"
    emulator.add_route("POST", f"{base}/accept", decision_handler(registry, "realtime", "accept", SESSION), azure=False)
    emulator.add_route(
        "POST", f"{base}/reject", decision_handler(registry, "realtime", "reject", status_code(False)), json_body=False
    )
    emulator.add_route("POST", f"{base}/refer", decision_handler(registry, "realtime", "refer", REFER), azure=False)
    emulator.add_route(
        "POST", f"{base}/hangup", decision_handler(registry, "realtime", "hangup", None), json_body=False, azure=False
    )
