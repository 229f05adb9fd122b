"""The token endpoint's throughput and added latency, through ``serve`` as real processes on loopback.

Prints, in one run and side by side for Flask (waitress) and FastAPI (uvicorn):

1. mints per second with 1 and 8 concurrent clients (keep-alive ``requests`` sessions, one per thread), through
   ``serve --emulator`` (the emulator in the server's process) and through ``serve`` pointed at a separate
   emulator process (the loopback fake upstream), with no upstream delay and with every mint answered after
   50 ms (as a real upstream would);
2. the endpoint's added latency over a direct call of the operation the endpoint mints through
   (``create_client_secret`` under the default ``api_shape: ga``), with the body it sends, from this process to
   the same fake upstream (p50, p99 of sequential calls, interleaved one by one in shuffled order).

Everything runs on this machine's loopback and stops by itself. Usage::

    pip install -e '.[test]' && python bench/bench_token_server.py [--seconds 3] [--calls 300] [--rounds 5]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

API_KEY = "sk-bench-emulator-key-000000000000"
FRAMEWORKS = ("flask", "fastapi")
LABELS = {"flask": "flask/waitress", "fastapi": "fastapi/uvicorn"}
DELAY = 0.05
#: The limiter still runs (and is measured) but never refuses. Fixed windows: with a budget this large the
#: default moving window keeps one entry per mint, and its cost grows with the benchmark's length (per-hit costs
#: at realistic budgets are measured separately, in this process).
#: What the endpoint answers under the default ``api_shape: ga`` (the GA ``client_secrets`` JSON).
GA_ANSWER_KEYS = {"value", "expires_at", "session"}
UNLIMITED = {"rate_limit": "1000000/minute;100000000/day", "rate_limit_strategy": "fixed-window"}


def _lines(process: subprocess.Popen[str]) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout or ()], daemon=True).start()
    return lines


@contextmanager
def process(command: list[str], pattern: str) -> Iterator[str]:
    """Run ``command`` until the block ends (SIGTERM); yield the first match of ``pattern`` on its stdout."""
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines = _lines(child)
    try:
        deadline = time.monotonic() + 30
        while True:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            match = re.search(pattern, line)
            if match:
                break
        yield match.group(0)
    finally:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


@contextmanager
def fake_upstream(delay: float) -> Iterator[str]:
    """A separate emulator process (answering after ``delay``); yields its base URL."""
    command = [sys.executable, __file__, "--run-emulator", str(delay)]
    with process(command, r"http://[\d.]+:\d+/v1") as base_url:
        yield base_url


@contextmanager
def served(framework: str, *, emulator_delay: float | None = None, upstream: str | None = None) -> Iterator[str]:
    """``serve`` with ``--emulator`` (``upstream`` None) or pointed at ``upstream``; yields its URL."""
    config: dict[str, Any] = {"server": {**UNLIMITED, "framework": framework}}
    if upstream:
        config["realtime"] = {"api_key": API_KEY, "base_url": upstream}
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        json.dump(config, handle)  # JSON is YAML
    command = [sys.executable, "-m", "realtime_service.web", "--port", "0", "--config", handle.name]
    if upstream is None:
        command += ["--emulator", "--emulator-delay", str(emulator_delay or 0)]
    try:
        with process(command, r"http://[\d.]+:\d+") as url:
            yield url
    finally:
        os.unlink(handle.name)


class Client:
    """A lean keep-alive HTTP client (``http.client``), so the client's own cost stays small next to the server's."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self._connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)

    def get(self, path: str) -> int:
        self._connection.request("GET", path)
        response = self._connection.getresponse()
        response.read()
        return response.status

    def mint(self) -> int:
        return self.mint_answer()[0]

    def mint_answer(self) -> tuple[int, Any]:
        """``POST /token`` with an empty body: the status and the parsed JSON answer."""
        self._connection.request("POST", "/token", body=b"{}", headers={"Content-Type": "application/json"})
        response = self._connection.getresponse()
        return response.status, json.loads(response.read())

    def close(self) -> None:
        self._connection.close()


