"""The sideband bench in its ``--quick`` mode, so it cannot rot: both controllers answer every tool call of the
turnaround rounds (checked by the emulator's driver), and the scale level holds its calls, answers their tool
calls, and leaves no socket open after they end. Needs ``openai-agents`` (the ``dev`` extra), like
tests/test_agents_sdk.py; CI refuses the skip."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

pytest.importorskip("agents", reason="openai-agents is not installed (the dev extra brings it)")


def test_the_sideband_bench_runs_and_reports_both_controllers_and_the_scale_level(
    capsys: pytest.CaptureFixture[str],
) -> None:
    spec = importlib.util.spec_from_file_location(
        "bench_sideband", Path(__file__).parents[1] / "bench" / "bench_sideband.py"
    )
    assert spec is not None
    assert spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--quick"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("BENCH-SIDEBAND-RESULT ")
    result = json.loads(line.split(" ", 1)[1])
    for side in ("ours", "agents_sdk"):
        assert result["turnaround"][side]["errors"] == []
        assert result["turnaround"][side]["cpu_us_per_event"] > 0
    assert set(result["ratios"]) == {"cpu_per_event_ours_over_sdk", "p50_turnaround_ours_over_sdk"}
    [level] = result["scale"]
    assert level["attached"] == level["calls"] == 4
    assert level["errors"] == []
    assert level["tool_calls"] > 0
    assert level["events_per_s"] > 0
    assert level["drivers_left"] == 0
    assert level["fds"][2] <= level["fds"][0]  # every socket closed once the calls ended
