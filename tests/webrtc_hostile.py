"""Inside a private network namespace (tests/netns.py): hostile browsers against the emulator's WebRTC peer, each
beside a normal call on the same emulator that must complete meanwhile. Prints one JSON report on stdout for
tests/test_emulator_webrtc_hostile.py.

- ``never_ice``: an offer whose candidates point at ports already closed (the browser left after offering):
  ICE never completes; the peer is closed at its connect deadline (made 5 s here) and its sockets with it.
- ``flood``: invalid JSON, binary and large messages (each answered with an ``error`` event), then thousands of
  events, faster than the session records them: the channel is dropped, the call ends, the record stays bounded.
- ``slow_reader``: a browser whose SCTP stack stops taking the emulator's data (DATA chunks dropped, so never
  acknowledged) while it keeps sending: the emulator's sends wait, then the call is dropped after the stall
  timeout (made short here), as a socket is.
- ``at_once``: offers posted at once beyond ``max_calls``: 429s, and no more peers made than ``max_calls``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import resource
import sys
import threading
import time
from pathlib import Path
from typing import Any

import requests
from aiortc import RTCSessionDescription
from netns import EMULATOR_ADDRESS, make_network
from webrtc_call import DEADLINE, Browser

from realtime_service.emulator import Emulator, call_registry
from realtime_service.emulator.webrtc import channel, host

NORMAL_SCRIPT = [{"model_says": "Hello from the emulator"}, {"model_says": "Goodbye"}]
ITEM = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
CONNECT_TIMEOUT = 5.0
"""Short, so the test is quick, and long enough for the normal calls beside it to connect on a busy machine."""
BATCH = 50
"""The paced flood's events per batch: their answers (about 25 KB) stay below MAX_BUFFERED, so it never stalls."""
FLOOD = 12_000
"""Events the flooding browser sends: beyond the inbox bound (MAX_QUEUED) and the record's bound."""


def udp_sockets_on(address: str) -> int:
    """UDP sockets bound to ``address`` in this namespace (/proc/net/udp: the local address in hex, host order)."""
    wanted = "".join(f"{int(part):02X}" for part in reversed(address.split(".")))
    lines = Path("/proc/net/udp").read_text().splitlines()[1:]
    return sum(line.split()[1].split(":")[0] == wanted for line in lines)


def post_offer(emulator: Emulator, offer: str) -> requests.Response:
    return requests.post(
        f"{emulator.base_url}/realtime/calls",
        headers={"Authorization": f"Bearer {emulator.api_key}", "Content-Type": "application/sdp"},
        data=offer.encode(),
        timeout=30,
    )


async def connected(emulator: Emulator) -> tuple[Browser, str]:
    """A browser connected to the emulator with ``oai-events`` open (``session.created`` received)."""
    browser = Browser()
    offer = await browser.offer()
    response = await asyncio.to_thread(post_offer, emulator, offer)
    assert response.status_code == 201, response.text
    await browser.pc.setRemoteDescription(RTCSessionDescription(sdp=response.text, type="answer"))
    await browser.until(lambda: browser.pc.connectionState == "connected" and bool(browser.events), "session.created")
    return browser, response.headers["location"].rsplit("/", 1)[-1]


async def normal_call(emulator: Emulator) -> dict[str, Any]:
    """The call that must keep working beside each attack: its whole script plays on its channel."""
    browser, call_id = await connected(emulator)
    await browser.until(
        lambda: sum(e.get("type") == "response.done" for e in browser.events) >= len(NORMAL_SCRIPT), "the script"
    )
    record = await asyncio.to_thread(
        emulator.calls.wait_until,
        call_id,
        lambda r: r.script_state is not None and r.script_state.status != "playing",
        DEADLINE,
    )
    await browser.pc.close()
    ended = await asyncio.to_thread(emulator.calls.wait_for, call_id, ("hung_up",), DEADLINE)
    return {
        "script_state": record.script_state.status if record.script_state else None,
        "transcripts": [
            e.get("transcript") for e in browser.events if e.get("type") == "response.output_audio_transcript.done"
        ],
        "state": ended.state,
    }


