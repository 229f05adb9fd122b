"""The sideband's metrics, in-process against the emulator over real loopback sockets: a Realtime call with a
tool that answers, one that raises and one that hangs past its timeout (a slow observer dropping events) counts
each tool call once by its defined name or ``other`` and its outcome, with a latency sample each, one end by
reason, the call's duration, the dropped events once, and the attached gauge back at 0; a dropped socket counts
one re-attach; Live client delegations count answered and refused; under ``--workers`` a dead worker's attached
sidebands leave the sum."""

from __future__ import annotations

import ast
import asyncio
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sideband_fakes import FAST, ORDER, Tools, service_for, settled

from realtime_service.emulator import CallRecord, Emulator
from realtime_service.sideband.events import ServerEvent

pytest.importorskip("prometheus_client")
from realtime_service.observability import metrics

SCRIPT = [
    {"caller": "One"},
    {"caller": "Two"},
    {"caller": "Three"},
    {"model_calls": {"name": "lookup_order", "arguments": {"order_id": "1234"}, "call_id": "call_ok"}},
    {"expect_output": {"timeout": 10}},
    {"model_calls": {"name": "explode", "arguments": {}, "call_id": "call_raises"}},
    {"expect_output": {"timeout": 10}},
    {"model_calls": {"name": "hang", "arguments": {}, "call_id": "call_hangs"}},
    {"expect_output": {"timeout": 10}},
    "hangup",
]


class Hanging(Tools):
    """``hang`` never returns (the controller's timeout answers it); the rest as :class:`Tools`."""

    async def run(self, name: str, arguments: str, *, call_id: str) -> str:
        if name == "hang":
            await asyncio.Event().wait()
        return await super().run(name, arguments, call_id=call_id)


@pytest.fixture
def counting() -> Iterator[None]:
    metrics.enable()
    try:
        yield
    finally:
        metrics.disable()


def samples() -> dict[tuple[str, tuple[str, ...]], float]:
    return {
        (sample.name.removeprefix("realtime_service_"), tuple(sample.labels.values())): sample.value
        for family in metrics._registry.collect()
        for sample in family.samples
        if not sample.name.endswith(("_created", "_bucket", "_sum"))
    }


def test_a_call_counts_each_tool_call_its_end_and_its_dropped_events(counting: None) -> None:
    with Emulator() as emulator:
        emulator.calls.add(CallRecord(id="rtc_m", api="realtime", transport="sip", state="accepted", created_at=0.0))
        emulator.script_call("rtc_m", SCRIPT)
        release = asyncio.Event()

        async def stuck_observer(event: ServerEvent) -> None:
            await release.wait()  # never released during the call: events beyond its queue are dropped

        async def main() -> Any:
            handle = await service_for(emulator).aattach_call(
                "rtc_m", tools=Hanging(), tool_timeout=0.2, observers=[stuck_observer], observer_queue=2, **FAST
            )
            during = samples()
            async with asyncio.timeout(60):
                end = await handle.closed()
            return during, end, handle

        during, end, handle = asyncio.run(main())
        record = settled(emulator, "rtc_m")
    assert record.script_state.status == "done", record.script_state
    assert end.reason == "server_closed"
    assert during[("sidebands_attached", ("realtime",))] == 1
    after = samples()
    assert after[("sidebands_attached", ("realtime",))] == 0
    assert {key: v for key, v in after.items() if key[0] == "tool_calls_total"} == {
        ("tool_calls_total", ("realtime", "lookup_order", "ok")): 1,
        ("tool_calls_total", ("realtime", "other", "error")): 1,
        ("tool_calls_total", ("realtime", "other", "timeout")): 1,
    }
    latencies = {key[1]: v for key, v in after.items() if key[0] == "tool_call_seconds_count"}
    assert latencies == {
        ("realtime", "lookup_order", "ok"): 1,
        ("realtime", "other", "error"): 1,
        ("realtime", "other", "timeout"): 1,
    }
    assert {key: v for key, v in after.items() if key[0] == "sidebands_ended_total"} == {
        ("sidebands_ended_total", ("realtime", "server_closed")): 1
    }
    assert after[("sideband_call_seconds_count", ("realtime",))] == 1
    assert handle.dropped_events > 0
    assert after[("sideband_events_dropped_total", ("realtime",))] == handle.dropped_events
    assert not [key for key in after if key[0] in ("sideband_reattaches_total", "delegations_total")]


def test_off_the_calls_count_nothing_and_import_nothing() -> None:
    """Metrics off (the default): the controller's calls are no-ops."""
    assert not metrics.enabled()
    metrics.sideband_attached("realtime")
    metrics.tool_call("realtime", "other", "ok", 0.1)
    metrics.sideband_ended("realtime", "server_closed", 1.0, 2)
    assert metrics._registry is None


