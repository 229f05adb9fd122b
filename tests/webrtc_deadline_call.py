"""Inside a private network namespace (tests/netns.py): ``serve --emulator --emulator-webrtc`` with
``server.max_call_seconds``, and an ``aiortc`` peer playing the browser through ``POST /session``. The server hangs
the call up at its deadline (REST), and the emulator's peer closes: the browser sees its side close. Prints one
JSON report for tests/test_emulator_webrtc_deadline.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import netns
import requests
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack

from realtime_service.emulator.webrtc import gathering

MAX_CALL_SECONDS = 2
DEADLINE = 30.0


def start_serve(framework: str, work: Path) -> tuple[subprocess.Popen[str], str]:
    (work / "serve.yaml").write_text(f"server:\n  max_call_seconds: {MAX_CALL_SECONDS}\n")
    command = [sys.executable, "-m", "realtime_service.web", "--port", "0", "--framework", framework]
    command += ["--config", str(work / "serve.yaml"), "--emulator", "--emulator-webrtc"]
    command += ["--emulator-webrtc-address", netns.EMULATOR_ADDRESS, "--emulator-record", str(work / "calls.json")]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "REALTIME_SERVICE_"))}
    serve = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=(work / "serve.log").open("w"), text=True, env=env)
    assert serve.stdout is not None
    match = re.search(r"http://127\.0\.0\.1:\d+", serve.stdout.readline())
    if match is None:
        serve.kill()
        raise SystemExit(f"serve did not start: {(work / 'serve.log').read_text()[-2000:]}")
    return serve, match.group(0)


async def call(url: str) -> dict[str, Any]:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    states = [pc.connectionState]
    changed = asyncio.Event()

    def state() -> None:
        states.append(pc.connectionState)
        changed.set()

    pc.on("connectionstatechange", state)
    pc.addTrack(AudioStreamTrack())
    channel = pc.createDataChannel("oai-events")
    channel.on("close", changed.set)
    gathering.ALLOWED.set((netns.BROWSER_ADDRESS,))
    await pc.setLocalDescription(await pc.createOffer())
    answer = await asyncio.to_thread(
        requests.post,
        f"{url}/session",
        data=pc.localDescription.sdp,
        headers={"Content-Type": "application/sdp"},
        timeout=DEADLINE,
    )
    assert answer.status_code == 201, (answer.status_code, answer.text[:300])
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer.text, type="answer"))

    async def until(check: Any, what: str) -> None:
        ends = time.monotonic() + DEADLINE
        while not check():
            if time.monotonic() > ends:
                raise SystemExit(f"timed out waiting for {what}; states {states}")
            changed.clear()
            try:
                async with asyncio.timeout(0.2):
                    await changed.wait()
            except TimeoutError:
                pass

    await until(lambda: pc.connectionState == "connected", "connected")
    connected_at = time.monotonic()
    await until(lambda: channel.readyState == "closed" or pc.connectionState in ("closed", "failed"), "the close")
    closed_after = time.monotonic() - connected_at
    await pc.close()
    return {
        "call_id": answer.headers.get("x-call-id"),
        "browser_states": states,
        "channel_state": channel.readyState,
        "closed_after_connected_s": closed_after,
    }


def main() -> None:
    netns.make_network()
    framework = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="webrtc-deadline-") as folder:
        work = Path(folder)
        serve, url = start_serve(framework, work)
        try:
            report = asyncio.run(call(url))
        finally:
            serve.send_signal(signal.SIGTERM)
            report_exit = serve.wait(30)
        record = work / "calls.json"
        report.update(
            serve_exit=report_exit,
            record=json.loads(record.read_text()) if record.exists() else None,
            serve_log=(work / "serve.log").read_text()[-3000:],
        )
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
