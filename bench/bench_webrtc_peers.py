"""How many concurrent WebRTC peers one emulator process holds: CPU and memory per connected call (issue 26).

    python bench/bench_webrtc_peers.py                    # levels 1, 10, 50, 100; 5 s measured at each
    python bench/bench_webrtc_peers.py --levels 1,20 --window 10
    python bench/bench_webrtc_peers.py --quick            # what tests/ runs: levels 1 and 3, 1 s windows

Every peer here gathers ICE candidates, so the bench never runs in the host's network: it re-runs itself under
``unshare -n`` (root; else ``unshare -rn`` where user namespaces are allowed), makes the veth pair the tests make
(tests/netns.py: 10.203.0.1 for the emulator, 10.203.0.2 for the browsers, no route out) and refuses to run in the
namespace it started in. For each level a fresh emulator process (``python -m realtime_service.emulator --webrtc
--webrtc-address 10.203.0.1``) answers; this process plays the browsers (``aiortc`` peers offering an audio track
of silence and ``oai-events``, as a page does), so the emulator's figures are its own. Per level: one warm-up call
(connected, then closed: ``aiortc``, ``av`` and Opus loaded), the emulator's idle RSS, then N calls connected at
once (each ``connected`` with ``session.created`` received on its channel); after ``--settle`` seconds the
emulator's CPU (``/proc/<pid>/stat`` utime+stime) over a ``--window`` of seconds and its RSS. Per call: CPU as %
of one core, RSS growth over idle, and the audio packets per second each browser received from the emulator over
the window (``getStats``; 50 is real time: fewer means the peers' loop, or the browsers', fell behind). Each call
carries 20 ms Opus audio frames both ways (the emulator's silence out, the browser's silence in) and no scripted
events: the steady cost of a held call. The browsers' own CPU is printed too: on a small machine they compete with
the emulator for the same cores.

Prints a table, then a ``BENCH-WEBRTC-RESULT`` JSON line. A benchmark: it asserts nothing timed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EMULATOR_ADDRESS = "10.203.0.1"
BROWSER_ADDRESS = "10.203.0.2"
NETWORK = (
    "ip link set lo up",
    "ip link add rtc-emu type veth peer name rtc-browser",
    f"ip addr add {EMULATOR_ADDRESS}/24 dev rtc-emu",
    f"ip addr add {BROWSER_ADDRESS}/24 dev rtc-browser",
    "ip link set rtc-emu up",
    "ip link set rtc-browser up",
)
"""The network tests/netns.py makes (the same veth pair and addresses)."""
_HOST_NAMESPACE = "REALTIME_SERVICE_BENCH_HOST_NETNS"
API_KEY = "sk-emulator-bench"
CONNECT_DEADLINE = 120.0
RESULT = "BENCH-WEBRTC-RESULT"


def unshare_command() -> tuple[str, ...] | str:
    """The ``unshare`` command that makes a private network namespace here, or why there is none."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "unshare (util-linux) and ip (iproute2) are needed"
    tried = []
    for command in (("unshare", "-n"), ("unshare", "-rn")):
        probe = subprocess.run([*command, "ip", "link", "set", "lo", "up"], capture_output=True, text=True, timeout=30)
        if probe.returncode == 0:
            return command
        tried.append(f"{' '.join(command)}: {probe.stderr.strip()[:120]}")
    return "no private network namespace can be made here (needs root or user namespaces): " + "; ".join(tried)


def _make_network() -> None:
    here = os.readlink("/proc/self/ns/net")
    if here == os.environ.get(_HOST_NAMESPACE, here):  # no marker: not started by main(), so not in a namespace
        raise SystemExit("refusing to gather ICE candidates in the host's network namespace")
    for line in NETWORK:
        subprocess.run(line.split(), check=True, capture_output=True, timeout=30)
    routes = subprocess.run(["ip", "route", "show", "default"], check=True, capture_output=True, text=True, timeout=30)
    if routes.stdout.strip():
        raise SystemExit(f"the namespace has a default route: {routes.stdout.strip()}")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


