"""Webhook in, decision out: how long from a signed ``realtime.call.incoming`` leaving OpenAI's side to its accept
reaching the upstream, through the real endpoint on each framework (waitress, uvicorn), with a 50 ms upstream.

For 1 and 16 concurrent calls (each its own pending call in the emulator), it prints p50/p99 of:

- ``to accept``: from the webhook POST starting to the emulator's accept route receiving the accept;
- ``round trip``: the webhook's whole answer time as OpenAI sees it (includes the 50 ms the upstream takes).

The upstream delay is a wrapper around the emulator's accept route (sleeps after recording the arrival).
Figures depend on the machine and its load; compare frameworks and concurrency levels with each other.

Usage::

    pip install -e '.[test]' && python bench/bench_webhook.py [--calls 200] [--delay 0.05]
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import requests
from standardwebhooks import Webhook

from realtime_service.emulator import CallRecord, Emulator
from realtime_service.web.servers.containers import ServeContainer
from realtime_service.web.servers.runners import ServedApp

SECRET = "whsec_" + base64.b64encode(b"bench-webhook-secret-0123456789").decode()
SESSION = {"type": "realtime", "model": "gpt-realtime-2.1", "instructions": "Bench."}
PATH = "/webhooks/openai"


def slow_accept(emulator: Emulator, delay: float, arrivals: dict[str, float]) -> None:
    """The accept route records when each accept arrives, then answers ``delay`` later."""
    template = "/realtime/calls/{call_id}/accept"
    route = emulator.route("POST", template)
    assert route is not None
    inner = route.handler
    lock = threading.Lock()

    def handler(call: Any) -> Any:
        arrived = time.perf_counter()
        call_id = call.request.path.rstrip("/").split("/")[-2]
        with lock:
            arrivals[call_id] = arrived
        time.sleep(delay)
        return inner(call)

    emulator.add_route("POST", template, handler, azure=False)


def body_for(call_id: str) -> bytes:
    event = {
        "object": "event",
        "id": "evt_" + call_id,
        "type": "realtime.call.incoming",
        "created_at": int(time.time()),
        "data": {"call_id": call_id, "sip_headers": [{"name": "From", "value": "<sip:+14155550100@example.com>"}]},
    }
    return json.dumps(event).encode()


def headers_for(body: bytes, webhook_id: str) -> dict[str, str]:
    now = datetime.now(tz=UTC)
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(SECRET).sign(webhook_id, now, body.decode()),
        "content-type": "application/json",
    }


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def run(framework: str, concurrency: int, calls: int, delay: float) -> tuple[list[float], list[float]]:
    arrivals: dict[str, float] = {}
    with Emulator() as emulator:
        slow_accept(emulator, delay, arrivals)
        container = ServeContainer(environ={})
        container.config.from_dict(
            {
                "realtime": {"api_key": emulator.api_key, "base_url": emulator.base_url},
                "server": {
                    "framework": framework,
                    "threads": 32,
                    "phone": {"webhook_secret": SECRET, "session": SESSION},
                },
            }
        )
        with ServedApp(container, framework) as served:
            sessions = threading.local()

            def one(n: int) -> tuple[str, float, float]:
                session = getattr(sessions, "session", None)
                if session is None:
                    session = sessions.session = requests.Session()
                call_id = f"rtc_bench{n:06d}{concurrency:02d}"
                emulator.calls.add(
                    CallRecord(id=call_id, api="realtime", transport="sip", state="pending", created_at=time.time())
                )
                body = body_for(call_id)
                headers = headers_for(body, f"wh_{call_id}")
                started = time.perf_counter()
                response = session.post(served.url + PATH, data=body, headers=headers, timeout=30)
                finished = time.perf_counter()
                if response.json() != {"result": "accepted"}:
                    raise RuntimeError(f"call {call_id}: {response.status_code} {response.text}")
                return call_id, started, finished

            warm: Callable[[int], Any] = one
            for n in range(8):  # warm-up: connections, first imports, codecs
                warm(10_000 + n)
            with ThreadPoolExecutor(concurrency) as pool:
                results = list(pool.map(one, range(calls)))
    to_accept = [(arrivals[call_id] - started) * 1000 for call_id, started, _ in results]
    round_trip = [(finished - started) * 1000 for _, started, finished in results]
    return to_accept, round_trip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="calls per framework and concurrency level")
    parser.add_argument("--delay", type=float, default=0.05, help="upstream delay per accept, seconds")
    parser.add_argument("--frameworks", default="flask,fastapi")
    args = parser.parse_args()
    print(f"{args.calls} calls each, upstream answers accept after {args.delay * 1000:.0f} ms")
    print(f"{'framework':<9} {'conc':>4} {'to accept p50':>14} {'p99':>8} {'round trip p50':>15} {'p99':>8}  (ms)")
    for framework in args.frameworks.split(","):
        for concurrency in (1, 16):
            to_accept, round_trip = run(framework, concurrency, args.calls, args.delay)
            print(
                f"{framework:<9} {concurrency:>4} {statistics.median(to_accept):>14.1f} "
                f"{percentile(to_accept, 0.99):>8.1f} {statistics.median(round_trip):>15.1f} "
                f"{percentile(round_trip, 0.99):>8.1f}"
            )


if __name__ == "__main__":
    main()
