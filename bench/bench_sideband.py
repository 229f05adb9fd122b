"""The sideband controller under load, beside the Agents SDK's ``RealtimeSession`` in the same run.

    python bench/bench_sideband.py                        # 3 interleaved rounds of 200 tool calls, then 250..1500 calls
    python bench/bench_sideband.py --quick                # what tests/ runs: tiny, so the bench cannot rot
    python bench/bench_sideband.py --levels 100,200 --hold 10
    python bench/bench_sideband.py --rounds 1 --levels 2000 --generator asyncio --gc-freeze   # the scale limit

The emulator runs in a process of its own (this file with ``--serve-emulator``), so its CPU is never counted as the
controller's; it is driven by an ``Emulator.on_sideband`` driver per call. Two measures:

- ``turnaround``: one call, a no-op tool, ``--cycles`` function calls in a row, each in a response of 7 server events
  (``response.created``, 4 transcript deltas, ``response.output_item.done`` (the function call, completed),
  ``response.done``), then the controller's ``conversation.item.create`` (the output) and ``response.create``,
  answered by 2 events (``response.created``, ``response.done``); the emulator adds a ``rate_limits.updated`` after
  each ``response.done``: 11 server events a cycle. Turnaround is timed **by the driver**, in the
  emulator's process: from just before it sends the ``output_item.done`` to its receipt of the ``response.create``
  (so it holds two loopback hops and the emulator's own read, the same for both controllers). CPU per event is this
  process's ``time.process_time()`` over the cycles divided by the server events sent. Ours is
  ``service.aattach_call(call_id, tools=Toolbox)``, theirs ``RealtimeRunner(agent, model=OpenAIRealtimeSIPModel())``
  with a ``function_tool``; rounds alternate which goes first. Every answer is checked: the output names the call's
  ``call_id`` and comes before the ``response.create``, and each tool runs once.
- ``scale``: ``--levels`` attached calls held by ours in this one process, each receiving 5 caller transcripts a
  second (``conversation.item.input_audio_transcription.completed``) and a function call every 10 s (staggered).
  The driver stamps each transcript with ``server_ts`` (``time.time()``, the same clock in both processes) just
  before sending it; an observer takes ``time.time() - server_ts`` when the controller hands it the event: the
  event-to-handler lag (socket, parse, dedupe, queue, observer task). Over a ``--hold`` window: lag p50/p99,
  tool calls asked/answered, CPU % of this process and of the emulator's; RSS and open fds before, at the peak and
  after the calls end (closed by us, then ``gc.collect()``). A level passes with p99 <= 50 ms, every tool call
  answered and no event dropped; the first that fails is where it breaks. One pacer thread in the emulator sends
  every call's events (a thread per call pacing its own saturated the emulator first, at 750 calls); compare the
  two processes' CPU figures to see which side limits (docs/performance-profile.md, "Sideband"). Each level also
  reports the garbage collector's pauses while measuring (``gc_oldest``: the full collections, what breaks it at
  2,000 calls); ``--gc-freeze`` freezes the attached calls out of them, ``--generator asyncio`` plays the calls
  from a bare ``websockets`` server instead of the emulator (whose three threads per call break first).

Prints a ``BENCH-SIDEBAND-RESULT`` JSON line. Loopback only; needs the ``sideband`` extra and (for the comparison)
``openai-agents`` (the ``dev`` extra).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import resource
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EVENTS_PER_CYCLE = 11  # the 9 the driver sends, and the emulator's rate_limits.updated after each response.done
DELTAS_PER_CYCLE = 4
LAG_GOAL_MS = 50.0

# -- the emulator's process ----------------------------------------------------------------------------------------


class _Stats:
    """What the drivers of one prefix saw (updated from their threads under a lock)."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.lock = threading.Lock()
        self.running = 0
        self.finished = threading.Condition(self.lock)
        self.events = 0
        self.asked = 0
        self.answered = 0
        self.turnaround_ms: list[float] = []
        self.errors: list[str] = []
        self.held: list[_Held] = []
        self.seen_calls = 0

    def report(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "asked": self.asked,
            "answered": self.answered,
            "turnaround_ms": self.turnaround_ms,
            "errors": self.errors[:5],
            "running": self.running,
        }