def mints_per_second(url: str, clients: int, seconds: float) -> float:
    """Concurrent clients POSTing for ``seconds`` (after a short warm-up); successful mints per second."""
    stop_at = [0.0]
    counts = [0] * clients
    failures = [0] * clients
    start_line = threading.Barrier(clients + 1)

    def client(index: int) -> None:
        connection = Client(url)
        for _ in range(3):  # warm-up: connection, first-call costs
            connection.mint()
        start_line.wait()
        while time.perf_counter() < stop_at[0]:
            if connection.mint() == 200:
                counts[index] += 1
            else:
                failures[index] += 1
        connection.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    stop_at[0] = time.perf_counter() + 3600
    start_line.wait()
    started = time.perf_counter()
    stop_at[0] = started + seconds
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if any(failures):
        raise SystemExit(f"{sum(failures)} mints failed at {url}")
    return sum(counts) / elapsed


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def direct_mint(container: Any) -> tuple[str, Callable[[], object]]:
    """The endpoint's own mint under the default policy, called directly: the operation it picks for the
    configured ``api_shape`` (``create_client_secret`` under ``ga``) with the body it sends for an empty request.
    Returns the operation's name and the call."""
    from realtime_service.web.routes.policy import SessionPolicy
    from realtime_service.web.routes.token.minting import choose_minter
    from realtime_service.web.settings import load_server_settings

    server = load_server_settings({}, {})
    terms = SessionPolicy(server.session, server.browser_fields, server.max_ttl).terms({})
    minter = choose_minter(container.realtime_session_service(), container.settings().api_shape)
    body = terms.ga_body() if minter.shape == "ga" else terms.beta_body()
    return minter.operation, lambda: minter.call(body)


def added_latency(calls: int, rounds: int) -> dict[str, list[float]]:
    """Per-call latencies (µs) of a direct service call and of each endpoint, against one fake upstream.

    The direct call is the service as a host app would call it, with the body the endpoint sends under the
    default policy; the endpoint calls add the HTTP round trip, the server and the endpoint's own work.
    """
    from realtime_service.containers import RealtimeContainer

    with fake_upstream(0.0) as upstream:
        container = RealtimeContainer(environ={})
        container.config.from_dict({"api_key": API_KEY, "base_url": upstream})
        operation, direct = direct_mint(container)
        clients: dict[str, Callable[[], object]] = {f"direct {operation}": direct}
        with served("flask", upstream=upstream) as flask_url, served("fastapi", upstream=upstream) as fastapi_url:
            for name, url in (("flask", flask_url), ("fastapi", fastapi_url)):
                client = Client(url)
                status, answer = client.mint_answer()
                if status != 200 or not isinstance(answer, dict) or not GA_ANSWER_KEYS.issubset(answer):
                    keys = sorted(answer) if isinstance(answer, dict) else type(answer).__name__
                    raise SystemExit(f"{LABELS[name]} did not answer a GA client secret: {status}, {keys}")
                clients[f"{LABELS[name]} endpoint"] = client.mint
            for name, url in (("flask", flask_url), ("fastapi", fastapi_url)):
                client = Client(url)
                clients[f"{LABELS[name]} GET /healthz"] = lambda c=client: c.get("/healthz")
            samples: dict[str, list[float]] = {name: [] for name in clients}
            for call in clients.values():  # warm-up
                for _ in range(50):
                    call()
            # Calls interleave one by one in shuffled order, so no client runs in a hot loop of its own: a
            # direct call timed back to back ran ~250-500 µs faster than the same call after other work.
            order = list(clients)
            for _ in range(rounds * calls):
                random.shuffle(order)
                for name in order:
                    call = clients[name]
                    started = time.perf_counter()
                    call()
                    samples[name].append((time.perf_counter() - started) * 1e6)
        container.shutdown_resources()
    return samples


def limiter_costs(hits: int = 2000) -> dict[str, float]:
    """Median µs per ``hit`` of the default budget, per strategy, over many identities (memory storage)."""
    from realtime_service.web.admission.ratelimit import IdentityRateLimiter

    costs: dict[str, float] = {}
    for strategy in ("moving-window", "fixed-window", "sliding-window-counter"):
        limiter = IdentityRateLimiter("10/minute;200/day", "memory://", strategy)
        samples = []
        for index in range(hits):
            identity = f"anon:10.0.{index // 250}.{index % 250}"
            started = time.perf_counter()
            limiter.hit(identity)
            samples.append((time.perf_counter() - started) * 1e6)
        limiter.close()
        costs[strategy] = statistics.median(samples)
    return costs


