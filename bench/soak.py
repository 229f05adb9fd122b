"""Soak: many calls from 8 threads sharing one container, 10% of them faulted, against a loopback emulator.

    python bench/soak.py                 # 20,000 calls (a couple of minutes at most)
    python bench/soak.py --calls 1000    # the short version the test suite runs (both --api-shape ga and beta)

The emulator runs in a subprocess (``python bench/soak.py --serve``), so it does not share the client's GIL,
file descriptors, threads or memory. Each call sends an ``X-Soak-Call: <n>`` header and the emulator's
``fault_rule`` looks the call up in :func:`kind_of`, the same deterministic schedule this process reads, so
every call's fault, outcome and attempt count are known in advance whatever order the threads run in:
every 10th call is faulted, cycling through :data:`SCHEDULE`.

It prints, and fails (exit 1) unless:

- every call ended in a minted session or one of our error classes (nothing else, no hang);
- each call's outcome and attempt count are the scheduled ones, so the counts per outcome match too;
- after the run and ``shutdown_resources()``, open file descriptors and threads equal those before (within 2);
- RSS grew by less than 5 MiB between the end of the warm-up and the end of the run;
- every minted secret is distinct.

Retry waits are scaled down 1000x (an injected ``sleep``), so a 0.5 s backoff takes 0.5 ms. Loopback only.
"""

from __future__ import annotations

import argparse
import array
import collections
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

API_KEY = "sk-soak-emulator-key-0000000000000000"
HEADER = "X-Soak-Call"
REQUEST: dict[str, Any] = {"model": "gpt-realtime-2.1", "voice": "marin", "instructions": "Be brief."}
FAULT_EVERY = 10  # every 10th call is faulted: 10%
READ_TIMEOUT_FAULTED = 0.25  # the per-call read timeout of the calls scheduled to time out
LATE_BY = 0.5  # how late the emulator answers those calls
SECRET_SLOT = 64  # bytes kept per minted secret, to check they are distinct without growing memory
MIB = 1024 * 1024
MINTED = "minted"


FaultSpec = tuple[str, tuple[Any, ...], dict[str, Any]]


@dataclass(frozen=True)
class Kind:
    """One kind of fault and its result. ``faults`` says what the emulator does on each attempt, as
    ``(Fault constructor, args, kwargs)`` (built in the emulator process); later attempts are answered normally.
    ``short_read_timeout``: the call passes a per-call read timeout the late answer overruns."""

    name: str
    faults: tuple[FaultSpec, ...]
    outcome: str
    attempts: int
    short_read_timeout: bool = False


def f(constructor: str, *args: Any, **kwargs: Any) -> FaultSpec:
    return constructor, args, kwargs


EVERY = 3  # attempts with the default max_retries of 2

SCHEDULE: tuple[Kind, ...] = tuple(
    Kind(name, tuple(faults), outcome, attempts, short)
    for name, faults, outcome, attempts, short in [
        ("503 once", [f("status", 503)], MINTED, 2, False),
        ("429 retry-after-ms 5, once", [f("status", 429, headers={"retry-after-ms": "5"})], MINTED, 2, False),
        ("reset before answering, once", [f("reset")], MINTED, 2, False),
        ("closed before answering, once", [f("drop")], MINTED, 2, False),
        ("body cut short, once", [f("truncated")], MINTED, 2, False),
        ("reset mid-body, once", [f("truncated", 10, reset=True)], MINTED, 2, False),
        ("gzip-encoded answer", [f("gzip")], MINTED, 1, False),
        ("answer late, once", [f("delay", LATE_BY)], MINTED, 2, True),
        ("503 every attempt", [f("status", 503)] * EVERY, "InternalServerError", 3, False),
        (
            "503 x-should-retry false",
            [f("status", 503, headers={"x-should-retry": "false"})],
            "InternalServerError",
            1,
            False,
        ),
        ("429 retry-after 120", [f("status", 429, headers={"retry-after": "120"})], "RateLimitError", 1, False),
        ("400", [f("status", 400)], "BadRequestError", 1, False),
        ("401", [f("status", 401)], "AuthenticationError", 1, False),
        ("307 redirect", [f("redirect", "/v1/elsewhere")], "APIStatusError", 1, False),
        ("200 HTML", [f("raw", "<html>oops</html>", content_type="text/html")], "ResponseValidationError", 1, False),
        ("200 without client_secret", [f("json", {"id": "sess_1"})], "ResponseValidationError", 1, False),
        ("2 MiB body every attempt", [f("huge", 2 * MIB)] * EVERY, "APIConnectionError", 3, False),
        ("answer late every attempt", [f("delay", LATE_BY)] * EVERY, "APITimeoutError", 3, True),
    ]
)


