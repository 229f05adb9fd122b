"""Soak of the *served* token endpoint: ``serve`` as a real process, hostile and honest clients at once.

    python bench/soak_server.py                                # 20,000 requests per framework, both frameworks
    python bench/soak_server.py --framework flask --requests 2000 --slow 50   # the short one the suite runs

For each framework: a loopback emulator in this process (10% of the mints it receives answered 500, which
``serve``, with retries off, must map to 503 ``upstream_unavailable``), ``serve`` as a subprocess against it
(``--port 0``), then ``--clients`` threads send ``--requests`` requests in a fixed mix: valid mints (a pool of
bearer tokens, so no honest identity reaches its budget), wrong tokens (from one IPv6 /64, so the failed-auth
throttle engages), foreign origins, a rebound ``Host``, oversized and malformed bodies, and one identity that
asks far beyond its budget. Throughout, ``--slow`` sockets are held open: half send one header byte a second
(slowloris), half send nothing; whenever the server cuts one (``server.request_timeout``) it is reopened.

It prints a ``SOAK-SERVER-RESULT {json}`` line per framework and fails (exit 1) unless:

- every request got the documented status for its kind (no 5xx but the mapped 503 of a faulted upstream),
  and no request went unanswered;
- the honest mints were served while the slow sockets were held (every one answered; 200 unless faulted);
- the upstream received exactly one mint per request that was admitted (none for a refused one);
- ``serve``'s log holds no API key, no bearer token and no minted key;
- ``serve``'s open file descriptors and threads are back to their post-warm-up count once the clients and the
  slow sockets are gone (within :data:`FD_SLACK` fds: connections to the upstream kept in the pool);
- ``serve``'s RSS grew by less than 5 MiB between the end of the warm-up and the end of the run.

Loopback only; bounded by ``--requests`` and ``--max-seconds``. Needs ``pip install -e '.[test]'``.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import queue
import re
import secrets
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests
import yaml

from realtime_service.emulator import Emulator, Fault

MIB = 1024 * 1024
#: The gateway's pool keeps up to ``pool.maxsize`` (10 by default) upstream connections open between requests, and
#: how many it holds after the run depends on how many ran at once (more under a loaded machine), so that many fds
#: may legitimately outlive the run; a leak over 20,000 requests is far larger.
FD_SLACK = 10
RSS_LIMIT = 5 * MIB
MAX_BODY = 4096
TOKENS = 400  # honest bearer tokens: 20,000 requests spread so that none reaches its own budget
RATE_LIMIT = "60/minute"
HOT_TOKEN_NAME = "hot"
#: The mix, per 100 requests: kind -> share.
MIX = {
    "valid": 55,
    "wrong_token": 10,
    "foreign_origin": 7,
    "rebound_host": 5,
    "oversized": 5,
    "malformed": 5,
    "deep_json": 3,
    "hot_identity": 10,
}
#: Each kind's documented answers: {status: code or None for "any code"}.
EXPECTED: dict[str, dict[int, str | None]] = {
    "valid": {200: None, 503: "upstream_unavailable"},
    "wrong_token": {401: "unauthorized", 429: "auth_throttled"},
    "foreign_origin": {403: "origin_not_allowed"},
    "rebound_host": {421: "host_not_allowed"},
    "oversized": {413: "body_too_large"},
    "malformed": {400: "invalid_json"},
    "deep_json": {400: "invalid_json"},
    "hot_identity": {200: None, 429: "rate_limited", 503: "upstream_unavailable"},
}
ADMITTED = {"valid", "hot_identity"}  # the kinds whose 200/503 answers sent one mint upstream


def schedule(count: int) -> list[str]:
    """A deterministic, interleaved sequence of ``count`` kinds in the proportions of :data:`MIX`."""
    cycle = [kind for kind, share in MIX.items() for _ in range(share)]
    # Interleave (a stride coprime with 100) so every window of requests has every kind.
    return [cycle[(index * 37) % len(cycle)] for index in range(count)]


# -- the served process ---------------------------------------------------------------------------------------


class Served:
    def __init__(self, framework: str, config: Path, log: Path) -> None:
        self.log = log
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "REALTIME_SERVICE_"))}
        command = [sys.executable, "-m", "realtime_service.web", "--port", "0", "--config", str(config)]
        command += ["--framework", framework]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log.open("w"), text=True, env=env)
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(x) for x in self.process.stdout or ()], daemon=True).start()
        first = lines.get(timeout=60)
        match = re.search(r"http://([\d.]+):(\d+)", first)
        if not match:
            raise SystemExit(f"serve did not start: {first} {log.read_text()[-2000:]}")
        self.host, self.port = match.group(1), int(match.group(2))
        self.url = f"http://{self.host}:{self.port}"

    def stats(self) -> dict[str, int]:
        pid = self.process.pid
        status = Path(f"/proc/{pid}/status").read_text()
        rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) * 1024  # type: ignore[union-attr]
        threads = int(re.search(r"Threads:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
        return {"fds": len(os.listdir(f"/proc/{pid}/fd")), "threads": threads, "rss": rss}

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


# -- slow sockets ---------------------------------------------------------------------------------------------


class SlowSockets:
    """``count`` sockets held open on ``host:port`` until :meth:`stop`: half trickle a header byte a second,
    half stay silent; one the server closes is reopened."""

    def __init__(self, host: str, port: int, count: int) -> None:
        self._address = (host, port)
        self._count = count
        self._stop = threading.Event()
        self.reopened = 0
        self.cut_with_408 = 0
        self.held_min = count
        self._thread = threading.Thread(target=self._run, name="slow-sockets", daemon=True)

    def __enter__(self) -> SlowSockets:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _open(self, selector: selectors.DefaultSelector, trickle: bool) -> None:
        sock = socket.create_connection(self._address, timeout=5)
        sock.setblocking(False)
        if trickle:
            sock.send(b"POST /token HTTP/1.1\r\n")
        selector.register(sock, selectors.EVENT_READ, trickle)

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        for index in range(self._count):
            self._open(selector, trickle=index % 2 == 0)
        next_byte = time.monotonic() + 1.0
        while not self._stop.is_set():
            for key, _ in selector.select(timeout=0.2):
                sock: socket.socket = key.fileobj  # type: ignore[assignment]
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                if b" 408 " in data[:20]:
                    self.cut_with_408 += 1
                if not data:
                    selector.unregister(sock)
                    sock.close()
                    self.reopened += 1
                    self._open(selector, key.data)
            self.held_min = min(self.held_min, len(selector.get_map()))
            if time.monotonic() >= next_byte:
                next_byte += 1.0
                for key in list(selector.get_map().values()):
                    if key.data:
                        with contextlib.suppress(OSError):
                            key.fileobj.send(b"X")  # type: ignore[union-attr]
        for key in list(selector.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
        selector.close()


# -- clients --------------------------------------------------------------------------------------------------


class Run:
    def __init__(self, served: Served, tokens: dict[str, str], hot: str) -> None:
        self.served = served
        self.tokens = list(tokens.values())
        self.hot = hot
        self.statuses: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
        self.failures: list[str] = []
        self.minted: set[str] = set()
        self.admitted_answers = 0
        self._lock = threading.Lock()

    def request(self, session: requests.Session, index: int, kind: str) -> None:
        url = self.served.url + "/token"
        headers = {
            "Content-Type": "application/json",
            "Authorization": f"Bearer {self.tokens[index % len(self.tokens)]}",
        }
        body: bytes = b"{}"
        if kind == "wrong_token":
            headers["Authorization"] = f"Bearer wrong-{secrets.token_hex(12)}"
            headers["X-Forwarded-For"] = f"2001:db8:bad:1::{index % 65536:x}"
        elif kind == "foreign_origin":
            headers["Origin"] = "https://evil.example"
        elif kind == "rebound_host":
            headers["Host"] = f"rebound.example:{self.served.port}"
            headers["Origin"] = f"http://rebound.example:{self.served.port}"
        elif kind == "oversized":
            body = b'{"voice": "' + b"x" * (MAX_BODY + 100) + b'"}'
        elif kind == "malformed":
            body = b'{"voice": '
        elif kind == "deep_json":
            body = b"[" * 2000
        elif kind == "hot_identity":
            headers["Authorization"] = f"Bearer {self.hot}"
        try:
            response = session.post(url, data=body, headers=headers, timeout=30)
        except requests.RequestException as exc:
            self._fail(f"{kind} #{index}: no answer ({type(exc).__name__})")
            return
        status = response.status_code
        code = None
        if status != 200:
            try:
                code = response.json()["error"]["code"]
            except (ValueError, KeyError, TypeError):
                self._fail(f"{kind} #{index}: {status} not in OpenAI's error shape: {response.text[:100]!r}")
        elif kind in ADMITTED:
            value = response.json().get("value")
            if isinstance(value, str):
                with self._lock:
                    self.minted.add(value)
        if response.headers.get("Cache-Control") != "no-store":
            self._fail(f"{kind} #{index}: {status} without no-store")
        expected = EXPECTED[kind]
        if status not in expected or (expected[status] is not None and expected[status] != code):
            self._fail(f"{kind} #{index}: {status} {code}, expected one of {expected}")
        with self._lock:
            self.statuses[kind][f"{status} {code or ''}".strip()] += 1
            if kind in ADMITTED and status in (200, 503):
                self.admitted_answers += 1

    def _fail(self, message: str) -> None:
        with self._lock:
            if len(self.failures) < 50:
                self.failures.append(message)


def drive(run: Run, kinds: list[str], clients: int, deadline: float) -> int:
    """Send every request of ``kinds`` from ``clients`` threads; returns how many were sent."""
    next_index = iter(range(len(kinds)))
    lock = threading.Lock()
    sent = [0]

    def client() -> None:
        with requests.Session() as session:
            while time.monotonic() < deadline:
                with lock:
                    index = next(next_index, None)
                if index is None:
                    return
                run.request(session, index, kinds[index])
                with lock:
                    sent[0] += 1

    threads = [threading.Thread(target=client, name=f"client-{n}") for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sent[0]


# -- one framework --------------------------------------------------------------------------------------------


def soak(framework: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    mints = [0]
    faulted = [0]
    lock = threading.Lock()

    def fault_rule(request: Any) -> Fault | None:
        if not request.path.startswith("/v1/realtime/"):
            return None
        with lock:
            mints[0] += 1
            if mints[0] % round(1 / args.fault_rate) == 0:
                faulted[0] += 1
                return Fault.status(500)
        return None

    tokens = {f"t{n}": f"soak-token-{n:04d}-{secrets.token_hex(12)}" for n in range(TOKENS)}
    hot = f"soak-hot-token-{secrets.token_hex(12)}"
    with Emulator(fault_rule=fault_rule, history=100) as emulator:
        config = workdir / f"serve-{framework}.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "realtime": {
                        "api_key": emulator.api_key,
                        "base_url": emulator.base_url,
                        "retry": {"max_retries": 0, "total_timeout": 10},
                    },
                    "server": {
                        "auth": "bearer",
                        "bearer_tokens": {**tokens, HOT_TOKEN_NAME: hot},
                        "rate_limit": RATE_LIMIT,
                        "trust_forwarded": 1,
                        "max_body_bytes": MAX_BODY,
                        "cors_origins": ["https://app.example.com"],
                        "request_timeout": args.request_timeout,
                        "demo": False,
                    },
                }
            )
        )
        served = Served(framework, config, workdir / f"serve-{framework}.log")
        try:
            run = Run(served, tokens, hot)
            started = time.monotonic()
            deadline = started + args.max_seconds
            warm = schedule(args.warmup)
            drive(run, warm, args.clients, deadline)
            time.sleep(0.5)
            before = served.stats()
            kinds = schedule(args.requests)
            with SlowSockets(served.host, served.port, args.slow) as slow:
                time.sleep(1.0)  # the slow sockets are all open before the clients start
                held = served.stats()
                sent = drive(run, kinds, args.clients, deadline)
                reopened, cut_with_408, held_min = slow.reopened, slow.cut_with_408, slow.held_min
            elapsed = time.monotonic() - started
            after = settle(served, before)
        finally:
            code = served.stop()
        log = served.log.read_text(encoding="utf-8", errors="replace")
    failures = list(run.failures)
    total = args.warmup + args.requests
    if sent < args.requests:
        failures.append(f"only {sent} of {args.requests} requests were sent before --max-seconds")
    if mints[0] != run.admitted_answers:
        failures.append(f"the upstream received {mints[0]} mints for {run.admitted_answers} admitted requests")
    leaked = [name for name, value in (("api key", emulator.api_key), ("hot token", hot)) if value in log]
    leaked += ["a bearer token"] if any(token in log for token in tokens.values()) else []
    leaked += ["a minted key"] if any(key in log for key in run.minted) else []
    if leaked:
        failures.append(f"serve's log holds {', '.join(leaked)}")
    if after["fds"] > before["fds"] + FD_SLACK:
        failures.append(f"file descriptors {before['fds']} -> {after['fds']}")
    if after["threads"] > before["threads"]:
        failures.append(f"threads {before['threads']} -> {after['threads']}")
    growth = after["rss"] - before["rss"]
    if growth >= RSS_LIMIT:
        failures.append(f"RSS grew {growth / MIB:.1f} MiB after warm-up")
    if "Traceback" in log:
        failures.append("serve logged a traceback")
    if code != 0:
        failures.append(f"serve exited {code}")
    valid = run.statuses["valid"]
    return {
        "framework": framework,
        "requests": total,
        "sent_measured": sent,
        "clients": args.clients,
        "slow_sockets": args.slow,
        "slow_sockets_held_min": held_min,
        "slow_reopened": reopened,
        "slow_cut_with_408": cut_with_408,
        "seconds": round(elapsed, 1),
        "requests_per_second": round(total / elapsed, 1),
        "upstream_mints": mints[0],
        "upstream_faulted": faulted[0],
        "valid_served_200": valid.get("200", 0),
        "statuses": {kind: dict(counter) for kind, counter in run.statuses.items()},
        "fds": [before["fds"], held["fds"], after["fds"]],
        "threads": [before["threads"], held["threads"], after["threads"]],
        "rss_mib": [round(before["rss"] / MIB, 1), round(held["rss"] / MIB, 1), round(after["rss"] / MIB, 1)],
        "rss_growth_mib": round(growth / MIB, 2),
        "log_lines": log.count("\n"),
        "failures": failures,
    }


def settle(served: Served, before: dict[str, int], seconds: float = 15.0) -> dict[str, int]:
    """The process's figures once closed connections are gone (waitress and uvicorn close them on their loop)."""
    deadline = time.monotonic() + seconds
    stats = served.stats()
    while time.monotonic() < deadline and (stats["fds"] > before["fds"] or stats["threads"] > before["threads"]):
        time.sleep(0.25)
        stats = served.stats()
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--framework", choices=["flask", "fastapi", "both"], default="both")
    parser.add_argument("--requests", type=int, default=20_000, help="measured requests per framework")
    parser.add_argument("--warmup", type=int, default=1000, help="requests before the measured run")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--slow", type=int, default=200, help="slow or idle sockets held open throughout")
    parser.add_argument("--fault-rate", type=float, default=0.1, help="share of upstream mints answered 500")
    parser.add_argument("--request-timeout", type=float, default=10.0, help="server.request_timeout for serve")
    parser.add_argument("--max-seconds", type=float, default=600.0, help="stop sending after this long")
    args = parser.parse_args(argv)
    frameworks = ["flask", "fastapi"] if args.framework == "both" else [args.framework]
    ok = True
    with tempfile.TemporaryDirectory(prefix="soak-server-") as tmp:
        for framework in frameworks:
            result = soak(framework, args, Path(tmp))
            print("SOAK-SERVER-RESULT " + json.dumps(result), flush=True)
            for failure in result["failures"]:
                print(f"FAIL [{framework}] {failure}", file=sys.stderr)
            ok = ok and not result["failures"]
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
