"""Per-call cost and cold start: this package vs a bare ``requests`` post vs the official ``openai`` package.

Everything runs against one emulator process on loopback (never anywhere else). Rounds interleave the clients
in a shuffled order and report medians, so machine noise hits all of them alike; read the ratios, not the
absolute times. Usage::

    pip install -e '.[bench]' && python bench/bench_calls.py [--calls 300] [--rounds 7] [--cold 7]
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import requests

API_KEY = "sk-bench-emulator-key-000000000000"
BODY: dict[str, Any] = {
    "model": "gpt-4o-realtime-preview",
    "voice": "marin",
    "instructions": "You are a friendly voice assistant.",
    "modalities": ["audio", "text"],
    "turn_detection": {"type": "server_vad", "threshold": 0.5},
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_emulator(port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "realtime_service.emulator", "--port", str(port), "--api-key", API_KEY],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("emulator did not start")


def per_call_clients(base_url: str) -> dict[str, Callable[[], object]]:
    from openai import OpenAI

    from realtime_service.containers import RealtimeContainer

    session = requests.Session()
    url = base_url + "/realtime/sessions"
    headers = {"Authorization": f"Bearer {API_KEY}"}

    container = RealtimeContainer(environ={})
    container.config.from_dict({"api_key": API_KEY, "base_url": base_url})
    service = container.realtime_session_service()

    client = OpenAI(api_key=API_KEY, base_url=base_url)

    return {
        "bare requests post": lambda: session.post(url, json=BODY, headers=headers).json(),
        "realtime-service": lambda: service.create_realtime_session(BODY),
        "openai beta.realtime.sessions": lambda: client.beta.realtime.sessions.create(**BODY),
    }


COLD_SCRIPTS = {
    "realtime-service": (
        "from realtime_service.containers import RealtimeContainer\n"
        "c = RealtimeContainer(environ={}); c.config.from_dict({'api_key': KEY, 'base_url': URL})\n"
        "c.realtime_session_service().create_realtime_session(BODY)\n"
    ),
    "openai": (
        "from openai import OpenAI\n"
        "OpenAI(api_key=KEY, base_url=URL).beta.realtime.sessions.create(**BODY)\n"
    ),
}


def measure_per_call(clients: dict[str, Callable[[], object]], calls: int, rounds: int) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in clients}
    for call in clients.values():  # warm-up: connections, caches
        for _ in range(20):
            call()
    for _ in range(rounds):
        order = list(clients.items())
        random.shuffle(order)
        for name, call in order:
            started = time.perf_counter()
            for _ in range(calls):
                call()
            samples[name].append((time.perf_counter() - started) / calls * 1e6)
    return {name: statistics.median(values) for name, values in samples.items()}


def measure_cold_start(base_url: str, runs: int) -> dict[str, float]:
    prelude = f"KEY = {API_KEY!r}\nURL = {base_url!r}\nBODY = {BODY!r}\n"
    samples: dict[str, list[float]] = {name: [] for name in COLD_SCRIPTS}
    for _ in range(runs):
        order = list(COLD_SCRIPTS.items())
        random.shuffle(order)
        for name, script in order:
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", prelude + script], check=True, env={**os.environ})
            samples[name].append((time.perf_counter() - started) * 1e3)
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=300, help="calls per client per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--cold", type=int, default=7, help="cold-start runs per client")
    args = parser.parse_args()

    port = free_port()
    emulator = start_emulator(port)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        per_call = measure_per_call(per_call_clients(base_url), args.calls, args.rounds)
        cold = measure_cold_start(base_url, args.cold)
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)

    bare, ours, sdk = per_call["bare requests post"], per_call["realtime-service"], per_call[
        "openai beta.realtime.sessions"
    ]
    print(f"per call, median of {args.rounds} rounds x {args.calls} sequential calls (loopback emulator):")
    for name, micros in per_call.items():
        print(f"  {name:32s} {micros:8.0f} us")
    print(f"  realtime-service / bare post     {ours / bare:8.2f}x   (target <= 1.00x)")
    print(f"  realtime-service / openai        {ours / sdk:8.2f}x   (target <= 0.75x)")
    print(f"cold start (new process to first minted session), median of {args.cold}:")
    for name, millis in cold.items():
        print(f"  {name:32s} {millis:8.0f} ms")
    print(f"  realtime-service / openai        {cold['realtime-service'] / cold['openai']:8.2f}x   (target <= 0.45x)")


if __name__ == "__main__":
    main()
