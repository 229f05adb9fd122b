"""Inside a private network namespace (tests/netns.py): the emulator as a WebRTC peer, answered by a second
``aiortc`` peer playing the browser. Prints one JSON report on stdout for tests/test_emulator_webrtc.py.

The browser offers an audio track and the ``oai-events`` data channel, as a page does; the emulator plays its
script on the channel; the browser answers the scripted function call on the channel; then the call is hung up
over REST. A second call creates its offer with raw ``application/sdp`` and an ``ek_`` key.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from typing import Any

import requests
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack
from netns import BROWSER_ADDRESS, EMULATOR_ADDRESS, make_network
from websockets.sync.client import ClientConnection, connect

from realtime_service.emulator import Emulator
from realtime_service.emulator.webrtc import gathering, host

SCRIPT = [
    {"model_says": "Hello from the emulator"},
    {"model_calls": {"name": "lookup_order", "arguments": '{"order": 42}'}},
    {"expect_output": {"output": '{"status": "shipped"}', "timeout": 20}},
    {"model_says": "It has shipped"},
]
DEADLINE = 20.0


class Browser:
    """An offerer with an audio track and ``oai-events``, as a page's RTCPeerConnection is."""

    def __init__(self) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.states: list[str] = [self.pc.connectionState]
        self.events: list[dict[str, Any]] = []
        self.changed = asyncio.Event()
        self.channel_closed = asyncio.Event()
        self.pc.on("connectionstatechange", self._state)
        self.pc.addTrack(AudioStreamTrack())
        self.channel = self.pc.createDataChannel("oai-events")
        self.channel.on("message", self._message)
        self.channel.on("close", self.channel_closed.set)

    def _state(self) -> None:
        self.states.append(self.pc.connectionState)
        self.changed.set()

    def _message(self, message: str | bytes) -> None:
        self.events.append(json.loads(message))
        self.changed.set()

    async def offer(self) -> str:
        gathering.ALLOWED.set((BROWSER_ADDRESS,))
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def until(self, what: Any, description: str) -> None:
        deadline = time.monotonic() + DEADLINE
        while not what():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SystemExit(
                    f"timed out waiting for {description}; states {self.states}, events "
                    f"{[e.get('type') for e in self.events]}"
                )
            self.changed.clear()
            try:
                async with asyncio.timeout(min(remaining, 0.2)):  # stats change without an event: poll them too
                    await self.changed.wait()
            except TimeoutError:
                pass

    def send(self, event: dict[str, Any]) -> None:
        self.channel.send(json.dumps(event))

    async def inbound_packets(self) -> int:
        stats = await self.pc.getStats()
        return sum(s.packetsReceived for s in stats.values() if s.type == "inbound-rtp" and s.kind == "audio")


def _next(sideband: ClientConnection) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(sideband.recv(timeout=DEADLINE))
    return event


def candidates(sdp: str) -> list[str]:
    return sorted({match.group(1) for match in re.finditer(r"a=candidate:\S+ \d+ \S+ \d+ (\S+) \d+ typ", sdp)})


