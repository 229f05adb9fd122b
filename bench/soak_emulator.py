"""Soak the emulator itself: 200,000 mints on loopback, its RSS sampled as it goes, which must stay flat.

    python bench/soak_emulator.py                              # 200,000 mints, RSS every 10,000
    python bench/soak_emulator.py --mints 20000 --max-keys 500 --warmup 5000 --every 2500   # a short run

The emulator runs in a subprocess (``--serve``) with its default bounds unless told otherwise (``--max-keys``,
``--max-calls``, ``--max-ended-calls``); it answers each ``stats`` line on its stdin with its RSS and the sizes
of its registry, so the client's own memory does not count. Every ``--call-every``-th minted key also creates a
call (raw SDP, the key's session) and every second such call is hung up, so live and ended calls pass their
bounds too. Each sample prints the mints so far, the RSS and the sizes.

It prints a ``SOAK-EMULATOR-RESULT`` JSON line and fails (exit 1) unless:

- every mint answered 200 and every call 201, every hang-up 200;
- at every sample each registry structure was within its bound (the expiry heap within twice the key bound);
- the last RSS divided by the first after the warm-up is at most ``--max-ratio`` (1.10). The warm-up
  (``--warmup`` mints) is by default what fills every table: twice the key bound, and enough calls for the live
  and the ended ones (40,000 mints with the default bounds).

Exit 2: the emulator did not start. Loopback only.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

API_KEY = "sk-soak-emulator-bounds-000000000000"
OFFER = (Path(__file__).resolve().parents[1] / "tests" / "sdp" / "chromium_offer.sdp").read_bytes()
MINT = {"session": {"type": "realtime", "model": "gpt-realtime-2.1", "instructions": "Be brief."}}


# --- the emulator side --------------------------------------------------------------------------------------------


def _rss_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise KeyError("VmRSS")


def serve(max_keys: int, max_calls: int, max_ended_calls: int) -> int:
    """Serve on loopback; answer each ``stats`` line with a JSON line; stop when stdin closes."""
    from realtime_service.emulator import Emulator

    with Emulator(API_KEY, max_keys=max_keys, max_calls=max_calls, max_ended_calls=max_ended_calls) as emulator:
        print(emulator.base_url, flush=True)
        for line in sys.stdin:
            if line.strip() == "stats":
                sizes = emulator.calls.sizes()
                stats = {
                    "rss_kib": _rss_kib(),
                    "keys": sizes.keys,
                    "expiry_heap": sizes.expiry_heap,
                    "live_calls": sizes.live_calls,
                    "ended_calls": sizes.ended_calls,
                    "history": len(emulator.requests),
                }
                print(json.dumps(stats), flush=True)
    return 0


# --- the client side ------------------------------------------------------------------------------------------------


class Client:
    """Mints (and now and then calls) from a thread pool, one ``requests.Session`` per thread."""

    def __init__(self, base_url: str, call_every: int) -> None:
        self.base_url = base_url
        self.call_every = call_every
        self.local = threading.local()
        self.lock = threading.Lock()
        self.failures: list[str] = []
        self.calls = 0

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self.local, "session", None)
        if session is None:
            session = self.local.session = requests.Session()
        return session

    def _fail(self, what: str, response: requests.Response) -> None:
        with self.lock:
            if len(self.failures) < 20:
                self.failures.append(f"{what}: {response.status_code} {response.text[:120]}")
            else:
                self.failures.append(what)

    def one(self, n: int) -> None:
        session = self._session()
        auth = {"authorization": f"Bearer {API_KEY}"}
        minted = session.post(self.base_url + "/realtime/client_secrets", json=MINT, headers=auth, timeout=30)
        if minted.status_code != 200:
            self._fail(f"mint {n}", minted)
            return
        if n % self.call_every:
            return
        key = minted.json()["value"]
        headers = {"authorization": f"Bearer {key}", "content-type": "application/sdp"}
        call = session.post(self.base_url + "/realtime/calls", data=OFFER, headers=headers, timeout=30)
        if call.status_code != 201:
            self._fail(f"call {n}", call)
            return
        with self.lock:
            self.calls += 1
        if (n // self.call_every) % 2:
            hangup = session.post(
                self.base_url + call.headers["location"].removeprefix("/v1") + "/hangup", headers=auth, timeout=30
            )
            if hangup.status_code != 200:
                self._fail(f"hangup {n}", hangup)


def _stats(process: subprocess.Popen[str]) -> dict[str, Any]:
    assert process.stdin is not None
    assert process.stdout is not None
    process.stdin.write("stats\n")
    process.stdin.flush()
    answer: dict[str, Any] = json.loads(process.stdout.readline())
    return answer


def _warmup(args: argparse.Namespace) -> int:
    """``--warmup``, or the mints that fill every table (half the calls end, so each call table fills after
    ``2 * call_every * bound`` mints)."""
    if args.warmup is not None:
        return int(args.warmup)
    return max(2 * args.max_keys, 2 * args.call_every * max(args.max_calls, args.max_ended_calls))


def run(args: argparse.Namespace) -> int:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--serve",
        "--max-keys",
        str(args.max_keys),
        "--max-calls",
        str(args.max_calls),
        "--max-ended-calls",
        str(args.max_ended_calls),
    ]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    assert process.stdin is not None
    base_url = process.stdout.readline().strip()
    if not base_url.startswith("http://127.0.0.1:"):
        print(f"soak_emulator: the emulator did not start ({base_url[:80]!r})", file=sys.stderr)
        process.kill()
        process.wait()
        return 2
    client = Client(base_url, args.call_every)
    samples: list[dict[str, Any]] = []
    problems: list[str] = []
    warmup = _warmup(args)
    checkpoints = sorted({*range(args.every, args.mints, args.every), warmup, args.mints} - {0})
    try:
        with ThreadPoolExecutor(args.threads) as pool:
            done = 0
            for checkpoint in checkpoints:
                list(pool.map(client.one, range(done, checkpoint)))
                done = checkpoint
                stats = {"mints": done, **_stats(process)}
                samples.append(stats)
                print(
                    f"{done:>8} mints  RSS {stats['rss_kib'] / 1024:7.1f} MiB  keys {stats['keys']}  "
                    f"heap {stats['expiry_heap']}  live calls {stats['live_calls']}  ended {stats['ended_calls']}",
                    flush=True,
                )
                for name, bound in (
                    ("keys", args.max_keys),
                    ("expiry_heap", 2 * args.max_keys),
                    ("live_calls", args.max_calls),
                    ("ended_calls", args.max_ended_calls),
                ):
                    if stats[name] > bound:
                        problems.append(f"{name} {stats[name]} > {bound} after {done} mints")
    finally:
        process.stdin.close()
        process.wait(30)
    first = next(sample for sample in samples if sample["mints"] >= warmup)
    last = samples[-1]
    ratio = last["rss_kib"] / first["rss_kib"]
    if ratio > args.max_ratio:
        problems.append(f"RSS grew {ratio:.3f}x after the warm-up (> {args.max_ratio})")
    if client.failures:
        problems.append(f"{len(client.failures)} requests failed, first: {client.failures[0]}")
    result = {
        "mints": args.mints,
        "calls": client.calls,
        "warmup": warmup,
        "rss_first_after_warmup_mib": round(first["rss_kib"] / 1024, 1),
        "rss_last_mib": round(last["rss_kib"] / 1024, 1),
        "rss_max_mib": round(max(sample["rss_kib"] for sample in samples) / 1024, 1),
        "ratio": round(ratio, 3),
        "bounds": {"max_keys": args.max_keys, "max_calls": args.max_calls, "max_ended_calls": args.max_ended_calls},
        "problems": problems,
    }
    print("SOAK-EMULATOR-RESULT " + json.dumps(result), flush=True)
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    from realtime_service.emulator.call_registry import DEFAULT_MAX_CALLS, DEFAULT_MAX_ENDED, DEFAULT_MAX_KEYS

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mints", type=int, default=200_000)
    parser.add_argument("--every", type=int, default=10_000, help="sample RSS every N mints")
    parser.add_argument(
        "--warmup",
        type=int,
        default=None,
        help="mints before the reference sample (default: enough to fill every table)",
    )
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--call-every", type=int, default=20, help="every Nth key also creates a call")
    parser.add_argument("--max-ratio", type=float, default=1.10)
    parser.add_argument("--max-keys", type=int, default=DEFAULT_MAX_KEYS)
    parser.add_argument("--max-calls", type=int, default=DEFAULT_MAX_CALLS)
    parser.add_argument("--max-ended-calls", type=int, default=DEFAULT_MAX_ENDED)
    args = parser.parse_args(argv)
    if args.serve:
        return serve(args.max_keys, args.max_calls, args.max_ended_calls)
    if min(args.mints, args.every, args.threads, args.call_every) < 1:
        parser.error("--mints, --every, --threads and --call-every must be >= 1")
    warmup = _warmup(args)
    if not 0 <= warmup < args.mints:
        parser.error("--warmup must be below --mints")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