class Emulator:
    """A fresh emulator process answering with real peers on :data:`EMULATOR_ADDRESS`."""

    def __init__(self, max_calls: int) -> None:
        command = [sys.executable, "-m", "realtime_service.emulator", "--webrtc", "--webrtc-address"]
        command += [EMULATOR_ADDRESS, "--api-key", API_KEY, "--max-calls", str(max_calls)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("export OPENAI_BASE_URL="):
                self.base_url = line.split()[1].split("=", 1)[1]
                return
        raise RuntimeError(f"the emulator exited ({self.process.wait()}) before printing its URL")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Browser:
    """An offerer with an audio track of silence and ``oai-events``, as a page is."""

    def __init__(self) -> None:
        from aiortc import RTCConfiguration, RTCPeerConnection
        from aiortc.mediastreams import AudioStreamTrack

        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pc.addTrack(AudioStreamTrack())
        self.channel = self.pc.createDataChannel("oai-events")
        self.opened = asyncio.Event()
        self.channel.on("message", lambda message: self.opened.set())

    async def call(self, base_url: str) -> float:
        """Offer, post, apply the answer, wait for ``session.created``; the POST's seconds (gathering included)."""
        import requests
        from aiortc import RTCSessionDescription

        from realtime_service.emulator.webrtc import gathering

        gathering.install()
        gathering.ALLOWED.set((BROWSER_ADDRESS,))
        await self.pc.setLocalDescription(await self.pc.createOffer())
        started = time.perf_counter()
        response = await asyncio.to_thread(
            requests.post,
            f"{base_url}/realtime/calls",
            headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/sdp"},
            data=self.pc.localDescription.sdp.encode(),
            timeout=60,
        )
        answered = time.perf_counter() - started
        if response.status_code != 201:
            raise RuntimeError(f"POST /realtime/calls: {response.status_code} {response.text[:200]}")
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=response.text, type="answer"))
        await asyncio.wait_for(self.opened.wait(), CONNECT_DEADLINE)
        if self.pc.connectionState != "connected":
            raise RuntimeError(f"session.created arrived but the browser is {self.pc.connectionState}")
        return answered

    async def packets_received(self) -> int:
        """Audio packets the emulator's peer sent that reached this browser (``getStats``: inbound-rtp)."""
        stats = await self.pc.getStats()
        return sum(s.packetsReceived for s in stats.values() if s.type == "inbound-rtp" and s.kind == "audio")


async def _packets(browsers: list[Browser]) -> int:
    return sum(await asyncio.gather(*(browser.packets_received() for browser in browsers)))


async def _level(calls: int, settle: float, window: float) -> dict[str, Any]:
    emulator = Emulator(max_calls=calls + 1)
    pid = emulator.process.pid
    browsers: list[Browser] = []
    try:
        warm = Browser()
        await warm.call(emulator.base_url)
        await warm.pc.close()
        idle_kib = _rss_kib(pid)
        browsers = [Browser() for _ in range(calls)]
        connect_started = time.perf_counter()
        answers = await asyncio.gather(*(browser.call(emulator.base_url) for browser in browsers))
        connect_s = time.perf_counter() - connect_started
        await asyncio.sleep(settle)  # a measurement's settling time, not a wait for an event
        packets_before = await _packets(browsers)
        cpu_before, wall_before, own_before = _cpu_seconds(pid), time.perf_counter(), time.process_time()
        await asyncio.sleep(window)  # the measured window
        cpu_s, wall_s = _cpu_seconds(pid) - cpu_before, time.perf_counter() - wall_before
        own_s = time.process_time() - own_before
        packets = await _packets(browsers) - packets_before
        rss_kib = _rss_kib(pid)
        connected = sum(browser.pc.connectionState == "connected" for browser in browsers)
    finally:
        await asyncio.gather(*(browser.pc.close() for browser in browsers), return_exceptions=True)
        emulator.stop()
    return {
        "calls": calls,
        "connected": connected,
        "answer_ms_p50": round(statistics.median(answers) * 1000, 1),
        "all_connected_s": round(connect_s, 2),
        "emulator_cpu_s": round(cpu_s, 3),
        "emulator_cpu_pct": round(100 * cpu_s / wall_s, 1),
        "cpu_pct_per_call": round(100 * cpu_s / wall_s / calls, 2),
        "idle_rss_mib": round(idle_kib / 1024, 1),
        "rss_mib": round(rss_kib / 1024, 1),
        "rss_kib_per_call": round((rss_kib - idle_kib) / calls),
        "browsers_cpu_pct": round(100 * own_s / wall_s, 1),
        "audio_pps_per_call": round(packets / wall_s / calls, 1),
    }