def _function_call(response_id: str, call_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    item = {
        "id": "item_" + call_id,
        "object": "realtime.item",
        "type": "function_call",
        "status": "completed",
        "name": "noop",
        "call_id": call_id,
        "arguments": "{}",
    }
    done_item = {"type": "response.output_item.done", "response_id": response_id, "output_index": 0, "item": item}
    response = _response(response_id, "completed", [item])
    return done_item, {"type": "response.done", "response": response}


def _response(response_id: str, status: str, output: list[Any]) -> dict[str, Any]:
    return {
        "object": "realtime.response",
        "id": response_id,
        "status": status,
        "status_details": None,
        "output": output,
        "output_modalities": ["audio"],
        "usage": {"total_tokens": 0, "input_tokens": 0, "output_tokens": 0},
    }


def _await_answer(channel: Any, call_id: str, until: float, stats: _Stats) -> bool:
    """Read client events until the ``response.create`` that follows ``call_id``'s output (checked) or ``until``."""
    output_seen = False
    while (left := until - time.perf_counter()) > 0:
        event = channel.receive(timeout=left)
        if event is None:
            break
        kind = event.get("type")
        if kind == "conversation.item.create":
            item = event.get("item") or {}
            if item.get("type") == "function_call_output":
                if item.get("call_id") != call_id or output_seen:
                    with stats.lock:
                        stats.errors.append(f"unexpected output for {item.get('call_id')!r} (waiting for {call_id})")
                output_seen = True
        elif kind == "response.create":
            if not output_seen:
                with stats.lock:
                    stats.errors.append(f"response.create before the output of {call_id}")
            return output_seen
    with stats.lock:
        stats.errors.append(f"no answer to {call_id} in time")
    return False


def _answer_create(channel: Any, response_id: str) -> None:
    channel.send({"type": "response.created", "response": _response(response_id, "in_progress", [])})
    channel.send({"type": "response.done", "response": _response(response_id, "completed", [])})


def _turnaround_driver(channel: Any, stats: _Stats) -> None:
    cycles = int(stats.config["cycles"])
    for number in range(cycles):
        response_id, call_id = f"resp_{number}a", f"call_{number}"
        channel.send({"type": "response.created", "response": _response(response_id, "in_progress", [])})
        where = {"response_id": response_id, "item_id": "item_t", "output_index": 0, "content_index": 0}
        for _ in range(DELTAS_PER_CYCLE):
            channel.send({"type": "response.output_audio_transcript.delta", **where, "delta": "One moment. "})
        done_item, done = _function_call(response_id, call_id)
        started = time.perf_counter()
        channel.send(done_item)
        channel.send(done)
        with stats.lock:
            stats.asked += 1
        if not _await_answer(channel, call_id, started + 10.0, stats):
            return
        elapsed = time.perf_counter() - started
        _answer_create(channel, f"resp_{number}b")
        with stats.lock:
            stats.answered += 1
            stats.events += EVENTS_PER_CYCLE
            stats.turnaround_ms.append(elapsed * 1000)


class _Held:
    """One scale call as the pacer sees it: its channel, when its next tool call is due, the one in flight."""

    def __init__(self, channel: Any, tool_every: float) -> None:
        self.channel = channel
        self.tool_every = tool_every
        self.next_tool = time.perf_counter() + random.random() * tool_every  # staggered across the calls
        self.number = 0
        self.pending: tuple[str, float] | None = None  # (call_id, when its function call was sent)


def _scale_driver(channel: Any, stats: _Stats) -> None:
    """A scale call's own thread only answers its tool calls (it sleeps in ``receive`` otherwise); the prefix's
    one pacer thread sends every call's transcripts and function calls, so the load generator costs a wake-up per
    event, not a thread switch per call per event."""
    held = _Held(channel, float(stats.config["tool_every"]))
    with stats.lock:
        stats.held.append(held)
    try:
        while True:
            event = channel.receive(timeout=None)
            if event is None or event.get("type") != "response.create":
                continue
            with stats.lock:
                pending = held.pending
            if pending is None:
                with stats.lock:
                    stats.errors.append("a response.create with no function call in flight")
                continue
            elapsed = time.perf_counter() - pending[1]
            _answer_create(channel, "resp_" + pending[0] + "b")
            with stats.lock:
                held.pending = None
                stats.answered += 1
                stats.turnaround_ms.append(elapsed * 1000)
    except Exception as error:  # the socket closed under us (the controller ended the call): the normal end
        if type(error).__name__ != "SocketClosed":
            raise


def _next_tool_call(held: _Held) -> tuple[str, tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]:
    """A scale call's next function call (both load generators send it): its call id and its three events
    (``response.created``, the completed ``output_item.done``, ``response.done``); the call's clock moves on."""
    held.number += 1
    held.next_tool += held.tool_every
    call_id = f"call_{held.number}"
    response_id = "resp_" + call_id + "a"
    created = {"type": "response.created", "response": _response(response_id, "in_progress", [])}
    done_item, done = _function_call(response_id, call_id)
    return call_id, (created, done_item, done)


def _transcript() -> dict[str, Any]:
    """A caller transcript, stamped just before it is sent (the lag's start)."""
    return {
        "type": "conversation.item.input_audio_transcription.completed",
        "item_id": "item_caller",
        "content_index": 0,
        "transcript": "Still there?",
        "server_ts": time.time(),
    }


def _pace(stats: _Stats) -> None:
    """Send each held call ``rate`` caller transcripts a second, spread evenly over each period, stamped just
    before sending, and a function call every ``tool_every`` seconds; until the calls have all gone."""
    period = 1.0 / float(stats.config["rate"])
    while True:
        with stats.lock:
            held = [each for each in stats.held if not each.channel.closed]
            stats.held = held
            if not held and stats.seen_calls and not stats.running:
                return
        started = time.perf_counter()
        for index, each in enumerate(held):
            wait = started + index * period / len(held) - time.perf_counter()
            if wait > 0.0005:
                time.sleep(wait)  # pacing the sends (the bench's rate), not waiting for an outcome
            try:
                if each.pending is None and time.perf_counter() >= each.next_tool:
                    call_id, (created, done_item, done) = _next_tool_call(each)
                    each.channel.send(created)
                    with stats.lock:
                        each.pending = (call_id, time.perf_counter())
                        stats.asked += 1
                    each.channel.send(done_item)
                    each.channel.send(done)
                each.channel.send(_transcript())
                with stats.lock:
                    stats.events += 1
            except Exception as error:
                if type(error).__name__ != "SocketClosed":
                    with stats.lock:
                        stats.errors.append(f"pacer: {type(error).__name__}")
        rest = started + period - time.perf_counter()
        if rest > 0:
            time.sleep(rest)


def _serve_emulator() -> int:
    """The emulator process: prints its URL and key, then answers JSON commands on stdin, one a line."""
    sys.setswitchinterval(0.001)  # many driver threads: hand the GIL over more often (5 ms default: worse, measured)
    from realtime_service.emulator import CallRecord, Emulator

    groups: dict[str, _Stats] = {}

    def driver(channel: Any) -> None:
        prefix = channel.call_id.rsplit("-", 1)[0]
        stats = groups[prefix]
        with stats.lock:
            stats.running += 1
            stats.seen_calls += 1
        try:
            if stats.config["mode"] == "turnaround":
                _turnaround_driver(channel, stats)
            else:
                _scale_driver(channel, stats)
        except Exception as error:
            with stats.lock:
                stats.errors.append(f"driver: {type(error).__name__}: {error}"[:200])
        finally:
            with stats.lock:
                stats.running -= 1
                stats.finished.notify_all()

    with Emulator(max_calls=100_000) as emu:  # the default keeps 1,000 live calls: the levels go beyond
        emu.on_sideband = driver
        print(json.dumps({"base_url": emu.base_url, "api_key": emu.api_key}), flush=True)
        for line in sys.stdin:
            command = json.loads(line)
            op = command["op"]
            answer: dict[str, Any] = {"ok": True}
            if op == "add":
                groups[command["prefix"]] = _Stats(command)
                if command["mode"] == "scale":
                    pacer = threading.Thread(target=_pace, args=(groups[command["prefix"]],), daemon=True)
                    pacer.start()
                for number in range(int(command["n"])):
                    call_id = f"{command['prefix']}-{number}"
                    record = CallRecord(id=call_id, api="realtime", transport="sip", state="active", created_at=0.0)
                    emu.calls.add(record)
            elif op == "wait":  # until the prefix's drivers have all started and ended, or the deadline
                stats = groups[command["prefix"]]
                deadline = time.monotonic() + float(command.get("timeout", 60))
                with stats.lock:
                    while (stats.running or stats.asked < int(command.get("asked", 0))) and time.monotonic() < deadline:
                        stats.finished.wait(0.05)
                    answer = stats.report()
            elif op == "report":
                stats = groups[command["prefix"]]
                with stats.lock:
                    answer = stats.report()
                    if command.get("reset"):
                        stats.events = stats.asked = stats.answered = 0
                        stats.turnaround_ms = []
            elif op == "cpu":
                answer = {"cpu": time.process_time(), "threads": threading.active_count()}
            print(json.dumps(answer), flush=True)
    return 0


# -- the asyncio load generator's process (``--generator asyncio``) -------------------------------------------------


def _serve_asyncio() -> int:
    """A load generator with no emulator: one asyncio ``websockets`` server that plays the scale calls exactly as
    the emulator's drivers do (the same events, pacing, stamps and checks), at a coroutine per call instead of
    three threads (the emulator's reader, handler and driver). It shows whether the controller or the emulator
    limits the scale measure; its process answers the same stdin commands (``add``, ``report``, ``wait``,
    ``cpu``)."""
    return asyncio.run(_serve_asyncio_main())


async def _serve_asyncio_main() -> int:
    from websockets.asyncio.server import ServerConnection, serve

    groups: dict[str, _Stats] = {}
    loop = asyncio.get_running_loop()

    async def connection(socket: ServerConnection) -> None:
        path = socket.request.path if socket.request is not None else ""
        call_id = path.partition("call_id=")[2].partition("&")[0]
        stats = groups.get(call_id.rsplit("-", 1)[0])
        if stats is None:
            await socket.close(1008, "unknown call")
            return
        held = _Held(socket, float(stats.config["tool_every"]))
        stats.running += 1
        stats.seen_calls += 1
        stats.held.append(held)
        try:
            async for message in socket:
                event = json.loads(message)
                if event.get("type") != "response.create":
                    continue
                pending = held.pending
                if pending is None:
                    stats.errors.append("a response.create with no function call in flight")
                    continue
                elapsed = time.perf_counter() - pending[1]
                response_id = "resp_" + pending[0] + "b"
                await socket.send(
                    json.dumps({"type": "response.created", "response": _response(response_id, "in_progress", [])})
                )
                await socket.send(
                    json.dumps({"type": "response.done", "response": _response(response_id, "completed", [])})
                )
                held.pending = None
                stats.answered += 1
                stats.turnaround_ms.append(elapsed * 1000)
        except Exception as error:  # the controller went away: the normal end
            if type(error).__name__ not in ("ConnectionClosedOK", "ConnectionClosedError"):
                stats.errors.append(f"connection: {type(error).__name__}")
        finally:
            stats.running -= 1

    async def pace(stats: _Stats) -> None:
        period = 1.0 / float(stats.config["rate"])
        while True:
            stats.held = [each for each in stats.held if each.channel.state.name == "OPEN"]
            held = stats.held
            if not held and stats.seen_calls and not stats.running:
                return
            started = time.perf_counter()
            for index, each in enumerate(held):
                wait = started + index * period / len(held) - time.perf_counter()
                if wait > 0.0005:
                    await asyncio.sleep(wait)  # pacing the sends (the bench's rate)
                try:
                    if each.pending is None and time.perf_counter() >= each.next_tool:
                        call_id, (created, done_item, done) = _next_tool_call(each)
                        await each.channel.send(json.dumps(created))
                        each.pending = (call_id, time.perf_counter())
                        stats.asked += 1
                        await each.channel.send(json.dumps(done_item))
                        await each.channel.send(json.dumps(done))
                    await each.channel.send(json.dumps(_transcript()))
                    stats.events += 1
                except Exception as error:
                    if "ConnectionClosed" not in type(error).__name__:
                        stats.errors.append(f"pacer: {type(error).__name__}")
            rest = started + period - time.perf_counter()
            await asyncio.sleep(max(rest, 0.0))

    pacers: set[asyncio.Task[None]] = set()
    reader = asyncio.StreamReader(limit=1 << 24)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    async with serve(connection, "127.0.0.1", 0, max_queue=64, max_size=4 << 20) as server:
        port = server.sockets[0].getsockname()[1] if server.sockets else 0
        print(json.dumps({"base_url": f"http://127.0.0.1:{port}/v1", "api_key": "sk-bench-asyncio"}), flush=True)
        while line := await reader.readline():
            command = json.loads(line)
            op = command["op"]
            answer: dict[str, Any] = {"ok": True}
            if op == "add":
                groups[command["prefix"]] = _Stats(command)
                task = asyncio.create_task(pace(groups[command["prefix"]]))
                pacers.add(task)
                task.add_done_callback(pacers.discard)
            elif op == "wait":
                stats = groups[command["prefix"]]
                deadline = time.monotonic() + float(command.get("timeout", 60))
                while stats.running and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)  # polling the bench's own counters, not a test's outcome
                answer = stats.report()
            elif op == "report":
                stats = groups[command["prefix"]]
                answer = stats.report()
                if command.get("reset"):
                    stats.events = stats.asked = stats.answered = 0
                    stats.turnaround_ms = []
            elif op == "cpu":
                answer = {"cpu": time.process_time(), "threads": threading.active_count()}
            print(json.dumps(answer), flush=True)
    return 0


