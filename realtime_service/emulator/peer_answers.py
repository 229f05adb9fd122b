"""What the call-creating routes share when a real WebRTC peer answers (``Emulator(webrtc=True)``, :mod:`.webrtc`).

``POST /v1/realtime/calls`` and GPT-Live's ``POST /v1/live/sessions`` (WebRTC) both: check the offer as the
canned answer does, then what a peer needs (:mod:`.webrtc.offers`: size, media sections, a DTLS fingerprint, a data
channel section); refuse a new call with ``max_calls`` live ones held or peers made (``429``: a peer holds
sockets, so it does not push the oldest call out, as a primary socket does not; offers at once beyond it make no
peer); have the peer answer (an offer it cannot use is
a ``400 invalid_offer`` naming why, a peer that cannot answer in time a ``500``); then record the call, and only
then tie the peer to it.
"""

from __future__ import annotations

from .call_registry import CallRecord, NoRoomForCall
from .call_routes import answer_or_problem, bad_sdp, offer_problem
from .core import Core, OfferRefused, PeerFailed
from .replies import Reply
from .webrtc.offers import offer_refusal


def no_room(max_calls: int) -> Reply:
    return Reply.error(
        429,
        f"The emulator already holds max_calls={max_calls} live calls, each with a WebRTC peer; end one first.",
        code="rate_limit_exceeded",
    )


def peer_answer(core: Core, call_id: str, offer: bytes, param: str = "sdp") -> str | Reply:
    """A real peer's answer for ``call_id``, or the 400/429/500 saying why there is none; without a peer (no
    ``webrtc``), the canned answer :func:`~.call_routes.answer_or_problem` gives."""
    peers = core.peers
    if peers is None:
        return answer_or_problem(offer, param)
    problem = offer_problem(offer, param)
    if problem is not None:
        return problem
    refusal = offer_refusal(offer)  # before a peer is made: a hostile offer costs no sockets
    if refusal is not None:
        return bad_sdp(refusal, param)
    if not core.calls.has_room():
        return no_room(core.calls.max_calls)
    try:
        return peers.answer(call_id, offer)
    except NoRoomForCall:  # peers answering or held reached max_calls: no peer was made
        return no_room(core.calls.max_calls)
    except OfferRefused as error:
        return bad_sdp(f"the emulator's WebRTC peer cannot answer it ({str(error)[:200]})", param)
    except PeerFailed as error:
        return Reply.error(500, str(error), type="server_error", code="server_error")


def record_with_peer(core: Core, record: CallRecord) -> Reply | None:
    """Record the call the peer answered and tie the two together; the 429 (the peer closed) when the last room
    went to another call meanwhile. Without a peer the call is recorded as any other (the oldest evicted)."""
    peers = core.peers
    if peers is None:
        core.calls.add(record)
        return None
    try:
        core.calls.add(record, evict=False)
    except NoRoomForCall:
        peers.discard(record.id)
        return no_room(core.calls.max_calls)
    peers.bind(record.id)
    return None
