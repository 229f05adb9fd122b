"""The sync gateway alone (issue 22): ``HttpGateway.send`` on its direct urllib3 path against the same gateway
through ``HTTPAdapter.send`` (the path a proxy, a host's adapter subclass or a retrying adapter still takes).

One ``realtime-service emulator`` process on loopback answers both; this process only sends, so its CPU
(``time.process_time``) is the gateway's (plus the sockets' system time). Rounds alternate which path goes first;
each round sends ``--calls`` sequential mints (``POST /realtime/client_secrets``, no extra headers, as
``create_client_secret`` sends them) and as many with extra headers (``Content-Type``/``Accept`` overridden, as a
``/session`` call create sends them) per path. Every answer is checked (200 with an ``ek_`` value).

A benchmark, not a test: it prints CPU per send, its ratio (direct / adapter) and the wall time per send; it
asserts nothing timed. Usage::

    python bench/bench_gateway.py [--calls 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_calls import GA_BODY
from bench_peers import API_KEY, emulator

from realtime_service.config import load_settings
from realtime_service.transport.gateway import HttpGateway
from realtime_service.transport.seam import HttpRequest

BODY = json.dumps(GA_BODY).encode()
SHAPES = {
    "mint (no extra headers)": HttpRequest("POST", "/realtime/client_secrets", BODY, timeout=(5.0, 30.0)),
    "with extra headers": HttpRequest(
        "POST",
        "/realtime/client_secrets",
        BODY,
        {"Content-Type": "application/json", "Accept": "application/json", "X-Bench": "1"},
        timeout=(5.0, 30.0),
    ),
}
DIRECT, ADAPTER = "direct urllib3 pool", "HTTPAdapter.send"


def gateways(base_url: str) -> dict[str, HttpGateway]:
    settings = load_settings({"api_key": API_KEY, "base_url": base_url}, {})
    direct, adapter = HttpGateway(settings), HttpGateway(settings)
    adapter._pool_key = None  # the path a proxy or a host's adapter subclass takes
    assert direct.direct
    assert not adapter.direct
    return {DIRECT: direct, ADAPTER: adapter}


def run(gateway: HttpGateway, request: HttpRequest, calls: int) -> tuple[float, float]:
    """CPU and wall seconds per send over ``calls`` sequential sends, every answer checked."""
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(calls):
        response = gateway.send(request)
        if response.status_code != 200 or b'"ek_' not in response.content:
            raise SystemExit(f"bad answer: {response.status_code} {response.content[:200]!r}")
    return (time.process_time() - cpu) / calls, (time.perf_counter() - wall) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=2000, help="sequential sends per path, shape and round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with emulator() as (base_url, _process):
        paths = gateways(base_url)
        for gateway in paths.values():  # warm: connect, first-call caches
            for request in SHAPES.values():
                run(gateway, request, 50)
        cpu: dict[tuple[str, str], list[float]] = {}
        wall: dict[tuple[str, str], list[float]] = {}
        for number in range(args.rounds):
            order = list(paths) if number % 2 == 0 else list(reversed(paths))
            for shape, request in SHAPES.items():
                for name in order:
                    spent, took = run(paths[name], request, args.calls)
                    cpu.setdefault((shape, name), []).append(spent)
                    wall.setdefault((shape, name), []).append(took)
        for gateway in paths.values():
            gateway.close()
    print(f"gateway alone: {args.rounds} rounds x {args.calls} sequential sends per path and shape (median of rounds)")
    print(f"{'shape':26} {'path':22} {'CPU us/send':>12} {'wall us/send':>13}")
    for shape in SHAPES:
        for name in paths:
            print(
                f"{shape:26} {name:22} {statistics.median(cpu[shape, name]) * 1e6:12.1f}"
                f" {statistics.median(wall[shape, name]) * 1e6:13.1f}"
            )
        ratios = [d / a for d, a in zip(cpu[shape, DIRECT], cpu[shape, ADAPTER], strict=True)]
        print(
            f"{shape:26} CPU direct / adapter: median {statistics.median(ratios):.2f}x"
            f" (rounds {', '.join(f'{r:.2f}' for r in ratios)})"
        )


if __name__ == "__main__":
    main()