# -- this (the controller's) process -------------------------------------------------------------------------------


class _EmulatorProcess:
    """The emulator's process, spoken to over its stdin/stdout."""

    def __init__(self, role: str = "--serve-emulator") -> None:
        self.role = role

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(Path(__file__).resolve()),
            self.role,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=1 << 24,
            cwd=str(ROOT),
        )
        hello = await self._line(timeout=60)
        self.base_url, self.api_key = hello["base_url"], hello["api_key"]

    async def _line(self, timeout: float) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        if not line:
            raise RuntimeError("the emulator process ended")
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def ask(self, timeout: float = 120, **command: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps(command) + "\n").encode())
        await self.process.stdin.drain()
        return await self._line(timeout)

    async def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        await asyncio.wait_for(self.process.wait(), 30)


def _service(emu: _EmulatorProcess) -> Any:
    from realtime_service.containers import RealtimeContainer

    container = RealtimeContainer(environ={})
    container.config.from_dict({"api_key": emu.api_key, "base_url": emu.base_url})
    return container.realtime_session_service()


def _toolbox(runs: list[str]) -> Any:
    from realtime_service.sideband.tools import Toolbox

    toolbox = Toolbox()

    @toolbox.function
    async def noop() -> str:
        """Does nothing (the bench times the controller, not the tool)."""
        runs.append("noop")
        return "ok"

    return toolbox


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def _ours_turnaround(emu: _EmulatorProcess, prefix: str, cycles: int) -> dict[str, Any]:
    runs: list[str] = []
    await emu.ask(op="add", prefix=prefix, n=1, mode="turnaround", cycles=cycles)
    handle = await _service(emu).aattach_call(f"{prefix}-0", tools=_toolbox(runs))
    cpu = time.process_time()
    report = await emu.ask(op="wait", prefix=prefix, asked=cycles, timeout=cycles * 10 + 30)
    cpu = time.process_time() - cpu
    await handle.close()
    return _turnaround_result(report, cpu, runs, cycles)