def wait_released(emulator: Emulator) -> dict[str, int]:
    """Poll (with a deadline) until no peer is held and no UDP socket is left on the emulator's address."""
    peers = emulator.peers
    assert peers is not None
    deadline = time.monotonic() + DEADLINE
    while (peers.held or udp_sockets_on(EMULATOR_ADDRESS)) and time.monotonic() < deadline:
        time.sleep(0.05)  # a poll with a deadline
    return {"held": peers.held, "udp": udp_sockets_on(EMULATOR_ADDRESS)}


async def never_ice(emulator: Emulator) -> dict[str, Any]:
    gone = Browser()
    offer = await gone.offer()
    await gone.pc.close()  # its candidates' ports are closed now: no connectivity check will ever be answered
    response = await asyncio.to_thread(post_offer, emulator, offer)
    assert response.status_code == 201, response.text
    call_id = response.headers["location"].rsplit("/", 1)[-1]
    udp_while_held = udp_sockets_on(EMULATOR_ADDRESS)
    ended = await asyncio.to_thread(emulator.calls.wait_for, call_id, ("hung_up",), DEADLINE)
    return {
        "status": response.status_code,
        "udp_while_held": udp_while_held,
        "state": ended.state,
        "peer_states": list(ended.peer_states),
        "reason": ended.peer_end_reason,
    }


async def flood(emulator: Emulator) -> dict[str, Any]:
    browser, call_id = await connected(emulator)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for index in range(20):
        browser.channel.send("{not json " + str(index))
        browser.channel.send(b"\x00\x01binary")
    large = json.dumps({"type": "no.such.event", "padding": "x" * 200_000})  # near SCTP's 256 KiB message limit
    for _ in range(5):
        browser.send(json.loads(large))

    def errors(code: str) -> int:
        return sum(e.get("type") == "error" and e["error"].get("code") == code for e in browser.events)

    def all_errors() -> int:
        return sum(e.get("type") == "error" for e in browser.events)

    await browser.until(lambda: all_errors() >= 45, "an error event for each bad message")
    error_codes = sorted({e["error"].get("code") for e in browser.events if e.get("type") == "error"})
    for index in range(FLOOD):
        browser.send(
            {
                "type": "conversation.item.create",
                "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": str(index)}]},
            }
        )
    # the emulator's side ends it (its close may not reach a browser still flooding the link: not waited for)
    ended = await asyncio.to_thread(emulator.calls.wait_for, call_id, ("hung_up",), DEADLINE)
    await browser.pc.close()
    return {
        "invalid_json": errors("invalid_json"),
        "invalid_message": errors("invalid_message"),
        "errors_before_flood": error_codes,
        "errors": all_errors(),
        "state": ended.state,
        "reason": ended.peer_end_reason,
        "client_events": len(ended.client_events),
        "rss_growth_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before,
    }


async def paced_flood(emulator: Emulator) -> dict[str, Any]:
    """Events sent no faster than the emulator answers them (batches, each waited for): the inbox never fills,
    so the record's bound (MAX_CLIENT_EVENTS, lowered here) is what ends it."""
    browser, call_id = await connected(emulator)

    def answered() -> int:
        return sum(e.get("type") == "conversation.item.added" for e in browser.events)

    sent = 0
    while not browser.channel_closed.is_set() and browser.pc.connectionState == "connected":
        for _ in range(BATCH):
            browser.send({"type": "conversation.item.create", "item": ITEM})
        sent += BATCH
        wanted = min(sent, call_registry.MAX_CLIENT_EVENTS)
        await browser.until(
            lambda: answered() >= wanted or browser.channel_closed.is_set(),  # noqa: B023 (awaited here)
            "the answers",
        )
        if sent > call_registry.MAX_CLIENT_EVENTS + 10 * BATCH:
            break
    ended = await asyncio.to_thread(emulator.calls.wait_for, call_id, ("hung_up",), DEADLINE)
    await browser.pc.close()
    return {
        "sent": sent,
        "browser_states": browser.states,
        "channel_closed": browser.channel_closed.is_set(),
        "peer_states": list(ended.peer_states),
        "answered": answered(),
        "state": ended.state,
        "reason": ended.peer_end_reason,
        "client_events": len(ended.client_events),
    }


