"""Inside a private network namespace (tests/netns.py): one WebRTC call watched by two connections, the browser's
``oai-events`` channel and the package's own sideband controller (a :class:`~realtime_service.sideband.attacher.
CallAttacher` with a Toolbox tool, attached the way ``serve``'s ``server.sideband`` does). Prints one JSON report
on stdout for tests/test_emulator_webrtc.py: what the browser saw, what the script's state is, and who sent what.

The tool's output is created on the sideband; the API makes it an item of the call's conversation, so the browser
must see it too (``conversation.item.added``/``done``) - and the script must play to its end, every run.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import requests
from aiortc import RTCSessionDescription
from netns import EMULATOR_ADDRESS, make_network
from webrtc_call import DEADLINE, Browser

from realtime_service.emulator import Emulator
from realtime_service.sideband.attacher import CallAttacher
from realtime_service.sideband.ownership import MemoryCallLeases
from realtime_service.sideband.tools import Toolbox
from realtime_service.web.servers.containers import TokenServerContainer

SCRIPT = [
    {"caller": "Where is my order 1234?"},
    {"expect_sideband": {"timeout": 20}},  # the server's tool must hear the call it answers
    {"model_calls": {"name": "lookup_order", "arguments": '{"order_id": "1234"}'}},
    {"expect_output": {"output": '{"order_id": "1234", "status": "shipped"}', "timeout": 20}},
    {"model_says": "It ships tomorrow."},
    "hangup",
]
toolbox = Toolbox(timeout=10.0)
ran: list[str] = []


@toolbox.function
def lookup_order(order_id: str) -> dict[str, str]:
    """Where an order is (counts its runs: a tool must run once)."""
    ran.append(order_id)
    return {"order_id": order_id, "status": "shipped"}


async def watched_call(emulator: Emulator, attacher: CallAttacher, *, late: bool) -> dict[str, Any]:
    """``late``: the sideband attaches only once the browser heard the caller's turn (the script waits for it at
    ``expect_sideband``); else as ``/session`` does, before the browser applies the answer."""
    browser = Browser()
    offer = await browser.offer()
    response = await asyncio.to_thread(
        requests.post,
        f"{emulator.base_url}/realtime/calls",
        headers={"Authorization": f"Bearer {emulator.api_key}"},
        files={"sdp": (None, offer), "session": (None, json.dumps({"type": "realtime", "model": "gpt-realtime-2.1"}))},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    call_id = response.headers["location"].rsplit("/", 1)[-1]
    attached = None if late else attacher.attach(call_id, tools=toolbox)  # as /session: the answer does not wait
    await browser.pc.setRemoteDescription(RTCSessionDescription(sdp=response.text, type="answer"))
    if late:
        await browser.until(
            lambda: any(
                e.get("type") == "conversation.item.input_audio_transcription.completed" for e in browser.events
            ),
            "the caller's turn",
        )
        attached = attacher.attach(call_id, tools=toolbox)
    await browser.until(
        lambda: browser.pc.connectionState in ("closed", "failed") or browser.channel_closed.is_set(),
        "the script's hang-up to close the browser's side",
    )
    record = await asyncio.to_thread(
        emulator.calls.wait_until,
        call_id,
        lambda r: r.script_state is not None and r.script_state.status not in ("pending", "playing"),
        DEADLINE,
    )
    end = await asyncio.wrap_future(attached) if attached is not None else None
    await browser.pc.close()
    outputs = [
        e
        for e in browser.events
        if e.get("type") in ("conversation.item.added", "conversation.item.done")
        and e["item"].get("type") == "function_call_output"
    ]
    return {
        "late": late,
        "script_state": record.script_state.status if record.script_state else None,
        "script_step": record.script_state.step if record.script_state else None,
        "script_reason": record.script_state.reason if record.script_state else None,
        "events": [e.get("type") for e in browser.events],
        "outputs": [[e["type"], e["item"]["call_id"], e["item"]["output"]] for e in outputs],
        "called": [e["call_id"] for e in browser.events if e.get("type") == "response.function_call_arguments.done"],
        "client_events": [[c.connection[:3], c.event.get("type")] for c in record.client_events],
        "tool_runs": list(ran),
        "attach_end": repr(end)[:200],
    }


async def main(runs: int) -> dict[str, Any]:
    with Emulator(webrtc=True, webrtc_addresses=[EMULATOR_ADDRESS], script=SCRIPT) as emulator:
        container = TokenServerContainer(environ={})
        container.config.from_dict({"realtime": {"api_key": emulator.api_key, "base_url": emulator.base_url}})
        attacher = CallAttacher(container.realtime.realtime_session_service(), MemoryCallLeases(), owner="worker-a")
        try:
            calls = []
            for run in range(runs):
                ran.clear()
                calls.append(await watched_call(emulator, attacher, late=run % 2 == 1))
        finally:
            attacher.close()
    return {"calls": calls}


if __name__ == "__main__":
    make_network()
    report = asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1))
    sys.stdout.write(json.dumps(report) + "\n")