async def scripted_call(emulator: Emulator) -> dict[str, Any]:
    browser = Browser()
    offer = await browser.offer()
    session = {"type": "realtime", "model": "gpt-realtime-2.1"}
    response = await asyncio.to_thread(
        requests.post,
        f"{emulator.base_url}/realtime/calls",
        headers={"Authorization": f"Bearer {emulator.api_key}"},
        files={"sdp": (None, offer), "session": (None, json.dumps(session))},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    call_id = response.headers["location"].rsplit("/", 1)[-1]
    answer = response.text
    await browser.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    await browser.until(lambda: browser.pc.connectionState == "connected", "connected")

    def has(kind: str, count: int = 1) -> bool:
        return sum(event.get("type") == kind for event in browser.events) >= count

    await browser.until(lambda: has("response.function_call_arguments.done"), "the scripted function call")
    call = next(e for e in browser.events if e.get("type") == "response.function_call_arguments.done")
    # a server tool's sideband attaches to the same call: it hears the rest of the conversation too
    sideband = await asyncio.to_thread(
        connect,
        f"ws://127.0.0.1:{emulator.port}/v1/realtime?call_id={call_id}",
        additional_headers={"Authorization": f"Bearer {emulator.api_key}"},
        open_timeout=DEADLINE,
    )
    heard = [await asyncio.to_thread(_next, sideband)]
    sideband.send(json.dumps({"type": "session.update", "session": {"type": "realtime", "instructions": "Be brief."}}))
    heard.append(await asyncio.to_thread(_next, sideband))
    output = {"type": "function_call_output", "call_id": call["call_id"], "output": '{"status": "shipped"}'}
    browser.send({"type": "conversation.item.create", "item": output})
    browser.send({"type": "response.create"})
    await browser.until(lambda: has("response.done", 3), "the script's last turn")
    while heard[-1].get("type") != "response.done":
        heard.append(await asyncio.to_thread(_next, sideband))
    sideband.close()
    record = await asyncio.to_thread(
        emulator.calls.wait_until,
        call_id,
        lambda r: r.script_state is not None and r.script_state.status != "playing",
        DEADLINE,
    )
    packets = 0
    deadline = time.monotonic() + DEADLINE
    while packets == 0 and time.monotonic() < deadline:
        packets = await browser.inbound_packets()
        if packets == 0:
            await asyncio.sleep(0.05)  # a poll of getStats with a deadline, not a wait for a time
    hangup = await asyncio.to_thread(
        requests.post,
        f"{emulator.base_url}/realtime/calls/{call_id}/hangup",
        headers={"Authorization": f"Bearer {emulator.api_key}"},
        timeout=30,
    )
    await browser.until(
        lambda: browser.pc.connectionState in ("closed", "failed") or browser.channel_closed.is_set(),
        "the browser's side to close",
    )
    ended = await asyncio.to_thread(
        emulator.calls.wait_until, call_id, lambda r: r.peer_states[-1:] == ("closed",), DEADLINE
    )
    await browser.pc.close()
    return {
        "call_id": call_id,
        "answer_candidates": candidates(answer),
        "answer_has_fingerprint": "a=fingerprint:sha-256 " in answer,
        "answer_has_sctp": "m=application " in answer and "webrtc-datachannel" in answer,
        "browser_states": browser.states,
        "browser_channel_closed": browser.channel_closed.is_set(),
        "events": [event.get("type") for event in browser.events],
        "script_state": record.script_state.status if record.script_state else None,
        "script_reason": record.script_state.reason if record.script_state else None,
        "client_events": [[e.connection, e.event] for e in record.client_events],
        "sideband_heard": [[event.get("type"), event.get("transcript")] for event in heard],
        "inbound_packets": packets,
        "hangup_status": hangup.status_code,
        "call_state": ended.state,
        "peer_states": list(ended.peer_states),
    }


async def raw_ek_call(emulator: Emulator) -> dict[str, Any]:
    minted = requests.post(
        f"{emulator.base_url}/realtime/client_secrets",
        headers={"Authorization": f"Bearer {emulator.api_key}"},
        json={"session": {"type": "realtime", "model": "gpt-realtime-2.1"}},
        timeout=30,
    )
    assert minted.status_code == 200, minted.text
    browser = Browser()
    offer = await browser.offer()
    response = await asyncio.to_thread(
        requests.post,
        f"{emulator.base_url}/realtime/calls",
        headers={"Authorization": f"Bearer {minted.json()['value']}", "Content-Type": "application/sdp"},
        data=offer.encode(),
        timeout=30,
    )
    assert response.status_code == 201, response.text
    await browser.pc.setRemoteDescription(RTCSessionDescription(sdp=response.text, type="answer"))
    await browser.until(lambda: browser.pc.connectionState == "connected" and bool(browser.events), "session.created")
    call_id = response.headers["location"].rsplit("/", 1)[-1]
    await browser.pc.close()  # the browser leaves: the emulator's peer sees it and the call ends
    ended = await asyncio.to_thread(emulator.calls.wait_for, call_id, ("hung_up",), DEADLINE)
    return {
        "encoding": ended.encoding,
        "auth": ended.auth,
        "first_event": browser.events[0].get("type"),
        "call_state": ended.state,
        "peer_states": list(ended.peer_states),
    }


LIVE_SCRIPT = [
    {"model_says": "Hello from Live"},
    "delegate",
    {"expect_commentary": {"contains": "looking", "timeout": 20}},
    "hangup",
]


async def live_session(emulator: Emulator) -> dict[str, Any]:
    """GPT-Live over WebRTC: session.started on the channel, a script moved by the browser's commentary, and the
    script's hang-up closing the peer on both sides."""
    browser = Browser()
    offer = await browser.offer()
    body = {"session": {"model": "gpt-live-1"}, "transport": {"type": "webrtc", "sdp": offer}}
    response = await asyncio.to_thread(
        requests.post,
        f"{emulator.base_url}/live/sessions",
        headers={"Authorization": f"Bearer {emulator.api_key}"},
        json=body,
        timeout=30,
    )
    assert response.status_code == 200, response.text
    created = response.json()
    session_id = created["session"]["id"]
    emulator.script_call(session_id, LIVE_SCRIPT)
    await browser.pc.setRemoteDescription(RTCSessionDescription(sdp=created["transport"]["sdp"], type="answer"))
    await browser.until(
        lambda: any(e.get("type") == "session.delegation.created" for e in browser.events), "the delegation"
    )
    delegation = next(e for e in browser.events if e.get("type") == "session.delegation.created")["delegation"]["id"]
    browser.send({"type": "session.input_audio.append", "audio": ""})
    browser.send({"type": "session.commentary.append", "delegation_id": delegation, "content": "looking it up"})
    await browser.until(lambda: browser.pc.connectionState == "closed", "the script's hang-up to close the peer")
    ended = await asyncio.to_thread(
        emulator.calls.wait_until, session_id, lambda r: r.peer_states[-1:] == ("closed",), DEADLINE
    )
    return {
        "events": [event.get("type") for event in browser.events],
        "errors": [e["error"]["code"] for e in browser.events if e.get("type") == "error"],
        "client_events": [[c[:3], e.get("type")] for c, e in ((x.connection, x.event) for x in ended.client_events)],
        "script_state": ended.script_state.status if ended.script_state else None,
        "state": ended.state,
        "peer_states": list(ended.peer_states),
        "browser_states": browser.states,
    }


async def refusals() -> dict[str, Any]:
    """An offer the peer cannot answer is a 400 and no call; with max_calls held a new call is a 429."""
    browser = Browser()
    offer = await browser.offer()
    unanswerable = re.sub(r"a=ice-ufrag:[^\r\n]*\r?\n", "", offer)
    with Emulator(webrtc=True, webrtc_addresses=[EMULATOR_ADDRESS], max_calls=1) as emulator:
        headers = {"Authorization": f"Bearer {emulator.api_key}", "Content-Type": "application/sdp"}
        url = f"{emulator.base_url}/realtime/calls"
        refused = await asyncio.to_thread(requests.post, url, headers=headers, data=unanswerable.encode(), timeout=30)
        calls_after_refusal = len(emulator.calls.all())
        first = await asyncio.to_thread(requests.post, url, headers=headers, data=offer.encode(), timeout=30)
        second = await asyncio.to_thread(requests.post, url, headers=headers, data=offer.encode(), timeout=30)
        held = [record.id for record in emulator.calls.all()]
    await browser.pc.close()
    return {
        "refused": [refused.status_code, refused.json()["error"]],
        "calls_after_refusal": calls_after_refusal,
        "first": first.status_code,
        "second": [second.status_code, second.json()["error"]["code"]],
        "held": len(held),
    }


async def never_connects() -> dict[str, Any]:
    """A browser that takes the answer and never applies it: the peer is closed at its connect deadline (made
    short here) and the call ends; another call on the same emulator connects all the same."""
    host.CONNECT_TIMEOUT = 0.5
    with Emulator(webrtc=True, webrtc_addresses=[EMULATOR_ADDRESS]) as emulator:
        silent = Browser()
        offer = await silent.offer()
        headers = {"Authorization": f"Bearer {emulator.api_key}", "Content-Type": "application/sdp"}
        url = f"{emulator.base_url}/realtime/calls"
        response = await asyncio.to_thread(requests.post, url, headers=headers, data=offer.encode(), timeout=30)
        call_id = response.headers["location"].rsplit("/", 1)[-1]
        ended = await asyncio.to_thread(emulator.calls.wait_for, call_id, ("hung_up",), DEADLINE)
        host.CONNECT_TIMEOUT = 30.0
        other = Browser()
        offer = await other.offer()
        second = await asyncio.to_thread(requests.post, url, headers=headers, data=offer.encode(), timeout=30)
        await other.pc.setRemoteDescription(RTCSessionDescription(sdp=second.text, type="answer"))
        await other.until(lambda: other.pc.connectionState == "connected" and bool(other.events), "session.created")
        await silent.pc.close()
        await other.pc.close()
    return {"state": ended.state, "peer_states": list(ended.peer_states), "other": other.states[:3]}


async def timings() -> dict[str, Any]:
    """What one call costs here: the POST's answer (gathering included) and the time to connected (reported,
    never asserted). Then the emulator stops: its peer closes, so the browser's side does too."""
    with Emulator(webrtc=True, webrtc_addresses=[EMULATOR_ADDRESS]) as emulator:
        browser = Browser()
        offer = await browser.offer()
        headers = {"Authorization": f"Bearer {emulator.api_key}", "Content-Type": "application/sdp"}
        started = time.perf_counter()
        response = await asyncio.to_thread(
            requests.post, f"{emulator.base_url}/realtime/calls", headers=headers, data=offer.encode(), timeout=30
        )
        answered = time.perf_counter()
        await browser.pc.setRemoteDescription(RTCSessionDescription(sdp=response.text, type="answer"))
        await browser.until(lambda: browser.pc.connectionState == "connected" and bool(browser.events), "open")
        connected = time.perf_counter()
        await asyncio.to_thread(emulator.stop)
        await browser.until(lambda: browser.pc.connectionState == "closed", "the browser's side to close")
        record = emulator.calls.all()[0]
        await browser.pc.close()
    return {
        "answer_ms": round((answered - started) * 1000, 1),
        "connected_ms": round((connected - answered) * 1000, 1),
        "after_stop": [record.state, list(record.peer_states), browser.states[-1]],
    }


async def main() -> dict[str, Any]:
    with Emulator(webrtc=True, webrtc_addresses=[EMULATOR_ADDRESS], script=SCRIPT) as emulator:
        scripted = await scripted_call(emulator)
        raw = await raw_ek_call(emulator)
        live = await live_session(emulator)
    return {
        "live": live,
        "scripted": scripted,
        "raw": raw,
        "refusals": await refusals(),
        "never_connects": await never_connects(),
        "timings": await timings(),
    }


if __name__ == "__main__":
    make_network()
    report = asyncio.run(main())
    sys.stdout.write(json.dumps(report) + "\n")
