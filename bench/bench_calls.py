"""Per-call cost and cold start: this package vs a bare ``requests`` post vs the official ``openai`` package.

One run measures, against one emulator process on loopback (never anywhere else), side by side:

- GA: a bare post to ``/realtime/client_secrets`` (the GA baseline), ``create_client_secret``, the default
  ``create_realtime_session`` (``api_shape: ga``: a beta request bridged to ``/realtime/client_secrets``) and
  the ``openai`` package's ``client.realtime.client_secrets.create``;
- beta: a bare post to ``/realtime/sessions`` (the beta baseline), ``create_realtime_session`` under
  ``api_shape: beta`` and ``client.beta.realtime.sessions.create`` (when the installed ``openai`` still has it);
- cold start, a new process to its first minted key: ours (``create_client_secret`` and the default
  ``create_realtime_session``) vs ``openai``'s ``client_secrets.create``.

Every client sends the same settings: :data:`BETA_BODY` in beta names, :data:`GA_BODY` in GA names (checked at
start to be exactly what the bridge makes of :data:`BETA_BODY`). Rounds interleave the clients in a shuffled
order and report medians, so machine noise hits all of them alike; read the ratios, not the absolute times.
Before measuring, the heap built by setup (the imports of every client) is collected and frozen (``gc.freeze``):
otherwise a full collection scanning it (up to ~0.1 s here) lands on whichever client happens to be running.
Usage::

    pip install -e '.[bench]' && python bench/bench_calls.py [--calls 300] [--rounds 7] [--cold 7]
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

API_KEY = "sk-bench-emulator-key-000000000000"
TTL = {"anchor": "created_at", "seconds": 60}

#: The beta request (``create_realtime_session``, ``POST /realtime/sessions``).
BETA_BODY: dict[str, Any] = {
    "model": "gpt-realtime-2.1",
    "voice": "marin",
    "instructions": "You are a friendly voice assistant.",
    "modalities": ["audio", "text"],
    "turn_detection": {"type": "server_vad", "threshold": 0.5},
    "client_secret": {"expires_after": dict(TTL)},
}

#: The same settings in GA names (``create_client_secret``, ``POST /realtime/client_secrets``).
GA_BODY: dict[str, Any] = {
    "expires_after": dict(TTL),
    "session": {
        "type": "realtime",
        "model": "gpt-realtime-2.1",
        "instructions": "You are a friendly voice assistant.",
        "output_modalities": ["audio"],
        "audio": {
            "input": {"turn_detection": {"type": "server_vad", "threshold": 0.5}},
            "output": {"voice": "marin"},
        },
    },
}

#: Proxy variables are dropped for this process and its children, so no client can route loopback traffic out.
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")

# Client names, used as keys of the measurements.
BARE_GA = "bare post /client_secrets (GA)"
OURS_GA = "ours create_client_secret"
OURS_BRIDGED = "ours create_realtime_session (ga)"
SDK_GA = "openai realtime.client_secrets"
BARE_BETA = "bare post /sessions (beta)"
OURS_BETA = "ours create_realtime_session (beta)"
SDK_BETA = "openai beta.realtime.sessions"


@dataclass(frozen=True)
class Client:
    """One way to mint a key: ``call`` mints, ``secret`` reads the key out of its result (checked once)."""

    name: str
    call: Callable[[], Any]
    secret: Callable[[Any], str]


@dataclass(frozen=True)
class Target:
    """``numerator / denominator`` (their medians) must be at most ``limit``."""

    numerator: str
    denominator: str
    limit: float


PER_CALL_TARGETS = (
    Target(OURS_GA, BARE_GA, 1.00),
    Target(OURS_GA, SDK_GA, 0.75),
    Target(OURS_BRIDGED, BARE_GA, 1.25),
    Target(OURS_BETA, BARE_BETA, 1.00),
    Target(OURS_BETA, SDK_BETA, 0.75),
)

COLD_PRELUDE = "KEY = {key!r}\nURL = {url!r}\nBETA_BODY = {beta!r}\nGA_BODY = {ga!r}\n"
COLD_OURS = (
    "from realtime_service.containers import RealtimeContainer\n"
    "c = RealtimeContainer(environ={}); c.config.from_dict({'api_key': KEY, 'base_url': URL})\n"
)
COLD_SCRIPTS = {
    OURS_GA: COLD_OURS + "assert c.realtime_session_service().create_client_secret(GA_BODY).value.startswith('ek_')\n",
    OURS_BRIDGED: COLD_OURS
    + "assert c.realtime_session_service().create_realtime_session(BETA_BODY).client_secret.value.startswith('ek_')\n",
    SDK_GA: (
        "from openai import OpenAI\n"
        "assert OpenAI(api_key=KEY, base_url=URL).realtime.client_secrets.create(**GA_BODY).value.startswith('ek_')\n"
    ),
}
COLD_TARGETS = (Target(OURS_GA, SDK_GA, 0.45), Target(OURS_BRIDGED, SDK_GA, 0.45))


def check_bodies_match() -> None:
    """The GA body must be what the service's bridge sends for the beta body, or the comparison is unfair."""
    from realtime_service.beta.bridge import Bridge

    bridged = Bridge().to_ga(BETA_BODY)
    if bridged != GA_BODY:
        raise SystemExit(f"GA_BODY is not the bridged BETA_BODY:\n  GA_BODY {GA_BODY}\n  bridged {bridged}")


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


def bare_post(url: str, body: dict[str, Any]) -> Callable[[], Any]:
    """``requests.Session.post(url, json=body, headers=h).json()`` on its own keep-alive session."""
    session = requests.Session()
    headers = {"Authorization": f"Bearer {API_KEY}"}
    return lambda: session.post(url, json=body, headers=headers).json()