def kind_of(call: int) -> Kind | None:
    """The fault scheduled for call ``call`` (0-based), or ``None`` for a clean call."""
    if call % FAULT_EVERY != FAULT_EVERY - 1:
        return None
    return SCHEDULE[(call // FAULT_EVERY) % len(SCHEDULE)]


def expected(call: int) -> tuple[str, int]:
    kind = kind_of(call)
    return (MINTED, 1) if kind is None else (kind.outcome, kind.attempts)


# --- the emulator side --------------------------------------------------------------------------------------------


def serve(port: int) -> int:
    """Run the emulator with the schedule as its fault rule until stdin closes (the soak's end)."""
    from realtime_service.emulator import Emulator, Fault, RecordedRequest

    faults = {
        kind.name: [getattr(Fault, ctor)(*args, **kwargs) for ctor, args, kwargs in kind.faults] for kind in SCHEDULE
    }
    attempts: dict[int, int] = {}
    lock = threading.Lock()

    def rule(request: RecordedRequest) -> Any:
        header = request.headers.get(HEADER.lower())
        if header is None:
            return None
        call = int(header)
        kind = kind_of(call)
        if kind is None:
            return None
        with lock:
            attempt = attempts.get(call, 0)
            attempts[call] = attempt + 1
        scripted = faults[kind.name]
        return scripted[attempt] if attempt < len(scripted) else None

    with Emulator(API_KEY, port=port, fault_rule=rule) as emulator:
        print(emulator.base_url, flush=True)
        sys.stdin.read()  # returns when the parent closes the pipe (or dies)
    return 0


# --- the client side ------------------------------------------------------------------------------------------------


def proc_status(name: str) -> int:
    """A number from /proc/self/status (``VmRSS`` in kB, ``Threads``)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(name + ":"):
                return int(line.split()[1])
    raise KeyError(name)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@dataclass
class Snapshot:
    fds: int
    threads: int
    os_threads: int
    rss_kib: int

    @classmethod
    def take(cls) -> Snapshot:
        return cls(open_fds(), threading.active_count(), proc_status("Threads"), proc_status("VmRSS"))


class _AttemptCounter(logging.Handler):
    """Counts the service's one INFO record per attempt, per thread (a call's attempts run on its thread)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.local = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == "realtime_service":  # attempt lines only, not a child logger's (lifecycle warnings)
            self.local.count = getattr(self.local, "count", 0) + 1

    def take(self) -> int:
        count: int = getattr(self.local, "count", 0)
        self.local.count = 0
        return count


def start_emulator() -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    base_url = process.stdout.readline().strip()
    if not base_url.startswith("http://127.0.0.1:"):
        process.kill()
        raise SystemExit(f"the emulator did not start (said {base_url!r})")
    return process, base_url


def soak(calls: int, threads: int, warmup: int, max_seconds: float, api_shape: str = "ga") -> int:
    from dependency_injector import providers

    from realtime_service import RealtimeServiceError
    from realtime_service.containers import RealtimeContainer

    started = time.monotonic()
    deadline = started + max_seconds
    process, base_url = start_emulator()
    try:
        outcomes: list[str | None] = [None] * calls
        attempts = array.array("B", bytes(calls))
        secrets = bytearray(calls * SECRET_SLOT)
        requested_waits = [0.0]
        counter = _AttemptCounter()
        logger = logging.getLogger("realtime_service")
        logger.addHandler(counter)
        logger.setLevel(logging.INFO)
        logger.propagate = False
        before = Snapshot.take()

        def scaled_sleep(seconds: float) -> None:
            requested_waits[0] += seconds  # a data race on a float is harmless for a total we only print
            time.sleep(seconds / 1000.0)

        container = RealtimeContainer(environ={})
        container.config.from_dict({"api_key": API_KEY, "base_url": base_url, "api_shape": api_shape})
        container.sleep.override(providers.Object(scaled_sleep))
        service = container.realtime_session_service()

        def run_calls(first: int, end: int) -> list[threading.Thread]:
            next_call = iter(range(first, end)).__next__
            take_lock = threading.Lock()

            def worker() -> None:
                while True:
                    with take_lock:
                        try:
                            call = next_call()
                        except StopIteration:
                            return
                    kind = kind_of(call)
                    timeout = (5.0, READ_TIMEOUT_FAULTED) if kind is not None and kind.short_read_timeout else None
                    counter.take()
                    try:
                        session = service.create_realtime_session(
                            REQUEST, timeout=timeout, extra_headers={HEADER: str(call)}
                        )
                    except RealtimeServiceError as exc:
                        outcomes[call] = type(exc).__name__
                    except BaseException as exc:  # counted as a failure of the soak, never swallowed silently
                        outcomes[call] = f"OTHER {type(exc).__name__}"
                    else:
                        outcomes[call] = MINTED
                        value = session.client_secret.value.encode()
                        if len(value) > SECRET_SLOT:
                            outcomes[call] = "OTHER secret longer than its slot"
                        secrets[call * SECRET_SLOT : call * SECRET_SLOT + len(value)] = value[:SECRET_SLOT]
                    attempts[call] = min(counter.take(), 255)

            workers = [threading.Thread(target=worker, name=f"soak-{i}", daemon=True) for i in range(threads)]
            for thread in workers:
                thread.start()
            for thread in workers:
                thread.join(max(0.0, deadline - time.monotonic()))
            return [thread for thread in workers if thread.is_alive()]

        hung = run_calls(0, warmup)
        after_warmup = Snapshot.take()
        run_started = time.monotonic()
        if not hung:
            hung = run_calls(warmup, calls)
        run_seconds = time.monotonic() - run_started
        after_run = Snapshot.take()
        container.shutdown_resources()
        after_shutdown = Snapshot.take()
        logger.removeHandler(counter)
    finally:
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    return report(
        api_shape=api_shape,
        calls=calls,
        threads=threads,
        warmup=warmup,
        hung=len(hung),
        outcomes=outcomes,
        attempts=attempts,
        secrets=secrets,
        snapshots={
            "before": before,
            "after warm-up": after_warmup,
            "after run": after_run,
            "after shutdown": after_shutdown,
        },
        total_seconds=time.monotonic() - started,
        run_seconds=run_seconds,
        requested_waits=requested_waits[0],
    )


def report(
    *,
    api_shape: str,
    calls: int,
    threads: int,
    warmup: int,
    hung: int,
    outcomes: list[str | None],
    attempts: array.array[int],
    secrets: bytearray,
    snapshots: dict[str, Snapshot],
    total_seconds: float,
    run_seconds: float,
    requested_waits: float,
) -> int:
    failures: list[str] = []
    check: Callable[[bool, str], None] = lambda ok, why: None if ok else failures.append(why)  # noqa: E731

    counts = collections.Counter(outcome or "unfinished" for outcome in outcomes)
    wanted = collections.Counter(expected(call)[0] for call in range(calls))
    wrong = [
        (call, outcomes[call], attempts[call], *expected(call), kind_of(call))
        for call in range(calls)
        if (outcomes[call], attempts[call]) != expected(call)
    ]
    minted = [bytes(secrets[i * SECRET_SLOT : (i + 1) * SECRET_SLOT]) for i in range(calls) if outcomes[i] == MINTED]
    faulted = sum(kind_of(call) is not None for call in range(calls))
    before, after_warmup = snapshots["before"], snapshots["after warm-up"]
    after_run, after_shutdown = snapshots["after run"], snapshots["after shutdown"]
    rss_growth_kib = after_run.rss_kib - after_warmup.rss_kib

    print(f"soak: {calls} calls ({faulted} faulted, {faulted / calls:.0%}) from {threads} threads, one container")
    print(
        f"      {run_seconds:.1f} s after a {warmup}-call warm-up, {total_seconds:.1f} s in all; "
        f"{calls - warmup} calls / {run_seconds:.1f} s = {(calls - warmup) / max(run_seconds, 1e-9):.0f} calls/s; "
        f"{sum(attempts)} attempts; retry waits asked {requested_waits:.1f} s (slept 1/1000 of that)"
    )
    print()
    print("| outcome | calls | expected |")
    print("|---|---|---|")
    for outcome in sorted(set(counts) | set(wanted), key=lambda o: (o != MINTED, o)):
        print(f"| {outcome} | {counts[outcome]} | {wanted[outcome]} |")
    print()
    print("| | fds | threads (Python / OS) | RSS (MiB) |")
    print("|---|---|---|---|")
    for name, snap in snapshots.items():
        print(f"| {name} | {snap.fds} | {snap.threads} / {snap.os_threads} | {snap.rss_kib / 1024:.1f} |")
    print()
    print(
        f"RSS growth after warm-up: {rss_growth_kib / 1024:.2f} MiB; distinct secrets: "
        f"{len(set(minted))} of {len(minted)} minted"
    )

    check(hung == 0, f"{hung} worker thread(s) still running at --max-seconds: a call hung")
    others = {outcome: n for outcome, n in counts.items() if outcome.startswith("OTHER") or outcome == "unfinished"}
    check(not others, f"calls ended in something other than a session or our errors: {others}")
    check(counts == wanted, "outcome counts differ from the schedule")
    check(
        not wrong,
        f"{len(wrong)} call(s) differ from the schedule (call, got, attempts, want, attempts, kind), "
        f"first ones: {wrong[:5]}",
    )
    check(abs(after_shutdown.fds - before.fds) <= 2, f"open fds {before.fds} before, {after_shutdown.fds} after")
    check(
        abs(after_shutdown.threads - before.threads) <= 2,
        f"threads {before.threads} before, {after_shutdown.threads} after",
    )
    check(
        abs(after_shutdown.os_threads - before.os_threads) <= 2,
        f"OS threads {before.os_threads} before, {after_shutdown.os_threads} after",
    )
    check(rss_growth_kib < 5 * 1024, f"RSS grew {rss_growth_kib / 1024:.2f} MiB after warm-up (limit 5 MiB)")
    check(len(set(minted)) == len(minted), f"{len(minted) - len(set(minted))} minted secret(s) repeated")
    figures = {
        "api_shape": api_shape,
        "calls": calls,
        "faulted": faulted,
        "threads": threads,
        "seconds": round(run_seconds, 2),
        "outcomes": dict(counts),
        "fds": [before.fds, after_shutdown.fds],
        "threads_before_after": [before.threads, after_shutdown.threads],
        "rss_growth_mib": round(rss_growth_kib / 1024, 2),
        "distinct_secrets": len(set(minted)),
        "failures": failures,
    }
    print()
    for failure in failures:
        print(f"FAIL: {failure}")
    print("PASS" if not failures else "FAIL")
    print("SOAK-RESULT " + json.dumps(figures, sort_keys=True))
    return 0 if not failures else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--warmup", type=int, help="calls before the RSS baseline (default: 10%%, at most 2000)")
    parser.add_argument("--max-seconds", type=float, default=600.0, help="give up (and fail) after this long")
    parser.add_argument(
        "--api-shape",
        choices=("ga", "beta"),
        default="ga",
        help="create_realtime_session bridged to /realtime/client_secrets (ga, the default) or /realtime/sessions",
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        return serve(args.port)
    if args.calls < 1 or args.threads < 1:
        parser.error("--calls and --threads must be at least 1")
    warmup = args.warmup if args.warmup is not None else min(args.calls // 10, 2000)
    return soak(args.calls, args.threads, min(warmup, args.calls), args.max_seconds, args.api_shape)


if __name__ == "__main__":
    raise SystemExit(main())
