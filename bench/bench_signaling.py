"""Per exchange through ``POST /session`` against the loopback emulator: added latency and server CPU, beside a
direct ``create_call`` and beside the server a user would write instead (OpenAI's unified-interface sample:
Express + fetch + FormData on Node), one run, interleaved. Prints figures and ratios, asserts nothing.

    python bench/bench_signaling.py [--exchanges 200] [--framework flask|fastapi|both] [--no-node]

The emulator runs in this process; ``serve`` and the Node server run as processes (their CPU is read from
/proc, Linux only); the direct ``create_call`` CPU is this thread's own. Express comes from the npm registry,
installed into a temporary folder (``npm install express``); without ``node``/``npm`` that column is skipped.
"""

from __future__ import annotations

import argparse
import os
import queue
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from realtime_service.containers import RealtimeContainer  # noqa: E402
from realtime_service.emulator import Emulator  # noqa: E402

OFFER = (ROOT / "tests" / "sdp" / "chromium_offer.sdp").read_bytes()
TICKS = os.sysconf("SC_CLK_TCK")

EXPRESS_SERVER = r"""
// OpenAI's unified-interface sample, as a user would write it: the offer in, FormData to /realtime/calls.
const express = require("express");
const app = express();
const upstream = process.env.UPSTREAM, key = process.env.KEY;
const session = JSON.stringify({ type: "realtime", model: "gpt-realtime-2.1", audio: { output: { voice: "marin" } } });
app.use(express.text({ type: ["application/sdp", "text/plain"] }));
app.post("/session", async (req, res) => {
  const fd = new FormData();
  fd.set("sdp", new Blob([req.body], { type: "application/sdp" }));
  fd.set("session", new Blob([session], { type: "application/json" }));
  try {
    const headers = { Authorization: `Bearer ${key}` };
    const r = await fetch(`${upstream}/realtime/calls`, { method: "POST", headers, body: fd });
    const sdp = await r.text();
    const id = (r.headers.get("location") || "").split("/").pop();
    res.status(r.status).set("Content-Type", "application/sdp").set("X-Call-Id", id).send(sdp);
  } catch (error) {
    res.status(502).json({ error: { message: "upstream failed" } });
  }
});
const server = app.listen(0, "127.0.0.1", () => console.log(`listening on http://127.0.0.1:${server.address().port}`));
"""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


class Process:
    def __init__(self, command: list[str], env: dict[str, str] | None = None, cwd: str | None = None) -> None:
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=cwd
        )
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in self.process.stdout or ()], daemon=True).start()
        first = lines.get(timeout=60)
        match = re.search(r"http://[\d.]+:\d+", first)
        if not match:
            raise RuntimeError(first)
        self.url = match.group(0)

    def cpu(self) -> float:
        return cpu_seconds(self.process.pid)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def start_serve(emulator: Emulator, framework: str, folder: Path) -> Process:
    config = folder / f"serve-{framework}.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "realtime": {"api_key": emulator.api_key, "base_url": emulator.base_url},
                "server": {"rate_limit": "off", "framework": framework, "demo": False},
            }
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "REALTIME_SERVICE_"))}
    return Process([sys.executable, "-m", "realtime_service.web", "--port", "0", "--config", str(config)], env)


def start_express(emulator: Emulator, folder: Path) -> Process | None:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        print("node/npm not found: the Express column is skipped")
        return None
    app = folder / "express"
    app.mkdir()
    (app / "package.json").write_text('{"name": "bench-signaling", "private": true}')
    subprocess.run([npm, "install", "--silent", "--no-audit", "--no-fund", "express@4"], cwd=app, check=True)
    (app / "server.js").write_text(EXPRESS_SERVER)
    env = {**os.environ, "UPSTREAM": emulator.base_url, "KEY": emulator.api_key}
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    print(f"node {version}, express from npm")
    return Process([node, "server.js"], env, cwd=str(app))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exchanges", type=int, default=200)
    parser.add_argument("--framework", choices=("flask", "fastapi", "both"), default="both")
    parser.add_argument("--no-node", action="store_true")
    args = parser.parse_args()
    frameworks = ["flask", "fastapi"] if args.framework == "both" else [args.framework]
    with Emulator() as emulator, tempfile.TemporaryDirectory(prefix="bench-signaling-") as tmp:
        container = RealtimeContainer()
        container.config.from_dict({"api_key": emulator.api_key, "base_url": emulator.base_url})
        service = container.realtime_session_service()
        servers: dict[str, Process] = {
            f"/session {name}": start_serve(emulator, name, Path(tmp)) for name in frameworks
        }
        express = None if args.no_node else start_express(emulator, Path(tmp))
        if express is not None:
            servers["express+fetch"] = express
        http = requests.Session()
        latency: dict[str, list[float]] = {"direct create_call": [], **{name: [] for name in servers}}
        direct_cpu = 0.0

        def exchange(name: str) -> None:
            nonlocal direct_cpu
            started, cpu = time.perf_counter(), time.thread_time()
            if name == "direct create_call":
                result = service.create_call(OFFER)
                direct_cpu += time.thread_time() - cpu
                ok = result.call_id is not None
            else:
                response = http.post(
                    servers[name].url + "/session", data=OFFER, headers={"Content-Type": "application/sdp"}, timeout=30
                )
                ok = response.status_code == 201 and response.headers.get("x-call-id", "").startswith("rtc_")
            if not ok:
                raise RuntimeError(f"{name}: exchange failed")
            latency[name].append(time.perf_counter() - started)

        for name in latency:  # warm-up, not counted
            for _ in range(5):
                exchange(name)
            latency[name].clear()
        direct_cpu = 0.0
        before = {name: server.cpu() for name, server in servers.items()}
        for _ in range(args.exchanges):
            for name in latency:
                exchange(name)
        cpu = {name: (server.cpu() - before[name]) / args.exchanges for name, server in servers.items()}
        cpu["direct create_call"] = direct_cpu / args.exchanges
        for server in servers.values():
            server.stop()
        container.shutdown_resources()

    base = statistics.median(latency["direct create_call"])
    print(f"{args.exchanges} exchanges each, interleaved, loopback emulator upstream; medians")
    print(f"{'path':<22} {'latency ms':>10} {'added ms':>9} {'x direct':>9} {'server CPU ms':>14}")
    for name, samples in latency.items():
        median = statistics.median(samples)
        print(
            f"{name:<22} {median * 1000:>10.2f} {(median - base) * 1000:>9.2f} {median / base:>9.2f} "
            f"{cpu[name] * 1000:>14.2f}"
        )
    if "express+fetch" in cpu:
        for name in latency:
            if name.startswith("/session"):
                ratio = statistics.median(latency[name]) / statistics.median(latency["express+fetch"])
                print(f"{name} / express+fetch: latency {ratio:.2f}x, CPU {cpu[name] / cpu['express+fetch']:.2f}x")
    print("(server CPU of the direct path is the calling thread's: the service's own work per create_call)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