async def _agents_turnaround(emu: _EmulatorProcess, prefix: str, cycles: int) -> dict[str, Any]:
    from agents import function_tool
    from agents.realtime import RealtimeAgent, RealtimeRunner
    from agents.realtime.openai_realtime import OpenAIRealtimeSIPModel

    runs: list[str] = []

    @function_tool
    def noop() -> str:
        """Does nothing (the bench times the controller, not the tool)."""
        runs.append("noop")
        return "ok"

    agent: RealtimeAgent[Any] = RealtimeAgent(name="bench", instructions="Bench.", tools=[noop])
    await emu.ask(op="add", prefix=prefix, n=1, mode="turnaround", cycles=cycles)
    call_id = f"{prefix}-0"
    model_config = {
        "call_id": call_id,
        "url": emu.base_url.replace("http://", "ws://", 1) + f"/realtime?call_id={call_id}",
        "api_key": emu.api_key,
    }
    runner = RealtimeRunner(agent, model=OpenAIRealtimeSIPModel())
    errors: list[str] = []
    async with await runner.run(model_config=model_config) as session:  # type: ignore[arg-type]

        async def drain() -> None:  # the SDK's documented way to use a session: read its events
            async for event in session:
                if event.type == "error":
                    errors.append(str(event.error)[:200])

        reader = asyncio.get_running_loop().create_task(drain())
        cpu = time.process_time()
        report = await emu.ask(op="wait", prefix=prefix, asked=cycles, timeout=cycles * 10 + 30)
        cpu = time.process_time() - cpu
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
    result = _turnaround_result(report, cpu, runs, cycles)
    result["errors"] += errors[:3]
    return result