def _table(levels: list[dict[str, Any]]) -> str:
    head = ("calls", "connected", "answer p50 ms", "emulator CPU %", "CPU %/call", "RSS MiB", "RSS KiB/call")
    head += ("audio pkt/s/call", "browsers CPU %")
    rows = [
        (
            level["calls"],
            level["connected"],
            level["answer_ms_p50"],
            level["emulator_cpu_pct"],
            level["cpu_pct_per_call"],
            level["rss_mib"],
            level["rss_kib_per_call"],
            level["audio_pps_per_call"],
            level["browsers_cpu_pct"],
        )
        for level in levels
    ]
    lines = [" | ".join(f"{cell:>14}" for cell in head)]
    lines += [" | ".join(f"{cell!s:>14}" for cell in row) for row in rows]
    return "\n".join(lines)


async def _run(levels: list[int], settle: float, window: float) -> dict[str, Any]:
    results = []
    for calls in levels:
        results.append(await _level(calls, settle, window))
        print(_table(results[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
    return {"levels": results, "window_s": window, "cores": os.cpu_count()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", default="1,10,50,100", help="calls connected at once, level by level")
    parser.add_argument("--window", type=float, default=5.0, help="seconds of CPU measured at each level")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds after the last call connects")
    parser.add_argument("--quick", action="store_true", help="levels 1 and 3, 1 s windows (tests/ runs it)")
    parser.add_argument("--in-namespace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.levels, args.window, args.settle = "1,3", 1.0, 0.5
    try:
        levels = [int(each) for each in str(args.levels).split(",") if each.strip()]
    except ValueError:
        print(f"bench_webrtc_peers: --levels must be numbers separated by commas, not {args.levels!r}", file=sys.stderr)
        return 2
    if not levels or min(levels) < 1:
        print("bench_webrtc_peers: --levels needs at least one level of 1 call or more", file=sys.stderr)
        return 2
    if not args.in_namespace:
        command = unshare_command()
        if isinstance(command, str):
            print(f"bench_webrtc_peers: {command}", file=sys.stderr)
            return 3
        argv_inside = ["--in-namespace", "--levels", ",".join(map(str, levels))]
        argv_inside += ["--window", str(args.window), "--settle", str(args.settle)]
        inside = subprocess.run(
            [*command, sys.executable, str(Path(__file__).resolve()), *argv_inside],
            capture_output=True,
            text=True,
            env={**os.environ, _HOST_NAMESPACE: os.readlink("/proc/self/ns/net"), "PYTHONPATH": str(ROOT)},
            timeout=600 + 60 * len(levels) + sum(levels) * 5,
        )
        sys.stderr.write(inside.stderr[-4000:] if inside.returncode else "")
        lines = [line for line in inside.stdout.splitlines() if line.startswith(RESULT + " ")]
        if inside.returncode != 0 or not lines:
            print(f"bench_webrtc_peers: the run in the namespace failed ({inside.returncode})", file=sys.stderr)
            return 1
        result = json.loads(lines[-1].split(" ", 1)[1])
        print(_table(result["levels"]))
        top = result["levels"][-1]
        print(
            f"per connected call at {top['calls']} calls: {top['cpu_pct_per_call']} % of one core, "
            f"{top['rss_kib_per_call']} KiB RSS (emulator process only; {result['cores']} cores here)"
        )
        print(f"{RESULT} {json.dumps(result)}")
        return 0
    _make_network()
    result = asyncio.run(_run(levels, args.settle, args.window))
    print(f"{RESULT} {json.dumps(result)}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