def live_session(emulator: Emulator, session_id: str, delegate: Any) -> Any:
    """A Live session whose caller asks one client delegation; ``delegate`` answers it or (``None``) not."""
    session = {"type": "live", "model": "gpt-live-1"}
    record = CallRecord(id=session_id, api="live", transport="sip", state="accepted", created_at=0.0, session=session)
    emulator.calls.add(record)
    script = [
        {"caller": "What is my balance?"},
        {"delegate": {"id": f"deleg_{session_id}"}},
        {"expect_commentary": {"timeout": 10}},
        {"model_says": "Anything else?"},  # not hung up at once: the answer's confirmation comes first (see below)
        "hangup",
    ]
    emulator.script_call(session_id, script)

    async def main() -> Any:
        handle = await service_for(emulator).aattach_live_session(
            session_id, delegate=delegate, delegation_deadline=5, **FAST
        )
        async with asyncio.timeout(60):
            return handle, await handle.closed()

    handle, end = asyncio.run(main())
    assert settled(emulator, session_id).script_state.status == "done"
    return handle, end


def test_live_delegations_count_answered_and_refused(counting: None) -> None:
    def answers(ctx: Any) -> str:
        return "Your balance is 42 dollars."

    with Emulator() as emulator:
        (answered, answered_end), (refused, refused_end) = [
            live_session(emulator, "live_a", answers),
            live_session(emulator, "live_r", None),
        ]
    ends = [answered_end, refused_end]
    after = samples()
    # a refusal is counted before it is spoken, an answer once it was sent (a session that ends while its pong
    # is awaited still counts it): exactly one each
    assert (answered.delegations_answered, answered.delegations_refused) == (1, 0)
    assert (refused.delegations_answered, refused.delegations_refused) == (0, 1)
    assert after[("delegations_total", ("refused",))] == 1
    assert after[("delegations_total", ("answered",))] == 1
    assert after[("sidebands_attached", ("live",))] == 0
    reasons = [end.reason if end.reason in metrics.END_REASONS else metrics.OTHER for end in ends]
    assert {key: v for key, v in after.items() if key[0] == "sidebands_ended_total"} == {
        ("sidebands_ended_total", ("live", reason)): reasons.count(reason) for reason in reasons
    }
    assert after[("sideband_call_seconds_count", ("live",))] == 2


def test_a_dropped_socket_counts_one_reattach_and_one_attached_sideband(counting: None) -> None:
    """A re-attach is counted once and the call stays one sideband (attached once, ended once)."""
    script = [ORDER[0], "drop", *ORDER[1:]]
    with Emulator() as emulator:
        emulator.calls.add(CallRecord(id="rtc_d", api="realtime", transport="sip", state="accepted", created_at=0.0))
        emulator.script_call("rtc_d", script)

        async def main() -> Any:
            handle = await service_for(emulator).aattach_call("rtc_d", tools=Tools(), **FAST)
            async with asyncio.timeout(60):
                await handle.closed()
            return handle

        handle = asyncio.run(main())
        assert settled(emulator, "rtc_d").script_state.status == "done"
    assert handle.reattaches == 1
    after = samples()
    assert after[("sideband_reattaches_total", ("realtime",))] == 1
    assert after[("sidebands_attached", ("realtime",))] == 0
    assert after[("sidebands_ended_total", ("realtime", "server_closed"))] == 1
    assert after[("tool_calls_total", ("realtime", "lookup_order", "ok"))] == 1


def test_a_dead_workers_attached_sidebands_leave_the_multiprocess_sum(tmp_path: Any) -> None:
    """``--workers``: the gauge is ``livesum``: a worker's attached sidebands are summed while it lives, and
    :func:`metrics.worker_exited` drops them (a worker killed mid-call must not hold the gauge up forever)."""
    code = textwrap.dedent(
        f"""
        import os
        from prometheus_client import CollectorRegistry, generate_latest, multiprocess
        from realtime_service.observability import metrics
        metrics.enable()
        metrics.sideband_attached("realtime")
        metrics.sideband_attached("realtime")
        metrics.sideband_ended("realtime", "server_closed", 1.0, 0)
        metrics.sideband_attached("live")
        def summed():
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path={str(tmp_path)!r})
            return {{
                (s.name, tuple(s.labels.values())): s.value
                for f in registry.collect() for s in f.samples if s.name == "realtime_service_sidebands_attached"
            }}
        print(summed())
        metrics.worker_exited(os.getpid(), {str(tmp_path)!r})
        print(summed())
        """
    )
    root = str(Path(__file__).resolve().parents[1])  # this tree's package, whatever is installed
    pythonpath = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONPATH": pythonpath}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    alive, dead = result.stdout.splitlines()
    assert ast.literal_eval(alive) == {
        ("realtime_service_sidebands_attached", ("realtime",)): 1.0,
        ("realtime_service_sidebands_attached", ("live",)): 1.0,
    }
    assert ast.literal_eval(dead) == {}
