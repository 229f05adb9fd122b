"""What metrics and tracing cost: the server's CPU per ``POST /token`` (and per ``POST /session``) with them off
and on, through ``serve`` as real processes against the loopback emulator, interleaved in one run.

Six ``serve`` processes run at once, one per mode, each minting from the same emulator (in this process, so its
CPU is not the servers'):

- ``off``: no metrics, and ``opentelemetry`` not importable (what a deployment without the extras runs; under
  ``--framework fastapi`` the API stays importable, as FastAPI itself imports it);
- ``api``: ``opentelemetry-api`` importable, no SDK configured (the extra installed, no provider);
- ``metrics``: ``server.metrics`` on (prometheus-client, its listener on loopback), no ``opentelemetry``;
- ``tracing``: the OpenTelemetry SDK configured as a user would (``TracerProvider`` + ``BatchSpanProcessor`` to an
  exporter that counts and drops the spans), no metrics;
- ``both``: metrics and the SDK;
- ``both-10%``: metrics and the SDK with a ``ParentBased(TraceIdRatioBased(0.1))`` sampler (one trace in ten kept,
  as a busy deployment would run it).

Method: the server's CPU is ``time.process_time()`` read inside its own process (every thread: the framework's,
the span processor's, the metrics listener's), asked for over the process's stdin before and after each cell of
``--mints`` sequential mints from one keep-alive client; rounds go ``off api metrics tracing both both-10%`` in order,
``--rounds`` times, so drift and other load on the machine fall on every mode alike. Per mode: the median CPU µs
per mint over the rounds and its p25-p75, and the ratio to ``off`` three ways: of the medians, of the lower
quartiles (other load only ever adds CPU time: the least disturbed figure) and the median of each round's paired
ratio. The goal (issue 25): ``both`` <= 1.05 x ``off``. At the end each server proves its mode: the spans it
exported per request, the metrics scrape's count of keys minted, and the garbage collector's CPU per request.

Six processes differ by more than their mode (memory layout, hash seeds, which one the scheduler favours): a
seventh server, ``toggled``, runs with metrics and the SDK and switches both off and on between its cells (metrics
uncounted, the API's no-op tracer in the SDK's place), ``off on on off`` each round: the same process, paired cell
by cell. Its ratio is on / off within one process, free of that variance (its "off" is the ``api`` mode).

    python bench/bench_observability.py [--framework flask|fastapi] [--rounds 30] [--mints 100] [--sessions 30]
    python bench/bench_observability.py --quick      # a few rounds of a few calls: that it runs, not figures

The last line is ``BENCH-OBSERVABILITY-RESULT {json}`` for tests and scripts.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OFFER = (ROOT / "tests" / "sdp" / "chromium_offer.sdp").read_bytes()
MODES = ("off", "api", "metrics", "tracing", "both", "both-10%")
#: The one process that switches metrics and tracing off and on between cells.
TOGGLED = "toggled"
#: The modes with metrics on, and with the OpenTelemetry SDK configured.
METRICS, SDK = ("metrics", "both", "both-10%", TOGGLED), ("tracing", "both", "both-10%", TOGGLED)
#: The goal from issue 25: metrics and tracing on cost at most 5% more CPU per mint than off.
GOAL = 1.05
#: How long a server may take to start or to answer a control line (a bound on a wait, not a timing).
WAIT = 60.0


class Server:
    """One ``serve`` process in ``mode`` (this file's ``--run-server``), driven over stdin: ``cpu`` answers its
    ``process_time_ns``, ``spans`` the spans its exporter received (after a flush)."""

    def __init__(self, mode: str, config: Path, keep_api: bool = False) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "REALTIME_SERVICE_", "OTEL_"))}
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
        self.mode = mode
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--run-server", mode, "--config", str(config)]
            + (["--keep-api"] if keep_api else []),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.url = self._expect(r"listening on (http://[\d.]+:\d+)")
        parts = self.url.rsplit(":", 1)
        self.connection = http.client.HTTPConnection(parts[0].removeprefix("http://"), int(parts[1]), timeout=WAIT)

    def _read(self) -> None:
        for line in self.process.stdout or ():
            self._lines.put(line)
        self._lines.put("")  # the process ended

    def _expect(self, pattern: str) -> str:
        while True:
            line = self._lines.get(timeout=WAIT)
            if not line:
                raise SystemExit(f"the {self.mode} server ended (exit {self.process.wait()})")
            match = re.search(pattern, line)
            if match:
                return match.group(1)

    def _ask(self, what: str) -> int:
        assert self.process.stdin is not None
        self.process.stdin.write(what + "\n")
        self.process.stdin.flush()
        return int(self._expect(rf"^{what.upper()} (\d+)$"))

    def cpu_ns(self) -> int:
        return self._ask("cpu")

    def spans(self) -> int:
        return self._ask("spans")

    def gc_ns(self) -> int:
        """CPU ns the process spent in the garbage collector so far."""
        return self._ask("gc")

    def observe(self, on: bool) -> None:
        """The ``toggled`` server only: metrics and tracing on, or both off."""
        self._ask("obson" if on else "obsoff")

    def mint(self) -> None:
        self.connection.request("POST", "/token", body=b"{}", headers={"Content-Type": "application/json"})
        response = self.connection.getresponse()
        body = response.read()
        if response.status != 200 or b'"value"' not in body:
            raise SystemExit(f"{self.mode}: POST /token answered {response.status}")

    def session(self) -> None:
        self.connection.request("POST", "/session", body=OFFER, headers={"Content-Type": "application/sdp"})
        response = self.connection.getresponse()
        response.read()
        if response.status != 201 or not (response.getheader("x-call-id") or "").startswith("rtc_"):
            raise SystemExit(f"{self.mode}: POST /session answered {response.status}")

    def stop(self) -> None:
        self.connection.close()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(WAIT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def measure(servers: dict[str, Server], call: str, rounds: int, per_cell: int) -> dict[str, list[float]]:
    """CPU µs per call of each server, one sample per round; modes interleaved in order within each round."""
    samples: dict[str, list[float]] = {mode: [] for mode in servers}
    for server in servers.values():  # warm-up: first-use imports, connections, caches
        for _ in range(max(5, per_cell // 4)):
            getattr(server, call)()
    for _ in range(rounds):
        for mode, server in servers.items():
            do = getattr(server, call)
            before = server.cpu_ns()
            for _ in range(per_cell):
                do()
            samples[mode].append((server.cpu_ns() - before) / per_cell / 1000)
    return samples


def measure_toggled(server: Server, call: str, rounds: int, per_cell: int) -> dict[str, list[float]]:
    """CPU µs per call of the ``toggled`` server with metrics and tracing off and on, ``off on on off`` each round
    (a drift within the round falls on both alike)."""
    samples: dict[str, list[float]] = {"off": [], "on": []}
    do = getattr(server, call)
    for _ in range(max(5, per_cell // 4)):
        do()
    for _ in range(rounds):
        for on in (False, True, True, False):
            server.observe(on)
            before = server.cpu_ns()
            for _ in range(per_cell):
                do()
            samples["on" if on else "off"].append((server.cpu_ns() - before) / per_cell / 1000)
    server.observe(True)
    return samples


def quartiles(values: list[float]) -> tuple[float, float, float]:
    """Lower quartile, median, upper quartile (a single value is all three)."""
    if len(values) < 2:
        return values[0], values[0], values[0]
    low, mid, high = statistics.quantiles(values, n=4)
    return low, mid, high


def summarise(samples: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    """Per mode: the quartiles of its per-round µs, the ratio of its median and of its lower quartile to ``off``'s
    (load from elsewhere only ever adds CPU time, so the lower quartile is the less disturbed figure), and the
    quartiles of each round's paired ratio to ``off``."""
    base_low, base_mid, _ = quartiles(samples["off"])
    result = {}
    for mode, values in samples.items():
        low, mid, high = quartiles(values)
        paired = quartiles([value / off for value, off in zip(values, samples["off"], strict=True)])
        result[mode] = {
            "p25_us": low,
            "median_us": mid,
            "p75_us": high,
            "ratio": mid / base_mid,
            "p25_ratio": low / base_low,
            "paired_p25": paired[0],
            "paired_ratio": paired[1],
            "paired_p75": paired[2],
        }
    return result


def print_table(title: str, summary: dict[str, dict[str, float]]) -> None:
    print(title)
    print(
        f"{'mode':<10}{'median µs':>10}{'p25-p75 µs':>13}{'median x off':>14}{'p25 x off':>11}{'paired x off':>14}"
        f"{'paired p25-p75':>16}"
    )
    for mode, row in summary.items():
        spread = f"{row['p25_us']:.0f}-{row['p75_us']:.0f}"
        paired = f"{row['paired_p25']:.3f}-{row['paired_p75']:.3f}"
        print(
            f"{mode:<10}{row['median_us']:>10.0f}{spread:>13}{row['ratio']:>14.3f}{row['p25_ratio']:>11.3f}"
            f"{row['paired_ratio']:>14.3f}{paired:>16}"
        )


def metrics_minted(port: int) -> float:
    """``realtime_service_keys_minted_total`` as the server's metrics listener reports it."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=WAIT) as answer:
        text = answer.read().decode()
    match = re.search(r"^realtime_service_keys_minted_total (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--framework", choices=("flask", "fastapi"), default="flask")
    parser.add_argument("--rounds", type=int, default=30, help="rounds of every mode, in order")
    parser.add_argument("--mints", type=int, default=100, help="POST /token per mode per round")
    parser.add_argument("--sessions", type=int, default=30, help="POST /session per mode per round (0: skip)")
    parser.add_argument("--quick", action="store_true", help="3 rounds of 5 mints and 3 sessions: that it runs")
    parser.add_argument("--run-server", choices=(*MODES, TOGGLED), help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--keep-api", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.run_server:
        return run_server(args.run_server, args.config, args.keep_api)
    if args.quick:
        args.rounds, args.mints, args.sessions = 3, 5, 3

    sys.path.insert(0, str(ROOT))
    from realtime_service.emulator import Emulator

    # FastAPI (0.165 here) imports opentelemetry-api itself (fastapi.telemetry): "off" cannot hide the API
    keep_api = args.framework == "fastapi"
    ports: dict[str, int] = {}
    servers: dict[str, Server] = {}
    with Emulator() as emulator, tempfile.TemporaryDirectory(prefix="bench-observability-") as folder:
        try:
            for mode in (*MODES, TOGGLED):
                server: dict[str, Any] = {"rate_limit": "off", "framework": args.framework, "demo": False}
                if mode in METRICS:
                    ports[mode] = free_port()
                    server["metrics"] = {"address": "127.0.0.1", "port": ports[mode]}
                config = Path(folder) / f"{mode}.yaml"
                realtime = {"api_key": emulator.api_key, "base_url": emulator.base_url}
                config.write_text(json.dumps({"realtime": realtime, "server": server}))  # JSON is YAML
                servers[mode] = Server(mode, config, keep_api)
            toggled = servers.pop(TOGGLED)
            in_gc = {mode: server.gc_ns() for mode, server in servers.items()}  # start-up's collections aside
            tokens = summarise(measure(servers, "mint", args.rounds, args.mints))
            sessions = summarise(measure(servers, "session", args.rounds, args.sessions)) if args.sessions else {}
            paired = {"mint": summarise(measure_toggled(toggled, "mint", args.rounds, args.mints))}
            if args.sessions:
                paired["session"] = summarise(measure_toggled(toggled, "session", args.rounds, args.sessions))
            # its proof: spans only for the requests it served switched on (the warm-ups and the "on" cells)
            served_on = max(5, args.mints // 4) + 2 * args.rounds * args.mints
            if args.sessions:
                served_on += max(5, args.sessions // 4) + 2 * args.rounds * args.sessions
            toggled_spans = toggled.spans() / served_on
            calls = {"mint": args.rounds * args.mints + max(5, args.mints // 4)}
            calls["session"] = args.rounds * args.sessions + max(5, args.sessions // 4) if args.sessions else 0
            requests = calls["mint"] + calls["session"]
            proof = {
                mode: {
                    "spans_per_request": server.spans() / requests,
                    "gc_us_per_request": (server.gc_ns() - in_gc[mode]) / requests / 1000,
                    "keys_minted_metric": metrics_minted(ports[mode]) if mode in ports else None,
                }
                for mode, server in servers.items()
            }
        finally:
            for server_ in servers.values():
                server_.stop()
            if "toggled" in locals():
                toggled.stop()

    print(
        f"observability cost: serve ({args.framework}), {os.cpu_count()} cores, Python {sys.version.split()[0]}; "
        f"{args.rounds} rounds x {args.mints} mints / {args.sessions} sessions per mode, interleaved; server CPU "
        "(process_time of the serve process)\n"
    )
    if keep_api:
        print("FastAPI imports opentelemetry-api itself: off and metrics run with the API importable (no SDK)\n")
    print_table("POST /token, server CPU per mint", tokens)
    if sessions:
        print()
        print_table("POST /session, server CPU per exchange", sessions)
    print()
    for mode, facts in proof.items():
        minted = facts["keys_minted_metric"]
        print(
            f"{mode:<10}spans per request {facts['spans_per_request']:.2f}, "
            f"garbage collector {facts['gc_us_per_request']:.1f} µs per request"
            + (f", keys_minted metric {minted:.0f} of {calls['mint']} mints" if minted is not None else "")
        )
    print()
    for call, title in (("mint", "POST /token, per mint"), ("session", "POST /session, per exchange")):
        if call in paired:
            print_table(f"one process, metrics and tracing toggled per cell (off on on off): {title}", paired[call])
    print(f"toggled: spans per request served on {toggled_spans:.2f} (none while off)")
    verdict = "within" if tokens["both"]["ratio"] <= GOAL else "OVER"
    print(f"\nmetrics+tracing on / off, per mint: {tokens['both']['ratio']:.3f} ({verdict} the {GOAL:.2f} goal)")
    one = paired["mint"]["on"]
    verdict = "within" if one["paired_ratio"] <= GOAL else "OVER"
    print(
        f"metrics+tracing on / off in one process, per mint: {one['paired_ratio']:.3f} paired "
        f"({one['paired_p25']:.3f}-{one['paired_p75']:.3f}), {one['ratio']:.3f} of the medians ({verdict} the "
        f"{GOAL:.2f} goal)"
    )
    result = {"framework": args.framework, "api_in_off": keep_api, "token": tokens, "session": sessions}
    result["toggled"] = paired
    result.update(proof={**proof, "toggled": {"spans_per_request_on": toggled_spans}}, calls=calls)
    print("BENCH-OBSERVABILITY-RESULT " + json.dumps(result, sort_keys=True))
    return 0


def run_server(mode: str, config: str, keep_api: bool = False) -> int:
    """Hidden mode: ``serve`` in this process, set up for ``mode``, answering ``cpu``/``spans`` lines on stdin."""
    if mode in ("off", "metrics") and not keep_api:
        sys.modules["opentelemetry"] = None  # type: ignore[assignment]  # as if the extra were not installed
    exported = [0]
    flush = None
    if mode in SDK:
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
        from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

        class Counting(SpanExporter):
            """Counts and drops: the export's own cost (a network, a collector) is not ours to measure."""

            def export(self, spans: Sequence[Any]) -> SpanExportResult:
                exported[0] += len(spans)
                return SpanExportResult.SUCCESS

        # both-10%: what a busy deployment runs, a parent-based ratio sampler keeping one trace in ten
        sampler = ParentBased(TraceIdRatioBased(0.1)) if mode == "both-10%" else None
        provider = TracerProvider(sampler=sampler)
        provider.add_span_processor(BatchSpanProcessor(Counting()))
        trace.set_tracer_provider(provider)
        flush = provider.force_flush

    import gc
    import time

    in_gc = [0]  # CPU ns spent collecting (spans are objects that live until exported: more collections)

    def collecting(phase: str, info: dict[str, int]) -> None:
        in_gc[0] += -time.thread_time_ns() if phase == "start" else time.thread_time_ns()

    gc.callbacks.append(collecting)

    def control() -> None:
        for line in sys.stdin:
            if line.strip() == "cpu":
                print(f"CPU {time.process_time_ns()}", flush=True)
            elif line.strip() == "gc":
                print(f"GC {in_gc[0]}", flush=True)
            elif line.strip() in ("obson", "obsoff") and mode == TOGGLED:
                switch(line.strip() == "obson")
                print(f"{line.strip().upper()} 1", flush=True)
            elif line.strip() == "spans":
                if flush is not None:
                    flush()
                print(f"SPANS {exported[0]}", flush=True)

    def switch(on: bool) -> None:
        """Metrics counted or not, spans from the SDK or the API's no-op tracer: both taken effect at once."""
        from opentelemetry import trace as api

        from realtime_service.observability import metrics, tracing

        if not on and metrics._metrics is not None:
            kept["metrics"] = metrics._metrics
        metrics._metrics = kept["metrics"] if on else None
        tracing.use_provider(api.get_tracer_provider() if on else api.NoOpTracerProvider())

    kept: dict[str, Any] = {}
    threading.Thread(target=control, daemon=True).start()
    from realtime_service.web.servers.serve import serve_main

    return serve_main(["--port", "0", "--config", config])


if __name__ == "__main__":
    raise SystemExit(main())