def openai_beta_sessions(client: Any) -> Callable[..., Any] | None:
    """``client.beta.realtime.sessions.create``, or ``None`` when the installed ``openai`` no longer has it."""
    try:
        create: Callable[..., Any] = client.beta.realtime.sessions.create
    except AttributeError:
        return None
    return create


def per_call_clients(base_url: str) -> list[Client]:
    from openai import OpenAI

    from realtime_service.containers import RealtimeContainer

    def service(api_shape: str) -> Any:
        container = RealtimeContainer(environ={})
        container.config.from_dict({"api_key": API_KEY, "base_url": base_url, "api_shape": api_shape})
        return container.realtime_session_service()

    ours_ga, ours_beta = service("ga"), service("beta")
    sdk = OpenAI(api_key=API_KEY, base_url=base_url)
    sdk_beta = openai_beta_sessions(sdk)

    def ga_value(answer: Any) -> str:
        return str(answer["value"] if isinstance(answer, dict) else answer.value)

    def beta_value(answer: Any) -> str:
        return str(answer["client_secret"]["value"] if isinstance(answer, dict) else answer.client_secret.value)

    clients = [
        Client(BARE_GA, bare_post(base_url + "/realtime/client_secrets", GA_BODY), ga_value),
        Client(OURS_GA, lambda: ours_ga.create_client_secret(GA_BODY), ga_value),
        Client(OURS_BRIDGED, lambda: ours_ga.create_realtime_session(BETA_BODY), beta_value),
        Client(SDK_GA, lambda: sdk.realtime.client_secrets.create(**GA_BODY), ga_value),
        Client(BARE_BETA, bare_post(base_url + "/realtime/sessions", BETA_BODY), beta_value),
        Client(OURS_BETA, lambda: ours_beta.create_realtime_session(BETA_BODY), beta_value),
    ]
    if sdk_beta is not None:
        clients.append(Client(SDK_BETA, lambda: sdk_beta(**BETA_BODY), beta_value))
    return clients


def measure_per_call(clients: list[Client], calls: int, rounds: int) -> dict[str, list[float]]:
    """µs per call of each client, one sample per round (the mean of ``calls`` sequential calls)."""
    for client in clients:  # check each mints, then warm up: connections, caches
        if not client.secret(client.call()).startswith("ek_"):
            raise SystemExit(f"{client.name} did not mint a key")
        for _ in range(20):
            client.call()
    gc.collect()
    gc.freeze()  # see the module docstring
    samples: dict[str, list[float]] = {client.name: [] for client in clients}
    for _ in range(rounds):
        order = list(clients)
        random.shuffle(order)
        for client in order:
            call = client.call
            started = time.perf_counter()
            for _ in range(calls):
                call()
            samples[client.name].append((time.perf_counter() - started) / calls * 1e6)
    return samples


def measure_cold_start(base_url: str, runs: int) -> dict[str, list[float]]:
    """ms from starting a new interpreter to its exit after its first minted key, per script."""
    prelude = COLD_PRELUDE.format(key=API_KEY, url=base_url, beta=BETA_BODY, ga=GA_BODY)
    samples: dict[str, list[float]] = {name: [] for name in COLD_SCRIPTS}
    for _ in range(runs):
        order = list(COLD_SCRIPTS.items())
        random.shuffle(order)
        for name, script in order:
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", prelude + script], check=True)
            samples[name].append((time.perf_counter() - started) * 1e3)
    return samples


def print_table(title: str, samples: dict[str, list[float]], unit: str) -> dict[str, float]:
    """Print median and range per client; return the medians."""
    print(title)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    for name, values in samples.items():
        print(f"  {name:38s} {medians[name]:8.0f} {unit}   (range {min(values):.0f}-{max(values):.0f})")
    return medians


def print_targets(medians: dict[str, float], targets: tuple[Target, ...]) -> list[bool]:
    """Print each ratio against its target with PASS/MISS (or SKIP when a side was not measured)."""
    results = []
    for target in targets:
        label = f"{target.numerator} / {target.denominator}"
        if target.numerator not in medians or target.denominator not in medians:
            print(f"  {label:78s}     SKIP  (not measured)")
            continue
        ratio = medians[target.numerator] / medians[target.denominator]
        passed = ratio <= target.limit
        results.append(passed)
        print(f"  {label:78s} {ratio:5.2f}x  target <= {target.limit:.2f}x  {'PASS' if passed else 'MISS'}")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=300, help="calls per client per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--cold", type=int, default=7, help="cold-start runs per client")
    args = parser.parse_args()

    for variable in PROXY_VARIABLES:  # loopback only, whatever the environment says
        os.environ.pop(variable, None)
    check_bodies_match()

    import openai

    port = free_port()
    emulator = start_emulator(port)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        clients = per_call_clients(base_url)
        per_call = measure_per_call(clients, args.calls, args.rounds)
        cold = measure_cold_start(base_url, args.cold) if args.cold > 0 else {}
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)

    print(f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, openai {openai.__version__}, loopback emulator")
    if SDK_BETA not in per_call:
        print(f"  openai {openai.__version__} has no client.beta.realtime.sessions.create: its beta row is skipped")
    medians = print_table(f"per call, median of {args.rounds} rounds x {args.calls} sequential calls:", per_call, "us")
    results = print_targets(medians, PER_CALL_TARGETS)
    if cold:
        cold_medians = print_table(f"cold start (new process to first minted key), median of {args.cold}:", cold, "ms")
        results += print_targets(cold_medians, COLD_TARGETS)
    print(f"targets: {sum(results)} PASS, {len(results) - sum(results)} MISS")


if __name__ == "__main__":
    main()
