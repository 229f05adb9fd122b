"""How fast one emulator sideband is, beside a bare ``websockets`` server doing the same in the same run.

    python bench/bench_sockets.py                    # 20,000 events pushed, 2,000 round trips, each side
    python bench/bench_sockets.py --events 2000 --round-trips 200

Two measures, each on the emulator and on a bare ``websockets.sync.server`` (no routing, no record, no
protocol layer), so the emulator is seen never to be the bottleneck of a benchmark of the package:

- ``push``: server events one socket delivers to a client that only reads (the emulator's side is a driver,
  ``Emulator.on_sideband``, sending Realtime ``response.output_audio_transcript.delta`` events): events per
  second, and CPU microseconds per event (client and server share this process: both sides are counted, the
  same way for both servers);
- ``round_trip``: a client event and its answer, one at a time (the emulator: a Live
  ``session.input_audio.mute`` and its ``session.input_audio.muted``, recorded on the call; the bare server:
  an echo): round trips per second.

Prints a ``BENCH-SOCKETS-RESULT`` JSON line. Loopback only; needs the ``sideband`` extra.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from websockets.sync.client import connect
from websockets.sync.server import ServerConnection, serve

from realtime_service.emulator import Channel, Emulator

OFFER = (Path(__file__).resolve().parents[1] / "tests" / "sdp" / "chromium_offer.sdp").read_text()
DELTA = {
    "type": "response.output_audio_transcript.delta",
    "response_id": "resp_1",
    "item_id": "item_1",
    "output_index": 0,
    "content_index": 0,
    "delta": "Your order shipped on Tuesday. ",
}


def _timed(work: Callable[[], None]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of ``work``."""
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu


def _push(url: str, headers: dict[str, str], count: int, skip: int) -> dict[str, float]:
    with connect(url, additional_headers=headers, max_queue=None) as ws:
        for _ in range(skip):
            ws.recv(timeout=30)

        def read() -> None:
            for _ in range(count):
                ws.recv(timeout=30)

        wall, cpu = _timed(read)
    return {"events_per_s": round(count / wall), "cpu_us_per_event": round(cpu / count * 1e6, 1)}


def _round_trips(url: str, headers: dict[str, str], count: int, event: str) -> dict[str, float]:
    with connect(url, additional_headers=headers) as ws:

        def run() -> None:
            for _ in range(count):
                ws.send(event)
                ws.recv(timeout=30)

        wall, cpu = _timed(run)
    return {"round_trips_per_s": round(count / wall), "cpu_us_per_round_trip": round(cpu / count * 1e6, 1)}


def _emulator(events: int, round_trips: int) -> dict[str, Any]:
    started = threading.Event()

    def pusher(channel: Channel) -> None:
        if channel.api == "realtime":
            started.wait(30)
            for _ in range(events):
                channel.send(DELTA)

    with Emulator() as emu:
        emu.on_sideband = pusher
        auth = {"Authorization": f"Bearer {emu.api_key}"}
        files = [("sdp", (None, OFFER, "application/sdp"))]
        call = requests.post(emu.base_url + "/realtime/calls", files=files, headers=auth, timeout=30)
        call_id = call.headers["location"].rsplit("/", 1)[1]
        base = f"ws://127.0.0.1:{emu.port}/v1"
        started.set()
        push = _push(f"{base}/realtime?call_id={call_id}", auth, events, skip=1)  # after session.created
        live = requests.post(
            emu.base_url + "/live/sessions",
            json={"session": {"model": "gpt-live-1"}, "transport": {"type": "webrtc", "sdp": OFFER}},
            headers=auth,
            timeout=30,
        ).json()["session"]["id"]
        mute = json.dumps({"type": "session.input_audio.mute"})
        trips = _round_trips(f"{base}/live/sessions/{live}/attach", auth, round_trips, mute)
    return {"push": push, "round_trip": trips}


def _bare(events: int, round_trips: int) -> dict[str, Any]:
    text = json.dumps({**DELTA, "event_id": "event_0123456789abcdefghijklmn"})

    def handler(ws: ServerConnection) -> None:
        if ws.request is not None and ws.request.path == "/push":
            for _ in range(events):
                ws.send(text)
        else:
            for message in ws:
                ws.send(message)

    with serve(handler, "127.0.0.1", 0) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port = server.socket.getsockname()[1]
        push = _push(f"ws://127.0.0.1:{port}/push", {}, events, skip=0)
        trips = _round_trips(f"ws://127.0.0.1:{port}/echo", {}, round_trips, json.dumps({"type": "x"}))
        server.shutdown()
    return {"push": push, "round_trip": trips}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--round-trips", type=int, default=2_000)
    args = parser.parse_args(argv)
    result = {
        "emulator": _emulator(args.events, args.round_trips),
        "bare_websockets": _bare(args.events, args.round_trips),
    }
    print("BENCH-SOCKETS-RESULT " + json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
