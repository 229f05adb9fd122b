"""The WebRTC peers bench in its ``--quick`` mode, so it cannot rot: in a namespace of its own (it re-runs itself
under ``unshare -n``; skipped naming the missing capability where none can be made, like tests/netns.py), a
fresh emulator process holds 1, then 3 connected calls, and the bench reports the emulator's own CPU and RSS."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

pytest.importorskip("aiortc", reason="the webrtc extra (aiortc) is not installed")

BENCH = Path(__file__).parents[1] / "bench" / "bench_webrtc_peers.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_webrtc_peers", BENCH)
    assert spec is not None
    assert spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_the_webrtc_peers_bench_connects_every_level_and_reports_the_emulators_own_figures(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bench = _bench()
    command = bench.unshare_command()
    if isinstance(command, str):
        pytest.skip(command)
    assert bench.main(["--quick"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1].startswith("BENCH-WEBRTC-RESULT ")
    result = json.loads(out[-1].split(" ", 1)[1])
    assert [level["calls"] for level in result["levels"]] == [1, 3]
    for level in result["levels"]:
        assert level["connected"] == level["calls"]
        assert level["emulator_cpu_s"] > 0  # the emulator's peers did work while held
        assert level["rss_mib"] >= level["idle_rss_mib"] > 0
        assert level["audio_pps_per_call"] > 0  # the emulator's track reached every browser's getStats
    assert any(line.startswith("per connected call at 3 calls:") for line in out)


def test_the_bench_uses_the_tests_network_and_refuses_bad_levels(capsys: pytest.CaptureFixture[str]) -> None:
    """The same namespace network as tests/netns.py (no route out), and a bad --levels is one line, exit 2."""
    from netns import NETWORK

    bench = _bench()
    assert bench.NETWORK == NETWORK
    assert bench.main(["--levels", "1,x"]) == 2
    assert bench.main(["--levels", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2
    assert all(line.startswith("bench_webrtc_peers: --levels") for line in err)


def test_the_bench_refuses_to_gather_in_the_namespace_it_started_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run as if already inside, in the host's namespace: it stops before making any network or peer."""
    import os

    bench = _bench()
    monkeypatch.setenv(bench._HOST_NAMESPACE, os.readlink("/proc/self/ns/net"))
    with pytest.raises(SystemExit, match="refusing to gather ICE candidates in the host's network namespace"):
        bench.main(["--in-namespace", "--levels", "1"])
    monkeypatch.delenv(bench._HOST_NAMESPACE)  # and without the marker main() sets, too
    with pytest.raises(SystemExit, match="refusing to gather ICE candidates in the host's network namespace"):
        bench.main(["--in-namespace", "--levels", "1"])