async def slow_reader(emulator: Emulator) -> dict[str, Any]:
    browser, call_id = await connected(emulator)
    sctp = browser.pc.sctp
    assert sctp is not None

    async def not_read(chunk: Any) -> None:
        """The browser's SCTP stack takes no more data: nothing is acknowledged, the emulator's sends queue."""

    sctp._receive_data_chunk = not_read  # type: ignore[method-assign]
    big = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "x" * 10_000}]}
    for _ in range(40):  # each echoed twice (item added, item done): far beyond MAX_BUFFERED, far below MAX_QUEUED
        browser.send({"type": "conversation.item.create", "item": big})
    ended = await asyncio.to_thread(emulator.calls.wait_for, call_id, ("hung_up",), DEADLINE)
    await browser.pc.close()
    return {"state": ended.state, "reason": ended.peer_end_reason, "peer_states": list(ended.peer_states)}


async def unread_audio(emulator: Emulator) -> dict[str, Any]:
    """The browser's audio reaches the emulator's peer for two seconds (100 packets): the frames ``aiortc``
    decoded and nobody took, queued on the peer's receiving track, stay a handful (unread, they grow 50 a second)."""
    browser, call_id = await connected(emulator)

    async def sent() -> int:
        stats = await browser.pc.getStats()
        return sum(s.packetsSent for s in stats.values() if s.type == "outbound-rtp" and s.kind == "audio")

    deadline = time.monotonic() + DEADLINE
    while await sent() < 100 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)  # a poll of getStats with a deadline
    peers = emulator.peers
    assert peers is not None
    peer = peers._peers[call_id]  # type: ignore[attr-defined]  # read only, for this check
    queued = [receiver.track._queue.qsize() for receiver in peer.pc.getReceivers() if receiver.track.kind == "audio"]
    packets = await sent()
    await browser.pc.close()
    await asyncio.to_thread(emulator.calls.wait_for, call_id, ("hung_up",), DEADLINE)
    return {"packets_sent": packets, "queued_frames": queued}


async def beside_a_normal_call(emulator: Emulator, attack: Any) -> dict[str, Any]:
    attacked, normal = await asyncio.gather(attack(emulator), normal_call(emulator))
    return {"attack": attacked, "normal": normal, "released": await asyncio.to_thread(wait_released, emulator)}


async def at_once() -> dict[str, Any]:
    """Eight offers at once against max_calls=2: two calls, six 429s, and never more than two peers made."""
    made = 0
    original = host.RTCPeerConnection

    class Counted(original):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            nonlocal made
            made += 1
            super().__init__(*args, **kwargs)

    host.RTCPeerConnection = Counted  # type: ignore[misc]
    browsers = [Browser() for _ in range(8)]
    offers = [await browser.offer() for browser in browsers]
    try:
        with Emulator(webrtc=True, webrtc_addresses=[EMULATOR_ADDRESS], max_calls=2) as emulator:
            start = threading.Barrier(len(offers))

            def post(offer: str) -> int:
                start.wait(DEADLINE)
                return post_offer(emulator, offer).status_code

            with concurrent.futures.ThreadPoolExecutor(len(offers)) as pool:
                statuses = sorted(pool.map(post, offers))
            calls = len(emulator.calls.all())
    finally:
        host.RTCPeerConnection = original  # type: ignore[misc]
    for browser in browsers:
        await browser.pc.close()
    return {"statuses": statuses, "peers_made": made, "calls": calls}


async def main() -> dict[str, Any]:
    host.CONNECT_TIMEOUT = CONNECT_TIMEOUT
    channel.MAX_BUFFERED = 64 * 1024
    channel.SEND_STALL_TIMEOUT = 1.0
    call_registry.MAX_CLIENT_EVENTS = 2_000  # the record's bound, lowered so the paced flood reaches it quickly
    report: dict[str, Any] = {}
    with Emulator(webrtc=True, webrtc_addresses=[EMULATOR_ADDRESS], script=NORMAL_SCRIPT) as emulator:
        report["before"] = udp_sockets_on(EMULATOR_ADDRESS)
        for attack in (never_ice, flood, paced_flood, slow_reader):
            report[attack.__name__] = await beside_a_normal_call(emulator, attack)
        report["unread_audio"] = await unread_audio(emulator)
    report["at_once"] = await at_once()
    report["max_client_events"] = call_registry.MAX_CLIENT_EVENTS
    report["connect_timeout"] = CONNECT_TIMEOUT
    return report


if __name__ == "__main__":
    make_network()
    sys.stdout.write(json.dumps(asyncio.run(main())) + "\n")