def run_emulator(delay: float) -> None:
    """Hidden mode: a fake upstream in this process until SIGTERM (``--run-emulator DELAY``)."""
    from realtime_service.emulator import Emulator
    from realtime_service.web.servers.serve import delayed_emulator_routes

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with Emulator(API_KEY) as emulator:
        if delay > 0:
            delayed_emulator_routes(emulator, delay)
        print(emulator.base_url, flush=True)
        stop.wait(600)  # bounded: a forgotten emulator ends by itself


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring time per throughput cell")
    parser.add_argument("--calls", type=int, default=300, help="sequential calls per client per latency round")
    parser.add_argument("--rounds", type=int, default=5, help="latency rounds (shuffled order each)")
    parser.add_argument("--latency-only", action="store_true", help="skip the throughput table")
    parser.add_argument("--run-emulator", type=float, metavar="DELAY", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_emulator is not None:
        run_emulator(args.run_emulator)
        return

    print(
        f"token endpoint benchmark: {os.cpu_count()} cores, Python {sys.version.split()[0]}, {args.seconds:g} s/cell\n"
    )
    if not args.latency_only:
        print_throughput(args.seconds)
    print_latency(args.calls, args.rounds)


def print_throughput(seconds: float) -> None:
    throughput: dict[tuple[str, str, float, int], float] = {}
    for framework in FRAMEWORKS:
        for delay in (0.0, DELAY):
            with served(framework, emulator_delay=delay) as url:
                for clients in (1, 8):
                    throughput[(framework, "serve --emulator", delay, clients)] = mints_per_second(
                        url, clients, seconds
                    )
            with fake_upstream(delay) as upstream, served(framework, upstream=upstream) as url:
                for clients in (1, 8):
                    throughput[(framework, "fake upstream process", delay, clients)] = mints_per_second(
                        url, clients, seconds
                    )

    header = f"{'mints/s':<48}" + "".join(f"{LABELS[f]:>18}" for f in FRAMEWORKS)
    print(header)
    print("-" * len(header))
    for upstream in ("serve --emulator", "fake upstream process"):
        for delay in (0.0, DELAY):
            for clients in (1, 8):
                label = f"{upstream}, {'no delay' if not delay else '50 ms upstream'}, {clients} client(s)"
                print(
                    f"{label:<48}" + "".join(f"{throughput[(f, upstream, delay, clients)]:>18.0f}" for f in FRAMEWORKS)
                )
            ratio = "".join(
                f"{throughput[(f, upstream, delay, 8)] / throughput[(f, upstream, delay, 1)]:>17.1f}x"
                for f in FRAMEWORKS
            )
            print(f"{'  8 clients / 1 client':<48}{ratio}")
    print()


def print_latency(calls: int, rounds: int) -> None:
    samples = added_latency(calls, rounds)
    direct = next(iter(samples.values()))  # the direct call comes first
    base50, base99 = statistics.median(direct), percentile(direct, 0.99)
    print(f"{'per mint, sequential (µs)':<32}{'p50':>10}{'p99':>10}{'added p50':>12}{'added p99':>12}")
    print("-" * 76)
    for name, values in samples.items():
        p50, p99 = statistics.median(values), percentile(values, 0.99)
        minted = values is not direct and "healthz" not in name
        added = f"{p50 - base50:>12.0f}{p99 - base99:>12.0f}" if minted else ""
        print(f"{name:<32}{p50:>10.0f}{p99:>10.0f}{added}")
    print(f"\n{rounds} rounds x {calls} calls each, shuffled order, against one fake upstream process.")
    print("GET /healthz is the HTTP round trip alone (client, server stack, no mint): the floor of 'added'.")
    costs = limiter_costs()
    print(
        "rate limiter, default budget 10/minute;200/day, memory storage: "
        + ", ".join(f"{name} {cost:.0f} µs" for name, cost in costs.items())
        + " per hit (median)"
    )


if __name__ == "__main__":
    main()
