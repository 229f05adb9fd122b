"""A worker killed mid-call: two ``serve`` processes share one ``redis-server`` (``server.rate_limit_storage``),
the phone webhook and ``server.phone.tools``; the call is rung at one of them and its first tool call answered,
the owner is ``SIGKILL``-ed, and the other worker's standby takes the call over and answers the second tool
call. Real processes, real sockets to the emulator, a real Redis; every wait is a deadline, nothing is timed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from realtime_service.emulator import CallRecord, Emulator
from realtime_service.sideband.ownership import WIRING_KEY, lease_key

ROOT = Path(__file__).resolve().parents[1]
SECRET = "whsec_" + "dGFrZW92ZXItb2YtYS1kZWFkLXdvcmtlcnMtY2FsbA=="
DEADLINE = 90.0

TOOLS = '''
"""The kill test's toolbox: each run appends "<step> <pid>" to $TAKEOVER_RUNS and answers with its pid."""
import os

from realtime_service.sideband.tools import Toolbox

toolbox = Toolbox(timeout=10.0)


@toolbox.function
def note_step(step: int) -> dict:
    """Note that a step of the call was reached."""
    with open(os.environ["TAKEOVER_RUNS"], "a", encoding="utf-8") as runs:
        runs.write(f"{step} {os.getpid()}\\n")
    return {"step": step, "pid": os.getpid()}
'''

#: The owner is killed during the ``wait`` (right after the first output is seen); the second tool call then
#: waits (the emulator's REATTACH_TIMEOUT, 30 s) for a sideband, which only the standby can bring.
SCRIPT = [
    {"caller": "Please note two steps."},
    {"model_calls": {"name": "note_step", "arguments": {"step": 1}, "call_id": "call_step_1"}},
    {"expect_output": {"timeout": 60}},
    {"wait": 8},
    {"model_calls": {"name": "note_step", "arguments": {"step": 2}, "call_id": "call_step_2"}},
    {"expect_output": {"timeout": 60}},
    {"model_says": "Both steps noted."},
    "hangup",
]


def _config(tmp_path: Path, emulator: Emulator, storage: str) -> Path:
    config = {
        "realtime": {"api_key": emulator.api_key, "base_url": emulator.base_url},
        "server": {
            "rate_limit_storage": storage,
            "phone": {
                "webhook_secret": SECRET,
                "session": {"type": "realtime", "model": "gpt-realtime-2.1", "instructions": "Note steps."},
                "tools": "takeover_tools:toolbox",
            },
        },
    }
    path = tmp_path / "serve.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


class Worker:
    """One ``serve`` process; its log (stderr) goes to a file, read whenever needed."""

    def __init__(self, name: str, config: Path, tmp_path: Path) -> None:
        environ = {key: value for key, value in os.environ.items() if not key.startswith("OPENAI_")}
        environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(tmp_path)])
        environ["TAKEOVER_RUNS"] = str(tmp_path / "runs.txt")
        self.log_path = tmp_path / f"{name}.log"
        command = [sys.executable, "-m", "realtime_service", "serve", "--port", "0", "--config", str(config)]
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                [*command, "--framework", "flask"], cwd=ROOT, env=environ, stdout=subprocess.PIPE, stderr=log, text=True
            )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert "listening on http://" in line, line + self.log()
        self.url = line.split("listening on ", 1)[1].split()[0].rstrip("/") + "/webhooks/openai"

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.communicate(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(script=SCRIPT) as emulator:
        yield emulator


def _until(what: str, check: Callable[[], Any], deadline: float = DEADLINE) -> Any:
    """``check()``'s first truthy value, polled until the deadline (then the test fails naming ``what``)."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {deadline:g} s: {what}")


def _record(emulator: Emulator, call_id: str) -> CallRecord:
    record = emulator.calls.get(call_id)
    assert record is not None, call_id
    return record


def _outputs(record: CallRecord) -> list[tuple[str, dict[str, Any]]]:
    """``(connection id, parsed output)`` of every function_call_output the app sent, in order."""
    return [
        (e.connection, json.loads(e.event["item"]["output"]))
        for e in record.client_events
        if e.event.get("type") == "conversation.item.create" and e.event["item"].get("type") == "function_call_output"
    ]


def _runs(tmp_path: Path) -> list[tuple[int, int]]:
    path = tmp_path / "runs.txt"
    text = path.read_text() if path.exists() else ""
    return [(int(step), int(pid)) for step, pid in (line.split() for line in text.splitlines())]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_killed_owners_call_is_taken_over_by_the_other_worker(emu: Emulator, tmp_path: Path, redis_url: str) -> None:
    import redis

    (tmp_path / "takeover_tools.py").write_text(TOOLS)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    config = _config(tmp_path, emu, redis_url)
    workers = [Worker("a", config, tmp_path), Worker("b", config, tmp_path)]
    try:
        record = emu.ring(workers[0].url, secret=SECRET)
        assert record.state == "accepted", record
        first = _until("the first tool output", lambda: _outputs(_record(emu, record.id)))
        [(step, owner_pid)] = _runs(tmp_path)
        assert step == 1
        owner = next(w for w in workers if w.pid == owner_pid)
        survivor = next(w for w in workers if w is not owner)
        holder = str(client.get(lease_key(record.id)))
        assert holder.endswith(f".{owner.pid}"), holder  # the lease names the owner's pid
        assert client.hget(WIRING_KEY, record.id) == "realtime server.phone.tools"  # recorded for a takeover

        owner.process.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        owner.process.wait(DEADLINE)
        _until("the survivor's lease", lambda: str(client.get(lease_key(record.id)) or "").endswith(f".{survivor.pid}"))
        leased_after = time.monotonic() - killed_at
        _until("the survivor's re-attach", lambda: "re-attached (taken over)" in survivor.log())
        attached_after = time.monotonic() - killed_at

        def settled() -> CallRecord | None:
            now = _record(emu, record.id)
            state = now.script_state
            return now if state is not None and state.status in ("done", "failed") else None

        final = _until("the script's end", settled)
        # the ended call is forgotten: no standby is to take it over again
        _until("the call's record removed", lambda: client.hget(WIRING_KEY, record.id) is None)
    finally:
        for worker in workers:
            worker.stop()
    logs = {worker.pid: worker.log() for worker in workers}
    print(f"takeover: lease adopted {leased_after:.2f} s after SIGKILL, sideband re-attached {attached_after:.2f} s")
    assert final.script_state is not None
    assert final.script_state.status == "done", (final.script_state, logs)
    outputs = _outputs(final)
    assert [output["step"] for _, output in outputs] == [1, 2], outputs
    (first_connection, first_output), (second_connection, second_output) = outputs
    assert first == [(first_connection, first_output)]
    assert first_output["pid"] == owner.pid
    assert second_output["pid"] == survivor.pid  # run by the other worker, sent on its own socket
    assert second_connection != first_connection
    assert sorted(_runs(tmp_path)) == [(1, owner.pid), (2, survivor.pid)]  # each tool ran once
    assert logs[owner.pid].count("sideband attached by") == 1
    assert "sideband attached by" not in logs[survivor.pid]
    assert logs[survivor.pid].count("re-attached (taken over)") == 1
    for log in logs.values():
        assert "Traceback" not in log, log
        assert emu.api_key not in log