def _turnaround_result(report: dict[str, Any], cpu: float, runs: list[str], cycles: int) -> dict[str, Any]:
    samples = report["turnaround_ms"]
    errors = list(report["errors"])
    if report["answered"] != cycles or len(runs) != cycles:
        errors.append(f"{report['answered']} answered, {len(runs)} tool runs, of {cycles}")
    return {
        "p50_ms": _percentile(samples, 0.5),
        "p99_ms": _percentile(samples, 0.99),
        "cpu_us_per_event": cpu / max(1, report["events"]) * 1e6,
        "events": report["events"],
        "errors": errors,
    }


async def _scale_level(emu: _EmulatorProcess, prefix: str, calls: int, args: argparse.Namespace) -> dict[str, Any]:
    from realtime_service.sideband.events import ServerEvent

    gc.collect()
    rss_before, fds_before = _rss_kib(), _fds()
    lags: list[float] = []
    measuring = False
    runs: list[str] = []
    toolbox = _toolbox(runs)

    def observe(event: ServerEvent) -> None:
        stamp = event.raw.get("server_ts")
        if measuring and isinstance(stamp, float):
            lags.append((time.time() - stamp) * 1000)

    pauses: list[tuple[int, float]] = []  # (generation, ms) of each collection while measuring
    gc_started = [0.0]

    def collecting(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            gc_started[0] = time.perf_counter()
        elif measuring:
            pauses.append((info["generation"], (time.perf_counter() - gc_started[0]) * 1000))

    hold, warm = args.hold, args.warm
    await emu.ask(op="add", prefix=prefix, n=calls, mode="scale", rate=5, tool_every=args.tool_every)
    service = _service(emu)
    attach_started = time.perf_counter()
    handles: list[Any] = []
    failures: list[str] = []
    for start in range(0, calls, 50):  # 50 handshakes at a time: an attach storm is not what is measured here
        batch = [
            service.aattach_call(f"{prefix}-{number}", tools=toolbox, observers=[observe])
            for number in range(start, min(calls, start + 50))
        ]
        for outcome in await asyncio.gather(*batch, return_exceptions=True):
            if isinstance(outcome, BaseException):
                failures.append(type(outcome).__name__)
            else:
                handles.append(outcome)
    attach_s = time.perf_counter() - attach_started
    if args.gc_freeze:
        gc.freeze()  # what a host holding thousands of calls may do: the held calls leave the collector's scans
    await asyncio.sleep(warm)  # the rates settle (the bench's own pacing, not a wait for an outcome)
    await emu.ask(op="report", prefix=prefix, reset=True)
    emu_cpu = (await emu.ask(op="cpu"))["cpu"]
    cpu, wall = time.process_time(), time.perf_counter()
    gc.callbacks.append(collecting)
    measuring = True
    await asyncio.sleep(hold)
    measuring = False
    gc.callbacks.remove(collecting)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    emu_cpu = (await emu.ask(op="cpu"))["cpu"] - emu_cpu
    report = await emu.ask(op="report", prefix=prefix)
    rss_peak, fds_peak = _rss_kib(), _fds()
    dropped = sum(handle.dropped_events for handle in handles)
    await asyncio.gather(*(handle.close() for handle in handles), return_exceptions=True)
    ended = await emu.ask(op="wait", prefix=prefix, timeout=60)
    handles.clear()
    if args.gc_freeze:
        gc.unfreeze()
    gc.collect()
    lag_p99 = _percentile(lags, 0.99)
    unanswered = report["asked"] - report["answered"]
    # a tool call asked in the last moments of the window may be answered just after it: allow those in flight
    ok = not failures and lag_p99 <= LAG_GOAL_MS and unanswered <= max(2, calls // 100) and not dropped
    ok = ok and not report["errors"]
    return {
        "calls": calls,
        "attached": calls - len(failures),
        "attach_failures": sorted(set(failures)),
        "attach_s": round(attach_s, 1),
        "events_per_s": round(len(lags) / wall),
        "lag_p50_ms": round(_percentile(lags, 0.5), 1),
        "lag_p99_ms": round(lag_p99, 1),
        "lag_max_ms": round(max(lags, default=float("nan")), 1),
        "tool_calls": report["asked"],
        "tool_answered": report["answered"],
        "tool_p99_ms": round(_percentile(report["turnaround_ms"], 0.99), 1),
        "dropped": dropped,
        "gc_oldest": {  # the collections of the oldest generation while measuring: count and pauses
            "count": sum(1 for generation, _ in pauses if generation == 2),
            "max_ms": round(max((ms for generation, ms in pauses if generation == 2), default=0.0), 1),
        },
        "gc_max_ms": round(max((ms for _, ms in pauses), default=0.0), 1),
        "cpu_pct": round(cpu / wall * 100),
        "emulator_cpu_pct": round(emu_cpu / wall * 100),
        "rss_mib": [round(value / 1024, 1) for value in (rss_before, rss_peak, _rss_kib())],
        "fds": [fds_before, fds_peak, _fds()],
        "drivers_left": ended["running"],
        "errors": report["errors"],
        "ok": ok,
    }


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    import agents

    agents.set_tracing_disabled(True)  # the SDK's trace export would leave loopback
    emu = _EmulatorProcess()
    await emu.start()
    result: dict[str, Any] = {"turnaround": {}, "scale": []}
    try:
        sides: dict[str, Callable[..., Any]] = {"ours": _ours_turnaround, "agents_sdk": _agents_turnaround}
        rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in sides}
        for number in range(args.rounds):
            order = list(sides) if number % 2 == 0 else list(reversed(sides))
            for name in order:
                rounds[name].append(await sides[name](emu, f"tt{number}{name}", args.cycles))
        for name, each in rounds.items():
            result["turnaround"][name] = {
                "p50_ms": round(statistics.median(r["p50_ms"] for r in each), 2),
                "p99_ms": round(statistics.median(r["p99_ms"] for r in each), 2),
                "cpu_us_per_event": round(statistics.median(r["cpu_us_per_event"] for r in each), 1),
                "errors": [error for r in each for error in r["errors"]],
            }
        ours, theirs = result["turnaround"]["ours"], result["turnaround"]["agents_sdk"]
        result["ratios"] = {
            "cpu_per_event_ours_over_sdk": round(ours["cpu_us_per_event"] / theirs["cpu_us_per_event"], 2),
            "p50_turnaround_ours_over_sdk": round(ours["p50_ms"] / theirs["p50_ms"], 2),
        }
        generator = emu if args.generator == "emulator" else _EmulatorProcess("--serve-asyncio")
        if generator is not emu:
            await generator.start()
        result["scale_generator"] = args.generator
        result["gc_freeze"] = args.gc_freeze
        try:
            for level in args.levels:
                outcome = await _scale_level(generator, f"sc{level}", level, args)
                result["scale"].append(outcome)
                print(json.dumps(outcome), flush=True)
                if not outcome["ok"] and not args.keep_going:
                    break
        finally:
            if generator is not emu:
                await generator.stop()
        passed = [each["calls"] for each in result["scale"] if each["ok"]]
        result["max_calls_within_goal"] = max(passed, default=0)
        result["emulator_threads_after"] = (await emu.ask(op="cpu"))["threads"]
    finally:
        await emu.stop()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serve-emulator", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="tiny run (tests/ runs it)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cycles", type=int, default=200, help="tool calls per turnaround round")
    parser.add_argument("--levels", default="250,500,1000,1500", help="calls held at once, level by level")
    parser.add_argument("--hold", type=float, default=20.0, help="seconds measured at each level")
    parser.add_argument("--warm", type=float, default=3.0, help="seconds before measuring at each level")
    parser.add_argument("--tool-every", type=float, default=10.0, help="seconds between a scale call's tool calls")
    parser.add_argument("--keep-going", action="store_true", help="run every level even after one fails")
    parser.add_argument(
        "--generator",
        choices=("emulator", "asyncio"),
        default="emulator",
        help="what plays the scale calls: the emulator (threads), or a bare asyncio websockets server",
    )
    parser.add_argument(
        "--gc-freeze", action="store_true", help="gc.freeze() once a level's calls are attached (see the docs)"
    )
    parser.add_argument("--serve-asyncio", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_emulator:
        return _serve_emulator()
    if args.serve_asyncio:
        return _serve_asyncio()
    if args.quick:
        args.rounds, args.cycles, args.levels, args.hold, args.warm, args.tool_every = 2, 10, "4", 2.0, 0.5, 0.5
    args.levels = [int(each) for each in str(args.levels).split(",") if each.strip()]  # "": turnaround only
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # a socket per call: room for the levels
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load = os.getloadavg()
    result = asyncio.run(_run(args))
    result.update({"date": started, "loadavg_at_start": [round(x, 2) for x in load], "cores": os.cpu_count()})
    ours, theirs = result["turnaround"]["ours"], result["turnaround"]["agents_sdk"]
    print(f"ratios (ours / Agents SDK, goal <= 0.5): {result['ratios']}")
    for name, each in (("ours", ours), ("agents_sdk", theirs)):
        print(f"{name:>10}: p50 {each['p50_ms']} ms, p99 {each['p99_ms']} ms, {each['cpu_us_per_event']} us CPU/event")
    print(f"scale: {result['max_calls_within_goal']} calls within lag p99 <= {LAG_GOAL_MS:g} ms (goal >= 1000)")
    print("BENCH-SIDEBAND-RESULT " + json.dumps(result))
    errors = [e for side in result["turnaround"].values() for e in side["errors"]]
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
